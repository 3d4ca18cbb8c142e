"""/v1/events: what happened, as recorded in the outbox (the same objects SNS carries)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.events import EVENT_TYPES
from ...service.ports import PageRequest
from ..errors import json_response
from ..responses import EventOut, ListOut
from ..routing import Cursor, Limit, MerchantRequest, new_router, responses

router = new_router()

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # the domain's one catalogue


@router.get("/v1/events", responses=responses(ListOut[EventOut]), summary="List events, newest first")
def list_events(limit: Limit = 20, cursor: Cursor = None, type: Annotated[EventType | None, Query()] = None) -> Response[Any]:
    request = MerchantRequest(router)
    result = request.api.events.page(request.merchant_id, PageRequest(limit, cursor), type=type)
    return request.page(result, lambda event: EventOut.of(event).model_dump(mode="json"))


@router.get("/v1/events/<event_id>", responses=responses(EventOut, 200, 404), summary="Retrieve an event")
def get_event(event_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return json_response(200, EventOut.of(request.api.events.get(request.merchant_id, event_id)).model_dump(mode="json"))
