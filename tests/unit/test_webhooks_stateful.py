"""A Hypothesis state machine over the webhook system on fakes: events published and fanned out
(again, as a redelivered message would), wake-ups early, late and duplicated, endpoints failing,
timing out, recovering, disabled, re-enabled, deleted and rotated, crashes between a POST and its
record, manual retries and the clock moving. After every step:

* one delivery per (event, endpoint subscribed at fan-out), whatever was redelivered;
* every request carries the event and signatures a Standard Webhooks receiver accepts with the
  endpoint's secret of that moment;
* no request reaches an endpoint after it was deleted or disabled;
* a delivery succeeded exactly when its last recorded attempt was a 2xx, and nothing is attempted
  after that; at most 8 attempts plus one per manual retry;
* a recorded attempt is always a request that was made (a crash loses a record, never invents one).

At the end, with every endpoint healthy and the clock past the whole schedule, nothing that can
still be delivered is left pending."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from standardwebhooks.webhooks import Webhook

from billing.domain import webhooks
from billing.domain.errors import InvalidState, NotFound
from billing.domain.webhooks import WebhookDelivery, WebhookEndpoint
from billing.service.ports import PageRequest, SendResult
from tests.webhook_world import A, Webhooks

EXAMPLES = int(os.environ.get("WEBHOOK_STATEFUL_EXAMPLES", "150"))
TYPES = ["charge.succeeded", "charge.failed", "mandate.past_due"]
ANSWERS = {"ok": (200, None), "fail": (503, "http_status"), "timeout": (None, "timeout"), "gone": (404, "http_status")}


class Crash(Exception):
    """The delivery process died after its POST, before recording it."""


class WebhookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = Webhooks()
        self.w.deliverer.wall_clock = (
            time.time
        )  # signatures carry real time, as receivers check it; the schedule is the fake clock's
        self.w.sender.post = self._post  # type: ignore[method-assign]
        self.mode: dict[str, str] = {}  # url -> ok | fail | timeout | gone
        self.secrets: dict[str, list[str]] = {}  # endpoint -> secrets valid now (newest first)
        self.rotated_at: dict[str, Any] = {}
        self.url_of: dict[str, str] = {}
        self.closed: set[str] = set()  # endpoints deleted or disabled: no request may reach them
        self.expected: set[tuple[str, str]] = set()  # (event, endpoint) pairs fanned out
        self.events: list[Any] = []
        self.posts: dict[str, int] = defaultdict(int)  # delivery id -> requests made
        self.manual: dict[str, int] = defaultdict(int)
        self.crash_next = False
        commit = self.w.repo.commit

        def commit_or_crash(changes: Any) -> None:
            if self.crash_next and (written := changes.of(WebhookDelivery)) and written[0].attempts:
                self.crash_next = False
                raise Crash()
            commit(changes)

        self.w.repo.commit = commit_or_crash  # type: ignore[method-assign]

    # ------------------------------------------------------------- the merchant's server
    def _post(self, url: str, headers: Any, body: bytes, timeout: float) -> SendResult:
        endpoint = next(e for e, u in self.url_of.items() if u == url)
        assert endpoint not in self.closed, f"a request reached {endpoint} after it was deleted or disabled"
        for secret in self.secrets[endpoint]:  # each valid secret verifies it (two during a rotation)
            event = Webhook(secret).verify(body, dict(headers))
        assert event["id"] == headers["webhook-id"]
        self.posts[webhooks.delivery_id(event["id"], endpoint)] += 1
        status, error = ANSWERS[self.mode[url]]
        return SendResult(status, error, 3)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------- rules
    @precondition(lambda self: len(self.url_of) < 3)
    @rule(events=st.sampled_from([["*"], ["charge.succeeded"], ["charge.failed", "mandate.past_due"]]))
    def create_endpoint(self, events: list[str]) -> None:
        url = f"https://hooks{len(self.url_of)}.shop.example/in"
        endpoint_id, secret = self.w.endpoint(url=url, enabled_events=events)
        self.url_of[endpoint_id], self.mode[url], self.secrets[endpoint_id] = url, "ok", [secret]

    @precondition(lambda self: self.url_of)
    @rule(data=st.data(), mode=st.sampled_from(sorted(ANSWERS)))
    def endpoint_behaves(self, data: st.DataObject, mode: str) -> None:
        self.mode[data.draw(st.sampled_from(sorted(self.mode)))] = mode

    @rule(type=st.sampled_from(TYPES), twice=st.booleans())
    def publish(self, type: str, twice: bool) -> None:
        event = self.w.event(type=type)
        self.events.append(event)
        endpoints = self.w.endpoints.page(A, PageRequest(20)).data
        self.expected |= {(event.id, e.id) for e in endpoints if e.subscribes_to(type)}
        for _ in range(2 if twice else 1):
            self.w.fan_out.fan_out(event)

    @rule(crash=st.booleans())
    def deliver_woken(self, crash: bool) -> None:
        for merchant, delivery_id in self.w.queue.take():
            self.crash_next = crash
            try:
                self.w.deliverer.attempt(merchant, delivery_id)
            except Crash:
                self.w.queue.woken.append((merchant, delivery_id))  # the wake-up comes back
            self.crash_next = False

    @precondition(lambda self: self.deliveries())
    @rule(data=st.data())
    def a_wake_up_at_any_time(self, data: st.DataObject) -> None:
        delivery = data.draw(st.sampled_from(self.deliveries()))
        self.w.deliverer.attempt(A, delivery.id)

    @rule(seconds=st.sampled_from([1, 5, 300, 1800, 7200, 18000, 36000, 3 * 86400]))
    def time_passes(self, seconds: int) -> None:
        """Time passes; the queue gives back the wake-ups now due."""
        self.w.clock.advance(seconds=seconds)
        for endpoint, at in list(self.rotated_at.items()):
            if self.w.clock.now() >= at + webhooks.ROTATION_OVERLAP:
                self.secrets[endpoint] = self.secrets[endpoint][:1]
                del self.rotated_at[endpoint]
        for delivery in self.deliveries():  # the queue gives back what is due
            if delivery.due(self.w.clock.now()):
                self.w.queue.woken.append((A, delivery.id))

    @precondition(lambda self: any(d.status == "pending" for d in self.deliveries()))
    @rule(steps=st.integers(1, 9))
    def follow_the_schedule(self, steps: int) -> None:
        """The clock jumps to the next attempt due, and the queue delivers it, `steps` times."""
        for _ in range(steps):
            pending = [d.next_attempt_at for d in self.deliveries() if d.status == "pending" and d.next_attempt_at]
            if not pending:
                return
            self.time_passes(max(0, int((min(pending) - self.w.clock.now()).total_seconds())))
            self.deliver_woken(crash=False)

    @precondition(lambda self: self.open_endpoints())
    @rule(data=st.data())
    def rotate(self, data: st.DataObject) -> None:
        endpoint = data.draw(st.sampled_from(self.open_endpoints()))
        new = self.w.endpoints.rotate_secret(A, endpoint).secret
        self.secrets[endpoint] = [new, self.secrets[endpoint][0]]
        self.rotated_at[endpoint] = self.w.clock.now()

    @precondition(lambda self: self.open_endpoints())
    @rule(data=st.data(), delete=st.booleans())
    def close(self, data: st.DataObject, delete: bool) -> None:
        endpoint = data.draw(st.sampled_from(self.open_endpoints()))
        if delete:
            self.w.endpoints.delete(A, endpoint)
        else:
            self.w.endpoints.update(A, endpoint, type("U", (), {"status": "disabled", "model_fields_set": {"status"}})())
        self.closed.add(endpoint)

    @precondition(lambda self: self.disabled_endpoints())
    @rule(data=st.data())
    def enable(self, data: st.DataObject) -> None:
        endpoint = data.draw(st.sampled_from(self.disabled_endpoints()))
        self.w.endpoints.update(A, endpoint, type("U", (), {"status": "enabled", "model_fields_set": {"status"}})())
        self.closed.discard(endpoint)

    @precondition(lambda self: self.deliveries())
    @rule(data=st.data())
    def manual_retry(self, data: st.DataObject) -> None:
        delivery = data.draw(st.sampled_from(self.deliveries()))
        try:
            self.w.endpoints.retry(A, delivery.endpoint_id, delivery.id)
        except (InvalidState, NotFound):
            return  # succeeded, or its endpoint deleted: the API says so
        self.manual[delivery.id] += 1

    # ------------------------------------------------------------------------- views
    def deliveries(self) -> list[WebhookDelivery]:
        return sorted((o for o in self.w.repo.items.values() if isinstance(o, WebhookDelivery)), key=lambda d: d.id)

    def open_endpoints(self) -> list[str]:
        return sorted(e for e in self.url_of if e not in self.closed)

    def disabled_endpoints(self) -> list[str]:
        out = []
        for endpoint in sorted(self.url_of):
            stored = self.w.repo.get(WebhookEndpoint, A, endpoint)
            if stored is not None and not stored.deleted and stored.status == "disabled":
                out.append(endpoint)
        return out

    # ------------------------------------------------------------------------- invariants
    @invariant()
    def one_delivery_per_event_and_endpoint(self) -> None:
        found = {(d.event_id, d.endpoint_id) for d in self.deliveries()}
        assert len(found) == len(self.deliveries()) and found == self.expected

    @invariant()
    def success_is_the_last_word_and_attempts_are_bounded(self) -> None:
        for d in self.deliveries():
            ok = [a.succeeded for a in d.attempts]
            assert (d.status == "succeeded") == (bool(ok) and ok[-1]), d
            assert sum(ok) <= 1, d  # nothing is attempted after a success
            assert len(d.attempts) <= webhooks.MAX_ATTEMPTS + self.manual[d.id], d
            assert len(d.attempts) <= self.posts[d.id], d  # every recorded attempt was a request

    @invariant()
    def endpoints_disabled_by_failure_say_so_once(self) -> None:
        disabled = [e for e in self.w.repo.events(A) if e.type == "webhook_endpoint.disabled"]
        assert len(disabled) == len({e.data["object"]["id"] + e.created_at.isoformat() for e in disabled})
        for event in disabled:  # the system closed it: no request may reach it until re-enabled
            endpoint = event.data["object"]["id"]
            stored = self.w.repo.get(WebhookEndpoint, A, endpoint)
            if stored is not None and stored.status == "disabled":
                self.closed.add(endpoint)

    def teardown(self) -> None:
        """At the end: everything deliverable is delivered."""
        for url in self.mode:
            self.mode[url] = "ok"
        for _ in range(10):  # past the whole schedule, every wake-up handled
            self.time_passes(webhooks.RETRY_DELAYS[-1].seconds + 3600)
            self.deliver_woken(crash=False)
        for d in self.deliveries():
            endpoint = self.w.repo.get(WebhookEndpoint, A, d.endpoint_id)
            if endpoint is not None and not endpoint.deleted and endpoint.status == "enabled":
                assert d.status != "pending", d


WebhookMachine.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None)
test_the_webhook_system_under_faults = WebhookMachine.TestCase
