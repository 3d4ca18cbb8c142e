"""Exporter: builds each queued export (`service/exports.Exporter`): the month's objects read
page by page and written to the export bucket as they are read, then the export marked ready
(`export.ready`).

Fed by the export queue, one message at a time (an export can take minutes). A message the
store refused comes back (SQS's visibility timeout) and is built again under the same key; on
its last delivery before the dead-letter queue the export is marked failed instead. A record
that is not an export message is dropped (nothing could build it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import parse_export_message

deps = bootstrap.exporter(bootstrap.given(globals()))
exporter = deps.exporter
MAX_RECEIVES = 3  # template.yaml: ExportQueue's maxReceiveCount (tests/template checks they agree)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            message = parse_export_message(record["body"])
        except (ValidationError, KeyError, TypeError):
            logger.error("not an export message; dropped")
            continue
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        logger.append_keys(export_id=message.export_id, merchant_id=message.merchant_id)
        try:
            built = exporter.build(message, last_delivery=receives >= MAX_RECEIVES)
        except Exception:
            logger.exception("export not built; it comes back")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        if built.changed and built.export is not None:
            name = "ExportsReady" if built.export.status == "ready" else "ExportsFailed"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": failures}
