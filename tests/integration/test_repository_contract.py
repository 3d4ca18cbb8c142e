"""The Repository port's contract, run on both implementations: the in-memory fake the unit
tests use and the DynamoDB repository (on moto, with the template's table). A behaviour the
fake gets wrong would make every unit test built on it prove the wrong thing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from billing.domain.charge import Charge, charge_id
from billing.domain.disputes import Dispute
from billing.domain.errors import ConcurrentModification, InvalidState
from billing.domain.items import Item
from billing.domain.model import Consent, Customer, Event, Mandate, PaymentMethod, Plan, PlanTerms
from billing.domain.reconciliation import Reconciliation
from billing.domain.refunds import Refund
from billing.domain.tax_rates import TaxRate
from billing.domain.webhooks import WebhookDelivery, WebhookEndpoint, delivery_id
from billing.service.ports import Changes, Limit, PageRequest, Repository
from billing.service.registry import REGISTRY, Aggregate, aggregate_of
from tests.fakes import InMemoryRepository

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
A, B = "mch_contracta", "mch_contractb"


@pytest.fixture(params=["in-memory", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> Iterator[Repository]:
    if request.param == "in-memory":
        yield InMemoryRepository(merchants=())  # as the emulated table: no merchant has a profile
        return
    from billing.adapters.dynamodb.repository import DynamoRepository

    aws = request.getfixturevalue("aws")
    yield DynamoRepository(boto3.client("dynamodb"), aws.tables["BillingTable"])


def plan(merchant: str = A, n: int = 1, created: datetime = NOW) -> Plan:
    return Plan(
        id=f"pln_contract{n:04d}",
        merchant_id=merchant,
        created_at=created,
        updated_at=created,
        name=f"Plan {n}",
        terms=PlanTerms(amount=1999, currency="EUR", interval="month"),
    )


def active_mandate(p: Plan, n: int = 1, activated: datetime = NOW) -> Mandate:
    mandate = Mandate(
        id=f"mdt_contract{n:04d}",
        merchant_id=p.merchant_id,
        plan_id=p.id,
        terms=p.terms,
        customer=Customer(reference=f"cust-{n}"),
        created_at=activated,
        updated_at=activated,
    )
    mandate.activate(activated, PaymentMethod(gateway="simulated", token="pm_sim_ok"), Consent(accepted_at=activated))
    return mandate


def test_a_committed_aggregate_reads_back_equal_with_its_version(repo: Repository) -> None:
    # Given a plan and an active mandate committed together
    p = plan()
    m = active_mandate(p)
    repo.commit(Changes(put=[p, m]))
    # When they are read back, Then they are equal (null fields and all) at version 1
    assert repo.get(Plan, A, p.id) == p and p.version == 1
    assert repo.get(Mandate, A, m.id) == m and m.version == 1
    # And another merchant cannot see them
    assert repo.get(Plan, B, p.id) is None and repo.get(Mandate, B, m.id) is None


def test_a_stale_version_is_a_concurrent_modification_and_writes_nothing(repo: Repository) -> None:
    # Given a plan read, then changed by someone else
    p = plan()
    repo.commit(Changes(put=[p]))
    stale = repo.get(Plan, A, p.id)
    p.name = "Renamed"
    repo.commit(Changes(put=[p]))
    assert stale is not None
    # When the stale copy is committed
    stale.name = "Lost update"
    # Then it is a concurrent modification, and the other change stands
    with pytest.raises(ConcurrentModification):
        repo.commit(Changes(put=[stale]))
    assert repo.get(Plan, A, p.id).name == "Renamed"  # type: ignore[union-attr]


def test_the_start_marker_is_written_only_on_the_claimed_version(repo: Repository) -> None:
    # Given a stored mandate
    p = plan()
    m = active_mandate(p)
    repo.commit(Changes(put=[p, m]))
    # When the start marker is written on its version, Then it is stored and the version moves on
    m.attempt_started_at = NOW
    repo.start_attempt(m)
    stored = repo.get(Mandate, A, m.id)
    assert stored is not None and stored.attempt_started_at == NOW and stored.version == m.version == 2
    # When it is written on an older version, Then it is refused
    late = stored.model_copy(update={"version": 1})
    with pytest.raises(ConcurrentModification):
        repo.start_attempt(late)


def test_lists_are_newest_first_paginated_and_filtered(repo: Repository) -> None:
    # Given five mandates created a minute apart
    p = plan()
    mandates = [active_mandate(p, n, NOW + timedelta(minutes=n)) for n in range(1, 6)]
    repo.commit(Changes(put=[p, *mandates]))
    # When they are listed two at a time, Then newest first, and the cursor continues; filters and merchants apply
    first = repo.page(Mandate, A, PageRequest(limit=2))
    assert [m.id for m in first.data] == [mandates[4].id, mandates[3].id] and first.has_more
    second = repo.page(Mandate, A, PageRequest(limit=2, cursor=first.next_cursor))
    assert [m.id for m in second.data] == [mandates[2].id, mandates[1].id]
    assert [m.id for m in repo.page(Mandate, A, PageRequest(), customer_reference="cust-3").data] == [mandates[2].id]
    assert repo.page(Mandate, B, PageRequest()).data == []


def charges_of(p: Plan, m: Mandate, *statuses: str, days_apart: bool = False) -> list[Charge]:
    """The mandate's charges of cycles 1, 2, … with these statuses (created a day apart, or at once)."""
    return [
        Charge(
            id=charge_id(A, m.id, cycle),
            merchant_id=A,
            created_at=NOW + timedelta(days=cycle if days_apart else 0),
            updated_at=NOW,
            mandate_id=m.id,
            plan_id=p.id,
            cycle=cycle,
            amount=1999,
            currency="EUR",
            due_at=NOW,
            status=status,
        )
        for cycle, status in enumerate(statuses, start=1)
    ]


