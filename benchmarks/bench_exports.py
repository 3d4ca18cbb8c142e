"""Benchmark (not a test): the memory an export of 100,000 charges takes in the exporter.

The real `Exporter` (service/exports.py) and the real S3 adapter (adapters/s3.py, multipart
parts of 8 MiB) build one month of BENCH_EXPORT_CHARGES charges (default 100,000). The
repository yields the month page by page as DynamoDB's does (100 charges per page, their
mandates in one batch read per page), making each page's charges when it is asked for, so that
nothing the measurement holds is the data set itself; the S3 client counts the parts and throws
them away (S3 keeps the file, not the function). What is measured is what the exporter holds:
its pages, the CSV pieces, the upload part being filled.

Reported: Python's peak allocation during the build (tracemalloc), the process's peak RSS
(getrusage; it includes the interpreter and every imported library), the file's size and parts,
and the time taken. The exporter runs with 512 MB (template.yaml: ExporterFunction).
Run: `make bench` (or `python benchmarks/bench_exports.py`).
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from billing.adapters.s3 import S3ExportFiles  # noqa: E402
from billing.domain.charge import Attempt, Charge  # noqa: E402
from billing.domain.exports import Export  # noqa: E402
from billing.domain.model import Customer, Mandate, PaymentMethod, PlanTerms  # noqa: E402
from billing.service.event_recorder import EventRecorder  # noqa: E402
from billing.service.exports import Exporter  # noqa: E402
from billing.service.messages import ExportMessage  # noqa: E402
from billing.service.ports import Changes, Loaded, NoInvoices  # noqa: E402

CHARGES = int(os.environ.get("BENCH_EXPORT_CHARGES", "100000"))
MANDATES = 5_000
MERCHANT = "mch_bench"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
FUNCTION_MEMORY_MB = 512
METHOD = PaymentMethod(gateway="simulated", token="pm_sim_ok")


class MonthOfCharges:
    """The Repository port's part the exporter uses, over a month made page by page."""

    def __init__(self, export: Export) -> None:
        self.export, self.reads = export, 0

    def get(self, model: type, merchant_id: str, object_id: str) -> Any:
        return self.export.model_copy(deep=True)

    def created_between(
        self, model: type, merchant_id: str, start: datetime, end: datetime, page_size: int = 100
    ) -> Iterator[list[Charge]]:
        step = (end - start) / CHARGES
        for first in range(0, CHARGES, page_size):
            self.reads += 1
            yield [self._charge(n, start + step * n) for n in range(first, min(first + page_size, CHARGES))]

    @staticmethod
    def _charge(n: int, at: datetime) -> Charge:
        return Charge(
            id=f"chg_{n:026d}", merchant_id=MERCHANT, created_at=at, updated_at=at, mandate_id=f"mdt_{n % MANDATES:024d}",
            plan_id="pln_000000000000000000000001", cycle=1 + n // MANDATES, amount=1999 + n % 500, currency="EUR",
            due_at=at, status="succeeded", paid_with=METHOD,
            attempts=[Attempt(number=1, at=at, outcome="succeeded", gateway_reference=f"sim_ch_{n:020d}")],
        )  # fmt: skip

    def load_many(self, wanted: Mapping[type, Sequence[tuple[str, str]]]) -> Loaded:
        found = {}
        for model, refs in wanted.items():
            found[model] = {i: self._mandate(i) for _, i in refs}
        return Loaded(found)

    @staticmethod
    def _mandate(mandate_id: str) -> Mandate:
        return Mandate(
            id=mandate_id, merchant_id=MERCHANT, created_at=START, updated_at=START, plan_id="pln_000000000000000000000001",
            terms=PlanTerms(amount=1999, currency="EUR", interval="month"),
            customer=Customer(reference=f"customer-{mandate_id[-6:]}", name="Ona Petraitytė"),
        )  # fmt: skip

    def commit(self, changes: Changes) -> None:
        self.export = changes.of(Export)[0]


class DiscardingS3:
    """The S3 client's upload calls: counts parts and bytes, keeps nothing."""

    def __init__(self) -> None:
        self.parts, self.bytes, self.largest = 0, 0, 0

    def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "bench"}

    def upload_part(self, Body: bytes, PartNumber: int, **_: Any) -> dict[str, str]:  # noqa: N803 (boto3's names)
        self.parts, self.bytes, self.largest = self.parts + 1, self.bytes + len(Body), max(self.largest, len(Body))
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, **_: Any) -> None:
        return None

    def put_object(self, Body: bytes, **_: Any) -> None:  # noqa: N803
        self.parts, self.bytes = 1, len(Body)

    def abort_multipart_upload(self, **_: Any) -> None:
        return None


class Ids:
    def new(self, prefix: str) -> str:
        return f"{prefix}_bench"

    def secret(self) -> str:
        return "secret"


class Clock:
    def now(self) -> datetime:
        return START + timedelta(days=31)


def main() -> None:
    export = Export(id="exp_bench", merchant_id=MERCHANT, created_at=START, updated_at=START, kind="charges", month="2026-11")
    repo, s3 = MonthOfCharges(export), DiscardingS3()
    exporter = Exporter(repo, Clock(), EventRecorder(Ids()), S3ExportFiles(s3, "bench"), NoInvoices())  # type: ignore[arg-type]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    built = exporter.build(ExportMessage(merchant_id=MERCHANT, export_id=export.id))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert built.export is not None and built.export.status == "ready" and built.export.rows == CHARGES
    mb = 1024 * 1024
    print(f"export of {CHARGES:,} charges ({repo.reads:,} pages of 100)")
    print(f"  file: {s3.bytes / mb:.1f} MiB in {s3.parts} parts (largest {s3.largest / mb:.1f} MiB)")
    print(f"  Python peak allocation during the build (tracemalloc): {peak / mb:.1f} MiB")
    print(
        f"  process peak RSS: {rss_after / 1024:.0f} MiB (before the build {rss_before / 1024:.0f} MiB), function memory {FUNCTION_MEMORY_MB} MB"
    )
    print(f"  time: {seconds:.1f} s of CPU here, under tracemalloc (without DynamoDB and S3 round trips)")


if __name__ == "__main__":
    main()
