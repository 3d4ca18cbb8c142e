"""Webhooks: the endpoints API (use cases), the fan-out of each published event into one delivery
per subscribed endpoint, and the attempts (sign, POST, record, schedule the next).

Nothing here knows HTTP routing, SQS or KMS: secrets are sealed and opened by a `SecretBox`, the
POST is a `WebhookSender`'s (which also refuses non-public destinations), attempts are woken by a
`WebhookQueue` (ports in service/ports.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ..domain import webhooks
from ..domain.errors import ConcurrentModification, NotFound, ValidationFailed, found
from ..domain.model import Event
from ..domain.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..observability import logger
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .messages import PublishedEvent, WakeMessage
from .ports import (  # the webhook ports live with the others; named here too
    Changes,
    Clock,
    IdGenerator,
    Limit,
    Page,
    PageRequest,
    Repository,
    WebhookPorts,
    WebhookQueue,
)


# ----------------------------------------------------------------------------- commands
class NewEndpoint(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def enabled_events(self) -> list[str]: ...
    @property
    def description(self) -> str | None: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...


class EndpointChanges(Protocol):
    @property
    def url(self) -> str | None: ...
    @property
    def enabled_events(self) -> list[str] | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def metadata(self) -> Mapping[str, str] | None: ...
    @property
    def status(self) -> webhooks.EndpointStatus | None: ...
    @property
    def model_fields_set(self) -> set[str]: ...


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown in this answer only


# ----------------------------------------------------------------------------- endpoints API
class WebhookEndpoints:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator, recorder: EventRecorder, ports: WebhookPorts) -> None:
        self.repo, self.clock, self.ids, self.recorder = repo, clock, ids, recorder
        self.box, self.destinations, self.queue, self.random_bytes = (
            ports.box,
            ports.destinations,
            ports.queue,
            ports.random_bytes,
        )
        self.allow_loopback_http = ports.allow_loopback_http

    def _url(self, url: str) -> str:
        webhooks.validate_url(url, self.allow_loopback_http)
        if self.destinations.blocked(url):
            raise ValidationFailed("must not point to a private, loopback, link-local or otherwise non-public address", "url")
        return url

    def create(self, merchant_id: str, new: NewEndpoint) -> EndpointWithSecret:
        url = self._url(new.url)
        events = webhooks.validate_enabled_events(list(new.enabled_events))
        listed = self._existing(merchant_id)
        webhooks.ensure_room_for_one_more(listed)  # before a secret is sealed
        endpoint_id, secret = self.ids.new("we"), webhooks.new_secret(self.random_bytes(32))
        sealed = self.box.seal(secret, merchant_id, endpoint_id)

        def once(number: int) -> WebhookEndpoint:
            """A concurrent creation or deletion holding the merchant's count makes the write
            conflict: it is decided again on fresh state (room left, or the limit's 409)."""
            existing = listed if number == 0 else self._existing(merchant_id)
            webhooks.ensure_room_for_one_more(existing)
            now = self.clock.now()
            endpoint = WebhookEndpoint(
                id=endpoint_id,
                merchant_id=merchant_id,
                url=url,
                enabled_events=events,
                description=new.description,
                metadata=dict(new.metadata),
                sealed_secret=sealed,
                created_at=now,
                updated_at=now,
            )
            room = Limit(
                merchant_id, webhooks.ENDPOINTS_COUNT, +1, webhooks.MAX_ENDPOINTS, webhooks.TOO_MANY_ENDPOINTS, len(existing)
            )
            self.repo.commit(Changes(put=[endpoint], limits=[room]))
            return endpoint

        return EndpointWithSecret(retry_on_conflict(once), secret)

    def _existing(self, merchant_id: str) -> list[WebhookEndpoint]:
        return self.repo.page(WebhookEndpoint, merchant_id, PageRequest(webhooks.MAX_ENDPOINTS + 1)).data

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self.repo.get(WebhookEndpoint, merchant_id, endpoint_id)
        return found(endpoint if endpoint and not endpoint.deleted else None, "webhook endpoint", endpoint_id)

    def page(self, merchant_id: str, page: PageRequest) -> Page[WebhookEndpoint]:
        return self.repo.page(WebhookEndpoint, merchant_id, page)

    def update(self, merchant_id: str, endpoint_id: str, changes: EndpointChanges) -> WebhookEndpoint:
        sent = changes.model_fields_set
        url = self._url(changes.url) if "url" in sent and changes.url is not None else None
        events = (
            webhooks.validate_enabled_events(list(changes.enabled_events))
            if "enabled_events" in sent and changes.enabled_events is not None
            else None
        )

        def once(_: int) -> WebhookEndpoint:
            now = self.clock.now()
            endpoint = self.get(merchant_id, endpoint_id)
            if url is not None:
                endpoint.url = url
            if events is not None:
                endpoint.enabled_events = events
            if "description" in sent:
                endpoint.description = changes.description
            if "metadata" in sent and changes.metadata is not None:
                endpoint.metadata = dict(changes.metadata)
            if "status" in sent and changes.status is not None:
                endpoint.set_status(changes.status, now)
            endpoint.updated_at = now
            self.repo.commit(Changes(put=[endpoint]))
            return endpoint

        return retry_on_conflict(once)

    def delete(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
        def once(_: int) -> WebhookEndpoint:
            endpoint = self.get(merchant_id, endpoint_id)
            # A count never written (endpoints older than it) starts from the live ones, this one
            # included: it never falls below what is there (the fan-out skips a merchant at 0).
            live = sum(1 for e in self._existing(merchant_id) if not e.deleted)
            endpoint.delete(self.clock.now())
            freed = Limit(merchant_id, webhooks.ENDPOINTS_COUNT, -1, initial=live)
            self.repo.commit(Changes(put=[endpoint], limits=[freed]))
            return endpoint

        return retry_on_conflict(once)

    def rotate_secret(self, merchant_id: str, endpoint_id: str) -> EndpointWithSecret:
        secret = webhooks.new_secret(self.random_bytes(32))
        sealed = self.box.seal(secret, merchant_id, endpoint_id)

        def once(_: int) -> WebhookEndpoint:
            endpoint = self.get(merchant_id, endpoint_id)
            endpoint.rotate(sealed, self.clock.now())
            self.repo.commit(Changes(put=[endpoint]))
            return endpoint

        return EndpointWithSecret(retry_on_conflict(once), secret)

    # ------------------------------------------------------------------ deliveries
    def deliveries(
        self, merchant_id: str, endpoint_id: str, page: PageRequest, status: str | None = None, event_id: str | None = None
    ) -> Page[WebhookDelivery]:
        self.get(merchant_id, endpoint_id)
        return self.repo.page(WebhookDelivery, merchant_id, page, endpoint_id=endpoint_id, status=status, event_id=event_id)

    def delivery(self, merchant_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        self.get(merchant_id, endpoint_id)
        delivery = self.repo.get(WebhookDelivery, merchant_id, delivery_id)
        return found(delivery if delivery and delivery.endpoint_id == endpoint_id else None, "webhook delivery", delivery_id)

    def retry(self, merchant_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """One more attempt right away: made by the delivery function within seconds."""

        def once(_: int) -> WebhookDelivery:
            delivery = self.delivery(merchant_id, endpoint_id, delivery_id)
            delivery.retry_now(self.clock.now())
            self.repo.commit(Changes(put=[delivery]))
            return delivery

        delivery = retry_on_conflict(once)
        self.queue.wake([(merchant_id, delivery.id)])
        return delivery


# ----------------------------------------------------------------------------- fan-out
@dataclass(frozen=True)
class FannedOut:
    """One published event's fan-out: the deliveries woken, or the error that stopped it (its
    message comes back)."""

    deliveries: list[WebhookDelivery]
    error: Exception | None = None


class WebhookFanOut:
    """Published events -> one delivery per subscribed endpoint, then a wake-up for each (the
    batch's wake-ups sent together).

    No read per event: the message carries the event's id and type (what a delivery records; the
    attempt reads the event itself), and a merchant whose endpoint count (kept in the same
    transaction as every creation and deletion) is 0 has nothing to list. The counts of a batch's
    merchants are read once, in one batch read; a count never written (endpoints older than it)
    is counted from the list once and written. Safe to run again for the same event (a
    redelivered message): the delivery ids derive from (event, endpoint), so nothing is created
    twice, and pending deliveries are woken again."""

    def __init__(self, repo: Repository, clock: Clock, queue: WebhookQueue) -> None:
        self.repo, self.clock, self.queue = repo, clock, queue

    def fan_out_all(self, published: Sequence[PublishedEvent | Event]) -> list[FannedOut]:
        """Each event's fan-out, in order; one failing never stops the others."""
        events = [e if isinstance(e, PublishedEvent) else PublishedEvent.of(e) for e in published]
        merchants = sorted({e.merchant_id for e in events if e.merchant_id})
        try:
            counts = self.repo.limit_counts(merchants, webhooks.ENDPOINTS_COUNT) if merchants else {}
        except Exception:  # noqa: BLE001 (read per merchant instead: each event lists its endpoints)
            logger.exception("endpoint counts not read; listing each merchant's endpoints")
            counts = {}
        endpoints: dict[str, list[WebhookEndpoint]] = {m: [] for m, n in counts.items() if n == 0}
        out: list[FannedOut] = []
        seen: set[tuple[str | None, str]] = set()
        for event in events:
            if (event.merchant_id, event.id) in seen:  # a copy in the same batch: its first copy fans it out and wakes it
                out.append(FannedOut([]))
                continue
            seen.add((event.merchant_id, event.id))
            try:
                out.append(FannedOut(self._fan_out(event, endpoints, counts)))
            except Exception as error:  # noqa: BLE001 (this event's message comes back)
                out.append(FannedOut([], error))
        woken = [(d.merchant_id, d.id) for result in out for d in result.deliveries]
        if woken:  # the batch's wake-ups together; if they are refused, their events come back (and wake again)
            try:
                self.queue.wake(woken)
            except Exception as error:  # noqa: BLE001
                out = [FannedOut([], error) if r.deliveries else r for r in out]
        return out

    def fan_out(self, event: PublishedEvent | Event) -> list[WebhookDelivery]:
        """One event's (raises on failure)."""
        result = self.fan_out_all([event])[0]
        if result.error is not None:
            raise result.error
        return result.deliveries

    def _fan_out(
        self, event: PublishedEvent, endpoints: dict[str, list[WebhookEndpoint]], counts: Mapping[str, int | None]
    ) -> list[WebhookDelivery]:
        merchant_id = event.merchant_id
        if merchant_id is None:
            raise InvalidEventMessage("an event message needs a merchant_id attribute")
        if merchant_id not in endpoints:
            listed = self.repo.page(WebhookEndpoint, merchant_id, PageRequest(webhooks.MAX_ENDPOINTS + 1)).data
            endpoints[merchant_id] = listed
            if counts.get(merchant_id) is None:  # never written: counted once, from the list
                self.repo.start_limit(merchant_id, webhooks.ENDPOINTS_COUNT, sum(1 for e in listed if not e.deleted))
        out: list[WebhookDelivery] = []
        counted = counts.get(merchant_id)
        lagging = counted is not None and counted > sum(1 for e in endpoints[merchant_id] if not e.deleted)
        for endpoint in endpoints[merchant_id]:
            if not endpoint.subscribes_to(event.event_type):
                continue
            now = self.clock.now()
            delivery = WebhookDelivery(
                id=webhooks.delivery_id(event.id, endpoint.id),
                merchant_id=merchant_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.event_type,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            try:  # created once (attribute_not_exists): no read first on the usual path
                self.repo.commit(Changes(put=[delivery]))
                existing: WebhookDelivery | None = delivery
            except ConcurrentModification:  # a redelivered copy of this event created it: as it is now
                existing = self.repo.get(WebhookDelivery, merchant_id, delivery.id)
            if existing is not None and existing.status == "pending":
                out.append(existing)
        if lagging:  # the list (an index) does not show an endpoint its count has yet: the event comes
            # back and is fanned out again (what was created now is not created twice, and is woken then)
            raise EndpointsNotListedYet(f"{merchant_id}: {counted} endpoints counted, fewer listed")
        return out  # woken with the batch's others


class InvalidEventMessage(Exception):
    """Not an event of this service (no merchant attribute)."""


class EndpointsNotListedYet(Exception):
    """The endpoints' list lags behind their count (a just-created endpoint not in the index yet)."""


# ----------------------------------------------------------------------------- attempts
@dataclass(frozen=True)
class WakeOutcome:
    """What one wake-up of a delivery did (as `ChargeOutcome` is what one charge message did; an
    `AttemptOutcome` is only ever a gateway's answer). `later`: wake this delivery again after that long (None: nothing more to do); `attempted`:
    the attempt made, `lag`: how long after its time it was made, `final`: the delivery's end."""

    later: timedelta | None
    attempted: WebhookAttempt | None = None
    lag: timedelta | None = None
    final: webhooks.DeliveryStatus | None = None


def busy_backoff(delivery_id: str) -> timedelta:
    """All of an endpoint's slots are taken: look again in 2 to 8 s, spread by delivery (a burst
    to one endpoint does not come back all at once)."""
    return timedelta(seconds=2 + sum(map(ord, delivery_id)) % 7)


SLOT_HOLD = timedelta(seconds=webhooks.ATTEMPT_TIMEOUT_SECONDS * 3)  # a crashed holder's slot frees itself


class WebhookDeliverer:
    """`wake(message, receipt_handle)`: the delivery function's use case for one wake-up."""

    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        ids: IdGenerator,
        recorder: EventRecorder,
        ports: WebhookPorts,
        render_event: Callable[[Event], dict[str, object]],
    ) -> None:
        """`clock` schedules (the local runtime's test clock); `ports.wall_clock` (Unix seconds)
        stamps the signature, which receivers check against their own clock."""
        self.repo, self.clock, self.ids, self.recorder = repo, clock, ids, recorder
        self.box, self.sender, self.slots, self.wall_clock = ports.box, ports.sender, ports.slots, ports.wall_clock
        self.render_event = render_event
        self.queue = ports.queue
        self._secrets: dict[tuple[str, str, str], str] = {}

    def wake(self, message: WakeMessage, receipt_handle: str) -> tuple[bool, WakeOutcome]:
        """Attempt the delivery if it is due, and set its next wake-up; whether the received
        message is done with (SQS may delete it), and the outcome."""
        outcome = self.attempt(message.merchant_id, message.delivery_id)
        if outcome.later is None:
            return True, outcome
        wait = max(1, int(outcome.later.total_seconds() + 0.999))
        return self.queue.later((message.merchant_id, message.delivery_id), wait, receipt_handle), outcome

    def attempt(self, merchant_id: str, delivery_id: str) -> WakeOutcome:
        now = self.clock.now()
        delivery = self.repo.get(WebhookDelivery, merchant_id, delivery_id)
        if delivery is None or delivery.status != "pending" or delivery.next_attempt_at is None:
            return WakeOutcome(None)
        if delivery.next_attempt_at > now:
            return WakeOutcome(delivery.next_attempt_at - now)
        endpoint = self.repo.get(WebhookEndpoint, merchant_id, delivery.endpoint_id)
        if endpoint is None or endpoint.deleted or endpoint.status != "enabled":
            delivery.give_up(now)
            self._save_delivery(delivery)
            return WakeOutcome(None)
        holder = self.ids.new("slot")
        if not self.slots.acquire(merchant_id, endpoint.id, holder, now, now + SLOT_HOLD):
            return WakeOutcome(busy_backoff(delivery.id))
        try:
            attempt = self._post(endpoint, delivery, now)
        finally:
            self.slots.release(merchant_id, endpoint.id, holder)
        lag = now - delivery.next_attempt_at
        done = self.clock.now()
        delivery = self._record(delivery, attempt, done)
        self._endpoint_health(endpoint, attempt.succeeded, done)
        if delivery.status == "pending" and delivery.next_attempt_at is not None:
            return WakeOutcome(delivery.next_attempt_at - done, attempt, lag)
        return WakeOutcome(None, attempt, lag, delivery.status)

    def _post(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: datetime) -> WebhookAttempt:
        event = self.repo.get(Event, endpoint.merchant_id, delivery.event_id)
        if event is None:  # cannot happen: events are written before they are published
            raise NotFound(f"No such event: '{delivery.event_id}'.")
        body = json.dumps(self.render_event(event), separators=(",", ":")).encode()
        timestamp = int(self.wall_clock())
        secrets = [self._open(endpoint, sealed) for sealed in endpoint.sealed_secrets(now)]
        headers = {
            "content-type": "application/json",
            "user-agent": "recurring-payments-webhooks/1",
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhooks.signature_header(secrets, event.id, timestamp, body),
        }
        result = self.sender.post(endpoint.url, headers, body, webhooks.ATTEMPT_TIMEOUT_SECONDS)
        return WebhookAttempt(at=now, response_status=result.response_status, error=result.error, duration_ms=result.duration_ms)

    def _open(self, endpoint: WebhookEndpoint, sealed: str) -> str:
        key = (endpoint.merchant_id, endpoint.id, sealed)
        if key not in self._secrets:  # one KMS call per secret per container, not per attempt
            self._secrets[key] = self.box.open(sealed, endpoint.merchant_id, endpoint.id)
        return self._secrets[key]

    def _record(self, delivery: WebhookDelivery, attempt: WebhookAttempt, now: datetime) -> WebhookDelivery:
        """The attempt on the delivery; on a conflict (a manual retry landed meanwhile) on a fresh
        read of it: the attempt happened either way."""

        def once(number: int) -> WebhookDelivery:
            current = (
                delivery
                if number == 0
                else found(self.repo.get(WebhookDelivery, delivery.merchant_id, delivery.id), "webhook delivery", delivery.id)
            )
            current.record(attempt, now)
            self.repo.commit(Changes(put=[current]))
            return current

        return retry_on_conflict(once)

    def _save_delivery(self, delivery: WebhookDelivery) -> None:
        try:
            self.repo.commit(Changes(put=[delivery]))
        except ConcurrentModification:
            pass  # changed meanwhile (a manual retry): the next wake-up decides again

    def _endpoint_health(self, loaded: WebhookEndpoint, succeeded: bool, now: datetime) -> None:
        """Written only when it changes: a first failure, a success after failures, the disabling.
        Decided on the endpoint read for the attempt; read again only if it changed meanwhile."""

        def once(number: int) -> None:
            endpoint = loaded if number == 0 else self.repo.get(WebhookEndpoint, loaded.merchant_id, loaded.id)
            if endpoint is None or endpoint.deleted:
                return
            changed, types = endpoint.attempt_result(succeeded, now)
            if changed:
                events = self.recorder.events([(endpoint, types)], now)
                self.repo.commit(Changes(put=[endpoint], events=events))

        retry_on_conflict(once)
