"""The use cases on in-memory fakes (built by the composition root): plans, mandates and their state machine, events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from billing.api.requests import MandateCreate, PauseIn, PaymentMethodIn, PlanCreate, PlanUpdate
from billing.api.responses import render
from billing.bootstrap import build_use_cases
from billing.domain.errors import ConcurrentModification, InvalidState, NotFound, ValidationFailed
from billing.domain.model import Mandate
from billing.service.ports import PageRequest
from billing.service.use_cases import UseCases
from billing.settings import Settings
from tests.fakes import FakeClock, FakeLinks, InMemoryRepository, SequentialIds
from tests.support.values import CONSENT

A, B = "mch_a", "mch_b"
GOLD = PlanCreate(name="Gold", amount=1999, currency="EUR", interval="month", trial_days=14)
OK = {"gateway": "simulated", "token": "pm_sim_ok"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repo() -> InMemoryRepository:
    return InMemoryRepository()


@pytest.fixture
def api(repo: InMemoryRepository, clock: FakeClock) -> UseCases:
    return build_use_cases(Settings(table_name="in-memory"), repo, clock, SequentialIds(), FakeLinks())


def active_mandate(api: UseCases, plan_id: str, **extra) -> str:
    body = MandateCreate.model_validate(
        {"plan_id": plan_id, "customer": {"reference": "cust-42"}, "payment_method": OK, "consent": CONSENT, **extra}
    )
    return api.mandates.create(A, body).id


def types(repo: InMemoryRepository) -> list[str]:
    return [e.type for e in repo.events()]


def test_create_plan_records_plan_created_with_the_api_object(api: UseCases, repo: InMemoryRepository) -> None:
    # When a merchant creates a plan
    plan = api.plans.create(A, GOLD)
    # Then one plan.created event holds the plan as the API shows it (no internal fields)
    [event] = repo.events(A)
    assert event.type == "plan.created"
    assert event.data["object"]["id"] == plan.id and event.data["object"]["object"] == "plan"
    assert event.data["object"]["amount"] == 1999 and "merchant_id" not in event.data["object"]


def test_plans_and_mandates_of_another_merchant_are_not_found(api: UseCases) -> None:
    # Given merchant A's plan
    plan = api.plans.create(A, GOLD)
    # When merchant B reads it, subscribes to it, or acts on A's mandate, Then it does not exist for B
    with pytest.raises(NotFound):
        api.plans.get(B, plan.id)
    with pytest.raises(NotFound):
        api.mandates.create(B, MandateCreate.model_validate({"plan_id": plan.id, "customer": {"reference": "x"}}))
    mandate_id = active_mandate(api, plan.id)
    for action in (api.mandates.get, api.mandates.cancel, api.mandates.revoke, api.mandates.resume):
        with pytest.raises(NotFound):
            action(B, mandate_id)


def test_update_plan_changes_name_and_metadata_only_and_records_event(
    api: UseCases, repo: InMemoryRepository, clock: FakeClock
) -> None:
    # Given a plan
    plan = api.plans.create(A, GOLD)
    clock.advance(minutes=1)
    # When it is renamed and given metadata
    updated = api.plans.update(A, plan.id, PlanUpdate(name="Gold+", metadata={"tier": "1"}))
    # Then only those change, with one plan.updated event
    assert (updated.name, updated.metadata, updated.terms.amount) == ("Gold+", {"tier": "1"}, 1999)
    assert updated.updated_at == clock.now()
    assert types(repo) == ["plan.created", "plan.updated"]
    # The same values again change nothing and record nothing.
    api.plans.update(A, plan.id, PlanUpdate(name="Gold+"))
    assert types(repo) == ["plan.created", "plan.updated"]


def test_archived_plan_takes_no_new_mandates(api: UseCases) -> None:
    # Given an archived plan
    plan = api.plans.create(A, GOLD)
    api.plans.archive(A, plan.id)
    # When a mandate is created on it, or it is archived again, Then both are refused
    with pytest.raises(InvalidState):
        api.mandates.create(A, MandateCreate.model_validate({"plan_id": plan.id, "customer": {"reference": "x"}}))
    with pytest.raises(InvalidState):
        api.plans.archive(A, plan.id)


def test_mandate_with_consent_is_active_at_once_and_anchored_after_trial(
    api: UseCases, repo: InMemoryRepository, clock: FakeClock
) -> None:
    # Given a plan with a 14-day trial
    plan = api.plans.create(A, GOLD)
    # When a mandate is created with the customer's consent and a payment method
    mandate = api.mandates.get(A, active_mandate(api, plan.id))
    # Then it is active at once, first charged when the trial ends
    assert mandate.status == "active"
    assert mandate.next_charge_at == clock.now() + timedelta(days=14)
    assert types(repo)[-2:] == ["mandate.created", "mandate.activated"]
    # Both events carry the object as the API returns it after the request: active.
    assert [e.data["object"]["status"] for e in repo.events()[-2:]] == ["active", "active"]


def test_mandate_without_consent_waits_for_approval(api: UseCases) -> None:
    # When a mandate is created without consent
    plan = api.plans.create(A, GOLD)
    mandate = api.mandates.create(A, MandateCreate.model_validate({"plan_id": plan.id, "customer": {"reference": "x"}}))
    # Then it waits for the customer, with nothing scheduled and an approval link
    assert mandate.status == "pending_approval" and mandate.next_charge_at is None
    assert render(mandate, api.links.approval_url(mandate))["approval_url"] == f"https://pay.example/{mandate.id}"


def test_start_at_in_future_moves_the_anchor(api: UseCases) -> None:
    # When a mandate starts on Jan 31 on a plan with a 14-day trial
    plan = api.plans.create(A, GOLD)
    mandate = api.mandates.get(A, active_mandate(api, plan.id, start_at="2027-01-31T10:00:00Z"))
    # Then its first charge is 14 days after the start
    assert mandate.next_charge_at == datetime(2027, 2, 14, 10, tzinfo=timezone.utc)


def test_end_at_in_the_past_is_refused(api: UseCases) -> None:
    plan = api.plans.create(A, GOLD)
    # When a mandate would end before now, Then it is refused, naming end_at
    with pytest.raises(ValidationFailed) as error:
        active_mandate(api, plan.id, end_at="2026-01-01T00:00:00Z")
    assert error.value.param == "end_at"


def test_mandate_ending_before_its_first_cycle_completes_on_activation(api: UseCases, repo: InMemoryRepository) -> None:
    # Given a plan with a 14-day trial
    plan = api.plans.create(A, GOLD)
    # When a mandate is activated that ends before its first charge
    mandate = api.mandates.get(A, active_mandate(api, plan.id, end_at="2026-12-01T00:00:00Z"))
    # Then it is completed at once: nothing is ever charged
    assert mandate.status == "completed" and mandate.next_charge_at is None and mandate.ended_at is not None
    assert types(repo)[-1] == "mandate.completed"


@pytest.mark.parametrize("final", ["cancel", "revoke"])
def test_final_statuses_allow_no_further_action(api: UseCases, final: str) -> None:
    # Given an active mandate
    plan = api.plans.create(A, GOLD)
    mandate_id = active_mandate(api, plan.id)
    # When it is cancelled or revoked
    ended = getattr(api.mandates, final)(A, mandate_id)
    # Then it is final: no next charge, and every further change is refused
    assert ended.status == {"cancel": "cancelled", "revoke": "revoked"}[final]
    assert ended.next_charge_at is None
    for action in (api.mandates.cancel, api.mandates.revoke, api.mandates.resume):
        with pytest.raises(InvalidState):
            action(A, mandate_id)
    with pytest.raises(InvalidState):
        api.mandates.pause(A, mandate_id, None)
    with pytest.raises(InvalidState):
        api.mandates.replace_payment_method(A, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))


def test_pending_mandate_can_be_cancelled_but_not_paused(api: UseCases) -> None:
    # Given a mandate awaiting approval
    plan = api.plans.create(A, GOLD)
    mandate = api.mandates.create(A, MandateCreate.model_validate({"plan_id": plan.id, "customer": {"reference": "x"}}))
    # Then it cannot be paused (nothing runs yet), but it can be cancelled
    with pytest.raises(InvalidState):
        api.mandates.pause(A, mandate.id, None)
    assert api.mandates.cancel(A, mandate.id).status == "cancelled"


def test_resume_continues_from_next_date_on_or_after_now_without_billing_skipped_periods(
    api: UseCases, repo: InMemoryRepository, clock: FakeClock
) -> None:
    # Given a monthly mandate anchored 2026-11-25 09:00 (cycle 1 due now), paused a second later
    plan = api.plans.create(A, PlanCreate(name="Monthly", amount=500, currency="EUR", interval="month"))
    mandate_id = active_mandate(api, plan.id)
    clock.advance(seconds=1)
    api.mandates.pause(A, mandate_id, None)
    # When it is resumed on 2027-02-03: cycles 2 (Dec 25) and 3 (Jan 25) fell inside the pause
    clock.advance(days=70)
    resumed = api.mandates.resume(A, mandate_id)
    # Then it is active again resumed.status == "active"
    # Cycle 1 fell due before the pause: still owed, dispatched first; then Feb 25 (cycle 4)
    assert resumed.next_cycle == 1
    assert [c for c, _ in resumed.upcoming_charges(clock.now(), 3)] == [1, 4, 5]
    resumed.advance_schedule()  # what the dispatcher does when it creates cycle 1's charge
    assert resumed.next_cycle == 4 and resumed.next_charge_at == datetime(2027, 2, 25, 9, tzinfo=timezone.utc)
    assert types(repo)[-2:] == ["mandate.paused", "mandate.resumed"]


def test_pause_with_resume_at_is_on_the_due_index_at_resume_time(api: UseCases, clock: FakeClock) -> None:
    # Given an active mandate
    plan = api.plans.create(A, GOLD)
    mandate_id = active_mandate(api, plan.id)
    # When it is paused until a date
    resume_at = clock.now() + timedelta(days=40)
    paused = api.mandates.pause(A, mandate_id, PauseIn(resume_at=resume_at))
    # Then the engine looks at it again exactly then; pausing twice, or until a past date, is refused
    assert paused.resume_at == resume_at and paused.dispatch_at == resume_at
    with pytest.raises(InvalidState):
        api.mandates.pause(A, mandate_id, None)
    api.mandates.resume(A, mandate_id)
    with pytest.raises(ValidationFailed) as error:
        api.mandates.pause(A, mandate_id, PauseIn(resume_at=clock.now() - timedelta(days=1)))
    assert error.value.param == "resume_at"


def test_schedule_preview_writes_nothing_and_respects_total_cycles(api: UseCases, repo: InMemoryRepository) -> None:
    # Given a three-payment monthly mandate starting on Jan 31
    plan = api.plans.create(A, PlanCreate(name="Three", amount=700, currency="JPY", interval="month", total_cycles=3))
    mandate_id = active_mandate(api, plan.id, start_at="2027-01-31T09:00:00Z")
    commits = len(repo.commits)
    # When twelve charges are previewed
    mandate, upcoming = api.mandates.schedule(A, mandate_id, 12)
    # Then exactly three come, at month ends, and nothing is written
    assert [(k, d.date().isoformat()) for k, d in upcoming] == [(1, "2027-01-31"), (2, "2027-02-28"), (3, "2027-03-31")]
    assert len(repo.commits) == commits


def test_concurrent_change_is_retried_on_fresh_state(api: UseCases, repo: InMemoryRepository) -> None:
    # Given a plan, and another writer winning the race for the next commit
    plan = api.plans.create(A, GOLD)
    repo.fail_next_commit_with = ConcurrentModification("raced")
    # When it is archived, Then the change is redone on fresh state and recorded once
    assert api.plans.archive(A, plan.id).status == "archived"
    assert types(repo) == ["plan.created", "plan.archived"]


def test_lists_are_newest_first_and_paginate_without_gaps(api: UseCases, clock: FakeClock) -> None:
    # Given seven plans created a second apart
    created = []
    for i in range(7):
        clock.advance(seconds=1)
        created.append(api.plans.create(A, GOLD.model_copy(update={"name": f"P{i}"})).id)
    # When they are read three at a time, following the cursor
    seen, cursor = [], None
    while True:
        page = api.plans.page(A, PageRequest(3, cursor))
        seen += [p.id for p in page.data]
        if not page.has_more:
            break
        cursor = page.next_cursor
    # Then each comes once, newest first
    assert seen == list(reversed(created))


def test_the_customer_changes_the_payment_method_at_most_five_times_a_day_the_merchant_freely(
    api: UseCases, repo: InMemoryRepository, clock: FakeClock
) -> None:
    from billing.domain.errors import TooManyRequests

    # Given an active mandate
    mandate_id = active_mandate(api, api.plans.create(A, GOLD).id)
    card = PaymentMethodIn(gateway="simulated", token="pm_sim_ok")
    # When the customer changes its payment method five times within a day (an hour apart)
    for _ in range(5):
        api.mandates.replace_payment_method(A, mandate_id, card, source="customer")
        clock.advance(hours=1)
    # Then a sixth change that day is refused, saying when it is allowed again (a day after the first)
    with pytest.raises(TooManyRequests) as refused:
        api.mandates.replace_payment_method(A, mandate_id, card, source="customer")
    assert refused.value.retry_at == clock.now() + timedelta(hours=19) and refused.value.status == 429
    # And the merchant's API still changes it
    api.mandates.replace_payment_method(A, mandate_id, card)
    # When the first change is a day old, Then the customer may change it once more, and the mandate keeps at most five times
    clock.advance(hours=19)
    api.mandates.replace_payment_method(A, mandate_id, card, source="customer")
    assert len(repo.get(Mandate, A, mandate_id).customer_method_changes) == 5
