"""Stripe's webhook events in: verified with the official library, normalised into `GatewayEvent`.

`StripeInboundEvents.read` checks the `Stripe-Signature` header with `stripe.Webhook.construct_event`
(HMAC-SHA256 over `t.payload`, tolerance 5 minutes) against each signing secret in use: the
secret's value holds one `whsec_…`, or several separated by commas while an endpoint's secret is
rolled (Stripe signs with both for a while). Anything not verified (no header, no valid signature,
too old, not JSON, not an event) raises `RejectedGatewayEvent`; nothing of the payload is logged.

Normalising is pure parsing of Stripe's payload (only ids, amounts and codes are kept):

- `payment_intent.processing|succeeded|payment_failed` -> `PaymentReport` from the PaymentIntent's
  metadata (`merchant_id`, `charge_id`, `attempt`: each attempt has its own PaymentIntent),
  decline codes mapped as the charging adapter maps them. A `payment_failed` for an attempt the
  service recorded as succeeded is a returned debit: `GatewayEvents` reverses it (Stripe moves a
  returned SEPA debit's PaymentIntent from `succeeded` back to `requires_payment_method`; its
  payload cannot say it had succeeded, the recorded attempt can).
- `charge.refund.updated` -> `RefundReport` from the refund's metadata.
- `charge.dispute.created|updated|closed` -> `DisputeFacts` (Stripe's amount converted to our minor
  units); the dispute names only its PaymentIntent: the merchant and charge are read from it when
  the event is applied (`StripeObjects`), not here.
  A `payment_failed` whose `last_payment_error` is generic (a failed or returned SEPA debit:
  Stripe puts the bank's reason only on the Charge) names its `latest_charge` to read when applied
  (`StripeObjects.failure_code`: the Charge's `failure_code`, e.g. debit_not_authorized ->
  mandate_revoked, account_closed -> invalid_account); the generic code stays if that says no more.
- `mandate.updated` (inactive) and `payment_method.automatically_updated` -> `MethodReport`; the
  mandates are read when applied: the PaymentMethod's metadata (`StripeGateway.record_use`, every
  mandate using it), then its Customer's (the customer's page), the merchant always the Customer's.
- Any other type, or a payload without what it needs: None (acknowledged and ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from ..domain.disputes import DisputeStatus
from ..domain.money import CURRENCY_EXPONENT
from ..observability import logger
from ..service.gateway_events import DisputeFacts, GatewayEvent, MethodReport, PaymentReport, RefundReport
from ..service.ports import GatewayOwner, RejectedGatewayEvent
from .stripe import GENERIC_CODES, STRIPE_EXPONENT, USE_PREFIX, StripeGateway, contract_code, error_code

TOLERANCE_SECONDS = 300  # the contract's 5 minutes (the library's default too)

PAYMENT_OUTCOMES = {
    "payment_intent.processing": "processing",
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "declined",
}
REFUND_OUTCOMES = {"succeeded": "succeeded", "failed": "declined", "canceled": "declined", "pending": "processing"}
# Stripe's dispute statuses -> ours (an inquiry, "warning_…", is reported as the dispute it may become).
DISPUTE_STATUSES: dict[str, DisputeStatus] = {
    "warning_needs_response": "needs_response",
    "needs_response": "needs_response",
    "warning_under_review": "under_review",
    "under_review": "under_review",
    "won": "won",
    "warning_closed": "won",  # an inquiry closed without a chargeback: nothing was taken
    "prevented": "won",
    "lost": "lost",
}


def signing_secrets(value: str) -> list[str]:
    """The secrets in use: one, or several (comma or whitespace separated) during a rotation."""
    return [s for s in value.replace(",", " ").split() if s]


class StripeInboundEvents:
    """`InboundEvents` for Stripe: verify, then normalise."""

    def __init__(self, secrets: Callable[[], str], tolerance: int = TOLERANCE_SECONDS) -> None:
        self.secrets, self.tolerance = secrets, tolerance

    def read(self, payload: bytes, signature: str | None) -> GatewayEvent | None:
        return normalise(self.verified(payload, signature))

    def verified(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        import stripe

        if not signature:
            raise RejectedGatewayEvent("no Stripe-Signature header")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise RejectedGatewayEvent("the payload is not UTF-8") from None
        failure = "no signing secret configured"
        for secret in signing_secrets(self.secrets()):
            try:
                event = stripe.Webhook.construct_event(text, signature, secret, tolerance=self.tolerance)
            except stripe.SignatureVerificationError as error:
                failure = str(error.user_message or "signature not verified")
                continue
            except (ValueError, AttributeError, TypeError):  # verified, but not JSON, or not an object
                raise RejectedGatewayEvent("the payload is not a JSON object") from None
            data = event.to_dict()
            if not isinstance(data, dict) or data.get("object") != "event" or not isinstance(data.get("id"), str):
                raise RejectedGatewayEvent("the payload is not an event")
            return data
        raise RejectedGatewayEvent(failure)


def normalise(event: dict[str, Any]) -> GatewayEvent | None:
    """A verified Stripe event as a `GatewayEvent`; None for what this service does not handle.
    Raises RejectedGatewayEvent for an event whose envelope is malformed."""
    kind = event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    created = event.get("created")
    if not isinstance(kind, str) or not isinstance(obj, dict) or not isinstance(created, int):
        raise RejectedGatewayEvent("the event has no type, object or creation time")
    try:
        base: dict[str, Any] = {
            "id": event["id"],
            "gateway": "stripe",
            "event_type": kind,
            "created": datetime.fromtimestamp(created, timezone.utc),
        }
        fields = _facts(kind, obj)
        return GatewayEvent.model_validate(base | fields) if fields is not None else None
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError):
        return None  # a handled type about something this service did not write: not ours


def _facts(kind: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    metadata = obj.get("metadata") or {}
    if kind in PAYMENT_OUTCOMES:
        if "charge_id" not in metadata or "merchant_id" not in metadata:
            return None
        outcome, code, charge = PAYMENT_OUTCOMES[kind], None, None
        if outcome == "declined":
            raw = error_code(obj.get("last_payment_error"))
            code = contract_code(raw)
            if raw in GENERIC_CODES:
                # A SEPA debit failed or returned: the bank's reason is on its Charge, read when
                # the event is applied (`StripeObjects.failure_code`); the generic code otherwise.
                charge = _id(obj.get("latest_charge"))
        report = PaymentReport(
            charge_id=metadata["charge_id"],
            attempt=int(metadata["attempt"]),
            outcome=outcome,  # type: ignore[arg-type]  # one of the Literal's values
            decline_code=code,
            gateway_reference=obj.get("id"),
        )
        return {
            "merchant_id": metadata["merchant_id"],
            "mandate_id": metadata.get("mandate_id"),
            "payment": report,
            "resolve": charge,
        }
    if kind == "charge.refund.updated":
        status = REFUND_OUTCOMES.get(str(obj.get("status")))
        if status is None or "refund_id" not in metadata or "merchant_id" not in metadata:
            return None
        refund = RefundReport(
            refund_id=metadata["refund_id"],
            outcome=status,  # type: ignore[arg-type]  # one of the Literal's values
            failure_code=obj.get("failure_reason") if status == "declined" else None,
            gateway_reference=obj.get("id"),
        )
        return {"merchant_id": metadata["merchant_id"], "refund": refund}
    if kind in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"):
        intent, currency = _id(obj.get("payment_intent")), str(obj.get("currency") or "").upper()
        status = DISPUTE_STATUSES.get(str(obj.get("status")))
        if intent is None or status is None or currency not in CURRENCY_EXPONENT:
            return None
        due = (obj.get("evidence_details") or {}).get("due_by")
        facts = DisputeFacts(
            reference=obj["id"],
            amount=int(obj["amount"]) // 10 ** (STRIPE_EXPONENT[currency] - CURRENCY_EXPONENT[currency]),
            currency=currency,
            reason=obj.get("reason"),
            status=status,
            evidence_due_by=datetime.fromtimestamp(due, timezone.utc) if isinstance(due, int) else None,
        )
        return {"dispute": facts, "resolve": intent}
    if kind == "mandate.updated":
        method = _id(obj.get("payment_method"))
        if obj.get("status") != "inactive" or method is None:
            return None
        return {"method": MethodReport(mandate_inactive=True, payment_method=method), "resolve": method}
    if kind == "payment_method.automatically_updated":
        last4 = (obj.get("card") or {}).get("last4")
        if not last4 or not obj.get("id"):
            return None
        return {"method": MethodReport(last4=last4, payment_method=obj["id"]), "resolve": obj["id"]}
    return None


def _id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    return str(value["id"]) if isinstance(value, dict) and value.get("id") else None


class StripeObjects:
    """`GatewayObjects` for Stripe: whose PaymentIntent or payment method it is, from the metadata
    this service wrote, and why a payment failed (its Charge's `failure_code`)."""

    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway

    def owner_of(self, reference: str) -> GatewayOwner | None:
        v1 = self.gateway.client.v1
        if reference.startswith("pi_"):
            intent = self.gateway._read(lambda: v1.payment_intents.retrieve(reference))  # noqa: SLF001 - the adapter's read rules
            metadata = (intent or {}).get("metadata") or {}
            if not metadata.get("merchant_id") or not metadata.get("charge_id"):
                return None
            return GatewayOwner(merchant_id=metadata["merchant_id"], charge_id=metadata["charge_id"])
        if reference.startswith("pm_"):
            method = self.gateway._read(  # noqa: SLF001
                lambda: v1.payment_methods.retrieve(reference, params={"expand": ["customer"]})
            )
            return method_owner(reference, method or {})
        return None

    def failure_code(self, reference: str) -> str | None:
        if not reference.startswith(("ch_", "py_")):
            return None
        return self.gateway.failure_code(reference)


def method_owner(reference: str, method: dict[str, Any]) -> GatewayOwner | None:
    """The merchant and mandates a payment method (read with its Customer expanded) belongs to.
    The merchant is the Customer's `merchant_id` (what `belongs_to` checked when a mandate took the
    method); the mandates are the PaymentMethod's metadata first (`record_use`: every mandate using
    it, whoever created the Customer), then the Customer's `mandate_id` (a Customer the customer's
    page created for one mandate). A PaymentMethod's metadata naming another merchant than its
    Customer's is not trusted."""
    customer = method.get("customer")
    customer_meta = (customer.get("metadata") if isinstance(customer, dict) else None) or {}
    merchant = customer_meta.get("merchant_id")
    if not merchant:
        return None
    mandates: list[str] = []
    own = method.get("metadata") or {}
    if own.get("merchant_id") == merchant:
        mandates += [str(own["mandate_id"])] if own.get("mandate_id") else []
        mandates += [str(k)[len(USE_PREFIX) :] for k in own if str(k).startswith(USE_PREFIX) and len(str(k)) > len(USE_PREFIX)]
    elif own.get("merchant_id") or own.get("mandate_id"):
        logger.warning("payment method %s names another merchant than its customer's; not trusted", reference)
    if customer_meta.get("mandate_id"):
        mandates.append(str(customer_meta["mandate_id"]))
    mandates = list(dict.fromkeys(mandates))
    if not mandates:
        return None
    return GatewayOwner(merchant_id=str(merchant), mandate_id=mandates[0], other_mandate_ids=tuple(mandates[1:]))
