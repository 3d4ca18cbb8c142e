"""Merchant API (/v1): plans, mandates, charges, events. Thin: routing, parsing, wiring; rules live in `billing`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from billing import bootstrap
from billing.adapters.idempotency import REPLAYED, make_idempotency
from billing.domain.charge import ChargeStatus
from billing.domain.errors import BillingError
from billing.domain.events import EVENT_TYPES
from billing.domain.model import Mandate, MandateStatus, PlanStatus
from billing.http import MAX_BODY_BYTES, billing_error_response, error_response, json_response, validation_error_response
from billing.observability import logger, metrics, tracer
from billing.schemas import (
    ChargeOut,
    ErrorOut,
    EventOut,
    ListOut,
    MandateCreate,
    MandateOut,
    PauseIn,
    PaymentMethodIn,
    PlanCreate,
    PlanOut,
    PlanUpdate,
    ScheduledCharge,
    ScheduleOut,
    render,
)
from billing.service.links import ApprovalLinks
from billing.service.merchant_api import MerchantApi
from billing.service.ports import PageRequest

app = APIGatewayRestResolver(enable_validation=True)

billing = bootstrap.build()
settings = billing.settings
idempotency_config, run_idempotent = make_idempotency(settings.idempotency_table_name, billing.dynamodb)

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # the domain's one catalogue
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page")]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255, description="Makes the POST safe to retry (24 h)")
]


def _errors(*statuses: int) -> dict[int, Any]:
    return {s: {"description": "Error", "content": {"application/json": {"model": ErrorOut}}} for s in (400, 401, *statuses)}


def _ok(model: Any, status: int = 200, *errors: int) -> dict[int, Any]:
    return {status: {"description": "OK", "content": {"application/json": {"model": model}}}, **_errors(*errors)}


# ------------------------------------------------------------------- wiring
def merchant_id() -> str:
    """Only ever from the authorizer's context; a request without one is refused."""
    context = app.current_event.get("requestContext") or {}
    merchant = (context.get("authorizer") or {}).get("merchant_id")
    if not merchant:
        raise _Unauthenticated()
    return merchant


class _Unauthenticated(Exception):
    pass


def present(api: MerchantApi, obj: Any) -> dict[str, object]:
    """An object as the API returns it (the HTTP contract's rendering, not the service's)."""
    return render(obj, api.links.approval_url(obj) if isinstance(obj, Mandate) else None)


def service() -> MerchantApi:
    base = settings.public_base_url
    if not base:
        context = app.current_event.request_context
        base = f"https://{context.domain_name}/{context.stage}"
    return billing.merchant_api(ApprovalLinks(signing_key(), base))


def signing_key() -> bytes:
    return parameters.get_secret(settings.link_signing_secret_arn, max_age=300).encode()


def idempotent(
    operation: str, body: BaseModel | None, key: str | None, status: int, action: Callable[[MerchantApi], Any]
) -> Response:
    """Run `action` once per (merchant, Idempotency-Key); replays answer the stored result."""
    api = service()

    def perform() -> dict[str, Any]:
        return {"status": status, "body": present(api, action(api))}

    if key is None:
        result = perform()
    else:
        request = {
            "merchant_id": merchant_id(),
            "key": key,
            "operation": operation,
            "body": body.model_dump(mode="json", exclude_unset=True) if body is not None else None,
        }
        result = run_idempotent(request=request, action=perform)
    headers = {"Idempotent-Replayed": "true"} if result.get(REPLAYED) else None
    return json_response(result["status"], result["body"], headers)


def page(items: list[Any], has_more: bool, next_cursor: str | None, render: Callable[[Any], Any]) -> dict[str, Any]:
    return {"object": "list", "data": [render(i) for i in items], "has_more": has_more, "next_cursor": next_cursor}


# -------------------------------------------------------------------- plans
@app.post("/v1/plans", responses=_ok(PlanOut, 201, 409, 422), summary="Create a plan")
def create_plan(body: PlanCreate, idempotency_key: IdempotencyKey = None):
    return idempotent("create_plan", body, idempotency_key, 201, lambda api: api.create_plan(merchant_id(), body))


