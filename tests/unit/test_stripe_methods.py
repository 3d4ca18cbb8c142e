"""A Stripe token's type, last four digits and mandate reference are read from Stripe (the
contract), so a Stripe bank debit gets the bank-debit rules when the mandate adopts it (on
in-memory fakes: FakeCards is the CardSetup port)."""

from __future__ import annotations

import pytest

from billing.api.requests import MandateCreate, PaymentMethodIn
from billing.domain.errors import ValidationFailed
from billing.service.event_recorder import EventRecorder
from billing.service.mandates import Mandates
from tests.fakes import FakeCards, FakeLinks
from tests.support.values import CONSENT
from tests.world import MERCHANT, World

IBAN_TOKEN = "cus_Q1w2E3r4T5:pm_1SepaDebit0001"
CARD_TOKEN = "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"
STRIPE_REFERENCE = "NXDSYREGC9PSMQWY"


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def mandates(world: World) -> Mandates:
    cards = FakeCards({(MERCHANT, IBAN_TOKEN), (MERCHANT, CARD_TOKEN)})
    cards.bank_accounts[IBAN_TOKEN] = STRIPE_REFERENCE
    return Mandates(world.repo, world.clock, world.ids, EventRecorder(world.ids, FakeLinks()), frozenset({"stripe"}), cards)


def body(plan_id: str, token: str, **customer: str) -> MandateCreate:
    return MandateCreate.model_validate(
        {
            "plan_id": plan_id,
            "customer": {"reference": "ona", **customer},
            "payment_method": {"gateway": "stripe", "token": token},
            "consent": CONSENT,
        }
    )


def test_a_stripe_bank_account_is_a_sepa_debit_with_stripes_mandate_reference(world: World, mandates: Mandates) -> None:
    # When a mandate is created with a Stripe token Stripe says is an IBAN
    mandate = mandates.create(MERCHANT, body(world.plan(), IBAN_TOKEN, email="ona@example.lt", name="Ona Onaitė"))
    # Then the mandate shows a SEPA debit with the IBAN's last four and Stripe's own mandate reference
    method = mandate.payment_method
    assert method is not None
    assert (method.type, method.last4, method.mandate_reference) == ("sepa_debit", "3000", STRIPE_REFERENCE)


def test_a_stripe_card_is_a_card(world: World, mandates: Mandates) -> None:
    mandate = mandates.create(MERCHANT, body(world.plan(), CARD_TOKEN))
    method = mandate.payment_method
    assert method is not None and (method.type, method.last4, method.mandate_reference) == ("card", "4242", None)


@pytest.mark.parametrize(
    ("currency", "customer"),
    [("USD", {"email": "ona@example.lt", "name": "Ona"}), ("EUR", {"name": "Ona"}), ("EUR", {"email": "ona@example.lt"})],
)
def test_a_stripe_bank_account_gets_the_bank_debit_rules(
    world: World, mandates: Mandates, currency: str, customer: dict[str, str]
) -> None:
    # A bank debit in another currency, or without the account holder's e-mail or name, is a 422
    with pytest.raises(ValidationFailed):
        mandates.create(MERCHANT, body(world.plan(currency=currency), IBAN_TOKEN, **customer))


def test_the_merchant_replacing_a_method_with_a_stripe_bank_account_is_described_too(world: World, mandates: Mandates) -> None:
    mandate = mandates.create(MERCHANT, body(world.plan(), CARD_TOKEN, email="ona@example.lt", name="Ona"))
    replaced = mandates.replace_payment_method(MERCHANT, mandate.id, PaymentMethodIn(gateway="stripe", token=IBAN_TOKEN))
    method = replaced.payment_method
    assert method is not None and (method.type, method.mandate_reference) == ("sepa_debit", STRIPE_REFERENCE)
