"""The reconciliation of one merchant's day (domain/reconciliation.py): matched on a normal day,
every kind of difference found, per currency, and the day boundary."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from billing.domain.charge import Attempt, Charge
from billing.domain.reconciliation import (
    GatewayEntry,
    Movement,
    Unmoved,
    movements_of_charge,
    movements_of_refund,
    reconcile,
)

DAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def charge(ref: str, amount: int = 1999, currency: str = "EUR", at: datetime = NOON) -> Movement:
    return Movement("charge", currency, amount, at, ref, charge_id="chg_" + ref)


def reported(mine: Movement, **change: object) -> GatewayEntry:
    fields: dict[str, object] = {
        "kind": mine.kind,
        "status": "succeeded",
        "currency": mine.currency,
        "amount": mine.amount,
        "at": mine.at + timedelta(seconds=1),
        "gateway_reference": mine.gateway_reference,
        "charge_id": mine.charge_id,
        "refund_id": mine.refund_id,
    } | change
    return GatewayEntry(**fields)  # type: ignore[arg-type]


def normal_day() -> list[Movement]:
    return [
        charge("a"),
        charge("b", 500, "GBP"),
        Movement("refund", "EUR", 300, NOON + timedelta(hours=1), "re_1", charge_id="chg_a", refund_id="rfd_1"),
        Movement("reversal", "EUR", 700, NOON + timedelta(hours=2), "c", charge_id="chg_c"),
        Movement("dispute", "GBP", 500, NOON + timedelta(hours=3), "dp_1", charge_id="chg_b"),
    ]


def test_a_normal_day_is_matched_with_totals_per_currency() -> None:
    # Given the books and the gateway agree on charges, a refund, a reversal and a lost dispute in two currencies
    books = normal_day()

    # When the day is reconciled
    result = reconcile(DAY, books, [reported(m) for m in books])

    # Then it is matched, each currency's totals the same on both sides, net = in - out
    assert result.status == "matched" and result.differences == []
    totals = {t.currency: t for t in result.totals}
    assert set(totals) == {"EUR", "GBP"}
    eur, gbp = totals["EUR"], totals["GBP"]
    assert (eur.recorded.charges, eur.recorded.refunds, eur.recorded.reversals, eur.recorded.net) == (1999, 300, 700, 999)
    assert eur.recorded == eur.gateway and gbp.recorded == gbp.gateway
    assert (gbp.recorded.disputes, gbp.recorded.net) == (500, 0)


def test_a_payment_the_service_never_asked_for_is_missing_here() -> None:
    # Given the gateway took a payment nobody here asked for
    books = normal_day()
    foreign = GatewayEntry("charge", "succeeded", "EUR", 4200, NOON, "sim_unrequested_1")

    # When the day is reconciled
    result = reconcile(DAY, books, [reported(m) for m in books] + [foreign])

    # Then it is listed, counted on the gateway's side only
    assert result.status == "mismatched"
    [difference] = result.differences
    assert (difference.kind, difference.charge_id, difference.recorded_amount, difference.gateway_amount) == (
        "missing_here",
        None,
        None,
        4200,
    )
    eur = next(t for t in result.totals if t.currency == "EUR")
    assert eur.gateway.charges - eur.recorded.charges == 4200


def test_a_refund_the_gateway_lost_is_missing_at_gateway() -> None:
    # Given a refund recorded here and unknown at the gateway
    books = normal_day()
    gateway = [reported(m) for m in books if m.kind != "refund"]

    # When the day is reconciled
    result = reconcile(DAY, books, gateway)

    # Then the refund is listed with its ids
    [difference] = result.differences
    assert (difference.kind, difference.movement, difference.refund_id, difference.charge_id) == (
        "missing_at_gateway",
        "refund",
        "rfd_1",
        "chg_a",
    )
    assert (difference.gateway_reference, difference.recorded_amount, difference.gateway_amount) == ("re_1", 300, None)


def test_an_amount_that_differs_is_listed_with_both_amounts() -> None:
    books = normal_day()
    gateway = [reported(m, amount=1990) if m.gateway_reference == "a" else reported(m) for m in books]

    result = reconcile(DAY, books, gateway)

    [difference] = result.differences
    assert (difference.kind, difference.charge_id, difference.recorded_amount, difference.gateway_amount) == (
        "amount_differs",
        "chg_a",
        1999,
        1990,
    )
    eur = next(t for t in result.totals if t.currency == "EUR")
    assert (eur.recorded.charges, eur.gateway.charges) == (1999, 1990)


def test_a_status_that_differs_either_way_is_listed() -> None:
    # Given a charge recorded as paid that the gateway says failed, and one the gateway says paid
    # that is still processing here
    books = [charge("a")]
    gateway = [
        reported(books[0], status="failed"),
        GatewayEntry("charge", "succeeded", "EUR", 1000, NOON, "b", charge_id="chg_b"),
    ]

    result = reconcile(DAY, books, gateway, {("charge", "b"): Unmoved("chg_b")})

    kinds = {(d.gateway_reference, d.kind, d.recorded_amount, d.gateway_amount) for d in result.differences}
    assert kinds == {("a", "status_differs", 1999, 0), ("b", "status_differs", 0, 1000)}


def test_the_day_boundary_a_pair_belongs_to_the_day_the_books_recorded_it() -> None:
    # Given a charge recorded at 23:59:59 that the gateway dates 00:00:01 the next day, and one
    # recorded at 00:00:01 that the gateway dates 23:59:59 the day before
    late = charge("late", at=datetime(2026, 12, 1, 23, 59, 59, tzinfo=timezone.utc))
    early = charge("early", at=datetime(2026, 12, 2, 0, 0, 1, tzinfo=timezone.utc))
    gateway = [reported(late, at=late.at + timedelta(seconds=2)), reported(early, at=early.at - timedelta(seconds=2))]

    # When both days are reconciled with everything both sides know
    first, second = (reconcile(day, [late, early], gateway) for day in (DAY, DAY + timedelta(days=1)))

    # Then both days are matched, and each charge is counted in exactly one of them
    assert first.status == second.status == "matched"
    assert [t.recorded.charges for t in first.totals] == [t.gateway.charges for t in first.totals] == [1999]
    assert [t.gateway.charges for t in second.totals] == [1999]


def test_a_movement_only_the_gateway_knows_belongs_to_the_gateways_day() -> None:
    foreign = GatewayEntry("charge", "succeeded", "EUR", 100, NOON - timedelta(days=1), "x")
    processing = GatewayEntry("charge", "processing", "EUR", 100, NOON, "y", charge_id="chg_y")

    assert reconcile(DAY, [], [foreign, processing]).status == "matched"
    assert reconcile(DAY - timedelta(days=1), [], [foreign]).status == "mismatched"


def test_a_charge_moves_when_it_settled_and_again_when_it_was_reversed() -> None:
    # Given a bank debit started on one day, settled days later and reversed after that
    started, settled, reversed_at = NOON - timedelta(days=4), NOON - timedelta(days=1), NOON
    paid = Charge(
        id="chg_1",
        merchant_id="mch_1",
        created_at=started,
        updated_at=reversed_at,
        mandate_id="mdt_1",
        plan_id="pln_1",
        cycle=1,
        amount=1999,
        currency="EUR",
        due_at=started,
        status="failed",
        attempts=[
            Attempt(
                number=1,
                at=started,
                settled_at=settled,
                reversed_at=reversed_at,
                outcome="declined",
                decline_code="insufficient_funds",
                gateway_reference="sim_1",
            )
        ],
    )

    # Then the books move it in when it settled and out when it was reversed
    moves = {(m.kind, m.at) for m in movements_of_charge(paid)}
    assert moves == {("charge", settled), ("reversal", reversed_at)}


def test_a_refund_that_failed_the_next_day_moves_money_back_on_that_day() -> None:
    # Given a refund the books recorded succeeded at 23:00 and failed (money back) at 00:30 the
    # next day, and the gateway dating both the same way
    from billing.domain.refunds import Refund

    succeeded, failed = datetime(2026, 12, 1, 23, tzinfo=timezone.utc), datetime(2026, 12, 2, 0, 30, tzinfo=timezone.utc)
    refund = Refund.model_validate(
        {
            "id": "rfd_1",
            "merchant_id": "mch_a",
            "created_at": succeeded - timedelta(minutes=1),
            "updated_at": failed,
            "charge_id": "chg_a",
            "mandate_id": "mdt_a",
            "amount": 300,
            "currency": "EUR",
            "status": "failed",
            "failure_code": "refund_declined",
            "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
            "gateway_reference": "re_1",
            "succeeded_at": succeeded,
            "failed_later_at": failed,
        }
    )
    books = [charge("a"), *movements_of_refund(refund)]
    gateway = [reported(m, at=m.at) for m in books]

    # When both days are reconciled
    first, second = reconcile(DAY, books, gateway), reconcile(DAY + timedelta(days=1), books, gateway)

    # Then the refund is out on the first day, back on the second, matched on both sides
    assert first.status == second.status == "matched"
    assert [(t.recorded.refunds, t.gateway.refunds) for t in first.totals] == [(300, 300)]
    assert [(t.recorded.refunds, t.recorded.net, t.gateway.net) for t in second.totals] == [(-300, 300, 300)]


def test_a_refund_failure_the_gateway_does_not_report_is_listed_on_its_day() -> None:
    # Given the books recorded a refund's money back on the day; the gateway still reports it moved
    out = Movement("refund", "EUR", 300, NOON - timedelta(days=1), "re_1", charge_id="chg_a", refund_id="rfd_1")
    back = Movement("refund_failure", "EUR", 300, NOON, "re_1", charge_id="chg_a", refund_id="rfd_1")

    # When the day is reconciled
    result = reconcile(DAY, [out, back], [reported(out, at=out.at)])

    # Then the failure is missing at the gateway
    [difference] = result.differences
    assert (difference.kind, difference.movement, difference.refund_id, difference.recorded_amount) == (
        "missing_at_gateway",
        "refund_failure",
        "rfd_1",
        300,
    )


def test_a_refund_and_its_failure_on_the_same_day_moved_nothing_that_day() -> None:
    # Given the gateway moved a refund out and back the same day (Stripe: a refund failing at once),
    # while the books never recorded it succeeded
    out = Movement("refund", "EUR", 300, NOON, "re_1", charge_id="chg_a", refund_id="rfd_1")
    back = Movement("refund_failure", "EUR", 300, NOON + timedelta(hours=1), "re_1", charge_id="chg_a", refund_id="rfd_1")

    # When the day is reconciled
    result = reconcile(DAY, [charge("a")], [reported(charge("a")), reported(out), reported(back)])

    # Then nothing differs
    assert result.status == "matched" and result.totals[0].gateway.refunds == 0
