"""A Stripe bank debit always has a SEPA mandate reference: Stripe's own when `describe` reads one,
else the one derived from the mandate when the method is adopted; the pre-notification states it
(never the card wording). And the customer's page takes a Stripe.js IBAN as a new payment method
(a sepa_debit SetupIntent per mandate state) with the SEPA mandate's hash as consent. On in-memory
fakes: FakeCards is the CardSetup port."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from billing.api.requests import AccountUpdate, MandateCreate, PlanCreate
from billing.customer_page.texts import sepa_mandate
from billing.domain import payment_methods
from billing.domain.model import Mandate, PaymentMethod
from billing.emails.render import JinjaEmails
from billing.service.customer_portal import (
    ConfirmedCard,
    CustomerPortal,
    MandateNotAccepted,
    TermsChanged,
    terms_digest,
)
from billing.service.links import ApprovalLinks
from billing.service.notifications import Notifier
from billing.service.use_cases import UseCases
from tests.fakes import FakeCards, FakeLinks, FakeMailer
from tests.support.values import CONSENT
from tests.world import MERCHANT, World

IBAN_TOKEN = "cus_Q1w2E3r4T5:pm_1SepaDebit0002"
CARD_TOKEN = "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"
START = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
LINKS = ApprovalLinks(b"k" * 32, "https://pay.example")


@pytest.fixture
def world() -> World:
    world = World()
    world.clock.current = START
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"name": "Sporto klubas"}))
    return world


@pytest.fixture
def cards() -> FakeCards:
    cards = FakeCards({(MERCHANT, IBAN_TOKEN), (MERCHANT, CARD_TOKEN)})
    cards.bank_accounts[IBAN_TOKEN] = None  # type: ignore[assignment]  # Stripe's Mandate showed no reference
    return cards


def use_cases(world: World, cards: FakeCards) -> UseCases:
    return UseCases(world.repo, world.clock, world.ids, FakeLinks(), frozenset({"simulated", "stripe"}), lambda: cards)


def create(world: World, cards: FakeCards, token: str, trial_days: int = 0) -> Mandate:
    body = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "trial_days": trial_days}
    plan_id = world.api.plans.create(MERCHANT, PlanCreate.model_validate(body)).id
    request = {
        "plan_id": plan_id,
        "customer": {"reference": "c-1", "email": "ona@example.lt", "name": "Ona Onaitė"},
        "payment_method": {"gateway": "stripe", "token": token},
        "consent": CONSENT,
    }
    return use_cases(world, cards).mandates.create(MERCHANT, MandateCreate.model_validate(request))


def test_a_stripe_bank_debit_without_stripes_reference_is_pre_notified_with_the_derived_one(
    world: World, cards: FakeCards
) -> None:
    # Given a Stripe bank account whose Stripe mandate showed no reference, adopted by a mandate with a 30-day trial
    mandate = create(world, cards, IBAN_TOKEN, trial_days=30)
    reference = payment_methods.mandate_reference(mandate.id)
    # Then the adopted method carries the reference derived from the mandate
    assert mandate.payment_method is not None and mandate.payment_method.mandate_reference == reference
    # When the clock reaches the pre-notification (2 days before the debit: the account asks for none)
    mailer = FakeMailer()
    notifier = Notifier(world.repo, world.clock, mailer, LINKS, JinjaEmails())
    world.clock.current = START + timedelta(days=28)
    world.tick()
    for message in world.notification_queue.take():
        notifier.notify(message)
    # Then it is the bank debit's wording, with that reference
    [notice] = [m for m in mailer.sent if m["tags"]["kind"] == "upcoming_charge"]
    assert "by SEPA Direct Debit, mandate reference " + reference in notice["text"]


def test_a_bank_debit_stored_without_a_reference_still_states_one(world: World, cards: FakeCards) -> None:
    # Given a bank-debit method kept without a reference (stored before references were set at adoption)
    mandate = create(world, cards, CARD_TOKEN)
    mandate.payment_method = PaymentMethod(gateway="stripe", token=IBAN_TOKEN, type="sepa_debit", last4="3000")
    # Then the mandate states the reference derived from it; a card has none
    assert mandate.mandate_reference == payment_methods.mandate_reference(mandate.id)
    mandate.payment_method = PaymentMethod(gateway="stripe", token=CARD_TOKEN)
    assert mandate.mandate_reference is None


def test_the_customer_replaces_a_card_with_a_stripe_iban_confirmed_by_a_sepa_setup_intent(world: World, cards: FakeCards) -> None:
    # Given an active EUR mandate paid by a Stripe card, and its page through Stripe
    mandate = create(world, cards, CARD_TOKEN)
    portal = CustomerPortal(use_cases(world, cards), LINKS, lambda _: "Sporto klubas", cards)
    token = LINKS.token(MERCHANT, mandate.id, START + timedelta(days=30))
    view = portal.view(token)
    # Then a bank account is offered (its reference is Stripe's, given when the IBAN is confirmed) with a sepa_debit SetupIntent
    assert view.may_replace_method and view.bank_debit is not None and view.bank_debit.reference is None
    assert portal.bank_setup(view) == {
        "id": f"seti_{mandate.id}update-{mandate.version}",
        "client_secret": f"seti_{mandate.id}update-{mandate.version}_secret",
        "customer": f"cus_{mandate.id}",
    }
    shown = sepa_mandate("lt", view.bank_debit.creditor, None)
    terms = terms_digest(view.mandate, shown)
    cards.confirmed["seti_bank"] = (mandate.id, IBAN_TOKEN)  # Stripe.js confirmed the IBAN in the browser

    def replace(accepted: str | None, lang: str = "lt") -> Mandate:
        return portal.replace_payment_method(
            token,
            ConfirmedCard("seti_bank"),
            "203.0.113.9",
            "Firefox",
            accepted,
            lambda o: sepa_mandate(lang, o.creditor, o.reference),
        )

    # When it is sent without the mandate accepted, or as if the English mandate had been shown, Then nothing changes
    with pytest.raises(MandateNotAccepted):
        replace(None)
    with pytest.raises(TermsChanged):
        replace(terms, lang="en")
    assert world.get(mandate.id).payment_method.type == "card"
    # When it is sent with the Lithuanian mandate accepted
    replaced = replace(terms)
    # Then the mandate is paid by SEPA debit with the derived reference, and the consent is the hash of what was shown
    method = replaced.payment_method
    assert method is not None and (method.type, method.token) == ("sepa_debit", IBAN_TOKEN)
    assert method.mandate_reference == payment_methods.mandate_reference(mandate.id)
    assert replaced.consent is not None and (replaced.consent.terms_sha256, replaced.consent.ip) == (terms, "203.0.113.9")
    [event] = [e for e in world.repo.events(MERCHANT) if e.type == "mandate.payment_method_updated"]
    assert event.data["source"] == "customer" and event.data["previous_attributes"]["payment_method"]["type"] == "card"
