"""Stripe as the payment gateway, through the official `stripe` library (`StripeClient`): an
off-session PaymentIntent, confirmed at once. This module is the only one that imports it.

* Cards and SEPA Core direct debits. The PaymentIntent names the method's type
  (`allowed_payment_method_types`, this API version's name for it). A `sepa_debit` one also names
  the Mandate its SetupIntent created (`mandate`, allowed with `confirm=true`): the customer's
  succeeded SetupIntent for that payment method is found by listing the Customer's SetupIntents.
  A SEPA debit is `processing` for days: that is an answer (`outcome="processing"`, reference =
  the PaymentIntent), not a timeout; the engine looks the attempt up later (and the inbound
  events settle it sooner). A pending Refund (SEPA refunds take days) is `processing` the same way.

* One attempt = one PaymentIntent created with `idempotency_key = <charge>:<attempt>`; Stripe
  answers a repeated key with the first result, so a redelivered attempt never charges twice.
  The library retries a network failure or a 409/5xx once itself, with the same key.
* Declines (`CardError`, 402) are mapped to the contract's codes; the hard ones stop retries.
* Any other error about the request (`InvalidRequestError`: amount too small, unknown or
  detached payment method, a bare `pm_` reused...) is permanent: `gateway_rejected`, a hard
  failure. Our own key refused (`AuthenticationError`, `PermissionError`) is not the customer's
  fault: `GatewayUnavailable`, left to the operator's alarms.
* A timeout, a connection error (`APIConnectionError`) or a 5xx leave the outcome unknown
  (Stripe's own guidance: the request may have been processed). They raise `GatewayTimeout` and
  are asked again with the same key, never turned into a new attempt, while Stripe remembers the
  key (24 h); after that the charger only looks the attempt up (PaymentIntents search by its
  metadata). 429 and 409 (rate limit, concurrent use of the key) mean nothing happened yet:
  `GatewayUnavailable`, retried later with the same key.
* A PaymentIntent that needs the customer (`requires_action`: 3-D Secure while they are away)
  is cancelled before its attempt is recorded as an `authentication_required` decline: a retry
  makes a new PaymentIntent, and the customer can never complete two.
* Amounts go in Stripe's units: ISK, zero-decimal in ISO 4217, counts in hundredths at Stripe.
* The secret key comes from a provider (Powertools Parameters in Lambda) and is never logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..domain.charge import REJECTED, GatewayResult
from ..domain.money import CURRENCY_EXPONENT, Money
from ..domain.payment_methods import PaymentMethodType
from ..domain.refunds import REFUND_DECLINED
from ..observability import logger
from ..service.ports import AttemptRequest, GatewayTimeout, GatewayUnavailable, MethodDetails, RefundRequest

if TYPE_CHECKING:
    import stripe
    from stripe.params import CustomerCreateParams, PaymentIntentCreateParams, RefundCreateParams, SetupIntentCreateParams

# Stripe's decline / error codes -> the contract's. Hard ones (no retry can help) map to
# expired_card, invalid_account, mandate_revoked or fraudulent; the rest stay soft.
DECLINE_CODES: dict[str, str] = {
    "expired_card": "expired_card",
    "incorrect_number": "invalid_account",
    "invalid_number": "invalid_account",
    "invalid_account": "invalid_account",
    "account_closed": "invalid_account",
    "no_account": "invalid_account",
    "bank_account_restricted": "invalid_account",  # SEPA: the account cannot be debited
    "invalid_account_number": "invalid_account",
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


# What a PaymentIntent's `last_payment_error` says when it does not say why: a failed or returned
# SEPA debit carries the bank's reason only in its Charge's `failure_code` (`latest_charge`).
GENERIC_CODES = frozenset({"", "generic_decline", "card_declined", "payment_method_provider_decline"})
# The PaymentMethod's metadata naming the mandates of this service that use it: `merchant_id`, the
# last adopter as `mandate_id`, and one `mandate:<id>` key per mandate (Stripe merges metadata key
# by key, so two adoptions never overwrite each other).
USE_PREFIX = "mandate:"
METADATA_KEY_LENGTH = 40


def error_code(error: Any) -> str:
    """The code of a PaymentIntent's `last_payment_error` (its decline code first), as Stripe gave it.
    Raises TypeError for an error that is not an object (a payload this service did not expect)."""
    if error is None:
        return ""
    if not isinstance(error, dict):
        raise TypeError("last_payment_error is not an object")
    return str(error.get("decline_code") or error.get("code") or "")


def contract_code(raw: str) -> str:
    """Stripe's code -> the contract's (unknown ones kept as they are; no code at all: card_declined)."""
    return DECLINE_CODES.get(raw, raw or "card_declined")


SEPA_REFERENCE = re.compile(r"[A-Z0-9-]{1,35}")  # a SEPA mandate reference as the contract shows it

# Where Stripe's minor unit differs from ISO 4217's (docs.stripe.com/currencies, special cases).
STRIPE_EXPONENT: dict[str, int] = {**CURRENCY_EXPONENT, "ISK": 2}
NETWORK_RETRIES = 1  # the library's own retry of a failed request, with the same idempotency key


def stripe_amount(money: Money) -> int:
    """Our minor units -> Stripe's (exact: Stripe's exponent is never smaller than ISO's here)."""
    return int(money.amount * 10 ** (STRIPE_EXPONENT[money.currency] - CURRENCY_EXPONENT[money.currency]))


