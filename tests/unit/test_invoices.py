"""Invoices and credit notes (contract "Invoices and credit notes") on the whole engine in memory:
an invoice per succeeded charge (its receipt number), a credit note per succeeded refund, reversal
and lost dispute in its own series, seller and buyer copied at issue, the tax split of credit notes
(against an independent exact computation), the list filters and the export rows."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from billing.api.requests import AccountUpdate, CustomerUpdate, MandateCreate, TaxRateCreate
from billing.domain.charge import TaxLine
from billing.domain.errors import InvalidState, NotFound
from billing.domain.invoices import (
    Buyer,
    CreditNoteCounter,
    Invoice,
    Seller,
    invoice_id,
    issue_credit_note,
    largest_remainders,
    split_credit,
)
from billing.domain.model import Event
from billing.domain.money import CURRENCY_EXPONENT
from billing.service.event_publishing import asks_for_a_document, receipt_request
from billing.service.invoices import Invoices, Invoicing
from billing.service.ports import PageRequest
from billing.service.receipts import ReceiptNumbering, ReceiptRequests
from billing.shapes import render
from tests.support.values import CONSENT
from tests.world import MERCHANT, World, refund

T0 = datetime(2026, 11, 1, 9, 0)


class Books:
    """The world, with the receipts function behind its event stream (as the publisher feeds it)."""

    def __init__(self, vat_id: str | None = "LT100001919017", **account: Any) -> None:
        self.world = World()
        self.numbering = ReceiptNumbering(self.world.repo, self.world.clock)
        self.invoicing = Invoicing(self.world.repo, self.world.clock, self.world.ids, self.numbering)
        self.receipts = ReceiptRequests(self.world.repo, self.numbering, self.world.notification_queue, self.invoicing)
        self.seen: set[str] = set()
        update = {"legal_name": "UAB Sporto klubas", "address": "Gedimino pr. 1\nVilnius", "company_code": "304567890"}
        self.world.api.account.update(MERCHANT, AccountUpdate.model_validate(update | {"vat_id": vat_id} | account))

    def rate(self, percentage: str = "21", inclusive: bool = True) -> str:
        body = {"display_name": "PVM", "percentage": percentage, "country": "LT", "inclusive": inclusive}
        return self.world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(body)).id

    def paid_charge(self, customer: dict[str, Any] | None = None, **plan: Any) -> str:
        body = {
            "plan_id": self.world.plan(**plan),
            "customer": {"reference": "cust-1", "name": "Ona", "email": "ona@example.lt", **(customer or {})},
            "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
            "consent": CONSENT,
        }
        mandate_id = self.world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id
        self.world.tick()
        [charge] = self.world.charges(mandate_id)
        assert charge.status == "succeeded"
        return charge.id

    def pending_requests(self) -> list[Event]:
        events = [e for e in self.world.repo.events(MERCHANT) if e.id not in self.seen and asks_for_a_document(e)]
        self.seen |= {e.id for e in events}
        return sorted(events, key=lambda e: e.created_at)

    def publish(self, events: list[Event] | None = None) -> None:
        """The receipt queue's batch: the requests of the events recorded since the last one."""
        batch = self.receipts.handle([receipt_request(e) for e in (events if events is not None else self.pending_requests())])
        assert batch.retry_from is None
        self.every_document_validates()

    def every_document_validates(self) -> None:
        """Every invoice and credit note produced is EN 16931 (XSD and business rules)."""
        from billing.shapes.einvoice import cii_xml
        from tests.support.einvoice import assert_valid_en16931

        for document in self.invoices():
            assert_valid_en16931(cii_xml(document))

    def publish_requests(self, requests: list[Any]) -> None:
        assert self.receipts.handle(requests).retry_from is None
        self.every_document_validates()

    def invoices(self, **filters: str | None) -> list[Invoice]:
        return Invoices(self.world.repo).page(MERCHANT, PageRequest(100, None), **filters).data

    def invoice(self, charge_id: str) -> Invoice:
        return Invoices(self.world.repo).get(MERCHANT, invoice_id(charge_id))


