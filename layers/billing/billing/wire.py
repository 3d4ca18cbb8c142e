"""Wire formats shared by every boundary (API requests and responses, schedule ticks, messages)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

# Every time a client sends lies in these years, so nothing stored can overflow a later
# computation (a schedule, a lease, an expiry): the contract's "time range".
FIRST_YEAR, LAST_YEAR = 2000, 2199


def _parse_time(value: Any) -> Any:
    """RFC 3339 with a timezone (Z or offset), in the years 2000 to 2199; anything else is refused."""
    if isinstance(value, str):
        if not re.fullmatch(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})", value
        ):
            raise ValueError("must be an RFC 3339 time with a timezone, like 2026-12-01T09:00:00Z")
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("must be an RFC 3339 time string")
    # The local year first: converting year 1 or 9999 to UTC could itself overflow.
    if not FIRST_YEAR <= value.year <= LAST_YEAR or not FIRST_YEAR <= value.astimezone(timezone.utc).year <= LAST_YEAR:
        raise ValueError(f"must lie in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value.astimezone(timezone.utc)


def format_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


TimeIn = Annotated[datetime, BeforeValidator(_parse_time)]
TimeOut = Annotated[datetime, PlainSerializer(format_time, return_type=str)]


def plain(value: Any) -> Any:
    """DynamoDB numbers (the table's items, its stream's images) come back as Decimal; we only ever store integers."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    return value
