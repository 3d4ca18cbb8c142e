"""The simulated gateway's timeline (pure): when each token's payment changes after it answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.adapters.simulated_gateway import behaviour, timeline
from billing.domain.charge import GatewayResult

OK = GatewayResult(outcome="succeeded")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_friday_debit_settles_on_wednesday() -> None:
    # Given a bank debit made on Friday 5 March 2027 at 09:00
    made = at("2027-03-05T09:00:00")
    answer = behaviour("pm_sim_sepa_ok", 1)
    # When the gateway plans it
    plan = timeline("pm_sim_sepa_ok", made, answer)
    # Then it answered processing and settles (succeeded) 3 TARGET business days later: Wednesday, same time
    assert answer.outcome == "processing"
    assert plan.settles_at == at("2027-03-10T09:00:00") and plan.final == OK
    assert [(c.what, c.due_at) for c in plan.changes] == [("settle", at("2027-03-10T09:00:00"))]


def test_easter_is_skipped() -> None:
    # Given a debit on Maundy Thursday 2027 (Good Friday 26 March and Easter Monday 29 March are closed)
    plan = timeline("pm_sim_sepa_insufficient_funds", at("2027-03-25T10:00:00"), GatewayResult(outcome="processing"))
    # Then it is declined on Thursday 1 April: Tuesday, Wednesday, Thursday are the 3 business days
    assert plan.settles_at == at("2027-04-01T10:00:00")
    assert plan.final == GatewayResult(outcome="declined", decline_code="insufficient_funds")


def test_christmas_and_new_year_are_skipped_for_the_settlement_and_the_reversal() -> None:
    # Given a late-failing debit on Christmas Eve 2025 (25, 26 December and 1 January are closed)
    plan = timeline("pm_sim_sepa_late_failure", at("2025-12-24T09:00:00"), GatewayResult(outcome="processing"))
    # Then it succeeds on 31 December (29, 30, 31) and is reversed on 5 January (2 and 5)
    assert plan.settles_at == at("2025-12-31T09:00:00") and plan.final == OK
    assert plan.reversed_at == at("2026-01-05T09:00:00") and plan.reversal_code == "insufficient_funds"
    assert [c.what for c in plan.changes] == ["settle", "reverse"]


def test_a_revoked_bank_mandate_is_cancelled_a_day_after_the_first_settlement() -> None:
    plan = timeline("pm_sim_sepa_revoked", at("2027-03-05T09:00:00"), GatewayResult(outcome="processing"))
    cancelled = [c for c in plan.changes if c.what == "method"]
    assert [(c.due_at, c.mandate_inactive) for c in cancelled] == [(at("2027-03-11T09:00:00"), True)]
    assert plan.once == "mandate_inactive"  # only the mandate's first charge


def test_card_disputes_open_after_5_days_and_close_10_days_later() -> None:
    made = at("2027-03-05T09:00:00")
    lost = timeline("pm_sim_dispute_lost", made, behaviour("pm_sim_dispute_lost", 1))
    won = timeline("pm_sim_dispute_won", made, behaviour("pm_sim_dispute_won", 1))
    assert lost.dispute is not None and won.dispute is not None
    assert (lost.dispute["reason"], lost.dispute["result"]) == ("fraudulent", "lost")
    assert (won.dispute["reason"], won.dispute["result"]) == ("product_not_received", "won")
    assert [c.due_at - made for c in lost.changes] == [timedelta(days=5), timedelta(days=15)]


def test_a_card_update_comes_a_day_after_the_first_charge_and_other_tokens_change_nothing() -> None:
    made = at("2027-03-05T09:00:00")
    updated = timeline("pm_sim_card_updated", made, OK)
    assert [(c.what, c.due_at, c.last4) for c in updated.changes] == [("method", made + timedelta(days=1), "4444")]
    assert timeline("pm_sim_ok", made, OK).changes == ()
    assert timeline("pm_sim_dispute_lost", made, GatewayResult(outcome="declined")).changes == ()
