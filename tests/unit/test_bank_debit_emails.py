"""Bank debits in the customer's e-mails: the pre-notification is mandatory (2 days before the
debit when the account asks for no notice, the account's days otherwise) and names the mandate
reference; a debit the bank returned is told once, as returned, with the reason in plain words
and the next retry; en and lt."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from billing.api.requests import AccountUpdate, ItemCreate, MandateCreate, PaymentMethodIn, PlanChangeIn, PlanCreate
from billing.domain import notices, payment_methods
from billing.domain.account import NotificationSettings
from billing.emails.render import JinjaEmails, render
from billing.service.links import ApprovalLinks
from billing.service.messages import NotificationMessage
from billing.service.notifications import Notifier, messages_for_event
from billing.service.ports import Changes, EmailFacts
from tests.fakes import FakeMailer
from tests.support.values import CONSENT
from tests.world import MERCHANT, World

START = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


class BankCustomer:
    """A customer paying by a simulated SEPA debit after a 30-day trial (nothing charged before the notice)."""

    def __init__(self, world: World, upcoming_charge_days: int, locale: str = "en", token: str = "pm_sim_sepa_ok") -> None:
        self.world = world
        world.api.account.update(
            MERCHANT,
            AccountUpdate.model_validate(
                {"name": "Sporto klubas", "notifications": {"upcoming_charge_days": upcoming_charge_days}}
            ),
        )
        body = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "trial_days": 30}
        plan_id = world.api.plans.create(MERCHANT, PlanCreate.model_validate(body)).id
        mandate = {
            "plan_id": plan_id,
            "customer": {"reference": "c-1", "locale": locale, "email": "ona@example.lt", "name": "Ona Onaitė"},
            "payment_method": {"gateway": "simulated", "token": token},
            "consent": CONSENT,
        }
        self.mandate_id = world.api.mandates.create(MERCHANT, MandateCreate.model_validate(mandate)).id
        self.mailer = FakeMailer()
        self.notifier = Notifier(
            world.repo, world.clock, self.mailer, ApprovalLinks(b"k" * 32, "https://pay.example"), JinjaEmails()
        )

    def at(self, moment: datetime) -> None:
        self.world.clock.current = moment
        self.world.tick()
        for message in self.world.notification_queue.take():
            self.notifier.notify(message)
            self.notifier.notify(message)  # SQS delivers at least once

    def sent(self, kind: str) -> list[dict]:
        return [m for m in self.mailer.sent if m["tags"]["kind"] == kind]


def due_in_5_days(world: World, token: str) -> str:
    """A mandate of a 19.99 plan whose first charge is due in 5 days, for a customer with an address."""
    customer = {"reference": "c", "email": "o@example.lt", "name": "Ona Onaitė"}
    start = (world.clock.now() + timedelta(days=5)).isoformat()
    return world.mandate(world.plan(amount=1999), token, customer=customer, start_at=start)


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(("days", "expected"), [(0, 2), (5, 5)])
def test_a_bank_debit_is_always_pre_notified_with_its_mandate_reference(world: World, days: int, expected: int) -> None:
    # Given a bank-debit mandate of an account whose upcoming-charge notice is `days` (0: off)
    customer = BankCustomer(world, upcoming_charge_days=days)
    customer.at(START)
    due = START + timedelta(days=30)
    assert world.get(customer.mandate_id).next_charge_at == due
    # When the clock reaches a minute before `expected` days ahead, Then nothing is sent yet
    customer.at(due - timedelta(days=expected) - MINUTE)
    assert customer.sent("upcoming_charge") == []
    # When it reaches `expected` days before the debit, Then one pre-notification names amount, date and mandate reference
    customer.at(due - timedelta(days=expected))
    [notice] = customer.sent("upcoming_charge")
    reference = payment_methods.mandate_reference(customer.mandate_id)
    assert world.get(customer.mandate_id).mandate_reference == reference
    assert (
        f"On 25 December 2026 Sporto klubas will debit €19.99 from your bank account IBAN …3000 by SEPA Direct Debit, "
        f"mandate reference {reference}." in notice["text"]
    )
    assert reference in notice["html"]
    customer.at(due - MINUTE)
    assert len(customer.sent("upcoming_charge")) == 1  # once


def test_the_notice_days_rule_itself(world: World) -> None:
    # Given a bank-debit mandate and a card mandate
    bank = world.get(BankCustomer(world, upcoming_charge_days=0).mandate_id)
    off, five = NotificationSettings(upcoming_charge_days=0), NotificationSettings(upcoming_charge_days=5)
    # Then a bank debit's notice is 2 days ahead when off, the account's days otherwise; a trial notice is never forced
    assert notices.days_before(bank, "upcoming_charge", off) == notices.BANK_DEBIT_NOTICE_DAYS == 2
    assert notices.days_before(bank, "upcoming_charge", five) == 5
    assert notices.days_before(bank, "trial_ending", NotificationSettings(trial_ending_days=0)) == 0
    card = bank.model_copy(update={"payment_method": bank.payment_method.model_copy(update={"type": "card"})})
    assert notices.days_before(card, "upcoming_charge", off) == 0 and not notices.mandatory(card, "upcoming_charge")


@pytest.mark.parametrize("lang", ["en", "lt"])
def test_the_pre_notification_and_a_returned_debit_read_right_in_both_languages(lang: str) -> None:
    # Given a bank debit's facts
    base = {
        "lang": lang,
        "merchant": "Sporto <klubas>",
        "page_url": "https://pay.example/customer/mandates/t",
        "currency": "EUR",
        "amount": 1999,
        "date": datetime(2026, 12, 25, 9, tzinfo=timezone.utc),
        "method": "IBAN …3000",
        "mandate_reference": "RP-ABC123",
    }
    # When the pre-notification renders, Then it names the mandate reference, the amount and the date
    notice = render(EmailFacts(kind="upcoming_charge", **base))
    assert "RP-ABC123" in notice.text and "RP-ABC123" in notice.html
    assert ("€19.99" if lang == "en" else "19,99\xa0€") in notice.text
    assert ("25 December 2026" if lang == "en" else "2026 m. gruodžio 25 d.") in notice.text
    assert ("SEPA Direct Debit" if lang == "en" else "SEPA tiesioginiu debetu") in notice.text
    # When a returned debit renders, Then it says the bank returned it, why, when it is tried again, and links the page
    retry = datetime(2027, 1, 1, 9, tzinfo=timezone.utc)
    returned = render(
        EmailFacts(kind="payment_failed", decline_code="insufficient_funds", retry_date=retry, reversed=True, **base)
    )
    if lang == "en":
        assert returned.subject == "Sporto <klubas>: your payment of €19.99 was returned by your bank"
        assert "Your bank returned the payment of €19.99 to Sporto <klubas> debited on 25 December 2026" in returned.text
        assert "there were not enough funds" in returned.text and "We will try again on 1 January 2027." in returned.text
    else:
        assert returned.subject == "Sporto <klubas>: jūsų bankas grąžino 19,99\xa0€ mokėjimą"
        assert "nepakako lėšų" in returned.text and "Bandysime dar kartą 2027 m. sausio 1 d." in returned.text
    assert "https://pay.example/customer/mandates/t" in returned.text and "Sporto &lt;klubas&gt;" in returned.html
    final = render(EmailFacts(kind="payment_failed", decline_code="mandate_revoked", reversed=True, **base))
    assert ("We will not try again" if lang == "en" else "Patys daugiau nebandysime") in final.text


def test_a_reversal_and_its_retry_event_ask_for_one_e_mail_about_the_same_attempt() -> None:
    # Given the two events a reversed debit publishes, with the same charge snapshot
    charge = {"id": "chg_1", "mandate_id": "mdt_1", "attempts": [{"outcome": "declined"}], "failure_code": "insufficient_funds"}
    charge["next_attempt_at"] = "2027-01-01T09:00:00Z"

    def event(kind: str) -> dict:
        return {
            "id": "evt_" + kind.replace(".", "").replace("_", ""),
            "type": kind,
            "merchant_id": MERCHANT,
            "created_at": "2026-12-30T09:00:00Z",
            "data": {"object": charge},
        }

    # When each asks for its e-mails, Then both ask for the payment_failed e-mail of attempt 1 (sent once: one occasion)
    asked = [messages_for_event(event(kind)) for kind in ("charge.reversed", "charge.retry_scheduled")]
    assert all(len(m) == 1 and m[0].kind == "payment_failed" for m in asked)
    assert {m[0].occasion for m in asked} == {"chg_1:1"}
    assert isinstance(asked[0][0], NotificationMessage)


def test_a_payment_returned_by_the_bank_is_e_mailed_once_as_returned_with_the_next_retry(world: World) -> None:
    from billing.service.gateway_events import GatewayEvent, GatewayEvents
    from billing.shapes import render_event

    # Given a customer whose first payment (by card: settled at once) went through
    customer = BankCustomer(world, upcoming_charge_days=3, token="pm_sim_ok")
    customer.at(START + timedelta(days=30))
    [charge] = world.charges(customer.mandate_id)
    assert charge.status == "succeeded"
    # When the gateway reports the payment returned by the customer's bank
    event = GatewayEvent(
        id="evt_returned_1",
        gateway="simulated",
        event_type="test",
        created=world.clock.now(),
        merchant_id=MERCHANT,
        payment={"charge_id": charge.id, "attempt": 1, "outcome": "reversed", "decline_code": "insufficient_funds"},
    )
    assert GatewayEvents(world.repo, world.clock, world.ids).apply(event).status == "applied"
    # And every event is delivered to the notifier, twice
    for _ in range(2):
        for recorded in world.repo.events(MERCHANT):
            for message in messages_for_event({**render_event(recorded), "merchant_id": MERCHANT}):
                customer.notifier.notify(message)
    # Then one payment_failed e-mail says the bank returned it, why, when it is tried again, and where to change the method
    [returned] = customer.sent("payment_failed")
    assert returned["subject"] == "Sporto klubas: your payment of €19.99 was returned by your bank"
    assert "Your bank returned the payment of €19.99 to Sporto klubas debited on 25 December 2026" in returned["text"]
    assert "there were not enough funds" in returned["text"] and "We will try again on" in returned["text"]
    assert "https://pay.example/customer/mandates/" in returned["text"]


def test_a_bank_debit_due_at_activation_is_pre_notified_first_and_debited_days_later(world: World) -> None:
    # Given an account whose upcoming-charge notice is off, and a bank-debit mandate due at once (no trial)
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"upcoming_charge_days": 0}}))
    mandate_id = world.mandate(world.plan(), "pm_sim_sepa_ok", customer={"reference": "c", "email": "o@example.lt", "name": "O"})
    notifier = Notifier(world.repo, world.clock, FakeMailer(), ApprovalLinks(b"k" * 32, "https://pay.example"), JinjaEmails())
    start = world.clock.now()
    # When the dispatcher runs at once
    world.tick()
    # Then the pre-notification goes, naming the debit 2 days later, and nothing is debited yet
    [notice] = [m for m in world.notification_queue.take() if m.kind == "upcoming_charge"]
    assert notice.due_at == start + timedelta(days=2) == world.get(mandate_id).next_debit_at
    notifier.notify(notice)
    assert [m["tags"]["kind"] for m in notifier.mailer.sent] == ["upcoming_charge"]  # type: ignore[attr-defined]
    world.clock.current = start + timedelta(days=2) - MINUTE
    world.tick()
    assert world.charges(mandate_id) == [] and world.gateway.calls == []
    # And on that date it is debited
    world.clock.current = start + timedelta(days=2)
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "processing" and charge.due_at == start


def test_a_debit_returned_days_late_is_retried_no_sooner_than_2_days_after_the_return(world: World) -> None:
    # Given a settled bank debit of a plan that retries a day after the due time
    mandate_id = world.mandate(world.plan(retry_schedule_days=[1]), "pm_sim_sepa_ok")
    world.first_debit(mandate_id)
    [charge] = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    # When the bank returns it a week later
    world.clock.advance(days=7)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    # Then its retry is 2 days after the return, never in the past
    [after] = world.charges(mandate_id)
    assert after.status == "retrying" and after.next_attempt_at == world.clock.now() + timedelta(days=2)
    assert world.get(mandate_id).attempt_at == after.next_attempt_at


def test_an_amount_changed_after_the_notice_is_announced_again_and_debited_days_later(world: World) -> None:
    # Given a bank debit due in 5 days, its 2-day notice given (notices off at the account: the mandatory 2 days)
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"upcoming_charge_days": 0}}))
    mandate_id = due_in_5_days(world, "pm_sim_sepa_ok")
    notifier = Notifier(world.repo, world.clock, FakeMailer(), ApprovalLinks(b"k" * 32, "https://pay.example"), JinjaEmails())
    due = world.get(mandate_id).next_charge_at
    world.clock.current = due - timedelta(days=2)
    world.tick()
    [first] = world.notification_queue.take()
    assert first.due_at == due and notifier.notify(first).status == "sent"
    # When the merchant adds an item the day before the debit
    world.clock.current = due - timedelta(days=1)
    world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=500, description="Towel"))
    world.tick()
    # Then the debit is announced again with its new amount (its own e-mail), 2 days from now
    [again] = world.notification_queue.take()
    assert (again.kind, again.occasion[:4], again.due_at) == ("upcoming_charge", "1.1.", world.clock.now() + timedelta(days=2))
    assert notifier.notify(again).status == "sent"
    texts = [m["text"] for m in notifier.mailer.sent]  # type: ignore[attr-defined]
    assert "€19.99" in texts[0] and "€24.99" in texts[1]
    # And nothing is debited on the date first named, only on the new one, for the amount announced
    world.clock.current = due
    world.tick()
    assert world.charges(mandate_id) == []
    world.clock.current = again.due_at
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.amount == 2499 and charge.status == "processing"
    assert len(notifier.mailer.sent) == 2  # type: ignore[attr-defined]


def test_a_plan_change_now_after_the_notice_never_debits_before_the_date_named(world: World) -> None:
    # Given a bank debit announced (3 days ahead) for the 25th
    mandate_id = due_in_5_days(world, "pm_sim_sepa_ok")
    due = world.get(mandate_id).next_charge_at
    world.clock.current = due - timedelta(days=3)
    world.tick()
    [notice] = world.announce()  # e-mailed
    # When the merchant moves it to another plan of the same amount, starting now
    other = world.plan(amount=1999, interval="week")
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=other, at="now", prorate=False))
    assert world.get(mandate_id).next_charge_at == world.clock.now()
    world.tick()
    # Then nothing is announced again (same amount) and nothing is debited before the date named
    assert world.announce() == [] and world.charges(mandate_id) == []
    world.clock.current = notice.due_at
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.amount == 1999 and charge.plan_id == other


def test_a_cycle_credit_covered_then_billed_for_an_item_is_announced_before_it_is_debited(world: World) -> None:
    # Given a bank-debit mandate whose next cycle costs nothing (its credit covers it): no notice is due
    mandate_id = due_in_5_days(world, "pm_sim_sepa_ok")
    mandate = world.get(mandate_id)
    world.repo.commit(Changes(put=[mandate.model_copy(update={"credit": 1999})]))
    due = mandate.next_charge_at
    world.clock.current = due - timedelta(days=3)
    world.tick()
    assert world.announce() == []
    # When an item is added the day before
    world.clock.current = due - timedelta(days=1)
    world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=700, description="Towel"))
    world.tick()
    # Then the 7.00 debit is announced first, and made 3 days later (the account's notice days)
    [notice] = world.announce()
    assert notice.occasion.startswith("1.1.") and notice.due_at == world.clock.now() + timedelta(days=3)
    world.clock.current = due
    world.tick()
    assert world.charges(mandate_id) == []
    world.clock.current = notice.due_at
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.amount == 700


def test_a_switch_from_card_to_bank_account_after_the_card_notice_is_pre_notified_as_a_debit(world: World) -> None:
    # Given a card mandate told of its charge 3 days ahead
    mandate_id = due_in_5_days(world, "pm_sim_ok")
    due = world.get(mandate_id).next_charge_at
    world.clock.current = due - timedelta(days=3)
    world.tick()
    [card_notice] = world.notification_queue.take()
    # When the customer switches to a bank account the day before
    world.clock.current = due - timedelta(days=1)
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_sepa_ok"))
    world.tick()
    # Then the debit is announced (a bank debit's notice, with its mandate reference) and made 3 days later
    [notice] = world.announce()
    assert notice.occasion.startswith("1.1.") and notice.due_at == world.clock.now() + timedelta(days=3) > card_notice.due_at
    world.clock.current = due
    world.tick()
    assert world.charges(mandate_id) == []
    world.clock.current = notice.due_at
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "processing"
