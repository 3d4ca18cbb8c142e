"""E-mails to customers on fakes: each kind from its event, at most once whatever is redelivered,
in the customer's language, escaped, only with an address and when the account wants them, and a
refused or interrupted e-mail recorded as not sent and never sent again; SES's bounce and
complaint reports mark the e-mail and stop mail to the address (for that merchant)."""

from __future__ import annotations

import pytest

from billing.api.requests import AccountUpdate, MandateCreate, PlanCreate
from billing.domain.notifications import Notification, Suppression
from billing.emails.render import JinjaEmails
from billing.service.links import ApprovalLinks
from billing.service.messages import MailFeedback, NotificationMessage
from billing.service.notifications import Notifier, messages_for_event
from billing.service.ports import MailRefused, PageRequest
from billing.shapes import render_event
from tests.fakes import FakeMailer
from tests.support.values import CONSENT
from tests.world import MERCHANT, World


@pytest.fixture
def world() -> World:
    return World()


def setup(world: World, token: str = "pm_sim_ok", email: str | None = "jonas@example.lt", locale: str = "en", **plan):
    world.api.account.update(MERCHANT, AccountUpdate(name="Shop <b>&", support_email="help@shop.test"))
    plan_id = world.api.plans.create(
        MERCHANT, PlanCreate.model_validate({"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", **plan})
    ).id
    customer = {"reference": "c", "locale": locale, **({"email": email} if email else {})}
    body = {
        "plan_id": plan_id,
        "customer": customer,
        "payment_method": {"gateway": "simulated", "token": token},
        "consent": CONSENT,
    }
    mandate = world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body))
    mailer = FakeMailer()
    notifier = Notifier(world.repo, world.clock, mailer, ApprovalLinks(b"k" * 32, "https://pay.example"), JinjaEmails())
    return mandate, mailer, notifier


def deliver_events(world: World, notifier: Notifier) -> None:
    """Every recorded event through the notifier, twice (SNS and SQS deliver at least once)."""
    for _ in range(2):
        for event in world.repo.events(MERCHANT):
            for message in messages_for_event({**render_event(event), "merchant_id": MERCHANT}):
                notifier.notify(message)


def test_activation_and_end_are_each_sent_once_in_the_customers_language_and_escaped(world: World) -> None:
    mandate, mailer, notifier = setup(world, locale="lt")
    world.api.mandates.cancel(MERCHANT, mandate.id)
    deliver_events(world, notifier)
    assert sorted(m["tags"]["kind"] for m in mailer.sent) == ["mandate_activated", "mandate_ended"]
    [activated] = [m for m in mailer.sent if m["tags"]["kind"] == "mandate_activated"]
    assert activated["to"] == "jonas@example.lt" and activated["reply_to"] == "help@shop.test"
    assert activated["subject"] == "Shop <b>&: mokėjimai nustatyti" and "19,99\xa0€" in activated["text"]
    assert "Shop &lt;b&gt;&amp;" in activated["html"] and "<b>&" not in activated["html"]
    assert "https://pay.example/customer/mandates/" in activated["text"]
    notifications = world.api.notifications.page(MERCHANT, PageRequest()).data
    assert {(n.kind, n.status, n.locale) for n in notifications} == {
        ("mandate_activated", "sent", "lt"),
        ("mandate_ended", "sent", "lt"),
    }


def test_each_failed_attempt_is_told_once_with_the_next_retry_or_that_none_is_left(world: World) -> None:
    mandate, mailer, notifier = setup(world, token="pm_sim_insufficient_funds", retry_schedule_days=[2])
    world.tick()
    world.clock.advance(days=2)
    world.tick()
    deliver_events(world, notifier)
    failed = [m for m in mailer.sent if m["tags"]["kind"] == "payment_failed"]
    assert len(failed) == 2
    assert "there were not enough funds" in failed[0]["text"] and "We will try again on" in failed[0]["text"]
    assert "We will not try again on our own." in failed[1]["text"] and "/customer/mandates/" in failed[1]["text"]


def test_nothing_without_an_address_or_when_the_account_turned_the_kind_off(world: World) -> None:
    _, mailer, notifier = setup(world, email=None)
    deliver_events(world, notifier)
    assert mailer.sent == []
    other = World()
    _, mailer, notifier = setup(other)
    other.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"mandate_updates": False}}))
    deliver_events(other, notifier)
    assert mailer.sent == []


