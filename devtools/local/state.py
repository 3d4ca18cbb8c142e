"""`--state FILE`: every emulated table (and a test clock's time) saved on exit, loaded on start."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from billing.adapters.dynamodb.codec import from_attributes, to_attributes
from billing.wire import format_time


def save(client: Any, tables: dict[str, str], now: datetime | None, path: Path) -> None:
    """`tables`: logical id -> table name; `now`: the test clock's time, if one is set."""
    saved = {}
    for logical, name in tables.items():
        items, request = [], {"TableName": name}
        while True:
            page = client.scan(**request)  # a dev tool reading its own emulation; the system never scans
            items += [from_attributes(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        saved[logical] = items
    path.write_text(json.dumps({"clock": format_time(now) if now else None, "tables": saved}))


def load(client: Any, tables: dict[str, str], path: Path) -> datetime | None:
    """Puts every saved item back; returns the saved test clock's time, if any."""
    state = json.loads(path.read_text())
    for logical, items in state["tables"].items():
        name = tables.get(logical)
        for start in range(0, len(items), 25) if name else []:
            client.batch_write_item(
                RequestItems={name: [{"PutRequest": {"Item": to_attributes(i)}} for i in items[start : start + 25]]}
            )
    return datetime.fromisoformat(state["clock"].replace("Z", "+00:00")) if state.get("clock") else None
