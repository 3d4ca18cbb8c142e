"""Invoices and credit notes: one `Invoice` object with two types, as the contract's "Invoices and
credit notes" says. Pure; integer minor units, exact decimals.

* An invoice is issued per collection of a succeeded charge once the charge has its receipt
  number: its number is that receipt number (the `invoice_prefix` series of domain/receipts,
  gapless already). A charge reversed and collected again is numbered and invoiced again (its id
  from (charge, n): `charge_invoice_id`). Its lines, tax breakdown and amounts are the charge's;
  the seller (the account's legal details), the buyer (the mandate's customer and tax details) and
  the plan's name are copied at issue, so later edits never change an issued document.
* A refund that fails at the gateway after it succeeded leaves its credit note issued: an invoice
  of the invoice series undoes it (`issue_restoring_invoice`), giving the invoice's tally back.
* A credit note answers a succeeded refund, a reversal or a lost dispute. It is numbered in its own
  series (`credit_note_prefix`, default CN), 1, 2, 3, … per merchant, by the same single writer per
  merchant that numbers receipts: the `CreditNoteCounter`, the credit note (created, never there
  before: its id derives from what it answers) and the invoice's running tally are written in one
  transaction on their versions, so a crash numbers nothing and a redelivery finds it issued.
* A credit note names the invoice it corrects (and copies its seller), carries negative amounts, and splits its amount over
  the invoice's tax groups in the proportions of what each group still holds (the invoice's own
  proportions for the first one), to the minor unit by largest remainders; within a group, its tax
  is the integer that keeps the note and what remains within EN 16931's tolerance (BR-CO-17,
  BR-S-09: one major unit), what remains nearest its exact tax (`credit_tax`). Each group's
  credited amounts never pass the invoice's (its tally), so an invoice minus its credit notes
  never goes below zero per rate, and a full refund takes exactly what each group holds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .account import Account
from .charge import Charge, Line, SoldBy, TaxLine
from .errors import InvalidState
from .model import Customer, Entity
from .money import CURRENCY_EXPONENT, Currency
from .receipts import ReceiptCounter, SeriesCounter, receipt_number
from .tax import CustomerTax, vat_prefix

InvoiceType = Literal["invoice", "credit_note"]
CorrectionKind = Literal["refund", "reversal", "dispute"]
# What an invoice that corrects a credit note answers: a refund that failed at the gateway after it
# had succeeded (its credit note stands, the money came back: this invoice puts the amount back).
RestoringKind = Literal["refund_failed"]
DocumentReason = CorrectionKind | RestoringKind

# What a document is called: a VAT-registered seller issues VAT invoices (domain texts by locale).
TITLES: dict[tuple[bool, InvoiceType], dict[str, str]] = {
    (True, "invoice"): {"en": "VAT invoice", "lt": "PVM sąskaita faktūra"},
    (False, "invoice"): {"en": "Invoice", "lt": "Sąskaita faktūra"},
    (True, "credit_note"): {"en": "VAT credit note", "lt": "Kreditinė PVM sąskaita faktūra"},
    (False, "credit_note"): {"en": "Credit note", "lt": "Kreditinė sąskaita faktūra"},
}
REVERSE_CHARGE_NOTE: dict[str, str] = {
    "en": "Reverse charge: VAT to be accounted for by the recipient (Article 196 of Directive 2006/112/EC).",
    "lt": "Atvirkštinis apmokestinimas: PVM sumoka paslaugų gavėjas (Direktyvos 2006/112/EB 196 straipsnis).",
}


def invoice_id(source: str) -> str:
    """Deterministic: a charge (or a refund, a reversal, a dispute) can never get two documents."""
    return f"inv_{hashlib.sha256(f'invoice|{source}'.encode()).hexdigest()[:32]}"


def correction_source(kind: CorrectionKind | RestoringKind, source_id: str) -> str:
    """What a credit note (or an invoice restoring one) answers, as its id derives from it."""
    return f"{kind}|{source_id}"


def collection_source(charge_id: str, collection: int) -> str:
    """A charge's n-th collection (a charge reversed and collected again is invoiced again; each
    reversal is credited): the charge's own id for the first, as before collections were counted."""
    return charge_id if collection <= 1 else f"{charge_id}|{collection}"