# ------------------------------------------------------------------------------ invoices
def test_a_succeeded_charge_gets_its_vat_invoice_numbered_as_its_receipt_with_seller_and_buyer_copied() -> None:
    # Given a VAT-registered merchant with a 21 % inclusive rate and a business customer in Lithuania
    books = Books()
    buyer_tax = {"type": "business", "company_name": "UAB Pirkėjas", "vat_id": "LT100000019", "address": {"country": "LT"}}
    charge_id = books.paid_charge({"tax": buyer_tax, "locale": "lt"}, amount=1210, tax_rate_id=books.rate())
    # When the receipts function takes the charge's request
    books.publish()
    # Then the charge's invoice is issued, numbered as its receipt
    charge = books.world.api.charges.get(MERCHANT, charge_id)
    invoice = books.invoice(charge_id)
    assert (invoice.type, invoice.number, invoice.corrects) == ("invoice", charge.receipt_number, None)
    assert charge.receipt_number == "R-1" and render(charge)["invoice_id"] == invoice.id
    # And it carries the charge's amounts and tax breakdown
    assert (invoice.total, invoice.subtotal, invoice.tax_amount) == (1210, 1210, 210)
    assert [(g.category, g.taxable_amount, g.tax_amount) for g in invoice.tax_breakdown] == [("standard", 1000, 210)]
    # And it is a VAT invoice in the customer's language, seller and buyer copied
    assert invoice.title() == "PVM sąskaita faktūra" and invoice.title("en") == "VAT invoice"
    assert invoice.seller == Seller(
        name=invoice.seller.name,
        legal_name="UAB Sporto klubas",
        address="Gedimino pr. 1\nVilnius",
        company_code="304567890",
        vat_id="LT100001919017",
    )
    assert invoice.buyer.tax is not None and invoice.buyer.tax.company_name == "UAB Pirkėjas"
    assert "invoice.issued" in books.world.event_types()
    shown = render(invoice)
    assert shown["object"] == "invoice" and shown["total"] == 1210 and shown["period"] is not None
    # When the merchant and the customer change their details afterwards
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"legal_name": "UAB Kitas", "vat_id": "LT100000019"}))
    books.world.api.mandates.update_customer(
        MERCHANT, charge.mandate_id, CustomerUpdate.model_validate({"name": "Petras", "tax": {"type": "individual"}})
    )
    books.publish(books.pending_requests() + [e for e in books.world.repo.events(MERCHANT) if asks_for_a_document(e)])
    # Then the issued invoice does not change (a redelivery issues nothing new either)
    assert books.invoice(charge_id) == invoice
    assert len(books.invoices()) == 1


def test_a_merchant_without_a_vat_id_issues_plain_invoices() -> None:
    books = Books(vat_id=None)
    charge_id = books.paid_charge()
    books.publish()
    invoice = books.invoice(charge_id)
    assert (invoice.title("en"), invoice.title("lt")) == ("Invoice", "Sąskaita faktūra")
    assert [g.category for g in invoice.tax_breakdown] == ["not_subject"] and invoice.tax_amount == 0


def test_a_business_in_another_member_state_is_invoiced_with_reverse_charge() -> None:
    books = Books()
    charge_id = books.paid_charge({"tax": {"type": "business", "vat_id": "DE136695976"}}, amount=1210, tax_rate_id=books.rate())
    books.publish()
    invoice = books.invoice(charge_id)
    assert invoice.reverse_charge and [(g.category, g.tax_amount) for g in invoice.tax_breakdown] == [("reverse_charge", 0)]
    assert invoice.total == 1000


