"""Stripe as the payment gateway: an off-session PaymentIntent, confirmed at once.

* One attempt = one `POST /v1/payment_intents` with `Idempotency-Key: <charge>:<attempt>`;
  Stripe answers a repeated key with the first result, so a redelivered attempt never
  charges twice.
* Declines (HTTP 402) are mapped to the contract's codes; the hard ones stop retries.
* Any other 4xx about the request (`invalid_request_error`: amount too small, unknown or
  detached payment method, a bare `pm_` reused...) is permanent: `gateway_rejected`, a hard
  failure. 401/403 (our own key refused) are not the customer's fault: `GatewayUnavailable`,
  left to the operator's alarms.
* A timeout, a connection error or a 5xx leave the outcome unknown (Stripe's own guidance: the
  request may have been processed). They raise `GatewayTimeout` and are asked again with the
  same key, never turned into a new attempt, while Stripe remembers the key (24 h); after
  that the charger only looks the attempt up (PaymentIntents search by its metadata).
  429 and 409 (rate limit, concurrent use of the key) mean nothing happened yet:
  `GatewayUnavailable`, retried later with the same key.
* Amounts go in Stripe's units: ISK, zero-decimal in ISO 4217, counts in hundredths at Stripe.
* The secret key comes from a provider (Powertools Parameters in Lambda) and is never logged.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..domain.charge import REJECTED, GatewayResult
from ..domain.money import CURRENCY_EXPONENT
from ..service.ports import AttemptRequest, GatewayTimeout, GatewayUnavailable

API_VERSION = "2024-06-20"

# Stripe's decline / error codes -> the contract's. Hard ones (no retry can help) map to
# expired_card, invalid_account, mandate_revoked or fraudulent; the rest stay soft.
DECLINE_CODES: dict[str, str] = {
    "expired_card": "expired_card",
    "incorrect_number": "invalid_account",
    "invalid_number": "invalid_account",
    "invalid_account": "invalid_account",
    "account_closed": "invalid_account",
    "no_account": "invalid_account",
    "card_not_supported": "invalid_account",
    "lost_card": "fraudulent",
    "stolen_card": "fraudulent",
    "pickup_card": "fraudulent",
    "fraudulent": "fraudulent",
    "merchant_blacklist": "fraudulent",
    "revocation_of_authorization": "mandate_revoked",
    "revocation_of_all_authorizations": "mandate_revoked",
    "stop_payment_order": "mandate_revoked",
    "debit_not_authorized": "mandate_revoked",
    "authentication_required": "authentication_required",
    "insufficient_funds": "insufficient_funds",
}


# Where Stripe's minor unit differs from ISO 4217's (docs.stripe.com/currencies, special cases).
STRIPE_EXPONENT: dict[str, int] = {**CURRENCY_EXPONENT, "ISK": 2}


def stripe_amount(amount: int, currency: str) -> int:
    """Our minor units -> Stripe's (exact: Stripe's exponent is never smaller than ISO's here)."""
    return int(amount * 10 ** (STRIPE_EXPONENT[currency] - CURRENCY_EXPONENT[currency]))


def split_token(token: str) -> tuple[str | None, str]:
    """`cus_…:pm_…` (a customer's saved method, needed off session) or a bare `pm_…`."""
    if ":" in token:
        customer, method = token.split(":", 1)
        return customer, method
    return None, token


