"""The billing engine on in-memory fakes: every simulated token's path, retries and dunning,
and the faults real AWS produces (redelivery, overlapping runs, crashes, lost messages)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from billing.api.requests import PauseIn, PaymentMethodIn
from billing.domain.charge import GatewayResult, charge_id
from billing.service.messages import AttemptMessage
from tests.world import LEASE, MERCHANT, World

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def world() -> World:
    return World()


def test_ok_token_charges_the_first_cycle_once_and_schedules_the_next(world: World) -> None:
    # Given an active mandate whose first cycle is due now
    mandate_id = world.mandate(world.plan())
    # When the dispatcher runs and the charger drains the queue
    report = world.dispatch()
    assert report.dispatched == 1 and report.new_charges == 1
    [pending] = world.charges(mandate_id)
    assert pending.status == "pending" and pending.cycle == 1 and pending.attempts == []
    world.deliver_all()
    # Then the charge succeeded with one attempt, and the mandate points at next month
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and charge.amount == 1999 and len(charge.attempts) == 1
    assert charge.id == charge_id(MERCHANT, mandate_id, 1)
    mandate = world.get(mandate_id)
    assert mandate.cycles_charged == 1 and mandate.next_charge_at == datetime(2026, 12, 25, 9, tzinfo=timezone.utc)
    assert mandate.dispatch_at == mandate.next_charge_at
    assert world.event_types()[-1] == "charge.succeeded"
    assert world.ledger_by_charge() == {charge.id: 1}
    # And nothing else is due until then
    assert world.dispatch().found == 0


def test_insufficient_funds_follows_the_retry_schedule_then_makes_the_mandate_past_due(world: World) -> None:
    # Given a mandate whose card lacks funds, on a plan retrying 1, 3 and 7 days after the due time
    mandate_id = world.mandate(world.plan(retry_schedule_days=[1, 3, 7]), token="pm_sim_insufficient_funds")
    # When the first attempt is declined
    world.tick()
    # Then a retry is scheduled for the next day
    [charge] = world.charges(mandate_id)
    assert charge.status == "retrying" and charge.next_attempt_at == NOW + timedelta(days=1)
    assert charge.failure_code == "insufficient_funds"
    # Retries happen exactly 1, 3 and 7 days after the due time, not before
    for days in (1, 3, 7):
        world.clock.current = NOW + timedelta(days=days) - timedelta(seconds=1)
        assert world.dispatch().dispatched == 0
        world.clock.current = NOW + timedelta(days=days)
        world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "failed" and len(charge.attempts) == 4 and charge.next_attempt_at is None
    assert [a.at for a in charge.attempts] == [NOW + timedelta(days=d) for d in (0, 1, 3, 7)]
    # Then after the last retry the charge failed and the mandate is past due, with the events that say so
    mandate = world.get(mandate_id)
    assert mandate.status == "past_due" and mandate.dispatch_at is None
    types = world.event_types()
    assert types.count("charge.retry_scheduled") == 3 and types[-2:] == ["charge.failed", "mandate.past_due"]
    # And no further cycle is dispatched while past due
    world.run_until(NOW + timedelta(days=70), step=timedelta(days=1))
    assert len(world.charges(mandate_id)) == 1 and world.gateway.ledger() == []


def test_hard_decline_is_not_retried(world: World) -> None:
    # Given an expired card
    mandate_id = world.mandate(world.plan(), token="pm_sim_expired_card")
    # When it is declined
    world.tick()
    # Then the charge fails at once (no retry) and the mandate is past due
    [charge] = world.charges(mandate_id)
    assert charge.status == "failed" and charge.failure_code == "expired_card" and len(charge.attempts) == 1
    assert world.get(mandate_id).status == "past_due"


def test_gateway_error_is_a_soft_decline(world: World) -> None:
    # Given a gateway that answers with an error
    mandate_id = world.mandate(world.plan(retry_schedule_days=[2]), token="pm_sim_error")
    world.tick()
    # Then the charge is retried (a soft failure), and fails after its last retry
    [charge] = world.charges(mandate_id)
    assert charge.status == "retrying" and charge.attempts[0].outcome == "error" and charge.failure_code == "gateway_error"
    world.clock.advance(days=2)
    world.tick()
    assert world.charges(mandate_id)[0].status == "failed"


def test_fail_once_succeeds_on_the_first_retry(world: World) -> None:
    # Given a card that fails once
    mandate_id = world.mandate(world.plan(), token="pm_sim_fail_once")
    world.tick()
    # When the retry comes
    world.clock.advance(days=1)
    world.tick()
    # Then the charge succeeded on it, one cycle charged
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and [a.outcome for a in charge.attempts] == ["declined", "succeeded"]
    assert world.get(mandate_id).cycles_charged == 1
    assert world.event_types()[-2:] == ["charge.retry_scheduled", "charge.succeeded"]


def test_timeout_is_resolved_by_asking_again_with_the_same_key(world: World) -> None:
    # Given a gateway that times out after taking the money
    mandate_id = world.mandate(world.plan(), token="pm_sim_timeout")
    # When the attempt runs
    [outcome] = world.tick()
    assert outcome.gateway_timeouts == 1
    # Then the charger asked again with the same key: one attempt, one payment
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and len(charge.attempts) == 1
    keys = [c.idempotency_key for c in world.gateway.calls]
    assert keys == [f"{charge.id}:1", f"{charge.id}:1"]
    assert world.ledger_by_charge() == {charge.id: 1}


def test_outcome_still_unknown_fails_the_message_so_it_comes_back(world: World) -> None:
    # Given a dispatched attempt, and a gateway that keeps timing out
    world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    world.gateway.timeouts_left = 3
    # When the charger cannot learn the outcome, Then the message fails and the charge stays pending
    with pytest.raises(Exception, match="unknown"):
        world.deliver(message)
    assert world.charges()[0].status == "pending"
    # When SQS redelivers it, Then the outcome is learned and recorded: one payment
    world.deliver(message)  # redelivered by SQS after the visibility timeout
    assert world.charges()[0].status == "succeeded" and len(world.gateway.ledger()) == 1


def test_redelivered_message_is_not_charged_again(world: World) -> None:
    # Given a dispatched attempt
    world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    # When its message is delivered twice
    first = world.deliver(message)
    again = world.deliver(message)
    # Then the second is a duplicate: one gateway call, one attempt
    assert first.status == "recorded" and again.status == "duplicate"
    assert len(world.gateway.calls) == 1 and len(world.charges()[0].attempts) == 1


def test_crash_after_the_gateway_call_is_replayed_not_recharged(world: World) -> None:
    # Given a charger that dies after the gateway took the money
    world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    world.crash_after_gateway(message)
    assert world.charges()[0].status == "pending" and len(world.gateway.ledger()) == 1
    # When the message comes back, Then the gateway replays its answer and the charge is recorded, one payment
    world.deliver(message)
    [charge] = world.charges()
    assert charge.status == "succeeded" and len(world.gateway.ledger()) == 1 and len(world.gateway.calls) == 2


def test_a_second_dispatcher_run_does_not_send_a_claimed_cycle_again(world: World) -> None:
    # Given a due mandate claimed by one run
    world.mandate(world.plan())
    assert world.dispatch().dispatched == 1
    # When another run comes while the lease holds, Then it sends nothing
    assert world.dispatch().dispatched == 0  # overlapping run: the lease holds it
    assert len(world.queue.messages) == 1


def test_two_dispatchers_racing_on_the_same_mandate_send_it_once(world: World) -> None:
    world.mandate(world.plan())
    # Given run B reads the due mandates, then run A claims them before B writes
    load = world.repo.load_many
    raced = []

    def load_then_race(wanted):
        found = load(wanted)
        if not raced:
            world.repo.load_many = load
            raced.append(world.dispatcher.run(world.clock.now()))
        return found

    world.repo.load_many = load_then_race
    # When run B then tries to claim, Then its write loses (no error) and one message was sent
    report_b = world.dispatch()
    assert raced[0].dispatched == 1 and report_b.dispatched == 0 and report_b.conflicts == 0
    assert len(world.queue.messages) == 1


def test_a_lost_message_is_sent_again_with_the_same_attempt_when_its_lease_ends(world: World) -> None:
    # Given a claimed attempt whose message was lost
    world.mandate(world.plan())
    world.dispatch()
    [lost] = world.queue.take()  # crash between claim and send, or the message vanished
    world.clock.advance(minutes=14)
    assert world.dispatch().dispatched == 0
    # When the lease ends, Then the same attempt (same number, same key) is sent again
    world.clock.current = NOW + LEASE
    report = world.dispatch()
    assert report.dispatched == 1 and report.resent == 1 and report.new_charges == 0
    [again] = world.queue.take()
    assert (again.charge_id, again.attempt) == (lost.charge_id, lost.attempt)
    # And whichever copy arrives, the gateway is charged once
    world.deliver(again)
    world.deliver(lost)  # and if the first copy turns up after all: a duplicate
    assert len(world.gateway.ledger()) == 1 and world.charges()[0].status == "succeeded"


def test_queue_refusal_loses_nothing(world: World) -> None:
    # Given a queue that refuses the message
    world.mandate(world.plan())
    world.queue.refuse = True
    assert world.dispatch().not_sent == 1
    # When the lease ends and the queue works again, Then the cycle is collected
    world.queue.refuse = False
    world.clock.advance(seconds=LEASE.total_seconds())
    world.tick()
    assert world.charges()[0].status == "succeeded"


def test_cancel_cancels_the_pending_charge_and_nothing_reaches_the_gateway(world: World) -> None:
    # Given a dispatched, not yet started, first charge
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    # When the merchant cancels
    cancelled = world.api.mandates.cancel(MERCHANT, mandate_id)
    # Then the charge is cancelled with the mandate, the message does nothing, and nothing is ever charged
    assert cancelled.status == "cancelled"
    [charge] = world.charges(mandate_id)
    assert charge.status == "cancelled"
    assert world.event_types()[-2:] == ["mandate.cancelled", "charge.cancelled"]
    [outcome] = world.deliver_all()
    assert outcome.status == "skipped" and world.gateway.calls == []
    world.run_until(NOW + timedelta(days=90), step=timedelta(days=1))
    assert len(world.charges(mandate_id)) == 1


def test_cancel_while_the_attempt_is_at_the_gateway_records_the_money_taken(world: World) -> None:
    # Given a dispatched attempt
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    # The charger has read the charge and called the gateway when the merchant cancels
    commit = world.repo.commit

    def cancel_first(changes):
        world.repo.commit = commit
        world.api.mandates.cancel(MERCHANT, mandate_id)
        commit(changes)

    world.repo.commit = cancel_first
    # When the attempt runs
    world.deliver(message)
    # Then the money taken is recorded (the charge succeeded) and the mandate is cancelled
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and len(world.gateway.ledger()) == 1
    mandate = world.get(mandate_id)
    assert mandate.status == "cancelled" and mandate.cycles_charged == 1


def test_revoke_stops_retries(world: World) -> None:
    # Given a charge retrying after a decline
    mandate_id = world.mandate(world.plan(), token="pm_sim_insufficient_funds")
    world.tick()
    # When the customer revokes, Then the charge is cancelled and never retried
    world.api.mandates.revoke(MERCHANT, mandate_id)
    assert world.charges(mandate_id)[0].status == "cancelled"
    world.run_until(NOW + timedelta(days=30), step=timedelta(days=1))
    assert len(world.gateway.calls) == 1


def test_pause_keeps_the_retrying_charge_and_resume_collects_it_then_bills_from_the_next_date(world: World) -> None:
    # Given a charge retrying after a soft decline (issue 9, point 3: pause used to cancel it)
    mandate_id = world.mandate(world.plan(), token="pm_sim_fail_once")
    world.tick()
    # When the mandate is paused: the charge is kept, and nothing is attempted while paused
    world.api.mandates.pause(MERCHANT, mandate_id, None)
    assert world.charges(mandate_id)[0].status == "retrying"
    assert "charge.cancelled" not in world.event_types()
    world.run_until(NOW + timedelta(days=40), step=timedelta(days=1))
    assert len(world.gateway.calls) == 1
    # Then after the resume the kept charge is attempted at the next dispatch, and new cycles
    # continue from the next date on or after now (December fell inside the pause)
    world.api.mandates.resume(MERCHANT, mandate_id)
    mandate = world.get(mandate_id)
    assert mandate.next_charge_at == datetime(2027, 1, 25, 9, tzinfo=timezone.utc)
    world.tick()
    assert world.charges(mandate_id)[0].status == "succeeded"
    world.run_until(datetime(2027, 1, 27, tzinfo=timezone.utc), step=timedelta(days=1))
    cycles = [(c.cycle, c.status) for c in world.charges(mandate_id)]
    assert cycles == [(1, "succeeded"), (3, "succeeded")]  # cycle 2 fell in the pause
    assert world.get(mandate_id).cycles_charged == 2


def test_pause_then_immediate_resume_loses_no_cycle(world: World) -> None:
    # Given a dispatched (claimed, not yet started) first cycle
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [stale] = world.queue.take()
    # When the merchant pauses and resumes at once
    world.api.mandates.pause(MERCHANT, mandate_id, None)
    world.api.mandates.resume(MERCHANT, mandate_id)
    # Then the old message does nothing (the claim it carries was voided by the pause) ...
    assert world.deliver(stale).status == "skipped" and world.gateway.calls == []
    # ... and the cycle is collected exactly once at the next dispatch
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and charge.cycle == 1
    assert world.ledger_by_charge() == {charge.id: 1}


def test_pause_with_resume_at_resumes_automatically_at_the_dispatch(world: World) -> None:
    # Given an active mandate paused until a date 45 days on
    mandate_id = world.mandate(world.plan())
    world.tick()
    resume_at = NOW + timedelta(days=45)
    world.api.mandates.pause(MERCHANT, mandate_id, PauseIn(resume_at=resume_at))
    # When the schedule reaches that date, Then the dispatcher resumes it, billing from the next date
    world.run_until(resume_at, step=timedelta(days=1))
    mandate = world.get(mandate_id)
    assert mandate.status == "active" and mandate.next_charge_at == datetime(2027, 1, 25, 9, tzinfo=timezone.utc)
    assert "mandate.resumed" in world.event_types()


def test_total_cycles_completes_the_mandate_when_the_last_charge_settles(world: World) -> None:
    # Given a two-payment mandate whose second charge fails once
    mandate_id = world.mandate(world.plan(total_cycles=2), token="pm_sim_fail_once")
    world.run_until(datetime(2026, 12, 25, 9, tzinfo=timezone.utc), step=timedelta(days=1))
    # Then while the last charge is retrying the mandate is still active, with nothing next
    mandate = world.get(mandate_id)
    assert [c.status for c in world.charges(mandate_id)] == ["succeeded", "retrying"]
    assert mandate.status == "active" and mandate.next_charge_at is None  # the last charge has not settled
    # When the last charge settles, Then the mandate is completed
    world.run_until(datetime(2026, 12, 26, 9, tzinfo=timezone.utc), step=timedelta(days=1))
    mandate = world.get(mandate_id)
    assert mandate.status == "completed" and mandate.cycles_charged == 2 and mandate.dispatch_at is None
    assert world.event_types()[-2:] == ["charge.succeeded", "mandate.completed"]


def test_end_at_stops_cycles_after_it(world: World) -> None:
    # Given a monthly mandate ending on Jan 30
    mandate_id = world.mandate(world.plan(), end_at="2027-01-30T00:00:00Z")
    # When half a year passes, Then only the cycles before the end were charged and it is completed
    world.run_until(datetime(2027, 6, 1, tzinfo=timezone.utc), step=timedelta(days=1))
    assert [c.cycle for c in world.charges(mandate_id)] == [1, 2, 3]
    assert world.get(mandate_id).status == "completed"


def test_a_late_settlement_dispatches_the_next_cycle_then_not_skipped(world: World) -> None:
    # Given a daily mandate whose first charge settles on a retry three days late
    mandate_id = world.mandate(world.plan(interval="day", retry_schedule_days=[3]), token="pm_sim_fail_once")
    world.run_until(NOW + timedelta(days=5), step=timedelta(hours=12))
    # Then the next cycles come after it, one unsettled charge at a time, none skipped
    cycles = [(c.cycle, c.due_at) for c in world.charges(mandate_id)]
    assert [c for c, _ in cycles] == [1, 2, 3]  # one unsettled charge at a time, none skipped
    first, second = world.charges(mandate_id)[:2]
    assert first.attempts[-1].at == NOW + timedelta(days=3)  # settled on its retry
    assert second.created_at >= first.attempts[-1].at  # dispatched only after the first settled


def test_new_payment_method_reattempts_the_failed_charge_then_billing_continues(world: World) -> None:
    # Given a mandate past due after a hard decline
    mandate_id = world.mandate(world.plan(), token="pm_sim_expired_card")
    world.tick()
    assert world.get(mandate_id).status == "past_due"
    world.clock.advance(days=2)
    # When the merchant gives it a new payment method
    updated = world.api.mandates.replace_payment_method(
        MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok")
    )
    # Then it is active, the failed charge succeeds on the new card, and billing continues
    assert updated.status == "active"
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and [a.outcome for a in charge.attempts] == ["declined", "succeeded"]
    assert world.gateway.calls[-1].token == "pm_sim_ok"
    world.run_until(datetime(2026, 12, 26, tzinfo=timezone.utc), step=timedelta(days=1))
    assert [c.cycle for c in world.charges(mandate_id)] == [1, 2]


def test_bank_reported_revocation_revokes_the_mandate(world: World) -> None:
    # Given a bank that answers that the customer revoked the mandate
    mandate_id = world.mandate(world.plan())
    world.gateway.behaviour = lambda token, attempt: GatewayResult(outcome="declined", decline_code="mandate_revoked")
    # When the attempt runs, Then the charge fails and the mandate is revoked
    world.tick()
    mandate = world.get(mandate_id)
    assert mandate.status == "revoked" and world.charges(mandate_id)[0].status == "failed"
    assert world.event_types()[-2:] == ["charge.failed", "mandate.revoked"]


def test_a_method_replaced_before_the_attempt_starts_is_the_one_it_uses(world: World) -> None:
    # Given a dispatched attempt
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    # When the payment method is replaced before the attempt runs
    world.api.mandates.replace_payment_method(
        MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_insufficient_funds")
    )
    world.deliver(message)
    # Then the attempt uses the new method (it had not started; the old card is never charged)
    assert [call.token for call in world.gateway.calls] == ["pm_sim_insufficient_funds"]


def test_a_redelivered_old_message_and_the_next_cycle_of_one_mandate_are_both_handled(world: World) -> None:
    # Given yesterday's message (its charge settled) and today's next cycle, for one mandate
    mandate_id = world.mandate(world.plan(interval="day"))
    world.dispatch()
    [yesterday] = world.queue.take()
    world.deliver(yesterday)
    world.clock.advance(days=1)
    world.dispatch()
    [today] = world.queue.take()
    # When both arrive in one batch (yesterday's redelivered)
    outcomes = [world.deliver(m) for m in (yesterday, today)]
    # Then the old one is a duplicate and today's cycle is charged
    assert [o.status for o in outcomes] == ["duplicate", "recorded"]
    assert [c.status for c in world.charges(mandate_id)] == ["succeeded", "succeeded"]


def test_a_message_naming_another_merchant_is_dropped_without_calling_the_gateway(world: World) -> None:
    # Given a dispatched attempt, and forged copies that name another merchant for the same ids
    world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    body = message.model_dump(mode="json")
    with pytest.raises(ValidationError):  # ids that disagree with the claim it carries: refused at the boundary
        AttemptMessage.model_validate({**body, "merchant_id": "mch_intruder"})
    forged = AttemptMessage.model_validate(
        {
            **body,
            "merchant_id": "mch_intruder",
            "mandate": {**body["mandate"], "merchant_id": "mch_intruder"},
            "charge": {**body["charge"], "merchant_id": "mch_intruder"},
        }
    )
    # When the consistent forgery is delivered
    outcome = world.deliver(forged)
    # Then nothing is read across tenants and nothing is charged
    assert outcome.status == "skipped" and world.gateway.calls == []
    assert world.charges()[0].status == "pending"