@pytest.mark.parametrize("failure", [MailRefused("MessageRejected"), TimeoutError("SES unreachable")])
def test_a_refused_or_interrupted_e_mail_is_recorded_as_not_sent_and_never_sent_again(world: World, failure) -> None:
    mandate, mailer, notifier = setup(world)
    message = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    mailer.fail_with = failure
    recorded = notifier.notify(message)
    assert recorded is not None and recorded.status == "failed" and recorded.failure
    mailer.fail_with = None
    assert notifier.notify(message) is None and mailer.sent == []


def test_a_crash_after_recording_leaves_it_interrupted_and_unsent_for_ever(world: World) -> None:
    mandate, mailer, notifier = setup(world)
    message = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    world.repo.fail_next_commit_with = None
    real = world.repo.commit
    calls = []

    def crash_on_second(changes):
        calls.append(changes)
        if len(calls) == 2:
            raise RuntimeError("the process died after handing the e-mail over")
        return real(changes)

    world.repo.commit = crash_on_second
    with pytest.raises(RuntimeError):
        notifier.notify(message)
    world.repo.commit = real
    [stored] = world.api.notifications.page(MERCHANT, PageRequest()).data
    assert stored.status == "failed" and stored.failure == "interrupted" and len(mailer.sent) == 1
    assert notifier.notify(message) is None and len(mailer.sent) == 1


def test_an_e_mail_ses_did_not_take_is_handed_over_again_later_and_then_once(world: World) -> None:
    from billing.service.notifications import SendingDeferred
    from billing.service.ports import MailDeferred

    mandate, mailer, notifier = setup(world)
    message = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    mailer.fail_with = MailDeferred("TooManyRequestsException")
    with pytest.raises(SendingDeferred):  # the request comes back
        notifier.notify(message)
    [waiting] = world.api.notifications.page(MERCHANT, PageRequest()).data
    assert waiting.status == "failed" and waiting.failure == "deferred"
    mailer.fail_with = None
    sent = notifier.notify(message)
    assert sent is not None and sent.status == "sent" and len(mailer.sent) == 1
    assert notifier.notify(message) is None and len(mailer.sent) == 1


def test_another_merchants_ids_or_another_mandates_charge_send_nothing(world: World) -> None:
    mandate, mailer, notifier = setup(world)
    other = world.mandate(world.plan())  # same merchant, another customer (no address)
    world.tick()
    [their_charge] = world.charges(other)
    # A message naming this merchant's mandate under another merchant finds nothing
    assert notifier.notify(NotificationMessage(merchant_id="mch_b", kind="mandate_activated", mandate_id=mandate.id)) is None
    # A receipt request pairing this customer with another mandate's charge sends nothing
    wrong = NotificationMessage(
        merchant_id=MERCHANT, kind="receipt", mandate_id=mandate.id, charge_id=their_charge.id, occasion="x"
    )
    assert notifier.notify(wrong) is None
    assert mailer.sent == [] and world.api.notifications.page(MERCHANT, PageRequest()).data == []


def ses_report(sent: dict, event_type: str = "Bounce", bounce_type: str = "Permanent") -> MailFeedback:
    """SES's event for an e-mail handed over, as the configuration set publishes it."""
    body: dict = {
        "eventType": event_type,
        "mail": {
            "messageId": sent["message_id"],
            "destination": [sent["to"]],
            "tags": {name: [value] for name, value in sent["tags"].items()},
        },
    }
    if event_type == "Bounce":
        body["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": sent["to"]}],
        }
    else:
        body["complaint"] = {"complainedRecipients": [{"emailAddress": sent["to"]}], "complaintFeedbackType": "abuse"}
    return MailFeedback.model_validate(body)


@pytest.mark.parametrize(("event_type", "bounce_type"), [("Bounce", "Permanent"), ("Complaint", "")])
def test_a_bounce_or_complaint_marks_the_e_mail_and_stops_mail_to_that_address(world: World, event_type, bounce_type) -> None:
    # Given an activation e-mail that SES took
    mandate, mailer, notifier = setup(world)
    sent = notifier.notify(NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id))
    assert sent is not None and sent.status == "sent"
    report = ses_report({**mailer.sent[0], "message_id": sent.message_id}, event_type, bounce_type)
    # When SES reports a permanent bounce or a complaint (twice: SNS and SQS deliver at least once)
    marked = notifier.feedback(report)
    assert notifier.feedback(report) is None
    # Then the notification says so
    assert marked is not None and marked.feedback == event_type.lower()
    [listed] = world.api.notifications.page(MERCHANT, PageRequest()).data
    if event_type == "Bounce":
        assert listed.status == "failed" and listed.failure == "bounced: Permanent/General"
    else:
        assert listed.status == "sent" and listed.feedback == "complaint"
    # And the next e-mail to that address is recorded as withheld, not handed to SES
    world.api.mandates.cancel(MERCHANT, mandate.id)
    withheld = notifier.notify(
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_ended", mandate_id=mandate.id, occasion="cancelled")
    )
    assert withheld is not None and withheld.status == "failed" and withheld.suppressed
    assert len(mailer.sent) == 1
    # And another merchant's e-mails to the same address still go (suppression is per merchant)
    other = World()
    other_mandate, other_mailer, other_notifier = setup(other)
    other_notifier.notify(NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=other_mandate.id))
    assert len(other_mailer.sent) == 1


