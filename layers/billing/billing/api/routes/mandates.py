"""/v1/mandates: create, list, retrieve, preview the schedule, and the state changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from ...domain.model import MandateStatus
from ...service.ports import PageRequest
from ...service.use_cases import UseCases
from ..errors import json_response
from ..requests import CustomerUpdate, ItemCreate, MandateCreate, NoFields, PauseIn, PaymentMethodIn, PlanChangeIn
from ..responses import ItemOut, ListOut, MandateOut, MoneyOut, ScheduledCharge, ScheduleOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

router = new_router()


@router.post("/v1/mandates", responses=responses(MandateOut, 201, 404, 409, 422), summary="Create a mandate")
def create_mandate(body: MandateCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        "create_mandate", body, idempotency_key, 201, lambda api, merchant: api.mandates.create(merchant, body)
    )


@router.get("/v1/mandates", responses=responses(ListOut[MandateOut]), summary="List mandates, newest first")
def list_mandates(
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[MandateStatus | None, Query()] = None,
    plan_id: Annotated[str | None, Query(max_length=100)] = None,
    customer_reference: Annotated[str | None, Query(max_length=100)] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    result = request.api.mandates.page(
        request.merchant_id, PageRequest(limit, cursor), status=status, plan_id=plan_id, customer_reference=customer_reference
    )
    return request.page(result)


@router.get("/v1/mandates/<mandate_id>", responses=responses(MandateOut, 200, 404), summary="Retrieve a mandate")
def get_mandate(mandate_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.mandates.get(request.merchant_id, mandate_id))


@router.get("/v1/mandates/<mandate_id>/schedule", responses=responses(ScheduleOut, 200, 404), summary="Preview the next charges")
def mandate_schedule(mandate_id: str, count: Annotated[int, Query(ge=1, le=36)] = 12) -> Response[Any]:
    request = MerchantRequest(router)
    mandate, upcoming = request.api.mandates.schedule(request.merchant_id, mandate_id, count)
    currency = mandate.terms.currency
    data = [
        ScheduledCharge(cycle=cycle, due_at=due, amount=amount, currency=currency, credit_applied=used)
        for (cycle, due), (amount, used) in zip(upcoming, mandate.upcoming_credit_use(upcoming), strict=True)
    ]
    credit = MoneyOut(amount=mandate.credit, currency=currency)
    return json_response(200, ScheduleOut(mandate_id=mandate.id, credit=credit, data=data).model_dump(mode="json"))


def _change(
    name: str, mandate_id: str, key: str | None, body: BaseModel | None, change: Callable[[UseCases, str], Any]
) -> Response[Any]:
    return MerchantRequest(router).idempotent(f"{name}:{mandate_id}", body, key, 200, change)


@router.post("/v1/mandates/<mandate_id>/cancel", responses=responses(MandateOut, 200, 404, 409), summary="Cancel (merchant)")
def cancel_mandate(mandate_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _change("cancel", mandate_id, idempotency_key, body, lambda api, m: api.mandates.cancel(m, mandate_id))


@router.post(
    "/v1/mandates/<mandate_id>/revoke", responses=responses(MandateOut, 200, 404, 409), summary="Revoke (customer withdrew)"
)
def revoke_mandate(mandate_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _change("revoke", mandate_id, idempotency_key, body, lambda api, m: api.mandates.revoke(m, mandate_id))


@router.post("/v1/mandates/<mandate_id>/pause", responses=responses(MandateOut, 200, 404, 409, 422), summary="Pause charging")
def pause_mandate(mandate_id: str, body: PauseIn | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _change("pause", mandate_id, idempotency_key, body, lambda api, m: api.mandates.pause(m, mandate_id, body))


@router.post("/v1/mandates/<mandate_id>/resume", responses=responses(MandateOut, 200, 404, 409), summary="Resume charging")
def resume_mandate(mandate_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _change("resume", mandate_id, idempotency_key, body, lambda api, m: api.mandates.resume(m, mandate_id))


@router.post(
    "/v1/mandates/<mandate_id>/payment_method",
    responses=responses(MandateOut, 200, 404, 409, 422),
    summary="Replace the payment method",
)
def replace_payment_method(mandate_id: str, body: PaymentMethodIn, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _change(
        "payment_method",
        mandate_id,
        idempotency_key,
        body,
        lambda api, m: api.mandates.replace_payment_method(m, mandate_id, body),
    )


@router.post(
    "/v1/mandates/<mandate_id>/change_plan",
    responses=responses(MandateOut, 200, 404, 409, 422),
    summary="Move the mandate to another plan (at the next charge, or now with proration)",
)
def change_plan(mandate_id: str, body: PlanChangeIn, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _change("change_plan", mandate_id, idempotency_key, body, lambda api, m: api.mandates.change_plan(m, mandate_id, body))


@router.post(
    "/v1/mandates/<mandate_id>/customer",
    responses=responses(MandateOut, 200, 404, 409, 422),
    summary="Change the customer's e-mail, name, language or tax details (charges created afterwards use them)",
)
def update_customer(mandate_id: str, body: CustomerUpdate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        f"customer:{mandate_id}", body, idempotency_key, 200, lambda api, m: api.mandates.update_customer(m, mandate_id, body)
    )


@router.post(
    "/v1/mandates/<mandate_id>/items",
    responses=responses(ItemOut, 201, 404, 409, 422),
    summary="Add an item to the mandate's next charge",
)
def create_item(mandate_id: str, body: ItemCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        f"create_item:{mandate_id}", body, idempotency_key, 201, lambda api, m: api.items.create(m, mandate_id, body)
    )
