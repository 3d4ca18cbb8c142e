"""The webhook objects as the API returns them. Apart from `shapes/__init__.py` so that functions that
never handle webhooks do not load them at cold start; `shapes.render` uses this module once it
is loaded (by the webhook routes, the fan-out or the delivery function)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..domain.webhooks import AttemptError, DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from ..wire import TimeOut
from . import ResponseModel


class WebhookEndpointOut(ResponseModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    enabled_events: list[str]
    description: str | None
    status: EndpointStatus
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut
    secret: str | None = Field(
        None, description="whsec_…: only in the answers that create the endpoint or rotate its secret, never again"
    )

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookEndpointOut:
        fields = {"id", "url", "enabled_events", "description", "status", "metadata", "created_at", "updated_at"}
        return cls(**endpoint.model_dump(include=fields), secret=secret)


class DeletedOut(ResponseModel):
    id: str
    object: str
    deleted: Literal[True] = True


class WebhookAttemptOut(ResponseModel):
    at: TimeOut
    response_status: int | None
    error: AttemptError | None
    duration_ms: int


class WebhookDeliveryOut(ResponseModel):
    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: list[WebhookAttemptOut]
    next_attempt_at: TimeOut | None
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> WebhookDeliveryOut:
        return cls(**delivery.model_dump(exclude={"merchant_id", "version"}))


def render_webhook_object(obj: WebhookEndpoint | WebhookDelivery) -> dict[str, object]:
    """A webhook endpoint (a deleted one as `{"id", "object", "deleted": true}`) or delivery as the
    API returns it."""
    if isinstance(obj, WebhookEndpoint):
        if obj.deleted:
            return DeletedOut(id=obj.id, object="webhook_endpoint").model_dump(mode="json")
        return WebhookEndpointOut.of(obj).model_dump(mode="json", exclude={"secret"})
    return WebhookDeliveryOut.of(obj).model_dump(mode="json")
