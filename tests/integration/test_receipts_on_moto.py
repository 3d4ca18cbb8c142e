"""Receipt numbers end to end on moto: charges succeed, the real event publisher sends each
`charge.succeeded` to the FIFO receipt queue (one group per merchant), the real receipts function
numbers them; redelivered events and messages change nothing."""

from __future__ import annotations

import json

import boto3

from billing import bootstrap
from billing.domain.receipts import ReceiptCounter
from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, active, stream_records
from tests.support.values import GOLD


def mandate(call: Client, plan_id: str, token: str = "pm_sim_ok") -> str:
    return str(active(call, plan_id, token)["id"])


def test_each_merchants_receipts_are_numbered_in_one_series_once(system: System, call: Client, engine: EngineHarness) -> None:
    # Given merchant A with the prefix SK and three paying mandates (and one failing), merchant B with one
    assert call("PATCH", "/v1/account", {"receipt_prefix": "SK"}).status == 200
    plan = call("POST", "/v1/plans", GOLD).json()["id"]
    paying = [mandate(call, plan) for _ in range(3)]
    mandate(call, plan, "pm_sim_expired_card")
    other = system.client(system.b)
    theirs = mandate(other, other("POST", "/v1/plans", GOLD).json()["id"])
    engine.tick()
    # When the table's stream goes through the event publisher and the receipt queue through the receipts function
    records = stream_records(system)
    assert invoke(system.publisher_module, {"Records": records}, "EventPublisherFunction") == {"batchItemFailures": []}
    overrides = bootstrap.Overrides(clock=engine.clock)
    receipts = load_function("receipts", overrides)
    source = SqsEventSource(
        boto3.client("sqs"), system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction")
    )
    delivery = source.drain()
    assert delivery.received == 4 and delivery.failed == 0
    # Then A's paid charges are SK-1..SK-3, B's is R-1, and the failed charge has none
    mine = call("GET", "/v1/charges?limit=100").json()["data"]
    numbers = sorted(c["receipt_number"] for c in mine if c["mandate_id"] in paying)
    assert numbers == ["SK-1", "SK-2", "SK-3"]
    assert [c["receipt_number"] for c in mine if c["status"] == "failed"] == [None]
    [their_charge] = other("GET", f"/v1/charges?mandate_id={theirs}").json()["data"]
    assert their_charge["receipt_number"] == "R-1"
    # And the same events published again (a stream retry), and the messages delivered again, change nothing
    assert invoke(system.publisher_module, {"Records": records}, "EventPublisherFunction") == {"batchItemFailures": []}
    source.drain()
    again = call("GET", "/v1/charges?limit=100").json()["data"]
    assert sorted(c["receipt_number"] for c in again if c["mandate_id"] in paying) == numbers
    numbering = receipts.numbering
    assert numbering.assign(system.a.id, [c["id"] for c in mine]) == []
    assert numbering.repo.get(ReceiptCounter, system.a.id, system.a.id).next == 4


def test_a_poison_message_is_dropped_and_a_failing_group_comes_back(system: System, engine: EngineHarness) -> None:
    overrides = bootstrap.Overrides(clock=engine.clock)
    receipts = load_function("receipts", overrides)
    sqs, url = boto3.client("sqs"), system.aws.queues["ReceiptQueue"]
    source = SqsEventSource(sqs, url, lambda e: invoke(receipts, e, "ReceiptsFunction"))

    def send(body: str, group: str, dedup: str) -> None:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)

    # Given a poison message and a request for a charge that does not exist
    send("not json", system.a.id, "poison")
    send(json.dumps({"merchant_id": system.a.id, "charge_id": "chg_0000000000000000"}), system.a.id, "ghost")
    # Then both are done with (nothing can number them), none comes back
    assert source.drain().failed == 0
    # When numbering fails for a merchant, its messages come back (for the queue to retry, then the DLQ)
    send(json.dumps({"merchant_id": system.b.id, "charge_id": "chg_1111111111111111"}), system.b.id, "b1")
    send(json.dumps({"merchant_id": system.b.id, "charge_id": "chg_2222222222222222"}), system.b.id, "b2")

    def failing(merchant_id: str, charge_ids: list[str]) -> list:
        raise RuntimeError("throttled")

    receipts.numbering.assign_all = failing
    delivery = source.drain()
    assert delivery.received == 2 and delivery.failed == 2


def test_in_a_batch_of_two_merchants_the_failed_group_and_all_after_its_first_record_come_back(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given A's two paid charges and B's one, in one batch ordered A, B, A
    plan = call("POST", "/v1/plans", GOLD).json()["id"]
    first, second = mandate(call, plan), mandate(call, plan)
    other = system.client(system.b)
    theirs = mandate(other, other("POST", "/v1/plans", GOLD).json()["id"])
    engine.tick()

    def charge_of(client: Client, mandate_id: str) -> str:
        return client("GET", f"/v1/charges?mandate_id={mandate_id}").json()["data"][0]["id"]

    order = [
        (system.a.id, charge_of(call, first)),
        (system.b.id, charge_of(other, theirs)),
        (system.a.id, charge_of(call, second)),
    ]
    overrides = bootstrap.Overrides(clock=engine.clock)
    receipts = load_function("receipts", overrides)
    sqs, url = boto3.client("sqs"), system.aws.queues["ReceiptQueue"]
    source = SqsEventSource(sqs, url, lambda e: None)
    bodies = [json.dumps({"merchant_id": m, "charge_id": c}) for m, c in order]
    for i, body in enumerate(bodies):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=order[i][0], MessageDeduplicationId=f"d{i}")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    messages = sorted(received, key=lambda m: bodies.index(m["Body"]))  # the batch, in the order A, B, A
    ids = [m["MessageId"] for m in messages]
    real = receipts.numbering.assign_all

    def b_throttled(merchant_id: str, charge_ids: list[str]):
        if merchant_id == system.b.id:
            raise RuntimeError("throttled")
        return real(merchant_id, charge_ids)

    # When B's numbering fails
    receipts.numbering.assign_all = b_throttled
    try:
        answer = invoke(receipts, source.event(messages), "ReceiptsFunction")
    finally:
        receipts.numbering.assign_all = real
    # Then B's record and every record after it come back (A's second too, though numbered: nothing overtakes B)
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]}
    assert sorted(c["receipt_number"] for c in call("GET", "/v1/charges").json()["data"]) == ["R-1", "R-2"]
    assert other("GET", f"/v1/charges?mandate_id={theirs}").json()["data"][0]["receipt_number"] is None
    # And when they come back, B is numbered and A's numbers stay as they were
    assert invoke(receipts, source.event(messages[1:]), "ReceiptsFunction") == {"batchItemFailures": []}
    assert other("GET", f"/v1/charges?mandate_id={theirs}").json()["data"][0]["receipt_number"] == "R-1"
    assert sorted(c["receipt_number"] for c in call("GET", "/v1/charges").json()["data"]) == ["R-1", "R-2"]
    assert receipts.numbering.repo.get(ReceiptCounter, system.a.id, system.a.id).next == 3
