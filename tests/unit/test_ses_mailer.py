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


def test_an_e_mail_with_a_file_goes_as_raw_mime_with_the_same_headers_tags_and_both_bodies() -> None:
    import email
    from email.policy import default

    from billing.service.ports import Attachment

    # Given an e-mail in Lithuanian with a PDF
    ses, seen = FakeSes(), []
    mailer = SesMailer(ses, "billing@example.com", "rp-mail", observer=lambda **sent: seen.append(sent))
    pdf = Attachment("R-12.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40)
    subject = "Sporto klubas: PVM sąskaita faktūra R-12"
    # When it is handed to SES
    mailer.send("ona@example.lt", "help@shop.test", subject, "Ačiū: tekstas", "<p>Ačiū</p>", TAGS, [pdf])
    # Then the request is SESv2's raw content, with the tags and configuration set as for any e-mail
    [request] = ses.requests
    assert "Simple" not in request["Content"] and "ReplyToAddresses" not in request
    assert request["FromEmailAddress"] == "billing@example.com" and request["ConfigurationSetName"] == "rp-mail"
    assert request["Destination"] == {"ToAddresses": ["ona@example.lt"]}
    assert {t["Name"]: t["Value"] for t in request["EmailTags"]} == TAGS
    raw: bytes = request["Content"]["Raw"]["Data"]
    raw.decode("ascii")  # 7-bit, as SMTP carries it
    # And the message parses back: headers, text and HTML alternatives, the file byte for byte
    message = email.message_from_bytes(raw, policy=default)
    assert (message["From"], message["To"], message["Reply-To"]) == ("billing@example.com", "ona@example.lt", "help@shop.test")
    assert str(message["Subject"]) == subject
    assert message.get_body(("plain",)).get_content().rstrip() == "Ačiū: tekstas"  # type: ignore[union-attr]
    assert message.get_body(("html",)).get_content().rstrip() == "<p>Ačiū</p>"  # type: ignore[union-attr]
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "R-12.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_content() == pdf.data
    # And the observer (the local runtime's list) is told of the file by name, type and size
    assert seen[0]["attachments"] == [{"filename": "R-12.pdf", "content_type": "application/pdf", "size": len(pdf.data)}]


def test_a_message_over_ses_s_10_mb_is_refused_before_ses_is_asked() -> None:
    from billing.service.ports import Attachment

    ses = FakeSes()
    huge = Attachment("big.pdf", "application/pdf", b"x" * (8 * 1024 * 1024))  # 8 MiB: 10.7 MiB in base64
    with pytest.raises(MailRefused, match="MessageTooLarge"):
        SesMailer(ses, "billing@example.com").send("a@b.lt", None, "S", "t", "h", TAGS, [huge])
    assert ses.requests == []
