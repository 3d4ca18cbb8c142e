"""Issue 9 on the real handlers and moto (resources from template.yaml): a stop between the claim
and the charger, DynamoDB transaction conflicts, and failed records an on-call engineer can see."""

from __future__ import annotations

import logging

import pytest

from billing.domain.model import Mandate
from tests.support.system import Client, ConflictingTransactions, EngineHarness, System, charges_of, mandate, plan


def test_a_transaction_conflict_is_retried_not_answered_500(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a mandate, and DynamoDB cancelling the next two transactions with TransactionConflict
    m = mandate(call, plan(call))
    writer = system.api_module.deps.repository.writer
    faulty = ConflictingTransactions(writer.client, times=2)
    monkeypatch.setattr(writer, "client", faulty)
    # When the merchant cancels it
    response = call("POST", f"/v1/mandates/{m['id']}/cancel")
    # Then the write is redone on fresh state: 200, not 500; every try carried a request token
    assert response.status == 200 and response.json()["status"] == "cancelled"
    assert len(faulty.tokens) == 3 and all(1 <= len(t) <= 36 for t in faulty.tokens)


def test_a_conflict_that_never_clears_is_a_409_to_retry_and_changes_nothing(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB cancelling every transaction with TransactionConflict (a storm on one object)
    m = mandate(call, plan(call))
    writer = system.api_module.deps.repository.writer
    monkeypatch.setattr(writer, "client", ConflictingTransactions(writer.client, times=100))
    # When the merchant cancels it, with an Idempotency-Key
    response = call("POST", f"/v1/mandates/{m['id']}/cancel", headers={"Idempotency-Key": "stormy"})
    # Then a 409 saying to retry (never a 500), and nothing changed
    assert response.status == 409 and response.json()["error"]["type"] == "invalid_state"
    assert response.headers.get("Retry-After") == "1"
    monkeypatch.undo()
    assert call("GET", f"/v1/mandates/{m['id']}").json()["status"] == "active"
    # And the same request, sent again once the storm is over, is carried out (the 409 was not kept)
    again = call("POST", f"/v1/mandates/{m['id']}/cancel", headers={"Idempotency-Key": "stormy"})
    assert again.status == 200 and again.json()["status"] == "cancelled"


def test_the_same_write_carries_the_same_client_request_token(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore retries a transaction whose answer was lost; the token makes the retry idempotent
    # Given the writer's transactions observed
    from billing.adapters.dynamodb.writes import Writer

    repository: Writer = system.api_module.deps.repository.writer
    faulty = ConflictingTransactions(repository.client, times=0)
    monkeypatch.setattr(repository, "client", faulty)
    operation = {
        "ConditionCheck": {
            "TableName": repository.table,
            "Key": {"pk": {"S": "x"}, "sk": {"S": "y"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    # When the same write is sent twice, and another once
    repository.transact([operation])
    repository.transact([operation])
    other = {"ConditionCheck": {**operation["ConditionCheck"], "Key": {"pk": {"S": "z"}, "sk": {"S": "y"}}}}
    repository.transact([other])
    # Then the same write carries the same ClientRequestToken, another write another one
    assert faulty.tokens[0] == faulty.tokens[1] != faulty.tokens[2]


def test_a_cancel_between_the_claim_and_the_charger_means_no_gateway_call(engine: EngineHarness, call: Client) -> None:
    # Given a claimed charge whose message waits in the queue
    m = mandate(call, plan(call))
    assert engine.dispatch()["dispatched"] == 1
    # When the merchant cancels before the charger runs
    assert call("POST", f"/v1/mandates/{m['id']}/cancel").status == 200
    engine.queue.drain(retry_failed_now=True)
    # Then the gateway never saw it and the charge is cancelled, never collected
    assert engine.ledger() == []
    [charge] = charges_of(call, m["id"])
    assert charge["status"] == "cancelled" and charge["attempts"] == []


def test_a_pause_between_the_claim_and_the_charger_keeps_the_cycle_owed(engine: EngineHarness, call: Client) -> None:
    # Given a claimed first cycle
    m = mandate(call, plan(call))
    engine.dispatch()
    # When the merchant pauses before the charger runs, Then nothing is charged and the charge stays owed
    call("POST", f"/v1/mandates/{m['id']}/pause")
    engine.queue.drain(retry_failed_now=True)
    assert engine.ledger() == [] and charges_of(call, m["id"])[0]["status"] == "pending"
    # When the merchant resumes, Then the next dispatch collects it once
    call("POST", f"/v1/mandates/{m['id']}/resume")
    engine.advance(minutes=1)
    [charge] = charges_of(call, m["id"])
    assert charge["status"] == "succeeded" and charge["cycle"] == 1 and len(engine.ledger()) == 1


def test_a_failed_record_is_logged_with_its_error_class(engine: EngineHarness, caplog: pytest.LogCaptureFixture) -> None:
    # Given a poison message
    engine.sqs.send_message(QueueUrl=engine.queue.url, MessageBody='{"not": "a charge message"}')
    # When the charger fails it
    with caplog.at_level(logging.WARNING):
        delivery = engine.queue.drain()
    assert delivery.failed == 1
    # Then a WARNING names the record's failure and its exception class (not only at DEBUG)...
    failures = [r for r in caplog.records if r.getMessage() == "Record processing exception; skipping this record"]
    assert failures and failures[0].levelname == "WARNING"
    assert failures[0].exc_info is not None and failures[0].exc_info[0].__name__ == "InvalidChargeMessage"
    assert "body.charge_id" in str(failures[0].exc_info[1])
    # ...and the body (it may hold personal data) is never logged
    assert "a charge message" not in caplog.text


def test_the_charger_starts_no_attempt_its_invocation_has_no_time_for(engine: EngineHarness, call: Client) -> None:
    # Given a dispatched charge, and a charger invocation with 8 s left (a gateway call may take 5 s, the write 5 s)
    from devtools.lambda_runtime import invoke

    m = mandate(call, plan(call))
    engine.dispatch()
    [raw] = engine.sqs.receive_message(QueueUrl=engine.queue.url, MaxNumberOfMessages=1)["Messages"]
    record = {
        "messageId": raw["MessageId"],
        "receiptHandle": raw["ReceiptHandle"],
        "body": raw["Body"],
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1",
            "SenderId": "x",
            "ApproximateFirstReceiveTimestamp": "1",
        },
        "messageAttributes": {},
        "md5OfBody": raw["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q",
        "awsRegion": "eu-west-1",
    }
    # When the record is handled, Then it fails (the whole batch comes back: it was the only record)
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="NoTimeLeft"):
        invoke(engine.charger, {"Records": [record]}, "ChargerFunction", timeout=8)
    # without a start marker or a gateway call
    assert engine.ledger() == [] and charges_of(call, m["id"])[0]["status"] == "pending"
    stored = engine.system.api_module.deps.repository.get(Mandate, engine.system.a.id, m["id"])
    assert stored.attempt_started_at is None