# --------------------------------------------------------------------------- credit notes
def test_refunds_get_credit_notes_in_their_own_series_correcting_the_invoice_with_negative_amounts() -> None:
    # Given an invoiced charge of 12.10 (10.00 + 2.10 VAT)
    books = Books()
    charge_id = books.paid_charge(amount=1210, tax_rate_id=books.rate())
    books.publish()
    invoice = books.invoice(charge_id)
    # When 6.05 and then the rest are refunded
    first = refund(books.world, charge_id, amount=605)
    books.world.tick()
    books.publish()
    second = refund(books.world, charge_id)
    books.world.tick()
    books.publish()
    # Then each got its credit note, CN-1 and CN-2, naming the invoice, negative, tax split in proportion
    notes = sorted(books.invoices(type="credit_note"), key=lambda n: n.seq)
    assert [(n.number, n.corrects, n.refund_id, n.total) for n in notes] == [
        ("CN-1", invoice.id, first.id, -605),
        ("CN-2", invoice.id, second.id, -605),
    ]
    assert [(n.tax_breakdown[0].taxable_amount, n.tax_breakdown[0].tax_amount) for n in notes] == [(-500, -105), (-500, -105)]
    assert all(n.subtotal == n.total and n.lines[0].amount == -605 for n in notes)
    # And the invoice minus its credit notes is zero per rate
    assert books.invoice(charge_id).uncredited == 0
    assert books.world.event_types().count("credit_note.issued") == 2
    # And the lists filter by type, charge and mandate
    assert {i.type for i in books.invoices(charge_id=charge_id)} == {"invoice", "credit_note"}
    assert len(books.invoices(mandate_id=invoice.mandate_id, type="invoice")) == 1
    # When the requests come again (a redelivery), nothing new is issued
    books.publish([e for e in books.world.repo.events(MERCHANT) if asks_for_a_document(e)])
    assert len(books.invoices()) == 3


def test_a_refund_that_overtakes_its_charge_request_issues_the_invoice_first() -> None:
    books = Books()
    charge_id = books.paid_charge(amount=1000)
    charge_requests = books.pending_requests()  # held back
    refund(books.world, charge_id, amount=300)
    books.world.tick()
    books.publish()  # the refund's request alone
    assert books.invoice(charge_id).number == "R-1"
    [note] = books.invoices(type="credit_note")
    assert note.number == "CN-1" and note.total == -300
    books.publish(charge_requests)  # the charge's, late: nothing new
    assert len(books.invoices()) == 2


def test_the_credit_note_prefix_is_the_accounts() -> None:
    books = Books(credit_note_prefix="KS")
    charge_id = books.paid_charge()
    books.publish()
    refund(books.world, charge_id, amount=1)
    books.world.tick()
    books.publish()
    [note] = books.invoices(type="credit_note")
    assert note.number == "KS-1"


def test_an_invoice_of_another_merchant_or_a_made_up_id_is_not_found() -> None:
    books = Books()
    charge_id = books.paid_charge()
    books.publish()
    with pytest.raises(NotFound):
        Invoices(books.world.repo).get("mch_other", invoice_id(charge_id))
    with pytest.raises(NotFound):
        Invoices(books.world.repo).get(MERCHANT, "inv_nope")


def test_the_invoices_export_rows_are_one_per_document_and_rate_negative_on_credit_notes() -> None:
    books = Books()
    charge_id = books.paid_charge(
        {"tax": {"type": "business", "company_name": "UAB Pirkėjas", "company_code": "123", "address": {"country": "LT"}}},
        amount=1210,
        tax_rate_id=books.rate(),
    )
    books.publish()
    books.world.clock.advance(seconds=60)
    refund(books.world, charge_id, amount=121)
    books.world.tick()
    books.publish()
    now = books.world.clock.now()
    rows = [
        r
        for page in Invoices(books.world.repo).issued_between(MERCHANT, now - timedelta(days=40), now + timedelta(days=1))
        for r in page
    ]
    assert [(r.number, r.type, r.corrects, r.taxable_amount, r.tax_amount, r.total) for r in rows] == [
        ("R-1", "invoice", None, 1000, 210, 1210),
        ("CN-1", "credit_note", "R-1", -100, -21, -121),
    ]
    assert rows[0].customer_name == "UAB Pirkėjas" and rows[0].company_code == "123" and rows[0].country == "LT"
    assert str(rows[0].percentage) == "21"


# ------------------------------------------------------------- the split, against an oracle
def exact_shares(amount: int, weights: list[int]) -> list[Fraction]:
    total = sum(weights)
    return [Fraction(amount * w, total) for w in weights]


