"""Exports end to end on moto built from template.yaml: POST /v1/exports -> ExportQueue -> the
exporter function -> ExportBucket -> GET /v1/exports/{id} -> the presigned link downloaded with a
real HTTP GET (S3 served by moto's own server, sharing the emulation's data). Every AWS call the
API and the exporter make is checked against their roles in the template (least privilege)."""

from __future__ import annotations

import csv
import io
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from billing.adapters.dynamodb.repository import DynamoRepository
from billing.domain.exports import CHARGE_COLUMNS, INVOICE_COLUMNS
from billing.service.ports import Changes
from devtools.lambda_runtime import invoke, load_function
from devtools.provision import Provisioned
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, System, active, plan

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def s3_server(aws: Provisioned) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Exports:
    """The API and the exporter on the test clock, their S3 client on moto's server."""

    def __init__(self, system: System, s3_server: str) -> None:
        from billing import bootstrap

        session = boto3.DEFAULT_SESSION
        assert session is not None

        def client(name: str, **settings: Any) -> Any:
            return session.client(name, endpoint_url=s3_server, **settings) if name == "s3" else session.client(name)

        self.system = system
        system.clock.current = NOW
        overrides = bootstrap.Overrides(clock=system.clock, client=client)
        system.api_module = load_function("api", overrides)
        self.exporter = load_function("exporter", overrides)
        self.queue = SqsEventSource(
            boto3.client("sqs"), system.aws.queues["ExportQueue"], lambda e: invoke(self.exporter, e, "ExporterFunction"), 1
        )
        self.call: Client = system.client()

    def create(self, kind: str = "charges", month: str = "2026-11", **headers: str) -> dict[str, Any]:
        response = self.call("POST", "/v1/exports", {"kind": kind, "month": month, "format": "csv"}, headers=headers)
        assert response.status == 202, response.body
        return response.json()

    def get(self, export_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/v1/exports/{export_id}")
        assert response.status == 200, response.body
        return response.json()


@pytest.fixture
def exports(system: System, s3_server: str) -> Exports:
    return Exports(system, s3_server)


def download(url: str) -> list[list[str]]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (the test's own server)
        data = answer.read()
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_months_charges_export_is_built_and_downloaded_through_its_link(exports: Exports, system: System) -> None:
    from billing.domain.charge import Charge

    # Given a merchant's charges in November (written as the engine writes them), one in December,
    # and another merchant's
    call = exports.call
    mandate = active(call, plan(call))
    repo = DynamoRepository(boto3.client("dynamodb"), system.aws.tables["BillingTable"])

    def charge(n: int, at: datetime, merchant: str = system.a.id) -> Charge:
        return Charge(
            id=f"chg_exp{n:04d}", merchant_id=merchant, created_at=at, updated_at=at, mandate_id=mandate["id"],
            plan_id=mandate["plan_id"], cycle=n, amount=1999 + n, currency="EUR", due_at=at, status="succeeded",
        )  # fmt: skip

    november = [charge(n, NOW - timedelta(days=19, hours=-n)) for n in range(1, 131)]
    for start in range(0, len(november), 50):
        repo.commit(Changes(put=november[start : start + 50]))
    repo.commit(Changes(put=[charge(900, datetime(2026, 12, 1, tzinfo=timezone.utc)), charge(901, NOW, system.b.id)]))

    # When the merchant asks for November's charges (twice, with the same Idempotency-Key)
    created = exports.create(**{"Idempotency-Key": "nov-charges"})
    again = exports.create(**{"Idempotency-Key": "nov-charges"})
    assert again["id"] == created["id"] and created["id"].startswith("exp_")
    assert {k: created[k] for k in ("object", "status", "kind", "month", "format", "url")} == {
        "object": "export", "status": "pending", "kind": "charges", "month": "2026-11", "format": "csv", "url": None,
    }  # fmt: skip
    assert exports.get(created["id"])["status"] == "pending"
    # And the exporter takes its one queued message
    delivery = exports.queue.drain()
    assert (delivery.received, delivery.succeeded) == (1, 1)

    # Then the export is ready with a link valid an hour, whose real HTTP GET is the month's file
    ready = exports.get(created["id"])
    assert ready["status"] == "ready" and ready["rows"] == 130 and ready["url"]
    query = parse_qs(urlparse(ready["url"]).query)
    assert query["X-Amz-Expires"] == ["3600"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    header, *rows = download(ready["url"])
    assert header == list(CHARGE_COLUMNS)
    assert [r[0] for r in rows] == [c.id for c in november]  # oldest first, nothing outside
    first = dict(zip(header, rows[0], strict=True))
    reference = mandate["customer"]["reference"]
    assert (first["amount"], first["amount_decimal"], first["customer_reference"]) == ("2000", "20.00", reference)
    # And each read issues a link (signed when read: its hour starts then)
    assert download(exports.get(created["id"])["url"])[0] == list(CHARGE_COLUMNS)
    # And export.ready was recorded, for webhooks like every event
    events = call("GET", "/v1/events?type=export.ready").json()["data"]
    assert [e["data"]["object"]["id"] for e in events] == [created["id"]]
    # And the other merchant sees none of it
    other = system.client(system.b)
    assert other("GET", f"/v1/exports/{created['id']}").status == 404
    assert other("GET", "/v1/exports").json()["data"] == []
    assert [e["id"] for e in call("GET", "/v1/exports").json()["data"]] == [created["id"]]


def test_a_redelivered_message_for_a_ready_export_changes_nothing(exports: Exports, system: System) -> None:
    created = exports.create(kind="invoices")
    sqs = boto3.client("sqs")
    url = system.aws.queues["ExportQueue"]
    body = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["Body"]
    exports.queue.drain()
    ready = exports.get(created["id"])
    assert ready["status"] == "ready" and ready["rows"] == 0
    assert download(ready["url"]) == [list(INVOICE_COLUMNS)]  # no invoices yet: the header only
    events = len(exports.call("GET", "/v1/events?type=export.ready").json()["data"])
    # When the same message comes again
    sqs.send_message(QueueUrl=url, MessageBody=body)
    assert exports.queue.drain().succeeded == 1
    # Then the export and its events are as they were
    again = exports.get(created["id"])
    assert {k: again[k] for k in ("status", "rows", "ready_at", "updated_at")} == {
        k: ready[k] for k in ("status", "rows", "ready_at", "updated_at")
    }
    assert len(exports.call("GET", "/v1/events?type=export.ready").json()["data"]) == events


def test_an_export_the_bucket_keeps_refusing_is_failed_on_its_last_delivery(exports: Exports, system: System) -> None:
    # Given a bucket that refuses every write (gone)
    s3 = boto3.client("s3")
    s3.delete_bucket(Bucket=system.aws.buckets["ExportBucket"])
    created = exports.create(kind="mandates")
    # When SQS delivers the message as often as the redrive policy allows
    first = exports.queue.drain(retry_failed_now=True)
    # Then the first deliveries failed and came back, the last marked the export failed
    assert (first.received, first.failed, first.succeeded) == (3, 2, 1)
    failed = exports.get(created["id"])
    assert failed["status"] == "failed" and failed["failure_reason"] == "storage_unavailable" and failed["url"] is None
    # And nothing is left for the DLQ (what lands there is a message even that could not handle)
    dlq = system.aws.queues["ExportDLQ"]
    assert "Messages" not in boto3.client("sqs").receive_message(QueueUrl=dlq)


def test_bad_export_requests_are_422(exports: Exports) -> None:
    for body in (
        {"kind": "refunds", "month": "2026-11"},
        {"kind": "charges", "month": "2026-13"},
        {"kind": "charges", "month": "1999-12"},
        {"kind": "charges", "month": "2026-11", "format": "xlsx"},
        {"kind": "charges"},
        {"kind": "charges", "month": "2026-11", "extra": 1},
    ):
        response = exports.call("POST", "/v1/exports", body)
        assert response.status == 422, (body, response.body)
    assert exports.call("GET", "/v1/exports/exp_nope").status == 404
    assert exports.call("GET", "/v1/exports/not-an-id").status == 404