def test_a_transient_bounce_marks_the_e_mail_but_keeps_the_address(world: World) -> None:
    mandate, mailer, notifier = setup(world)
    sent = notifier.notify(NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id))
    assert sent is not None
    notifier.feedback(ses_report({**mailer.sent[0], "message_id": sent.message_id}, "Bounce", "Transient"))
    world.api.mandates.cancel(MERCHANT, mandate.id)
    again = notifier.notify(
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_ended", mandate_id=mandate.id, occasion="cancelled")
    )
    assert again is not None and again.status == "sent" and len(mailer.sent) == 2
    first = world.repo.get(Notification, MERCHANT, sent.id)
    assert first is not None and first.failure == "bounced (transient): Transient/General"
    # And a permanent bounce of the same e-mail afterwards is news: it suppresses the address
    assert notifier.feedback(ses_report({**mailer.sent[0], "message_id": sent.message_id}, "Bounce", "Permanent")) is not None
    assert notifier.feedback(ses_report({**mailer.sent[0], "message_id": sent.message_id}, "Bounce", "Transient")) is None
    from billing.domain.notifications import suppression_id

    assert world.repo.get(Suppression, MERCHANT, suppression_id(MERCHANT, "jonas@example.lt")) is not None


def test_a_report_naming_another_e_mail_or_merchant_marks_nothing(world: World) -> None:
    mandate, mailer, notifier = setup(world)
    sent = notifier.notify(NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id))
    assert sent is not None
    assert notifier.feedback(ses_report({**mailer.sent[0], "message_id": "another-message"})) is None
    foreign = {**mailer.sent[0], "message_id": sent.message_id, "tags": {**mailer.sent[0]["tags"], "merchant_id": "mch_b"}}
    assert notifier.feedback(ses_report(foreign)) is None
    stored = world.repo.get(Notification, MERCHANT, sent.id)
    assert stored is not None and stored.status == "sent" and stored.feedback is None


HOSTILE = 'Shop <script>alert("x")</script> & "Co"'


@pytest.mark.parametrize("lang", ["en", "lt"])
@pytest.mark.parametrize(
    "kind", ["upcoming_charge", "trial_ending", "receipt", "payment_failed", "mandate_activated", "mandate_ended", "credit_note"]
)
def test_every_kind_renders_in_both_languages_with_merchant_text_escaped(kind: str, lang: str) -> None:
    from datetime import datetime, timezone
    from html.parser import HTMLParser

    from billing.customer_page.formatting import day, money, schedule_text
    from billing.domain.invoices import TITLES
    from billing.emails.render import render
    from billing.emails.texts import TEXT
    from billing.service.ports import EmailFacts

    # Given a merchant whose name and support address carry markup (a receipt carrying a VAT invoice)
    document = {"receipt": TITLES[(True, "invoice")][lang], "credit_note": TITLES[(False, "credit_note")][lang]}.get(kind, "")
    facts = EmailFacts(
        document=document,
        kind=kind,
        lang=lang,
        merchant=HOSTILE,
        page_url="https://pay.example/customer/mandates/t?x=1&y=2",
        currency="EUR",
        support_email="help+<b>@shop.test",
        amount=1999,
        interval="month",
        date=datetime(2026, 12, 25, tzinfo=timezone.utc),
        method="Stripe …4242",
        number="R-7",
        decline_code="insufficient_funds",
        retry_date=datetime(2026, 12, 28, tzinfo=timezone.utc),
        receipt_url="https://pay.example/customer/receipts/t",
        ended_as="cancelled",
    )
    # When the e-mail is rendered
    email = render(facts)
    # Then the subject and text say it in that language, with the merchant's name as written
    written = {
        "amount": money(1999, "EUR", lang),
        "every": schedule_text("month", 1, lang),
        "date": day(facts.date, lang, "long"),
    }  # type: ignore[arg-type]
    values = {"merchant": HOSTILE, **written, "number": "R-7", "document": document}
    subject_key = "document.subject" if kind == "receipt" else f"{kind}.subject"
    assert email.subject == TEXT[lang][subject_key].format(**values)
    assert HOSTILE in email.subject and HOSTILE in email.text and "help+<b>@shop.test" in email.text
    assert TEXT[lang]["footer"].format(merchant=HOSTILE) in email.text
    # And the HTML has it as text only: no element but the template's, the name escaped, one link out
    assert "<script" not in email.html and "<b>" not in email.html
    assert "Shop &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Co&#34;" in email.html
    assert f'<html lang="{lang}">' in email.html

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()
            self.links: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.add(tag)
            self.links += [value or "" for name, value in attrs if name == "href"]

    parsed = Tags()
    parsed.feed(email.html)
    assert parsed.tags <= {"html", "head", "meta", "title", "body", "table", "tr", "td", "p", "a"}
    expected = facts.receipt_url if kind in ("receipt", "credit_note") else facts.page_url
    assert parsed.links == [expected]


