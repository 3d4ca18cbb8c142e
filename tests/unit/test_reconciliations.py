"""The daily reconciliation on fakes (service/reconciliations.py): the books of a day read from
its events and objects, against the gateway's ledger; stored once per (merchant, day), an event
only when the result is new; the fan-out over merchants."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from billing.domain.errors import NotFound
from billing.domain.reconciliation import GatewayEntry, Reconciliation
from billing.service.messages import ReconcileRequest
from billing.service.ports import PageRequest
from billing.service.reconciliations import ReconciliationLog, ReconciliationPlanner, Reconciliations
from tests.fakes import FakeGatewayLedger
from tests.world import MERCHANT, World, refund

DAY = date(2026, 11, 25)  # the fake clock's day


def a_day_of_business() -> tuple[World, FakeGatewayLedger, Reconciliations, str]:
    """Two mandates charged (EUR and GBP) and one refund, all on DAY; the clock then moves to
    01:00 the next day (when the job runs)."""
    world = World()
    eur = world.mandate(world.plan())
    gbp = world.mandate(world.plan(amount=500, currency="GBP"))
    world.tick()
    charge = world.charges(eur)[0]
    assert charge.status == "succeeded" and world.charges(gbp)[0].status == "succeeded"
    world.clock.advance(hours=2)
    refund(world, charge.id, amount=300)
    world.tick()
    world.clock.current = datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc)
    ledger = FakeGatewayLedger(world.gateway)
    return world, ledger, Reconciliations(world.repo, [ledger], world.clock, world.ids), charge.id


def completed(world: World) -> int:
    return world.event_types().count("reconciliation.completed")


def test_a_normal_day_is_matched_and_stored_once() -> None:
    # Given a day of charges in two currencies and a refund, on which the gateway agrees
    world, _, reconciliations, _ = a_day_of_business()

    # When the day is reconciled twice
    first = reconciliations.run(MERCHANT, DAY)
    again = reconciliations.run(MERCHANT, DAY)

    # Then the report is matched with both currencies' totals, stored once, with one event
    report = first.reconciliation
    assert report.status == "matched" and report.differences == []
    totals = {t.currency: t for t in report.totals}
    assert (totals["EUR"].recorded.charges, totals["EUR"].recorded.refunds, totals["EUR"].recorded.net) == (1999, 300, 1699)
    assert totals["GBP"].gateway.charges == 500
    assert first.written and not again.written and completed(world) == 1
    log = ReconciliationLog(world.repo)
    assert log.get(MERCHANT, DAY) == again.reconciliation
    assert log.page(MERCHANT, PageRequest()).data[0].id == report.id
    assert log.page(MERCHANT, PageRequest(), status="mismatched").data == []


def test_a_payment_never_asked_for_and_a_lost_refund_are_listed() -> None:
    # Given the gateway took a payment nobody here asked for, and lost the refund
    world, ledger, reconciliations, charge_id = a_day_of_business()
    ledger.extra.append(
        GatewayEntry("charge", "succeeded", "EUR", 4200, datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc), "sim_unrequested")
    )
    ledger.lost.add(next(r.gateway_reference for _, r, _ in world.gateway.refunds))

    # When the day is reconciled
    report = reconciliations.run(MERCHANT, DAY).reconciliation

    # Then both are listed and the day is mismatched
    assert report.status == "mismatched"
    found = {(d.kind, d.charge_id, d.refund_id is not None, d.recorded_amount, d.gateway_amount) for d in report.differences}
    assert found == {("missing_here", None, False, None, 4200), ("missing_at_gateway", charge_id, True, 300, None)}


def test_an_amount_that_differs_and_a_rerun_after_the_fix() -> None:
    # Given the gateway reports a charge for a different amount
    world, ledger, reconciliations, charge_id = a_day_of_business()
    reference = next(r.gateway_reference for q, r, _ in world.gateway.payments if q.charge_id == charge_id)
    assert reference is not None
    ledger.amounts[reference] = 1990

    # When the day is reconciled, then again once the gateway agrees
    first = reconciliations.run(MERCHANT, DAY).reconciliation
    ledger.amounts.clear()
    second = reconciliations.run(MERCHANT, DAY)

    # Then the first lists the amount, the second updates the same report (a new event)
    [difference] = first.differences
    assert (difference.kind, difference.charge_id, difference.recorded_amount, difference.gateway_amount) == (
        "amount_differs",
        charge_id,
        1999,
        1990,
    )
    assert second.written and second.reconciliation.id == first.id and second.reconciliation.status == "matched"
    assert completed(world) == 2


def test_a_charge_recorded_the_day_before_is_not_missing_here_the_next_day() -> None:
    # Given a charge the books recorded at 23:59:59 that the gateway dates 00:00:01 the next day
    world, ledger, reconciliations, _ = a_day_of_business()
    world.clock.current = datetime(2026, 11, 25, 23, 59, 59, tzinfo=timezone.utc)
    late = world.mandate(world.plan(amount=700))
    world.tick()
    [payment] = [p for p in world.gateway.payments if p[0].mandate_id == late]
    world.gateway.payments[world.gateway.payments.index(payment)] = (payment[0], payment[1], payment[2] + timedelta(seconds=2))
    world.clock.current = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)

    # When both days are reconciled
    first = reconciliations.run(MERCHANT, DAY).reconciliation
    second = reconciliations.run(MERCHANT, DAY + timedelta(days=1)).reconciliation

    # Then the charge is in the first day's report on both sides, and the next day is matched and empty
    assert first.status == "matched"
    eur = next(t for t in first.totals if t.currency == "EUR")
    assert eur.recorded.charges == eur.gateway.charges == 1999 + 700
    assert second.status == "matched" and second.totals == []


def test_the_days_run_sends_one_request_per_merchant_in_batches() -> None:
    class Merchants:
        def merchant_ids(self):  # type: ignore[no-untyped-def]
            yield from (f"mch_{n}" for n in range(250))

    class Queue:
        def __init__(self) -> None:
            self.batches: list[list[ReconcileRequest]] = []

        def send(self, requests):  # type: ignore[no-untyped-def]
            self.batches.append(list(requests))
            return len(requests)

    queue = Queue()
    run = ReconciliationPlanner(Merchants(), queue).plan(DAY)

    assert (run.merchants, run.queued) == (250, 250)
    assert [len(b) for b in queue.batches] == [100, 100, 50]
    assert {r.date for b in queue.batches for r in b} == {DAY}


def test_the_report_is_stored_under_the_merchant() -> None:
    world, _, reconciliations, _ = a_day_of_business()
    report = reconciliations.run(MERCHANT, DAY).reconciliation
    assert world.repo.get(Reconciliation, "mch_other", report.id) is None
    with pytest.raises(NotFound):
        ReconciliationLog(world.repo).get("mch_other", DAY)


def test_a_day_where_everything_differs_lists_the_first_500_and_counts_them_all() -> None:
    # Given the gateway reports 600 payments nobody here asked for
    world, ledger, reconciliations, _ = a_day_of_business()
    noon = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    ledger.extra += [GatewayEntry("charge", "succeeded", "EUR", 100, noon, f"sim_x{n}") for n in range(600)]

    # When the day is reconciled
    report = reconciliations.run(MERCHANT, DAY).reconciliation

    # Then the report (and its event) stays small: 500 listed, 600 counted, the totals exact
    assert len(report.differences) == 500 and report.difference_count == 600
    eur = next(t for t in report.totals if t.currency == "EUR")
    assert eur.gateway.charges - eur.recorded.charges == 600 * 100
