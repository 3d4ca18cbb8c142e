"""Notices before a charge on fakes, on the test clock: `upcoming_charge` the account's number of
days before each cycle's due time and `trial_ending` before the trial's end, found by the
dispatcher's own pass (no scan), each e-mailed at most once whatever runs twice, never for a
charge whose notice time was before the activation, and never once the mandate stopped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from billing.api.requests import AccountUpdate, MandateCreate, PlanCreate
from billing.domain import notices
from billing.emails.render import JinjaEmails
from billing.service.links import ApprovalLinks
from billing.service.notifications import Notifier
from billing.service.ports import PageRequest
from tests.fakes import FakeMailer
from tests.support.values import CONSENT
from tests.world import MERCHANT, World

START = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


class Customer:
    """One customer's mandate with the notifier at the end of the notification queue."""

    def __init__(self, world: World, locale: str = "en", email: str | None = "ona@example.lt", **plan: object) -> None:
        self.world = world
        world.api.account.update(MERCHANT, AccountUpdate(name="Sporto <klubas>", support_email="help@klubas.lt"))
        body = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", **plan}
        plan_id = world.api.plans.create(MERCHANT, PlanCreate.model_validate(body)).id
        customer = {"reference": "c-1", "locale": locale, **({"email": email} if email else {})}
        mandate = {
            "plan_id": plan_id,
            "customer": customer,
            "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
            "consent": CONSENT,
        }
        self.mandate_id = world.api.mandates.create(MERCHANT, MandateCreate.model_validate(mandate)).id
        self.mailer = FakeMailer()
        self.notifier = Notifier(
            world.repo, world.clock, self.mailer, ApprovalLinks(b"k" * 32, "https://pay.example"), JinjaEmails()
        )

    def at(self, moment: datetime) -> None:
        """The clock at `moment`, one scheduler tick, and every notice e-mailed (each handed over twice)."""
        self.world.clock.current = moment
        self.world.tick()
        for message in self.world.notification_queue.take():
            self.notifier.notify(message)
            self.notifier.notify(message)  # SQS delivers at least once

    def notices(self, kind: str | None = None) -> list[dict]:
        return [m for m in self.mailer.sent if m["tags"]["kind"] in ((kind,) if kind else notices.NoticeKind.__args__)]

    @property
    def next_charge_at(self) -> datetime:
        due = self.world.get(self.mandate_id).next_charge_at
        assert due is not None
        return due


@pytest.fixture
def world() -> World:
    return World()


def test_each_cycle_is_announced_once_three_days_before_it_is_due(world: World) -> None:
    # Given a monthly mandate charged at activation (its first notice would be before activation)
    customer = Customer(world)
    customer.at(START)
    assert customer.notices() == [] and len(world.charges(customer.mandate_id)) == 1
    due = customer.next_charge_at
    assert due == datetime(2026, 12, 25, 9, 0, tzinfo=timezone.utc)
    # When the clock reaches one minute before the notice time, nothing is sent
    customer.at(due - timedelta(days=3) - MINUTE)
    assert customer.notices() == []
    # Then at the notice time, one e-mail with the date, the amount and the payment method
    customer.at(due - timedelta(days=3))
    [notice] = customer.notices("upcoming_charge")
    assert notice["subject"] == "Sporto <klubas>: €19.99 will be charged on 25 December 2026"
    assert "On 25 December 2026 Sporto <klubas> will charge €19.99 to Simulated …4242." in notice["text"]
    assert "Sporto &lt;klubas&gt;" in notice["html"] and "<klubas>" not in notice["html"]
    assert "https://pay.example/customer/mandates/" in notice["text"] and notice["reply_to"] == "help@klubas.lt"
    # And running again, or later before the charge, sends nothing more
    customer.at(due - timedelta(days=3))
    customer.at(due - MINUTE)
    assert len(customer.notices()) == 1
    # And the next cycle gets its own notice, three days before it
    customer.at(due)
    customer.at(customer.next_charge_at - timedelta(days=3) - MINUTE)
    assert len(customer.notices()) == 1
    customer.at(customer.next_charge_at - timedelta(days=3))
    assert len(customer.notices("upcoming_charge")) == 2
    recorded = world.api.notifications.page(MERCHANT, PageRequest(), kind="upcoming_charge").data
    assert len(recorded) == 2 and all(n.status == "sent" and n.mandate_id == customer.mandate_id for n in recorded)


