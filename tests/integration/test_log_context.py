"""A warm container's log lines: the keys one invocation (or one record) appends to the logger
(a merchant, a charge) never carry over to the next one's lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.lambda_runtime import invoke
from devtools.template import ROOT
from tests.support.system import EngineHarness, System

PER_INVOCATION_KEYS = {"merchant_id", "charge_id", "mandate_id", "attempt", "refund_id", "event_id"}


@contextmanager
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every line the one Powertools logger writes meanwhile (INFO and up), as JSON (its own formatter)."""
    from billing.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    level = logger._logger.level
    logger._logger.addHandler(handler)
    logger._logger.setLevel(logging.INFO)  # the suite runs at WARNING
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    finally:
        logger._logger.setLevel(level)
        logger._logger.removeHandler(handler)


def test_a_refused_key_is_not_logged_with_the_merchant_authorized_before_it(system: System) -> None:
    # Given a warm authorizer that has just authorized merchant A's key
    with log_lines() as lines:
        assert system.client(system.a)("GET", "/v1/plans").status == 200
        [authorized] = [line for line in lines() if line["message"] == "authorized"]
        assert authorized["merchant_id"] == system.a.id
        # When the same container refuses an unknown key
        assert system.client(key="rk_live_unknown")("GET", "/v1/plans").status == 401
        # Then the refusal's line names no merchant (least of all the previous one)
        [refused] = [line for line in lines() if line["message"] == "refused API key"]
    assert "merchant_id" not in refused, refused
    assert refused["function_request_id"] != authorized["function_request_id"]


def test_a_charger_record_is_not_logged_with_the_charge_of_the_record_or_invocation_before_it(engine: EngineHarness) -> None:
    # Given a gateway message whose charge is unknown (logged with its ids), then a poison message,
    # in one batch, and the poison message again first in the next invocation of the same container
    sample = json.loads((ROOT / "events" / "charger_sqs_batch.json").read_text())
    [attempt] = sample["Records"]
    poison = {**attempt, "messageId": "poison-1", "body": '{"not": "a charge message"}'}
    with log_lines() as lines:
        invoke(engine.charger, {"Records": [attempt, poison]}, "ChargerFunction")
        invoke(engine.charger, {"Records": [{**poison, "messageId": "poison-2"}, attempt]}, "ChargerFunction")
        logged = lines()
    # Then the unknown charge's line carries its ids...
    dropped = [line for line in logged if "not found; message dropped" in line["message"]]
    assert (
        len(dropped) == 2 and dropped[0]["charge_id"] == json.loads(attempt["body"])["charge_id"] and dropped[0]["attempt"] == 1
    )
    # ...and neither failure line of the poison message carries them
    failures = [line for line in logged if line["message"] == "Record processing exception; skipping this record"]
    assert len(failures) == 2
    for failure in failures:
        assert not PER_INVOCATION_KEYS & failure.keys(), failure


def test_every_handler_clears_the_loggers_keys_at_each_invocation() -> None:
    # Every function's handler starts each invocation with the logger's state cleared
    for app in sorted(Path(ROOT, "functions").glob("*/app.py")):
        decorators = [line.strip() for line in app.read_text().splitlines() if "@logger.inject_lambda_context" in line]
        assert decorators and all("clear_state=True" in d for d in decorators), (app.parent.name, decorators)