def split_token(token: str) -> tuple[str | None, str]:
    """`cus_…:pm_…` (a customer's saved method, needed off session) or a bare `pm_…`."""
    if ":" in token:
        customer, method = token.split(":", 1)
        return customer, method
    return None, token


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain data (its fields, nested objects included)."""
    return dict(obj.to_dict())


def _id(value: Any) -> str | None:
    """An expandable field: an id, or the object itself."""
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id")) if value.get("id") else None


class StripeGateway:
    key_memory: timedelta | None = timedelta(hours=24)  # Stripe prunes idempotency keys after 24 hours

    def __init__(self, secret_key: Callable[[], str], base_url: str = "https://api.stripe.com", timeout: float = 10.0) -> None:
        self.secret_key, self.base_url, self.timeout = secret_key, base_url.rstrip("/"), timeout
        self._client: stripe.StripeClient | None = None
        self._client_key: str | None = None

    @property
    def call_timeout(self) -> float:
        # The create and the library's one retry, and one more call: a PaymentIntent still processing
        # read again, or one waiting for the customer cancelled (beyond that, the outcome is unknown
        # and the attempt is asked again with the same key).
        return self.timeout * (NETWORK_RETRIES + 2)

    @property
    def client(self) -> stripe.StripeClient:
        """Built on first use (and again when the key is rotated): the import is paid only by
        processes that talk to Stripe."""
        import stripe

        key = self.secret_key()
        if self._client is None or key != self._client_key:
            stripe.enable_telemetry = False  # no timings of earlier requests sent along with the next
            self._client = stripe.StripeClient(
                key,
                base_addresses={"api": self.base_url},
                max_network_retries=NETWORK_RETRIES,
                http_client=stripe.RequestsClient(timeout=self.timeout),
            )
            self._client_key = key
        return self._client

    def charge(self, request: AttemptRequest) -> GatewayResult:
        import stripe

        customer, method = split_token(request.token)
        params: PaymentIntentCreateParams = {
            "amount": stripe_amount(request.money),
            "currency": request.money.currency.lower(),
            "payment_method": method,
            "allowed_payment_method_types": [request.method_type],
            "off_session": True,
            "confirm": True,
            "metadata": {
                "merchant_id": request.merchant_id,
                "mandate_id": request.mandate_id,
                "charge_id": request.charge_id,
                "attempt": str(request.attempt),
            },
        }
        if customer:
            params["customer"] = customer
        if request.method_type == "sepa_debit" and customer:
            # The SEPA mandate the customer accepted (without it Stripe uses the method's own
            # active one, or refuses: payment_intent_mandate_invalid, a hard rejection).
            setup = self._setup_intent_of(customer, method)
            if setup is not None and _id(setup.get("mandate")):
                params["mandate"] = str(_id(setup.get("mandate")))
        try:
            intent = self.client.v1.payment_intents.create(params=params, options={"idempotency_key": request.idempotency_key})
        except stripe.StripeError as error:
            return self._from_error(error)
        return self._from_intent(_plain(intent))

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        """The PaymentIntent of this (charge, attempt), found by its metadata (not by the key,
        which Stripe forgets after 24 h). Never creates a payment (one still waiting for the
        customer is cancelled, as after `charge`)."""
        import stripe

        query = f"metadata['charge_id']:'{request.charge_id}' AND metadata['attempt']:'{request.attempt}'"
        try:
            found = _plain(self.client.v1.payment_intents.search(params={"query": query}))
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"stripe {error.http_status} searching PaymentIntents") from error
        intents = [i for i in found.get("data") or [] if (i.get("metadata") or {}).get("merchant_id") == request.merchant_id]
        if not intents:
            return None
        return self._from_intent(intents[0])

    # ------------------------------------------------------------------ refunds
    def refund(self, request: RefundRequest) -> GatewayResult:
        """A Refund of the charge's PaymentIntent, keyed by the refund id: a repeated key answers
        the first result. Stripe's `pending` (a SEPA refund takes days) answers `processing`: the
        refund is looked up later (`lookup_refund`)."""
        import stripe

        if not request.charge_reference:
            return REJECTED  # no payment at Stripe to refund
        params: RefundCreateParams = {
            "payment_intent": request.charge_reference,
            "amount": stripe_amount(request.money),
            "metadata": {
                "merchant_id": request.merchant_id,
                "mandate_id": request.mandate_id,
                "charge_id": request.charge_id,
                "refund_id": request.refund_id,
            },
        }
        if request.reason in ("duplicate", "fraudulent", "requested_by_customer"):  # Stripe has no "other"
            params["reason"] = request.reason
        try:
            refund = _plain(self.client.v1.refunds.create(params=params, options={"idempotency_key": request.idempotency_key}))
        except stripe.StripeError as error:
            return self._from_error(error)
        return self._from_refund(refund)

    def lookup_refund(self, request: RefundRequest) -> GatewayResult | None:
        """The Refund carrying this refund id in its metadata, among its PaymentIntent's refunds."""
        import stripe

        if not request.charge_reference:
            return None
        try:
            found = _plain(self.client.v1.refunds.list(params={"payment_intent": request.charge_reference, "limit": 100}))
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"stripe {error.http_status} listing refunds") from error
        mine = [
            r
            for r in found.get("data") or []
            if (r.get("metadata") or {}).get("refund_id") == request.refund_id
            and (r.get("metadata") or {}).get("merchant_id") == request.merchant_id
        ]
        return self._from_refund(mine[0]) if mine else None

    @staticmethod
    def _from_refund(refund: dict[str, Any]) -> GatewayResult:
        state, reference = refund.get("status"), refund.get("id")
        if state == "succeeded":
            return GatewayResult(outcome="succeeded", gateway_reference=reference)
        if state in ("failed", "canceled"):
            code = refund.get("failure_reason") or REFUND_DECLINED
            return GatewayResult(outcome="declined", decline_code=str(code), gateway_reference=reference)
        # pending / requires_action: not settled yet (SEPA refunds take days); looked up later
        return GatewayResult(outcome="processing", gateway_reference=reference)

    # --------------------------------------------------------- customer's page
    def create_setup_intent(
        self,
        merchant_id: str,
        mandate_id: str,
        email: str | None,
        name: str | None,
        purpose: str = "",
        method_type: PaymentMethodType = "card",
    ) -> dict[str, str]:
        """A Customer and an off-session SetupIntent for one mandate, of `method_type`: Stripe.js
        collects the card (confirmCardSetup) or the IBAN (confirmSepaDebitSetup, with the account
        holder's name and e-mail as billing details) in the customer's browser, so card and account
        numbers never reach this service. A SEPA SetupIntent creates the multi-use Mandate; its
        customer acceptance (online: IP address and user agent) is what Stripe.js reports from the
        browser when the customer confirms, so no `mandate_data` is sent from here (this service
        never sees the customer's browser at that moment). Idempotent per mandate, `purpose`
        (approval: ""; a new method: one per state of the mandate) and type."""
        import stripe

        customer_params: CustomerCreateParams = {"metadata": {"merchant_id": merchant_id, "mandate_id": mandate_id}}
        if email:
            customer_params["email"] = email
        if name:
            customer_params["name"] = name
        try:
            customer = self.client.v1.customers.create(
                params=customer_params, options={"idempotency_key": f"customer:{mandate_id}"}
            )
            setup: SetupIntentCreateParams = {
                "customer": customer.id,
                "usage": "off_session",
                "allowed_payment_method_types": [method_type],  # this API version's name for the type
                "metadata": {"merchant_id": merchant_id, "mandate_id": mandate_id},
            }
            key = (
                f"setup:{mandate_id}" + (f":{purpose}" if purpose else "") + ("" if method_type == "card" else f":{method_type}")
            )
            intent = self.client.v1.setup_intents.create(params=setup, options={"idempotency_key": key})
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"stripe {error.http_status} preparing a SetupIntent") from error
        return {"id": intent.id, "client_secret": str(intent.client_secret), "customer": customer.id}

    def describe(self, token: str) -> MethodDetails:
        """The payment method's type and last four digits (card number or IBAN), read from Stripe,
        and for a SEPA debit the mandate reference Stripe holds: the Mandate's
        `payment_method_details.sepa_debit.reference`, the Mandate being the one the Customer's
        succeeded SetupIntent for this method created (Stripe lists no Mandates by payment
        method; a SetupIntent list filtered by customer and payment method is the documented way).
        A reference outside the scheme's `A-Z0-9-`/35 is not taken (the mandate derives one)."""
        customer, method_id = split_token(token)
        method = self._read(lambda: self.client.v1.payment_methods.retrieve(method_id)) or {}
        kind: PaymentMethodType = "sepa_debit" if method.get("type") == "sepa_debit" else "card"
        last4 = (method.get(kind) or {}).get("last4")
        reference = None
        if kind == "sepa_debit" and customer:
            setup = self._setup_intent_of(customer, method_id)
            mandate_id = _id(setup.get("mandate")) if setup else None
            if mandate_id:
                mandate = self._read(lambda: self.client.v1.mandates.retrieve(mandate_id)) or {}
                found = ((mandate.get("payment_method_details") or {}).get("sepa_debit") or {}).get("reference")
                reference = str(found) if found and SEPA_REFERENCE.fullmatch(str(found)) else None
        return MethodDetails(type=kind, last4=str(last4) if last4 else None, mandate_reference=reference)

    def _setup_intent_of(self, customer_id: str, method_id: str) -> dict[str, Any] | None:
        """The Customer's newest succeeded SetupIntent that saved this payment method (it holds the
        SEPA Mandate's id). Stripe unreachable raises GatewayUnavailable (nothing was charged)."""
        if "/" in customer_id or "/" in method_id:
            return None
        found = self._read(
            lambda: self.client.v1.setup_intents.list(params={"customer": customer_id, "payment_method": method_id, "limit": 10})
        )
        intents = [i for i in (found or {}).get("data") or [] if i.get("status") == "succeeded"]
        return dict(intents[0]) if intents else None

    def belongs_to(self, merchant_id: str, token: str) -> bool:
        """Whether a `cus_…:pm_…` token is a payment method of a Stripe Customer created for this
        merchant (its metadata) and attached to it. A bare `pm_…` belongs to no merchant: it cannot
        be charged off session anyway. Stripe unreachable raises GatewayUnavailable."""
        customer_id, method_id = split_token(token)
        if customer_id is None or "/" in customer_id or "/" in method_id:
            return False
        customer = self._read(lambda: self.client.v1.customers.retrieve(customer_id))
        if customer is None or customer.get("deleted") or (customer.get("metadata") or {}).get("merchant_id") != merchant_id:
            return False
        method = self._read(lambda: self.client.v1.payment_methods.retrieve(method_id))
        return method is not None and _id(method.get("customer")) == customer_id

    def _read(self, read: Callable[[], Any]) -> Any:
        """A read whose 4xx is an answer (None: not found, not ours) and whose 429/5xx/network
        failure is an outage."""
        import stripe

        try:
            return _plain(read())
        except (stripe.InvalidRequestError, stripe.PermissionError):
            return None
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"stripe {error.http_status} reading") from error

    def confirmed_payment_method(self, setup_intent_id: str, mandate_id: str) -> str | None:
        """`cus_…:pm_…` when the SetupIntent of this mandate succeeded, else None."""
        if not setup_intent_id.startswith("seti_") or "/" in setup_intent_id:
            return None
        intent = self._read(lambda: self.client.v1.setup_intents.retrieve(setup_intent_id))
        if intent is None or intent.get("status") != "succeeded":
            return None
        if (intent.get("metadata") or {}).get("mandate_id") != mandate_id:
            return None
        customer, method = _id(intent.get("customer")), _id(intent.get("payment_method"))
        return f"{customer}:{method}" if customer and method else None

    # ------------------------------------------------------------------ mapping
    def _from_intent(self, intent: Any) -> GatewayResult:

        state, reference = intent.get("status"), intent.get("id")
        if state == "processing":
            # Accepted, not settled yet (a SEPA debit: days): the engine looks it up later.
            return GatewayResult(outcome="processing", gateway_reference=reference)
        if state == "requires_action":
            intent = self._cancel_waiting(intent)
            state = intent.get("status")
            if state == "canceled":
                return GatewayResult(outcome="declined", decline_code="authentication_required", gateway_reference=reference)
            if state == "processing":  # the customer completed it meanwhile
                return GatewayResult(outcome="processing", gateway_reference=reference)
            if state not in ("succeeded", "requires_payment_method"):  # still open, or moving: not an outcome yet
                raise GatewayTimeout(f"{reference} is {state}")
        if state == "succeeded":
            return GatewayResult(outcome="succeeded", gateway_reference=reference)
        raw = error_code(intent.get("last_payment_error"))
        code = contract_code(raw)
        charge = _id(intent.get("latest_charge"))
        if raw in GENERIC_CODES and charge:
            code = self.failure_code(charge) or code  # a SEPA debit: the bank's reason is on the Charge
        return GatewayResult(outcome="declined", decline_code=code, gateway_reference=reference)

    def failure_code(self, charge_id: str) -> str | None:
        """The contract's code for why a Charge (`ch_…`, or a SEPA debit's `py_…`) failed, from its
        `failure_code` (the bank's reason for a SEPA debit: account_closed, debit_not_authorized…);
        None when it has none beyond a generic decline, or is not found. Raises GatewayUnavailable."""
        if "/" in charge_id:
            return None
        charge = self._read(lambda: self.client.v1.charges.retrieve(charge_id)) or {}
        raw = str(charge.get("failure_code") or "")
        return None if raw in GENERIC_CODES else contract_code(raw)

    def record_use(self, merchant_id: str, mandate_id: str, token: str) -> None:
        """Record at Stripe that this mandate uses the payment method (its metadata: `merchant_id`,
        `mandate_id` the last adopter, and `mandate:<id>` for each mandate), so that what Stripe
        later reports about the method alone (a card replaced by the network, a SEPA mandate
        cancelled at the bank) reaches every mandate using it, whoever created its Customer. One
        update, idempotent (the same keys set again). A method that cannot take another key
        (Stripe's 50) keeps `mandate_id` only, naming this mandate. Raises GatewayUnavailable."""
        import stripe

        _, method_id = split_token(token)
        if "/" in method_id or not method_id.startswith("pm_"):
            return
        metadata: dict[str, str] = {"merchant_id": merchant_id, "mandate_id": mandate_id}
        if len(USE_PREFIX + mandate_id) <= METADATA_KEY_LENGTH:
            metadata[USE_PREFIX + mandate_id] = "uses"
        methods = self.client.v1.payment_methods
        try:
            try:
                methods.update(method_id, params={"metadata": metadata})
            except stripe.InvalidRequestError:
                if len(metadata) == 2:
                    raise
                methods.update(method_id, params={"metadata": {"merchant_id": merchant_id, "mandate_id": mandate_id}})
        except stripe.InvalidRequestError as refused:
            # Not updatable (detached or deleted since it was checked): nothing to record; the
            # mandate is charged (and refused) as any other.
            logger.warning("stripe refused recording the mandate on %s: %s", method_id, refused.code)
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"stripe {error.http_status} recording a payment method's mandate") from error

    def _cancel_waiting(self, intent: dict[str, Any]) -> dict[str, Any]:
        """Cancel a PaymentIntent waiting for the customer (3-D Secure while they are away) before
        its attempt is recorded as declined: the retry makes a new PaymentIntent, and the customer
        must never be able to complete this one as well. A cancel Stripe refuses means the intent
        moved on meanwhile (the customer completed it): what it became is read instead. No answer
        leaves the outcome unknown: the attempt is asked again with the same key (which answers
        this intent again) and cancelled then."""
        import stripe

        reference = str(intent.get("id"))
        try:
            return _plain(self.client.v1.payment_intents.cancel(reference, params={"cancellation_reason": "abandoned"}))
        except stripe.InvalidRequestError:
            pass  # not cancellable any more
        except stripe.StripeError as failure:
            raise GatewayTimeout(f"{reference} waits for the customer and is not cancelled yet") from failure
        try:
            return _plain(self.client.v1.payment_intents.retrieve(reference))
        except stripe.StripeError as failure:
            raise GatewayTimeout(f"{reference} could not be cancelled nor read") from failure

    @staticmethod
    def _from_error(error: stripe.StripeError) -> GatewayResult:
        import stripe

        body = error.json_body if isinstance(error.json_body, dict) else {}
        detail = body.get("error") or {}
        reference = _id(detail.get("payment_intent"))
        status = error.http_status or 0
        if isinstance(error, stripe.APIConnectionError):
            raise GatewayTimeout(f"stripe unreachable or timed out: {type(error).__name__}") from error
        if isinstance(error, stripe.CardError) or detail.get("type") == "card_error":  # a 400 card_error: e.g. a detached method
            code = detail.get("decline_code") or detail.get("code") or "card_declined"
            return GatewayResult(outcome="declined", decline_code=DECLINE_CODES.get(code, code), gateway_reference=reference)
        if isinstance(error, stripe.RateLimitError) or status == 409:
            raise GatewayUnavailable(f"stripe {status} {detail.get('code')}: try again later with the same key") from error
        if status >= 500:
            raise GatewayTimeout(f"stripe {status}: outcome unknown") from error
        if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
            # Our own credentials were refused: nothing happened, and it is not the customer's
            # fault. Try later (same key); the DLQ and unsettled-attempt alarms call the operator.
            raise GatewayUnavailable(f"stripe {status} {detail.get('type')}: check the Stripe secret key") from error
        if detail.get("code") == "payment_intent_mandate_invalid":
            # The SEPA mandate is no longer usable (cancelled at the bank, or never accepted): the
            # customer's permission is gone, a hard decline as the contract names it.
            return GatewayResult(outcome="declined", decline_code="mandate_revoked", gateway_reference=reference)
        # Any other 4xx: this request can never succeed (amount too small, unknown or detached
        # payment method, a bare pm_ reused...): a hard failure, not an endless retry.
        return REJECTED.model_copy(update={"gateway_reference": reference})
