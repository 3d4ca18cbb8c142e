"""Every event the system publishes to SNS, and every webhook attempt, printed as one readable
line each (a subscribed queue stands in for the operator's view of the topic)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from billing.service.ports import Clock, SendResult, WebhookPorts


class EventLines:
    def __init__(self, session: Any, topic_arn: str, quiet: bool = False) -> None:
        self.sqs, self.quiet = session.client("sqs"), quiet
        sns = session.client("sns")
        self.url = self.sqs.create_queue(QueueName="local-event-printer")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)

    def print_published(self) -> None:
        while batch := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                if not self.quiet:
                    print(describe(json.loads(message["Body"])), flush=True)
            self.sqs.delete_message_batch(
                QueueUrl=self.url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )


def describe(notification: dict[str, Any]) -> str:
    """One SNS notification of an event as one line: time, type, merchant, the object in brief."""
    event = json.loads(notification["Message"])
    obj = event["data"]["object"]
    detail: str = {
        "charge": lambda o: (
            f"{o['id']} cycle {o['cycle']} {o['amount']} {o['currency']} {o['status']} attempts={len(o['attempts'])}"
            + (f" failure={o['failure_code']}" if o.get("failure_code") else "")
        ),
        "mandate": lambda o: f"{o['id']} {o['status']} next_charge_at={o.get('next_charge_at')}",
        "plan": lambda o: f"{o['id']} {o['name']} {o['amount']} {o['currency']}/{o['interval_count']} {o['interval']}",
    }.get(obj.get("object"), lambda o: o.get("id", ""))(obj)  # type: ignore[no-untyped-call]
    merchant = notification["MessageAttributes"]["merchant_id"]["Value"]
    return f"event {event['created_at']}  {event['type']:<32} {merchant}  {detail}"


class WebhookLines:
    """Wraps the delivery function's sender: each attempt is printed when it returns."""

    def __init__(self, ports: WebhookPorts, clock: Clock, quiet: bool = False) -> None:
        sender = ports.sender
        original = sender.post

        def post(url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
            result = original(url, headers, body, timeout)
            if not quiet:
                outcome = str(result.error) if result.response_status is None else f"{result.response_status}"
                if result.error == "http_status":
                    outcome += " (failed)"
                event_type = json.loads(body).get("type", "?")
                print(
                    f"webhook {clock.now():%Y-%m-%dT%H:%M:%SZ}  {event_type:<32} {headers['webhook-id']} -> {url}  "
                    f"{outcome} in {result.duration_ms} ms",
                    flush=True,
                )
            return result

        setattr(sender, "post", post)  # noqa: B010 (wrapping the adapter's method, not a port's declaration)


# SES's mailbox simulator: e-mails to these addresses come back as a bounce or a complaint, as
# real SES does (https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html).
SIMULATOR = {"bounce@simulator.amazonses.com": "Bounce", "complaint@simulator.amazonses.com": "Complaint"}


class EmailLines:
    """Every e-mail the notifier hands to the emulated SES: printed as one line, and kept for
    `GET /_local/emails` (oldest first). E-mails to SES's mailbox simulator addresses are reported
    back as SES would, through the configuration set's topic (`mail_events`)."""

    def __init__(self, clock: Any, quiet: bool = False, mail_events: tuple[Any, str] | None = None) -> None:
        """`mail_events`: (an SNS client, the mail events topic's ARN)."""
        self.clock, self.quiet, self.mail_events = clock, quiet, mail_events
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def record(
        self,
        to: str,
        reply_to: str | None,
        subject: str,
        text: str,
        html: str,
        tags: dict[str, str],
        message_id: str = "",
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """`attachments`: each file's `filename`, `content_type` and `size` (bytes), as listed."""
        listed = [dict(a) for a in attachments or []]
        email: dict[str, Any] = {
            "to": to,
            "reply_to": reply_to,
            "subject": subject,
            "text": text,
            "html": html,
            "kind": tags.get("kind"),
            "mandate_id": tags.get("mandate_id"),
            "locale": tags.get("locale"),
            "sent_at": f"{self.clock.now():%Y-%m-%dT%H:%M:%SZ}",
            "attachments": listed,
        }
        with self.lock:
            self.sent.append(email)
        if not self.quiet:
            files = "".join(f"  [{a['filename']}, {a['size']} bytes]" for a in listed)
            print(f"email   {email['sent_at']}  {email['kind']:<18} {email['locale']} -> {to}  {subject}{files}", flush=True)
        if to.lower() in SIMULATOR and self.mail_events is not None:
            self._report(SIMULATOR[to.lower()], to, tags, message_id)

    def _report(self, event_type: str, to: str, tags: dict[str, str], message_id: str) -> None:
        """SES's event for the e-mail (configuration set -> SNS), as it publishes it."""
        sns, topic = self.mail_events  # type: ignore[misc]
        event: dict[str, Any] = {
            "eventType": event_type,
            "mail": {"messageId": message_id, "destination": [to], "tags": {k: [v] for k, v in tags.items()}},
        }
        if event_type == "Bounce":
            event["bounce"] = {"bounceType": "Permanent", "bounceSubType": "General", "bouncedRecipients": [{"emailAddress": to}]}
        else:
            event["complaint"] = {"complainedRecipients": [{"emailAddress": to}], "complaintFeedbackType": "abuse"}
        sns.publish(TopicArn=topic, Message=json.dumps(event))
        if not self.quiet:
            print(f"email   {self.clock.now():%Y-%m-%dT%H:%M:%SZ}  {event_type.lower():<18}    <- {to}", flush=True)


class InvitationEmails:
    """Cognito's invitation e-mail, which the emulated pool does not send: each AdminCreateUser
    that does not suppress it gets a temporary password here, and the e-mail (the template's
    InviteMessageTemplate) is listed at GET /_local/emails (kind `dashboard_invitation`)."""

    def __init__(self, emails: EmailLines, subject: str, message: str) -> None:
        self.emails, self.subject, self.message = emails, subject, message

    def attach(self, session: Any) -> None:
        session.events.register("before-parameter-build.cognito-idp.AdminCreateUser", self._before)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("MessageAction") == "SUPPRESS":
            return
        from billing.service.dashboard import new_password

        params.setdefault("TemporaryPassword", new_password())
        username = str(params["Username"])
        text = self.message.replace("{username}", username).replace("{####}", str(params["TemporaryPassword"]))
        self.emails.record(username, None, self.subject, text, "", {"kind": "dashboard_invitation"})
