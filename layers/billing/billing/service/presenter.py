"""Objects as the API returns them, and the events that carry those snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..domain.charge import Charge
from ..domain.model import Event, Mandate, Plan
from ..schemas import ChargeOut, MandateOut, PlanOut
from .ports import IdGenerator, Links


class NoLinks:
    """For components that never present a mandate awaiting approval (the billing engine)."""

    def approval_url(self, mandate: Mandate) -> str | None:
        return None


class Presenter:
    def __init__(self, ids: IdGenerator, links: Links | None = None) -> None:
        self.ids, self.links = ids, links or NoLinks()

    def present(self, obj: Plan | Mandate | Charge) -> dict[str, Any]:
        if isinstance(obj, Plan):
            return PlanOut.of(obj).model_dump(mode="json")
        if isinstance(obj, Charge):
            return ChargeOut.of(obj).model_dump(mode="json")
        return MandateOut.of(obj, self.links.approval_url(obj)).model_dump(mode="json")

    def events(self, changes: Sequence[tuple[Plan | Mandate | Charge, Sequence[str]]], now: datetime) -> list[Event]:
        """Events of one change, one microsecond apart so they list in the order they happened.

        Each carries the final state of its object in this change."""
        out: list[Event] = []
        for obj, types in changes:
            if not types:
                continue
            snapshot = self.present(obj)
            for t in types:
                out.append(
                    Event(
                        id=self.ids.new("evt"),
                        merchant_id=obj.merchant_id,
                        type=t,
                        created_at=now + timedelta(microseconds=len(out)),
                        data={"object": snapshot},
                    )
                )
        return out
