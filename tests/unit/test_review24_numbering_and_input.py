"""Adversarial review of issue 24 (the merchant's books), numbering and input: document numbers are
unique per merchant whatever the prefixes were set to, and what the contract bounds is refused with a
422. Each test fails on the code as it landed."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from billing.api.requests import AccountUpdate, ExportCreate
from billing.domain.errors import ValidationFailed
from billing.service.event_publishing import receipt_request
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, refund


def handle(books: Books) -> None:
    assert books.receipts.handle([receipt_request(e) for e in books.pending_requests()]).retry_from is None


def duplicates(books: Books) -> list[str]:
    return [number for number, n in Counter(i.number for i in books.invoices()).items() if n > 1]


def test_an_invoice_and_a_credit_note_never_share_a_number_when_both_prefixes_are_the_same() -> None:
    # Given a merchant that sets its invoice prefix to its credit note prefix (both CN: the API takes it)
    try:
        books = Books(invoice_prefix="CN")
    except (ValidationError, ValidationFailed):
        return  # refused with a 422
    # When a charge is invoiced and partly refunded
    charge_id = books.paid_charge(amount=1000)
    handle(books)
    refund(books.world, charge_id, amount=100)
    books.world.tick()
    handle(books)
    # Then the two documents have different numbers (the contract: no duplicates, whatever happens)
    assert duplicates(books) == []


def test_a_credit_note_prefix_set_to_a_former_invoice_prefix_never_repeats_an_issued_number() -> None:
    # Given invoices issued, then the merchant moves its invoices to INV and its credit notes to R
    books = Books()
    first = books.paid_charge(amount=1000)
    books.paid_charge(amount=1000)
    handle(books)
    try:
        books.world.api.account.update(
            MERCHANT, AccountUpdate.model_validate({"invoice_prefix": "INV", "credit_note_prefix": "R"})
        )
    except (ValidationError, ValidationFailed):
        return  # refused: R is the series of issued invoices
    # When the first charge is refunded
    refund(books.world, first, amount=100)
    books.world.tick()
    handle(books)
    # Then its credit note does not take the number of an issued invoice
    assert duplicates(books) == []


def test_invoice_prefix_and_its_alias_with_different_values_are_refused() -> None:
    # When one PATCH sends invoice_prefix "X" and its alias receipt_prefix "Y", Then which one applies
    # is not a silent guess: a 422
    books = Books()
    with pytest.raises((ValidationError, ValidationFailed)):
        books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"invoice_prefix": "X", "receipt_prefix": "Y"}))


@pytest.mark.parametrize("month", ["20\u0662\u0666-11", "21\u0660\u0660-01", "20\uff12\uff16-11"])
def test_an_export_month_in_other_digits_than_ascii_is_refused(month: str) -> None:
    # When POST /v1/exports names a month with Arabic-Indic digits (pydantic's Rust regex \d is Unicode)
    # Then it is a 422: the contract's month is YYYY-MM (the file name, its S3 Content-Disposition
    # header and the export's `month` would otherwise carry non-ASCII digits)
    with pytest.raises(ValidationError):
        ExportCreate.model_validate({"kind": "charges", "month": month})
