"""Plans: what a merchant sells (price and schedule), created, renamed and archived.

Every method takes the merchant id (from the authorizer, never from the request) first; a
change and the events it causes are committed together in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..domain.errors import ValidationFailed, found
from ..domain.events import EventType
from ..domain.model import Plan, PlanTerms
from .commands import NewPlan, PlanChanges
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import Changes, Clock, IdGenerator, Page, PageRequest, Repository
from .tax_rates import attach


class Plans:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator, recorder: EventRecorder) -> None:
        self.repo, self.clock, self.ids, self.recorder = repo, clock, ids, recorder

    def create(self, merchant_id: str, request: NewPlan) -> Plan:
        now = self.clock.now()
        plan = Plan(
            id=self.ids.new("pln"),
            merchant_id=merchant_id,
            created_at=now,
            updated_at=now,
            name=request.name,
            # The command's term fields, and its tax rate (an active rate of this merchant, else 422).
            terms=PlanTerms.model_validate(request, from_attributes=True).model_copy(
                update={"tax_rate": attach(self.repo, merchant_id, request.tax_rate_id, "tax_rate_id")}
            ),
            metadata=dict(request.metadata),
        )
        self.repo.commit(Changes(put=[plan], events=self.recorder.events([(plan, [EventType.PLAN_CREATED])], now)))
        return plan

    def get(self, merchant_id: str, plan_id: str) -> Plan:
        return found(self.repo.get(Plan, merchant_id, plan_id), "plan", plan_id)

    def page(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Plan]:
        return self.repo.page(Plan, merchant_id, page, status=status)

    def update(self, merchant_id: str, plan_id: str, request: PlanChanges) -> Plan:
        """Only the fields sent change; sending one as null is a 422."""
        sent = request.model_fields_set
        for field, value in (("name", request.name), ("metadata", request.metadata)):
            if field in sent and value is None:
                raise ValidationFailed("name and metadata cannot be null.", field)
        name = request.name if "name" in sent else None
        metadata = dict(request.metadata) if "metadata" in sent and request.metadata is not None else None
        return self._change(merchant_id, plan_id, lambda plan, now: plan.update(now, name=name, metadata=metadata), previous=True)

    def archive(self, merchant_id: str, plan_id: str) -> Plan:
        return self._change(merchant_id, plan_id, lambda plan, now: plan.archive(now))

    def _change(
        self, merchant_id: str, plan_id: str, change: Callable[[Plan, datetime], list[EventType]], previous: bool = False
    ) -> Plan:
        """Read, change, commit with an optimistic version check; read again and redo on a race.
        `previous`: the events carry `previous_attributes` (the changed fields' old values)."""

        def once(_: int) -> Plan:
            now = self.clock.now()
            plan = self.get(merchant_id, plan_id)
            before = self.recorder.snapshot(plan) if previous else {}
            types = change(plan, now)
            if types:
                after = self.recorder.snapshot(plan)
                changed = {k: v for k, v in before.items() if k != "updated_at" and after.get(k) != v}
                extra: dict[str, Mapping[str, object]] | None = (
                    {t: {"previous_attributes": changed} for t in types} if previous else None
                )
                self.repo.commit(Changes(put=[plan], events=self.recorder.events([(plan, types)], now, extra)))
            return plan

        return retry_on_conflict(once)