def test_charges_list_by_mandate_and_status(repo: Repository) -> None:
    # Given three charges of a mandate, two succeeded
    p = plan()
    m = active_mandate(p)
    charges = charges_of(p, m, "succeeded", "failed", "succeeded", days_apart=True)
    repo.commit(Changes(put=[p, m, *charges]))
    # When charges are listed by mandate and status, Then exactly those come, newest first
    found = repo.page(Charge, A, PageRequest(), mandate_id=m.id, status="succeeded")
    assert [c.cycle for c in found.data] == [3, 1]
    assert [c.cycle for c in repo.page(Charge, A, PageRequest(), status="failed").data] == [2]


def test_the_due_index_finds_exactly_what_is_due(repo: Repository) -> None:
    # Given mandates due in the past, now and later, and one that is not collecting
    p = plan()
    due_before = active_mandate(p, 1, NOW - timedelta(days=1))
    due_now = active_mandate(p, 2, NOW)
    later = active_mandate(p, 3, NOW + timedelta(hours=1))
    cancelled = active_mandate(p, 4, NOW - timedelta(days=2))
    cancelled.cancel(NOW)
    repo.commit(Changes(put=[p, due_before, due_now, later, cancelled]))
    # When the engine asks what is due, Then it gets the due ones, oldest first
    due = repo.due(NOW, per_shard=10)
    assert [(d.object_id, d.due_at) for d in due] == [(due_before.id, due_before.next_charge_at), (due_now.id, NOW)]


def test_refunds_and_items_list_by_parent_and_status_and_pending_refunds_are_due(repo: Repository) -> None:
    # Given a charge of a mandate with two refunds (one pending), and two items of the mandate
    p = plan()
    m = active_mandate(p)
    charge = Charge(
        id=charge_id(A, m.id, 1),
        merchant_id=A,
        created_at=NOW,
        updated_at=NOW,
        mandate_id=m.id,
        plan_id=p.id,
        cycle=1,
        amount=1999,
        currency="EUR",
        due_at=NOW,
        status="succeeded",
    )
    method = PaymentMethod(gateway="simulated", token="pm_sim_ok")
    refunds = [
        Refund(
            id=f"rfd_contract{n}",
            merchant_id=A,
            created_at=NOW + timedelta(minutes=n),
            updated_at=NOW,
            charge_id=charge.id,
            mandate_id=m.id,
            amount=100,
            currency="EUR",
            status=status,
            payment_method=method,
        )
        for n, status in ((1, "succeeded"), (2, "pending"))
    ]
    items = [
        Item(
            id=f"itm_contract{n}",
            merchant_id=A,
            created_at=NOW + timedelta(minutes=n),
            updated_at=NOW,
            mandate_id=m.id,
            amount=250,
            currency="EUR",
            description="Towel",
            status=status,
        )
        for n, status in ((1, "billed"), (2, "pending"))
    ]
    repo.commit(Changes(put=[p, m, charge, *refunds, *items]))
    # When they are listed and loaded, Then the filters hold, newest first, and only for merchant A
    ids = lambda page: [o.id for o in page.data]  # noqa: E731
    assert ids(repo.page(Refund, A, PageRequest(), charge_id=charge.id)) == ["rfd_contract2", "rfd_contract1"]
    assert ids(repo.page(Refund, A, PageRequest(), mandate_id=m.id, status="pending")) == ["rfd_contract2"]
    assert ids(repo.page(Refund, A, PageRequest(), charge_id=charge.id, mandate_id="mdt_other")) == []
    assert ids(repo.page(Refund, A, PageRequest(), status="succeeded")) == ["rfd_contract1"]
    assert ids(repo.page(Item, A, PageRequest(), mandate_id=m.id, status="pending")) == ["itm_contract2"]
    assert ids(repo.page(Item, A, PageRequest())) == ["itm_contract2", "itm_contract1"]
    assert repo.page(Refund, B, PageRequest()).data == [] and repo.get(Item, B, "itm_contract1") is None
    loaded = repo.load_many({Item: [(A, "itm_contract1"), (B, "itm_contract2"), (A, "itm_missing")]}).of(Item)
    assert list(loaded) == ["itm_contract1"] and loaded["itm_contract1"].version == 1
    assert repo.get(Refund, A, "rfd_contract2") == refunds[1]
    # And the pending refund is due (at its creation), the settled one is not
    due = [d.object_id for d in repo.due(NOW + timedelta(hours=1), per_shard=10)]
    assert "rfd_contract2" in due and "rfd_contract1" not in due


