"""/v1/notifications: the e-mails sent to the merchant's customers (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.notifications import NotificationKind
from ...service.ports import PageRequest
from ..responses import ListOut, NotificationOut
from ..routing import Cursor, Limit, MerchantRequest, new_router, responses

router = new_router()


@router.get("/v1/notifications", responses=responses(ListOut[NotificationOut]), summary="List e-mails sent to customers")
def list_notifications(
    limit: Limit = 20,
    cursor: Cursor = None,
    mandate_id: Annotated[str | None, Query(max_length=100)] = None,
    kind: Annotated[NotificationKind | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(
        request.api.notifications.page(request.merchant_id, PageRequest(limit, cursor), mandate_id=mandate_id, kind=kind)
    )


@router.get(
    "/v1/notifications/<notification_id>", responses=responses(NotificationOut, 200, 404), summary="Retrieve a notification"
)
def get_notification(notification_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.notifications.get(request.merchant_id, notification_id))
