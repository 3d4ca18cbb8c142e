"""Adversarial review of issue 22's money-adjacent paths: each test is an attack (Given/When/Then)
that failed on the code as it landed, kept as a regression test next to its fix."""

from __future__ import annotations

import pytest

from billing.api.requests import AccountUpdate
from billing.domain.charge import Charge
from billing.domain.webhooks import WebhookDelivery
from billing.service.messages import NotificationMessage, PublishedEvent, ReceiptRequest
from billing.service.notifications import NotificationRequests
from billing.service.receipts import ReceiptNumbering, ReceiptRequests
from tests.webhook_world import A, Webhooks
from tests.world import MERCHANT, World, settled_charge


@pytest.fixture
def w() -> Webhooks:
    return Webhooks()


# ----------------------------------------------------------------------------- webhook deliveries
def test_a_racing_wake_up_that_failed_never_moves_a_succeeded_delivery_back(w: Webhooks) -> None:
    # Given a pending delivery woken twice (its scheduled wake-up and a redelivered copy), both at
    # the endpoint at once: the second one's POST fails while the first one's succeeds and is recorded
    w.endpoint()
    [d] = w.fan_out.fan_out(w.event())
    w.sender.script = [(500, "http_status")]
    post = w.sender.post

    def racing_post(*args, **kwargs):  # type: ignore[no-untyped-def]
        w.sender.post = post
        answer = post(*args, **kwargs)  # the failed one
        w.deliverer.attempt(A, d.id)  # meanwhile the other wake-up succeeds and records first
        return answer

    w.sender.post = racing_post
    # When the failed attempt is recorded (on a fresh read, after its conflict)
    outcome = w.deliverer.attempt(A, d.id)
    # Then the delivery stays succeeded: no further attempt is scheduled, nothing is woken again
    stored = w.repo.get(WebhookDelivery, A, d.id)
    assert stored is not None and stored.status == "succeeded" and stored.next_attempt_at is None
    assert len(stored.attempts) == 2  # both attempts happened and are kept
    assert outcome.later is None


# ----------------------------------------------------------------------------- receipt numbering
def _charge(world: World, merchant: str, n: int, status: str = "succeeded") -> Charge:
    return settled_charge(world, merchant, n, status)


def _request(charge: Charge, merchant: str | None = None, has_email: bool | None = True) -> ReceiptRequest:
    return ReceiptRequest(
        merchant_id=merchant or charge.merchant_id,
        charge_id=charge.id,
        mandate_id=charge.mandate_id,
        customer_has_email=has_email,
    )


def _numbers(world: World, merchant: str) -> dict[str, int | None]:
    return {c.id: c.receipt_seq for c in world.repo.charges(merchant)}


@pytest.fixture
def world() -> World:
    return World()


def _receipts(world: World) -> ReceiptRequests:
    return ReceiptRequests(world.repo, ReceiptNumbering(world.repo, world.clock), world.notification_queue)


def test_a_batch_read_on_a_stale_counter_numbers_each_charge_once_and_without_a_gap(world: World) -> None:
    # Given merchant A's counter read for the batch, then another writer numbering a charge
    first, second = _charge(world, "mch_a", 1), _charge(world, "mch_a", 2)
    numbering = ReceiptNumbering(world.repo, world.clock)
    stale = world.repo.load_receipt_series(["mch_a"])["mch_a"]
    numbering.assign("mch_a", [first.id])
    # When the batch numbers both charges on its stale read
    done = numbering.number("mch_a", [_request(first), _request(second)], stale)
    # Then the first keeps its number, the second gets the next one: 1, 2 and no other
    assert _numbers(world, "mch_a") == {first.id: 1, second.id: 2} and done.count == 1
    assert sorted(m.charge_id for m in done.emails) == sorted([first.id, second.id])  # the notifier sends each once


def test_a_batch_with_duplicates_a_failed_charge_and_two_merchants_numbers_each_succeeded_charge_once(world: World) -> None:
    # Given A's two succeeded charges (one asked twice), a failed one, and B's charge
    a1, a2, failed, b1 = (
        _charge(world, "mch_a", 1),
        _charge(world, "mch_a", 2),
        _charge(world, "mch_a", 3, "failed"),
        _charge(world, "mch_b", 4),
    )
    batch = [_request(a1), _request(b1), _request(a1), _request(failed), _request(a2)]
    # When the batch is handled, then delivered again
    first = _receipts(world).handle(batch)
    again = _receipts(world).handle(batch)
    # Then each succeeded charge has one number, each series is 1..n, the failed charge none
    assert _numbers(world, "mch_a") == {a1.id: 1, a2.id: 2, failed.id: None}
    assert _numbers(world, "mch_b") == {b1.id: 1}
    assert (first.numbered, first.retry_from, again.numbered, again.retry_from) == (3, None, 0, None)
    # And no receipt e-mail is asked for the failed charge
    assert failed.id not in {m.charge_id for m in world.notification_queue.messages}