def test_events_are_written_once_and_listed_by_type(repo: Repository) -> None:
    # Given two events
    p = plan()
    events = [
        Event(id=f"evt_contract{n}", merchant_id=A, type=t, created_at=NOW + timedelta(seconds=n), data={"object": {"id": p.id}})
        for n, t in enumerate(["plan.created", "plan.updated"])
    ]
    repo.commit(Changes(put=[p], events=events))
    # Then they list by type and read by id, and an event id is never written twice
    assert [e.id for e in repo.page(Event, A, PageRequest(), type="plan.updated").data] == ["evt_contract1"]
    assert repo.get(Event, A, "evt_contract0") == events[0]
    with pytest.raises(ConcurrentModification):  # an event id is never written twice
        repo.commit(Changes(events=[events[0]]))


def test_a_mandates_timeline_lists_its_events_and_its_objects_events_newest_first(repo: Repository) -> None:
    # Given events about mandate 1 (itself, a charge, a refund), mandate 2, a plan and B's mandate 1
    def event(n: int, type: str, obj: dict[str, str], merchant: str = A) -> Event:
        return Event(
            id=f"evt_tl{n}", merchant_id=merchant, type=type, created_at=NOW + timedelta(seconds=n), data={"object": obj}
        )

    mine, theirs = "mdt_contract0001", "mdt_contract0002"
    events = [
        event(1, "mandate.created", {"id": mine}),
        event(2, "plan.created", {"id": "pln_x"}),
        event(3, "charge.succeeded", {"id": "chg_x", "mandate_id": mine}),
        event(4, "mandate.created", {"id": theirs}),
        event(5, "refund.created", {"id": "rfd_x", "mandate_id": mine, "charge_id": "chg_x"}),
        event(6, "mandate.created", {"id": mine}, merchant=B),
    ]
    repo.commit(Changes(events=events))
    # When the mandate's timeline is listed two at a time, Then its three events, newest first, only A's
    first = repo.page(Event, A, PageRequest(limit=2), mandate_id=mine)
    rest = repo.page(Event, A, PageRequest(limit=2, cursor=first.next_cursor), mandate_id=mine)
    assert [e.id for e in first.data] == ["evt_tl5", "evt_tl3"] and first.has_more
    assert [e.id for e in rest.data] == ["evt_tl1"] and not rest.has_more
    # And with a type too, only that type
    assert [e.id for e in repo.page(Event, A, PageRequest(), mandate_id=mine, type="charge.succeeded").data] == ["evt_tl3"]
    assert [e.id for e in repo.page(Event, B, PageRequest(), mandate_id=mine).data] == ["evt_tl6"]


def test_events_of_some_types_in_a_period_come_oldest_first_and_only_the_merchants(repo: Repository) -> None:
    # Given events of A of three types inside [start, end), one at `end`, one before `start`, one of B
    start, end = NOW, NOW + timedelta(days=1)

    def event(n: int, type: str, at: datetime, merchant: str = A) -> Event:
        return Event(id=f"evt_between{n}", merchant_id=merchant, type=type, created_at=at, data={"object": {"id": "x"}})

    kinds = ["charge.succeeded", "refund.succeeded", "charge.created"]
    inside = [event(n, kinds[n % 3], start + timedelta(minutes=7 * n)) for n in range(30)]
    outside = [
        event(40, "charge.succeeded", end),
        event(41, "charge.succeeded", start - timedelta(microseconds=1)),
        event(42, "charge.succeeded", start, B),
    ]
    repo.commit(Changes(events=inside[:15]))
    repo.commit(Changes(events=inside[15:] + outside))
    # When the money-moving types are read in pages of 4
    pages = list(repo.events_between(A, start, end, ["charge.succeeded", "refund.succeeded"], 4))
    # Then exactly A's events of those types inside the period, oldest first, at most 4 a page
    assert [e.id for p in pages for e in p] == [e.id for e in inside if e.type != "charge.created"]
    assert all(0 < len(p) <= 4 for p in pages)
    assert [e.id for p in repo.events_between(B, start, end, ["charge.succeeded"]) for e in p] == ["evt_between42"]
    assert list(repo.events_between(A, end + timedelta(days=1), end + timedelta(days=2), ["charge.succeeded"])) == []


def test_events_load_many_at_once_and_only_the_merchants_own(repo: Repository) -> None:
    # Given two events of merchant A
    p = plan()
    events = [
        Event(id=f"evt_many{n}", merchant_id=A, type="plan.created", created_at=NOW, data={"object": {"id": p.id}})
        for n in range(2)
    ]
    repo.commit(Changes(put=[p], events=events))
    # When they are loaded with keys naming another merchant, a missing event and a malformed id
    found = repo.load_many({Event: [(A, "evt_many0"), (B, "evt_many1"), (A, "evt_missing"), (A, "not-an-id"), (A, "evt_many1")]})
    found_events = list(found.of(Event).values())
    # Then exactly A's two events come back
    assert sorted(e.id for e in found_events) == ["evt_many0", "evt_many1"]


def endpoint(merchant: str = A, n: int = 1) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=f"we_contract{n:04d}",
        merchant_id=merchant,
        url="https://hooks.shop.example/in",
        enabled_events=["*"],
        sealed_secret="sealed",
        created_at=NOW + timedelta(seconds=n),
        updated_at=NOW + timedelta(seconds=n),
    )