def test_a_name_stored_with_a_line_break_before_the_rule_still_makes_a_one_line_subject() -> None:
    from billing.emails.render import render
    from billing.service.ports import EmailFacts

    # Given a merchant name stored before line breaks were refused (the account API refuses them now)
    merchant = "Shop\r\nBcc: victim@example.com\x00"
    facts = EmailFacts(kind="receipt", lang="en", merchant=merchant, page_url="https://p", currency="EUR", number="R-1")
    # When an e-mail is rendered, Then its subject is one line, the name's breaks made spaces
    subject = render(facts).subject
    assert subject == "Shop  Bcc: victim@example.com : receipt R-1"
    assert not any(c in subject for c in "\r\n\x00")


def test_a_batch_read_ahead_sends_each_e_mail_once_even_when_a_request_repeats_in_the_batch(world: World) -> None:
    # Given a batch holding the same activation request twice, and another mandate's request
    mandate, mailer, notifier = setup(world)
    other = world.api.mandates.create(
        MERCHANT,
        MandateCreate.model_validate(
            {
                "plan_id": mandate.plan_id,
                "customer": {"reference": "d", "email": "dovile@example.lt"},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                "consent": CONSENT,
            }
        ),
    )
    batch = [
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id),
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id),
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=other.id),
    ]
    # When everything the batch needs is read once, before any is sent
    ahead = notifier.read_ahead(batch)
    results = [notifier.notify(message, ahead) for message in batch]
    # Then each customer got one e-mail: the repeat, though read before the first was recorded, sent nothing
    assert sorted(m["to"] for m in mailer.sent) == ["dovile@example.lt", "jonas@example.lt"]
    assert results[1] is None and results[0] is not None and results[2] is not None
    # And a request the read-ahead did not cover reads what it needs itself
    ended = NotificationMessage(merchant_id=MERCHANT, kind="mandate_ended", mandate_id=other.id, occasion="cancelled")
    world.api.mandates.cancel(MERCHANT, other.id)
    assert notifier.notify(ended, ahead) is not None and len(mailer.sent) == 3


def _second_customer(world: World, plan_id: str, reference: str = "d", email: str = "dovile@example.lt"):
    return world.api.mandates.create(
        MERCHANT,
        MandateCreate.model_validate(
            {
                "plan_id": plan_id,
                "customer": {"reference": reference, "email": email},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                "consent": CONSENT,
            }
        ),
    )


def test_a_batch_is_recorded_in_two_writes_and_each_e_mail_goes_once_whatever_is_redelivered(world: World) -> None:
    # Given a batch with two customers' activation e-mails, one of them twice
    mandate, mailer, notifier = setup(world)
    other = _second_customer(world, mandate.plan_id)
    batch = [
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id),
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=other.id),
        NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id),
    ]
    commits = len(world.repo.commits)
    # When the batch is handled
    results = notifier.notify_all(batch)
    # Then each customer got one e-mail, recorded as sent, in two writes for the whole batch
    assert sorted(m["to"] for m in mailer.sent) == ["dovile@example.lt", "jonas@example.lt"]
    assert [r.status if r is not None and not isinstance(r, Exception) else r for r in results] == ["sent", "sent", None]
    assert len(world.repo.commits) - commits == 2
    # And when the batch is delivered again, nothing more is sent
    assert notifier.notify_all(batch) == [None, None, None] and len(mailer.sent) == 2


