"""Two adjustments that make moto behave like AWS for this system's concurrency and scale.

* `serialize_calls()`: each AWS call is atomic in AWS; moto's in-process backends are not
  thread-safe (concurrent transactions corrupt its tables). One lock around every botocore
  call makes each call atomic while threads still interleave between calls, which is the
  race that matters (two dispatchers, the dispatcher's claim pool).
* `fast_transactions()`: moto backs up the *whole* table (deepcopy) for every operation of a
  TransactWriteItems, so a transaction costs O(table size). Instead, a journal keeps a copy of
  each partition the transaction touches and the stream's length; a cancelled transaction
  restores exactly those (a test proves items and stream records are rolled back).
"""

from __future__ import annotations

import copy
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client

_lock = threading.RLock()
_original_call = botocore.client.BaseClient._make_api_call


def _atomic(self: Any, operation: str, params: dict[str, Any]) -> Any:
    with _lock:
        return _original_call(self, operation, params)


def serialize_calls() -> None:
    botocore.client.BaseClient._make_api_call = _atomic


def unserialize_calls() -> None:
    botocore.client.BaseClient._make_api_call = _original_call


def fast_transactions() -> None:
    """Back up only the partitions a transaction touches (and the stream's length), not whole tables."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "_journaled", False):
        return
    original = backend.transact_write_items
    from moto.dynamodb.models.table import Table

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        # The original backs up whole tables with deepcopy; the journal below makes that
        # unnecessary. Every other copy (e.g. UpdateItem's old image) stays a real deep copy.
        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal: list[tuple[Any, Any, Any, bool]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName"))
                attributes = op.get("Item") or op.get("Key")
                if table is None or not attributes or table.hash_key_attr not in attributes:
                    continue
                hash_value = DynamoType(attributes[table.hash_key_attr])
                existed = hash_value in table.items
                journal.append((table, hash_value, copy.deepcopy(table.items.get(hash_value)), existed))
                if table.stream_shard is not None:
                    streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, prior, existed in reversed(journal):
                if existed:
                    table.items[hash_value] = prior
                else:
                    table.items.pop(hash_value, None)
            for shard, length in streams.values():
                del shard.items[length:]
            raise

    transact_write_items._journaled = True  # type: ignore[attr-defined]
    setattr(backend, "transact_write_items", transact_write_items)  # noqa: B010


def message_move_tasks() -> None:
    """SQS `StartMessageMoveTask`, which moto lacks: every message of a dead-letter queue moves
    back to the queue whose redrive policy names it (or to `DestinationArn`). AWS moves them over
    time; here it is done at once, which is what a caller that waits for the task observes."""
    import uuid

    from moto.sqs.responses import ActionResult, SQSResponse

    if hasattr(SQSResponse, "start_message_move_task"):
        return

    def start_message_move_task(self: Any) -> Any:
        backend = self.sqs_backend
        queues = list(backend.queues.values())
        source_arn, destination_arn = self._get_param("SourceArn"), self._get_param("DestinationArn")
        source = next(q for q in queues if q.queue_arn == source_arn)
        if destination_arn:
            destination = next(q for q in queues if q.queue_arn == destination_arn)
        else:
            destination = next(q for q in queues if (q.redrive_policy or {}).get("deadLetterTargetArn") == source_arn)
        with source._messages_lock:
            moving, source._messages = list(source._messages), []
        for message in moving:
            backend.send_message(destination.name, message.body)
        return ActionResult({"TaskHandle": str(uuid.uuid4())})

    setattr(SQSResponse, "start_message_move_task", start_message_move_task)  # noqa: B010


@contextmanager
def sqs_on_clock(epoch_seconds: Callable[[], float]) -> Iterator[None]:
    """SQS message delays and visibility timeouts follow `epoch_seconds` (a test or local clock),
    so a delayed or hidden message comes back when that clock passes its time, as on AWS."""
    import moto.sqs.models as sqs_models

    saved = sqs_models.unix_time, sqs_models.unix_time_millis
    sqs_models.unix_time = lambda dt=None: epoch_seconds()
    sqs_models.unix_time_millis = lambda dt=None: epoch_seconds() * 1000
    try:
        yield
    finally:
        sqs_models.unix_time, sqs_models.unix_time_millis = saved


def local_email_domains() -> None:
    """moto's Cognito refuses an e-mail whose domain has an underscore, as the local runtime's
    owners have (`owner@<merchant id>.local`, the contract's address): accept it (idempotent)."""
    from moto.cognitoidp import utils

    utils.FORMATS["email"] = r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9._-]+\.[A-Z|a-z]{2,}\b"
