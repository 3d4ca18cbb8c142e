"""Webhooks: a merchant's HTTPS endpoints, and the delivery of each subscribed event to each of
them, signed the Standard Webhooks way (https://www.standardwebhooks.com), retried on a fixed
schedule, recorded attempt by attempt.

Pure rules: which URL is acceptable, which address may be connected to, who is subscribed, how a
body is signed, when the next attempt is due, when a delivery fails and when an endpoint is
disabled. Resolving names, encrypting secrets and making requests are adapters' work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from .errors import InvalidState, ValidationFailed
from .events import EVENT_TYPES, EventType
from .lifecycles import DELIVERY, ENDPOINT
from .lifecycles import DeliveryStatus as DeliveryStatus
from .lifecycles import EndpointStatus as EndpointStatus
from .model import Entity

if TYPE_CHECKING:
    import ipaddress

MAX_ENDPOINTS = 16
MAX_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)
ATTEMPT_TIMEOUT_SECONDS = 10.0
# After the n-th failed attempt the next one follows RETRY_DELAYS[n - 1] later; after the 8th
# failed attempt the delivery has failed (about 27.6 hours after the first).
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A delivery keeps at most this many attempts (its DynamoDB item and its API object stay small:
# about 100 bytes each); manual retries are refused once it holds them all (the scheduled 8 and
# 42 by hand), and a duplicate wake-up past it drops the oldest.
MAX_KEPT_ATTEMPTS = 50
DISABLE_AFTER = timedelta(days=5)
MAX_CONCURRENT_PER_ENDPOINT = 4  # attempts in flight at once to one endpoint, across all instances

AttemptError = Literal["timeout", "connection_error", "blocked_destination", "http_status"]


# ----------------------------------------------------------------------------- URLs and addresses
def validate_url(url: str, allow_loopback_http: bool = False) -> str:
    """An endpoint URL as the contract accepts it; the host's addresses are checked separately
    (`address_allowed`), at creation when it resolves and again at every attempt."""
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(f"must be at most {MAX_URL_LENGTH} characters", "url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed("must be an absolute https:// URL", "url") from None
    host = parts.hostname or ""
    if parts.scheme == "http" and allow_loopback_http and host in ("127.0.0.1", "localhost") and port:
        return url
    if parts.scheme != "https" or not host:
        raise ValidationFailed("must be an absolute https:// URL", "url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("must not contain a user name or password", "url")
    if parts.fragment or url.endswith("#"):
        raise ValidationFailed("must not contain a fragment", "url")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise ValidationFailed("must not contain spaces or control characters", "url")
    literal = ip_literal(host)
    if literal is not None and not address_allowed(literal):
        raise ValidationFailed("must not point to a private, loopback, link-local or otherwise non-public address", "url")
    return url


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    import ipaddress  # here, not at module import (cold start of the functions that only store webhooks)

    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Only public unicast addresses: never private, loopback, link-local (the instance metadata
    service), multicast, reserved, shared (CGNAT) or unspecified ones, nor IPv6 forms of them.

    An IPv6 address that carries an IPv4 one is judged by that IPv4 address when it is a form a
    resolver may answer (IPv4-mapped `::ffff:a.b.c.d`; NAT64's well-known `64:ff9b::a.b.c.d`,
    from DNS64), and refused outright otherwise: IPv4-compatible `::a.b.c.d` (deprecated),
    IPv4-translated `::ffff:0:a.b.c.d`, NAT64 local-use `64:ff9b:1::/48` (where the IPv4 address
    sits is the network's choice), 6to4 `2002::/16` and Teredo: nothing a merchant needs, and
    ways around the rule (`is_global` says True for most of them)."""
    import ipaddress

    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_allowed(address.ipv4_mapped)
        nat64, refused = _ipv4_in_ipv6()
        if address in nat64:
            return address_allowed(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        if address.sixtofour is not None or address.teredo is not None or any(address in n for n in refused):
            return False
    return address.is_global and not address.is_multicast


@cache
def _ipv4_in_ipv6() -> tuple[ipaddress.IPv6Network, tuple[ipaddress.IPv6Network, ...]]:
    """NAT64's well-known prefix (judged by the IPv4 address it carries), and the IPv4-carrying
    networks refused outright: IPv4-compatible, IPv4-translated, NAT64 local-use."""
    import ipaddress

    refused = tuple(ipaddress.IPv6Network(cidr) for cidr in ("::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48"))
    return ipaddress.IPv6Network("64:ff9b::/96"), refused


# ----------------------------------------------------------------------------- secrets and signatures
def new_secret(random_bytes: bytes) -> str:
    assert len(random_bytes) == 32
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` per secret, space-separated (two while a rotation overlaps)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    out = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        out.append("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())
    return " ".join(out)


# ----------------------------------------------------------------------------- endpoints
def validate_enabled_events(events: list[str]) -> list[str]:
    if events == ["*"]:
        return events
    if not events:
        raise ValidationFailed('must be ["*"] or a non-empty list of event types', "enabled_events")
    for i, name in enumerate(events):
        if name not in EVENT_TYPES:
            raise ValidationFailed(f"unknown event type '{name}'", f"enabled_events.{i}")
    return list(dict.fromkeys(events))


class WebhookEndpoint(Entity):
    url: str
    enabled_events: list[str]
    description: str | None = None
    metadata: dict[str, str] = {}
    status: EndpointStatus = "enabled"
    # Encrypted (SecretBox); never shown after creation or rotation.
    sealed_secret: str
    previous_sealed_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    # Health: since when attempts have failed without a success in between.
    failing_since: datetime | None = None
    deleted: bool = False

    def subscribes_to(self, event_type: str) -> bool:
        return self.status == "enabled" and not self.deleted and ("*" in self.enabled_events or event_type in self.enabled_events)

    def sealed_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign an attempt at `now`: the current one, and the previous one
        during the 24 hours after a rotation."""
        out = [self.sealed_secret]
        if self.previous_sealed_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at:
            out.append(self.previous_sealed_secret)
        return out

    def rotate(self, sealed: str, now: datetime) -> None:
        self.previous_sealed_secret, self.previous_secret_expires_at = self.sealed_secret, now + ROTATION_OVERLAP
        self.sealed_secret, self.updated_at = sealed, now

    def delete(self, now: datetime) -> None:
        self.deleted, self.updated_at = True, now

    def set_status(self, status: EndpointStatus, now: datetime) -> None:
        if status == "enabled" and self.status == "disabled":
            self.failing_since = None  # a fresh start: five more days before it can be disabled again
        self.status, self.updated_at = ENDPOINT.move(self.status, "set", status), now

    def attempt_result(self, succeeded: bool, now: datetime) -> tuple[bool, list[EventType]]:
        """Track the endpoint's health after an attempt: whether what is stored changed (a first
        failure, a success after failures, the disabling) and the events. After 5 days of failed
        attempts without a success the endpoint is disabled."""
        if succeeded:
            if self.failing_since is None:
                return False, []
            self.failing_since = None
            return True, []
        if self.failing_since is None:
            self.failing_since = now
            return True, []
        if ENDPOINT.allows(self.status, "disable") and now - self.failing_since >= DISABLE_AFTER:
            self.status, self.updated_at = ENDPOINT.move(self.status, "disable"), now
            return True, [EventType.WEBHOOK_ENDPOINT_DISABLED]
        return False, []


TOO_MANY_ENDPOINTS = f"A merchant may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first."
ENDPOINTS_COUNT = "webhook_endpoints"  # the merchant's count, kept with every creation and deletion


def ensure_room_for_one_more(endpoints: list[WebhookEndpoint]) -> None:
    """The early answer; the count written with the creation is what holds under concurrency."""
    if sum(1 for e in endpoints if not e.deleted) >= MAX_ENDPOINTS:
        raise InvalidState(TOO_MANY_ENDPOINTS)


# ----------------------------------------------------------------------------- deliveries
class WebhookAttempt(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    at: datetime
    response_status: int | None = None
    error: AttemptError | None = None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.response_status is not None and 200 <= self.response_status < 300


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """One delivery per (event, endpoint), whatever is redelivered: its id derives from both."""
    digest = hashlib.sha256(f"{event_id}.{endpoint_id}".encode()).hexdigest()[:24]
    return f"wd_{digest}"


class WebhookDelivery(Entity):
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus = "pending"
    attempts: list[WebhookAttempt] = []
    next_attempt_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self.status == "pending" and self.next_attempt_at is not None and self.next_attempt_at <= now

    def record(self, attempt: WebhookAttempt, now: datetime) -> None:
        """An attempt's outcome: succeeded; or the next attempt on the schedule; or, after the
        8th failed attempt (or a failed manual retry past it), failed."""
        self.attempts = [*self.attempts, attempt][-MAX_KEPT_ATTEMPTS:]
        self.updated_at = now
        if attempt.succeeded or self.status == "succeeded":  # a racing wake-up's success stands
            self.status, self.next_attempt_at = DELIVERY.move(self.status, "record", "succeeded"), None
        elif len(self.attempts) >= MAX_ATTEMPTS:
            self.status, self.next_attempt_at = DELIVERY.move(self.status, "record", "failed"), None
        else:
            self.status = DELIVERY.move(self.status, "record", "pending")
            self.next_attempt_at = now + RETRY_DELAYS[len(self.attempts) - 1]

    def give_up(self, now: datetime) -> None:
        """The endpoint was deleted or disabled: no more attempts."""
        self.status, self.next_attempt_at, self.updated_at = DELIVERY.move(self.status, "give_up"), None, now

    def retry_now(self, now: datetime) -> None:
        """A manual retry: one more attempt right away (not for a delivery that succeeded, nor one
        that holds MAX_KEPT_ATTEMPTS attempts)."""
        DELIVERY.ensure(self.status, "retry")
        if len(self.attempts) >= MAX_KEPT_ATTEMPTS:
            raise InvalidState(
                f"A delivery holds at most {MAX_KEPT_ATTEMPTS} attempts and this one has them all; "
                f"its event stays available at GET /v1/events/{self.event_id}."
            )
        self.status, self.next_attempt_at, self.updated_at = DELIVERY.move(self.status, "retry"), now, now
