"""What Stripe reports as money moved, for reconciliation (the `GatewayLedger` port), read with
the official `stripe` library.

One Stripe account serves every merchant of the deployment, so Stripe's lists cannot be asked
for one merchant: the PaymentIntents, Refunds and Disputes created in the read window are listed
once (newest first, `auto_paging_iter`: every page, `limit` 100) and grouped by the merchant
id in their metadata (a Dispute by its PaymentIntent's, expanded); an instance keeps that
reading for the window, so a worker that reconciles many merchants of one day reads Stripe once.

Stripe dates each object by its `created`. A PaymentIntent `succeeded` is a charge; one whose
latest Charge was captured and has failed since is a charge and its reversal (a SEPA debit
returned); `processing` is processing; anything else moved no money. A Refund `succeeded` is
money returned (`pending` processing; `canceled` none; `failed` with a failure balance
transaction: returned, then back at that transaction's time); a Dispute `lost` is money
returned (`won` none; open ones processing). Amounts come back to ISO minor units (Stripe counts
ISK in hundredths).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from ..domain.money import CURRENCY_EXPONENT
from ..domain.reconciliation import GatewayEntry, GatewayStatus
from ..service.ports import GatewayUnavailable
from .stripe import STRIPE_EXPONENT, StripeGateway

PAGE = 100


def iso_amount(amount: Any, currency: str) -> int:
    """Stripe's units -> our minor units (exact: the currencies where they differ are whole at Stripe)."""
    code, value = currency.upper(), int(amount)
    if code not in CURRENCY_EXPONENT:
        return value
    return value // int(10 ** (STRIPE_EXPONENT[code] - CURRENCY_EXPONENT[code]))


def _at(created: Any) -> datetime:
    return datetime.fromtimestamp(int(created), tz=timezone.utc)


class StripeLedger:
    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway
        self._read: dict[tuple[int, int, int], dict[str, list[GatewayEntry]]] = {}

    def entries(
        self, merchant_id: str, payments_since: datetime, disputes_since: datetime, until: datetime
    ) -> list[GatewayEntry]:
        window = (int(payments_since.timestamp()), int(disputes_since.timestamp()), int(until.timestamp()))
        if window not in self._read:
            self._read = {window: self._all(*window)}  # one window at a time: a day's worker
        return list(self._read[window].get(merchant_id, []))

    def _list(self, resource: Callable[..., Any], since: int, until: int, expand: list[str]) -> Iterator[dict[str, Any]]:
        import stripe

        params: dict[str, Any] = {"created": {"gte": since, "lt": until}, "limit": PAGE}
        if expand:
            params["expand"] = expand
        try:
            for obj in resource(params=params).auto_paging_iter():
                yield dict(obj.to_dict())
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"stripe {error.http_status} listing for reconciliation") from error

    def _all(self, payments_since: int, disputes_since: int, until: int) -> dict[str, list[GatewayEntry]]:
        v1 = self.gateway.client.v1
        out: dict[str, list[GatewayEntry]] = defaultdict(list)
        for intent in self._list(v1.payment_intents.list, payments_since, until, ["data.latest_charge"]):
            meta = intent.get("metadata") or {}
            if not meta.get("merchant_id"):
                continue  # not this service's
            out[str(meta["merchant_id"])] += self._of_intent(intent, meta)
        for refund in self._list(v1.refunds.list, payments_since, until, ["data.failure_balance_transaction"]):
            meta = refund.get("metadata") or {}
            if not meta.get("merchant_id"):
                continue
            out[str(meta["merchant_id"])] += self._of_refund(refund, meta)
        for dispute in self._list(v1.disputes.list, disputes_since, until, ["data.payment_intent"]):
            paid = dispute.get("payment_intent")
            meta = (paid.get("metadata") if isinstance(paid, dict) else None) or {}
            if not meta.get("merchant_id"):
                continue
            state = str(dispute.get("status"))
            status: GatewayStatus = "succeeded" if state == "lost" else "failed" if state == "won" else "processing"
            out[str(meta["merchant_id"])].append(
                GatewayEntry(
                    "dispute",
                    status,
                    currency=str(dispute["currency"]).upper(),
                    amount=iso_amount(dispute["amount"], dispute["currency"]),
                    at=_at(dispute["created"]),
                    gateway_reference=str(dispute["id"]),
                    gateway="stripe",
                    charge_id=meta.get("charge_id"),
                )
            )
        return dict(out)

    @staticmethod
    def _of_refund(refund: dict[str, Any], meta: dict[str, Any]) -> list[GatewayEntry]:
        """A Refund moved money at its `created`; a failed one whose `failure_balance_transaction`
        (expanded) gave it back moved it back at that transaction's `created` (`refund_failure`)."""
        state = str(refund.get("status"))
        back = refund.get("failure_balance_transaction")
        returned = state == "failed" and isinstance(back, dict) and back.get("created") is not None
        status: GatewayStatus = (
            "succeeded"
            if state == "succeeded" or returned
            else "processing"
            if state in ("pending", "requires_action")
            else "failed"
        )
        facts: dict[str, Any] = {
            "currency": str(refund["currency"]).upper(),
            "amount": iso_amount(refund["amount"], refund["currency"]),
            "gateway_reference": str(refund["id"]),
            "gateway": "stripe",
            "charge_id": meta.get("charge_id"),
            "refund_id": meta.get("refund_id"),
        }
        entries = [GatewayEntry("refund", status, at=_at(refund["created"]), **facts)]
        if returned:
            assert isinstance(back, dict)
            entries.append(GatewayEntry("refund_failure", "succeeded", at=_at(back["created"]), **facts))
        return entries

    @staticmethod
    def _of_intent(intent: dict[str, Any], meta: dict[str, Any]) -> list[GatewayEntry]:
        charge = intent.get("latest_charge")
        charge = charge if isinstance(charge, dict) else {}
        state = str(intent.get("status"))
        returned = state != "succeeded" and bool(charge.get("captured")) and charge.get("status") == "failed"
        status: GatewayStatus = (
            "succeeded" if state == "succeeded" or returned else "processing" if state == "processing" else "failed"
        )
        facts: dict[str, Any] = {
            "currency": str(intent["currency"]).upper(),
            "amount": iso_amount(intent["amount"], intent["currency"]),
            "at": _at(intent["created"]),
            "gateway_reference": str(intent["id"]),
            "gateway": "stripe",
            "charge_id": meta.get("charge_id"),
        }
        entries = [GatewayEntry("charge", status, **facts)]
        if returned:
            entries.append(GatewayEntry("reversal", "succeeded", **facts))
        return entries
