"""The whole billing system on in-memory fakes: merchant API, dispatcher, queue, charger,
gateway and clock, with hands to deliver, redeliver, lose and crash messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from billing.api.requests import MandateCreate, PlanChangeIn, PlanCreate, RefundCreate
from billing.bootstrap import build_charger, build_dispatcher, build_use_cases
from billing.domain import notices
from billing.domain.charge import Charge, charge_id
from billing.domain.model import Mandate
from billing.emails.render import JinjaEmails
from billing.service.charger import ChargeOutcome
from billing.service.dispatcher import DispatchReport
from billing.service.gateway_events import Applied, GatewayEvent, GatewayEvents
from billing.service.links import ApprovalLinks
from billing.service.messages import AttemptMessage, NotificationMessage, RefundMessage
from billing.service.notifications import Notifier
from billing.service.ports import Changes
from billing.settings import Settings
from tests.fakes import (
    FakeClock,
    FakeGateway,
    FakeGatewayQueue,
    FakeLinks,
    FakeMailer,
    FakeNotificationQueue,
    InMemoryRepository,
    SequentialIds,
)
from tests.support.values import CONSENT

MERCHANT = "mch_a"
LEASE = timedelta(minutes=15)


class Crash(Exception):
    """A process dying between the gateway call and the write."""


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.repo = InMemoryRepository()
        self.ids = SequentialIds()
        self.queue = FakeGatewayQueue()
        self.notification_queue = FakeNotificationQueue()
        self.gateway = FakeGateway(self.clock)
        # The same composition root as the handlers, on fakes (Stripe payment methods accepted,
        # but no Stripe gateway unless a test adds one).
        settings = Settings(
            table_name="in-memory", stripe_secret_name="configured-in-tests", claim_lease_seconds=int(LEASE.total_seconds())
        )
        self.api = build_use_cases(settings, self.repo, self.clock, self.ids, FakeLinks())
        self.dispatcher = build_dispatcher(settings, self.repo, self.queue, self.ids, self.notification_queue, workers=1)
        self.charger = build_charger(self.repo, {"simulated": self.gateway}, self.clock, self.ids)
        self.outcomes: list[ChargeOutcome] = []
        self.gateway_events = GatewayEvents(self.repo, self.clock, self.ids)
        self.applied: list[Applied] = []
        self.mailer: FakeMailer | None = None
        self.notifier: Notifier | None = None  # made by `announce`

    # ------------------------------------------------------------- merchant
    def plan(self, **terms: Any) -> str:
        body = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", **terms}
        return self.api.plans.create(MERCHANT, PlanCreate.model_validate(body)).id

    def mandate(self, plan_id: str, token: str = "pm_sim_ok", **extra: Any) -> str:
        customer: dict[str, str] = {"reference": "cust-42"}
        if "_sepa_" in token:  # a bank debit needs the account holder's name and an address
            customer |= {"email": "ona@example.lt", "name": "Ona Petraitė"}
        body = {
            "plan_id": plan_id,
            "customer": customer,
            "payment_method": {"gateway": "simulated", "token": token},
            "consent": CONSENT,
            **extra,
        }
        return self.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id

    def get(self, mandate_id: str) -> Mandate:
        return self.api.mandates.get(MERCHANT, mandate_id)

    def charges(self, mandate_id: str | None = None) -> list[Charge]:
        return [c for c in self.repo.charges(MERCHANT) if mandate_id in (None, c.mandate_id)]

    def event_types(self) -> list[str]:
        """In the order they were committed (the fake clock may stand still between commits)."""
        return [e.type for c in self.repo.commits for e in c.events if e.merchant_id == MERCHANT]

    # --------------------------------------------------------------- engine
    def dispatch(self) -> DispatchReport:
        return self.dispatcher.run(self.clock.now())

    def deliver(self, message: AttemptMessage | RefundMessage) -> ChargeOutcome:
        if isinstance(message, RefundMessage):
            outcome = self.charger.process_refund(message)
        else:
            outcome = self.charger.process(message)
        self.outcomes.append(outcome)
        return outcome

    def deliver_all(self) -> list[ChargeOutcome]:
        return [self.deliver(m) for m in self.queue.take()]

    def tick(self) -> list[ChargeOutcome]:
        """One scheduler tick where nothing goes wrong: dispatch, then drain the queue."""
        self.dispatch()
        return self.deliver_all()

    def announce(self) -> list[NotificationMessage]:
        """The bank debits' announcements queued so far, e-mailed by a notifier (which marks each
        delivered on its mandate); the other e-mails stay queued. Returns the announcements."""
        if self.notifier is None:
            self.mailer = FakeMailer()
            self.notifier = Notifier(
                self.repo, self.clock, self.mailer, ApprovalLinks(b"k" * 32, "https://pay.test"), JinjaEmails()
            )
        queued = self.notification_queue.take()
        said = [m for m in queued if notices.announcement_order(m.occasion) is not None]
        self.notification_queue.messages += [m for m in queued if m not in said]
        for message in said:
            self.notifier.notify(message)
        return said

    def until_debit(self, mandate_id: str) -> None:
        """A bank debit due now: a tick gives its pre-notification (which holds the debit for the
        notice days), e-mailed, then the clock moves to the debit's date."""
        self.tick()
        self.announce()
        debit_at = self.get(mandate_id).next_debit_at
        if debit_at is not None and debit_at > self.clock.now():
            self.clock.current = debit_at

    def first_debit(self, mandate_id: str) -> list[ChargeOutcome]:
        """A bank debit due now, pre-notified, then presented on its date (one tick)."""
        self.until_debit(mandate_id)
        return self.tick()

    def apply(self, *events: GatewayEvent) -> list[Applied]:
        """Gateway events as the gateway-events queue hands them to the applier (in the order given)."""
        done = [self.gateway_events.apply(event) for event in events]
        self.applied += done
        return done

    def apply_reported(self) -> list[Applied]:
        """Every event the fake gateway reported so far, in order."""
        return self.apply(*self.gateway.take_events())

    def crash_after_gateway(self, message: AttemptMessage | RefundMessage) -> None:
        """The gateway is called, then the process dies before recording anything."""
        try:
            if isinstance(message, RefundMessage):  # its start marker is a commit before the call
                self.gateway.after_refund = lambda: setattr(self.repo, "fail_next_commit_with", Crash())
                self.charger.process_refund(message)
            else:
                self.repo.fail_next_commit_with = Crash()
                self.charger.process(message)
        except Crash:
            return
        finally:
            self.repo.fail_next_commit_with = self.gateway.after_refund = None

    def run_until(self, moment, step: timedelta = timedelta(hours=6)) -> None:
        """Tick every `step` until `moment`."""
        while self.clock.now() < moment:
            self.clock.current = min(moment, self.clock.now() + step)
            self.tick()

    def ledger_by_charge(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for request in self.gateway.ledger():
            counts[request.charge_id] = counts.get(request.charge_id, 0) + 1
        return counts


def change_plan(world: World, mandate_id: str, plan_id: str, **body: Any) -> Mandate:
    """The merchant's `POST …/change_plan` as the use case takes it."""
    return world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn.model_validate({"plan_id": plan_id, **body}))


def refund(world: World, charge_id: str, **body: Any) -> Any:
    """The merchant's `POST /v1/charges/{id}/refunds` as the use case takes it."""
    return world.api.refunds.create(MERCHANT, charge_id, RefundCreate.model_validate(body))


def settled_charge(world: World, merchant_id: str, n: int, status: str = "succeeded") -> Charge:
    """A stored cycle-1 charge of mandate `mdt_<n>` that has settled as `status` (receipt tests)."""
    now = world.clock.now()
    charge = Charge(
        id=charge_id(merchant_id, f"mdt_{n}", 1),
        merchant_id=merchant_id,
        created_at=now,
        updated_at=now,
        mandate_id=f"mdt_{n}",
        plan_id="pln_1",
        cycle=1,
        amount=100,
        currency="EUR",
        due_at=now,
        status=status,
    )
    world.repo.commit(Changes(put=[charge]))
    return charge
