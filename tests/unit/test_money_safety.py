"""Issue 9, point by point: each test failed on the engine before the start marker, the lookup of
unknown outcomes and the other money-safety fixes, and passes now (on in-memory fakes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from billing.api.requests import MandateCreate, PaymentMethodIn
from billing.domain.charge import GATEWAY_REJECTED, MAX_REATTEMPTS, Attempt
from billing.domain.errors import ConcurrentModification, InvalidState, ValidationFailed
from billing.service.charger import NoTimeLeft, OutcomeUnknown
from billing.service.event_recorder import EventRecorder
from billing.service.mandates import Mandates
from tests.fakes import FakeCards, FakeLinks
from tests.support.values import CONSENT
from tests.world import MERCHANT, World

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def world() -> World:
    return World()


def succeeded_events(world: World, charge_id: str) -> list[str]:
    return [
        e.type for e in world.repo.events(MERCHANT) if e.data["object"].get("id") == charge_id and e.type.startswith("charge.")
    ]


# ----------------------------------------------------- 1. no charge after a stop
@pytest.mark.parametrize("stop", ["cancel", "revoke"])
def test_a_stop_acknowledged_while_the_batch_is_at_the_gateway_prevents_the_next_attempt(world: World, stop: str) -> None:
    # Given a batch of two due mandates
    plan = world.plan()
    first, second = world.mandate(plan), world.mandate(plan)
    world.dispatch()
    batch = world.queue.take()
    assert [m.mandate_id for m in batch] == [first, second]
    # When the second is cancelled (or revoked) while the first is at the gateway
    action = world.api.mandates.cancel if stop == "cancel" else world.api.mandates.revoke
    world.gateway.during_call = lambda request: action(MERCHANT, second)
    outcomes = [world.deliver(m) for m in batch]
    # Then the second is never sent to the gateway, and stays cancelled, never collected
    assert [o.status for o in outcomes] == ["recorded", "skipped"]
    assert {c.mandate_id for c in world.gateway.calls} == {first}
    [charge] = world.charges(second)
    assert charge.status == "cancelled" and charge.attempts == []
    assert succeeded_events(world, charge.id) == ["charge.cancelled"]
    assert world.get(second).status == ("cancelled" if stop == "cancel" else "revoked")


def test_a_cancel_while_the_attempt_is_at_the_gateway_keeps_the_charge_pending_and_a_success_stands(world: World) -> None:
    # Given a dispatched charge whose attempt is at the gateway
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    answered: list = []

    def cancel_now(request) -> None:
        answered.append(world.api.mandates.cancel(MERCHANT, mandate_id))
        [charge] = world.charges(mandate_id)
        assert charge.status == "pending", "a charge whose attempt may be at the gateway is not reported cancelled"

    world.gateway.during_call = cancel_now
    # When the merchant cancels meanwhile and the gateway then takes the money
    world.deliver(message)
    # Then the cancel answered (the mandate is cancelled) and the success is recorded and reported
    assert answered[0].status == "cancelled"
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and len(world.gateway.ledger()) == 1
    assert succeeded_events(world, charge.id) == ["charge.succeeded"]
    mandate = world.get(mandate_id)
    assert mandate.status == "cancelled" and mandate.cycles_charged == 1 and mandate.dispatch_at is None


def test_a_cancel_while_a_declined_attempt_is_at_the_gateway_cancels_the_charge_when_recorded(world: World) -> None:
    # Given a dispatched attempt on a card that will be declined
    mandate_id = world.mandate(world.plan(), token="pm_sim_insufficient_funds")
    world.dispatch()
    [message] = world.queue.take()
    # When the merchant cancels while the attempt is at the gateway
    world.gateway.during_call = lambda request: world.api.mandates.cancel(MERCHANT, mandate_id)
    world.deliver(message)
    # Then the decline is recorded and the charge cancelled, with nothing left to do
    [charge] = world.charges(mandate_id)
    assert charge.status == "cancelled" and [a.outcome for a in charge.attempts] == ["declined"]
    assert succeeded_events(world, charge.id) == ["charge.cancelled"]
    assert world.get(mandate_id).dispatch_at is None  # nothing left to do


def test_a_stop_after_the_start_marker_leaves_an_unrecorded_attempt_to_a_lookup_never_a_resend(world: World) -> None:
    # Given an attempt started and lost in a crash before the gateway answered was recorded
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    world.crash_after_gateway(message)
    # When the mandate is cancelled, and the lease runs out
    world.api.mandates.cancel(MERCHANT, mandate_id)
    assert world.charges(mandate_id)[0].status == "pending"
    world.clock.advance(minutes=16)
    world.tick()
    # Then the attempt is looked up (not sent again) and its success recorded
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and len(world.gateway.calls) == 1 and len(world.gateway.lookups) == 1


# ------------------------------------------------------- 2. permanent gateway errors
def test_a_rejected_payment_method_fails_the_charge_at_once_and_makes_the_mandate_past_due(world: World) -> None:
    # Given a payment method the gateway rejects outright
    mandate_id = world.mandate(world.plan(), token="pm_sim_rejected")
    # When it falls due
    world.tick()
    # Then the charge fails at once (gateway_rejected), the mandate is past due, and nothing loops
    [charge] = world.charges(mandate_id)
    assert charge.status == "failed" and charge.failure_code == GATEWAY_REJECTED and len(charge.attempts) == 1
    assert world.get(mandate_id).status == "past_due"
    assert world.event_types()[-2:] == ["charge.failed", "mandate.past_due"]
    assert world.dispatch().found == 0  # nothing loops


def test_a_gateway_missing_from_the_deployment_rejects_the_charge_instead_of_looping(world: World) -> None:
    # Given a Stripe mandate stored while Stripe was configured, and a charger without Stripe now
    plan = world.plan()
    body = {
        "plan_id": plan,
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "stripe", "token": "pm_1Q2w3E4r5T6y7U8i"},
        "consent": CONSENT,
    }
    mandate_id = world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id
    assert "stripe" not in world.charger.gateways
    # When it falls due
    world.tick()
    # Then the charge fails with gateway_rejected, the mandate is past_due, and the events say so
    [charge] = world.charges(mandate_id)
    assert charge.status == "failed" and charge.failure_code == GATEWAY_REJECTED
    assert world.get(mandate_id).status == "past_due"


def test_an_unusable_gateway_is_refused_with_422_before_anything_is_stored(world: World) -> None:
    # Given a deployment that charges with the simulated gateway only
    recorder = EventRecorder(world.ids, FakeLinks())
    simulated_only = Mandates(world.repo, world.clock, world.ids, recorder, frozenset({"simulated"}))
    body = {
        "plan_id": world.plan(),
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "stripe", "token": "pm_1Q2w3E4r5T6y7U8i"},
        "consent": CONSENT,
    }
    # When a Stripe payment method is given, Then it is a 422 naming the gateway
    with pytest.raises(ValidationFailed) as error:
        simulated_only.create(MERCHANT, MandateCreate.model_validate(body))
    assert error.value.param == "payment_method.gateway"
    # And a deployment without the simulated gateway refuses a simulated replacement
    no_simulated = Mandates(world.repo, world.clock, world.ids, recorder, frozenset({"stripe"}))
    mandate_id = world.mandate(world.plan())
    with pytest.raises(ValidationFailed) as error:
        no_simulated.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))
    assert error.value.param == "gateway"


# ------------------------------------------------------- 5. unknown outcome past the key's memory
def test_an_outcome_unknown_for_longer_than_the_key_memory_is_looked_up_never_sent_again(world: World) -> None:
    # Given the gateway takes the money, then goes down before answering
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    world.gateway.down_after_next_call = True
    with pytest.raises(OutcomeUnknown):
        world.deliver(message)
    assert world.charges(mandate_id)[0].status == "pending"
    calls = len(world.gateway.calls)  # the first call and its re-asks with the same key
    # When it is back two days later (it forgot the key after 24 h) and the message comes back
    world.clock.advance(days=2)
    world.gateway.outage = False
    world.deliver(message)
    # Then the attempt was looked up, not sent again: one payment, recorded as succeeded
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and len(world.gateway.ledger()) == 1
    assert len(world.gateway.calls) == calls and len(world.gateway.lookups) == 1


def test_an_attempt_that_never_reached_the_gateway_is_retried_as_a_new_attempt_after_a_conclusive_lookup(world: World) -> None:
    # Given an attempt whose call failed before the gateway did anything
    mandate_id = world.mandate(world.plan(retry_schedule_days=[1]))
    world.dispatch()
    [message] = world.queue.take()
    world.gateway.outage = True  # every call fails before the gateway does anything
    with pytest.raises(OutcomeUnknown):
        world.deliver(message)
    # When the message comes back two days later and the lookup finds nothing
    world.clock.advance(days=2)
    world.gateway.outage = False
    world.deliver(message)
    # Then it is a soft error, retried on the schedule as a new attempt, collected once
    [charge] = world.charges(mandate_id)
    # Not found at the gateway: a gateway error (soft), retried on the schedule with a new key
    assert [a.outcome for a in charge.attempts] == ["error"] and charge.status == "retrying"
    world.tick()
    assert world.charges(mandate_id)[0].status == "succeeded" and len(world.gateway.ledger()) == 1


def test_a_lookup_that_finds_nothing_too_early_is_not_conclusive(world: World) -> None:
    # Given an attempt whose outcome is unknown, on a mandate then cancelled (only a lookup is allowed)
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.take()
    world.gateway.outage = True
    with pytest.raises(OutcomeUnknown):
        world.deliver(message)
    world.gateway.outage = False
    world.api.mandates.cancel(MERCHANT, mandate_id)  # now only a lookup is allowed
    # When the lookup finds nothing a minute later, Then it is not conclusive (the search may lag)
    with pytest.raises(OutcomeUnknown, match="not found"):
        world.deliver(message)  # a minute later: the gateway's search may not show it yet
    # When it finds nothing after ten minutes, Then the attempt never happened: the charge is cancelled, nothing taken
    world.clock.advance(minutes=11)
    world.deliver(message)
    assert world.charges(mandate_id)[0].status == "cancelled" and world.gateway.ledger() == []


# ------------------------------------------------------- 6. re-attempts are capped and validated
def test_a_failed_charge_is_re_attempted_at_most_ten_times_by_new_payment_methods(world: World) -> None:
    # Given a failed charge
    mandate_id = world.mandate(world.plan(), token="pm_sim_expired_card")
    world.tick()
    # When the merchant replaces the payment method ten times, each declined
    for _ in range(MAX_REATTEMPTS):
        world.api.mandates.replace_payment_method(
            MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_expired_card")
        )
        world.tick()
    # Then eleven attempts were made, and an eleventh replacement is refused
    [charge] = world.charges(mandate_id)
    assert charge.status == "failed" and len(charge.attempts) == 1 + MAX_REATTEMPTS
    with pytest.raises(InvalidState):
        world.api.mandates.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))
    assert world.get(mandate_id).status == "past_due"


def test_a_claim_whose_message_is_invalid_is_not_saved(world: World) -> None:
    # Given a past_due mandate whose failed charge already has 100 attempts (data from before the cap)
    mandate_id = world.mandate(world.plan(), token="pm_sim_expired_card")
    world.tick()
    [charge] = world.charges(mandate_id)
    stored = world.repo.items[(MERCHANT, charge.id)]
    stored.attempts = [Attempt(number=n, at=NOW, outcome="declined", decline_code="expired_card") for n in range(1, 101)]
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))
    before = world.get(mandate_id)
    # When the dispatcher would claim attempt 101
    report = world.dispatch()
    # Then nothing is claimed, sent or charged: the error is counted and the mandate stays due
    assert report.errors == 1 and report.dispatched == 0 and world.queue.messages == []
    after = world.get(mandate_id)
    assert after.version == before.version and after.claimed_until is None


# ------------------------------------------------------- 7. transaction conflicts are retried
def test_transaction_conflicts_are_redone_on_fresh_state_not_errors(world: World) -> None:
    # Given DynamoDB cancelling two transactions of each writer (conflicts)
    mandate_id = world.mandate(world.plan())
    world.repo.conflicts_left = 2
    # Then the dispatcher, the charger and the API redo their writes on fresh state and succeed
    assert world.dispatch().dispatched == 1
    world.repo.conflicts_left = 2
    world.deliver_all()
    world.repo.conflicts_left = 2
    assert world.api.mandates.pause(MERCHANT, mandate_id, None).status == "paused"
    assert world.charges(mandate_id)[0].status == "succeeded"


def test_a_conflict_that_never_clears_is_reported_as_a_conflict(world: World) -> None:
    # Given conflicts that never clear
    mandate_id = world.mandate(world.plan())
    world.repo.conflicts_left = 100
    # When the merchant cancels, Then after the allowed tries the conflict is reported (a 409, never a 500)
    with pytest.raises(ConcurrentModification):
        world.api.mandates.cancel(MERCHANT, mandate_id)


# ------------------------------------------------------- 8. the charger's time budget
def test_an_attempt_starts_only_when_the_invocation_has_time_for_the_call(world: World) -> None:
    # Given three due mandates in one batch and an invocation that runs out of time after two calls
    plan = world.plan()
    mandates = [world.mandate(plan) for _ in range(3)]
    world.dispatch()
    batch = world.queue.take()
    left = [world.gateway.call_timeout * 2 + 5.5]

    def remaining() -> float:
        return left[0] - world.gateway.call_timeout * len(world.gateway.calls)

    # When the batch is processed
    results = []
    for message in batch:
        try:
            results.append(world.charger.process(message, remaining).status)
        except NoTimeLeft:
            results.append("deferred")
    # Then the third attempt was not started (no marker, no call): it comes back and is charged then
    assert results == ["recorded", "recorded", "deferred"]
    assert world.get(mandates[2]).attempt_started_at is None and len(world.gateway.calls) == 2
    world.deliver(batch[2])
    assert [c.status for c in world.charges()] == ["succeeded"] * 3


# ------------------------------------------------------- 9. failures visible to the dispatcher's metrics
def test_the_dispatcher_reports_the_age_of_the_oldest_attempt_without_an_outcome(world: World) -> None:
    # Given an attempt whose message was lost
    world.mandate(world.plan())
    world.dispatch()
    world.queue.take()  # lost
    # When the lease runs out and the dispatcher sends it again
    world.clock.advance(minutes=16)
    report = world.dispatch()
    # Then the report gives its age (what the alarm watches), growing while it stays unsettled
    assert report.resent == 1 and report.oldest_unsettled_seconds == 16 * 60
    world.queue.take()
    world.clock.advance(minutes=16)
    assert world.dispatch().oldest_unsettled_seconds == 32 * 60


def test_pause_and_resume_while_an_attempt_is_at_the_gateway_collect_it_once(world: World) -> None:
    # Given an attempt at the gateway, on a card that fails once
    mandate_id = world.mandate(world.plan(), token="pm_sim_fail_once")
    world.dispatch()
    [message] = world.queue.take()
    # When the merchant pauses meanwhile
    world.gateway.during_call = lambda request: world.api.mandates.pause(MERCHANT, mandate_id, None)
    world.deliver(message)
    [charge] = world.charges(mandate_id)
    # The soft decline is recorded; the retry waits for the resume
    assert charge.status == "retrying" and world.get(mandate_id).dispatch_at is None
    # When days pass paused, then the merchant resumes, Then the retry runs only after the resume, once
    world.clock.advance(days=5)
    assert world.dispatch().dispatched == 0
    world.api.mandates.resume(MERCHANT, mandate_id)
    world.tick()
    assert world.charges(mandate_id)[0].status == "succeeded" and len(world.gateway.ledger()) == 1
    assert timedelta(0) < world.get(mandate_id).next_charge_at - world.clock.now()


def test_an_old_message_of_a_re_pinned_attempt_uses_the_stored_payment_method(world: World) -> None:
    # Given a claim whose message was lost, a new (Stripe) payment method, and the re-sent claim
    mandate_id = world.mandate(world.plan())
    world.dispatch()
    [old] = world.queue.take()
    world.api.mandates.replace_payment_method(
        MERCHANT, mandate_id, PaymentMethodIn(gateway="stripe", token="pm_1Q2w3E4r5T6y7U8i")
    )
    world.clock.advance(minutes=16)
    world.dispatch()
    world.queue.take()
    # When the old message turns up first
    world.deliver(old)
    # Then the attempt goes with the method pinned now (Stripe, missing here: rejected), never
    # with the old message's method or a Stripe token sent to another gateway
    [charge] = world.charges(mandate_id)
    assert charge.failure_code == GATEWAY_REJECTED and world.gateway.calls == []


def test_a_stripe_token_of_another_merchants_customer_is_refused_with_422(world: World) -> None:
    # Given a deployment whose gateway says the token belongs to no customer of this merchant
    recorder = EventRecorder(world.ids, FakeLinks())
    mandates = Mandates(world.repo, world.clock, world.ids, recorder, frozenset({"simulated", "stripe"}), FakeCards())
    stripe_method = {"gateway": "stripe", "token": "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"}
    body = {"plan_id": world.plan(), "customer": {"reference": "c"}, "payment_method": stripe_method, "consent": CONSENT}
    # When a mandate is created with it, or it replaces a mandate's payment method
    with pytest.raises(ValidationFailed) as created:
        mandates.create(MERCHANT, MandateCreate.model_validate(body))
    mandate_id = world.mandate(world.plan())
    with pytest.raises(ValidationFailed) as replaced:
        mandates.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(**stripe_method))
    # Then both are a 422 naming the token, and the mandate keeps its method
    assert (created.value.param, replaced.value.param) == ("payment_method.token", "token")
    assert world.get(mandate_id).payment_method.token == "pm_sim_ok"
