"""What merchants get back over HTTP: the objects' public shapes (`billing.shapes`, shared with the
services' event snapshots) and the HTTP-only ones: lists and the error object."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from ..shapes import (
    AccountOut,
    ApiKeyOut,
    AttemptOut,
    ChargeOut,
    ConsentOut,
    CustomerOut,
    DisputeOut,
    EventDataOut,
    EventOut,
    ExportOut,
    InvoiceOut,
    ItemOut,
    LineOut,
    MandateOut,
    MoneyOut,
    NotificationOut,
    NotificationsOut,
    PaymentMethodOut,
    PlanOut,
    ReconciliationOut,
    RefundOut,
    ResponseModel,
    ScheduledCharge,
    ScheduleOut,
    TaxRateOut,
    render,
    render_event,
)

__all__ = [
    "ResponseModel",
    "PlanOut",
    "CustomerOut",
    "PaymentMethodOut",
    "ConsentOut",
    "MoneyOut",
    "MandateOut",
    "AttemptOut",
    "LineOut",
    "ChargeOut",
    "NotificationsOut",
    "AccountOut",
    "NotificationOut",
    "RefundOut",
    "DisputeOut",
    "ReconciliationOut",
    "ItemOut",
    "TaxRateOut",
    "ExportOut",
    "InvoiceOut",
    "ScheduledCharge",
    "ScheduleOut",
    "EventDataOut",
    "EventOut",
    "ApiKeyOut",
    "render",
    "render_event",
    "ListOut",
    "ErrorDetail",
    "ErrorOut",
]

T = TypeVar("T")


class ListOut(ResponseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None


class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)
    type: Literal[
        "invalid_request",
        "authentication_error",
        "not_found",
        "invalid_state",
        "idempotency_error",
        "validation_error",
        "internal_error",
    ]
    message: str
    param: str | None = None


class ErrorOut(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)
    error: ErrorDetail