def test_webhook_endpoints_and_deliveries_list_filter_and_count_the_same_on_both(repo: Repository) -> None:
    # Given two endpoints of A (one deleted later), one of B, and deliveries of events to the first
    first, second, other = endpoint(A, 1), endpoint(A, 2), endpoint(B, 3)
    room = [Limit(m, "webhook_endpoints", +1, 2, "full") for m in (A, A, B)]
    repo.commit(Changes(put=[first, second, other], limits=room))
    deliveries = [
        WebhookDelivery(
            id=delivery_id(f"evt_contract{n}", first.id),
            merchant_id=A,
            endpoint_id=first.id,
            event_id=f"evt_contract{n}",
            event_type="plan.created",
            status="succeeded" if n % 2 else "pending",
            next_attempt_at=None if n % 2 else NOW,
            created_at=NOW + timedelta(minutes=n),
            updated_at=NOW + timedelta(minutes=n),
        )
        for n in range(5)
    ]
    repo.commit(Changes(put=[*deliveries]))
    # Then lists are per merchant, newest first; a deleted endpoint leaves its list
    assert [e.id for e in repo.page(WebhookEndpoint, A, PageRequest()).data] == [second.id, first.id]
    second.delete(NOW)
    repo.commit(Changes(put=[second], limits=[Limit(A, "webhook_endpoints", -1)]))
    assert [e.id for e in repo.page(WebhookEndpoint, A, PageRequest()).data] == [first.id]
    stored = repo.get(WebhookEndpoint, A, second.id)
    assert stored is not None and stored.deleted and repo.get(WebhookEndpoint, B, second.id) is None
    # And deliveries list per endpoint, by status, and by event
    page = repo.page(WebhookDelivery, A, PageRequest(), endpoint_id=first.id)
    assert [d.event_id for d in page.data] == [f"evt_contract{n}" for n in (4, 3, 2, 1, 0)]
    pending = repo.page(WebhookDelivery, A, PageRequest(), endpoint_id=first.id, status="pending")
    assert [d.event_id for d in pending.data] == ["evt_contract4", "evt_contract2", "evt_contract0"]
    [found] = repo.page(WebhookDelivery, A, PageRequest(), endpoint_id=first.id, event_id="evt_contract3").data
    assert (
        found.status == "succeeded"
        and repo.page(WebhookDelivery, B, PageRequest(), endpoint_id=first.id, event_id="evt_contract3").data == []
    )
    # And a count at its maximum refuses one more; the freed place takes exactly one
    third, fourth = endpoint(A, 4), endpoint(A, 5)
    repo.commit(Changes(put=[third], limits=[Limit(A, "webhook_endpoints", +1, 2, "full")]))
    with pytest.raises(InvalidState, match="full"):
        repo.commit(Changes(put=[fourth], limits=[Limit(A, "webhook_endpoints", +1, 2, "full")]))
    assert repo.get(WebhookEndpoint, A, fourth.id) is None


def test_a_count_never_written_starts_from_its_initial_value(repo: Repository) -> None:
    # Given a count never written, for data older than it (two things counted from their list)
    first = Limit(B, "things", +1, 3, "full", initial=2)
    # When one more is added, Then it holds three, and a fourth is refused
    repo.commit(Changes(limits=[first]))
    with pytest.raises(InvalidState, match="full"):
        repo.commit(Changes(limits=[Limit(B, "things", +1, 3, "full", initial=0)]))
    # And a decrement takes it back to two, leaving room for one
    repo.commit(Changes(limits=[Limit(B, "things", -1)]))
    repo.commit(Changes(limits=[Limit(B, "things", +1, 3, "full")]))


def test_notifications_and_suppressions_read_back_and_list_by_mandate_and_kind(repo: Repository) -> None:
    from billing.domain.notifications import Notification, Suppression, notification_id

    def notification(kind: str, mandate: str, n: int) -> Notification:
        return Notification(
            id=notification_id(A, kind, mandate, str(n)),
            merchant_id=A,
            created_at=NOW + timedelta(minutes=n),
            updated_at=NOW + timedelta(minutes=n),
            mandate_id=mandate,
            kind=kind,  # type: ignore[arg-type]
            to="Ona@Example.lt",
            locale="lt",
        )

    # Given notifications of two kinds for two mandates, one sent, and a suppression of its address
    sent = notification("receipt", "mdt_one", 1)
    sent.sent(NOW, "ses-1")
    rows = [sent, notification("upcoming_charge", "mdt_one", 2), notification("receipt", "mdt_two", 3)]
    suppression = Suppression.of(sent, "complaint", NOW)
    repo.commit(Changes(put=[*rows, suppression]))
    # Then each reads back equal (a sent one without a failure), the suppression by the address's id whatever its case
    assert repo.get(Notification, A, sent.id) == sent and sent.failure is None
    assert repo.get(Suppression, A, suppression.id) == suppression
    assert (
        suppression.id
        == Suppression.of(notification("receipt", "mdt_two", 3).model_copy(update={"to": "ona@example.LT"}), "bounce", NOW).id
    )
    assert repo.get(Suppression, B, suppression.id) is None

    # And lists filter by mandate, by kind, and by both
    def listed(**filters: str) -> list[str]:
        return [n.id for n in repo.page(Notification, A, PageRequest(), **filters).data]

    assert listed(mandate_id="mdt_one") == [rows[1].id, rows[0].id]
    assert listed(kind="receipt") == [rows[2].id, rows[0].id]
    assert listed(mandate_id="mdt_one", kind="receipt") == [rows[0].id]


