"""An invoice or credit note as EN 16931 in UN/CEFACT CII syntax (Factur-X EN 16931 profile): the
document accountants' tools import. Built with the maintained `factur-x` library (its
`generate_cii_xml` from the business terms, BT-n / BG-n), never by hand; `factur-x` (and so lxml)
is imported only when a document is asked for (cold start).

Mapping (docs/invoices.md):
* BT-1 the number, BT-3 380 (invoice) or 381 (credit note: amounts positive, as CII expects, the
  type says they go back); a credit note names the invoice it corrects (BG-3, BT-25).
* Lines (BG-25) carry net amounts (a negative one, carried credit, as a quantity of -1): a line entered with an inclusive rate gives up its share of its
  group's tax (proportionally, the group's last line taking the remainder), so that each rate's
  line nets sum exactly to its taxable amount (BR-S-08 and the like).
* Categories: standard S, zero Z, reverse charge AE (exemption code VATEX-EU-AE and the legal
  note), not subject to VAT O (VATEX-EU-O). EN 16931 allows O only alone (BR-O-11..14), and a
  charge is all rated or all unrated (domain/tax); a charge made before that rule whose lines not
  subject to VAT share an invoice with taxed ones declares them E (exempt, 0 %) with the reason
  "Not subject to VAT", so its document stays valid and its totals unchanged. An invoice
  of category O alone names no VAT ids (BR-O-02).
* Groups of the same category and percentage (two rates of 21 %) are one VAT breakdown entry.
* Dates: BT-2 (IssueDateTime) and BT-72 are the day the document was issued (`issued_at`), not
  the day the charge was paid; BT-73/74 the period covered, its last day inclusive.
* Words in the document's language (`locale`, `shapes.document_text`): line names (BT-153), notes
  (BT-22), exemption reasons (BT-120). Rates (BT-119, BT-152) are the rate's exact decimal string,
  up to the 4 decimals the contract allows, never rounded (the library would round a number to 2).
* Totals: BT-106 = BT-109 = the taxable amounts, BT-110 the tax, BT-112 their sum, paid (BT-113)
  in full at the gateway, so nothing is due (BT-115 = 0).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..domain.invoices import REVERSE_CHARGE_NOTE, Invoice, InvoiceLine, country_of_vat_id
from ..domain.money import CURRENCY_EXPONENT
from .document_text import corrects_note, line_text, words

CATEGORY_CODES = {"standard": "S", "zero": "Z", "reverse_charge": "AE", "not_subject": "O"}


def cii_data(invoice: Invoice) -> dict[str, Any]:
    """The factur-x library's business terms of the document (EN 16931 BT-n / BG-n)."""
    sign = -1 if invoice.type == "credit_note" else 1
    lang = invoice.locale  # its texts (line names, notes, exemption reasons) in the document's language

    def money(minor: int, signed: bool = True) -> str:
        exponent = CURRENCY_EXPONENT[invoice.currency]
        return str(Decimal(sign * minor if signed else minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))

    categories = {g.category for g in invoice.tax_breakdown}
    only_o = categories == {"not_subject"}

    def code(category: str) -> str:
        if category == "not_subject" and not only_o:
            return "E"
        return CATEGORY_CODES[category]

    def rate(category: str, percentage: str) -> str | None:
        if category == "not_subject":
            return None if only_o else "0"
        return "0" if category in ("zero", "reverse_charge") else percentage

    lines: list[dict[str, Any]] = []
    for group, nets in _line_nets(invoice):
        for line, net in nets:
            # A negative line (carried credit) is a quantity of -1 at a positive price (BR-27).
            entry: dict[str, Any] = {
                "BT-126": str(len(lines) + 1),
                "BT-129": "-1" if sign * net < 0 else "1",
                "BT-130": "C62",
                "BT-131": money(net),
                "BT-146": money(abs(net), signed=False),
                "BT-151": code(group.category),
                "BT-153": line_text(invoice, line, lang)[:200] or "-",
            }
            if (r := rate(group.category, group.percentage)) is not None:
                entry["BT-152"] = r
            lines.append(entry)

    breakdown: dict[tuple[str, str | None], dict[str, Any]] = {}
    for group in invoice.tax_breakdown:
        key = (code(group.category), rate(group.category, group.percentage))
        entry = breakdown.setdefault(key, {"taxable": 0, "tax": 0, "category": group.category})
        entry["taxable"] += group.taxable_amount
        entry["tax"] += group.tax_amount
    vat: list[dict[str, Any]] = []
    for (category_code, percentage), sums in breakdown.items():
        item: dict[str, Any] = {"BT-116": money(sums["taxable"]), "BT-117": money(sums["tax"]), "BT-118": category_code}
        if percentage is not None:
            item["BT-119"] = percentage
        if category_code == "AE":
            item |= {"BT-120": REVERSE_CHARGE_NOTE[lang], "BT-121": "VATEX-EU-AE"}
        elif category_code == "O":
            item |= {"BT-120": words(lang, "not_subject"), "BT-121": "VATEX-EU-O"}
        elif category_code == "E":
            item["BT-120"] = words(lang, "not_subject")
        vat.append(item)

    taxable = sum(g.taxable_amount for g in invoice.tax_breakdown)
    tax = sum(g.tax_amount for g in invoice.tax_breakdown)
    issued = invoice.issued_at.date()
    data: dict[str, Any] = {
        "BT-1": invoice.number,
        "BT-2": issued,
        "BT-3": "381" if invoice.type == "credit_note" else "380",
        "BT-5": invoice.currency,
        "BT-24": "urn:cen.eu:en16931:2017",
        "BT-72": issued,
        "BG-4": _seller(invoice, with_vat_id=not only_o),
        "BG-7": _buyer(invoice, with_vat_id=not only_o),
        "BG-25": lines,
        "BG-23": vat,
        "BT-106": money(taxable),
        "BT-109": money(taxable),
        "BT-110": money(tax),
        "BT-112": money(taxable + tax),
        "BT-113": money(taxable + tax),
        "BT-115": money(0),
    }
    notes = []
    if invoice.reverse_charge:
        notes.append({"BT-22": REVERSE_CHARGE_NOTE[lang]})
    if invoice.corrects_number is not None:
        data["BG-3"] = [{"BT-25": invoice.corrects_number}]
        if (note := corrects_note(invoice, lang)) is not None:
            notes.append({"BT-22": note})
    if notes:
        data["BG-1"] = notes
    if invoice.period_start is not None and invoice.period_end is not None:
        data["BT-73"] = invoice.period_start.date()
        data["BT-74"] = max(invoice.period_start.date(), (invoice.period_end - timedelta(microseconds=1)).date())
    safe: dict[str, Any] = _xml_safe(data)
    return safe