class StripeGateway:
    key_memory: timedelta | None = timedelta(hours=24)  # Stripe prunes idempotency keys after 24 hours

    def __init__(self, secret_key: Callable[[], str], base_url: str = "https://api.stripe.com", timeout: float = 15.0) -> None:
        self.secret_key, self.base_url, self.timeout = secret_key, base_url.rstrip("/"), timeout

    @property
    def call_timeout(self) -> float:
        return self.timeout * 2  # a PaymentIntent that is still processing is read once more

    def charge(self, request: AttemptRequest) -> GatewayResult:
        customer, method = split_token(request.token)
        form: dict[str, Any] = {
            "amount": stripe_amount(request.amount, request.currency),
            "currency": request.currency.lower(),
            "payment_method": method,
            "off_session": "true",
            "confirm": "true",
            "metadata[merchant_id]": request.merchant_id,
            "metadata[mandate_id]": request.mandate_id,
            "metadata[charge_id]": request.charge_id,
            "metadata[attempt]": request.attempt,
        }
        if customer:
            form["customer"] = customer
        status, body = self._call("POST", "/v1/payment_intents", form, request.idempotency_key)
        if status == 200:
            return self._from_intent(body)
        return self._from_error(status, body)

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        """The PaymentIntent of this (charge, attempt), found by its metadata (not by the key,
        which Stripe forgets after 24 h). Read-only: never creates a payment."""
        query = f"metadata['charge_id']:'{request.charge_id}' AND metadata['attempt']:'{request.attempt}'"
        status, body = self._call("GET", "/v1/payment_intents/search?" + urllib.parse.urlencode({"query": query}), None, None)
        if status != 200:
            raise GatewayUnavailable(f"stripe {status} searching PaymentIntents")
        intents = [i for i in body.get("data") or [] if (i.get("metadata") or {}).get("merchant_id") == request.merchant_id]
        if not intents:
            return None
        return self._from_intent(intents[0])

    # --------------------------------------------------------- customer's page
    def create_setup_intent(self, merchant_id: str, mandate_id: str, email: str | None, name: str | None) -> dict[str, str]:
        """A Customer and an off-session card SetupIntent for one mandate; Stripe.js collects the card
        in the customer's browser, so card data never reaches this service. Idempotent per mandate."""
        customer_form: dict[str, Any] = {"metadata[merchant_id]": merchant_id, "metadata[mandate_id]": mandate_id}
        if email:
            customer_form["email"] = email
        if name:
            customer_form["name"] = name
        status, customer = self._call("POST", "/v1/customers", customer_form, f"customer:{mandate_id}")
        if status != 200:
            raise GatewayUnavailable(f"stripe {status} creating a customer")
        form = {
            "customer": customer["id"],
            "usage": "off_session",
            "payment_method_types[]": "card",
            "metadata[merchant_id]": merchant_id,
            "metadata[mandate_id]": mandate_id,
        }
        status, intent = self._call("POST", "/v1/setup_intents", form, f"setup:{mandate_id}")
        if status != 200:
            raise GatewayUnavailable(f"stripe {status} creating a SetupIntent")
        return {"id": intent["id"], "client_secret": intent["client_secret"], "customer": customer["id"]}

    def belongs_to(self, merchant_id: str, token: str) -> bool:
        """Whether a `cus_…:pm_…` token is a payment method of a Stripe Customer created for this
        merchant (its metadata) and attached to it. A bare `pm_…` belongs to no merchant: it cannot
        be charged off session anyway. Stripe unreachable raises GatewayTimeout."""
        customer, method = split_token(token)
        if customer is None or "/" in customer or "/" in method:
            return False
        status, found = self._read(f"/v1/customers/{customer}")
        if status != 200 or found.get("deleted") or (found.get("metadata") or {}).get("merchant_id") != merchant_id:
            return False
        status, attached = self._read(f"/v1/payment_methods/{method}")
        owner = attached.get("customer")
        return status == 200 and (owner.get("id") if isinstance(owner, dict) else owner) == customer

    def _read(self, path: str) -> tuple[int, dict[str, Any]]:
        """A GET whose 4xx is an answer (not found, not ours) and whose 429/5xx is an outage."""
        status, body = self._call("GET", path, None, None)
        if status == 429 or status >= 500:
            raise GatewayUnavailable(f"stripe {status} reading {path.split('/')[2]}")
        return status, body

    def confirmed_payment_method(self, setup_intent_id: str, mandate_id: str) -> str | None:
        """`cus_…:pm_…` when the SetupIntent of this mandate succeeded, else None."""
        if not setup_intent_id.startswith("seti_") or "/" in setup_intent_id:
            return None
        status, intent = self._call("GET", f"/v1/setup_intents/{setup_intent_id}", None, None)
        if status != 200 or intent.get("status") != "succeeded":
            return None
        if (intent.get("metadata") or {}).get("mandate_id") != mandate_id:
            return None
        customer, method = intent.get("customer"), intent.get("payment_method")
        if isinstance(method, dict):
            method = method.get("id")
        return f"{customer}:{method}" if customer and method else None

    # ------------------------------------------------------------------ mapping
    def _from_intent(self, intent: dict[str, Any]) -> GatewayResult:
        state, reference = intent.get("status"), intent.get("id")
        if state == "processing":
            # Not settled yet (some methods take a moment): look again, and if still
            # processing let the message come back later with the same key.
            status, intent = self._call("GET", f"/v1/payment_intents/{reference}", None, None)
            state = intent.get("status") if status == 200 else None
            if state == "processing" or status != 200:
                raise GatewayTimeout(f"{reference} is still processing")
        if state == "succeeded":
            return GatewayResult(outcome="succeeded", gateway_reference=reference)
        if state == "requires_action":
            return GatewayResult(outcome="declined", decline_code="authentication_required", gateway_reference=reference)
        error = intent.get("last_payment_error") or {}
        code = error.get("decline_code") or error.get("code") or "card_declined"
        return GatewayResult(outcome="declined", decline_code=DECLINE_CODES.get(code, code), gateway_reference=reference)

    @staticmethod
    def _from_error(status: int, body: dict[str, Any]) -> GatewayResult:
        error = body.get("error") or {}
        reference = (error.get("payment_intent") or {}).get("id")
        if status == 402:
            code = error.get("decline_code") or error.get("code") or "card_declined"
            return GatewayResult(outcome="declined", decline_code=DECLINE_CODES.get(code, code), gateway_reference=reference)
        if status in (409, 429):
            raise GatewayUnavailable(f"stripe {status} {error.get('code')}: try again later with the same key")
        if status >= 500:
            raise GatewayTimeout(f"stripe {status}: outcome unknown")
        if status == 400 and error.get("type") == "card_error":  # e.g. a detached payment method
            code = error.get("code") or "card_declined"
            return GatewayResult(outcome="declined", decline_code=DECLINE_CODES.get(code, code), gateway_reference=reference)
        if status in (401, 403):
            # Our own credentials were refused: nothing happened, and it is not the customer's
            # fault. Try later (same key); the DLQ and unsettled-attempt alarms call the operator.
            raise GatewayUnavailable(f"stripe {status} {error.get('type')}: check the Stripe secret key")
        # Any other 4xx: this request can never succeed (amount too small, unknown or detached
        # payment method, a bare pm_ reused...): a hard failure, not an endless retry.
        return REJECTED.model_copy(update={"gateway_reference": reference})

    # -------------------------------------------------------------------- HTTP
    def _call(
        self, method: str, path: str, form: dict[str, Any] | None, idempotency_key: str | None
    ) -> tuple[int, dict[str, Any]]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.secret_key()}")
        request.add_header("Stripe-Version", API_VERSION)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if idempotency_key:
            request.add_header("Idempotency-Key", idempotency_key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (fixed https base)
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                payload = json.loads(error.read() or b"{}")
            except ValueError:
                payload = {}
            return error.code, payload
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
            raise GatewayTimeout(f"stripe unreachable or timed out: {type(error).__name__}") from error
