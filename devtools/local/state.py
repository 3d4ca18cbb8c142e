"""`--state FILE`: every emulated table (and a test clock's time) saved on exit, loaded on start,
with the emulated KMS keys the code encrypts with (webhook endpoint secrets sealed before a
restart must still open after it) and the dashboard's users in the emulated user pool (an owner
signs in with the same password after a restart)."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from billing.adapters.dynamodb.codec import from_attributes, to_attributes
from billing.wire import format_time


def _kms_keys() -> dict[str, Any]:
    """The emulation's KMS keys by id (moto's own store: a dev tool reading its own emulation)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    keys: dict[str, Any] = kms_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")].keys
    return keys


def save_keys(keys: dict[str, str]) -> dict[str, Any]:
    """`keys`: logical id -> key ARN. Each key's id and material."""
    store = _kms_keys()
    out = {}
    for logical, arn in keys.items():
        key = store[arn.rsplit("/", 1)[-1]]
        out[logical] = {"id": key.id, "material": base64.b64encode(key.key_material).decode()}
    return out


def restore_keys(keys: dict[str, str], path: Path) -> dict[str, str]:
    """Before anything uses them: this run's keys become the saved ones (same id, same material: a
    ciphertext names the key it was made with). Returns the keys' ARNs, logical id -> ARN."""
    saved = json.loads(path.read_text()).get("kms", {}) if path.exists() else {}
    store = _kms_keys()
    out = dict(keys)
    for logical, arn in keys.items():
        if logical not in saved:
            continue
        new_id, old_id = arn.rsplit("/", 1)[-1], saved[logical]["id"]
        key = store.pop(new_id)
        key.id, key.arn = old_id, key.arn.replace(new_id, old_id)
        key.key_material = base64.b64decode(saved[logical]["material"])
        store[old_id] = key
        out[logical] = key.arn
    return out


def _user_pool(pool_id: str) -> Any:
    """The emulation's user pool (moto's own store: a dev tool reading its own emulation)."""
    from moto.cognitoidp.models import cognitoidp_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    return cognitoidp_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")].user_pools[pool_id]


def save_users(pools: dict[str, str]) -> dict[str, Any]:
    """`pools`: logical id -> pool id. Each user as the emulation holds it (id, attributes, password)."""
    out: dict[str, Any] = {}
    for logical, pool_id in pools.items():
        out[logical] = [
            {
                "id": user.id,
                "username": user.username,
                "password": user.password,
                "status": str(getattr(user.status, "value", user.status)),
                "attributes": user.attributes,
            }
            for user in _user_pool(pool_id).users.values()
        ]
    return out


def restore_users(pools: dict[str, str], path: Path) -> None:
    """The saved users back in this run's pools, with their ids (the directory's keys) and passwords."""
    from moto.cognitoidp.models import CognitoIdpUser, UserStatus

    saved = json.loads(path.read_text()).get("users", {}) if path.exists() else {}
    for logical, users in saved.items():
        if logical not in pools:
            continue
        pool = _user_pool(pools[logical])
        for user in users:
            restored = CognitoIdpUser(pool.id, user["username"], user["password"], UserStatus(user["status"]), user["attributes"])
            restored.id = user["id"]
            restored.update_attributes([{"Name": "sub", "Value": user["id"]}])
            pool.users[restored.username] = restored


def save(
    client: Any,
    tables: dict[str, str],
    now: datetime | None,
    path: Path,
    keys: dict[str, str] | None = None,
    user_pools: dict[str, str] | None = None,
) -> None:
    """`tables`: logical id -> table name; `now`: the test clock's time, if one is set; `keys`:
    logical id -> KMS key ARN; `user_pools`: logical id -> pool id."""
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
    kms = save_keys(keys) if keys else {}
    users = save_users(user_pools) if user_pools else {}
    path.write_text(json.dumps({"clock": format_time(now) if now else None, "tables": saved, "kms": kms, "users": users}))


def load(client: Any, tables: dict[str, str], path: Path) -> datetime | None:
    """Puts every saved item back; returns the saved test clock's time, if any (the keys are put
    back earlier, by `restore_keys`)."""
    state = json.loads(path.read_text())
    for logical, items in state["tables"].items():
        name = tables.get(logical)
        for start in range(0, len(items), 25) if name else []:
            client.batch_write_item(
                RequestItems={name: [{"PutRequest": {"Item": to_attributes(i)}} for i in items[start : start + 25]]}
            )
    return datetime.fromisoformat(state["clock"].replace("Z", "+00:00")) if state.get("clock") else None
