"""Receipt numbers: an invoice series per merchant, `<prefix>-<n>` with n = 1, 2, 3, … and no gaps
and no duplicates whatever crashes or runs twice.

The series' next number lives in one counter per merchant. Numbers are given by a single writer
per merchant (the receipts function, fed by a FIFO queue grouped by merchant), a batch at a time:
the counter and every charge it numbers are written in one transaction on their versions, so a
crash numbers nothing and a second writer's attempt conflicts and starts again from the fresh
counter. The charge path never touches the counter. Pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from .charge import Charge
from .model import Entity


class SeriesCounter(Entity):
    """A gapless series' counter: `id` is the merchant id; `next` is the number the next document
    gets. Written with what it numbered, on its version, or not at all."""

    next: int = 1

    @classmethod
    def new(cls, merchant_id: str, now: datetime) -> Self:
        return cls(id=merchant_id, merchant_id=merchant_id, created_at=now, updated_at=now)

    def take(self, now: datetime) -> int:
        """The next number of the series, now given."""
        taken, self.next, self.updated_at = self.next, self.next + 1, now
        return taken


class ReceiptCounter(SeriesCounter):
    """The invoice series (receipt numbers)."""


def receipt_number(prefix: str, n: int) -> str:
    return f"{prefix}-{n}"


def number(counter: ReceiptCounter, charges: list[Charge], prefix: str, now: datetime) -> list[Charge]:
    """Give each succeeded charge that has no number the next ones, in the order given; the
    charges numbered now (write them with the counter, or not at all)."""
    numbered: list[Charge] = []
    for charge in charges:
        if charge.status != "succeeded" or charge.receipt_number is not None or charge.merchant_id != counter.merchant_id:
            continue
        seq = counter.take(now)
        charge.receipt_number, charge.receipt_seq = receipt_number(prefix, seq), seq
        numbered.append(charge)
    return numbered


def numbers_for(counter: ReceiptCounter, charge_ids: list[str], prefix: str, now: datetime) -> list[tuple[str, str, int]]:
    """The next numbers for charges known (by their request) to have succeeded without one:
    (charge id, receipt number, n) each, in the order given; written with the counter, on
    condition that each charge succeeded and has no number yet, or not at all."""
    out: list[tuple[str, str, int]] = []
    for charge_id in dict.fromkeys(charge_ids):
        seq = counter.take(now)
        out.append((charge_id, receipt_number(prefix, seq), seq))
    return out
