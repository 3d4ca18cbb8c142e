"""Every queue message is one pydantic model with a `type` discriminator, parsed once by its
queue's union; messages sent before the discriminator existed (in flight at a deploy) still parse."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from billing.service.messages import (
    MailFeedback,
    NotificationMessage,
    PublishedEvent,
    ReceiptRequest,
    RefundMessage,
    WakeMessage,
    parse_gateway_message,
    parse_notification_message,
    parse_published_event,
    parse_receipt_request,
    parse_wake_message,
    published_events,
)

REFUND = {"merchant_id": "mch_1", "refund_id": "rfd_1", "dispatched_at": "2026-11-25T09:00:00Z"}


def test_each_message_says_its_type_and_parses_back_as_itself() -> None:
    # Given messages as the senders write them
    refund = RefundMessage.model_validate(REFUND)
    email = NotificationMessage(merchant_id="mch_1", kind="receipt", mandate_id="mdt_1", charge_id="chg_1", occasion="chg_1")
    wake = WakeMessage(merchant_id="mch_1", delivery_id="wd_1")
    receipt = ReceiptRequest(merchant_id="mch_1", charge_id="chg_1", mandate_id="mdt_1", customer_has_email=True)
    # Then each body names its type, and its queue's parser gives the same message back
    assert json.loads(refund.model_dump_json())["type"] == "refund"
    assert parse_gateway_message(refund.model_dump_json()) == refund
    assert json.loads(email.model_dump_json())["type"] == "email"
    assert parse_notification_message(email.model_dump_json()) == email
    assert parse_wake_message(wake.model_dump_json()) == wake
    assert parse_receipt_request(receipt.model_dump_json()) == receipt


def test_messages_sent_before_the_type_existed_still_parse() -> None:
    # Given bodies without `type`, as the previous version sent them
    assert isinstance(parse_gateway_message(json.dumps(REFUND)), RefundMessage)
    old_email = {"merchant_id": "mch_1", "kind": "mandate_activated", "mandate_id": "mdt_1"}
    assert isinstance(parse_notification_message(json.dumps(old_email)), NotificationMessage)
    request = parse_receipt_request(json.dumps({"merchant_id": "mch_1", "charge_id": "chg_1"}))
    assert (request.mandate_id, request.customer_has_email) == (None, None)  # numbered the reading way


def test_the_notification_queue_tells_events_and_ses_reports_by_their_own_fields() -> None:
    # Given a published event (its own `type` is the event type) and an SES report
    event = {"object": "event", "id": "evt_1", "type": "charge.failed", "data": {"object": {"id": "chg_1"}}}
    report = {"eventType": "Bounce", "mail": {"messageId": "m-1"}, "bounce": {"bounceType": "Permanent"}}
    # Then each parses as what it is
    parsed = parse_notification_message(json.dumps(event))
    assert isinstance(parsed, PublishedEvent) and parsed.event_type == "charge.failed"
    assert isinstance(parse_notification_message(json.dumps(report)), MailFeedback)
    assert parse_published_event(json.dumps(event), "mch_1").merchant_id == "mch_1"


@pytest.mark.parametrize(
    "body",
    [
        {**REFUND, "type": "attempt"},  # says it is an attempt, is not one
        {**REFUND, "type": "teleport"},
        {**REFUND, "refund_id": "chg_1"},
    ],
)
def test_a_message_that_is_not_what_its_type_says_is_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        parse_gateway_message(json.dumps(body))


def test_unpublished_event_keys_say_their_type_and_those_left_before_it_are_still_recognised() -> None:
    from billing.service.messages import UnpublishedEventsMessage

    # Given keys left as the publisher leaves them now, and as it left them before `type` existed
    new = json.loads(UnpublishedEventsMessage.of([("mch_1", "evt_1")]).model_dump_json())
    old = {"kind": "unpublished_events", "events": [{"merchant_id": "mch_1", "event_id": "evt_1"}]}
    # Then both are recognised and parse to the same keys; a stream batch position is not one
    assert new["type"] == "unpublished_events"
    for body in (new, old):
        assert UnpublishedEventsMessage.describes(body)
        assert [(k.merchant_id, k.event_id) for k in UnpublishedEventsMessage.model_validate(body).events] == [("mch_1", "evt_1")]
    assert not UnpublishedEventsMessage.describes({"DDBStreamBatchInfo": {}})


def test_a_batch_of_published_events_keeps_events_of_a_merchant_and_names_every_other_record() -> None:
    # Given an SQS batch from the events topic: an event with its merchant attribute, one without,
    # a body that is not an event, and a record with no body at all
    event = {"object": "event", "id": "evt_1", "type": "charge.succeeded", "data": {"object": {"id": "chg_1"}}}
    merchant = {"merchant_id": {"stringValue": "mch_1", "dataType": "String"}}
    records = [
        {"messageId": "ok", "body": json.dumps(event), "messageAttributes": merchant},
        {"messageId": "no-merchant", "body": json.dumps(event), "messageAttributes": {}},
        {"messageId": "not-an-event", "body": '{"hello": 1}', "messageAttributes": merchant},
        {"messageId": "no-body", "messageAttributes": merchant},
    ]
    # When it is read
    events, refused = published_events(records)
    # Then the event of a merchant is kept with its message id, and every other record is named
    assert [(message_id, e.id, e.merchant_id) for message_id, e in events] == [("ok", "evt_1", "mch_1")]
    assert refused == ["no-merchant", "not-an-event", "no-body"]
