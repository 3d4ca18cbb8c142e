"""The transition tables (billing/domain/lifecycles.py) are the only place statuses change, and
none of their entries is dead.

While the whole engine runs under Hypothesis (the exactly-once state machine: mandates created,
charged, declined, retried, paused, resumed, cancelled, revoked, re-attempted after a new payment
method, refunded, with items and plan changes; the webhook state machine: deliveries attempted,
failing, retried by hand, given up, endpoints disabled and re-enabled), and while random sequences
of domain operations run on the aggregates those leave out (e-mails and their feedback, plans,
API keys), every move made through a table is recorded, and every assignment of a `status` is
checked to be exactly the move just made:

(a) a status that changes without a move of its table (a transition the table does not list, or
    one made around it) fails the run, naming the aggregate and the change;
(b) every entry of every table is made at least once across the runs; the test fails listing the
    entries never made (a dead entry, or a path the drivers below should learn).

Examples are bounded and derandomized, so the run is the same every time (about 15 s).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test
from pydantic import BaseModel

from billing.domain.api_keys import ApiKey
from billing.domain.charge import Charge
from billing.domain.disputes import Dispute
from billing.domain.errors import InvalidState
from billing.domain.exports import Export
from billing.domain.items import Item
from billing.domain.lifecycles import (
    API_KEY,
    CHARGE,
    DELIVERY,
    DISPUTE,
    ENDPOINT,
    ITEM,
    MANDATE,
    NOTIFICATION,
    PLAN,
    REFUND,
    TAX_RATE,
)
from billing.domain.model import Mandate, Plan, PlanTerms
from billing.domain.notifications import INTERRUPTED, Notification
from billing.domain.refunds import Refund
from billing.domain.state_machine import MACHINES, StateMachine, Transition, observing
from billing.domain.tax_rates import TaxRate
from billing.domain.webhooks import MAX_ATTEMPTS, WebhookAttempt, WebhookDelivery, WebhookEndpoint

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
STATUS_MACHINES: dict[type[BaseModel], StateMachine[Any]] = {
    Plan: PLAN,
    Mandate: MANDATE,
    Charge: CHARGE,
    Refund: REFUND,
    Item: ITEM,
    WebhookEndpoint: ENDPOINT,
    WebhookDelivery: DELIVERY,
    Notification: NOTIFICATION,
    ApiKey: API_KEY,
    Dispute: DISPUTE,
    TaxRate: TAX_RATE,
}
RUN = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


class Watch:
    """Records the moves made and checks every status assignment against the move just made."""

    def __init__(self) -> None:
        self.made: Counter[Transition] = Counter()
        self.outside: list[str] = []  # status changes no move of the table accounts for
        self._last: dict[str, Transition] = {}  # per machine, the move made and not yet assigned

    def observe(self, move: Transition) -> None:
        self.made[move] += 1
        self._last[move.machine] = move

    def assigned(self, obj: BaseModel, value: object) -> None:
        machine = STATUS_MACHINES[type(obj)]
        old = obj.__dict__.get("status")
        move = self._last.pop(machine.name, None)
        if move is not None and (move.source, move.target) == (old, value):
            return
        if move is None and old == value:
            return  # the same status written again: no transition
        made = f" (the move just made was {move})" if move is not None else ""
        self.outside.append(f"{machine.name} {getattr(obj, 'id', '?')}: {old} -> {value} without its table{made}")

    @contextmanager
    def watching(self) -> Iterator[None]:
        originals = {cls: cls.__dict__.get("__setattr__") for cls in STATUS_MACHINES}

        def checked(setattr_: Callable[[Any, str, Any], None]) -> Callable[[Any, str, Any], None]:
            def __setattr__(obj: Any, name: str, value: Any) -> None:
                if name == "status" and type(obj) in STATUS_MACHINES:
                    self.assigned(obj, value)
                setattr_(obj, name, value)

            return __setattr__

        for cls in STATUS_MACHINES:
            cls.__setattr__ = checked(cls.__setattr__)  # type: ignore[method-assign,assignment]
        try:
            with observing(self.observe):
                yield
        finally:
            for cls, original in originals.items():
                if original is None:
                    del cls.__setattr__
                else:
                    cls.__setattr__ = original  # type: ignore[method-assign]


# ----------------------------------------------------------------------------- domain drivers
def _entity(**fields: Any) -> dict[str, Any]:
    return {"merchant_id": "mch_a", "created_at": NOW, "updated_at": NOW, **fields}


def _notifications(ops: list[tuple[str, bool]]) -> None:
    """An e-mail recorded before it is handed over, then sent or not, bounced (transient or
    permanent), complained about, tried again, in any order."""
    n = Notification(
        **_entity(id="ntf_1", mandate_id="mdt_1", kind="receipt", to="a@example.lt", locale="en", failure=INTERRUPTED)
    )
    for op, flag in ops:
        try:
            if op == "send":
                n.sent(NOW, "ses-1")
            elif op == "not_sent":
                n.not_sent(NOW, "deferred" if flag else "refused")
            elif op == "bounce":
                n.bounced(NOW, permanent=flag, detail="mailbox full")
            elif op == "complain":
                n.complained(NOW)
            elif n.may_try_again:
                n.retrying(NOW)
        except InvalidState:
            pass


def _deliveries(ops: list[tuple[str, bool, int]]) -> None:
    """A delivery's attempts (ok or failing), manual retries and give-ups in any order, as the
    races between wake-ups, the merchant and a deleted endpoint can interleave them."""
    d = WebhookDelivery(**_entity(id="wd_1", endpoint_id="we_1", event_id="evt_1", event_type="charge.succeeded"))
    for op, ok, times in ops:
        try:
            if op == "record":
                for _ in range(times):
                    d.record(WebhookAttempt(at=NOW, response_status=200 if ok else 503, duration_ms=3), NOW)
            elif op == "give_up":
                if d.status == "pending":  # the deliverer gives up only on a delivery it found pending
                    d.give_up(NOW)
            else:
                d.retry_now(NOW)
        except InvalidState:
            pass


def _endpoints(ops: list[tuple[str, bool]]) -> None:
    e = WebhookEndpoint(**_entity(id="we_1", url="https://shop.example/h", enabled_events=["*"], sealed_secret="s"))
    at = NOW
    for op, flag in ops:
        at += timedelta(days=3)
        if op == "set":
            e.set_status("enabled" if flag else "disabled", at)
        else:
            e.attempt_result(flag, at)


def _single_moves() -> None:
    """The aggregates with one move each: a plan archived (twice), an API key revoked (twice),
    an item deleted, billed, voided, an export finished or failed (then neither again)."""
    terms = PlanTerms(amount=1999, currency="EUR", interval="month")
    plan = Plan(**_entity(id="pln_1", name="Gold", terms=terms))
    key = ApiKey(**_entity(id="key_1", key_hash="h"))
    rate = TaxRate(**_entity(id="txr_1", display_name="PVM", percentage="21", country="LT"))
    for _ in range(2):
        for act in (lambda: plan.archive(NOW), lambda: key.revoke(NOW), lambda: rate.archive(NOW)):
            try:
                act()
            except InvalidState:
                pass
    for op in ("delete", "bill", "void"):
        item = Item(**_entity(id=f"itm_{op}", mandate_id="mdt_1", amount=100, currency="EUR", description="Fee"))
        getattr(item, op)(*(("chg_1", NOW) if op == "bill" else (NOW,)))
        with pytest.raises(InvalidState):
            item.delete(NOW)
    for op in ("finish", "fail"):
        export = Export(**_entity(id=f"exp_{op}", kind="charges", month="2026-11"))
        export.finish(3, NOW) if op == "finish" else export.fail("storage_unavailable", NOW)
        with pytest.raises(InvalidState):
            export.fail("again", NOW)


OPS = st.lists(st.tuples(st.sampled_from(["send", "not_sent", "bounce", "complain", "retry"]), st.booleans()), max_size=8)
DELIVERY_OPS = st.lists(
    st.tuples(st.sampled_from(["record", "give_up", "retry"]), st.booleans(), st.integers(1, MAX_ATTEMPTS)), max_size=6
)
ENDPOINT_OPS = st.lists(st.tuples(st.sampled_from(["set", "attempt"]), st.booleans()), max_size=8)


def _drive(strategy: st.SearchStrategy[Any], driver: Callable[[Any], None], examples: int) -> None:
    given(strategy)(settings(RUN, max_examples=examples)(driver))()  # type: ignore[call-arg]


# ----------------------------------------------------------------------------- the engine
def _tours() -> None:
    """Short stories through the whole engine (on fakes) that make every entry of the mandate,
    charge, attempt and refund tables on their own (a bounded random run misses some): approval
    links, retry schedules to their end, stops between attempts and while one is at the gateway,
    re-attempts after a new payment method, a charge that credit covers, a last cycle, refunds."""
    from billing.api.requests import MandateCreate, PaymentMethodIn
    from billing.domain.model import Consent, PaymentMethod
    from tests.world import MERCHANT, World, change_plan, refund

    def world_with(token: str, **terms: Any) -> tuple[World, str]:
        world = World()
        return world, world.mandate(world.plan(**terms), token=token)

    def method(token: str) -> PaymentMethodIn:
        return PaymentMethodIn(gateway="simulated", token=token)

    def days(world: World, n: int) -> None:
        world.run_until(world.clock.now() + timedelta(days=n), step=timedelta(days=1))

    # Awaiting approval: approved, cancelled, revoked.
    world = World()
    plan_id = world.plan(interval="month")
    body = {"plan_id": plan_id, "customer": {"reference": "c"}}
    pending = [world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id for _ in range(3)]
    consent = Consent(accepted_at=world.clock.now())
    world.api.mandates.approve(MERCHANT, pending[0], PaymentMethod(gateway="simulated", token="pm_sim_ok"), consent)
    world.api.mandates.cancel(MERCHANT, pending[1])
    world.api.mandates.revoke(MERCHANT, pending[2])

    # A retry schedule to its end (retrying -> retrying -> failed), then past_due: a new method
    # re-attempts the failed charge (failed -> pending), and a past_due mandate is revoked.
    world, mandate_id = world_with("pm_sim_insufficient_funds", interval="month", retry_schedule_days=[1, 2])
    days(world, 4)
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, method("pm_sim_expired_card"))
    days(world, 1)
    world.api.mandates.revoke(MERCHANT, mandate_id)

    # A soft decline then a success on the retry (retrying -> succeeded); the last cycle completes the mandate.
    world, mandate_id = world_with("pm_sim_fail_once", interval="month", retry_schedule_days=[1], total_cycles=1)
    days(world, 2)

    # A refund the gateway refuses.
    world, refused = world_with("pm_sim_refund_fails", interval="month")
    world.tick()
    refund(world, world.charges(refused)[0].id, amount=100)
    world.tick()

    # Stops while an attempt is at the gateway: cancelled on the first attempt and on a retry
    # (its answer cancels the charge); paused, then the attempt fails for good (paused -> past_due).
    for token, retry, stop in (
        ("pm_sim_error", False, "cancel"),
        ("pm_sim_insufficient_funds", True, "cancel"),
        ("pm_sim_expired_card", False, "pause"),
    ):
        world, mandate_id = world_with(token, interval="month", retry_schedule_days=[1, 2])
        if retry:
            world.tick()
            world.clock.current += timedelta(days=1)
        world.dispatch()
        stops = {"cancel": world.api.mandates.cancel, "pause": lambda merchant, m: world.api.mandates.pause(merchant, m, None)}
        world.gateway.during_call = lambda _request, m=mandate_id, stop=stops[stop]: stop(MERCHANT, m)
        world.deliver_all()

    # A paused mandate: its payment method replaced, then revoked.
    world, mandate_id = world_with("pm_sim_ok", interval="month")
    world.tick()
    world.api.mandates.pause(MERCHANT, mandate_id, None)
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, method("pm_sim_ok"))
    world.api.mandates.revoke(MERCHANT, mandate_id)

    # Stops between attempts: a claimed attempt never started is abandoned with its charge; a
    # retrying charge is cancelled with its mandate (paused, resumed, paused again, cancelled);
    # an active mandate revoked; a past_due one cancelled; a paid charge refunded.
    world, claimed = world_with("pm_sim_ok", interval="month")
    world.dispatch()
    world.api.mandates.cancel(MERCHANT, claimed)
    world, retrying = world_with("pm_sim_insufficient_funds", interval="month", retry_schedule_days=[1])
    world.tick()
    for change in ("pause", "resume", "pause", "cancel"):
        getattr(world.api.mandates, change)(MERCHANT, retrying, *((None,) if change == "pause" else ()))
    world, paid = world_with("pm_sim_ok", interval="month")
    world.tick()
    refund(world, world.charges(paid)[0].id, amount=100)
    world.tick()
    world.api.mandates.revoke(MERCHANT, paid)
    world, failed = world_with("pm_sim_expired_card", interval="month")
    world.tick()
    world.api.mandates.cancel(MERCHANT, failed)

    # A new payment method before the claimed attempt starts: the attempt is re-pinned.
    world, mandate_id = world_with("pm_sim_ok", interval="month")
    world.dispatch()
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, method("pm_sim_fail_once"))
    world.deliver_all()

    # Credit covering a whole charge: a paid expensive cycle, then at once a cheap plan with proration.
    world, mandate_id = world_with("pm_sim_ok", interval="month", amount=10_000)
    world.tick()
    change_plan(world, mandate_id, world.plan(interval="month", amount=100), at="now", prorate=True)
    world.tick()


def _after_the_charge() -> None:
    """Stories after the gateway answered, through the service layer: bank debits the gateway
    accepts as processing (the charger records it) and settles later (a gateway event applied by
    `GatewayEvents`, or the charger's lookup), declined into the retry schedule or for good, a stop
    while one is processing, payments reversed afterwards (retried or failed), refunds failing
    later, and disputes reported in every order."""
    from tests.world import MERCHANT, World, refund

    def sepa(token: str, **terms: Any) -> tuple[World, str, str]:
        world = World()
        mandate_id = world.mandate(world.plan(**terms), token=token)
        world.first_debit(mandate_id)  # pre-notified, then pending -> processing (attempt started -> processing)
        return world, mandate_id, world.charges(mandate_id)[0].id

    # Settled by an event (processing -> succeeded), then returned by the bank: soft, retried
    # (succeeded -> retrying), and the retry processing again (retrying -> processing) is looked up
    # an hour later and settles as declined for good (processing -> failed).
    world, mandate_id, charge_id = sepa("pm_sim_sepa_late_failure", retry_schedule_days=[1])
    world.apply(world.gateway.settle(charge_id))
    world.apply(world.gateway.reverse(charge_id, code="insufficient_funds"))
    world.clock.advance(days=2)  # a bank debit's retry: 2 days after the return at the soonest
    world.tick()
    world.gateway.settle(charge_id, outcome="declined", code="insufficient_funds")
    world.clock.advance(hours=1)
    world.tick()

    # Declined while processing, into the retry schedule (processing -> retrying).
    world, mandate_id, charge_id = sepa("pm_sim_sepa_insufficient_funds", retry_schedule_days=[3])
    world.apply(world.gateway.settle(charge_id))

    # Cancelled while processing, then declined (processing -> cancelled).
    world, mandate_id, charge_id = sepa("pm_sim_sepa_insufficient_funds")
    world.api.mandates.cancel(MERCHANT, mandate_id)
    world.apply(world.gateway.settle(charge_id))

    # A succeeded payment reversed with a hard code (succeeded -> failed).
    world, mandate_id, charge_id = sepa("pm_sim_sepa_ok")
    world.apply(world.gateway.settle(charge_id))
    world.apply(world.gateway.reverse(charge_id, code="invalid_account"))

    # A refund that fails after it succeeded; disputes in every course.
    world = World()
    mandate_id = world.mandate(world.plan(), token="pm_sim_ok")
    world.tick()
    charge_id = world.charges(mandate_id)[0].id
    made = refund(world, charge_id, amount=100)
    world.tick()
    world.apply(world.gateway.fail_refund_later(made.id))
    for reason, course in (
        ("product_not_received", ["under_review", "won"]),
        ("duplicate", ["under_review", "lost"]),
        ("general", ["won"]),
        ("subscription_canceled", ["lost"]),
    ):
        opened = world.gateway.open_dispute(charge_id, reason=reason, amount=10)
        assert opened.dispute is not None
        world.apply(opened, *(world.gateway.dispute_moves(opened.dispute.reference, status) for status in course))


def _engine(examples: int, webhook_examples: int) -> None:
    from tests.unit.test_exactly_once_stateful import Billing
    from tests.unit.test_webhooks_stateful import WebhookMachine

    run_state_machine_as_test(Billing, settings=settings(RUN, max_examples=examples, stateful_step_count=60))
    run_state_machine_as_test(WebhookMachine, settings=settings(RUN, max_examples=webhook_examples, stateful_step_count=40))


def run_all(watch: Watch) -> None:
    with watch.watching():
        _single_moves()
        _drive(OPS, _notifications, 60)
        _drive(DELIVERY_OPS, _deliveries, 80)
        _drive(ENDPOINT_OPS, _endpoints, 40)
        _tours()
        _after_the_charge()
        _engine(examples=40, webhook_examples=30)


@pytest.mark.slow
def test_every_transition_is_in_its_table_and_every_entry_is_reachable() -> None:
    # Given every table, and the engine and the aggregates driven at random while watched
    watch = Watch()

    # When they run
    run_all(watch)

    # Then no status changed outside its table, and every entry of every table was made
    assert not watch.outside, "status changes outside their tables:\n" + "\n".join(sorted(set(watch.outside)))
    entries = {entry for machine in MACHINES.values() for entry in machine.entries}
    assert set(watch.made) <= entries  # a move outside a table raises; none was recorded
    unreached = sorted(entries - set(watch.made))
    assert not unreached, "table entries never made:\n" + "\n".join(map(str, unreached))


# ----------------------------------------------------------------------------- the tables themselves
def test_a_refused_move_says_what_the_api_says() -> None:
    # Given a cancelled mandate's status and a billed item's
    # When a move its table does not allow is asked for
    # Then the contract's 409 comes back with the message the API has always shown
    with pytest.raises(InvalidState, match=r"^Cannot pause a mandate that is cancelled\.$"):
        MANDATE.move("cancelled", "pause")
    with pytest.raises(InvalidState, match=r"^Cannot replace the payment method of a mandate that is revoked\.$"):
        MANDATE.move("revoked", "replace_payment_method")
    with pytest.raises(InvalidState, match=r"^Item itm_1 is billed; it cannot be billed again\.$"):
        ITEM.move("billed", "bill", id="itm_1")
    with pytest.raises(InvalidState, match=r"^This delivery has already succeeded\.$"):
        DELIVERY.move("succeeded", "retry")


def test_a_move_to_a_target_its_table_does_not_list_is_refused() -> None:
    # Given a pending charge, whose answer may make it succeeded, retrying, failed or cancelled
    # When code tries to record it as pending again, or an action the table does not have
    # Then it is refused: the table is the only way a status changes
    with pytest.raises(ValueError, match="pending"):
        CHARGE.move("pending", "record", "pending")
    with pytest.raises(ValueError, match="dispute"):
        CHARGE.move("succeeded", "dispute")


def test_the_sets_the_code_asks_about_come_from_the_tables() -> None:
    from billing.domain.charge import UNSETTLED
    from billing.domain.model import FINAL_STATUSES, STOPPABLE_STATUSES

    assert FINAL_STATUSES == {"cancelled", "revoked", "completed"}
    assert STOPPABLE_STATUSES == {"pending_approval", "active", "paused", "past_due"}
    assert UNSETTLED == {"pending", "processing", "retrying"}


def test_a_table_naming_a_status_its_literal_lacks_is_refused_at_import() -> None:
    from typing import Literal

    with pytest.raises(ValueError, match="processing"):
        StateMachine("probe", Literal["pending", "succeeded"], {"pay": {"pending": "processing"}}, initial="pending")
    with pytest.raises(ValueError, match="reversed"):
        StateMachine("probe", Literal["pending", "succeeded", "reversed"], {"pay": {"pending": "succeeded"}}, initial="pending")


def test_every_status_assignment_in_the_code_is_a_move_of_a_table() -> None:
    """The run above sees the paths the drivers take; this reads them all: where aggregates
    change (domain, services, adapters), a `status` attribute is only ever assigned
    `<TABLE>.move(...)` (the HTTP layers' `status` is a response code)."""
    import ast
    from pathlib import Path

    import billing

    def pairs(node: ast.Assign) -> Iterator[tuple[ast.expr, ast.expr | None]]:
        for target in node.targets:
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                yield from zip(target.elts, node.value.elts, strict=True)
            elif isinstance(target, ast.Tuple):
                yield from ((element, None) for element in target.elts)
            else:
                yield target, node.value

    def is_move(value: ast.expr | None) -> bool:
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "move"

    # Given every module of the billing package
    root = Path(billing.__file__).parent
    outside = []
    for path in sorted(p for layer in ("domain", "service", "adapters", "emails") for p in (root / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            # When a status attribute is assigned (alone or in a tuple)
            if isinstance(node, ast.AugAssign | ast.AnnAssign) and isinstance(node.target, ast.Attribute):
                if node.target.attr == "status":
                    outside.append(f"{path.relative_to(root)}:{node.lineno}")
            elif isinstance(node, ast.Assign):
                for target, value in pairs(node):
                    # Then its value is a move of a table
                    if isinstance(target, ast.Attribute) and target.attr == "status" and not is_move(value):
                        outside.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not outside, "status assigned without a table's move at: " + ", ".join(outside)


def test_the_final_states_are_those_with_no_way_out_to_another_state() -> None:
    # A succeeded webhook delivery may still record a racing attempt, and stays succeeded: it is final
    from billing.domain.lifecycles import DELIVERY, MANDATE

    assert DELIVERY.final == {"succeeded"}
    assert MANDATE.final == {"cancelled", "completed", "revoked"}