@app.get("/v1/plans", responses=_ok(ListOut[PlanOut]), summary="List plans, newest first")
def list_plans(limit: Limit = 20, cursor: Cursor = None, status: Annotated[PlanStatus | None, Query()] = None):
    api = service()
    result = api.list_plans(merchant_id(), PageRequest(limit, cursor), status=status)
    return json_response(200, page(result.items, result.has_more, result.next_cursor, lambda obj: present(api, obj)))


@app.get("/v1/plans/<plan_id>", responses=_ok(PlanOut, 200, 404), summary="Retrieve a plan")
def get_plan(plan_id: str):
    api = service()
    return json_response(200, present(api, api.get_plan(merchant_id(), plan_id)))


@app.patch("/v1/plans/<plan_id>", responses=_ok(PlanOut, 200, 404, 422), summary="Rename a plan or change its metadata")
def update_plan(plan_id: str, body: PlanUpdate):
    api = service()
    return json_response(200, present(api, api.update_plan(merchant_id(), plan_id, body)))


@app.post("/v1/plans/<plan_id>/archive", responses=_ok(PlanOut, 200, 404, 409), summary="Archive a plan")
def archive_plan(plan_id: str, idempotency_key: IdempotencyKey = None):
    return idempotent(f"archive_plan:{plan_id}", None, idempotency_key, 200, lambda api: api.archive_plan(merchant_id(), plan_id))


# ----------------------------------------------------------------- mandates
@app.post("/v1/mandates", responses=_ok(MandateOut, 201, 404, 409, 422), summary="Create a mandate")
def create_mandate(body: MandateCreate, idempotency_key: IdempotencyKey = None):
    return idempotent("create_mandate", body, idempotency_key, 201, lambda api: api.create_mandate(merchant_id(), body))


@app.get("/v1/mandates", responses=_ok(ListOut[MandateOut]), summary="List mandates, newest first")
def list_mandates(
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[MandateStatus | None, Query()] = None,
    plan_id: Annotated[str | None, Query(max_length=100)] = None,
    customer_reference: Annotated[str | None, Query(max_length=100)] = None,
):
    api = service()
    result = api.list_mandates(
        merchant_id(), PageRequest(limit, cursor), status=status, plan_id=plan_id, customer_reference=customer_reference
    )
    return json_response(200, page(result.items, result.has_more, result.next_cursor, lambda obj: present(api, obj)))


@app.get("/v1/mandates/<mandate_id>", responses=_ok(MandateOut, 200, 404), summary="Retrieve a mandate")
def get_mandate(mandate_id: str):
    api = service()
    return json_response(200, present(api, api.get_mandate(merchant_id(), mandate_id)))


@app.get("/v1/mandates/<mandate_id>/schedule", responses=_ok(ScheduleOut, 200, 404), summary="Preview the next charges")
def mandate_schedule(mandate_id: str, count: Annotated[int, Query(ge=1, le=36)] = 12):
    mandate, upcoming = service().schedule(merchant_id(), mandate_id, count)
    data = [
        ScheduledCharge(cycle=cycle, due_at=due, amount=mandate.terms.amount, currency=mandate.terms.currency)
        for cycle, due in upcoming
    ]
    return json_response(200, ScheduleOut(mandate_id=mandate.id, data=data).model_dump(mode="json"))


def _action(name: str, mandate_id: str, key: str | None, body: BaseModel | None, run: Callable[[MerchantApi, str], Any]):
    return idempotent(f"{name}:{mandate_id}", body, key, 200, lambda api: run(api, merchant_id()))


@app.post("/v1/mandates/<mandate_id>/cancel", responses=_ok(MandateOut, 200, 404, 409), summary="Cancel (merchant)")
def cancel_mandate(mandate_id: str, idempotency_key: IdempotencyKey = None):
    return _action("cancel", mandate_id, idempotency_key, None, lambda s, m: s.cancel_mandate(m, mandate_id))


@app.post("/v1/mandates/<mandate_id>/revoke", responses=_ok(MandateOut, 200, 404, 409), summary="Revoke (customer withdrew)")
def revoke_mandate(mandate_id: str, idempotency_key: IdempotencyKey = None):
    return _action("revoke", mandate_id, idempotency_key, None, lambda s, m: s.revoke_mandate(m, mandate_id))


