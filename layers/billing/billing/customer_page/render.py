"""The customer page's HTML, rendered from Jinja2 templates with autoescaping on: every value
that comes from data (merchant name, amounts, tokens, links) is escaped by the engine, and the
only inline style and script carry the response's CSP nonce."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..domain.invoices import REVERSE_CHARGE_NOTE, Invoice
from ..shapes import document_text
from .formatting import day, money, schedule_text
from .forms import EEA_COUNTRIES
from .headers import STRIPE_JS
from .texts import Lang, text

if TYPE_CHECKING:
    from ..domain.charge import Charge
    from ..domain.disputes import Dispute
    from ..domain.model import Mandate
    from ..domain.tax import CustomerTax
    from ..service.customer_portal import BankDebitOffer, CustomerView, ReceiptView

_templates = Environment(
    loader=PackageLoader("billing.customer_page"),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,  # a misspelt variable is an error, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
)


def _render(template: str, lang: Lang, nonce: str, switch_href: str | None = None, **context: Any) -> str:
    return _templates.get_template(template).render(
        lang=lang,
        other_lang="lt" if lang == "en" else "en",
        nonce=nonce,
        switch_href=switch_href,
        t=partial(text, lang),
        **context,
    )


def message(lang: Lang, nonce: str, heading: str, body: str = "") -> str:
    return _render("message.html", lang, nonce, heading=heading, text=body)


def mandate_page(
    view: CustomerView,
    lang: Lang,
    nonce: str,
    base: str,
    csrf: dict[str, str],
    notice: str = "",
    error: str = "",
    stripe: dict[str, str] | None = None,
    test_cards: tuple[str, ...] = (),
    test_banks: tuple[str, ...] = (),
    sepa: BankDebitOffer | None = None,
    terms_sha256: str | None = None,
    business: dict[str, str] | None = None,
    invalid: str = "",
) -> str:
    """`base` is the link's path; `csrf` holds a token per form action; `stripe` (publishable_key,
    client_secret, id; with `bank_client_secret` and `bank_id` when a bank account may be given)
    switches the payment step to Stripe.js; `test_cards` (and `test_banks`, test IBANs) are offered
    only where the simulated gateway is allowed (none: no payment step, the page says so); `sepa`:
    the bank-debit mandate shown before approval; `terms_sha256`: the hash of what is shown (the
    terms, with the mandate's text when there is one); `business`: the business form as the
    customer filled it (else the customer's tax details fill it), `invalid`: its field in error."""
    m, terms = view.mandate, view.mandate.terms
    amount = money(terms.amount, terms.currency, lang)
    if terms.total_cycles:
        ends = text(lang, "ends_cycles", n=terms.total_cycles)
    elif m.end_at:
        ends = text(lang, "ends_date", date=day(m.end_at, lang))
    else:
        ends = text(lang, "ends_never")
    return _render(
        "mandate.html",
        lang,
        nonce,
        switch_href=f"{base}?lang={'lt' if lang == 'en' else 'en'}",
        merchant=view.merchant_name,
        pending=m.awaiting_approval,
        status=m.status,
        amount=amount,
        every=schedule_text(terms.interval, terms.interval_count, lang),
        trial_days=terms.trial_days,
        upcoming=[
            (day(due, lang), money(view.upcoming_amounts[i], terms.currency, lang) if i < len(view.upcoming_amounts) else amount)
            for i, (_, due) in enumerate(view.upcoming)
        ],
        ends=ends,
        notice=notice,
        error=error,
        base=base,
        csrf=csrf,
        terms_sha256=terms_sha256 or view.terms_sha256,
        stripe=stripe,
        stripe_js=STRIPE_JS,
        test_cards=test_cards,
        test_banks=test_banks,
        sepa=_sepa(sepa, lang) if sepa is not None and (test_banks or (stripe and "bank_id" in stripe)) else None,
        mandate_reference=m.mandate_reference,
        holder=m.customer.name or "",
        email=m.customer.email or "",
        charges=[
            {**_charge(c, lang), "receipt": view.receipts.get(c.id), "notes": _charge_notes(c, view.disputes.get(c.id, []), lang)}
            for c in view.charges
        ],
        may_revoke=m.customer_may_revoke,
        may_replace_method=view.may_replace_method,
        method_changes_used_up=view.method_changes_used_up,
        current_method=_method(m, lang),
        may_give_tax=not m.is_final and "business" in csrf,  # the form needs its token
        buyer=_buyer(m.customer.tax, lang),
        business_form=_business_form(m.customer.tax, business),
        invalid=invalid,
        countries=[(code, text(lang, f"country.{code}")) for code in EEA_COUNTRIES],
    )


BUSINESS_FIELDS = ("company_name", "company_code", "vat_id", "line1", "line2", "city", "postal_code", "country")


def _buyer(tax: CustomerTax | None, lang: Lang) -> list[str]:
    """The customer's business details as the page shows them (none: a private person)."""
    if tax is None or tax.type != "business":
        return []
    address = tax.address
    place = " ".join(v for v in (address.postal_code, address.city) if v) if address else ""
    country = text(lang, f"country.{address.country}") if address and address.country in EEA_COUNTRIES else ""
    lines = [
        tax.company_name or "",
        text(lang, "business.company_code_is", code=tax.company_code) if tax.company_code else "",
        text(lang, "business.vat_id_is", vat_id=tax.vat_id) if tax.vat_id else "",
        ", ".join(v for v in (address.line1 if address else None, address.line2 if address else None, place, country) if v),
    ]
    return [line for line in lines if line]


def _business_form(tax: CustomerTax | None, submitted: dict[str, str] | None) -> dict[str, str]:
    """The business form's values: as the customer just filled it, else their stored details."""
    if submitted is not None:
        return {k: submitted.get(k, "") for k in BUSINESS_FIELDS}
    if tax is None or tax.type != "business":
        return dict.fromkeys(BUSINESS_FIELDS, "")
    address = tax.address.model_dump() if tax.address else {}
    stored = tax.model_dump(exclude={"address", "type"}) | address
    return {k: stored.get(k) or "" for k in BUSINESS_FIELDS}


def _sepa(offer: BankDebitOffer, lang: Lang) -> dict[str, str]:
    """The SEPA mandate's parts as the page lays them out (the same words `texts.sepa_mandate` hashes)."""
    return {
        "text": text(lang, "sepa.text", creditor=offer.creditor),
        "creditor": text(lang, "sepa.creditor", creditor=offer.creditor),
        "reference": text(lang, "sepa.reference", reference=offer.reference)
        if offer.reference
        else text(lang, "sepa.reference_later"),
        "notice": text(lang, "sepa.notice"),
    }


def _method(mandate: Mandate, lang: Lang) -> str:
    method = mandate.payment_method
    if method is None:
        return "—"
    if method.bank_debit:
        return text(lang, "bank_method", last4=method.shown_last4)
    return text(lang, "receipt.card", gateway=method.gateway.capitalize(), last4=method.shown_last4)


def _charge(charge: Charge, lang: Lang) -> dict[str, Any]:
    """A past charge as the customer sees it: what it was made of, and what was given back."""

    def line(kind: str, description: str, amount: int) -> dict[str, str]:
        if kind == "plan":
            description = text(lang, "line.plan", period=_period(charge, lang))
        elif kind == "proration":
            description = text(lang, "line.proration")
        return {"description": description, "amount": money(amount, charge.currency, lang)}

    lines = [line(li.type, li.description, li.amount) for li in charge.bill_lines]
    return {
        "date": day(charge.due_at, lang),
        "amount": money(charge.amount, charge.currency, lang),
        "status": charge.status,
        "lines": lines if len(lines) > 1 else [],
        "refunded": money(charge.amount_refunded, charge.currency, lang) if charge.amount_refunded else None,
    }


def _charge_notes(charge: Charge, disputes: list[Dispute], lang: Lang) -> list[str]:
    """What happened to a past charge after it was paid: money the bank returned (a reversed
    debit), and each dispute with its state (a lost one: the money went back to the customer)."""
    notes = [text(lang, "charge.returned", date=day(a.reversed_at, lang)) for a in charge.attempts if a.reversed_at is not None]
    for dispute in disputes:
        status = text(lang, f"receipt.dispute.{dispute.status}")
        notes.append(text(lang, "charge.disputed", amount=money(dispute.amount, charge.currency, lang), status=status))
    return notes


def revoke_page(view: CustomerView, lang: Lang, nonce: str, base: str, csrf: str) -> str:
    return _render("revoke.html", lang, nonce, merchant=view.merchant_name, base=base, csrf=csrf)


def receipt_document(view: ReceiptView, lang: Lang) -> dict[str, Any]:
    """A receipt's or an issued document's content, formatted for `lang`: the one source of its
    HTML page and its PDF. `fields` are its labelled facts in order (dates, who, what, how paid)."""
    if view.invoice is not None:
        return _invoice_document(view, view.invoice, lang)
    charge, account, customer = view.charge, view.account, view.mandate.customer
    currency = charge.currency
    lines = _charge(charge, lang)["lines"] or [
        {"description": text(lang, "line.plan", period=_period(charge, lang)), "amount": money(charge.amount, currency, lang)}
    ]
    merchant = [account.legal_name or account.name, *(account.address or "").splitlines()]
    if account.vat_id:
        merchant.append(f"{text(lang, 'receipt.vat')}: {account.vat_id}")
    refunds = _refunds(view, lang)
    fields = [
        _field(text(lang, "receipt.date"), day(view.paid_at, lang, "long")),
        _field(text(lang, "receipt.from"), *merchant),
        _field(
            text(lang, "receipt.to"),
            customer.name,
            customer.email,
            f"{text(lang, 'receipt.reference')}: {customer.reference}",
        ),
        _field(text(lang, "receipt.plan"), view.plan_name),
        _field(text(lang, "receipt.period"), _period(charge, lang)),
        _field(text(lang, "receipt.method"), *_paid_with(view, lang)),
    ]
    return {
        "title": text(lang, "receipt.title", number=charge.receipt_number),
        "number": charge.receipt_number,
        "merchant_name": account.name,
        "fields": [f for f in fields if f["lines"]],
        "notes": _charge_facts(view, lang),
        "lines": lines,
        "vat": [],
        "total": money(charge.amount, currency, lang),
        "refunds": refunds,
        "net": money(charge.amount - charge.amount_refunded, currency, lang) if refunds else None,
        "support": text(lang, "receipt.support", email=account.support_email) if account.support_email else "",
        "labels": _table_labels(lang),
        "xml": False,
    }


def _field(label: str, *lines: str | None) -> dict[str, Any]:
    return {"label": label, "lines": [line for line in lines if line]}


def _table_labels(lang: Lang) -> dict[str, str]:
    keys = {"item": "receipt.item", "total": "receipt.total", "refunds": "receipt.refunds", "net": "receipt.net"}
    return {k: text(lang, v) for k, v in keys.items()} | {
        "amount": text(lang, "amount"),
        "net_total": text(lang, "invoice.net"),
        "vat_total": text(lang, "invoice.vat_total"),
    }


def _refunds(view: ReceiptView, lang: Lang) -> list[dict[str, str]]:
    return [
        {
            "description": text(lang, "receipt.refunded_on", date=day(r.updated_at, lang, "long")),
            "amount": money(-r.amount, view.charge.currency, lang),
        }
        for r in view.refunds
    ]


def _charge_facts(view: ReceiptView, lang: Lang) -> list[str]:
    """What happened to the payment since: returned by the bank, disputed."""
    notes = []
    returned = next((a.reversed_at for a in view.charge.attempts if a.reversed_at is not None), None)
    if returned is not None:
        notes.append(text(lang, "receipt.returned", date=day(returned, lang, "long")))
    for dispute in view.disputes:
        status = text(lang, f"receipt.dispute.{dispute.status}")
        notes.append(text(lang, "receipt.disputed", amount=money(dispute.amount, view.charge.currency, lang), status=status))
    return notes


def _paid_with(view: ReceiptView, lang: Lang) -> list[str]:
    """How the charge was paid: the card's or the bank account's last four, as the gateway described them."""
    method = view.charge.paid_with or view.mandate.payment_method
    if method is None:
        return []
    if method.bank_debit:
        lines = [text(lang, "receipt.bank", last4=method.shown_last4)]
        if method.mandate_reference:
            lines.append(text(lang, "receipt.mandate_reference", reference=method.mandate_reference))
        return lines
    return [text(lang, "receipt.card", gateway=method.gateway.capitalize(), last4=method.shown_last4)]


def _invoice_document(view: ReceiptView, invoice: Invoice, lang: Lang) -> dict[str, Any]:
    """An issued invoice or credit note, from what was copied into it at issue (its number and
    title, dates, seller and buyer, lines, VAT per rate and totals), never from live data; every
    word in `lang` (`shapes.document_text`): one stored document reads alike in either language."""
    currency = invoice.currency
    seller = invoice.seller
    merchant = [seller.legal_name or seller.name, *(seller.address or "").splitlines()]
    if seller.company_code:
        merchant.append(f"{text(lang, 'invoice.company_code')}: {seller.company_code}")
    if seller.vat_id:
        merchant.append(f"{text(lang, 'receipt.vat')}: {seller.vat_id}")
    buyer, tax = invoice.buyer, invoice.buyer.tax
    customer = [v for v in (tax.company_name if tax else None, buyer.name, buyer.email) if v]
    if tax is not None and tax.company_code:
        customer.append(f"{text(lang, 'invoice.company_code')}: {tax.company_code}")
    if tax is not None and tax.vat_id:
        customer.append(f"{text(lang, 'receipt.vat')}: {tax.vat_id}")
    if tax is not None and tax.address is not None:
        a = tax.address
        country = text(lang, f"country.{a.country}") if a.country in EEA_COUNTRIES else a.country
        customer += [v for v in (a.line1, a.line2, " ".join(x for x in (a.postal_code, a.city) if x), country) if v]
    vat = []
    for group in invoice.tax_breakdown:
        taxable = money(group.taxable_amount, currency, lang)
        if group.category == "not_subject":
            description = document_text.words(lang, "not_subject")
        elif group.category == "reverse_charge":
            description = text(lang, "invoice.reverse_charge", rate=document_text.percentage("0", lang), taxable=taxable)
        else:
            rate = document_text.percentage(group.percentage, lang)
            description = text(lang, "invoice.vat_row", rate=rate, taxable=taxable)
        vat.append({"description": description, "amount": money(group.tax_amount, currency, lang)})
    if sum(1 for g in invoice.tax_breakdown if g.category != "not_subject") > 1:
        vat.append({"description": text(lang, "invoice.vat_total"), "amount": money(invoice.tax_amount, currency, lang)})
    credit_note = invoice.type == "credit_note"
    correcting = invoice.corrects is not None  # a credit note, or an invoice undoing one (a refund failed later)
    # The sum without VAT is the taxable amount only where every part of it is taxed (at some rate)
    untaxed = any(g.category == "not_subject" for g in invoice.tax_breakdown)
    net_label = text(lang, "invoice.without_vat" if untaxed else "invoice.net")
    fields = [
        _field(text(lang, "invoice.credit_note_date" if credit_note else "invoice.date"), day(invoice.issued_at, lang, "long"))
    ]
    if correcting and invoice.corrects_number is not None and invoice.reason is not None:
        label = "invoice.corrects_label" if credit_note else "invoice.undoes_label"
        fields += [
            _field(text(lang, label), invoice.corrects_number),
            _field(text(lang, "invoice.reason"), document_text.words(lang, f"reason.{invoice.reason}")),
        ]
    else:
        fields.append(_field(text(lang, "receipt.date"), day(view.paid_at, lang, "long")))
    fields += [
        _field(text(lang, "invoice.seller"), *merchant),
        _field(text(lang, "invoice.buyer"), *(customer or ["-"])),
        _field(text(lang, "receipt.plan"), invoice.plan_name),
        _field(text(lang, "receipt.period"), document_text.period(invoice, lang)),
    ]
    if not correcting:
        fields.append(_field(text(lang, "receipt.method"), *_paid_with(view, lang)))
    notes = [REVERSE_CHARGE_NOTE[lang]] if invoice.reverse_charge else []
    refunds = [] if correcting else _refunds(view, lang)
    return {
        "title": f"{invoice.title(lang)} {invoice.number}",
        "number": invoice.number,
        "merchant_name": seller.name,
        "fields": [f for f in fields if f["lines"]],
        "notes": notes + ([] if correcting else _charge_facts(view, lang)),
        "lines": [
            {"description": document_text.line_text(invoice, line, lang), "amount": money(line.amount, currency, lang)}
            for line in invoice.lines
        ],
        "vat": vat,
        "net_total": money(sum(g.taxable_amount for g in invoice.tax_breakdown), currency, lang),
        "total": money(invoice.total, currency, lang),
        "refunds": refunds,
        "net": money(view.charge.amount - view.charge.amount_refunded, currency, lang) if refunds else None,
        "support": text(lang, "receipt.support", email=view.account.support_email) if view.account.support_email else "",
        "labels": _table_labels(lang) | {"net_total": net_label},
        "xml": True,
    }


def _period(charge: Charge, lang: Lang) -> str:
    return day(charge.due_at, lang, "long") + (f" – {day(charge.period_end, lang, 'long')}" if charge.period_end else "")


def receipt_page(view: ReceiptView, lang: Lang, nonce: str, base: str) -> str:
    switch = f"{base}?lang={'lt' if lang == 'en' else 'en'}"
    return _render("receipt.html", lang, nonce, switch_href=switch, receipt=receipt_document(view, lang), base=base)


def receipt_pdf(view: ReceiptView, lang: Lang) -> bytes:
    from .receipt_pdf import receipt_pdf as make

    pdf = make(receipt_document(view, lang))
    if view.invoice is None:
        return pdf
    return embed_xml(pdf, view.invoice, lang)


def embed_xml(pdf: bytes, invoice: Invoice, lang: Lang) -> bytes:
    """The PDF with its EN 16931 XML attached as Factur-X (factur-x.xml, relationship "Data"),
    by the maintained `factur-x` library (imported only here)."""
    from facturx import generate_from_binary  # type: ignore[import-untyped]

    from ..shapes.einvoice import cii_xml

    metadata = {"author": invoice.seller.name, "keywords": "Factur-X", "title": invoice.number, "subject": invoice.number}
    out: bytes = generate_from_binary(
        pdf, cii_xml(invoice), flavor="factur-x", level="en16931", check_xsd=False, pdf_metadata=metadata, lang=lang
    )
    return out