# ------------------------------------------------- every registry entry, generically
# One sample per aggregate kind (by registry name), built from keyword values (a filter's value
# goes to the attribute the registry says it compares), and two values per declared filter (the
# one looked for, another). A registry entry or filter without its case here fails the test below.


def _sample(name: str, merchant: str, n: int, **values: Any) -> Any:
    from billing.domain.account import Account
    from billing.domain.api_keys import ApiKey
    from billing.domain.notifications import Notification, Suppression
    from billing.domain.receipts import ReceiptCounter

    at = NOW + timedelta(minutes=n)
    common: dict[str, Any] = {"merchant_id": merchant, "created_at": at, "updated_at": at}
    method = PaymentMethod(gateway="simulated", token="pm_sim_ok")
    if name == "PLAN":
        return plan(merchant, n, at).model_copy(update=values)
    if name == "MANDATE":
        mandate = active_mandate(plan(merchant), n, at)
        if "customer_reference" in values:
            mandate.customer = Customer(reference=values.pop("customer_reference"))
        return mandate.model_copy(update=values)
    if name == "CHARGE":
        return Charge(
            **common,
            **{"id": f"chg_contract{n}", "mandate_id": "mdt_contract0001", "status": "succeeded", **values},
            plan_id="pln_contract0001",
            cycle=n,
            amount=1999,
            currency="EUR",
            due_at=NOW,
        )
    if name == "EVENT":
        return Event(
            id=f"evt_contract{n}",
            merchant_id=merchant,
            created_at=at,
            data={"object": {"id": "chg_x", "mandate_id": values["mandate_id"]}}
            if "mandate_id" in values
            else {"object": {"id": "pln_x"}},
            type=values.get("type", "plan.created"),
        )
    if name == "APIKEY":
        return ApiKey(**common, id=f"key_contract{n}", key_hash=f"hash{n}", last4="abcd", **values)
    if name == "WEBHOOK_ENDPOINT":
        return endpoint(merchant, n).model_copy(update={"created_at": at, "updated_at": at, **values})
    if name == "WEBHOOK_DELIVERY":
        fields = {"endpoint_id": "we_contract0001", "event_id": f"evt_contract{n}", "status": "pending", **values}
        return WebhookDelivery(
            **common,
            **fields,
            id=delivery_id(fields["event_id"], fields["endpoint_id"]),
            event_type="plan.created",
            next_attempt_at=NOW if fields["status"] == "pending" else None,
        )
    if name == "REFUND":
        fields = {"charge_id": "chg_contract1", "mandate_id": "mdt_contract0001", "status": "succeeded", **values}
        return Refund(**common, **fields, id=f"rfd_contract{n}", amount=100, currency="EUR", payment_method=method)
    if name == "DISPUTE":
        fields = {"charge_id": "chg_contract1", "mandate_id": "mdt_contract0001", "status": "needs_response", **values}
        return Dispute(**common, **fields, id=f"dsp_contract{n}", amount=100, currency="EUR", gateway_reference=f"dp_{n}")
    if name == "RECONCILIATION":
        fields = {"status": "matched", **values}
        sums = {"charges": 1999, "refunds": 0, "reversals": 0, "disputes": 0}
        differences = [
            {"kind": "missing_here", "movement": "charge", "currency": "EUR", "gateway_reference": "sim_x", "gateway_amount": 5}
        ]
        return Reconciliation(
            **common,
            **fields,
            id=f"rcn_contract{n}",
            date=date(2026, 12, 1) + timedelta(days=n),
            totals=[{"currency": "EUR", "recorded": sums, "gateway": sums}],
            differences=differences if fields["status"] == "mismatched" else [],
        )
    if name == "ITEM":
        fields = {"mandate_id": "mdt_contract0001", "status": "pending", **values}
        return Item(**common, **fields, id=f"itm_contract{n}", amount=250, currency="EUR", description="Towel")
    if name == "TAX_RATE":
        fields = {"status": "active", **values}
        return TaxRate(**common, **fields, id=f"txr_contract{n}", display_name="PVM", percentage="21", country="LT")
    if name == "ACCOUNT":
        return Account.new(merchant, "Shop", at).model_copy(update={"name": f"Shop {n}"})
    if name == "RECEIPT_COUNTER":
        return ReceiptCounter.new(merchant, at).model_copy(update={"next": 7})
    if name == "NOTIFICATION":
        fields = {"mandate_id": "mdt_contract0001", "kind": "receipt", **values}
        return Notification(**common, **fields, id=f"ntf_contract{n}", to="ona@example.lt", locale="lt")
    if name == "SUPPRESSION":
        return Suppression.of(_sample("NOTIFICATION", merchant, n), "bounce", at)
    if name == "EXPORT":
        from billing.domain.exports import Export

        return Export(**common, id=f"exp_contract{n}", kind="charges", month="2026-11", **values)
    if name == "INVOICE":
        from billing.domain.charge import TaxLine
        from billing.domain.invoices import Buyer, Invoice, Seller

        fields = {"type": "invoice", "charge_id": "chg_contract1", "mandate_id": "mdt_contract0001", **values}
        group = TaxLine(percentage="0", inclusive=True, category="not_subject", taxable_amount=100, tax_amount=0)
        return Invoice(
            **common,
            **fields,
            id=f"inv_contract{n}",
            number=f"R-{n}",
            seq=n,
            issued_at=at,
            currency="EUR",
            subtotal=100,
            tax_amount=0,
            total=100,
            tax_breakdown=[group],
            lines=[],
            seller=Seller(name="Shop"),
            buyer=Buyer(name="Ona"),
            credited=[0],
            credited_tax=[0],
        )
    if name == "CREDIT_NOTE_COUNTER":
        from billing.domain.invoices import CreditNoteCounter

        return CreditNoteCounter.new(merchant, at).model_copy(update={"next": 3})
    raise AssertionError(f"no sample for {name}")


