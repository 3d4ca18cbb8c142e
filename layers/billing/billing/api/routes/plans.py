"""/v1/plans"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.model import PlanStatus
from ...service.ports import PageRequest
from ..requests import NoFields, PlanCreate, PlanUpdate
from ..responses import ListOut, PlanOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

router = new_router()


@router.post("/v1/plans", responses=responses(PlanOut, 201, 409, 422), summary="Create a plan")
def create_plan(body: PlanCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        "create_plan", body, idempotency_key, 201, lambda api, merchant: api.plans.create(merchant, body)
    )


@router.get("/v1/plans", responses=responses(ListOut[PlanOut]), summary="List plans, newest first")
def list_plans(limit: Limit = 20, cursor: Cursor = None, status: Annotated[PlanStatus | None, Query()] = None) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(request.api.plans.page(request.merchant_id, PageRequest(limit, cursor), status=status))


@router.get("/v1/plans/<plan_id>", responses=responses(PlanOut, 200, 404), summary="Retrieve a plan")
def get_plan(plan_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.plans.get(request.merchant_id, plan_id))


@router.patch("/v1/plans/<plan_id>", responses=responses(PlanOut, 200, 404, 422), summary="Rename a plan or change its metadata")
def update_plan(plan_id: str, body: PlanUpdate) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.plans.update(request.merchant_id, plan_id, body))


@router.post("/v1/plans/<plan_id>/archive", responses=responses(PlanOut, 200, 404, 409), summary="Archive a plan")
def archive_plan(plan_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        f"archive_plan:{plan_id}", body, idempotency_key, 200, lambda api, merchant: api.plans.archive(merchant, plan_id)
    )
