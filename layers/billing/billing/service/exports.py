"""Exports: a month of invoices, charges or mandates as one CSV file in the export bucket.

`Exports` (the API): an export is stored `pending` and its message queued; reading a ready one
issues a fresh link (valid an hour). `Exporter` (the export queue's consumer) builds it: the
month's objects are read page by page (`Repository.created_between`), each page turned into CSV
lines and handed to the file store as it is read (a multipart upload), so memory holds one page
and one upload part whatever the month's size. Then the export is `ready` with `export.ready`.

Redelivery is harmless: the file's key is the export's own (a rebuild overwrites it) and a
message for an export already ready or failed does nothing. A store that keeps refusing: the
export is `failed` on the message's last delivery (`reason`), never left pending for ever.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..domain.charge import Charge
from ..domain.errors import found
from ..domain.events import EventType
from ..domain.exports import COLUMNS, CONTENT_TYPE, Export, ExportKind, charge_row, invoice_row, mandate_row
from ..domain.model import Mandate
from ..observability import logger
from .commands import NewExport
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .messages import ExportMessage
from .ports import Changes, Clock, ExportFiles, ExportQueue, IdGenerator, InvoiceRows, Page, PageRequest, Repository

LINK_SECONDS = 3600  # the contract: a presigned link valid for an hour, re-issued on each read
CHUNK_BYTES = 256 * 1024  # CSV handed to the store in pieces of about this size
PAGE_SIZE = 100  # objects read per page (one BatchGetItem)
MANDATES_REMEMBERED = 10_000  # the charges file's customer references: mandates kept between pages
FAILED_STORAGE = "storage_unavailable"  # the file store kept refusing
FAILED_QUEUE = "queue_unavailable"  # the export could not be queued


class Exports:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator, queue: ExportQueue, files: ExportFiles | None) -> None:
        self.repo, self.clock, self.ids, self.queue, self.files = repo, clock, ids, queue, files

    def create(self, merchant_id: str, request: NewExport) -> Export:
        now = self.clock.now()
        export = Export(
            id=self.ids.new("exp"),
            merchant_id=merchant_id,
            created_at=now,
            updated_at=now,
            kind=request.kind,
            month=request.month,
            format=request.format,
        )
        export.period  # noqa: B018  # a malformed month is refused before anything is stored
        self.repo.commit(Changes(put=[export]))
        # Stored first (a message never names an export not stored yet). One that could not be
        # queued is failed, never left pending, and the POST fails (5xx): the merchant's retry
        # with its Idempotency-Key creates a new one.
        try:
            self.queue.send(ExportMessage(merchant_id=merchant_id, export_id=export.id))
        except Exception:
            export.fail(FAILED_QUEUE, self.clock.now())
            self.repo.commit(Changes(put=[export]))
            raise
        return export

    def get(self, merchant_id: str, export_id: str) -> Export:
        return found(self.repo.get(Export, merchant_id, export_id), "export", export_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Export]:
        return self.repo.page(Export, merchant_id, page, **filters)

    def link(self, export: Export) -> str | None:
        """A fresh download link of a ready export whose file is still kept (None otherwise)."""
        if not export.downloadable(self.clock.now()) or export.object_key is None or self.files is None:
            return None
        return self.files.link(export.object_key, LINK_SECONDS)


@dataclass(frozen=True)
class Built:
    export: Export | None  # None: no such export
    changed: bool  # False: already ready or failed (a redelivery), nothing done


class Exporter:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        recorder: EventRecorder,
        files: ExportFiles,
        invoices: InvoiceRows,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.repo, self.clock, self.recorder, self.files, self.invoices = repo, clock, recorder, files, invoices
        self.page_size = page_size

    def build(self, message: ExportMessage, last_delivery: bool = False) -> Built:
        """Write the export's file and mark it ready. Raises when the store refused (the message
        comes back); on `last_delivery` the export is marked failed instead."""
        export = self.repo.get(Export, message.merchant_id, message.export_id)
        if export is None:
            logger.warning("export message for no stored export; dropped", extra={"export_id": message.export_id})
            return Built(None, False)
        if export.status != "pending":
            return Built(export, False)
        counter = _Counter()
        try:
            self.files.write(export.key, counter.chunks(self.lines(export)), CONTENT_TYPE, export.filename)
        except Exception:
            if not last_delivery:
                raise
            logger.exception("export could not be written; marked failed", extra={"export_id": export.id})
            return Built(self._settle(export, lambda e: e.fail(FAILED_STORAGE, self.clock.now())), True)
        return Built(self._settle(export, lambda e: e.finish(counter.rows, self.clock.now())), True)

    def _settle(self, export: Export, move: Callable[[Export], list[EventType]]) -> Export:
        def once(attempt: int) -> Export:
            current = export if attempt == 0 else found(self.repo.get(Export, export.merchant_id, export.id), "export", export.id)
            if current.status != "pending":
                return current
            types = move(current)
            self.repo.commit(Changes(put=[current], events=self.recorder.events([(current, types)], current.updated_at)))
            return current

        return retry_on_conflict(once)

    def lines(self, export: Export) -> Iterator[Sequence[str] | None]:
        """The header, then one row per object, oldest first; None after each page read."""
        yield COLUMNS[export.kind]
        yield from _ROWS[export.kind](self, export)

    def _charges(self, export: Export) -> Iterator[Sequence[str] | None]:
        start, end = export.period
        references: dict[str, str | None] = {}
        for page in self.repo.created_between(Charge, export.merchant_id, start, end, self.page_size):
            missing = sorted({c.mandate_id for c in page} - set(references))
            if missing:
                if len(references) > MANDATES_REMEMBERED:
                    references.clear()
                loaded = self.repo.load_many({Mandate: [(export.merchant_id, m) for m in missing]}).of(Mandate)
                references.update({m: (loaded[m].customer.reference if m in loaded else None) for m in missing})
            for charge in page:
                yield charge_row(charge, references.get(charge.mandate_id))
            yield None

    def _mandates(self, export: Export) -> Iterator[Sequence[str] | None]:
        start, end = export.period
        for page in self.repo.created_between(Mandate, export.merchant_id, start, end, self.page_size):
            for mandate in page:
                yield mandate_row(mandate)
            yield None

    def _invoices(self, export: Export) -> Iterator[Sequence[str] | None]:
        start, end = export.period
        for page in self.invoices.issued_between(export.merchant_id, start, end):
            for row in page:
                yield invoice_row(row)
            yield None


_ROWS: dict[ExportKind, Callable[[Exporter, Export], Iterator[Sequence[str] | None]]] = {
    "charges": Exporter._charges,
    "mandates": Exporter._mandates,
    "invoices": Exporter._invoices,
}


class _Counter:
    """CSV lines (RFC 4180: quoted where needed, CRLF) as UTF-8 chunks of about CHUNK_BYTES,
    counting the data rows; the file starts with a byte-order mark so spreadsheets read UTF-8."""

    def __init__(self) -> None:
        self.rows = -1  # the header is not a row

    def chunks(self, lines: Iterable[Sequence[str] | None]) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")
        for line in lines:
            if line is not None:
                writer.writerow(line)
                self.rows += 1
            if buffer.tell() >= CHUNK_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()


def csv_bytes(lines: Iterable[Sequence[str] | None]) -> tuple[bytes, int]:
    """A whole file's bytes and its data rows (tests and small files only)."""
    counter = _Counter()
    data = b"".join(counter.chunks(lines))
    return data, counter.rows