def test_a_trial_ends_with_both_notices_at_their_own_times_in_lithuanian(world: World) -> None:
    # Given a 14-day trial; the merchant wants the trial notice 7 days ahead, the charge notice 2
    world.api.account.update(
        MERCHANT, AccountUpdate.model_validate({"notifications": {"trial_ending_days": 7, "upcoming_charge_days": 2}})
    )
    customer = Customer(world, locale="lt", trial_days=14)
    trial_end = START + timedelta(days=14)
    customer.at(START)
    assert customer.next_charge_at == trial_end and customer.notices() == []
    # When the trial's notice time comes, the trial notice goes, and the charge notice waits
    customer.at(trial_end - timedelta(days=7))
    [trial] = customer.notices()
    assert trial["tags"]["kind"] == "trial_ending" and trial["tags"]["locale"] == "lt"
    assert trial["subject"] == "Sporto <klubas>: bandomasis laikotarpis baigiasi 2026 m. gruodžio 9 d."
    assert "tada Sporto <klubas> nuskaitys 19,99\xa0€ kas mėnesį" in trial["text"]
    customer.at(trial_end - timedelta(days=2) - MINUTE)
    assert len(customer.notices()) == 1
    # Then the charge notice at its own time
    customer.at(trial_end - timedelta(days=2))
    assert [m["tags"]["kind"] for m in customer.notices()] == ["trial_ending", "upcoming_charge"]
    # And after the trial's charge only the monthly notices continue
    customer.at(trial_end)
    customer.at(customer.next_charge_at - timedelta(days=2))
    assert [m["tags"]["kind"] for m in customer.notices()] == ["trial_ending", "upcoming_charge", "upcoming_charge"]


def test_no_notice_for_a_charge_whose_notice_time_was_before_the_activation(world: World) -> None:
    # Given a 2-day trial and notices 3 days ahead: both notice times are before the activation
    customer = Customer(world, trial_days=2)
    customer.at(START)
    customer.at(START + timedelta(days=1))
    customer.at(START + timedelta(days=2))  # charged
    assert customer.notices() == [] and len(world.charges(customer.mandate_id)) == 1
    # Then the second cycle is announced as usual
    customer.at(customer.next_charge_at - timedelta(days=3))
    assert [m["tags"]["kind"] for m in customer.notices()] == ["upcoming_charge"]


def test_the_accounts_settings_at_the_time_decide_the_notice_time_and_zero_switches_it_off(world: World) -> None:
    customer = Customer(world)
    customer.at(START)
    due = customer.next_charge_at
    # Given the merchant lengthened the notice to 10 days before the mandate's 14-day look
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"upcoming_charge_days": 10}}))
    customer.at(due - timedelta(days=14))
    assert customer.notices() == []
    customer.at(due - timedelta(days=10))
    assert len(customer.notices()) == 1
    # When the merchant switches the notice off, the next cycle is charged without one
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"upcoming_charge_days": 0}}))
    customer.at(due)
    following = customer.next_charge_at
    customer.at(following - timedelta(days=14))
    # Then the mandate is not looked at again for that cycle before its charge
    assert world.get(customer.mandate_id).dispatch_at == following
    for days in (10, 3, 0):
        customer.at(following - timedelta(days=days))
    assert len(customer.notices()) == 1 and len(world.charges(customer.mandate_id)) == 3


def test_the_notice_shows_the_charge_as_it_will_be_with_items_and_credit(world: World) -> None:
    from billing.api.requests import ItemCreate

    customer = Customer(world)
    customer.at(START)
    world.api.items.create(MERCHANT, customer.mandate_id, ItemCreate(amount=500, description="Towel"))
    customer.at(customer.next_charge_at - timedelta(days=3))
    [notice] = customer.notices()
    assert "€24.99" in notice["subject"]


def test_never_for_a_mandate_that_stopped_before_the_charge_was_due(world: World) -> None:
    # Given a notice dispatched but not yet e-mailed when the customer revokes
    customer = Customer(world)
    customer.at(START)
    world.clock.current = customer.next_charge_at - timedelta(days=3)
    world.dispatch()
    [message] = world.notification_queue.take()
    world.api.mandates.revoke(MERCHANT, customer.mandate_id)
    # When the notifier gets it, nothing is sent
    assert customer.notifier.notify(message) is None
    assert customer.notices() == []
    # And a notice held up in the queue until its charge is due is not sent either
    late = Customer(World())
    late.at(START)
    late.world.clock.current = late.next_charge_at - timedelta(days=3)
    late.world.dispatch()
    [held] = late.world.notification_queue.take()
    late.world.clock.current = late.next_charge_at
    assert late.notifier.notify(held) is None and late.notices() == []
    # And a paused mandate gets no notice until it resumes (then the next charge is announced)
    other = Customer(World())
    other.at(START)
    due = other.next_charge_at
    other.world.api.mandates.pause(MERCHANT, other.mandate_id, None)
    other.at(due - timedelta(days=3))
    assert other.notices() == []
    other.world.api.mandates.resume(MERCHANT, other.mandate_id)
    other.at(other.next_charge_at - timedelta(days=3))
    assert len(other.notices()) == 1