def an_invoice(groups: list[tuple[str, bool, int, int]]) -> Invoice:
    breakdown = [
        TaxLine(tax_rate_id=f"txr_{i}", percentage=p, inclusive=inc, category="standard", taxable_amount=net, tax_amount=tax)
        for i, (p, inc, net, tax) in enumerate(groups)
    ]
    total = sum(net + tax for _, _, net, tax in groups)
    return Invoice(
        id="inv_1",
        merchant_id=MERCHANT,
        created_at=T0,
        updated_at=T0,
        type="invoice",
        number="R-1",
        seq=1,
        charge_id="chg_1",
        mandate_id="mdt_1",
        issued_at=T0,
        currency="EUR",
        subtotal=total,
        tax_amount=sum(tax for *_, tax in groups),
        total=total,
        tax_breakdown=breakdown,
        lines=[],
        seller=Seller(name="Klubas", vat_id="LT100001919017"),
        buyer=Buyer(),
        credited=[0] * len(groups),
        credited_tax=[0] * len(groups),
    )


group = st.tuples(
    st.sampled_from(["21", "9", "5", "0", "17.5", "0.0001"]),
    st.booleans(),
    st.integers(0, 100_000),
    st.integers(0, 100_000),
).map(lambda g: (g[0], g[1], g[2], min(g[3], g[2]) if g[0] != "0" else 0))


@settings(max_examples=400, deadline=None)
@given(
    groups=st.lists(group, min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=6),
    full=st.booleans(),
)
def test_partial_credit_notes_split_to_the_cent_and_never_take_a_rate_below_zero(
    groups: list[tuple[str, bool, int, int]], cuts: list[int], full: bool
) -> None:
    invoice = an_invoice(groups)
    if invoice.total == 0:
        return
    counter = CreditNoteCounter.new(MERCHANT, T0)
    amounts = []
    left = invoice.total
    for cut in cuts:
        amount = 1 + cut % left if left else 0
        if amount == 0:
            break
        amounts.append(amount)
        left -= amount
    if full and left:
        amounts.append(left)
    taken_collected = [0] * len(groups)
    taken_tax = [0] * len(groups)
    for n, amount in enumerate(amounts):
        remaining = [net + tax - c for (_, _, net, tax), c in zip(groups, taken_collected)]
        exact = exact_shares(amount, remaining)
        note = issue_credit_note(invoice, counter, "CN", amount, "refund", f"rfd_{n}", T0)
        # The oracle: each group's share is its exact proportion of what it still held, rounded
        # down or up, the shares summing to the refund; taxable + tax = share (its tax by the
        # rate: test_credit_tax.py, these groups' tax being any).
        by_rate = {g.tax_rate_id: g for g in note.tax_breakdown}
        assert note.total == -amount and sum(g.taxable_amount + g.tax_amount for g in note.tax_breakdown) == -amount
        for i, ((_, _, net, tax), share) in enumerate(zip(groups, exact)):
            g = by_rate.get(f"txr_{i}")
            collected = -(g.taxable_amount + g.tax_amount) if g else 0
            credited_tax = -g.tax_amount if g else 0
            assert share - 1 < collected < share + 1
            assert collected >= 0 and credited_tax >= 0 and collected - credited_tax >= 0
            taken_collected[i] += collected
            taken_tax[i] += credited_tax
            # Never below zero per rate: neither the amount, nor the tax, nor the taxable amount
            assert taken_collected[i] <= net + tax and taken_tax[i] <= tax and taken_collected[i] - taken_tax[i] <= net
        if n == 0:  # the first one: in the invoice's own proportions
            original = exact_shares(amount, [net + tax for _, _, net, tax in groups])
            for i, share in enumerate(original):
                g = by_rate.get(f"txr_{i}")
                assert share - 1 < (-(g.taxable_amount + g.tax_amount) if g else 0) < share + 1
    assert [n + 1 for n in range(len(amounts))] == list(range(1, counter.next))
    if full:  # everything credited: exactly the invoice, per rate
        assert taken_collected == [net + tax for _, _, net, tax in groups]
        assert taken_tax == [tax for *_, tax in groups]
    assert invoice.uncredited == invoice.total - sum(amounts)


def test_more_than_the_invoice_holds_is_never_credited() -> None:
    invoice = an_invoice([("21", True, 1000, 210)])
    with pytest.raises(InvalidState):
        split_credit(invoice, 1211)


