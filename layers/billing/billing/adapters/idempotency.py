"""Idempotency-Key for POSTs, on Powertools Idempotency.

Keyed by (merchant id, key) so keys are scoped to the merchant; the payload hash covers the
operation and the body, so the same key on another request is a conflict. Only successful
results are stored: a request that failed (4xx/5xx) can be retried with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from ..domain.errors import IdempotencyConflict

RETENTION_SECONDS = 24 * 60 * 60
REPLAYED = "replayed"


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, REPLAYED: True}


def make_idempotency(table_name: str, client: Any) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """Returns the config (register the Lambda context on it) and `run(request, action)`, which
    raises IdempotencyConflict for a key reused with another request or still in flight."""
    persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
    config = IdempotencyConfig(
        event_key_jmespath="[merchant_id, key]",
        payload_validation_jmespath="[operation, body]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RETENTION_SECONDS,
        response_hook=_mark_replayed,
    )

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools types it loosely
        data_keyword_argument="request", persistence_store=persistence, config=config, key_prefix="merchant-api"
    )
    def execute(request: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return action()

    def run(request: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return execute(request=request, action=action)  # type: ignore[no-any-return]
        except IdempotencyValidationError:
            raise IdempotencyConflict("This Idempotency-Key was used with a different request.") from None
        except IdempotencyAlreadyInProgressError:
            raise IdempotencyConflict("A request with this Idempotency-Key is still in flight; retry later.") from None

    return config, run


class PowertoolsIdempotency:
    """The `Idempotency` port (service/ports.py) on Powertools Idempotency, its DynamoDB table
    built on the first POST that carries a key (reads never load it)."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name, self.client = table_name, client
        self._built: tuple[IdempotencyConfig, Callable[..., dict[str, Any]]] | None = None

    def run(
        self, request: dict[str, Any], action: Callable[[], dict[str, Any]], lambda_context: object
    ) -> tuple[dict[str, Any], bool]:
        if self._built is None:
            self._built = make_idempotency(self.table_name, self.client)
        config, execute = self._built
        config.register_lambda_context(lambda_context)  # type: ignore[arg-type]  # a LambdaContext
        result = execute(request, action)
        return result, bool(result.pop(REPLAYED, False))
