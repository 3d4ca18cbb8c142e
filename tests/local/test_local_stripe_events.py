"""`make local` against the Stripe stand-in (devtools/stripe_standin.py), after the charge: each
story happens at "Stripe", reaches the runtime as Stripe's signed events at
`POST /gateway/stripe/events` (as `stripe listen --forward-to` delivers them), is applied, and is
checked over the API: disputes won and lost, a fraudulent dispute revoking the mandate, a SEPA
dispute, a refund failing after it succeeded, a card replaced by the network, a bank mandate
cancelled at the bank (also for payment methods of the merchant's own Stripe Customers, and for a
card two mandates share), a returned debit and a failed one (the bank's reason read from the
Charge, as Stripe reports it), events out of order and twice, and the customer's page setting up a
SEPA mandate at Stripe."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from devtools.stripe_standin import StripeStandIn
from tests.local.conftest import Http, merchant, running_local
from tests.local.test_local_stripe import sepa_mandate_at_stripe

SECRET = "whsec_local"


@pytest.fixture(scope="module")
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(settlement_delay=None) as server:  # settles only when the test says so
        yield server


@pytest.fixture(scope="module")
def base(standin: StripeStandIn) -> Iterator[str]:
    env = {
        "STRIPE_SECRET_KEY": "sk_test_local",
        "STRIPE_API_BASE": standin.url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_local",  # the customer's page takes methods through Stripe.js
    }
    for url in running_local(env):
        standin.forward_to(f"{url}/gateway/stripe/events", SECRET)
        yield url


@pytest.fixture(autouse=True)
def delivering(standin: StripeStandIn) -> Iterator[None]:
    yield
    standin.resume_delivery()  # a test that paused delivery leaves none paused


class Shop:
    """One merchant of the running system, and what the tests do with it."""

    def __init__(self, base: str, standin: StripeStandIn, name: str) -> None:
        self.base, self.standin = base, standin
        self.local, self.call = Http(base), merchant(base, name)
        self.id = self.call("GET", "/v1/account")[1]["id"]

    def plan(self, amount: int = 1999) -> str:
        status, plan = self.call("POST", "/v1/plans", {"name": "Gold", "amount": amount, "currency": "EUR", "interval": "month"})
        assert status == 201, plan
        return str(plan["id"])

    def mandate(self, token: str, reference: str = "ona") -> dict[str, Any]:
        now = self.local("GET", "/_local/clock")[1]["now"]
        status, mandate = self.call(
            "POST",
            "/v1/mandates",
            {
                "plan_id": self.plan(),
                "customer": {"reference": reference, "email": "ona@example.lt", "name": "Ona Onaitė"},
                "payment_method": {"gateway": "stripe", "token": token},
                "consent": {"accepted_at": now, "ip": "203.0.113.9", "user_agent": "test"},
            },
        )
        assert status == 201 and mandate["status"] == "active", mandate
        return dict(mandate)

    def card_mandate(self, behaviour: str = "ok") -> dict[str, Any]:
        customer = self.standin.add_customer(email="ona@example.lt", name="Ona Onaitė", metadata={"merchant_id": self.id})
        return self.mandate(f"{customer}:{self.standin.add_payment_method(customer, 'card', behaviour)}")

    def sepa_mandate(self) -> dict[str, Any]:
        token, _ = sepa_mandate_at_stripe(self.standin, self.id)
        return self.mandate(token)

    def tick(self) -> dict[str, Any]:
        status, done = self.local("POST", "/_local/tick")
        assert status == 200, done
        return dict(done)

    def first_charge(self, mandate: dict[str, Any]) -> dict[str, Any]:
        """The mandate's first cycle dispatched and charged at "Stripe": a card's at once; a bank
        debit's once its pre-notification (given at this tick) has run its 3 days."""
        self.tick()
        if not self.call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]:
            assert self.local("POST", "/_local/clock", {"advance_seconds": 3 * 86400})[0] == 200
            self.tick()
        [charge] = self.call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
        return dict(charge)

    def charge(self, charge_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/charges/{charge_id}")[1])

    def events(self, kind: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/v1/events?type={kind}&limit=100")[1]["data"])

    def intent_of(self, charge: dict[str, Any]) -> str:
        [intent] = [
            o
            for o in self.standin.store.objects.values()
            if o.get("object") == "payment_intent" and o["metadata"].get("charge_id") == charge["id"]
        ]
        return str(intent["id"])

    def applied(self) -> None:
        """Stripe's events delivered (every one verified: 200) and the inbound queue drained (by
        the tick, or the runtime's own background polling before it)."""
        assert self.standin.flush()
        assert all(d.status == 200 for d in self.standin.deliveries), self.standin.deliveries
        self.tick()

    def refund(self, charge_id: str, amount: int, key: str) -> tuple[int, Any]:
        return self.call("POST", f"/v1/charges/{charge_id}/refunds", {"amount": amount}, {"Idempotency-Key": key})


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def about(events: list[dict[str, Any]], object_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"]["object"]["id"] == object_id]


# ------------------------------------------------------------------------------------- disputes
def test_a_card_dispute_limits_refunds_until_it_is_won(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Dispute won")
    # Given a card charge that succeeded at Stripe
    mandate = shop.card_mandate()
    charge = shop.first_charge(mandate)
    assert charge["status"] == "succeeded", charge
    # When the cardholder disputes it (not as fraud) and Stripe's charge.dispute.created arrives
    dispute_ref = standin.open_dispute(shop.intent_of(charge), reason="product_not_received")
    shop.applied()
    # Then the dispute is listed, the charge shows the amount disputed, and refunds are limited
    [dispute] = shop.call("GET", f"/v1/disputes?charge_id={charge['id']}")[1]["data"]
    assert (dispute["status"], dispute["amount"], dispute["reason"], dispute["gateway_reference"]) == (
        "needs_response",
        1999,
        "product_not_received",
        dispute_ref,
    ), dispute
    assert dispute["evidence_due_by"] and dispute["mandate_id"] == mandate["id"]
    disputed = shop.charge(charge["id"])
    assert disputed["amount_disputed"] == 1999 and disputed["dispute_id"] == dispute["id"]
    status, refused = shop.refund(charge["id"], 100, "won-r1")
    assert status == 422 and refused["error"]["param"] == "amount", refused
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "active"  # not a fraud reason
    # When the merchant's evidence is under review, then the dispute is won
    standin.update_dispute(dispute_ref, "under_review")
    shop.applied()
    assert shop.call("GET", f"/v1/disputes/{dispute['id']}")[1]["status"] == "under_review"
    standin.update_dispute(dispute_ref, "won")
    shop.applied()
    # Then it is closed won, its amount released: a refund is allowed again
    won = shop.call("GET", f"/v1/disputes/{dispute['id']}")[1]
    assert won["status"] == "won" and won["closed_at"], won
    assert shop.charge(charge["id"])["amount_disputed"] == 0
    status, refund = shop.refund(charge["id"], 500, "won-r2")
    assert status == 201, refund
    kinds = [e["type"] for e in shop.events("dispute.created") + shop.events("dispute.updated") + shop.events("dispute.closed")]
    assert sorted(kinds) == ["dispute.closed", "dispute.created", "dispute.updated"]


def test_a_fraudulent_card_dispute_revokes_the_mandate_and_is_lost(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Dispute lost")
    # Given a card charge that succeeded at Stripe
    mandate = shop.card_mandate()
    charge = shop.first_charge(mandate)
    assert charge["status"] == "succeeded", charge
    # When it is disputed as fraud
    dispute_ref = standin.open_dispute(shop.intent_of(charge), reason="fraudulent")
    shop.applied()
    # Then the mandate is revoked, said to be the gateway's doing
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "revoked"
    [revoked] = about(shop.events("mandate.revoked"), mandate["id"])
    assert revoked["data"]["source"] == "gateway", revoked
    # When the dispute is lost
    standin.update_dispute(dispute_ref, "lost")
    shop.applied()
    # Then the money stays disputed: nothing of it can be refunded
    [dispute] = shop.call("GET", f"/v1/disputes?mandate_id={mandate['id']}")[1]["data"]
    assert dispute["status"] == "lost" and dispute["closed_at"], dispute
    assert shop.charge(charge["id"])["amount_disputed"] == 1999
    assert shop.refund(charge["id"], 1, "lost-r1")[0] == 422
    # When the next cycle is due, Then no attempt follows: no new charge, nothing sent to Stripe
    assert shop.local("POST", "/_local/clock", {"advance_seconds": 32 * 86400})[0] == 200
    shop.tick()
    assert [c["id"] for c in shop.call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]] == [charge["id"]]
    intents = [o for o in standin.store.objects.values() if o.get("object") == "payment_intent"]
    assert [i["metadata"]["charge_id"] for i in intents if i["metadata"]["mandate_id"] == mandate["id"]] == [charge["id"]]


def test_a_sepa_dispute_is_lost_at_once(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "SEPA dispute")
    # Given a SEPA debit settled at Stripe
    mandate = shop.sepa_mandate()
    charge = shop.first_charge(mandate)
    intent = shop.intent_of(charge)
    standin.settle(intent)
    shop.applied()
    assert shop.charge(charge["id"])["status"] == "succeeded"
    # When the customer claims it back from the bank (created and closed lost at once at Stripe)
    dispute_ref = standin.open_dispute(intent, reason="general")
    shop.applied()
    # Then the dispute is lost, with no evidence deadline, and its amount is held
    [dispute] = shop.call("GET", f"/v1/disputes?charge_id={charge['id']}")[1]["data"]
    assert (dispute["status"], dispute["gateway_reference"], dispute["evidence_due_by"]) == ("lost", dispute_ref, None)
    assert dispute["closed_at"]
    assert shop.charge(charge["id"])["amount_disputed"] == 1999
    assert shop.refund(charge["id"], 1, "sepa-dispute-r1")[0] == 422
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "active"  # "general": not revoked


# -------------------------------------------------------------------------------------- refunds
def test_a_refund_that_fails_after_it_succeeded_gives_the_amount_back(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Refund fails later")
    # Given a card charge refunded in part, the refund succeeded at Stripe
    charge = shop.first_charge(shop.card_mandate())
    status, refund = shop.refund(charge["id"], 500, "later-r1")
    assert status == 201, refund
    shop.tick()
    assert shop.call("GET", f"/v1/refunds/{refund['id']}")[1]["status"] == "succeeded"
    assert shop.charge(charge["id"])["amount_refunded"] == 500
    [at_stripe] = [
        o for o in standin.store.objects.values() if o.get("object") == "refund" and o["metadata"]["refund_id"] == refund["id"]
    ]
    # When it fails afterwards (the card was closed) and charge.refund.updated (failed) arrives
    standin.fail_refund(at_stripe["id"])
    shop.applied()
    # Then the refund is failed with Stripe's reason, and the charge's refunded amount goes back down
    failed = shop.call("GET", f"/v1/refunds/{refund['id']}")[1]
    assert (failed["status"], failed["failure_code"]) == ("failed", "expired_or_canceled_card"), failed
    assert shop.charge(charge["id"])["amount_refunded"] == 0
    assert about(shop.events("refund.failed"), refund["id"])


# ------------------------------------------------------------------------- the customer's page
class Page:
    """The customer's page of a mandate, as a browser posts it (Stripe.js's part done by the stand-in)."""

    def __init__(self, shop: Shop, mandate: dict[str, Any]) -> None:
        self.shop, self.mandate = shop, mandate
        self.url = str(mandate["approval_url"]).split("?", 1)[0]
        with urllib.request.urlopen(self.url, timeout=60) as response:
            self.body = response.read().decode()

    def setup_intent(self, kind: str) -> dict[str, Any]:
        """The SetupIntent the page asked Stripe for, for this mandate, of `kind`."""
        [intent] = [
            o
            for o in self.shop.standin.store.objects.values()
            if o.get("object") == "setup_intent"
            and o["metadata"].get("mandate_id") == self.mandate["id"]
            and o["payment_method_types"] == [kind]
        ]
        return dict(intent)

    def approve(self, setup_intent: str) -> int:
        fields = {
            "csrf": re.search(r'name="csrf" value="([^"]+)"', self.body).group(1),  # type: ignore[union-attr]
            "terms_sha256": re.search(r'name="terms_sha256" value="([^"]+)"', self.body).group(1),  # type: ignore[union-attr]
            "setup_intent": setup_intent,
            "consent": "yes",
        }
        origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlparse(self.url))
        request = urllib.request.Request(
            self.url + "/approve?lang=en",
            data=urllib.parse.urlencode(fields).encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": origin, "User-Agent": "Mozilla/5.0 (test)"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # the 303 followed to the page
            assert "done=approved" in response.url, response.url
            return int(response.status)


def approved_on_the_page(shop: Shop, kind: str, **details: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A mandate approved by its customer on the page with a method of `kind` confirmed at Stripe.
    Returns the mandate and the confirmed SetupIntent."""
    status, pending = shop.call(
        "POST",
        "/v1/mandates",
        {"plan_id": shop.plan(), "customer": {"reference": "ona", "email": "ona@example.lt", "name": "Ona Onaitė"}},
    )
    assert status == 201 and pending["status"] == "pending_approval", pending
    page = Page(shop, pending)
    confirmed = shop.standin.confirm_setup_intent(page.setup_intent(kind)["id"], type=kind, **details)
    assert page.approve(confirmed["id"]) == 200
    mandate = shop.call("GET", f"/v1/mandates/{pending['id']}")[1]
    assert mandate["status"] == "active", mandate
    return dict(mandate), confirmed


def test_the_page_sets_up_a_sepa_mandate_at_stripe(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Page SEPA")
    status, pending = shop.call(
        "POST",
        "/v1/mandates",
        {"plan_id": shop.plan(), "customer": {"reference": "ona", "email": "ona@example.lt", "name": "Ona Onaitė"}},
    )
    # When the customer opens the page of a mandate in euros, with a name and e-mail
    page = Page(shop, pending)
    # Then Stripe offers a bank account: a SEPA SetupIntent of this mandate, for off-session use, on the page
    bank = page.setup_intent("sepa_debit")
    assert bank["usage"] == "off_session" and bank["metadata"]["merchant_id"] == shop.id
    assert f'data-bank-id="{bank["id"]}"' in page.body and "SEPA Direct Debit mandate" in page.body
    customer = standin.get(bank["customer"])
    assert customer["metadata"] == {"merchant_id": shop.id, "mandate_id": pending["id"]}
    # When Stripe.js confirms it with an IBAN and the customer approves
    confirmed = standin.confirm_setup_intent(bank["id"], type="sepa_debit", behaviour="sepa_ok", last4="3000")
    assert page.approve(confirmed["id"]) == 200
    # Then the mandate takes the method from Stripe, with Stripe's mandate reference
    mandate = shop.call("GET", f"/v1/mandates/{pending['id']}")[1]
    method = mandate["payment_method"]
    reference = standin.get(confirmed["mandate"])["payment_method_details"]["sepa_debit"]["reference"]
    assert (mandate["status"], method["gateway"], method["type"], method["last4"], method["mandate_reference"]) == (
        "active",
        "stripe",
        "sepa_debit",
        "3000",
        reference,
    ), mandate
    # And its debit is made on that Stripe mandate
    charge = shop.first_charge(mandate)
    assert charge["status"] == "processing", charge
    assert standin.store.private[shop.intent_of(charge)]["mandate"] == confirmed["mandate"]


def test_a_card_updated_by_the_network_shows_its_new_digits(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Card updated")
    # Given a mandate approved on the page with a card confirmed at Stripe
    mandate, confirmed = approved_on_the_page(shop, "card", behaviour="ok", last4="4242")
    assert mandate["payment_method"]["last4"] == "4242"
    # When the card network replaces the card (payment_method.automatically_updated)
    standin.automatically_update(confirmed["payment_method"], "1881", exp_month=4, exp_year=2031)
    shop.applied()
    # Then the mandate shows the new digits, and says the gateway changed them
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["payment_method"]["last4"] == "1881"
    [updated] = about(shop.events("mandate.payment_method_updated"), mandate["id"])
    assert updated["data"]["source"] == "gateway", updated
    assert updated["data"]["previous_attributes"]["payment_method"]["last4"] == "4242"


def test_a_bank_mandate_cancelled_at_the_bank_revokes_and_its_debit_still_settles(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Bank cancels")
    # Given a SEPA mandate set up on the page, its first debit processing
    mandate, confirmed = approved_on_the_page(shop, "sepa_debit", behaviour="sepa_ok")
    charge = shop.first_charge(mandate)
    assert charge["status"] == "processing", charge
    # When the bank cancels the mandate (mandate.updated: inactive)
    standin.deactivate_mandate(confirmed["mandate"])
    shop.applied()
    # Then the mandate is revoked by the gateway
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "revoked"
    [revoked] = about(shop.events("mandate.revoked"), mandate["id"])
    assert revoked["data"]["source"] == "gateway", revoked
    # When the processing debit settles, Then the charge still succeeds
    standin.settle(shop.intent_of(charge))
    shop.applied()
    assert shop.charge(charge["id"])["status"] == "succeeded"


# ------------------------------------------------------------------------------ returned debits
def test_a_returned_sepa_debit_is_reversed_into_the_decline_rules(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Returned debit")
    # Given a SEPA debit that settled
    mandate = shop.sepa_mandate()
    charge = shop.first_charge(mandate)
    intent = shop.intent_of(charge)
    standin.settle(intent)
    shop.applied()
    assert shop.charge(charge["id"])["status"] == "succeeded"
    # When the bank returns it (insufficient funds, days later)
    standin.reverse(intent, "insufficient_funds")
    shop.applied()
    # Then the charge is reversed and back in the decline rules: a soft decline is retried
    returned = shop.charge(charge["id"])
    assert returned["status"] == "retrying" and returned["next_attempt_at"], returned
    assert about(shop.events("charge.reversed"), charge["id"])
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "active"
    # And when the retry is due (2 days after the return, a bank debit's notice days, later than
    # its day on the plan's schedule; the API shows whole seconds), a new debit (attempt 2, its own
    # PaymentIntent) goes to Stripe, not before
    assert parse(returned["next_attempt_at"]) >= parse(shop.local("GET", "/_local/clock")[1]["now"]) + timedelta(
        days=2, seconds=-1
    )
    assert shop.local("POST", "/_local/clock", {"advance_seconds": 2 * 86400 + 60})[0] == 200
    shop.tick()
    retried = [
        o["metadata"]["attempt"]
        for o in standin.store.objects.values()
        if o.get("object") == "payment_intent" and o["metadata"].get("charge_id") == charge["id"]
    ]
    assert sorted(retried) == ["1", "2"] and shop.charge(charge["id"])["status"] == "processing"


def test_a_sepa_debit_returned_as_unauthorised_revokes_the_mandate(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Unauthorised return")
    # Given a SEPA debit that settled
    mandate = shop.sepa_mandate()
    charge = shop.first_charge(mandate)
    intent = shop.intent_of(charge)
    standin.settle(intent)
    shop.applied()
    # When the bank returns it as not authorised by the account holder (a hard code)
    standin.reverse(intent, "debit_not_authorized")
    shop.applied()
    # Then the charge fails for good and the mandate is revoked, said to be the gateway's doing
    failed = shop.charge(charge["id"])
    assert failed["status"] == "failed" and failed["failure_code"] == "mandate_revoked", failed
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "revoked"
    [revoked] = about(shop.events("mandate.revoked"), mandate["id"])
    assert revoked["data"]["source"] == "gateway", revoked


# -------------------------------------------------------------------------- out of order, twice
def test_events_out_of_order_and_twice_are_applied_once(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Out of order")
    mandate = shop.sepa_mandate()
    # Given Stripe's events held back while a SEPA debit is made and settles
    standin.pause_delivery()
    charge = shop.first_charge(mandate)
    assert charge["status"] == "processing"
    standin.settle(shop.intent_of(charge))
    pending = standin.pending_events
    kinds = [standin.store.events.by_id[e]["type"] for e in pending]
    assert "payment_intent.processing" in kinds and "payment_intent.succeeded" in kinds, kinds
    # When they arrive newest first
    assert set(standin.deliver_pending(reverse=True)) == {200}
    shop.tick()
    # Then the charge succeeded (the late `processing` changed nothing)
    assert shop.charge(charge["id"])["status"] == "succeeded"
    # When every one arrives again
    assert {standin.deliver(e) for e in pending} == {200}
    shop.tick()
    # Then nothing more happened: one success, one processing
    assert shop.charge(charge["id"])["status"] == "succeeded"
    assert len(about(shop.events("charge.succeeded"), charge["id"])) == 1
    assert len(about(shop.events("charge.processing"), charge["id"])) == 1


# ------------------------------------------------- a merchant's own Stripe payment methods (its Customers)
def test_a_merchants_own_card_updated_by_the_network_reaches_every_mandate_using_it(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Own card updated")
    # Given two mandates the merchant created with the same card of its own Stripe Customer
    # (the Customer's metadata names the merchant only), and one with another card
    customer = standin.add_customer(email="ona@example.lt", name="Ona Onaitė", metadata={"merchant_id": shop.id})
    card = standin.add_payment_method(customer, "card", "ok", "4242")
    first, second = shop.mandate(f"{customer}:{card}"), shop.mandate(f"{customer}:{card}", reference="ona-2")
    other = shop.card_mandate()
    # Then Stripe was told which mandates use the card
    assert standin.get(card)["metadata"]["merchant_id"] == shop.id
    # When the card network replaces the card
    standin.automatically_update(card, "1881", exp_month=4, exp_year=2031)
    shop.applied()
    # Then both mandates using it show the new digits, said to be the gateway's doing; the other is unchanged
    digits = {m["id"]: shop.call("GET", f"/v1/mandates/{m['id']}")[1]["payment_method"]["last4"] for m in (first, second, other)}
    assert digits == {first["id"]: "1881", second["id"]: "1881", other["id"]: "4242"}, digits
    for mandate in (first, second):
        [updated] = about(shop.events("mandate.payment_method_updated"), mandate["id"])
        assert updated["data"]["source"] == "gateway", updated


def test_a_merchants_own_sepa_mandate_cancelled_at_the_bank_revokes(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Own bank cancels")
    # Given a mandate the merchant created with a SEPA method of its own Stripe Customer
    token, _ = sepa_mandate_at_stripe(standin, shop.id)
    mandate = shop.mandate(token)
    pm = token.split(":")[1]
    # When the bank cancels the SEPA mandate (mandate.updated: inactive)
    standin.deactivate_mandate(str(standin.mandate_of(pm)))
    shop.applied()
    # Then the mandate is revoked by the gateway
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "revoked"
    [revoked] = about(shop.events("mandate.revoked"), mandate["id"])
    assert revoked["data"]["source"] == "gateway", revoked


def test_a_sepa_debit_failing_on_a_closed_account_is_a_hard_decline(base: str, standin: StripeStandIn) -> None:
    shop = Shop(base, standin, "Closed account")
    # Given a SEPA debit whose bank answers "account closed" (Stripe: a generic error on the
    # PaymentIntent, the bank's code only on its Charge)
    customer = standin.add_customer(email="ona@example.lt", name="Ona Onaitė", metadata={"merchant_id": shop.id})
    pm = standin.add_payment_method(customer, "sepa_debit", "sepa_fail", failure_code="account_closed")
    mandate = shop.mandate(f"{customer}:{pm}")
    charge = shop.first_charge(mandate)
    assert charge["status"] == "processing", charge
    # When it fails at the bank and payment_intent.payment_failed arrives
    standin.settle(shop.intent_of(charge), succeeded=None)
    shop.applied()
    # Then the charge fails for good with invalid_account (no retry), and the mandate is past due
    failed = shop.charge(charge["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "invalid_account"), failed
    assert shop.call("GET", f"/v1/mandates/{mandate['id']}")[1]["status"] == "past_due"
