"""A bank debit's announcement names a cycle: once that cycle is no longer the one the mandate
will debit (a pause skipped it), a notice still in the queue for it is not e-mailed (no e-mail
names an amount or date that is not debited); the next cycle gets its own notice and is debited
on the date it names. (Found by the stateful test: an announcement e-mailed for a skipped cycle.)"""

from __future__ import annotations

from datetime import timedelta

from billing.api.requests import AccountUpdate
from billing.emails.render import JinjaEmails
from billing.service.links import ApprovalLinks
from billing.service.notifications import Notifier
from tests.fakes import FakeMailer
from tests.world import MERCHANT, World

CUSTOMER = {"reference": "c", "email": "o@example.lt", "name": "Ona Onaitė"}


def upcoming(notifier: Notifier) -> list[dict]:
    return [m for m in notifier.mailer.sent if m["tags"]["kind"] == "upcoming_charge"]  # type: ignore[attr-defined]


def test_a_notice_for_a_cycle_a_pause_skipped_is_not_e_mailed_and_the_next_cycle_is_announced_then_debited() -> None:
    # Given a weekly bank debit due at activation, its notice (3 days) handed over but not e-mailed yet
    world = World()
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"upcoming_charge_days": 3}}))
    mandate_id = world.mandate(world.plan(interval="week"), "pm_sim_sepa_insufficient_funds", customer=CUSTOMER)
    notifier = Notifier(world.repo, world.clock, FakeMailer(), ApprovalLinks(b"k" * 32, "https://pay.example"), JinjaEmails())
    world.tick()
    [stale] = world.notification_queue.take()
    assert stale.occasion.split(".")[0] == "1" and world.charges(mandate_id) == []
    # When the merchant pauses at once and resumes 6 hours later (cycle 1, due inside the pause, is not billed)
    world.api.mandates.pause(MERCHANT, mandate_id, None)
    world.clock.advance(hours=6)
    world.api.mandates.resume(MERCHANT, mandate_id)
    assert world.get(mandate_id).next_cycle == 2
    world.dispatch()
    # Then the queued notice of cycle 1 is not e-mailed (nothing will be debited on the date it names)
    assert notifier.notify(stale) is None
    assert upcoming(notifier) == []
    world.clock.current = stale.due_at
    world.tick()
    assert world.charges(mandate_id) == [] and world.gateway.calls == []
    # And cycle 2 is announced (its own e-mail, 3 days before it) and debited on the date it names
    due = world.get(mandate_id).next_charge_at
    assert due is not None
    world.clock.current = due - timedelta(days=3)
    world.tick()
    [notice] = world.notification_queue.take()
    assert notice.occasion.split(".")[0] == "2" and notice.due_at == due
    assert notifier.notify(notice).status == "sent"
    world.clock.current = due
    world.tick()
    [charge] = world.charges(mandate_id)
    assert (charge.cycle, charge.amount, charge.status) == (2, 1999, "processing")
    assert len(upcoming(notifier)) == 1  # the customer was told of the one debit made, once