SAMPLED = {a.name for a in REGISTRY}
FILTER_VALUES: dict[tuple[str, str], tuple[str, str]] = {
    ("PLAN", "status"): ("archived", "active"),
    ("MANDATE", "status"): ("paused", "active"),
    ("MANDATE", "plan_id"): ("pln_contract0009", "pln_contract0001"),
    ("MANDATE", "customer_reference"): ("cust-x", "cust-y"),
    ("CHARGE", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
    ("CHARGE", "status"): ("failed", "succeeded"),
    ("EVENT", "type"): ("plan.updated", "plan.created"),
    ("EVENT", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
    ("APIKEY", "status"): ("revoked", "active"),
    ("WEBHOOK_DELIVERY", "endpoint_id"): ("we_contract0009", "we_contract0001"),
    ("WEBHOOK_DELIVERY", "status"): ("succeeded", "pending"),
    ("WEBHOOK_DELIVERY", "event_id"): ("evt_contract0101", "evt_contract0102"),
    ("REFUND", "charge_id"): ("chg_contract9", "chg_contract1"),
    ("REFUND", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
    ("REFUND", "status"): ("pending", "succeeded"),
    ("DISPUTE", "charge_id"): ("chg_contract9", "chg_contract1"),
    ("DISPUTE", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
    ("DISPUTE", "status"): ("lost", "needs_response"),
    ("RECONCILIATION", "status"): ("mismatched", "matched"),
    ("ITEM", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
    ("ITEM", "status"): ("billed", "pending"),
    ("TAX_RATE", "status"): ("archived", "active"),
    ("NOTIFICATION", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
    ("NOTIFICATION", "kind"): ("upcoming_charge", "receipt"),
    ("EXPORT", "status"): ("ready", "pending"),
    ("INVOICE", "type"): ("credit_note", "invoice"),
    ("INVOICE", "charge_id"): ("chg_contract9", "chg_contract1"),
    ("INVOICE", "mandate_id"): ("mdt_contract0009", "mdt_contract0001"),
}
DECLARED_FILTERS = [(a, f) for a in REGISTRY if a.filters for f in a.filters]


def _write(repo: Repository, *objects: Any) -> None:
    repo.commit(
        Changes(put=[o for o in objects if not isinstance(o, Event)], events=[o for o in objects if isinstance(o, Event)])
    )


def test_the_contract_has_a_case_for_every_registry_entry_and_declared_filter() -> None:
    # Given the registry, Then every kind has a sample and every declared filter two values
    assert {a.name for a in REGISTRY} <= SAMPLED and {(a.name, f) for a, f in DECLARED_FILTERS} == set(FILTER_VALUES)
    for aggregate in REGISTRY:
        sample = _sample(aggregate.name, A, 1)
        assert isinstance(sample, aggregate.model) and aggregate_of(type(sample)) is aggregate
        assert sample.id.startswith(aggregate.prefix + "_")


@pytest.mark.parametrize("aggregate", [pytest.param(a, id=a.name.lower()) for a in REGISTRY])
def test_every_aggregate_reads_back_by_id_many_at_once_and_only_for_its_merchant(repo: Repository, aggregate: Aggregate) -> None:
    # Given one object of the kind written for merchant A
    obj = _sample(aggregate.name, A, 1)
    _write(repo, obj)
    # When it is read by id, and many at once with a key naming merchant B, Then it reads back equal
    assert repo.get(aggregate.model, A, obj.id) == obj
    assert repo.load_many({aggregate.model: [(A, obj.id), (B, obj.id), (A, "not-an-id")]}).of(aggregate.model) == {obj.id: obj}
    if aggregate.versioned:
        assert obj.version == 1
    # And merchant B never sees it
    if aggregate.name == "ACCOUNT":  # B's own account may answer (its defaults), never A's
        assert repo.get(aggregate.model, B, obj.id) != obj
    else:
        assert repo.get(aggregate.model, B, obj.id) is None and repo.get(aggregate.model, A, "not-an-id") is None
    # And writing it again as new is a concurrent modification (written once, or versioned)
    with pytest.raises(ConcurrentModification):
        _write(repo, obj.model_copy(update={"version": 0}) if aggregate.versioned else obj)


@pytest.mark.parametrize("aggregate,name", [pytest.param(a, f, id=f"{a.name.lower()}-{f}") for a, f in DECLARED_FILTERS])
def test_every_declared_filter_lists_exactly_its_matches_newest_first(repo: Repository, aggregate: Aggregate, name: str) -> None:
    # Given two objects of merchant A differing in the filtered value, and one of B with the value looked for
    wanted, other = FILTER_VALUES[(aggregate.name, name)]
    match, newer, foreign = (
        _sample(aggregate.name, A, 1, **{name: wanted}),
        _sample(aggregate.name, A, 2, **{name: other}),
        _sample(aggregate.name, B, 3, **{name: wanted}),
    )
    _write(repo, match, newer, foreign)
    required = {r: FILTER_VALUES[(aggregate.name, r)][1] for r in aggregate.required if r != name}

    def listed(merchant: str, **filters: str) -> list[str]:
        return [o.id for o in repo.page(aggregate.model, merchant, PageRequest(), **required, **filters).data]

    # When listed by the value, Then exactly the matching object of the merchant comes
    assert listed(A, **{name: wanted}) == [match.id] and listed(A, **{name: other}) == [newer.id]
    assert listed(B, **{name: wanted}) == [foreign.id]
    # And without the filter (where it may be left out), both of A, newest first
    if name not in aggregate.required:
        assert listed(A) == [newer.id, match.id]


@pytest.mark.parametrize("aggregate", [pytest.param(a, id=a.name.lower()) for a in REGISTRY if a.listed and a.hidden_when])
def test_an_object_hidden_from_lists_still_reads_by_id(repo: Repository, aggregate: Aggregate) -> None:
    # Given two objects of a kind, one of them hidden (a deleted endpoint)
    assert aggregate.hidden_when is not None
    shown, hidden = _sample(aggregate.name, A, 1), _sample(aggregate.name, A, 2, **{aggregate.hidden_when: True})
    _write(repo, shown, hidden)
    # Then the list leaves it out, and it reads by id
    assert [o.id for o in repo.page(aggregate.model, A, PageRequest()).data] == [shown.id]
    assert repo.get(aggregate.model, A, hidden.id) == hidden


def test_objects_created_in_a_period_come_oldest_first_in_pages_across_shards_and_only_the_merchants(repo: Repository) -> None:
    # Given 23 charges of merchant A inside [start, end) (spread over the list's shards), one at
    # `end` exactly, one just before `start`, and one of B inside
    start, end = NOW, NOW + timedelta(days=30)
    inside = [_sample("CHARGE", A, n).model_copy(update={"created_at": start + timedelta(hours=n)}) for n in range(1, 24)]
    at_end = _sample("CHARGE", A, 30).model_copy(update={"created_at": end})
    before = _sample("CHARGE", A, 31).model_copy(update={"created_at": start - timedelta(microseconds=1)})
    foreign = _sample("CHARGE", B, 32).model_copy(update={"created_at": start})
    for chunk in (inside[:12], inside[12:], [at_end, before, foreign]):
        _write(repo, *chunk)
    # When read in pages of 5
    pages = list(repo.created_between(Charge, A, start, end, 5))
    # Then exactly the merchant's charges inside the period, oldest first, 5 at a time
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [c.id for p in pages for c in p] == [c.id for c in inside]
    assert list(repo.created_between(Charge, B, start, end, 5)) == [[foreign.model_copy(update={"version": 1})]]
    assert list(repo.created_between(Charge, A, end + timedelta(days=1), end + timedelta(days=2))) == []


def test_a_list_by_a_filter_the_registry_does_not_declare_is_a_programming_error(repo: Repository) -> None:
    # Given lists asked by an undeclared filter, without a required one, or of a kind never listed
    from billing.domain.account import Account

    # Then each is refused before any read (a typo never silently lists everything)
    with pytest.raises(TypeError, match="unknown"):
        repo.page(Mandate, A, PageRequest(), colour="red")
    with pytest.raises(TypeError, match="missing"):
        repo.page(WebhookDelivery, A, PageRequest(), status="pending")
    with pytest.raises(TypeError, match="never listed"):
        repo.page(Account, A, PageRequest())


def test_charges_are_numbered_without_a_read_only_if_all_succeeded_and_have_no_number(repo: Repository) -> None:
    from billing.domain.account import Account
    from billing.domain.receipts import ReceiptCounter

    # Given a mandate's three charges: two succeeded, one failed
    p = plan()
    m = active_mandate(p)
    charges = charges_of(p, m, "succeeded", "succeeded", "failed")
    repo.commit(Changes(put=[p, m, *charges]))
    assert repo.load_receipt_series([A]) == {A: (None, repo.get(Account, A, A))}
    # When the failed one is numbered with a succeeded one, Then nothing at all is written
    counter = ReceiptCounter.new(A, NOW)
    with pytest.raises(ConcurrentModification):
        repo.number_charges(counter, [(charges[0].id, "R-1", 1), (charges[2].id, "R-2", 2)])
    assert repo.get(ReceiptCounter, A, A) is None and repo.get(Charge, A, charges[0].id).receipt_number is None
    # When the first is numbered, Then it has its number, its version moved, and the counter is stored
    counter.next = 2
    repo.number_charges(counter, [(charges[0].id, "R-1", 1)])
    first = repo.get(Charge, A, charges[0].id)
    assert (first.receipt_number, first.receipt_seq, first.version) == ("R-1", 1, 2)
    stored, _ = repo.load_receipt_series([A])[A]
    assert stored is not None and (stored.next, stored.version) == (2, 1)
    # And numbering it again (a redelivery), even with the next charge, writes nothing
    stored.next = 4
    with pytest.raises(ConcurrentModification):
        repo.number_charges(stored, [(charges[1].id, "R-2", 2), (charges[0].id, "R-3", 3)])
    assert repo.get(Charge, A, charges[1].id).receipt_number is None and repo.get(ReceiptCounter, A, A).next == 2
    # And a stale counter (another writer committed first) writes nothing either
    with pytest.raises(ConcurrentModification):
        repo.number_charges(ReceiptCounter.new(A, NOW), [(charges[1].id, "R-1", 1)])


def test_endpoint_counts_read_in_one_batch_and_a_count_is_started_only_once(repo: Repository) -> None:
    # Given merchant A with a count written and B without one
    repo.commit(Changes(limits=[Limit(A, "webhook_endpoints", +1)]))
    assert repo.limit_counts([A, B], "webhook_endpoints") == {A: 1, B: None}
    # When both are started, Then only the never-written one takes the value
    repo.start_limit(A, "webhook_endpoints", 0)
    repo.start_limit(B, "webhook_endpoints", 0)
    repo.start_limit(B, "webhook_endpoints", 5)
    assert repo.limit_counts([A, B], "webhook_endpoints") == {A: 1, B: 0}


def test_a_merchant_without_a_profile_has_no_account(repo: Repository) -> None:
    # Given merchants no one created (no profile): the fake must answer as DynamoDB does
    from billing.domain.account import Account

    # Then neither a read nor the receipt series' batch read makes up an account for them
    assert repo.get(Account, B, B) is None
    assert repo.load_receipt_series([B]) == {B: (None, None)}


def test_a_charge_collected_again_is_numbered_again_and_a_failed_refund_is_invoiced_back(repo: Repository) -> None:
    from billing.domain.charge import Attempt
    from billing.domain.invoices import Invoice, charge_invoice_id
    from billing.domain.receipts import ReceiptCounter
    from billing.service.invoices import Invoicing
    from billing.service.receipts import ReceiptNumbering
    from tests.fakes import FakeClock, SequentialIds

    # Given a charge numbered R-1 and invoiced, then reversed and collected again (its number cleared
    # by the engine, the former kept)
    p = plan()
    m = active_mandate(p)
    [charge] = charges_of(p, m, "succeeded")
    charge.attempts = [Attempt(number=1, at=NOW, outcome="succeeded")]
    repo.commit(Changes(put=[p, m, charge]))
    clock = FakeClock(NOW)
    numbering = ReceiptNumbering(repo, clock)
    invoicing = Invoicing(repo, clock, SequentialIds(), numbering)
    numbering.assign(A, [charge.id])
    [first] = invoicing.issue_for(A, [charge.id])
    stored = repo.get(Charge, A, charge.id)
    assert stored is not None
    stored.attempts[0].outcome, stored.attempts[0].reversed_at = "declined", NOW
    stored.attempts.append(Attempt(number=2, at=NOW, outcome="succeeded"))
    stored.former_receipt_numbers, stored.receipt_number, stored.receipt_seq = ["R-1"], None, None
    repo.commit(Changes(put=[stored]))
    # When it is numbered without a read (the receipts function's usual path) and invoiced
    counter, _ = repo.load_receipt_series([A])[A]
    assert counter is not None
    counter.next = 3
    repo.number_charges(counter, [(charge.id, "R-2", 2)])
    [second] = invoicing.issue_for(A, [charge.id])
    # Then it is a second invoice, of its own id, and the first stands
    assert (first.number, second.number) == ("R-1", "R-2")
    assert second.id == charge_invoice_id(charge.id, 2) != first.id
    assert repo.get(Invoice, A, first.id) is not None
    # And a refund of it credited then failed later is invoiced back with the receipt counter
    refund = _sample("REFUND", A, 1, charge_id=charge.id, mandate_id=m.id)
    repo.commit(Changes(put=[refund]))
    note, new = invoicing.credit_note(A, "refund", refund.id, charge.id)
    assert new and note is not None and note.corrects == second.id
    refund.status, refund.failure_code = "failed", "refund_declined"
    repo.commit(Changes(put=[refund]))
    restoring, new = invoicing.restore(A, refund.id)
    assert new and restoring is not None and (restoring.number, restoring.corrects) == ("R-3", note.id)
    assert invoicing.restore(A, refund.id) == (restoring, False)
    corrected = repo.get(Invoice, A, second.id)
    assert corrected is not None and corrected.uncredited == corrected.total
    assert repo.get(ReceiptCounter, A, A).next == 4  # type: ignore[union-attr]
