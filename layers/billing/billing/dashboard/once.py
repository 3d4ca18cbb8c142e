"""Creation forms sent once: the same form sent twice (a double click, back and send again, a
reload of the POST's page) makes one object.

Each render of a creation form carries a fresh random key (`form_key`, 128 bits, a hidden field).
Its POST runs the use case through the API's `Idempotency` port (Powertools idempotency on the
IdempotencyTable, as `Idempotency-Key` does for the API), keyed by the signed-in user's merchant
and `dashboard:<user id>:<form key>`: another user's key (or another merchant's) is another record,
so it replays nothing of theirs. The payload checked is the operation and the form's parsed
values: the same key with other values is a conflict, as the API's. Only a success is stored (a
refused form can be sent again with its key); records last 24 hours. What is stored is the made
object's id (and an API key's last four characters), never an API key's secret.

A form without a key (a page rendered before this existed) runs as before, unguarded.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from ..domain.errors import IdempotencyConflict
from ..observability import logger
from . import routes
from .routes import Session
from .texts import text

FIELD = "form_key"
_KEY = re.compile(r"[0-9a-f]{32}")


class SentBefore(routes.FormRefused):
    """The form's key was sent before with other values, or its first POST is still running (409)."""


def new_key() -> str:
    """A fresh key for one render of a creation form."""
    return secrets.token_hex(16)


def is_key(value: str) -> bool:
    """Whether `value` is a form key as `new_key` makes them."""
    return bool(_KEY.fullmatch(value))


def run(
    session: Session, operation: str, fields: dict[str, str], values: dict[str, Any], action: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """`action()`'s result, run once per (user, form key); and whether this is a replay of it.
    A key reused with other `values`, or whose first POST is still running, is SentBefore."""
    key = fields.get(FIELD, "")
    if not is_key(key):
        return action(), False
    user = session.user
    request = {
        "merchant_id": user.merchant_id,
        "key": f"dashboard:{user.user_id}:{key}",
        "operation": f"dashboard.{operation}",
        "body": values,
    }
    try:
        result, replayed = routes.deps().idempotency().run(request, action, routes.router.lambda_context)
    except IdempotencyConflict:  # other values with this key, or its first POST still running
        raise SentBefore(text(routes.lang(), "once.conflict")) from None
    if replayed:
        logger.info(
            "dashboard form sent again", extra={"merchant_id": user.merchant_id, "user_id": user.user_id, "operation": operation}
        )
    return result, replayed
