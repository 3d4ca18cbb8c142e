"""Exactly-once under faults, as a Hypothesis state machine over the whole engine (on fakes).

Random interleavings of dispatch, delivery, duplicate delivery, crashes after the gateway
call, lost messages, gateway timeouts, clock moves, cancel, revoke, pause, resume and new
payment methods. After every step: the gateway holds at most one success per (mandate, cycle),
a mandate has at most one unsettled charge. At the end, once the faults stop: every cycle
that fell due was attempted, none was skipped, nothing is stuck.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from billing.domain.charge import UNSETTLED, charge_id
from billing.domain.errors import InvalidState
from billing.schemas import PauseIn, PaymentMethodIn
from billing.service.engine import OutcomeUnknown
from tests.world import LEASE, MERCHANT, World

TOKENS = ["pm_sim_ok", "pm_sim_fail_once", "pm_sim_timeout", "pm_sim_insufficient_funds", "pm_sim_expired_card", "pm_sim_error"]
STEPS = [timedelta(minutes=1), timedelta(minutes=16), timedelta(hours=6), timedelta(days=1), timedelta(days=3), timedelta(days=9)]


class Billing(RuleBasedStateMachine):
    @initialize(
        plans=st.lists(
            st.tuples(st.sampled_from(["day", "week", "month"]), st.sampled_from([[], [1], [1, 2], [1, 3, 7]]), st.sampled_from([None, 2, 5])),
            min_size=1,
            max_size=2,
        )
    )
    def setup(self, plans) -> None:
        self.world = World()
        self.plans = [self.world.plan(interval=i, retry_schedule_days=r, total_cycles=t) for i, r, t in plans]
        self.mandates: list[str] = []
        self.disturbed: set[str] = set()  # paused or given a new payment method: cycles may be skipped
        self.inflight = []  # messages SQS still holds (delivered ones leave; crashed ones come back)

    # ------------------------------------------------------------- merchant
    @precondition(lambda self: len(self.mandates) < 4)
    @rule(plan=st.integers(0, 1), token=st.sampled_from(TOKENS), delay_hours=st.sampled_from([0, 0, 0, 5, 30]))
    def create_mandate(self, plan: int, token: str, delay_hours: int) -> None:
        start_at = self.world.clock.now() + timedelta(hours=delay_hours)
        mandate_id = self.world.mandate(
            self.plans[plan % len(self.plans)], token=token, start_at=start_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        self.mandates.append(mandate_id)

    def _act(self, index: int, action) -> None:
        if not self.mandates:
            return
        mandate_id = self.mandates[index % len(self.mandates)]
        try:
            action(mandate_id)
        except InvalidState:
            pass

    @rule(index=st.integers(0, 3), how=st.sampled_from(["cancel", "revoke"]))
    def end(self, index: int, how: str) -> None:
        action = self.world.api.cancel_mandate if how == "cancel" else self.world.api.revoke_mandate
        self._act(index, lambda m: action(MERCHANT, m))

    @rule(index=st.integers(0, 3), days=st.sampled_from([None, 2, 20, "resume"]))
    def pause_or_resume(self, index: int, days: int | str | None) -> None:
        def change(m: str) -> None:
            if days == "resume":
                self.world.api.resume_mandate(MERCHANT, m)
                return
            resume_at = self.world.clock.now() + timedelta(days=days) if days else None
            self.world.api.pause_mandate(MERCHANT, m, PauseIn(resume_at=resume_at) if resume_at else None)
            self.disturbed.add(m)

        self._act(index, change)

    @rule(index=st.integers(0, 3), token=st.sampled_from(TOKENS))
    def new_payment_method(self, index: int, token: str) -> None:
        def replace(m: str) -> None:
            self.world.api.replace_payment_method(MERCHANT, m, PaymentMethodIn(gateway="simulated", token=token))
            self.disturbed.add(m)

        self._act(index, replace)

    # --------------------------------------------------------------- engine
    @rule()
    def dispatch(self) -> None:
        self.world.dispatch()
        self.inflight += self.world.queue.take()

    @rule(step=st.sampled_from(STEPS))
    def advance_clock(self, step: timedelta) -> None:
        self.world.clock.advance(seconds=step.total_seconds())

    def _pick(self, index: int):
        return self.inflight[index % len(self.inflight)]

    @precondition(lambda self: self.inflight)
    @rule(index=st.integers(0, 20))
    def deliver(self, index: int) -> None:
        message = self.inflight.pop(index % len(self.inflight))
        self.world.deliver(message)

    @precondition(lambda self: self.inflight)
    @rule(index=st.integers(0, 20))
    def deliver_duplicate(self, index: int) -> None:
        self.world.deliver(self._pick(index))  # a copy stays queued: SQS at-least-once

    @precondition(lambda self: self.inflight)
    @rule(index=st.integers(0, 20))
    def crash_after_gateway(self, index: int) -> None:
        self.world.crash_after_gateway(self._pick(index))  # stays queued: redelivered later

    @precondition(lambda self: self.inflight)
    @rule(index=st.integers(0, 20))
    def gateway_times_out(self, index: int) -> None:
        self.world.gateway.timeouts_left = 3
        try:
            self.world.deliver(self._pick(index))
        except OutcomeUnknown:
            pass
        finally:
            self.world.gateway.timeouts_left = 0

    @precondition(lambda self: self.inflight)
    @rule(index=st.integers(0, 20))
    def lose_message(self, index: int) -> None:
        self.inflight.pop(index % len(self.inflight))

    # ----------------------------------------------------------- invariants
    @invariant()
    def at_most_one_success_per_mandate_cycle(self) -> None:
        if not hasattr(self, "world"):
            return
        seen = set()
        for request in self.world.gateway.ledger():
            charge = self.world.repo.get_charge(MERCHANT, request.charge_id)
            key = (charge.mandate_id, charge.cycle)
            assert key not in seen, f"charged twice: {key}"
            seen.add(key)
            assert charge.id == charge_id(MERCHANT, charge.mandate_id, charge.cycle)

    @invariant()
    def at_most_one_unsettled_charge_per_mandate(self) -> None:
        if not hasattr(self, "world"):
            return
        for mandate_id in self.mandates:
            unsettled = [c for c in self.world.charges(mandate_id) if c.status in UNSETTLED]
            assert len(unsettled) <= 1
            for charge in self.world.charges(mandate_id):
                assert [a.number for a in charge.attempts] == list(range(1, len(charge.attempts) + 1))

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        world = self.world
        # The faults stop: SQS redelivers what it holds, leases run out, the schedule keeps firing.
        for message in self.inflight:
            world.deliver(message)
        for _ in range(500):  # one tick a minute; a mandate billed late catches up one cycle per tick
            world.clock.advance(minutes=1)
            if world.tick() or world.queue.messages:
                continue
            leases = [m.claimed_until for m in map(world.get, self.mandates) if m.claimed_until]
            if not leases:
                break
            world.clock.current = max(world.clock.now(), min(leases))  # lost messages: wait for their lease
        now = world.clock.now()
        self.at_most_one_success_per_mandate_cycle()
        for mandate_id in self.mandates:
            mandate = world.get(mandate_id)
            charges = world.charges(mandate_id)
            if mandate.status == "active":
                # Nothing overdue and nothing stuck in flight.
                assert mandate.dispatch_at is None or mandate.dispatch_at > now, mandate
                assert mandate.claimed_until is None
            for charge in charges:
                # Drained: nothing is left dispatched-but-unanswered; a retry waits for its time.
                assert charge.status != "pending", charge
                if charge.status == "retrying":
                    assert mandate.status == "active" and mandate.open_charge_id == charge.id
                    assert charge.next_attempt_at > now and mandate.dispatch_at == charge.next_attempt_at
                if charge.status in ("succeeded", "failed"):
                    assert charge.attempts, "settled by the gateway means attempted"
            if mandate_id not in self.disturbed:
                # Every due cycle was dispatched in order; none skipped.
                cycles = sorted(c.cycle for c in charges)
                assert cycles == list(range(1, len(cycles) + 1)), cycles
                if mandate.status == "active" and mandate.next_charge_at is not None and mandate.open_charge_id is None:
                    assert mandate.next_charge_at > now
                    assert mandate.next_cycle == len(cycles) + 1


# Many examples, long interleavings; the deadline is off (a benchmark measures speed, not this).
Billing.TestCase.settings = settings(settings.default, max_examples=max(400, settings.default.max_examples), stateful_step_count=60)
TestExactlyOnce = Billing.TestCase
