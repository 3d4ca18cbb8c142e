"""Exports on fakes: the CSV files' columns and cells (escaping, formula neutralising, decimal
amounts per currency exponent), and the exporter (month boundaries, streaming, redelivery,
failure) with the in-memory repository and file store."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from billing.domain.charge import Attempt, Charge
from billing.domain.errors import InvalidState
from billing.domain.exports import (
    CHARGE_COLUMNS,
    INVOICE_COLUMNS,
    MANDATE_COLUMNS,
    Export,
    InvoiceRow,
    decimal_amount,
    invoice_row,
    month_bounds,
    text,
)
from billing.domain.model import Customer, Event, Mandate, PaymentMethod, PlanTerms
from billing.service import exports as exports_module
from billing.service.event_recorder import EventRecorder
from billing.service.exports import FAILED_STORAGE, Exporter, Exports, csv_bytes
from billing.service.messages import ExportMessage
from billing.service.ports import Changes, NoInvoices, PageRequest
from tests.fakes import FakeClock, FakeExportFiles, FakeExportQueue, InMemoryRepository, SequentialIds

MERCHANT, OTHER = "mch_A", "mch_B"
NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, tzinfo=timezone.utc)


def read(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())  # UTF-8 with a byte-order mark: spreadsheets read it as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def mandate(mandate_id: str, created: datetime, merchant: str = MERCHANT, reference: str = "cust-1", **customer: str) -> Mandate:
    return Mandate(
        id=mandate_id,
        merchant_id=merchant,
        created_at=created,
        updated_at=created,
        plan_id="pln_1",
        terms=PlanTerms(amount=1999, currency="EUR", interval="month"),
        customer=Customer(reference=reference, **customer),
        payment_method=PaymentMethod(gateway="simulated", token="pm_sim_ok"),
        status="active",
    )


def charge(
    charge_id: str,
    created: datetime,
    merchant: str = MERCHANT,
    amount: int = 1999,
    currency: str = "EUR",
    mandate_id: str = "mdt_1",
) -> Charge:
    return Charge(
        id=charge_id,
        merchant_id=merchant,
        created_at=created,
        updated_at=created,
        mandate_id=mandate_id,
        plan_id="pln_1",
        cycle=1,
        amount=amount,
        currency=currency,  # type: ignore[arg-type]
        due_at=created,
        status="succeeded",
        attempts=[Attempt(number=1, at=created, outcome="succeeded", gateway_reference="sim_ch_1")],
        paid_with=PaymentMethod(gateway="simulated", token="pm_sim_ok"),
    )


class Setup:
    def __init__(self) -> None:
        self.repo = InMemoryRepository()
        self.clock = FakeClock(datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc))
        self.ids = SequentialIds()
        self.queue = FakeExportQueue()
        self.files = FakeExportFiles()
        self.api = Exports(self.repo, self.clock, self.ids, self.queue, self.files)
        self.exporter = Exporter(self.repo, self.clock, EventRecorder(self.ids), self.files, NoInvoices(), page_size=7)

    def export(self, kind: str = "charges", month: str = "2026-11") -> Export:
        class Request:
            pass

        request = Request()
        request.kind, request.month, request.format = kind, month, "csv"  # type: ignore[attr-defined]
        return self.api.create(MERCHANT, request)  # type: ignore[arg-type]

    def build(self, export: Export, last: bool = False) -> Export:
        built = self.exporter.build(ExportMessage(merchant_id=export.merchant_id, export_id=export.id), last_delivery=last)
        assert built.export is not None
        return built.export

    def events(self) -> list[Event]:
        return [o for o in self.repo.items.values() if isinstance(o, Event)]


# ----------------------------------------------------------------------------- cells


@pytest.mark.parametrize(
    ("amount", "exponent", "expected"),
    [(1999, 2, "19.99"), (5, 2, "0.05"), (-1999, 2, "-19.99"), (500, 0, "500"), (0, 0, "0"), (1250, 3, "1.250"), (7, 3, "0.007")],
)
def test_amounts_are_written_in_the_currency_exponent(amount: int, exponent: int, expected: str) -> None:
    assert decimal_amount(amount, exponent) == expected


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://evil")'])
def test_text_cells_that_a_spreadsheet_would_run_are_neutralised(value: str) -> None:
    assert text(value) == "'" + value


def test_ordinary_text_is_kept() -> None:
    assert text("Ona Petraitytė, UAB") == "Ona Petraitytė, UAB"
    assert text(None) == ""


def test_a_credit_notes_negative_amounts_stay_numbers() -> None:
    row = InvoiceRow(
        number="CN-1", type="credit_note", issued_at=NOV, corrects="=R-1", customer_name="-Ona", company_code=None,
        vat_id="LT100001", country="LT", currency="EUR", taxable_amount=-1000, percentage=Decimal("21"), tax_amount=-210,
        total=-1210, charge_id="chg_1",
    )  # fmt: skip
    cells = dict(zip(INVOICE_COLUMNS, invoice_row(row), strict=True))
    assert (cells["taxable_amount"], cells["tax_amount"], cells["total"]) == ("-10.00", "-2.10", "-12.10")
    assert (cells["corrects"], cells["customer_name"], cells["percentage"]) == ("'=R-1", "'-Ona", "21")
    assert cells["issued_date"] == "2026-11-01"


def test_cells_with_commas_quotes_and_newlines_read_back_exactly() -> None:
    awkward = 'Smith, "Jr."\nsecond line'
    lines = [MANDATE_COLUMNS, exports_module.mandate_row(mandate("mdt_1", NOV, name=awkward, reference="ref;1"))]
    data, rows = csv_bytes(lines)
    header, row = read(data)
    cells = dict(zip(header, row, strict=True))
    assert rows == 1 and header == list(MANDATE_COLUMNS)
    assert cells["customer_name"] == awkward and cells["customer_reference"] == "ref;1"
    assert cells["amount"] == "1999" and cells["amount_decimal"] == "19.99" and cells["currency"] == "EUR"
    assert cells["created_at"] == "2026-11-01T00:00:00Z"
    assert cells["payment_method_last4"] == PaymentMethod(gateway="simulated", token="pm_sim_ok").last4
    assert "pm_sim_ok" not in data.decode()  # never a payment method's token


def test_a_month_is_its_utc_calendar_month() -> None:
    assert month_bounds("2026-12") == (DEC, datetime(2027, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(InvalidState):
        month_bounds("2026-13")


# ----------------------------------------------------------------------------- the exporter


def test_a_charges_export_holds_the_months_charges_oldest_first_and_nothing_else() -> None:
    # Given charges at the month's first instant, inside it, at the next month's first instant,
    # the month before, and another merchant's
    s = Setup()
    s.repo.commit(Changes(put=[mandate("mdt_1", NOV - timedelta(days=40), reference="=cmd|' /C calc'!A0")]))
    inside = [charge(f"chg_{i:03d}", NOV + timedelta(hours=i)) for i in range(20)]
    jpy = charge("chg_jpy", NOV + timedelta(days=3), amount=500, currency="JPY")
    outside = [
        charge("chg_dec", DEC),
        charge("chg_oct", NOV - timedelta(microseconds=1)),
        charge("chg_other", NOV, merchant=OTHER),
    ]
    s.repo.commit(Changes(put=[*inside, jpy, *outside]))
    # When a November export is asked for and built
    export = s.export()
    assert export.status == "pending" and [m.export_id for m in s.queue.sent] == [export.id]
    built = s.build(export)
    # Then it is ready with the month's 21 charges, oldest first, each with its mandate's customer reference
    assert built.status == "ready" and built.rows == 21 and built.object_key == f"exports/{MERCHANT}/{export.id}.csv"
    header, *rows = read(s.files.files[built.object_key])
    assert header == list(CHARGE_COLUMNS)
    ids = [r[0] for r in rows]
    assert ids == sorted(ids, key=lambda i: next(c.created_at for c in [*inside, jpy] if c.id == i))
    assert set(ids) == {c.id for c in [*inside, jpy]}
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_id["chg_jpy"]["amount_decimal"] == "500" and by_id["chg_000"]["amount_decimal"] == "19.99"
    assert by_id["chg_000"]["customer_reference"] == "'=cmd|' /C calc'!A0"
    assert by_id["chg_000"]["paid_at"] == "2026-11-01T00:00:00Z" and by_id["chg_000"]["payment_method_type"] == "card"
    assert s.files.headers[built.object_key] == ("text/csv; charset=utf-8", "charges-2026-11.csv")
    # And export.ready is recorded with the export (its link is not in the event)
    [event] = s.events()
    assert event.type == "export.ready" and event.data["object"]["id"] == export.id
    assert event.data["object"]["status"] == "ready" and event.data["object"]["url"] is None
    # And a read issues a link to the file
    assert s.api.link(s.api.get(MERCHANT, export.id)) == f"https://files.example/{built.object_key}?expires_in=3600"


def test_a_redelivered_message_for_a_ready_export_does_nothing() -> None:
    s = Setup()
    s.repo.commit(Changes(put=[charge("chg_1", NOV)]))
    export = s.build(s.export())
    written, commits = dict(s.files.files), len(s.repo.commits)
    again = s.exporter.build(ExportMessage(merchant_id=MERCHANT, export_id=export.id))
    assert not again.changed and again.export is not None and again.export.status == "ready"
    assert s.files.files == written and len(s.repo.commits) == commits and len(s.events()) == 1


def test_a_store_that_refuses_leaves_the_export_pending_until_the_last_delivery_marks_it_failed() -> None:
    s = Setup()
    s.repo.commit(Changes(put=[charge("chg_1", NOV)]))
    export = s.export()
    s.files.refusals = 2
    # A refused write raises: the message comes back
    with pytest.raises(ConnectionError):
        s.build(export)
    assert s.api.get(MERCHANT, export.id).status == "pending"
    # Refused again on the last delivery: failed with its reason, no event, no link
    failed = s.build(export, last=True)
    assert failed.status == "failed" and failed.failure_reason == FAILED_STORAGE
    assert s.events() == [] and s.api.link(failed) is None and s.files.files == {}


def test_a_rebuilt_export_writes_the_same_key() -> None:
    s = Setup()
    s.repo.commit(Changes(put=[charge("chg_1", NOV)]))
    export = s.export()
    s.files.refusals = 1
    with pytest.raises(ConnectionError):
        s.build(export)
    assert s.build(export).object_key == export.key and list(s.files.files) == [export.key]


def test_a_mandates_export_holds_the_mandates_created_in_the_month() -> None:
    s = Setup()
    s.repo.commit(
        Changes(put=[mandate("mdt_1", NOV + timedelta(days=1)), mandate("mdt_2", DEC), mandate("mdt_3", NOV, merchant=OTHER)])
    )
    built = s.build(s.export("mandates"))
    header, *rows = read(s.files.files[built.key])
    assert header == list(MANDATE_COLUMNS) and [r[0] for r in rows] == ["mdt_1"] and built.rows == 1


def test_an_invoices_export_without_invoices_is_its_header() -> None:
    s = Setup()
    built = s.build(s.export("invoices"))
    assert built.status == "ready" and built.rows == 0
    assert read(s.files.files[built.key]) == [list(INVOICE_COLUMNS)]


def test_an_invoices_export_writes_what_the_invoice_port_yields() -> None:
    s = Setup()

    class TwoRates:
        def issued_between(self, merchant_id: str, start: datetime, end: datetime):  # type: ignore[no-untyped-def]
            assert (merchant_id, start, end) == (MERCHANT, NOV, DEC)
            common = dict(number="R-1", type="invoice", issued_at=NOV, corrects=None, customer_name="UAB Ona",
                          company_code="300000000", vat_id="LT100000000017", country="LT", currency="EUR", charge_id="chg_1")  # fmt: skip
            yield [
                InvoiceRow(**common, taxable_amount=1000, percentage=Decimal("21"), tax_amount=210, total=1210),  # type: ignore[arg-type]
                InvoiceRow(**common, taxable_amount=1000, percentage=Decimal("9"), tax_amount=90, total=1090),  # type: ignore[arg-type]
            ]

    s.exporter = Exporter(s.repo, s.clock, EventRecorder(s.ids), s.files, TwoRates())
    built = s.build(s.export("invoices"))
    header, *rows = read(s.files.files[built.key])
    assert [dict(zip(header, r, strict=True))["percentage"] for r in rows] == ["21", "9"] and built.rows == 2


def test_a_large_month_is_written_in_pieces_as_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given more charges than fit one piece
    monkeypatch.setattr(exports_module, "CHUNK_BYTES", 4096)
    s = Setup()
    s.repo.commit(Changes(put=[charge(f"chg_{i:04d}", NOV + timedelta(minutes=i)) for i in range(300)]))
    built = s.build(s.export())
    # Then the store received many pieces, none of them the whole file
    data = s.files.files[built.key]
    assert built.rows == 300 and len(s.files.chunk_sizes) > 10 and max(s.files.chunk_sizes) < len(data) / 5


def test_an_export_whose_message_could_not_be_queued_raises_and_is_failed_not_left_pending() -> None:
    s = Setup()
    s.queue.refuse = True
    with pytest.raises(ConnectionError):
        s.export()
    [stored] = s.repo.page(Export, MERCHANT, PageRequest()).data
    assert stored.status == "failed" and stored.failure_reason == "queue_unavailable"


def test_a_ready_export_has_no_link_once_its_file_is_about_to_expire() -> None:
    s = Setup()
    export = s.build(s.export())
    s.clock.advance(days=5, hours=23)
    assert s.api.link(s.api.get(MERCHANT, export.id)) is not None
    s.clock.advance(hours=1)
    assert s.api.link(s.api.get(MERCHANT, export.id)) is None
