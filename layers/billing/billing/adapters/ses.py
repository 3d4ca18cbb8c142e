"""Amazon SES (v2) as the mailer: one SendEmail per e-mail, text and HTML, UTF-8, from the
deployment's verified sender, with the merchant's support address as reply-to and tags that tie
SES's bounce and complaint events back to the notification."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..service.ports import MailDeferred, MailRefused

# Refusals of this message that no retry changes (a bad address, an unverified sender).
REFUSED = frozenset({"MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException", "NotFoundException"})
# Answers that mean SES did not take the message (so it was surely not sent): try again later.
DEFERRED = frozenset({"TooManyRequestsException", "LimitExceededException", "ThrottlingException", "SendingPausedException"})


class SesMailer:
    def __init__(
        self, client: Any, sender: str, configuration_set: str = "", observer: Callable[..., None] | None = None
    ) -> None:
        """`observer`: told of every e-mail sent (the local runtime prints and lists them)."""
        self.client, self.sender, self.configuration_set, self.observer = client, sender, configuration_set, observer

    def send(self, to: str, reply_to: str | None, subject: str, text: str, html: str, tags: dict[str, str]) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
                }
            },
            "EmailTags": [{"Name": k, "Value": v} for k, v in tags.items()],
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
            self.observer(to=to, reply_to=reply_to, subject=subject, text=text, html=html, tags=tags, message_id=message_id)
        return message_id
