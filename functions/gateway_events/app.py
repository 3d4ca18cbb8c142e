"""Gateway events in: `POST /gateway/stripe/events` (public; the gateway's signature is the access).

Thin: the request's raw body and signature header go to the gateway's receiver
(`service/gateway_inbox.GatewayEventReceiver`: verified and normalised by the gateway's adapter,
stored in the inbound log, queued to be applied). Answers: 200 once stored and queued (or a
duplicate already applied, or a type this service ignores); 400 with the contract's error object
for anything not verified (nothing stored); 503 when the event is stored but could not be queued,
so the gateway sends it again and it is queued then.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.gateway_inbox import QueueingFailed
from billing.service.ports import RejectedGatewayEvent

deps = bootstrap.gateway_events(bootstrap.given(globals()))
SIGNATURE_HEADERS = {"stripe": "stripe-signature"}


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _error(status: int, message: str) -> dict[str, Any]:
    return _answer(status, {"error": {"type": "invalid_request", "message": message, "param": None}})


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parts = str(event.get("path") or "").strip("/").split("/")  # gateway/<gateway>/events
    receiver = deps.receivers.get(parts[1]) if len(parts) == 3 and parts[0] == "gateway" and parts[2] == "events" else None
    if receiver is None:
        return _error(404, "no such gateway")
    if event.get("httpMethod") != "POST":
        return _error(405, "only POST")
    raw = event.get("body") or ""
    try:
        payload = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        metrics.add_metric(name="GatewayEventsRejected", unit=MetricUnit.Count, value=1)
        return _error(400, "not a verified gateway event: the body cannot be read")
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        received = receiver.receive(payload, headers.get(SIGNATURE_HEADERS[parts[1]]))
    except RejectedGatewayEvent as rejected:
        metrics.add_metric(name="GatewayEventsRejected", unit=MetricUnit.Count, value=1)
        logger.warning("gateway event rejected", extra={"reason": str(rejected)})
        return _error(400, f"not a verified gateway event: {rejected}")
    except QueueingFailed:
        logger.error("gateway event stored but not queued; the gateway sends it again")
        return _error(503, "try again")
    if received.status == "ignored":
        metrics.add_metric(name="GatewayEventsIgnored", unit=MetricUnit.Count, value=1)
    logger.info(
        "gateway event received", extra={"status": received.status, "gateway_event_id": received.event and received.event.id}
    )
    return _answer(200, {"received": True, "status": received.status})
