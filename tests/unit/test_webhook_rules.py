"""Webhooks on in-memory fakes: the URL and address rules, signatures a Standard Webhooks library
verifies, the retry schedule, endpoint health, the endpoints use cases, fan-out and attempts."""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from billing.domain import webhooks
from billing.domain.errors import InvalidState, NotFound, ValidationFailed
from billing.domain.events import EventType
from billing.domain.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from billing.service.ports import PageRequest
from billing.service.webhooks import busy_backoff
from tests.fakes import FakeClock
from tests.webhook_world import A, B, Webhooks


# ----------------------------------------------------------------------------- URLs and addresses
@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hooks",  # not https
        "https://user:pw@shop.example/hooks",
        "https://shop.example/hooks#part",
        "https:///nohost",
        "ftp://shop.example/",
        "https://shop.example/" + "a" * 2048,
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/",
        "https://172.16.5.4/",
        "https://169.254.169.254/latest/meta-data/",  # the instance metadata service
        "https://100.64.0.1/",  # shared address space
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "https://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
        "https://224.0.0.1/",
        "http://127.0.0.1:8080/hooks",  # loopback over http: the local runtime only
    ],
)
def test_urls_the_contract_refuses(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        webhooks.validate_url(url)
    assert refused.value.param == "url"


@pytest.mark.parametrize("url", ["https://shop.example/hooks?x=1", "https://8.8.8.8/h", "https://[2606:4700::1111]/h"])
def test_public_https_urls_are_accepted(url: str) -> None:
    assert webhooks.validate_url(url) == url


def test_only_the_local_runtime_accepts_loopback_http_with_a_port() -> None:
    assert webhooks.validate_url("http://127.0.0.1:8080/hooks", allow_loopback_http=True)
    assert webhooks.validate_url("http://localhost:9000/", allow_loopback_http=True)
    for url in ("http://10.0.0.1:8080/", "http://localhost/", "http://shop.example:80/"):
        with pytest.raises(ValidationFailed):
            webhooks.validate_url(url, allow_loopback_http=True)


# IPv6 forms that carry an IPv4 address: (form, judged by the IPv4 address it carries, or refused outright)
IPV4_IN_IPV6 = {
    "mapped ::ffff:a.b.c.d": (lambda v4: f"::ffff:{v4}", True),
    "NAT64 64:ff9b::a.b.c.d": (lambda v4: f"64:ff9b::{v4}", True),
    "NAT64 local-use 64:ff9b:1::/48": (lambda v4: f"64:ff9b:1::{v4}", False),
    "compatible ::a.b.c.d": (lambda v4: f"::{v4}", False),
    "translated ::ffff:0:a.b.c.d": (lambda v4: f"::ffff:0:{v4}", False),
    "6to4 2002:AABB:CCDD::": (
        lambda v4: str(ipaddress.IPv6Address((0x2002 << 112) | (int(ipaddress.IPv4Address(v4)) << 80))),
        False,
    ),
}


@pytest.mark.parametrize("form", IPV4_IN_IPV6)
@pytest.mark.parametrize("v4", ["10.0.0.7", "127.0.0.1", "169.254.169.254", "192.168.1.1", "100.64.0.1", "0.0.0.0"])
def test_an_ipv6_form_of_a_private_ipv4_address_is_refused(form: str, v4: str) -> None:
    # Given a non-public IPv4 address written as an IPv6 address
    address = ipaddress.IPv6Address(IPV4_IN_IPV6[form][0](v4))
    # Then it is refused, as an address and as a URL's literal host
    assert not webhooks.address_allowed(address), address
    with pytest.raises(ValidationFailed):
        webhooks.validate_url(f"https://[{address}]/hooks")


@given(st.ip_addresses(v=4), st.sampled_from(sorted(IPV4_IN_IPV6)))
@settings(max_examples=300, deadline=None)
def test_an_ipv6_form_of_an_ipv4_address_is_never_allowed_more_than_that_address(v4: ipaddress.IPv4Address, form: str) -> None:
    # Given any IPv4 address in any IPv6 form that carries it
    write, judged_by_ipv4 = IPV4_IN_IPV6[form]
    address = ipaddress.IPv6Address(write(str(v4)))
    # Then the form is allowed only when it is one a resolver may answer (mapped, NAT64's
    # well-known prefix) and the IPv4 address itself is allowed
    assert webhooks.address_allowed(address) == (judged_by_ipv4 and webhooks.address_allowed(v4))


@given(st.ip_addresses())
@settings(max_examples=300, deadline=None)
def test_an_allowed_address_is_a_global_unicast_one(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    allowed = webhooks.address_allowed(address)
    if allowed:
        assert address.is_global and not address.is_multicast and not address.is_private
        assert not address.is_loopback and not address.is_link_local
    if address.is_private or address.is_loopback or address.is_link_local or address.is_multicast:
        assert not allowed


# ----------------------------------------------------------------------------- signatures
def test_a_signature_verifies_with_the_standard_webhooks_library() -> None:
    # Given a secret and an event body
    secret = webhooks.new_secret(bytes(range(32)))
    body = json.dumps({"id": "evt_1", "object": "event"}).encode()
    now = int(time.time())
    # When it is signed
    header = webhooks.signature_header([secret], "evt_1", now, body)
    # Then the library merchants use accepts it, and refuses a changed body or another secret
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(now), "webhook-signature": header}
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1", "object": "event"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret(bytes(32))).verify(body, headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = webhooks.new_secret(bytes(32)), webhooks.new_secret(bytes(range(32)))
    now, body = int(time.time()), b'{"id":"evt_1"}'
    header = webhooks.signature_header([new, old], "evt_1", now, body)
    assert len(header.split(" ")) == 2
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(now), "webhook-signature": header}
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)


