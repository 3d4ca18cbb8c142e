"""The SES adapter: the request it makes (sender, reply-to, configuration set, tags that tie SES's
reports back) and how SES's answers map to "refused for good", "not taken, try later" or
"unknown" (raised as is, so the e-mail is never handed over again)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from billing.adapters.ses import SesMailer
from billing.service.ports import MailDeferred, MailRefused


class FakeSes:
    """SESv2's SendEmail as boto3 answers it: a message id, or the error it was told to raise."""

    def __init__(self, error: str | None = None) -> None:
        self.error, self.requests = error, []

    def send_email(self, **request):
        self.requests.append(request)
        if self.error is not None:
            raise ClientError({"Error": {"Code": self.error, "Message": "told to"}}, "SendEmail")
        return {"MessageId": f"ses-{len(self.requests)}"}


TAGS = {"merchant_id": "mch_a", "notification_id": "ntf_1", "kind": "receipt"}


def test_the_request_names_the_sender_reply_to_configuration_set_and_tags() -> None:
    ses, seen = FakeSes(), []
    mailer = SesMailer(ses, "billing@example.com", "rp-mail", observer=lambda **email: seen.append(email))
    assert mailer.send("ona@example.lt", "help@shop.test", "Subject", "text", "<p>html</p>", TAGS) == "ses-1"
    [request] = ses.requests
    assert request["FromEmailAddress"] == "billing@example.com" and request["ReplyToAddresses"] == ["help@shop.test"]
    assert request["Destination"] == {"ToAddresses": ["ona@example.lt"]} and request["ConfigurationSetName"] == "rp-mail"
    assert {t["Name"]: t["Value"] for t in request["EmailTags"]} == TAGS
    body = request["Content"]["Simple"]["Body"]
    assert body["Text"]["Data"] == "text" and body["Html"]["Data"] == "<p>html</p>" and body["Html"]["Charset"] == "UTF-8"
    assert seen[0]["message_id"] == "ses-1"
    # Without a support address or configuration set, neither is sent
    bare = FakeSes()
    SesMailer(bare, "billing@example.com").send("ona@example.lt", None, "S", "t", "h", TAGS)
    assert "ReplyToAddresses" not in bare.requests[0] and "ConfigurationSetName" not in bare.requests[0]


@pytest.mark.parametrize("code", ["MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"])
def test_a_refusal_for_good_is_mail_refused(code: str) -> None:
    with pytest.raises(MailRefused, match=code):
        SesMailer(FakeSes(code), "billing@example.com").send("a@b.lt", None, "S", "t", "h", TAGS)


@pytest.mark.parametrize("code", ["TooManyRequestsException", "LimitExceededException", "SendingPausedException"])
def test_what_ses_did_not_take_is_mail_deferred(code: str) -> None:
    with pytest.raises(MailDeferred, match=code):
        SesMailer(FakeSes(code), "billing@example.com").send("a@b.lt", None, "S", "t", "h", TAGS)


def test_anything_else_is_raised_as_is_and_never_reported_as_sent() -> None:
    seen: list[dict] = []
    with pytest.raises(ClientError):
        SesMailer(FakeSes("InternalFailure"), "billing@example.com", observer=lambda **e: seen.append(e)).send(
            "a@b.lt", None, "S", "t", "h", TAGS
        )
    assert seen == []
