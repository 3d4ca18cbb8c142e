"""The catalogue of event types: every state change the service records and publishes.

Domain methods return these; the events API's `type` filter, the OpenAPI document and webhook
subscriptions read this one list (the contract's whole list). A `StrEnum`, so each member is its
wire string.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    PLAN_CREATED = "plan.created"
    PLAN_UPDATED = "plan.updated"
    PLAN_ARCHIVED = "plan.archived"
    MANDATE_CREATED = "mandate.created"
    MANDATE_ACTIVATED = "mandate.activated"
    MANDATE_PAUSED = "mandate.paused"
    MANDATE_RESUMED = "mandate.resumed"
    MANDATE_CANCELLED = "mandate.cancelled"
    MANDATE_REVOKED = "mandate.revoked"
    MANDATE_PAST_DUE = "mandate.past_due"
    MANDATE_COMPLETED = "mandate.completed"
    MANDATE_PAYMENT_METHOD_UPDATED = "mandate.payment_method_updated"
    MANDATE_PLAN_CHANGED = "mandate.plan_changed"
    CHARGE_PROCESSING = "charge.processing"
    CHARGE_SUCCEEDED = "charge.succeeded"
    CHARGE_RETRY_SCHEDULED = "charge.retry_scheduled"
    CHARGE_FAILED = "charge.failed"
    CHARGE_CANCELLED = "charge.cancelled"
    CHARGE_REFUNDED = "charge.refunded"
    CHARGE_REVERSED = "charge.reversed"
    REFUND_CREATED = "refund.created"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_UPDATED = "dispute.updated"
    DISPUTE_CLOSED = "dispute.closed"
    RECONCILIATION_COMPLETED = "reconciliation.completed"
    ITEM_CREATED = "item.created"
    ITEM_DELETED = "item.deleted"
    ITEM_VOIDED = "item.voided"
    MANDATE_CREDIT_FORFEITED = "mandate.credit_forfeited"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    EXPORT_READY = "export.ready"
    INVOICE_ISSUED = "invoice.issued"
    CREDIT_NOTE_ISSUED = "credit_note.issued"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
