"""The single-table key design (see docs/data-model.md). Every key of merchant data begins
with the merchant id, so a request can only ever address its own merchant's items."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

# How many partitions each list / filter index spreads one merchant's items over, so that no
# single partition key takes a big merchant's whole write load. Lists merge the shards.
LIST_SHARDS: dict[str, int] = {
    "PLAN": 1,
    "MANDATE": 4,
    "CHARGE": 16,
    "EVENT": 16,
    "APIKEY": 1,
    "WEBHOOK_ENDPOINT": 1,
    "REFUND": 4,
    "DISPUTE": 1,
    "ITEM": 4,
    "TAX_RATE": 1,
    "NOTIFICATION": 16,
    "EXPORT": 1,
    "RECONCILIATION": 1,  # one a day per merchant
    "INVOICE": 16,
}
# The due index is global (not per merchant): dispatch reads every shard, each in parallel.
DUE_SHARDS = 64

_ID = re.compile(r"^(mch|pln|mdt|chg|evt|key|we|wd|rfd|dsp|itm|ntf|sup|txr|exp|rcn|inv)_[A-Za-z0-9]{1,64}$")


def valid_id(value: str, prefix: str) -> bool:
    return bool(_ID.fullmatch(value)) and value.startswith(prefix + "_")


def sortable(moment: datetime) -> str:
    """Fixed-width UTC time, so that string order is time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shard_of(object_id: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(object_id.encode()).digest()[:4], "big") % shards


def primary(merchant_id: str, object_id: str, kind: str) -> dict[str, str]:
    return {"pk": f"M#{merchant_id}#{object_id}", "sk": kind}


def list_pk(merchant_id: str, kind: str, shard: int) -> str:
    return f"M#{merchant_id}#{kind}#{shard}"


def status_pk(merchant_id: str, kind: str, status: str, shard: int) -> str:
    return f"M#{merchant_id}#{kind}#status={status}#{shard}"


def parent_pk(merchant_id: str, kind: str, parent_id: str) -> str:
    return f"M#{merchant_id}#{kind}#parent={parent_id}"


def customer_pk(merchant_id: str, reference: str) -> str:
    return f"M#{merchant_id}#MANDATE#customer={hashlib.sha256(reference.encode()).hexdigest()}"


def due_pk(object_id: str) -> str:
    return f"DUE#{shard_of(object_id, DUE_SHARDS)}"


def due_sk(moment: datetime, merchant_id: str, object_id: str) -> str:
    return f"{sortable(moment)}#{merchant_id}#{object_id}"


def merchant_key(merchant_id: str) -> dict[str, str]:
    return {"pk": f"MERCHANT#{merchant_id}", "sk": "PROFILE"}


# Every merchant, listed for the daily jobs (ListIndex: lpk = MERCHANTS#<shard>, lsk = merchant id).
MERCHANT_SHARDS = 16


def merchants_pk(shard: int) -> str:
    return f"MERCHANTS#{shard}"


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"pk": f"APIKEY#{key_hash}", "sk": "APIKEY"}


def endpoint_slot(merchant_id: str, endpoint_id: str, slot: int) -> dict[str, str]:
    """One of an endpoint's attempt slots (at most so many attempts in flight to it at once)."""
    return {"pk": f"M#{merchant_id}#{endpoint_id}#SLOTS", "sk": f"SLOT#{slot}"}


def limits(merchant_id: str) -> dict[str, str]:
    """The merchant's counts kept for limits (e.g. webhook endpoints), one item."""
    return {"pk": f"M#{merchant_id}#LIMITS", "sk": "LIMITS"}


def gateway_event(gateway: str, event_id: str) -> dict[str, str]:
    """One inbound gateway event (the deployment's, not a merchant's: `GWEVENT#…`, never `M#…`)."""
    return {"pk": f"GWEVENT#{gateway}#{event_id}", "sk": "GWEVENT"}
