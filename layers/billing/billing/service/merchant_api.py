"""Use cases behind the merchant API: plans, mandates, events.

Every method takes the merchant id (from the authorizer, never from the request) first.
State changes and the events they cause are committed together in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from ..domain.charge import Charge
from ..domain.errors import NotFound, ValidationFailed
from ..domain.events import EventType
from ..domain.model import Consent, Customer, Event, Mandate, PaymentMethod, Plan
from ..domain.payment_methods import ensure_usable
from .commands import NewMandate, NewPaymentMethod, NewPlan, Pause, PlanChanges
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import Changes, Clock, IdGenerator, Links, Page, PageRequest, Render, Repository

T = TypeVar("T")


class MerchantApi:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        ids: IdGenerator,
        links: Links,
        gateways: frozenset[str] = frozenset({"simulated"}),
        *,
        render: Render,
    ) -> None:
        """`gateways`: the gateways this deployment can charge with (a payment method for any
        other is refused with 422 before it is stored); `render`: objects as the API shows them,
        for the events' snapshots."""
        self.repo, self.clock, self.ids, self.links, self.gateways = repo, clock, ids, links, gateways
        self.recorder = EventRecorder(ids, render, links)

    def _events(self, obj: Plan | Mandate, types: Sequence[str], now: datetime) -> list[Event]:
        return self.recorder.events([(obj, types)], now)

    # ----------------------------------------------------------------- plans
    def create_plan(self, merchant_id: str, request: NewPlan) -> Plan:
        now = self.clock.now()
        plan = Plan(
            id=self.ids.new("pln"),
            merchant_id=merchant_id,
            created_at=now,
            updated_at=now,
            name=request.name,
            amount=request.amount,
            currency=request.currency,
            interval=request.interval,
            interval_count=request.interval_count,
            trial_days=request.trial_days,
            total_cycles=request.total_cycles,
            retry_schedule_days=tuple(request.retry_schedule_days),
            metadata=dict(request.metadata),
        )
        self.repo.commit(Changes(plans=[plan], events=self._events(plan, [EventType.PLAN_CREATED], now)))
        return plan

    def get_plan(self, merchant_id: str, plan_id: str) -> Plan:
        return _found(self.repo.get_plan(merchant_id, plan_id), "plan", plan_id)

    def list_plans(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Plan]:
        return self.repo.list_plans(merchant_id, page, status=status)

    def update_plan(self, merchant_id: str, plan_id: str, request: PlanChanges) -> Plan:
        """Only the fields sent change; sending one as null is a 422."""
        sent = request.model_fields_set
        for field, value in (("name", request.name), ("metadata", request.metadata)):
            if field in sent and value is None:
                raise ValidationFailed("name and metadata cannot be null.", field)
        name = request.name if "name" in sent else None
        metadata = dict(request.metadata) if "metadata" in sent and request.metadata is not None else None
        return self._mutate_plan(
            lambda now: self.get_plan(merchant_id, plan_id), lambda p, now: p.update(now, name=name, metadata=metadata)
        )

    def archive_plan(self, merchant_id: str, plan_id: str) -> Plan:
        return self._mutate_plan(lambda now: self.get_plan(merchant_id, plan_id), lambda p, now: p.archive(now))

    # -------------------------------------------------------------- mandates
    def create_mandate(self, merchant_id: str, request: NewMandate) -> Mandate:
        now = self.clock.now()
        plan = _found(self.repo.get_plan(merchant_id, request.plan_id), "plan", request.plan_id, "plan_id")
        plan.ensure_accepts_mandates()
        if request.payment_method is not None:
            ensure_usable(request.payment_method.gateway, self.gateways)
        mandate = Mandate(
            id=self.ids.new("mdt"),
            merchant_id=merchant_id,
            plan_id=plan.id,
            terms=plan.terms,
            customer=Customer(reference=request.customer.reference, email=request.customer.email, name=request.customer.name),
            payment_method=_method(request.payment_method) if request.payment_method else None,
            start_at=request.start_at,
            end_at=request.end_at,
            metadata=dict(request.metadata),
            created_at=now,
            updated_at=now,
        )
        mandate.ensure_new_terms_valid(now)
        types: list[str] = [EventType.MANDATE_CREATED]
        if mandate.payment_method is not None and request.consent is not None:
            # The merchant collected consent itself: active at once.
            consent = request.consent
            types += mandate.activate(
                now,
                mandate.payment_method,
                Consent(accepted_at=consent.accepted_at, ip=consent.ip, user_agent=consent.user_agent),
            )
        # Events carry the final state of this request (the object as the API returns it).
        self.repo.commit(Changes(mandates=[mandate], events=self._events(mandate, types, now)))
        return mandate

    def get_mandate(self, merchant_id: str, mandate_id: str) -> Mandate:
        return _found(self.repo.get_mandate(merchant_id, mandate_id), "mandate", mandate_id)

    def list_mandates(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Mandate]:
        return self.repo.list_mandates(merchant_id, page, **filters)

    def schedule(self, merchant_id: str, mandate_id: str, count: int) -> tuple[Mandate, list[tuple[int, datetime]]]:
        mandate = self.get_mandate(merchant_id, mandate_id)
        return mandate, mandate.upcoming_charges(self.clock.now(), count)

    def _mandate_action(
        self, merchant_id: str, mandate_id: str, action: Callable[[Mandate, Charge | None, datetime], list[str]]
    ) -> Mandate:
        """Change a mandate; when that ends collection (cancel, revoke) with no attempt at the
        gateway, its unsettled charge is cancelled in the same transaction. The write is
        conditional on the mandate's version, so it is ordered with the charger's start marker."""

        def change(_: int) -> Mandate:
            now = self.clock.now()
            mandate = self.get_mandate(merchant_id, mandate_id)
            charge = self.repo.get_charge(merchant_id, mandate.open_charge_id) if mandate.open_charge_id else None
            types = action(mandate, charge, now)
            if not types:
                return mandate
            charge_types: list[str] = []
            if charge is not None and mandate.open_charge_id is None:  # the action detached it
                charge_types = charge.cancel(now)
            changes = Changes(
                mandates=[mandate],
                charges=[charge] if charge is not None and charge_types else [],
                events=self.recorder.events([(mandate, types), (charge, charge_types)] if charge else [(mandate, types)], now),
            )
            self.repo.commit(changes)
            return mandate

        return retry_on_conflict(change)

    def cancel_mandate(self, merchant_id: str, mandate_id: str) -> Mandate:
        return self._mandate_action(merchant_id, mandate_id, lambda m, c, now: m.cancel(now))

    def revoke_mandate(self, merchant_id: str, mandate_id: str) -> Mandate:
        return self._mandate_action(merchant_id, mandate_id, lambda m, c, now: m.revoke(now))

    def pause_mandate(self, merchant_id: str, mandate_id: str, request: Pause | None) -> Mandate:
        resume_at = request.resume_at if request else None
        return self._mandate_action(merchant_id, mandate_id, lambda m, c, now: m.pause(now, resume_at))

    def resume_mandate(self, merchant_id: str, mandate_id: str) -> Mandate:
        return self._mandate_action(merchant_id, mandate_id, lambda m, c, now: m.resume(now))

    def approve_mandate(self, merchant_id: str, mandate_id: str, method: PaymentMethod, consent: Consent) -> Mandate:
        """The customer approved on the hosted page: record the evidence and activate."""
        ensure_usable(method.gateway, self.gateways)
        return self._mandate_action(merchant_id, mandate_id, lambda m, c, now: m.activate(now, method, consent))

    def replace_payment_method(self, merchant_id: str, mandate_id: str, request: NewPaymentMethod) -> Mandate:
        ensure_usable(request.gateway, self.gateways, "gateway")
        method = _method(request)
        return self._mandate_action(
            merchant_id,
            mandate_id,
            lambda m, c, now: m.replace_payment_method(now, method, reattempt_allowed=c is None or c.may_reopen),
        )

    # --------------------------------------------------------------- charges
    def get_charge(self, merchant_id: str, charge_id: str) -> Charge:
        return _found(self.repo.get_charge(merchant_id, charge_id), "charge", charge_id)

    def list_charges(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Charge]:
        return self.repo.list_charges(merchant_id, page, **filters)

    # ---------------------------------------------------------------- events
    def get_event(self, merchant_id: str, event_id: str) -> Event:
        return _found(self.repo.get_event(merchant_id, event_id), "event", event_id)

    def list_events(self, merchant_id: str, page: PageRequest, type: str | None = None) -> Page[Event]:
        return self.repo.list_events(merchant_id, page, type=type)

    # --------------------------------------------------------------- helpers
    def _mutate_plan(self, load: Callable[[datetime], Plan], change: Callable[[Plan, datetime], list[str]]) -> Plan:
        """Load, change, commit with an optimistic version check; reload and redo on a race."""

        def once(_: int) -> Plan:
            now = self.clock.now()
            obj = load(now)
            types = change(obj, now)
            if not types:
                return obj
            changes = Changes(plans=[obj], events=self._events(obj, types, now))
            self.repo.commit(changes)
            return obj

        return retry_on_conflict(once)


def _found(obj: T | None, kind: str, object_id: str, param: str = "id") -> T:
    """The object, or the contract's 404 (another merchant's object is not found either)."""
    if obj is None:
        raise NotFound(f"No such {kind}: '{object_id}'.", param)
    return obj


def _method(request: NewPaymentMethod) -> PaymentMethod:
    return PaymentMethod(gateway=request.gateway, token=request.token)