def charge_invoice_id(charge_id: str, collection: int = 1) -> str:
    """The invoice of a charge's n-th collection (its latest is `Charge.collection`)."""
    return invoice_id(collection_source(charge_id, collection))


class Seller(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str
    legal_name: str | None = None
    address: str | None = None
    company_code: str | None = None
    vat_id: str | None = None
    country: str = "LT"  # ISO 3166-1 alpha-2: of its VAT id, else of its default rate, else LT


class Buyer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str | None = None
    email: str | None = None
    tax: CustomerTax | None = None


class InvoiceLine(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    type: Literal["plan", "item", "proration", "correction"]
    description: str
    amount: int  # as entered (gross with an inclusive rate, net with an exclusive one); negative on credit notes
    item_id: str | None = None
    tax_rate_id: str | None = None


class Invoice(Entity):
    type: InvoiceType
    number: str
    seq: int  # its n in its series
    corrects: str | None = None  # a credit note's: the invoice it corrects
    corrects_number: str | None = None
    charge_id: str
    mandate_id: str
    refund_id: str | None = None
    dispute_id: str | None = None
    # A credit note's: what it answers; an invoice that corrects a credit note: `refund_failed`.
    reason: DocumentReason | None = None
    issued_at: datetime
    period_start: datetime | None = None
    period_end: datetime | None = None
    plan_name: str | None = None  # the plan's name at issue (a plan renamed later leaves it); None: issued before it was kept
    currency: Currency
    subtotal: int
    tax_amount: int
    total: int
    tax_breakdown: list[TaxLine]
    lines: list[InvoiceLine]
    seller: Seller
    buyer: Buyer
    reverse_charge: bool = False
    locale: Literal["en", "lt"] = "en"
    payment_last4: str | None = None
    # An invoice's running tally of what its credit notes took, per group of its breakdown (same
    # order): collected amount and tax. Internal, not part of the document.
    credited: list[int] = []
    credited_tax: list[int] = []
    # A credit note's: what it took from each group of the invoice it corrects (collected, tax; the
    # invoice's order), given back to that invoice's tally when the credit note is itself undone.
    took: list[int] = []
    took_tax: list[int] = []
    # An invoice's ledger of money given back beyond what it held (`carry`), by the document or
    # correction that moved it: + what a correction could not credit, - what a later document took.
    # Internal, not part of the document.
    carries: dict[str, int] = {}

    @property
    def vat_invoice(self) -> bool:
        return bool(self.seller.vat_id)

    def title(self, locale: str | None = None) -> str:
        return TITLES[(self.vat_invoice, self.type)][locale or self.locale]

    @property
    def uncredited(self) -> int:
        return self.total - sum(self.credited)


class CreditNoteCounter(SeriesCounter):
    """The credit-note series."""


def country_of_vat_id(vat_id: str | None) -> str | None:
    """ISO 3166-1 country of an EU VAT id (Greece's prefix EL is GR)."""
    prefix = vat_prefix(vat_id)
    return "GR" if prefix == "EL" else prefix


def seller_of(account: Account, sold_by: SoldBy | None = None) -> Seller:
    """The seller as the account names it now, with the VAT id the charge was taxed for (`sold_by`;
    None: the account's): the VAT id and its country decide the tax the invoice states."""
    rate_country = account.default_tax_rate.country if account.default_tax_rate is not None else None
    vat_id = account.vat_id if sold_by is None else sold_by.vat_id
    return Seller(
        name=account.name,
        legal_name=account.legal_name,
        address=account.address,
        company_code=account.company_code,
        vat_id=vat_id,
        country=country_of_vat_id(vat_id) or rate_country or "LT",
    )


def buyer_of(customer: Customer) -> Buyer:
    return Buyer(name=customer.name, email=customer.email, tax=customer.tax)


def breakdown_of(charge: Charge) -> list[TaxLine]:
    """The charge's tax groups; a charge made before tax existed is one group not subject to VAT."""
    if charge.tax_breakdown:
        return list(charge.tax_breakdown)
    return [TaxLine(percentage="0", inclusive=True, category="not_subject", taxable_amount=charge.amount, tax_amount=0)]


def issue_invoice(charge: Charge, customer: Customer, account: Account, now: datetime, plan_name: str | None = None) -> Invoice:
    """The invoice of a succeeded, numbered charge's latest collection, its seller, buyer and plan
    name copied now."""
    if charge.receipt_number is None or charge.receipt_seq is None:
        raise InvalidState("A charge is invoiced once it has its number.")
    breakdown = breakdown_of(charge)
    return Invoice(
        id=charge_invoice_id(charge.id, charge.collection),
        merchant_id=charge.merchant_id,
        created_at=now,
        updated_at=now,
        type="invoice",
        number=charge.receipt_number,
        seq=charge.receipt_seq,
        charge_id=charge.id,
        mandate_id=charge.mandate_id,
        issued_at=now,
        period_start=charge.due_at if charge.period_end is not None else None,
        period_end=charge.period_end,
        plan_name=plan_name,
        currency=charge.currency,
        subtotal=charge.amount if charge.subtotal is None else charge.subtotal,
        tax_amount=charge.tax_amount,
        total=charge.amount,
        tax_breakdown=breakdown,
        lines=[_line(line) for line in charge.bill_lines],
        seller=seller_of(account, charge.sold_by),
        buyer=buyer_of(customer),
        reverse_charge=any(g.category == "reverse_charge" for g in breakdown),
        locale="lt" if (customer.locale or account.default_locale) == "lt" else "en",
        payment_last4=charge.paid_with.last4 if charge.paid_with is not None else None,
        credited=[0] * len(breakdown),
        credited_tax=[0] * len(breakdown),
    )


def _line(line: Line) -> InvoiceLine:
    return InvoiceLine(
        type=line.type, description=line.description, amount=line.amount, item_id=line.item_id, tax_rate_id=line.tax_rate_id
    )


def largest_remainders(amount: int, weights: list[int]) -> list[int]:
    """`amount` split in proportion to `weights` (non-negative, summing to at least `amount`):
    each share is its exact proportion rounded down or up, the units left going to the largest
    remainders (ties: the first group), so the shares sum to `amount` exactly and none passes
    its weight."""
    total = sum(weights)
    if amount == 0 or total == 0:
        return [0] * len(weights)
    exact = [Decimal(amount) * w / Decimal(total) for w in weights]
    shares = [int(x) for x in exact]  # floor: all non-negative
    left = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def br_co_17_level(net: int, tax: int, percentage: str, exponent: int) -> int:
    """How a VAT breakdown entry of taxable amount `net` and tax `tax` (minor units, non-negative,
    of a currency of `exponent` decimals) at `percentage` fares with EN 16931's rules as the
    Factur-X CII Schematron computes them, on amounts in major units: the expected tax is
    round(taxable x rate) / 100 (half up); 0: less than one major unit off (BR-S-09 and BR-CO-17),
    1: exactly one unit off (BR-CO-17 only), 2: more (neither). A rate of 0 wants no tax."""
    p = Decimal(percentage)
    if p == 0:
        return 0 if tax == 0 else 2
    unit = 10**exponent
    expected = (Decimal(net) * p / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP)  # hundredths of a major unit
    off = abs(100 * tax - expected * unit)  # hundredths of a minor unit
    return 0 if off < 100 * unit else 1 if off == 100 * unit else 2


def _deviation(net: int, tax: int, p: Decimal) -> Decimal:
    return abs(Decimal(tax) - Decimal(net) * p / 100)


def _ideal_tax(collected: int, p: Decimal) -> Decimal:
    return Decimal(collected) * p / (100 + p)


def credit_tax(share: int, left: int, tax_left: int, percentage: str, exponent: int) -> int:
    """The tax a credit note takes from a group that still holds `left` (collected, of which
    `tax_left` tax) when it takes `share` of it (0 < share < left; all of it takes all its tax).
    Between the bounds that keep the note and what remains within the group (neither's tax nor
    taxable amount below zero), the integer that best keeps both within EN 16931's tolerance
    (`br_co_17_level`, the note first: it is issued now; what remains next, so that a full refund
    later is too), then what remains nearest its exact tax (room for later notes), then the note
    nearest its own, then the smaller. In a currency with decimals the tolerance (one major unit)
    is 100 minor units or more, and the remainder rounded to its exact tax (within half a unit
    times 1 + rate) is always among them: every note and remainder is within it. Without decimals
    it is one minor unit and a series of small notes can force what remains out of it (see
    docs/invoices.md): the note still is, whenever any choice makes it so."""
    net_left = left - tax_left
    lo, hi = max(0, share - net_left), min(tax_left, share)
    p = Decimal(percentage)
    remaining_exact = tax_left - int(_ideal_tax(left - share, p).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    near = {lo, hi} | {t for c in (int(_ideal_tax(share, p)), remaining_exact) for t in range(c - 2, c + 3)}

    def rank(t: int) -> tuple[int, int, Decimal, Decimal, int]:
        rest_net, rest_tax = net_left - (share - t), tax_left - t
        return (
            br_co_17_level(share - t, t, percentage, exponent),
            br_co_17_level(rest_net, rest_tax, percentage, exponent),
            _deviation(rest_net, rest_tax, p),
            _deviation(share - t, t, p),
            t,
        )

    return min((t for t in near if lo <= t <= hi), key=rank)


def credit_shares(
    groups: list[TaxLine], credited: list[int], credited_tax: list[int], amount: int, exponent: int
) -> list[tuple[int, int]]:
    """What a credit note of `amount` takes from each group (collected, tax), given what notes
    took already: shares in proportion to what each group still holds, by largest remainders;
    each share's tax by `credit_tax`; a share of all a group holds takes all its tax."""
    remaining = [g.taxable_amount + g.tax_amount - c for g, c in zip(groups, credited, strict=True)]
    shares = largest_remainders(amount, remaining)
    out: list[tuple[int, int]] = []
    for group, left, share, tax_taken in zip(groups, remaining, shares, credited_tax, strict=True):
        tax_left = group.tax_amount - tax_taken
        if share == left:
            tax = tax_left
        elif share == 0:
            tax = 0
        else:
            tax = credit_tax(share, left, tax_left, group.percentage, exponent)
        out.append((share, tax))
    return out


def split_credit(invoice: Invoice, amount: int) -> list[tuple[int, int]]:
    """What a credit note of `amount` (money given back, positive) takes from each group of the
    invoice: (collected, tax) each, in proportion to what each group still holds."""
    if amount <= 0 or amount > invoice.uncredited:
        raise InvalidState(f"A credit note of {amount} exceeds what invoice {invoice.number} still holds.")
    return credit_shares(
        invoice.tax_breakdown, invoice.credited, invoice.credited_tax, amount, CURRENCY_EXPONENT[invoice.currency]
    )


def issue_credit_note(
    invoice: Invoice,
    counter: CreditNoteCounter,
    prefix: str,
    amount: int,
    kind: CorrectionKind,
    source_id: str,
    now: datetime,
) -> Invoice:
    """A credit note of `amount` correcting `invoice` (its seller and title the invoice's), given the counter's next number; the
    invoice's tally and the counter move with it (write the three together, or none)."""
    split = split_credit(invoice, amount)
    groups: list[TaxLine] = []
    lines: list[InvoiceLine] = []
    for group, (collected, tax) in zip(invoice.tax_breakdown, split, strict=True):
        if collected == 0:
            continue
        taxable = collected - tax
        groups.append(group.model_copy(update={"taxable_amount": -taxable, "tax_amount": -tax}))
        entered = collected if group.inclusive else taxable  # as entered, like the invoice's lines
        lines.append(
            InvoiceLine(
                type="correction",
                description=f"{kind.capitalize()} of {invoice.number}",
                amount=-entered,
                tax_rate_id=group.tax_rate_id,
            )
        )
    took, took_tax = [s for s, _ in split], [t for _, t in split]
    invoice.credited = [c + s for c, (s, _) in zip(invoice.credited, split, strict=True)]
    invoice.credited_tax = [c + t for c, (_, t) in zip(invoice.credited_tax, split, strict=True)]
    invoice.updated_at = now
    seq = counter.take(now)
    return Invoice(
        id=invoice_id(correction_source(kind, source_id)),
        merchant_id=invoice.merchant_id,
        created_at=now,
        updated_at=now,
        type="credit_note",
        number=f"{prefix}-{seq}",
        seq=seq,
        corrects=invoice.id,
        corrects_number=invoice.number,
        charge_id=invoice.charge_id,
        mandate_id=invoice.mandate_id,
        refund_id=source_id if kind == "refund" else None,
        dispute_id=source_id if kind == "dispute" else None,
        reason=kind,
        issued_at=now,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        plan_name=invoice.plan_name,
        currency=invoice.currency,
        subtotal=sum(line.amount for line in lines),
        tax_amount=sum(g.tax_amount for g in groups),
        total=-amount,
        tax_breakdown=groups,
        lines=lines,
        seller=invoice.seller,  # the corrected invoice's, whatever the account says now (its title too)
        buyer=invoice.buyer,
        reverse_charge=invoice.reverse_charge,
        locale=invoice.locale,
        payment_last4=invoice.payment_last4,
        took=took,
        took_tax=took_tax,
    )


def _took(note: Invoice, invoice: Invoice) -> tuple[list[int], list[int]]:
    """What `note` took from each group of `invoice` (collected, tax): as it recorded it, or for a
    note issued before it did, its groups matched to the invoice's in order."""
    if len(note.took) == len(invoice.tax_breakdown):
        return list(note.took), list(note.took_tax)
    took, took_tax = [0] * len(invoice.tax_breakdown), [0] * len(invoice.tax_breakdown)
    left = list(note.tax_breakdown)
    for i, group in enumerate(invoice.tax_breakdown):
        key = (group.tax_rate_id, group.percentage, group.inclusive, group.category)
        match = next((g for g in left if (g.tax_rate_id, g.percentage, g.inclusive, g.category) == key), None)
        if match is not None:
            left.remove(match)
            took[i], took_tax[i] = -(match.taxable_amount + match.tax_amount), -match.tax_amount
    return took, took_tax


def issue_restoring_invoice(
    note: Invoice, invoice: Invoice, counter: ReceiptCounter, prefix: str, kind: RestoringKind, source_id: str, now: datetime
) -> Invoice:
    """The invoice that undoes credit note `note` of `invoice` (its refund failed at the gateway
    after it had succeeded: the money is the merchant's again). EN 16931 has no cancelled credit
    note: an invoice of the invoice series (`counter`, the receipts' series) for the amounts the
    note took, naming it (BT-25), the seller and buyer the note's. What the note took goes back to
    the invoice's tally, so a later refund gets its credit note. Write the three with the counter."""
    if note.type != "credit_note" or note.corrects != invoice.id:
        raise InvalidState(f"{note.number} is not a credit note of {invoice.number}.")
    took, took_tax = _took(note, invoice)
    invoice.credited = [max(0, c - t) for c, t in zip(invoice.credited, took, strict=True)]
    invoice.credited_tax = [max(0, c - t) for c, t in zip(invoice.credited_tax, took_tax, strict=True)]
    invoice.updated_at = now
    groups = [g.model_copy(update={"taxable_amount": -g.taxable_amount, "tax_amount": -g.tax_amount}) for g in note.tax_breakdown]
    lines = [
        line.model_copy(update={"amount": -line.amount, "description": f"Failed refund: reverses credit note {note.number}"})
        for line in note.lines
    ]
    seq = counter.take(now)
    return Invoice(
        id=invoice_id(correction_source(kind, source_id)),
        merchant_id=note.merchant_id,
        created_at=now,
        updated_at=now,
        type="invoice",
        number=receipt_number(prefix, seq),
        seq=seq,
        corrects=note.id,
        corrects_number=note.number,
        charge_id=note.charge_id,
        mandate_id=note.mandate_id,
        refund_id=note.refund_id,
        reason=kind,
        issued_at=now,
        period_start=note.period_start,
        period_end=note.period_end,
        currency=note.currency,
        subtotal=-note.subtotal,
        tax_amount=-note.tax_amount,
        total=-note.total,
        tax_breakdown=groups,
        lines=lines,
        seller=note.seller,
        buyer=note.buyer,
        reverse_charge=note.reverse_charge,
        locale=note.locale,
        payment_last4=note.payment_last4,
        credited=[0] * len(groups),
        credited_tax=[0] * len(groups),
    )


# ------------------------------------------------------------------ money given back beyond an invoice
# The books' rule is that invoices less credit notes are what the gateway holds, per charge. A
# correction may give back more than its invoice still holds: a bank returns a whole debit part of
# which was refunded already (SEPA), or a refund sent before a return succeeds after it. No credit
# note may take an invoice below zero per rate, so what it could not credit is carried on the
# invoice (`carries`) and credited from the charge's next collection's invoice when that is issued,
# or from this invoice again as a failed refund frees its share.


def carried(invoice: Invoice) -> int:
    """What `invoice` still carries: money given back that no credit note says yet."""
    return max(0, sum(invoice.carries.values()))


def carry(invoice: Invoice, key: str, amount: int, now: datetime) -> None:
    """Record that the correction `key` (its credit note's id) gave back `amount` more than
    `invoice` held (once per key: a redelivery adds nothing)."""
    if amount > 0 and key not in invoice.carries:
        invoice.carries = {**invoice.carries, key: amount}
        invoice.updated_at = now


def release_carry(invoice: Invoice, key: str, carried_by: str, now: datetime) -> int:
    """A refund failed after it succeeded: what it had carried (`carried_by`, its credit note's
    id) is no longer given back. Recorded once under `key`; returns the amount released."""
    if key in invoice.carries:
        return 0
    released = min(invoice.carries.get(carried_by, 0), carried(invoice))
    if released:
        invoice.carries = {**invoice.carries, key: -released}
        invoice.updated_at = now
    return released


def take_carried(
    carrier: Invoice,
    target: Invoice,
    counter: CreditNoteCounter,
    prefix: str,
    source_id: str,
    now: datetime,
) -> Invoice | None:
    """The credit note that gives back, off `target` (the next collection's invoice, or the
    carrier itself once a failed refund freed its share), what `carrier` carries, as far as
    `target` holds it (None: nothing carried or nothing held). The note answers `source_id` as a
    reversal (the usual cause); the carrier's ledger records it under the note's id. Write the
    note, both invoices and the counter together."""
    note_id = invoice_id(correction_source("reversal", source_id))
    amount = min(carried(carrier), target.uncredited)
    if amount <= 0 or note_id in carrier.carries:
        return None
    note = issue_credit_note(target, counter, prefix, amount, "reversal", source_id, now)
    carrier.carries = {**carrier.carries, note_id: -amount}
    carrier.updated_at = now
    return note