def test_a_batch_in_which_one_e_mail_was_recorded_meanwhile_goes_one_by_one_and_sends_the_rest_once(world: World) -> None:
    # Given two activation e-mails, one of them already recorded by another run after the batch's read
    mandate, mailer, notifier = setup(world)
    other = _second_customer(world, mandate.plan_id)
    first = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    second = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=other.id)
    real = notifier.read_ahead

    def read_then_another_run_sends_the_first(messages):  # type: ignore[no-untyped-def]
        ahead = real(messages)
        notifier.read_ahead = real
        notifier.notify(first)
        return ahead

    notifier.read_ahead = read_then_another_run_sends_the_first  # type: ignore[method-assign]
    # When the batch is handled, Then its first write fails whole, and each e-mail goes alone: the second once
    results = notifier.notify_all([first, second])
    assert results[0] is None and results[1] is not None and not isinstance(results[1], Exception)
    assert sorted(m["to"] for m in mailer.sent) == ["dovile@example.lt", "jonas@example.lt"]


def test_in_a_batch_an_e_mail_the_mail_service_defers_comes_back_alone_and_goes_once_later(world: World) -> None:
    from billing.service.notifications import SendingDeferred
    from billing.service.ports import MailDeferred

    # Given a batch of two e-mails while the mail service defers everything
    mandate, mailer, notifier = setup(world)
    other = _second_customer(world, mandate.plan_id)
    batch = [NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=m.id) for m in (mandate, other)]
    mailer.fail_with = MailDeferred("throttled")
    # When it is handled, Then each one's request comes back, recorded as surely not sent
    results = notifier.notify_all(batch)
    assert all(isinstance(r, SendingDeferred) for r in results) and mailer.sent == []
    # And when they come back and the service takes mail again, each goes once
    mailer.fail_with = None
    assert all(r is not None and r.status == "sent" for r in notifier.notify_all(batch))  # type: ignore[union-attr]
    assert notifier.notify_all(batch) == [None, None] and len(mailer.sent) == 2


def test_a_deferred_e_mail_in_a_batch_whose_first_write_conflicts_still_goes_once(world: World) -> None:
    # Given an e-mail the mail service deferred, and a second customer's
    from billing.service.notifications import SendingDeferred
    from billing.service.ports import MailDeferred

    mandate, mailer, notifier = setup(world)
    other = _second_customer(world, mandate.plan_id)
    first = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    second = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=other.id)
    mailer.fail_with = MailDeferred("throttled")
    assert isinstance(notifier.notify_all([first])[0], SendingDeferred)
    mailer.fail_with = None
    # When both come in one batch, and another run sends the second between the batch's read and its write
    real = notifier.read_ahead

    def read_then_another_run_sends_the_second(messages):  # type: ignore[no-untyped-def]
        ahead = real(messages)
        notifier.read_ahead = real  # type: ignore[method-assign]
        notifier.notify(second)
        return ahead

    notifier.read_ahead = read_then_another_run_sends_the_second  # type: ignore[method-assign]
    results = notifier.notify_all([first, second])
    # Then the deferred e-mail still goes (each alone, on what was read), and each customer gets exactly one
    assert results[0] is not None and results[0].status == "sent"  # type: ignore[union-attr]
    assert sorted(m["to"] for m in mailer.sent) == ["dovile@example.lt", "jonas@example.lt"]
    # And the batch again (a redelivery) sends nothing
    assert notifier.notify_all([first, second]) == [None, None] and len(mailer.sent) == 2


def test_a_batch_is_read_in_two_batch_reads_and_a_redelivery_renders_nothing(world: World) -> None:
    # Given an e-mail sent once
    mandate, mailer, notifier = setup(world)
    message = NotificationMessage(merchant_id=MERCHANT, kind="mandate_activated", mandate_id=mandate.id)
    notifier.notify_all([message])
    reads: list[list[str]] = []
    real_load, real_render = world.repo.load_many, notifier.emails.render
    renders: list[object] = []

    def load_many(refs):  # type: ignore[no-untyped-def]
        reads.append(sorted(k.__name__ for k in refs))
        return real_load(refs)

    def render(facts):  # type: ignore[no-untyped-def]
        renders.append(facts)
        return real_render(facts)

    world.repo.load_many = load_many  # type: ignore[method-assign]
    notifier.emails.render = render  # type: ignore[method-assign]
    # When the same request comes again
    assert notifier.notify_all([message]) == [None]
    # Then mandates, charges, notifications (and the documents receipts carry) come in one batch
    # read, the suppressions in one more
    assert reads == [["Charge", "Invoice", "Mandate", "Notification"], ["Suppression"]]
    # And nothing is rendered for an e-mail recorded before
    assert renders == [] and len(mailer.sent) == 1
