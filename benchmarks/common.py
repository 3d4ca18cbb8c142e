"""What the benchmarks share: a webhook receiver on 127.0.0.1, and the seeded plan and mandates
(stored as records straight into the table: the benchmark measures a tick, not their creation)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from billing.adapters.dynamodb.codec import to_attributes
from billing.adapters.dynamodb.records import item_of
from billing.domain.model import Consent, Customer, Mandate, PaymentMethod, Plan, PlanTerms


def receiver(fail_every: int | None = None) -> tuple[str, dict[str, int], ThreadingHTTPServer]:
    """A webhook endpoint counting what it receives; with `fail_every`, the 1st of every
    `fail_every` requests is answered 503 (retried by the service)."""
    seen = {"requests": 0, "failed": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                seen["requests"] += 1
                fail = fail_every is not None and seen["requests"] % fail_every == 1
                seen["failed"] += fail
            self.send_response(503 if fail else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hooks", seen, server


def bench_plan(merchant_id: str, now: datetime) -> Plan:
    return Plan(
        id="pln_bench",
        merchant_id=merchant_id,
        created_at=now - timedelta(days=60),
        updated_at=now - timedelta(days=60),
        name="Gold",
        terms=PlanTerms(amount=1999, currency="EUR", interval="month"),
    )


def charged_once(plan: Plan, n: int, activated: datetime, customer: Customer, now: datetime, token: str = "pm_sim_ok") -> Mandate:
    """Mandate `n` of the plan, activated then with the simulated `token`, its first cycle charged (cycle 2 next)."""
    created = now - timedelta(days=40)
    mandate = Mandate(
        id=f"mdt_bench{n:08d}",
        merchant_id=plan.merchant_id,
        plan_id=plan.id,
        terms=plan.terms,
        customer=customer,
        created_at=created,
        updated_at=created,
    )
    mandate.activate(activated, PaymentMethod(gateway="simulated", token=token), Consent(accepted_at=activated))
    mandate.advance_schedule()
    mandate.cycles_charged = 1
    return mandate


def write_records(client: Any, table: str, objects: Iterable[Plan | Mandate]) -> None:
    """Each object as its stored record (version 1), 25 per BatchWriteItem."""
    records = [{**item_of(o), "version": 1} for o in objects]
    for start in range(0, len(records), 25):
        chunk = [{"PutRequest": {"Item": to_attributes(r)}} for r in records[start : start + 25]]
        client.batch_write_item(RequestItems={table: chunk})