@given(amount=st.integers(0, 10**6), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=5))
def test_largest_remainders_sum_exactly_and_stay_within_a_unit_of_the_proportion(amount: int, weights: list[int]) -> None:
    if sum(weights) < amount:
        return
    shares = largest_remainders(amount, weights)
    assert sum(shares) == (amount if sum(weights) else 0)
    for share, exact, weight in zip(shares, exact_shares(amount, weights) if sum(weights) else [0] * len(weights), weights):
        assert exact - 1 < share < exact + 1 and 0 <= share <= weight


def test_a_lost_dispute_and_a_reversal_get_credit_notes_for_what_the_invoice_still_holds() -> None:
    from billing.domain.disputes import Dispute
    from billing.service.messages import ReceiptRequest
    from billing.service.ports import Changes

    # Given an invoiced charge of 10.00, 3.00 of it refunded (CN-1)
    books = Books()
    charge_id = books.paid_charge(amount=1000)
    books.publish()
    refund(books.world, charge_id, amount=300)
    books.world.tick()
    books.publish()
    charge = books.world.api.charges.get(MERCHANT, charge_id)
    now = books.world.clock.now()
    # When a dispute of 2.00 is lost, and one of 1.00 is won
    lost, won = (
        Dispute(
            id=f"dsp_{status}",
            merchant_id=MERCHANT,
            created_at=now,
            updated_at=now,
            charge_id=charge_id,
            mandate_id=charge.mandate_id,
            amount=amount,
            currency="EUR",
            reason="general",
            status=status,
            gateway_reference=f"dp_{status}",
        )
        for status, amount in (("lost", 200), ("won", 100))
    )
    books.world.repo.commit(Changes(put=[lost, won]))
    requests = [
        ReceiptRequest(merchant_id=MERCHANT, charge_id=charge_id, correction="dispute", source_id=d.id) for d in (lost, won)
    ]
    books.publish_requests(requests)
    # And then the payment is reversed (the whole of it, twice reported)
    reversal = ReceiptRequest(merchant_id=MERCHANT, charge_id=charge_id, correction="reversal", source_id=charge_id)
    books.publish_requests([reversal, reversal])
    # Then the lost dispute got CN-2 of 2.00, the won one nothing, the reversal CN-3 of what was left (5.00)
    notes = sorted(books.invoices(type="credit_note"), key=lambda n: n.seq)
    assert [(n.number, n.reason, n.dispute_id, n.total) for n in notes] == [
        ("CN-1", "refund", None, -300),
        ("CN-2", "dispute", "dsp_lost", -200),
        ("CN-3", "reversal", None, -500),
    ]
    assert books.invoice(charge_id).uncredited == 0


def test_the_publisher_asks_for_documents_for_charges_refunds_reversals_and_lost_disputes_only() -> None:
    def event(type_: str, obj: dict[str, Any]) -> Event:
        return Event(id="evt_1", merchant_id=MERCHANT, type=type_, created_at=T0, data={"object": obj})

    dispute = {"id": "dsp_1", "charge_id": "chg_1"}
    assert asks_for_a_document(event("dispute.closed", dispute | {"status": "lost"}))
    assert not asks_for_a_document(event("dispute.closed", dispute | {"status": "won"}))
    assert not asks_for_a_document(event("refund.created", {"id": "rfd_1", "charge_id": "chg_1"}))
    asked = receipt_request(event("refund.succeeded", {"id": "rfd_1", "charge_id": "chg_1"}))
    assert (asked.charge_id, asked.correction, asked.source_id, asked.key) == ("chg_1", "refund", "rfd_1", "refund-rfd_1")
    reversed_ = receipt_request(event("charge.reversed", {"id": "chg_1", "mandate_id": "mdt_1"}))
    assert (reversed_.charge_id, reversed_.correction, reversed_.source_id) == ("chg_1", "reversal", "chg_1")
    assert receipt_request(event("charge.succeeded", {"id": "chg_1", "mandate_id": "mdt_1"})).key == "chg_1"