def test_a_charge_due_at_activation_is_not_reported_late_for_its_early_notice_look(world: World) -> None:
    # Given a customer with an address, charged at activation: the mandate's index entry is its
    # notice look, 14 days before the charge
    customer = Customer(world)
    assert world.get(customer.mandate_id).dispatch_at == START - timedelta(days=14)
    # When the dispatcher charges it, Then the lag is the charge's own (none), not 14 days
    report = world.dispatch()
    assert report.new_charges == 1 and report.max_lag_seconds == 0.0
    [message] = world.queue.take()
    assert message.due_at == START


def test_nothing_without_an_address_and_no_extra_dispatch_either(world: World) -> None:
    customer = Customer(world, email=None)
    customer.at(START)
    mandate = world.get(customer.mandate_id)
    assert notices.wake(mandate) is None and mandate.dispatch_at == mandate.next_charge_at


def test_a_notice_the_queue_refused_is_handed_over_at_the_next_run_and_duplicates_send_once(world: World) -> None:
    customer = Customer(world)
    customer.at(START)
    notice_time = customer.next_charge_at - timedelta(days=3)
    # Given the notification queue refuses the notice
    world.notification_queue.refuse = True
    world.clock.current = notice_time
    report = world.dispatch()
    assert report.errors == 1 and report.notices == 0
    # When the next run finds it still due, it is handed over
    world.notification_queue.refuse = False
    world.clock.current = notice_time + MINUTE
    assert world.dispatch().notices == 1
    # And a second run racing on the same stale read hands it over again: the e-mail goes once
    [message] = world.notification_queue.take()
    for _ in range(3):
        customer.notifier.notify(message)
    assert len(customer.notices()) == 1


def test_notice_timing_over_a_year_of_ticks(world: World) -> None:
    """Over a year of hourly ticks: one notice per cycle, sent within an hour of its time, before its charge."""
    customer = Customer(world, interval="week")
    moment = START
    while moment < START + timedelta(days=365):
        customer.at(moment)
        moment += timedelta(hours=1)
    charges = {c.cycle: c.due_at for c in world.charges(customer.mandate_id)}
    sent = world.api.notifications.page(MERCHANT, PageRequest(limit=100), kind="upcoming_charge").data
    assert len(sent) == len(charges) - 1  # every cycle but the first (charged at activation)
    for notification in sent:
        [due] = [due for cycle, due in charges.items() if due - timedelta(days=3) <= notification.created_at < due]
        assert notification.created_at - (due - timedelta(days=3)) < timedelta(hours=1)


def test_one_run_hands_all_its_notices_over_together_then_marks_each_mandate(world: World) -> None:
    # Given two customers whose notices fall due in the same run
    first, second = Customer(world), Customer(world, email="jonas@example.lt")
    first.at(START)
    due = first.next_charge_at
    world.notification_queue.calls = 0
    # When the dispatcher runs at the notice time
    world.clock.current = due - timedelta(days=3)
    report = world.dispatch()
    # Then both notices went to the notification queue in one call, and both mandates are marked done
    assert report.notices == 2 and world.notification_queue.calls == 1
    assert {m.mandate_id for m in world.notification_queue.take()} == {first.mandate_id, second.mandate_id}
    assert all(world.get(c.mandate_id).noticed_cycle == 2 for c in (first, second))
    # And a mandate changed between the hand-over and its marking is looked at again: the notice
    # goes to the queue once more, and the notifier records the e-mail once
    third = Customer(World())
    third.at(START)
    third.world.clock.current = third.next_charge_at - timedelta(days=3)
    third.world.repo.conflicts_left = 1  # the marking loses a race (the send is not a write)
    report = third.world.dispatch()
    assert report.conflicts == 1 and report.notices == 1
    assert third.world.dispatch().notices == 1  # still due: handed over again
    for message in third.world.notification_queue.take():
        third.notifier.notify(message)
    assert len(third.notices()) == 1
