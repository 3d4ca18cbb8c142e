"""The ports the service layer needs; adapters implement them (DynamoDB) and tests fake them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from ..domain.model import Event, Mandate, Plan

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    next_cursor: str | None


@dataclass
class Changes:
    """One atomic write: new or updated aggregates (checked by version) and the events they caused."""

    plans: list[Plan] = field(default_factory=list)
    mandates: list[Mandate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class Repository(Protocol):
    def get_plan(self, merchant_id: str, plan_id: str) -> Plan | None: ...

    def get_mandate(self, merchant_id: str, mandate_id: str) -> Mandate | None: ...

    def get_event(self, merchant_id: str, event_id: str) -> Event | None: ...

    def list_plans(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Plan]: ...

    def list_mandates(
        self,
        merchant_id: str,
        page: PageRequest,
        status: str | None = None,
        plan_id: str | None = None,
        customer_reference: str | None = None,
    ) -> Page[Mandate]: ...

    def list_events(self, merchant_id: str, page: PageRequest, type: str | None = None) -> Page[Event]: ...

    def commit(self, changes: Changes) -> None:
        """Write everything or nothing. Raises ConcurrentModification when a version moved."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str: ...


class Links(Protocol):
    def approval_url(self, mandate: Mandate) -> str | None: ...