@app.post("/v1/mandates/<mandate_id>/pause", responses=_ok(MandateOut, 200, 404, 409, 422), summary="Pause charging")
def pause_mandate(mandate_id: str, body: PauseIn | None = None, idempotency_key: IdempotencyKey = None):
    return _action("pause", mandate_id, idempotency_key, body, lambda s, m: s.pause_mandate(m, mandate_id, body))


@app.post("/v1/mandates/<mandate_id>/resume", responses=_ok(MandateOut, 200, 404, 409), summary="Resume charging")
def resume_mandate(mandate_id: str, idempotency_key: IdempotencyKey = None):
    return _action("resume", mandate_id, idempotency_key, None, lambda s, m: s.resume_mandate(m, mandate_id))


@app.post(
    "/v1/mandates/<mandate_id>/payment_method",
    responses=_ok(MandateOut, 200, 404, 409, 422),
    summary="Replace the payment method",
)
def replace_payment_method(mandate_id: str, body: PaymentMethodIn, idempotency_key: IdempotencyKey = None):
    return _action(
        "payment_method", mandate_id, idempotency_key, body, lambda s, m: s.replace_payment_method(m, mandate_id, body)
    )


# ------------------------------------------------------------------ charges
@app.get("/v1/charges", responses=_ok(ListOut[ChargeOut]), summary="List charges, newest first")
def list_charges(
    limit: Limit = 20,
    cursor: Cursor = None,
    mandate_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[ChargeStatus | None, Query()] = None,
):
    api = service()
    result = api.list_charges(merchant_id(), PageRequest(limit, cursor), mandate_id=mandate_id, status=status)
    return json_response(200, page(result.items, result.has_more, result.next_cursor, lambda obj: present(api, obj)))


@app.get("/v1/charges/<charge_id>", responses=_ok(ChargeOut, 200, 404), summary="Retrieve a charge with its attempts")
def get_charge(charge_id: str):
    api = service()
    return json_response(200, present(api, api.get_charge(merchant_id(), charge_id)))


# ------------------------------------------------------------------- events
@app.get("/v1/events", responses=_ok(ListOut[EventOut]), summary="List events, newest first")
def list_events(limit: Limit = 20, cursor: Cursor = None, type: Annotated[EventType | None, Query()] = None):
    result = service().list_events(merchant_id(), PageRequest(limit, cursor), type=type)
    return json_response(
        200, page(result.items, result.has_more, result.next_cursor, lambda e: EventOut.of(e).model_dump(mode="json"))
    )


@app.get("/v1/events/<event_id>", responses=_ok(EventOut, 200, 404), summary="Retrieve an event")
def get_event(event_id: str):
    return json_response(200, EventOut.of(service().get_event(merchant_id(), event_id)).model_dump(mode="json"))


# ------------------------------------------------------------------- errors
@app.exception_handler(RequestValidationError)
def on_validation_error(error: RequestValidationError):
    return validation_error_response(list(error.errors()))


@app.exception_handler(BillingError)
def on_billing_error(error: BillingError):
    return billing_error_response(error)


@app.exception_handler(IdempotencyValidationError)
def on_idempotency_conflict(_: Exception):
    return error_response(409, "idempotency_error", "This Idempotency-Key was used with a different request.", "Idempotency-Key")


@app.exception_handler(IdempotencyAlreadyInProgressError)
def on_idempotency_in_flight(_: Exception):
    return error_response(
        409, "idempotency_error", "A request with this Idempotency-Key is still in flight; retry later.", "Idempotency-Key"
    )


@app.exception_handler(_Unauthenticated)
def on_unauthenticated(_: Exception):
    return error_response(401, "authentication_error", "Missing or invalid API key.")


@app.not_found
def on_not_found(_: NotFoundError):
    return error_response(404, "not_found", "No such route.")


@app.exception_handler(Exception)
def on_bug(error: Exception):
    logger.exception("unhandled error")
    metrics.add_metric(name="ApiInternalErrors", unit="Count", value=1)
    return error_response(500, "internal_error", "Internal error; it is safe to retry with the same Idempotency-Key.")


# ------------------------------------------------------------------ handler
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency_config.register_lambda_context(context)
    body = event.get("body") or ""
    if len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES:
        return {
            "statusCode": 413,
            "headers": {"Content-Type": "application/json"},
            "body": '{"error": {"type": "invalid_request", "message": "Request body too large (max 64 KiB).", "param": null}}',
        }
    return app.resolve(event, context)
