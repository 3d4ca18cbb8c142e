"""Domain and service errors. Each maps to exactly one status/type of the API contract."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


class BillingError(Exception):
    status: int = 400
    type: str = "invalid_request"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(BillingError):
    """Malformed request outside the body's fields (query parameters, cursors, body not an object)."""

    status, type = 400, "invalid_request"


class NotFound(BillingError):
    """No such object for this merchant (another merchant's object is also not found)."""

    status, type = 404, "not_found"


def found(obj: T | None, kind: str, object_id: str, param: str = "id") -> T:
    """The object, or the contract's 404 (another merchant's object is not found either)."""
    if obj is None:
        raise NotFound(f"No such {kind}: '{object_id}'.", param)
    return obj


class InvalidState(BillingError):
    """The action is not allowed in the object's current status."""

    status, type = 409, "invalid_state"


class ValidationFailed(BillingError):
    """A field is missing, of the wrong type or out of range; `param` names it."""

    status, type = 422, "validation_error"


class TooManyRequests(BillingError):
    """An action asked for more often than its rule allows (the customer's payment method changes
    per day); it may be asked again at `retry_at`."""

    status, type = 429, "rate_limited"

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class IdempotencyConflict(BillingError):
    """An Idempotency-Key reused with another request, or while its first request is in flight."""

    status, type = 409, "idempotency_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, "Idempotency-Key")


class ConcurrentModification(Exception):
    """An optimistic-concurrency check failed: somebody changed the object since it was read."""
