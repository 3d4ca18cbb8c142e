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


def test_a_day_with_nothing_at_all_is_stored_matched_and_not_announced() -> None:
    # Given a merchant with business on DAY, and nothing at all the day before
    world, _, reconciliations, _ = a_day_of_business()
    quiet = DAY - timedelta(days=1)

    # When the quiet day is reconciled, twice
    first = reconciliations.run(MERCHANT, quiet)
    again = reconciliations.run(MERCHANT, quiet)

    # Then its report is stored (the API answers it) matched and empty, written once, announced never
    report = ReconciliationLog(world.repo).get(MERCHANT, quiet)
    assert (report.status, report.totals, report.differences) == ("matched", [], [])
    assert first.written and not first.announced and not again.written
    assert completed(world) == 0
    # And a day with business is announced
    assert reconciliations.run(MERCHANT, DAY).announced and completed(world) == 1


def test_a_quiet_day_that_a_late_payment_changes_is_announced_then() -> None:
    # Given a quiet day stored empty
    world, ledger, reconciliations, _ = a_day_of_business()
    quiet = DAY - timedelta(days=1)
    reconciliations.run(MERCHANT, quiet)

    # When the gateway later reports a payment on it nobody asked for, and the day is run again
    ledger.extra.append(
        GatewayEntry("charge", "succeeded", "EUR", 4200, datetime(2026, 11, 24, 9, tzinfo=timezone.utc), "sim_late")
    )
    rerun = reconciliations.run(MERCHANT, quiet)

    # Then the same report is replaced, mismatched, and announced once
    assert rerun.written and rerun.announced and rerun.reconciliation.status == "mismatched"
    assert ReconciliationLog(world.repo).get(MERCHANT, quiet).id == rerun.reconciliation.id
    assert completed(world) == 1


def test_missed_days_are_reconciled_in_order_in_one_read_of_the_books() -> None:
    # Given business on DAY, and the job missed DAY-1 .. DAY+1
    world, _, reconciliations, _ = a_day_of_business()
    world.clock.current = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
    reads = world.repo.event_reads

    # When the three days are reconciled in one run
    runs = reconciliations.run_days(MERCHANT, DAY - timedelta(days=1), DAY + timedelta(days=1))

    # Then each day has its report, in order; only DAY moved money and only DAY is announced
    assert [r.reconciliation.date for r in runs] == [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
    assert [bool(r.reconciliation.totals) for r in runs] == [False, True, False]
    assert [r.announced for r in runs] == [False, True, False] and completed(world) == 1
    assert world.repo.event_reads - reads == 1  # the books read once for the three days
    # And running one of them again alone changes nothing
    assert not reconciliations.run(MERCHANT, DAY).written
    with pytest.raises(ValueError):
        reconciliations.run_days(MERCHANT, DAY, DAY + timedelta(days=31))


def test_a_refund_that_fails_after_midnight_is_out_on_its_day_and_back_on_the_next() -> None:
    # Given DAY's refund (300, succeeded), reported failed by the gateway at 00:30 the next day
    from billing.domain.refunds import Refund
    from billing.service.gateway_events import GatewayEvent, RefundReport

    world, ledger, reconciliations, _ = a_day_of_business()
    [done] = [r for r in world.repo.refunds(MERCHANT) if r.status == "succeeded"]
    back = datetime(2026, 11, 26, 0, 30, tzinfo=timezone.utc)
    world.clock.current = back
    report = RefundReport(refund_id=done.id, outcome="declined", failure_code="refund_declined")
    world.apply(
        GatewayEvent(
            id="evt_gw_rf",
            gateway="simulated",
            event_type="charge.refund.updated",
            created=back,
            merchant_id=MERCHANT,
            refund=report,
        )
    )
    assert world.repo.get(Refund, MERCHANT, done.id).status == "failed"  # type: ignore[union-attr]
    assert done.gateway_reference is not None
    ledger.extra.append(GatewayEntry("refund_failure", "succeeded", "EUR", 300, back, done.gateway_reference, refund_id=done.id))
    world.clock.current = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)

    # When both days are reconciled (DAY again, after the failure)
    first, second = (r.reconciliation for r in reconciliations.run_days(MERCHANT, DAY, DAY + timedelta(days=1)))

    # Then DAY still shows the refund out, the next day shows it back, both matched
    assert first.status == second.status == "matched", (first.differences, second.differences)
    eur = {t.currency: t for t in first.totals}["EUR"]
    assert eur.recorded.refunds == eur.gateway.refunds == 300
    [eur_next] = second.totals
    assert (eur_next.recorded.refunds, eur_next.gateway.refunds, eur_next.recorded.net) == (-300, -300, 300)
    # And had the gateway not reported the money back, the books' failure is listed on its day
    ledger.extra.clear()
    rerun = reconciliations.run(MERCHANT, DAY + timedelta(days=1))
    [difference] = rerun.reconciliation.differences
    assert (difference.kind, difference.movement, difference.refund_id) == ("missing_at_gateway", "refund_failure", done.id)
    assert rerun.announced