# ----------------------------------------------------------------------------- schedule
def delivery(clock: FakeClock) -> WebhookDelivery:
    now = clock.now()
    return WebhookDelivery(
        id="wd_1", merchant_id=A, endpoint_id="we_1", event_id="evt_1", event_type="charge.succeeded",
        next_attempt_at=now, created_at=now, updated_at=now,
    )  # fmt: skip


def failed_attempt(clock: FakeClock, status: int | None = 500) -> WebhookAttempt:
    return WebhookAttempt(at=clock.now(), response_status=status, error="http_status" if status else "timeout", duration_ms=5)


def test_failed_attempts_follow_the_contract_schedule_and_the_eighth_fails_the_delivery() -> None:
    clock = FakeClock()
    d = delivery(clock)
    waits = []
    for _ in range(8):
        d.record(failed_attempt(clock), clock.now())
        if d.next_attempt_at is not None:
            waits.append(d.next_attempt_at - clock.now())
            clock.current = d.next_attempt_at
    assert waits == [
        timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
        timedelta(hours=5), timedelta(hours=10), timedelta(hours=10),
    ]  # fmt: skip
    assert d.status == "failed" and d.next_attempt_at is None and len(d.attempts) == 8


@given(st.lists(st.sampled_from([200, 204, 299, 300, 301, 400, 404, 500, 503, None]), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_a_delivery_ends_at_its_first_2xx_or_after_eight_attempts(outcomes: list[int | None]) -> None:
    clock = FakeClock()
    d = delivery(clock)
    for status in outcomes:
        if d.status != "pending":
            break
        error = None if status is not None and 200 <= status < 300 else ("http_status" if status else "timeout")
        d.record(WebhookAttempt(at=clock.now(), response_status=status, error=error, duration_ms=1), clock.now())
    first_ok = next((i for i, s in enumerate(outcomes) if s is not None and 200 <= s < 300), None)
    if first_ok is not None and first_ok < 8:
        assert d.status == "succeeded" and len(d.attempts) == first_ok + 1
    elif len(outcomes) >= 8:
        assert d.status == "failed" and len(d.attempts) == 8
    else:
        assert d.status == "pending" and d.next_attempt_at is not None


def test_a_manual_retry_reopens_a_failed_delivery_for_one_attempt_but_not_a_succeeded_one() -> None:
    clock = FakeClock()
    d = delivery(clock)
    for _ in range(8):
        d.record(failed_attempt(clock), clock.now())
    d.retry_now(clock.now())
    assert d.status == "pending" and d.next_attempt_at == clock.now()
    d.record(failed_attempt(clock), clock.now())
    assert d.status == "failed"
    d.retry_now(clock.now())
    d.record(WebhookAttempt(at=clock.now(), response_status=200, duration_ms=3), clock.now())
    assert d.status == "succeeded"
    with pytest.raises(InvalidState):
        d.retry_now(clock.now())


# ----------------------------------------------------------------------------- the system on fakes
@pytest.fixture
def w() -> Webhooks:
    return Webhooks()


def test_manual_retries_stop_at_the_attempts_a_delivery_keeps_and_its_item_stays_small(w: Webhooks) -> None:
    # Given a delivery whose endpoint keeps failing, past its eight scheduled attempts
    endpoint_id, _ = w.endpoint()
    w.sender.script = [(500, "http_status")] * 200
    [d] = w.fan_out.fan_out(w.event())
    for _ in range(8):
        w.run_due()
        w.clock.advance(hours=11)
        w.queue.woken.extend([(A, d.id)])
    assert w.repo.get(WebhookDelivery, A, d.id).status == "failed"
    # When the merchant retries it by hand again and again
    retries = 0
    with pytest.raises(InvalidState, match="at most 50 attempts"):
        while retries < 200:
            w.endpoints.retry(A, endpoint_id, d.id)
            retries += 1
            w.run_due()
    # Then it is refused once the delivery holds 50 attempts (a 409), and the stored delivery stays small
    stored = w.repo.get(WebhookDelivery, A, d.id)
    assert retries == 42 and len(stored.attempts) == 50 and stored.status == "failed"
    assert len(stored.model_dump_json()) < 10_000


def test_a_delivery_keeps_its_latest_attempts_whatever_records_them() -> None:
    # Given a delivery already holding the most attempts it keeps (a duplicate wake-up racing a retry)
    clock = FakeClock()
    d = delivery(clock)
    for _ in range(webhooks.MAX_KEPT_ATTEMPTS):
        d.record(failed_attempt(clock), clock.now())
        clock.advance(seconds=1)
    # When one more attempt is recorded, Then the oldest gives way: the count stays bounded, the latest is kept
    last = WebhookAttempt(at=clock.now(), response_status=200, duration_ms=3)
    d.record(last, clock.now())
    assert len(d.attempts) == webhooks.MAX_KEPT_ATTEMPTS and d.attempts[-1] == last and d.status == "succeeded"


def test_an_endpoint_shows_its_secret_once_and_stores_it_sealed(w: Webhooks) -> None:
    endpoint_id, secret = w.endpoint()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    stored = w.repo.get(WebhookEndpoint, A, endpoint_id)
    assert stored is not None and secret not in stored.model_dump_json()
    assert w.box.open(stored.sealed_secret, A, endpoint_id) == secret


def test_a_merchant_has_at_most_sixteen_endpoints_and_never_sees_another_merchants(w: Webhooks) -> None:
    ids = [w.endpoint()[0] for _ in range(16)]
    with pytest.raises(InvalidState):
        w.endpoint()
    w.endpoints.delete(A, ids[0])
    w.endpoint()  # a deleted one frees its place
    with pytest.raises(NotFound):
        w.endpoints.get(B, ids[1])
    assert w.endpoints.page(B, PageRequest()).data == []


def test_a_name_that_resolves_to_a_private_address_is_refused_at_creation(w: Webhooks) -> None:
    with pytest.raises(ValidationFailed) as refused:
        w.endpoint(url="https://rebound.example/hooks")
    assert refused.value.param == "url"


def test_unknown_event_types_are_refused(w: Webhooks) -> None:
    with pytest.raises(ValidationFailed) as refused:
        w.endpoint(enabled_events=["charge.succeeded", "charge.exploded"])
    assert refused.value.param == "enabled_events.1"


def test_fan_out_makes_one_delivery_per_subscribed_enabled_endpoint_even_when_run_twice(w: Webhooks) -> None:
    # Given endpoints: all events, only charge.failed, disabled, deleted, and another merchant's
    every, _ = w.endpoint()
    w.endpoint(enabled_events=["charge.failed"])
    disabled, _ = w.endpoint()
    w.endpoints.update(A, disabled, type("U", (), {"status": "disabled", "model_fields_set": {"status"}})())
    deleted, _ = w.endpoint()
    w.endpoints.delete(A, deleted)
    w.endpoint(B)
    event = w.event()
    # When the event is fanned out, twice (a redelivered message)
    first = w.fan_out.fan_out(event)
    second = w.fan_out.fan_out(event)
    # Then there is one delivery, to the endpoint that takes every event
    assert [d.endpoint_id for d in first] == [every] and [d.id for d in second] == [first[0].id]
    assert sum(isinstance(o, WebhookDelivery) for o in w.repo.items.values()) == 1


def test_an_attempt_posts_the_event_signed_and_records_success(w: Webhooks) -> None:
    endpoint_id, secret = w.endpoint()
    event = w.event()
    w.fan_out.fan_out(event)
    [outcome] = w.run_due()
    assert outcome.later is None and outcome.final == "succeeded"
    [(url, headers, body)] = w.sender.requests
    assert url == "https://shop.example/hooks" and headers["webhook-id"] == event.id
    assert Webhook(secret).verify(body, headers)["id"] == event.id
    assert json.loads(body) == {
        "id": event.id, "object": "event", "type": "charge.succeeded",
        "created_at": "2026-11-25T09:00:00Z", "data": {"object": {"id": "chg_1"}},
    }  # fmt: skip


def test_failures_are_retried_on_the_schedule_and_an_early_wake_up_waits(w: Webhooks) -> None:
    endpoint_id, _ = w.endpoint()
    w.fan_out.fan_out(w.event())
    w.sender.script = [(500, "http_status"), (None, "timeout")]
    [first] = w.run_due()
    assert first.later == timedelta(seconds=5) and first.attempted and first.attempted.response_status == 500
    [ref] = [(A, o.id) for o in w.repo.items.values() if isinstance(o, WebhookDelivery)]
    early = w.deliverer.attempt(*ref)  # woken before its time: nothing is sent
    assert early.attempted is None and early.later == timedelta(seconds=5) and len(w.sender.requests) == 1
    w.clock.advance(seconds=5)
    second = w.deliverer.attempt(*ref)
    assert second.attempted and second.attempted.error == "timeout" and second.later == timedelta(minutes=5)
    w.clock.advance(minutes=5)
    third = w.deliverer.attempt(*ref)
    assert third.final == "succeeded"
    stored = w.repo.get(WebhookDelivery, *ref)
    assert stored is not None and [a.error for a in stored.attempts] == ["http_status", "timeout", None]


def test_rotation_signs_with_both_secrets_for_a_day_then_only_the_new_one(w: Webhooks) -> None:
    endpoint_id, old = w.endpoint()
    new = w.endpoints.rotate_secret(A, endpoint_id).secret
    w.fan_out.fan_out(w.event())
    w.run_due()
    _, headers, body = w.sender.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    w.clock.advance(hours=24)
    w.fan_out.fan_out(w.event())
    w.run_due()
    _, headers, body = w.sender.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_an_endpoint_failing_for_five_days_is_disabled_with_an_event_and_its_deliveries_stop(w: Webhooks) -> None:
    endpoint_id, _ = w.endpoint()
    w.sender.script = [(503, "http_status")] * 100
    for _ in range(6):  # one failing event a day
        w.fan_out.fan_out(w.event())
        w.run_due()
        w.clock.advance(days=1)
    endpoint = w.endpoints.get(A, endpoint_id)
    assert endpoint.status == "disabled"
    assert [e.type for e in w.repo.events(A)].count(EventType.WEBHOOK_ENDPOINT_DISABLED) == 1
    pending = [o for o in w.repo.items.values() if isinstance(o, WebhookDelivery) and o.status == "pending"]
    sent = len(w.sender.requests)
    for d in pending:
        w.clock.current = max(w.clock.now(), d.next_attempt_at)
        assert w.deliverer.attempt(A, d.id).attempted is None
    assert len(w.sender.requests) == sent
    assert all(w.repo.get(WebhookDelivery, A, d.id).status == "failed" for d in pending)


def test_a_success_resets_the_endpoints_health(w: Webhooks) -> None:
    endpoint_id, _ = w.endpoint()
    w.sender.script = [(500, "http_status")]
    w.fan_out.fan_out(w.event())
    w.run_due()
    assert w.endpoints.get(A, endpoint_id).failing_since == w.clock.now()
    w.clock.advance(days=4)
    w.fan_out.fan_out(w.event())
    w.run_due()
    assert w.endpoints.get(A, endpoint_id).failing_since is None


def test_an_endpoint_with_all_slots_taken_makes_the_attempt_wait(w: Webhooks) -> None:
    endpoint_id, _ = w.endpoint()
    w.slots.size = 0
    w.fan_out.fan_out(w.event())
    [outcome] = w.run_due()
    [delivery] = [o for o in w.repo.items.values() if isinstance(o, WebhookDelivery)]
    assert outcome.attempted is None and outcome.later == busy_backoff(delivery.id) and w.sender.requests == []
    assert timedelta(seconds=2) <= outcome.later <= timedelta(seconds=8)


def test_a_manual_retry_wakes_the_delivery_and_a_succeeded_one_is_a_409(w: Webhooks) -> None:
    endpoint_id, _ = w.endpoint()
    w.sender.script = [(500, "http_status")]
    [d] = w.fan_out.fan_out(w.event())
    w.run_due()
    retried = w.endpoints.retry(A, endpoint_id, d.id)
    assert retried.next_attempt_at == w.clock.now() and w.queue.woken == [(A, d.id)]
    w.run_due()
    with pytest.raises(InvalidState):
        w.endpoints.retry(A, endpoint_id, d.id)
    with pytest.raises(NotFound):
        w.endpoints.retry(B, endpoint_id, d.id)


# ----------------------------------------------------------------------------- fan-out cost
def _listing(w: Webhooks) -> list[str]:
    """Spy on the endpoint listings the fan-out makes (the merchants listed, in order)."""
    listed: list[str] = []
    original = w.repo.page

    def spy(model, merchant_id: str, page, **filters):  # type: ignore[no-untyped-def]
        if model is WebhookEndpoint:
            listed.append(merchant_id)
        return original(model, merchant_id, page, **filters)

    w.repo.page = spy  # type: ignore[method-assign]
    return listed


def test_a_merchant_without_endpoints_costs_no_listing_per_event_and_a_new_endpoint_gets_the_next_events(w: Webhooks) -> None:
    # Given merchant A with no endpoint, whose count was written once (its first fan-out, or an endpoint deleted)
    w.fan_out.fan_out(w.event())
    listed = _listing(w)
    # When a batch of ten of its events is fanned out
    results = w.fan_out.fan_out_all([w.event() for _ in range(10)])
    # Then no listing is made and nothing is created
    assert listed == [] and all(r.deliveries == [] and r.error is None for r in results)
    # And when it then creates an endpoint, its next event is delivered (the count moved with the creation)
    w.endpoint()
    listed.clear()  # (the creation's own listing)
    [delivery] = w.fan_out.fan_out(w.event())
    assert listed == [A] and delivery.status == "pending"
    # And after the endpoint is deleted, its events cost no listing again
    w.endpoints.delete(A, delivery.endpoint_id)
    listed.clear()
    assert w.fan_out.fan_out(w.event()) == [] and listed == []


def test_endpoints_older_than_their_count_still_get_every_event_and_the_count_is_written_from_them(w: Webhooks) -> None:
    # Given merchant A's two endpoints, made before the count existed (the count was never written)
    first, _ = w.endpoint()
    w.endpoint()
    del w.repo.limits[(A, "webhook_endpoints")]
    # When an event is fanned out, then one endpoint is deleted and another event fanned out
    assert len(w.fan_out.fan_out(w.event())) == 2
    assert w.repo.limits[(A, "webhook_endpoints")] == 2
    w.endpoints.delete(A, first)
    # Then the count stays exact and the remaining endpoint still gets the event
    assert w.repo.limits[(A, "webhook_endpoints")] == 1
    assert len(w.fan_out.fan_out(w.event())) == 1


def test_a_legacy_deletion_never_counts_below_the_endpoints_left(w: Webhooks) -> None:
    # Given two endpoints made before the count existed, one deleted before any event was fanned out
    first, _ = w.endpoint()
    w.endpoint()
    del w.repo.limits[(A, "webhook_endpoints")]
    w.endpoints.delete(A, first)
    # Then the count is the one endpoint left, which still gets the next event
    assert w.repo.limits[(A, "webhook_endpoints")] == 1
    assert len(w.fan_out.fan_out(w.event())) == 1


def test_an_event_twice_in_one_batch_makes_and_wakes_its_delivery_once(w: Webhooks) -> None:
    # Given an endpoint, and one event whose message came twice in one batch
    w.endpoint()
    event = w.event()
    w.queue.take()
    commits = len(w.repo.commits)
    # When the batch is fanned out
    results = w.fan_out.fan_out_all([event, event])
    # Then one delivery is written and woken once (two wake-ups would be two POSTs at once)
    assert all(r.error is None for r in results)
    assert len(w.queue.take()) == 1 and len(w.repo.commits) - commits == 1
