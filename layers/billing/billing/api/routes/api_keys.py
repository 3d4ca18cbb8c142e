"""/v1/api_keys: a merchant's keys, created (the secret shown once), listed, revoked or rolled."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from pydantic import Field, StrictInt

from ...service.ports import PageRequest
from ..errors import json_response
from ..requests import NoFields, RequestModel
from ..responses import ApiKeyOut, ListOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

if TYPE_CHECKING:
    from ...service.api_keys import CreatedKey
    from ...service.use_cases import UseCases

router = new_router()


class RevokeKeyIn(RequestModel):
    expires_in_seconds: Annotated[StrictInt, Field(ge=0, le=604_800)] = Field(
        0, description="0: at once; otherwise the key keeps working until then (rolling keys)"
    )


@router.get("/v1/api_keys", responses=responses(ListOut[ApiKeyOut]), summary="List API keys, newest first")
def list_api_keys(limit: Limit = 20, cursor: Cursor = None) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(request.api.api_keys.page(request.merchant_id, PageRequest(limit, cursor)))


@router.post("/v1/api_keys", responses=responses(ApiKeyOut, 201, 409), summary="Create an API key (its secret is shown once)")
def create_api_key(body: NoFields | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    request = MerchantRequest(router)
    created: list[CreatedKey] = []

    def create(api: UseCases, merchant_id: str) -> Any:
        created.append(api.api_keys.create(merchant_id))
        return created[0].key

    # The stored answer (replayed for the same Idempotency-Key) never holds the secret.
    response = request.idempotent("create_api_key", body, idempotency_key, 201, create)
    if not created:
        return response
    return json_response(201, {**request.present(created[0].key), "secret": created[0].secret})


@router.post(
    "/v1/api_keys/<key_id>/revoke", responses=responses(ApiKeyOut, 200, 404, 409, 422), summary="Revoke (or roll) an API key"
)
def revoke_api_key(key_id: str, body: RevokeKeyIn | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    expires_in = timedelta(seconds=body.expires_in_seconds if body else 0)
    return MerchantRequest(router).idempotent(
        f"revoke_api_key:{key_id}", body, idempotency_key, 200, lambda api, m: api.api_keys.revoke(m, key_id, expires_in)
    )
