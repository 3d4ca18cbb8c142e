"""Amazon SES (v2) as the mailer: one SendEmail per e-mail, text and HTML, UTF-8, from the
deployment's verified sender, with the merchant's support address as reply-to and tags that tie
SES's bounce and complaint events back to the notification.

An e-mail without attachments goes as `Content.Simple` (SES builds the MIME); one with attachments
(an invoice's PDF) as `Content.Raw`: a MIME message built with Python's `email` package
(multipart/mixed: the text and HTML as multipart/alternative, then each file, base64), with the same
From, To, Reply-To and Subject, and the same tags and configuration set on the request. SES takes
at most 10 MB per message, encoded: a larger one is refused here, before SES is asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from botocore.exceptions import ClientError

from ..service.ports import Attachment, MailDeferred, MailRefused

# Refusals of this message that no retry changes (a bad address, an unverified sender).
REFUSED = frozenset({"MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException", "NotFoundException"})
# Answers that mean SES did not take the message (so it was surely not sent): try again later.
DEFERRED = frozenset({"TooManyRequestsException", "LimitExceededException", "ThrottlingException", "SendingPausedException"})
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # SES's limit for a raw message, attachments included, as sent


def mime_message(
    sender: str, to: str, reply_to: str | None, subject: str, text: str, html: str, attachments: Sequence[Attachment]
) -> bytes:
    """The e-mail as RFC 5322 / MIME bytes (7-bit: UTF-8 text quoted-printable or base64, a subject
    outside ASCII RFC 2047-encoded, files base64), CRLF line ends as SMTP wants them."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for file in attachments:
        maintype, _, subtype = file.content_type.partition("/")
        message.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.filename)
    return message.as_bytes()


class SesMailer:
    def __init__(
        self, client: Any, sender: str, configuration_set: str = "", observer: Callable[..., None] | None = None
    ) -> None:
        """`observer`: told of every e-mail sent (the local runtime prints and lists them)."""
        self.client, self.sender, self.configuration_set, self.observer = client, sender, configuration_set, observer

    def send(
        self,
        to: str,
        reply_to: str | None,
        subject: str,
        text: str,
        html: str,
        tags: dict[str, str],
        attachments: Sequence[Attachment] = (),
    ) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "EmailTags": [{"Name": k, "Value": v} for k, v in tags.items()],
        }
        if attachments:
            raw = mime_message(self.sender, to, reply_to, subject, text, html, attachments)
            if len(raw) > MAX_MESSAGE_BYTES:
                raise MailRefused("MessageTooLarge")
            request["Content"] = {"Raw": {"Data": raw}}  # Reply-To is the message's own header
        else:
            request["Content"] = {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
                }
            }
            if reply_to:
                request["ReplyToAddresses"] = [reply_to]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            message_id = str(self.client.send_email(**request)["MessageId"])
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in REFUSED:
                raise MailRefused(code) from error
            if code in DEFERRED:
                raise MailDeferred(code) from error
            raise  # anything else (a timeout, a 5xx): SES may have taken it, so it is not sent again
        if self.observer is not None:
            listed = [{"filename": a.filename, "content_type": a.content_type, "size": len(a.data)} for a in attachments]
            self.observer(
                to=to,
                reply_to=reply_to,
                subject=subject,
                text=text,
                html=html,
                tags=tags,
                message_id=message_id,
                attachments=listed,
            )
        return message_id
