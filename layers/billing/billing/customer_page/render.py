"""The customer page's HTML, rendered from Jinja2 templates with autoescaping on: every value
that comes from data (merchant name, amounts, tokens, links) is escaped by the engine, and the
only inline style and script carry the response's CSP nonce."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..domain import payment_methods
from ..domain.invoices import REVERSE_CHARGE_NOTE, Invoice
from .formatting import day, money, schedule_text
from .forms import EEA_COUNTRIES
from .headers import STRIPE_JS
from .texts import Lang, text

if TYPE_CHECKING:
    from ..domain.charge import Charge
    from ..domain.disputes import Dispute
    from ..domain.model import Mandate, PaymentMethod
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
        upcoming=[day(due, lang) for _, due in view.upcoming],
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
        return text(lang, "bank_method", last4=_last4(method))
    return text(lang, "receipt.card", gateway=method.gateway.capitalize(), last4=payment_methods.last4(method.token))


def _last4(method: PaymentMethod) -> str:
    return method.last4 or payment_methods.last4(method.token)


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
    """A receipt's content, formatted for `lang`: the one source of its HTML page and its PDF."""
    charge, account, customer = view.charge, view.account, view.mandate.customer
    currency = charge.currency
    lines = _charge(charge, lang)["lines"] or [
        {"description": text(lang, "line.plan", period=_period(charge, lang)), "amount": money(charge.amount, currency, lang)}
    ]
    method = charge.paid_with or view.mandate.payment_method
    merchant = [account.legal_name or account.name, *(account.address or "").splitlines()]
    if account.vat_id:
        merchant.append(f"{text(lang, 'receipt.vat')}: {account.vat_id}")
    refunds = [
        {
            "description": text(lang, "receipt.refunded_on", date=day(r.updated_at, lang, "long")),
            "amount": money(-r.amount, currency, lang),
        }
        for r in view.refunds
    ]
    notes = []
    returned = next((a.reversed_at for a in charge.attempts if a.reversed_at is not None), None)
    if returned is not None:
        notes.append(text(lang, "receipt.returned", date=day(returned, lang, "long")))
    for dispute in view.disputes:
        status = text(lang, f"receipt.dispute.{dispute.status}")
        notes.append(text(lang, "receipt.disputed", amount=money(dispute.amount, currency, lang), status=status))
    if method is None:
        paid_with = ""
    elif method.bank_debit:
        paid_with = text(lang, "receipt.bank", last4=_last4(method))
        if method.mandate_reference:
            paid_with += "\n" + text(lang, "receipt.mandate_reference", reference=method.mandate_reference)
    else:
        paid_with = text(lang, "receipt.card", gateway=method.gateway.capitalize(), last4=payment_methods.last4(method.token))
    return {
        "title": text(lang, "receipt.title", number=charge.receipt_number),
        "number": charge.receipt_number,
        "merchant_name": account.name,
        "merchant": [line for line in merchant if line],
        "customer": [v for v in (customer.name, customer.email, f"{text(lang, 'receipt.reference')}: {customer.reference}") if v],
        "date": day(view.paid_at, lang, "long"),
        "plan": view.plan_name,
        "period": _period(charge, lang),
        "lines": lines,
        "total": money(charge.amount, currency, lang),
        "method": paid_with,
        "notes": notes,
        "refunds": refunds,
        "net": money(charge.amount - charge.amount_refunded, currency, lang) if refunds else None,
        "support": text(lang, "receipt.support", email=account.support_email) if account.support_email else "",
        "vat": [],
        "net_total": None,
        "xml": False,
    } | (_invoice_document(view.invoice, lang) if view.invoice is not None else {})


def _invoice_document(invoice: Invoice, lang: Lang) -> dict[str, Any]:
    """What an issued invoice or credit note shows instead of the live data: its own number and
    title, the seller and buyer as copied at issue, its lines, VAT per rate and totals."""
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
        customer += [v for v in (a.line1, a.line2, " ".join(x for x in (a.postal_code, a.city) if x), a.country) if v]
    vat = []
    for group in invoice.tax_breakdown:
        taxable = money(group.taxable_amount, currency, lang)
        if group.category == "not_subject":
            description = text(lang, "invoice.not_subject")
        elif group.category == "reverse_charge":
            description = text(lang, "invoice.reverse_charge", taxable=taxable)
        else:
            name = text(lang, "invoice.vat_name")
            description = text(lang, "invoice.vat_row", name=name, percentage=group.percentage, taxable=taxable)
        vat.append({"description": description, "amount": money(group.tax_amount, currency, lang)})
    notes = []
    if invoice.corrects_number is not None and invoice.reason == "refund_failed":
        notes.append(text(lang, "invoice.reason.refund_failed", number=invoice.corrects_number))
    elif invoice.corrects_number is not None and invoice.reason is not None:
        reason = text(lang, f"invoice.reason.{invoice.reason}")
        notes.append(text(lang, "invoice.corrects", number=invoice.corrects_number, reason=reason))
    if invoice.reverse_charge:
        notes.append(REVERSE_CHARGE_NOTE[lang])
    out: dict[str, Any] = {
        "title": f"{invoice.title(lang)} {invoice.number}",
        "number": invoice.number,
        "merchant_name": seller.name,  # as copied at issue, like the plan's name below
        "merchant": [line for line in merchant if line],
        "customer": customer or ["-"],
        "date": day(invoice.issued_at, lang, "long"),
        "lines": [{"description": line.description, "amount": money(line.amount, currency, lang)} for line in invoice.lines],
        "total": money(invoice.total, currency, lang),
        "vat": vat,
        "net_total": money(sum(g.taxable_amount for g in invoice.tax_breakdown), currency, lang),
        "xml": True,
    }
    if invoice.type == "credit_note" or invoice.corrects is not None:
        out |= {"notes": notes, "refunds": [], "net": None, "plan": ""}
    elif notes:
        out["notes"] = notes
    if invoice.type == "invoice" and invoice.corrects is None and invoice.plan_name is not None:
        out["plan"] = invoice.plan_name  # as copied at issue (none on older invoices: the plan's name now)
    return out


def _period(charge: Charge, lang: Lang) -> str:
    return day(charge.due_at, lang, "long") + (f" – {day(charge.period_end, lang, 'long')}" if charge.period_end else "")


def receipt_page(view: ReceiptView, lang: Lang, nonce: str, base: str) -> str:
    switch = f"{base}?lang={'lt' if lang == 'en' else 'en'}"
    return _render("receipt.html", lang, nonce, switch_href=switch, receipt=receipt_document(view, lang), base=base)


def receipt_pdf(view: ReceiptView, lang: Lang) -> bytes:
    from .receipt_pdf import receipt_pdf as make

    keys = ("date", "from", "to", "plan", "period", "method", "item", "total", "refunds", "net")
    labels = {k: text(lang, f"receipt.{k}") for k in keys} | {
        "amount": text(lang, "amount"),
        "net_total": text(lang, "invoice.net"),
    }
    pdf = make(receipt_document(view, lang), labels)
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