# What XML 1.0 cannot hold (lxml refuses it): C0 controls but TAB, LF and CR; surrogates; U+FFFE, U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: Any) -> Any:
    """Every text of the business terms without what XML 1.0 cannot hold (a space instead), for
    documents issued before the input refused control characters: the document is produced."""
    if isinstance(value, str):
        return _NOT_XML.sub(" ", value)
    if isinstance(value, dict):
        return {k: _xml_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_xml_safe(v) for v in value]
    return value


def cii_xml(invoice: Invoice) -> bytes:
    """The document as Factur-X EN 16931 CII XML (UTF-8). Not checked against the schema here
    (the tests check every document they produce, XSD and business rules)."""
    from facturx.generate_xml import generate_cii_xml  # type: ignore[import-untyped]

    xml: bytes = generate_cii_xml(cii_data(invoice), level="en16931", check_xsd=False, check_schematron=False)
    return xml


def _line_nets(invoice: Invoice) -> list[tuple[Any, list[tuple[InvoiceLine, int]]]]:
    """Each group of the breakdown with its lines' net amounts, summing to its taxable amount."""
    out = []
    for group in invoice.tax_breakdown:
        lines = [line for line in invoice.lines if line.tax_rate_id == group.tax_rate_id]
        if not lines:  # a document without lines of this group (never issued so): one line of it
            lines = [InvoiceLine(type="plan", description="-", amount=group.taxable_amount, tax_rate_id=group.tax_rate_id)]
        entered = sum(line.amount for line in lines)
        held = entered - group.taxable_amount  # the tax inclusive prices held (0 when exclusive)
        nets: list[tuple[InvoiceLine, int]] = []
        given = 0
        for i, line in enumerate(lines):
            if i == len(lines) - 1:
                share = held - given
            elif entered:
                share = int((Decimal(held) * line.amount / Decimal(entered)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            else:
                share = 0
            given += share
            nets.append((line, line.amount - share))
        out.append((group, nets))
    return out


def _address(lines: list[str]) -> dict[str, str]:
    keys = ("addr_l1", "addr_l2", "addr_l3")
    return {key: value for key, value in zip(keys, [line for line in lines if line.strip()][:3], strict=False)}


def _seller(invoice: Invoice, with_vat_id: bool) -> dict[str, Any]:
    seller = invoice.seller
    # BT-29: the merchant's id with this service (BR-CO-26 wants an identifier of the seller even
    # when it has no VAT id or company code to show).
    party: dict[str, Any] = {
        "name": seller.legal_name or seller.name,
        "country_code": seller.country,
        "identifiers": {"": invoice.merchant_id},
    }
    if seller.legal_name and seller.legal_name != seller.name:
        party["biz_name"] = seller.name
    if seller.company_code:
        party["legal_identifier"] = seller.company_code
    if seller.vat_id and with_vat_id:
        party["vat_identifier"] = seller.vat_id
    if seller.address:
        party |= _address(seller.address.splitlines())
    return party


def _buyer(invoice: Invoice, with_vat_id: bool) -> dict[str, Any]:
    buyer, tax = invoice.buyer, invoice.buyer.tax
    address = tax.address if tax is not None else None
    name = (tax.company_name if tax is not None else None) or buyer.name or buyer.email or "-"
    country = (
        (address.country if address is not None else None)
        or country_of_vat_id(tax.vat_id if tax is not None else None)
        or invoice.seller.country
    )
    party: dict[str, Any] = {"name": name, "country_code": country}
    if tax is not None and tax.company_code:
        party["legal_identifier"] = tax.company_code
    if tax is not None and tax.vat_id and with_vat_id:
        party["vat_identifier"] = tax.vat_id
    if address is not None:
        party |= _address([address.line1 or "", address.line2 or ""])
        if address.city:
            party["city"] = address.city
        if address.postal_code:
            party["postcode"] = address.postal_code
    return party
