"""E-mails as the customer reads them: subject, plain text and HTML from one set of facts, through
Jinja2 templates (HTML autoescaped: merchant and customer text is data, never markup)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..customer_page.formatting import day, money, schedule_text
from ..domain.invoices import TITLES
from ..domain.text import one_line
from ..service.ports import Email, EmailFacts
from .texts import reason, text

_templates = Environment(
    loader=PackageLoader("billing.emails"),
    autoescape=select_autoescape(["html"], default_for_string=True, default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class JinjaEmails:
    """The `EmailRenderer` port (service/ports.py): e-mails from these templates and texts."""

    def render(self, facts: EmailFacts) -> Email:
        return render(facts)


def render(facts: EmailFacts) -> Email:
    lang, kind = facts.lang, facts.kind
    values = {
        "merchant": facts.merchant,
        "amount": money(facts.amount, facts.currency, lang) if facts.amount is not None else "",
        "every": schedule_text(facts.interval, facts.interval_count, lang) if facts.interval else "",  # type: ignore[arg-type]
        "date": day(facts.date, lang, "long") if facts.date else "",
        "method": facts.method,
        "number": facts.number,
        "reference": facts.mandate_reference,
        "document": facts.document,
    }
    retry_date = day(facts.retry_date, lang, "long") if facts.retry_date else ""
    button_url, button = facts.page_url, text(lang, "open_page")
    if kind == "mandate_activated":
        paragraphs = [text(lang, "mandate_activated.lead", **values)]
        if values["date"]:
            paragraphs.append(text(lang, "mandate_activated.first", **values))
        if facts.mandate_reference:
            paragraphs.append(text(lang, "mandate_activated.bank_debit", **values))
        paragraphs.append(text(lang, "mandate_activated.revoke"))
    elif kind == "mandate_ended":
        paragraphs = [text(lang, f"mandate_ended.{facts.ended_as}", **values)]
    elif kind == "payment_failed":
        lead = "payment_failed.returned" if facts.reversed else "payment_failed.lead"
        paragraphs = [text(lang, lead, **values, reason=reason(lang, facts.decline_code))]
        paragraphs.append(
            text(lang, "payment_failed.retry", date=retry_date) if retry_date else text(lang, "payment_failed.final")
        )
        paragraphs.append(text(lang, "payment_failed.fix"))
    elif kind == "receipt" and facts.document:  # the charge's invoice: named, linked, its PDF attached or not
        paragraphs = [text(lang, "receipt.lead", **values), text(lang, "document.link", **values)]
        button_url, button = facts.receipt_url, text(lang, "open_invoice")
    elif kind == "receipt":  # a receipt without its invoice (issued before invoices)
        paragraphs = [text(lang, "receipt.lead", **values), text(lang, "receipt.link")]
        button_url, button = facts.receipt_url, text(lang, "open_receipt")
    elif kind == "credit_note":
        values["document"] = facts.document or TITLES[(False, "credit_note")][lang]
        paragraphs = [text(lang, "credit_note.lead", **values, corrects=facts.corrects), text(lang, "document.link", **values)]
        button_url, button = facts.receipt_url, text(lang, "open_credit_note")
    elif kind == "upcoming_charge" and facts.mandate_reference:  # a bank debit's pre-notification
        paragraphs = [text(lang, "upcoming_charge.bank_debit", **values), text(lang, "manage")]
    elif kind == "upcoming_charge":
        paragraphs = [text(lang, "upcoming_charge.lead", **values), text(lang, "manage")]
    elif kind == "trial_ending":
        paragraphs = [text(lang, "trial_ending.lead", **values), text(lang, "manage")]
    else:
        raise ValueError(f"unknown e-mail kind {kind}")
    if facts.attached:  # said before the line that leads to the link
        paragraphs.insert(len(paragraphs) - 1, text(lang, "document.attached"))
    subject_key = "payment_failed.returned.subject" if kind == "payment_failed" and facts.reversed else f"{kind}.subject"
    if kind == "receipt" and facts.document:
        subject_key = "document.subject"
    subject = one_line(text(lang, subject_key, **values, corrects=facts.corrects))  # a header: one line, whatever was stored
    context: dict[str, object] = {
        "lang": lang,
        "subject": subject,
        "merchant": facts.merchant,
        "paragraphs": paragraphs,
        "button_url": button_url,
        "button": button,
        "support": text(lang, "support", email=facts.support_email) if facts.support_email else "",
        "footer": text(lang, "footer", merchant=facts.merchant),
    }
    return Email(
        subject=subject,
        text=_templates.get_template("message.txt").render(**context),
        html=_templates.get_template("base.html").render(**context),
    )