# ------------------------------------------------------------------------ EN 16931 documents
def test_every_document_of_a_refunded_vat_invoice_validates_as_en16931_and_its_totals_match() -> None:
    from billing.shapes.einvoice import cii_xml
    from tests.support.einvoice import assert_valid_en16931

    books = Books()
    buyer_tax = {"type": "business", "company_name": "UAB Pirkėjas", "vat_id": "LT100000019", "address": {"country": "LT"}}
    charge_id = books.paid_charge({"tax": buyer_tax}, amount=1210, tax_rate_id=books.rate())
    books.publish()
    refund(books.world, charge_id, amount=333)
    books.world.tick()
    books.publish()
    for document in books.invoices():
        said = assert_valid_en16931(cii_xml(document))
        sign = -1 if document.type == "credit_note" else 1
        assert said["type"] == ("381" if sign < 0 else "380") and said["number"] == document.number
        assert said["grand_total"] * 100 == sign * document.total and said["tax"] * 100 == sign * document.tax_amount


def test_the_business_rules_check_is_not_blind() -> None:
    """The same Schematron refuses a document whose VAT breakdown does not add up: the checks
    above would catch a bug."""
    from facturx.generate_xml import generate_cii_xml

    from billing.shapes.einvoice import cii_data
    from tests.support.einvoice import business_rule_failures

    invoice = an_invoice([("21", True, 1000, 210)])
    data = cii_data(invoice)
    data["BG-23"][0]["BT-117"] = "2.50"
    failures = business_rule_failures(generate_cii_xml(data, level="en16931", check_xsd=False, check_schematron=False))
    assert any(f.startswith("BR-CO-14") or f.startswith("BR-S-09") for f in failures), failures


rates = st.lists(st.tuples(st.sampled_from(["21", "9", "5", "0", "17.5", "100"]), st.booleans()), min_size=1, max_size=3)


@settings(max_examples=int(os.environ.get("EN16931_EXAMPLES", "100")), deadline=None)
@given(
    pool=rates,
    lines=st.lists(st.tuples(st.integers(-500, 50_000), st.integers(0, 3)), min_size=1, max_size=5),
    currency=st.sampled_from(["EUR", "JPY", "ISK"]),
    reversed_=st.booleans(),
    refunds=st.lists(st.integers(1, 10**6), max_size=3),
)
# A yen credit note split by proportion drifted more than one yen from its rate (BR-CO-17, BR-S-09)
@example(pool=[("5", False)], lines=[(11733, 0), (25305, 1)], currency="JPY", reversed_=False, refunds=[16, 189351, 101941])
def test_any_charge_and_its_credit_notes_validate_as_en16931_with_matching_totals(
    pool: list[tuple[str, bool]], lines: list[tuple[int, int]], currency: str, reversed_: bool, refunds: list[int]
) -> None:
    """Random lines (a negative one: carried credit), rates inclusive and exclusive (several on one
    charge, none: not subject to VAT), currencies of 0 and 2 decimals, reverse charge: the invoice
    and each partial credit note pass the XSD and the EN 16931 business rules."""
    from billing.domain.account import Account
    from billing.domain.charge import Charge, Line
    from billing.domain.invoices import issue_invoice
    from billing.domain.model import Customer
    from billing.domain.tax import CustomerTax, RateRef, compute
    from billing.shapes.einvoice import cii_xml
    from tests.support.einvoice import assert_valid_en16931

    # Known limit (docs/invoices.md): in a currency without decimals, the contract's inclusive
    # rounding may put a 100 % rate, or two rates of one percentage merged into one VAT breakdown
    # entry, one unit off BR-S-09's tolerance (tax within less than one unit of taxable x rate);
    # so can the last of many small partial credit notes there (test_credit_tax.py), rare in three.
    used = [p for p, _ in pool]
    assume(CURRENCY_EXPONENT[currency] > 0 or ("100" not in used and len(set(used)) == len(used)))
    refs = [RateRef(id=f"txr_{i}", percentage=p, inclusive=inc, country="LT") for i, (p, inc) in enumerate(pool)]
    chosen = [(amount, refs[k] if k < len(refs) else None) for amount, k in lines]
    tax = compute(chosen, currency, reversed_ and bool(refs))
    # Something collected (the engine never invoices less), no rate group credited below zero
    assume(tax.amount > 0 and all(g.taxable_amount >= 0 for g in tax.groups))
    charge = Charge(
        id="chg_1",
        merchant_id=MERCHANT,
        created_at=T0,
        updated_at=T0,
        mandate_id="mdt_1",
        plan_id="pln_1",
        cycle=1,
        amount=tax.amount,
        currency=currency,
        due_at=T0,
        period_end=T0 + timedelta(days=30),
        status="succeeded",
        subtotal=tax.subtotal,
        tax_amount=tax.tax_amount,
        lines=[
            Line(type="plan", description=f"Line {i}", amount=a, tax_rate_id=r.id if r else None)
            for i, (a, r) in enumerate(chosen)
        ],
        tax_breakdown=[
            TaxLine(
                tax_rate_id=g.rate.id if g.rate else None,
                percentage=g.percentage,
                inclusive=g.rate.inclusive if g.rate else True,
                category=g.category,
                taxable_amount=g.taxable_amount,
                tax_amount=g.tax_amount,
            )
            for g in tax.groups
        ],
        receipt_number="R-1",
        receipt_seq=1,
    )
    account = Account.new(MERCHANT, "Klubas", T0).model_copy(update={"vat_id": "LT100000019", "legal_name": "UAB Klubas"})
    buyer = Customer(reference="c", name="Ona", tax=CustomerTax(type="business", vat_id="DE136695976") if reversed_ else None)
    invoice = issue_invoice(charge, buyer, account, T0)
    from hypothesis import event

    event(f"categories {sorted({g.category for g in invoice.tax_breakdown})}")
    said = assert_valid_en16931(cii_xml(invoice))
    exponent = Decimal(10) ** CURRENCY_EXPONENT[currency]
    assert said["grand_total"] * exponent == invoice.total and said["tax"] * exponent == invoice.tax_amount
    counter = CreditNoteCounter.new(MERCHANT, T0)
    for n, cut in enumerate(refunds):
        if invoice.uncredited <= 0:
            break
        note = issue_credit_note(invoice, counter, "CN", 1 + cut % invoice.uncredited, "refund", f"rfd_{n}", T0)
        said = assert_valid_en16931(cii_xml(note))
        assert -said["grand_total"] * exponent == note.total and -said["tax"] * exponent == note.tax_amount


