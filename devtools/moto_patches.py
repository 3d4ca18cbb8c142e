"""Two adjustments that make moto behave like AWS for this system's concurrency and scale.

* `serialize_calls()`: each AWS call is atomic in AWS; moto's in-process backends are not
  thread-safe (concurrent transactions corrupt its tables). One lock around every botocore
  call makes each call atomic while threads still interleave between calls, which is the
  race that matters (two dispatchers, the dispatcher's claim pool).
* `fast_transactions()`: moto backs up the *whole* table (deepcopy) for every operation of a
  TransactWriteItems, so a transaction costs O(table size). The backup here copies the table's
  item index (not the items) and its stream records: rollback restores both exactly as before,
  because a transactional Put replaces an item object rather than mutating it.
"""

from __future__ import annotations

import copy
import threading
import types
from collections import defaultdict
from typing import Any

import botocore.client

_lock = threading.RLock()
_original_call = botocore.client.BaseClient._make_api_call


def _atomic(self: Any, operation: str, params: dict) -> Any:
    with _lock:
        return _original_call(self, operation, params)


def serialize_calls() -> None:
    botocore.client.BaseClient._make_api_call = _atomic


def unserialize_calls() -> None:
    botocore.client.BaseClient._make_api_call = _original_call


def _shallow(obj: Any) -> Any:
    """copy.copy without moto's BaseModel.__new__, which keeps every instance alive forever."""
    clone = object.__new__(type(obj))
    clone.__dict__.update(obj.__dict__)
    return clone


def _snapshot(table: Any) -> Any:
    clone = _shallow(table)
    clone.items = defaultdict(dict)
    for key, value in table.items.items():
        clone.items[key] = dict(value) if isinstance(value, dict) else value
    if getattr(table, "stream_shard", None) is not None:
        shard = _shallow(table.stream_shard)
        shard.items = list(table.stream_shard.items)
        clone.stream_shard = shard
    return clone


def fast_transactions() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        return _snapshot(obj) if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[attr-defined]