def test_a_request_naming_another_merchant_never_numbers_or_mails_that_merchants_charge(world: World) -> None:
    # Given B's succeeded charge, and a request that claims it for merchant A
    b1 = _charge(world, "mch_b", 1)
    # When A's request is handled
    out = _receipts(world).handle([_request(b1, merchant="mch_a")])
    # Then B's charge has no number (B's series untouched) and nothing is asked for A
    assert _numbers(world, "mch_b") == {b1.id: None} and out.numbered == 0
    assert world.notification_queue.messages == []


def test_no_receipt_email_is_asked_for_a_customer_without_an_address_nor_when_receipts_are_off(world: World) -> None:
    # Given a charge whose customer has no address, and one of a merchant who sends no receipts
    no_address, quiet = _charge(world, "mch_a", 1), _charge(world, "mch_b", 2)
    world.api.account.update("mch_b", AccountUpdate(notifications={"receipts": False}))
    # When both are numbered (on the fast path and on the reading one)
    _receipts(world).handle([_request(no_address, has_email=False), _request(quiet)])
    world.notification_queue.messages.clear()
    _receipts(world).handle([_request(no_address, has_email=False), _request(quiet)])  # redelivered: the reading way
    # Then both are numbered and no e-mail is asked for
    assert _numbers(world, "mch_a") == {no_address.id: 1} and _numbers(world, "mch_b") == {quiet.id: 1}
    assert world.notification_queue.messages == []


# ----------------------------------------------------------------------------- notifier batches
@pytest.mark.parametrize(
    "data",
    [
        {},  # no object at all
        {"object": {"id": "not-a-mandate"}},  # an id no e-mail can name
    ],
)
def test_a_malformed_published_event_fails_alone_and_the_rest_of_the_batch_is_sent(world: World, data: dict) -> None:
    from tests.unit.test_customer_emails import setup

    # Given a batch holding an activation e-mail and a published event whose object is malformed
    mandate, mailer, notifier = setup(world)
    forged = PublishedEvent.model_validate(
        {"object": "event", "id": "evt_1", "type": "mandate.activated", "data": data, "merchant_id": MERCHANT}
    )
    good = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    # When the batch is handled
    out = NotificationRequests(notifier).handle([forged, good])
    # Then the good e-mail went once, and only the malformed record comes back
    assert [m["to"] for m in mailer.sent] == ["jonas@example.lt"]
    assert [position for position, _ in out.failed] == [0]


# ----------------------------------------------------------------------------- webhook fan-out
def test_an_event_after_a_first_endpoint_whose_list_lags_its_count_comes_back_and_is_delivered(w: Webhooks) -> None:
    from billing.domain.webhooks import WebhookEndpoint

    # Given merchant A's first endpoint, created just now: its count says 1, but the list (an
    # index, eventually consistent) does not show it yet
    endpoint_id, _ = w.endpoint()
    real = w.repo.page
    w.repo.page = lambda model, *a, **k: (  # type: ignore[method-assign]
        type(real(model, *a, **k))([], False, None) if model is WebhookEndpoint else real(model, *a, **k)
    )
    event = w.event()
    # When an event recorded after the creation is fanned out
    [result] = w.fan_out.fan_out_all([event])
    # Then it is not done with silently: its message comes back
    assert result.error is not None and result.deliveries == []
    # And once the list shows the endpoint, the event comes back and gets its delivery
    w.repo.page = real  # type: ignore[method-assign]
    [delivery] = w.fan_out.fan_out(event)
    assert delivery.endpoint_id == endpoint_id and delivery.status == "pending"


# ----------------------------------------------------------------------------- queue messages and money
@pytest.mark.parametrize("amount", [0, -1999])
def test_an_attempt_message_whose_charge_collects_nothing_or_less_is_refused_before_any_gateway_call(
    world: World, amount: int
) -> None:
    import json

    from pydantic import ValidationError

    from billing.service.messages import parse_gateway_message

    # Given a claimed attempt as the dispatcher sent it
    world.mandate(world.plan())
    world.dispatch()
    [message] = world.queue.messages
    body = json.loads(message.model_dump_json())
    # When its charge's amount is changed to collect nothing, or to pay money out
    body["charge"]["amount"] = amount
    # Then the charge queue refuses it at the boundary (the record fails alone; no gateway is asked)
    with pytest.raises(ValidationError):
        parse_gateway_message(json.dumps(body))