@pytest.mark.parametrize("locale", ["en", "lt"])
def test_a_refund_sends_the_customer_its_credit_note_once_and_the_receipt_links_the_invoice(locale: str) -> None:
    from billing.emails.render import JinjaEmails
    from billing.service.links import ApprovalLinks
    from billing.service.notifications import Notifier
    from tests.fakes import FakeMailer

    # Given an invoiced charge of a customer with an e-mail address, refunded 5.00
    books = Books()
    charge_id = books.paid_charge({"locale": locale}, amount=1210, tax_rate_id=books.rate())
    books.publish()
    refund(books.world, charge_id, amount=500)
    books.world.tick()
    books.publish()
    books.publish([e for e in books.world.repo.events(MERCHANT) if asks_for_a_document(e)])  # redelivered
    # When the notifier takes what the receipts function asked for
    mailer = FakeMailer()
    links = ApprovalLinks(b"k" * 32, "https://pay.test")
    notifier = Notifier(books.world.repo, books.world.clock, mailer, links, JinjaEmails())
    for message in books.world.notification_queue.take():
        if message.kind in ("receipt", "credit_note"):
            notifier.notify(message)
    # Then the customer got the receipt (its link: the invoice's) and one credit note e-mail, in its language
    [note] = books.invoices(type="credit_note")
    invoice = books.invoice(charge_id)
    subjects = [m["subject"] for m in mailer.sent]
    number = {"en": "credit note cn-1", "lt": "kreditinė pvm sąskaita faktūra cn-1"}[locale]
    assert [s for s in subjects if number in s.lower()] == [s for s in subjects if "CN-1" in s] and len(
        [s for s in subjects if "CN-1" in s]
    ) == 1
    [credit_mail] = [m for m in mailer.sent if "CN-1" in m["subject"]]
    assert "R-1" in credit_mail["text"] and links.invoice_url(note) in credit_mail["html"].replace("&amp;", "&")
    [receipt_mail] = [m for m in mailer.sent if "R-1" in m["subject"]]
    assert links.invoice_url(invoice) in receipt_mail["html"].replace("&amp;", "&")
