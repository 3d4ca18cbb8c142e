"""Customer e-mails end to end on moto: events through the real publisher to SNS, the filtered
subscription to the notification queue, the receipts function's requests, the real notifier to SES;
`/v1/notifications` lists them, per merchant."""

from __future__ import annotations

import boto3

from billing import bootstrap
from billing.domain.notifications import Notification
from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, stream_records
from tests.support.values import CONSENT, GOLD


def test_activation_failure_and_receipt_e_mails_reach_ses_once_and_are_listed(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given a customer with an address, whose card fails once then pays
    call("PATCH", "/v1/account", {"support_email": "help@shop.test"})
    plan = call("POST", "/v1/plans", {**GOLD, "retry_schedule_days": [1]}).json()
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c", "email": "jonas@example.lt"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_fail_once"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    engine.tick()
    engine.advance(days=1)
    sent: list[dict] = []
    overrides = bootstrap.Overrides(clock=engine.clock, mail_observer=lambda **email: sent.append(email))
    receipts, notifier = load_function("receipts", overrides), load_function("notifier", overrides)
    sqs = boto3.client("sqs")
    receipt_source = SqsEventSource(sqs, system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction"))
    notification_source = SqsEventSource(sqs, system.aws.queues["NotifyQueue"], lambda e: invoke(notifier, e, "NotifierFunction"))
    # When the events are published (twice: at least once), receipts numbered and e-mails handled
    records = stream_records(system)
    for _ in range(2):
        assert invoke(system.publisher_module, {"Records": records}, "EventPublisherFunction") == {"batchItemFailures": []}
    receipt_source.drain()
    delivery = notification_source.drain()
    assert delivery.failed == 0
    # Then the customer got one activation, one failed-payment and one receipt e-mail, from the sender, replying to support
    assert sorted(e["tags"]["kind"] for e in sent) == ["mandate_activated", "payment_failed", "receipt"]
    assert all(e["to"] == "jonas@example.lt" and e["reply_to"] == "help@shop.test" for e in sent)
    [receipt] = [e for e in sent if e["tags"]["kind"] == "receipt"]
    assert "R-1" in receipt["subject"] and "/customer/receipts/" in receipt["text"]
    # And the merchant sees them, filtered by mandate and kind; another merchant sees none
    listed = call("GET", f"/v1/notifications?mandate_id={mandate['id']}").json()["data"]
    assert {(n["kind"], n["status"], n["to"]) for n in listed} == {
        ("mandate_activated", "sent", "jonas@example.lt"),
        ("payment_failed", "sent", "jonas@example.lt"),
        ("receipt", "sent", "jonas@example.lt"),
    }
    [one] = call("GET", "/v1/notifications?kind=receipt").json()["data"]
    assert call("GET", f"/v1/notifications/{one['id']}").json()["charge_id"] == one["charge_id"]
    other = system.client(system.b)
    assert other("GET", "/v1/notifications").json()["data"] == []
    assert other("GET", f"/v1/notifications/{one['id']}").status == 404
    assert call("GET", "/v1/notifications?kind=bogus").status in (400, 422)


def test_the_dispatcher_announces_the_next_charge_through_the_notification_queue_once(
    system: System, call: Client, engine: EngineHarness
) -> None:
    from datetime import datetime, timedelta

    # Given a monthly customer with an address, charged once, and a merchant who wants notices 5 days ahead
    call("PATCH", "/v1/account", {"notifications": {"upcoming_charge_days": 5}})
    plan = call("POST", "/v1/plans", GOLD).json()
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c", "email": "ona@example.lt", "locale": "lt"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    engine.tick()
    due = datetime.fromisoformat(call("GET", f"/v1/mandates/{mandate['id']}").json()["next_charge_at"].replace("Z", "+00:00"))
    sent: list[dict] = []
    overrides = bootstrap.Overrides(clock=engine.clock, mail_observer=lambda **email: sent.append(email))
    notifier = load_function("notifier", overrides)
    notification_source = SqsEventSource(
        boto3.client("sqs"), system.aws.queues["NotifyQueue"], lambda e: invoke(notifier, e, "NotifierFunction")
    )
    notification_source.drain()  # the activation e-mail's event is not published here: nothing yet
    # When the dispatcher runs 14 days before (it reads the account) and then at the notice time, twice
    engine.clock.current = due - timedelta(days=14)
    assert engine.dispatch()["notices"] == 0
    engine.clock.current = due - timedelta(days=5)
    assert engine.dispatch()["notices"] == 1
    assert engine.dispatch()["notices"] == 0
    assert notification_source.drain().failed == 0
    # Then one notice went, in Lithuanian, and it is listed
    [notice] = sent
    assert notice["tags"]["kind"] == "upcoming_charge" and notice["to"] == "ona@example.lt"
    assert "bus nuskaityta 19,99\xa0€" in notice["subject"]
    [listed] = call("GET", "/v1/notifications?kind=upcoming_charge").json()["data"]
    assert listed["mandate_id"] == mandate["id"] and listed["status"] == "sent" and listed["locale"] == "lt"


def test_ses_bounce_reports_reach_the_notifier_through_the_mail_events_topic(
    system: System, call: Client, engine: EngineHarness
) -> None:
    import json

    # Given an activation e-mail SES took for a customer whose mailbox does not exist
    plan = call("POST", "/v1/plans", GOLD).json()
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c", "email": "nobody@example.lt"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    sent: list[dict] = []
    overrides = bootstrap.Overrides(clock=engine.clock, mail_observer=lambda **email: sent.append(email))
    notifier = load_function("notifier", overrides)
    sqs = boto3.client("sqs")
    notification_source = SqsEventSource(sqs, system.aws.queues["NotifyQueue"], lambda e: invoke(notifier, e, "NotifierFunction"))
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    notification_source.drain()
    [activation] = sent
    [recorded] = call("GET", f"/v1/notifications?mandate_id={mandate['id']}").json()["data"]
    # When SES reports a permanent bounce through the configuration set's topic (as it does: raw
    # JSON naming SES's message id and the e-mail's tags)
    from billing.adapters.dynamodb.repository import DynamoRepository

    repository = DynamoRepository(boto3.client("dynamodb"), system.aws.tables["BillingTable"])
    notification = repository.get(Notification, system.a.id, recorded["id"])
    assert notification is not None and notification.message_id
    report = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "nobody@example.lt"}],
        },
        "mail": {"messageId": notification.message_id, "tags": {k: [v] for k, v in activation["tags"].items()}},
    }
    boto3.client("sns").publish(TopicArn=system.aws.topics["MailEventsTopic"], Message=json.dumps(report))
    assert notification_source.drain().failed == 0
    # Then the notification shows the bounce, and the next e-mail to that address is withheld
    marked = call("GET", f"/v1/notifications/{recorded['id']}").json()
    assert marked["status"] == "failed" and marked["feedback"] == "bounce" and marked["failure"].startswith("bounced")
    assert call("POST", f"/v1/mandates/{mandate['id']}/cancel").status == 200
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    assert notification_source.drain().failed == 0
    ended = call("GET", f"/v1/notifications?mandate_id={mandate['id']}&kind=mandate_ended").json()["data"]
    assert [n["failure"][:10] for n in ended] == ["suppressed"] and len(sent) == 1
