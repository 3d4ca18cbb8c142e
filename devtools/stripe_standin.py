"""A stateful local stand-in for Stripe's API (v1), for tests and `make local`: never the internet.

`StripeStandIn` runs a threaded HTTP server on 127.0.0.1 that speaks the subset of Stripe's REST
API that our adapter (billing.adapters.stripe, through the official `stripe` library's
`StripeClient(base_addresses={"api": standin.url})`) sends, keeps the objects it creates, and
reports every change as a signed Stripe Event to a webhook target, as Stripe does.

    with StripeStandIn() as stripe_api:                   # random free port; or port=12111
        stripe_api.forward_to("http://127.0.0.1:3000/gateway/stripe/events", "whsec_…")
        customer = client.v1.customers.create(...)        # through the real library
        pm = stripe_api.add_payment_method(customer.id, type="sepa_debit", behaviour="sepa_ok")
        ... charge pm off session: the PaymentIntent is `processing` ...
        stripe_api.settle(pi_id)                          # or stripe_api.advance(days=3)
        stripe_api.flush()                                # wait for the events to be delivered

The wire, as Stripe's
* Requests: `Authorization: Bearer sk_test_…` (or curl's `-u sk_test_…:`; any test key, or exactly `api_key=` when given;
  anything else 401). POST bodies are form-encoded with Stripe's bracket notation
  (`metadata[charge_id]=…`, `allowed_payment_method_types[0]=sepa_debit`); GET parameters in the
  query string. Answers are JSON with Stripe's object shapes; errors are
  `{"error": {"type", "code", "decline_code"?, "message", "param"?, "payment_intent"?, …}}` with
  Stripe's status codes (400 invalid request, 401, 402 card_error, 404 resource_missing).
* `Idempotency-Key` (per API key): the same key with the same method, path and parameters
  answers the stored status and body again (header `Idempotent-Replayed: true`); the same key
  with anything else is a 400 `idempotency_error`. As at Stripe, a request refused before it ran
  (a 400/404 about its parameters) stores nothing; a 200 or a 402 decline is stored. Keys are
  forgotten 24 hours (of the stand-in's clock) after first use, as Stripe prunes them.
* Events: `evt_…` objects (`object`, `type`, `created`, `api_version`, `livemode: false`,
  `pending_webhooks`, `request: {id, idempotency_key}`, `data: {object, previous_attributes?}`),
  kept in order in `standin.events`, and POSTed (one background sender, in order) to the target of
  `forward_to(url, secret)` with `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
  "<t>.<payload>")>` (`sign()`), which `stripe.Webhook.construct_event` verifies. The signing
  time is the wall clock (the library checks a 5 minute tolerance against it), not the
  stand-in's clock. `pause_delivery`/`deliver_pending(reverse=True)` send out of order,
  `deliver(evt_id)` sends one again (or with a stale timestamp or another secret), and
  `withhold(*types)` loses events of those types (to test a lost event).

Supported endpoints (what the adapter calls, plus reads that tests find handy)
  POST /v1/customers, GET /v1/customers/{id}
  GET  /v1/payment_methods/{id} (expand[]=customer: the Customer object instead of its id),
  POST /v1/payment_methods/{id} (metadata, merged key by key; "" removes a key; Stripe's limits)
  POST /v1/setup_intents, GET /v1/setup_intents?customer=…&payment_method=…, GET /v1/setup_intents/{id}
  POST /v1/payment_intents, GET /v1/payment_intents (paginated: limit, starting_after, created[…],
  expand[]=data.latest_charge; refunds and disputes lists alike), GET /v1/payment_intents/{id},
  GET /v1/payment_intents/search,
  POST /v1/payment_intents/{id}/cancel
  GET  /v1/charges/{id}
  POST /v1/refunds, GET /v1/refunds?payment_intent=…, GET /v1/refunds/{id}
  GET  /v1/disputes/{id}, GET /v1/disputes?payment_intent=…
  GET  /v1/mandates/{id}
  GET  /v1/events/{id}, GET /v1/events?type=…

Behaviour is chosen by the test, per payment method (`add_payment_method(customer, type=…,
behaviour=…)` or `confirm_setup_intent(seti, type=…, behaviour=…)`):
  card: "ok" (succeeded); any decline code ("insufficient_funds", "generic_decline",
    "stolen_card", "lost_card", "fraudulent", "do_not_honor", …) -> 402 card_error `card_declined`
    with that decline_code; "expired_card" and "incorrect_number" -> 402 with that code;
    "authentication_required" -> 402 `authentication_required`; "requires_action" -> 200 with
    status `requires_action` (3-D Secure while the customer is away).
  sepa_debit: "sepa_ok" (processing, then succeeded), "sepa_fail" (processing, then failed with
    `failure_code`, default insufficient_funds), "sepa_late_failure" (succeeded, then reversed).
    A failed or returned SEPA debit is reported as Stripe reports it: the PaymentIntent's
    `last_payment_error` is generic (`code` "", `decline_code` generic_decline, the bank's reason
    only in its message) and the bank's code is the Charge's `failure_code` (`latest_charge`, a
    `py_…`): account_closed, no_account, bank_account_restricted, invalid_account_number,
    debit_not_authorized, revocation_of_authorization, insufficient_funds, generic_could_not_process.
  A sepa_debit PaymentIntent must be EUR (else 400, param currency, Stripe's message) and needs
  `mandate` or an active Mandate of its payment method (else 400 payment_intent_mandate_invalid).

Time: the stand-in has its own clock (`now`, settable; `advance(days=…)`), used for `created`
and for automatic progress: with `settlement_delay` (default 3 days) a processing SEPA payment
settles by its behaviour when the clock passes it, a `sepa_late_failure` one is reversed
`reversal_delay` later, and a pending SEPA refund succeeds. The helpers `settle`, `reverse`,
`open_dispute`, `update_dispute`, `fail_refund`, `settle_refund`, `deactivate_mandate` and
`automatically_update` do the same at once. Events produced: payment_intent.processing,
payment_intent.succeeded, payment_intent.payment_failed, payment_intent.canceled, payment_method.updated,
charge.succeeded, charge.failed, charge.refunded, charge.refund.updated, charge.dispute.created,
charge.dispute.updated, charge.dispute.closed, mandate.updated,
payment_method.automatically_updated, setup_intent.succeeded.

Faults: `fail_next(status, path=…, after_processing=…, delay=…)` answers the next matching
request with a Stripe error (500, 429, 409…), before it is processed or after (the payment is
made and the answer lost), or slowly.

Assumptions where Stripe's behaviour is not documented precisely (kept small): a SEPA dispute is
created `lost` at once and closed in the same breath (created and closed events); a SEPA
failure's `last_payment_error` is a `card_error` with an empty `code` and `decline_code`
generic_decline (as in payloads Stripe sent), the code being on the Charge; search answers at once
(Stripe's search may lag about a minute).

CLI (`make local` with STRIPE_API_BASE=http://127.0.0.1:12111):
    python -m devtools.stripe_standin --port 12111 \
        --forward-to http://127.0.0.1:3000/gateway/stripe/events --webhook-secret whsec_local
It follows the wall clock (settling SEPA debits after `--settle-after` seconds) and takes the
test helpers as unauthenticated JSON calls under /_standin/ (e.g. POST
/_standin/setup_intents/{id}/confirm {"type": "sepa_debit"}, POST
/_standin/payment_intents/{id}/dispute {"reason": "fraudulent"}, POST /_standin/clock/advance
{"seconds": 86400}, GET /_standin/events).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import itertools
import json
import queue
import re
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Obj = dict[str, Any]

API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 pins (stripe._api_version)
DAY = 86400
CARD_DECLINE_CODES = {"expired_card", "incorrect_number", "authentication_required"}  # codes of their own
MINIMUM_AMOUNT = {"eur": 50, "usd": 50, "gbp": 30, "chf": 50}
METADATA_KEYS, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH = 50, 40, 500  # Stripe's metadata limits
# A failed SEPA debit: the bank's reason is the Charge's `failure_code` (these messages, Stripe's
# wording in substance); the PaymentIntent's `last_payment_error` carries only a generic decline.
SEPA_FAILURES = {
    "insufficient_funds": "The customer's account has insufficient funds to cover this payment.",
    "account_closed": "The customer's bank account has been closed.",
    "no_account": "The customer's bank account could not be located.",
    "bank_account_restricted": "The customer's account cannot be used with the payment method.",
    "invalid_account_number": "The customer's bank account number is not valid.",
    "debit_not_authorized": "The customer has notified their bank that this payment was unauthorized.",
    "revocation_of_authorization": "The customer has revoked the mandate for this payment.",
    "generic_could_not_process": "This payment could not be processed.",
}
CANCELLABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")
DISPUTE_STATUSES = ("warning_needs_response", "needs_response", "under_review", "won", "lost")
_ALPHABET = string.ascii_letters + string.digits


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header Stripe sends with a webhook: `t=<unix>,v1=<hex HMAC-SHA256>`
    of `"<t>.<payload>"` keyed by the endpoint's signing secret."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeApiError(Exception):
    """An answer in Stripe's error shape. `stored` says whether an idempotency key keeps it (the
    request ran: a decline), or not (refused before running: bad parameters)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        stored: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.stored = status, stored
        self.error: Obj = {"type": type, "message": message}
        if code:
            self.error["code"] = code
            self.error["doc_url"] = f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}"
        if param:
            self.error["param"] = param
        self.error.update({k: v for k, v in extra.items() if v is not None})

    def body(self) -> Obj:
        return {"error": self.error}


def missing(kind: str, object_id: str, param: str | None = None) -> StripeApiError:
    return StripeApiError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param or "id")


# ------------------------------------------------------------------------------------------ forms
def parse_form(pairs: Iterable[tuple[str, str]]) -> Obj:
    """Stripe's bracket notation -> nested data: `metadata[a]=1` -> {"metadata": {"a": "1"}},
    `types[0]=card` -> {"types": ["card"]} (also the legacy `types[]=card`)."""
    root: Obj = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *re.findall(r"\[([^\]]*)\]", key[len(head) :])]
        node = root
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = path[-1] if path[-1] != "" else str(len(node))
        node[last] = value
    nested: Obj = _listify(root)
    return nested


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _int(params: Obj, name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name) from None


def _bool(params: Obj, name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def _str(params: Obj, name: str) -> str | None:
    value = params.get(name)
    return str(value) if isinstance(value, str) and value != "" else None


def _metadata(params: Obj) -> dict[str, str]:
    raw = params.get("metadata")
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise StripeApiError(400, "Invalid object", code="parameter_invalid_empty", param="metadata")
    return {str(k): str(v) for k, v in raw.items() if v != ""}


def _types(params: Obj) -> list[str] | None:
    for name in ("allowed_payment_method_types", "payment_method_types"):
        raw = params.get(name)
        if isinstance(raw, list):
            return [str(t) for t in raw]
        if isinstance(raw, str):
            return [raw]
    return None


def _created_in(params: Obj) -> Callable[[Obj], bool]:
    """Stripe's `created` filter: `created=<ts>` or `created[gt|gte|lt|lte]=<ts>`."""
    raw = params.get("created")
    if raw is None:
        return lambda obj: True
    if not isinstance(raw, dict):
        raw = {"eq": raw}
    bounds: list[tuple[str, int]] = []
    for op, value in raw.items():
        if op not in ("gt", "gte", "lt", "lte", "eq"):
            raise StripeApiError(400, f"Invalid created[{op}]", code="parameter_unknown", param=f"created[{op}]")
        try:
            bounds.append((op, int(str(value))))
        except ValueError:
            raise StripeApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param="created") from None
    compare: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "eq": lambda a, b: a == b,
    }
    return lambda obj: all(compare[op](int(obj["created"]), value) for op, value in bounds)


def list_page(store: Any, found: list[Obj], params: Obj, url: str) -> Obj:
    """One page of a Stripe list: newest first (`created`, then id), `limit` 1..100 (default 10),
    `starting_after` an object id of the previous page, `created` bounds, `expand[]=data.<field>`."""
    limit = _int(params, "limit") or 10
    if not 1 <= limit <= 100:
        raise StripeApiError(400, "Invalid limit: must be between 1 and 100", code="parameter_invalid_integer", param="limit")
    created = _created_in(params)
    rows = sorted((o for o in found if created(o)), key=lambda o: (o["created"], o["id"]), reverse=True)
    after = _str(params, "starting_after")
    if after is not None:
        ids = [o["id"] for o in rows]
        if after not in ids:
            raise missing("object", after, "starting_after")
        rows = rows[ids.index(after) + 1 :]
    page = [copy.deepcopy(o) for o in rows[:limit]]
    expand = params.get("expand") or []
    for field_path in [expand] if isinstance(expand, str) else expand:
        name = str(field_path).removeprefix("data.")
        for obj in page:
            if isinstance(obj.get(name), str) and obj[name] in store.objects:
                obj[name] = copy.deepcopy(store.objects[obj[name]])
    return {"object": "list", "data": page, "has_more": len(rows) > limit, "url": url}


# ------------------------------------------------------------------------------------------ clock
class Clock:
    """The stand-in's time: the wall clock plus an offset, or frozen at a settable instant."""

    def __init__(self, start: int | None = None) -> None:
        self._frozen: int | None = start
        self._offset = 0

    def now(self) -> int:
        return self._frozen if self._frozen is not None else int(time.time()) + self._offset

    def set(self, instant: int) -> None:
        if self._frozen is not None:
            self._frozen = instant
        else:
            self._offset = instant - int(time.time())

    def advance(self, seconds: int) -> None:
        self.set(self.now() + seconds)


# ----------------------------------------------------------------------------------------- events
@dataclass
class Delivery:
    event_id: str
    status: int  # the target's HTTP status, 0 when it could not be reached
    signature: str
    error: str | None = None


@dataclass
class _Target:
    url: str
    secret: str


class Events:
    """Every Event in order, and their delivery to the webhook target: one background sender,
    in order; paused (kept pending), withheld by type (lost), or delivered again on demand."""

    def __init__(self, clock: Clock, signing_clock: Callable[[], float] = time.time) -> None:
        self.clock, self.signing_clock = clock, signing_clock
        self.log: list[Obj] = []
        self.by_id: dict[str, Obj] = {}
        self.deliveries: list[Delivery] = []
        self.pending: list[str] = []  # kept while delivery is paused
        self.withheld_types: set[str] = set()
        self.withheld: list[str] = []  # events lost on purpose
        self.target: _Target | None = None
        self.paused = False
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._busy = 0
        self._idle = threading.Condition()
        self._sender: threading.Thread | None = None

    def record(self, kind: str, obj: Obj, previous: Obj | None, request: Obj | None) -> Obj:
        data: Obj = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event: Obj = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.target else 0,
            "request": request or {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self.log.append(event)
        self.by_id[event["id"]] = event
        if self.target is not None:
            if kind in self.withheld_types:
                self.withheld.append(event["id"])
            elif self.paused:
                self.pending.append(event["id"])
            else:
                self.send_later(event["id"])
        return event

    # sending
    def send_later(self, event_id: str) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_loop, name="stripe-standin-events", daemon=True)
            self._sender.start()
        with self._idle:
            self._busy += 1
        self._queue.put(event_id)

    def _send_loop(self) -> None:
        while (event_id := self._queue.get()) is not None:
            try:
                self.deliver(event_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event queued for sending was sent (True), or the timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        if self._sender is not None:
            self._queue.put(None)
            self._sender.join(timeout=5)
            self._sender = None

    def payload(self, event_id: str) -> bytes:
        return json.dumps(self.by_id[event_id], indent=2).encode()

    def deliver(self, event_id: str, *, timestamp: int | None = None, secret: str | None = None) -> int:
        """POST one event to the target now, signed (with `secret` instead, or a `timestamp` of
        another time, to test forgeries and stale deliveries). Returns the target's status."""
        if self.target is None:
            raise RuntimeError("no webhook target: call forward_to(url, secret) first")
        payload = self.payload(event_id)
        signature = sign(payload, secret or self.target.secret, timestamp or int(self.signing_clock()))
        request = urllib.request.Request(
            self.target.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        status, error = 0, None
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status = answer.status
        except urllib.error.HTTPError as refused:
            status = refused.code
        except OSError as failure:
            error = str(failure)
        self.deliveries.append(Delivery(event_id, status, signature, error))
        return status


# -------------------------------------------------------------------------------------- the store
def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class _Scheduled:
    at: int
    order: int
    action: Callable[[], None]


@dataclass
class Store:
    """The objects (by id), what tests chose about them (`private`), the clock, the events, and
    actions due at a time. One re-entrant lock: the server's threads and the tests' helpers."""

    clock: Clock
    events: Events
    objects: dict[str, Obj] = field(default_factory=dict)
    private: dict[str, Obj] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    scheduled: list[_Scheduled] = field(default_factory=list)
    request: threading.local = field(default_factory=threading.local)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def now(self) -> int:
        return self.clock.now()

    def add(self, obj: Obj, **private: Any) -> Obj:
        self.objects[obj["id"]] = obj
        self.private[obj["id"]] = dict(private)
        return obj

    def get(self, object_id: str | None, kind: str, param: str | None = None) -> Obj:
        obj = self.objects.get(object_id or "")
        if obj is None or obj.get("object") != kind:
            raise missing(kind, str(object_id), param)
        return obj

    def emit(self, kind: str, obj: Obj, previous: Obj | None = None) -> Obj:
        return self.events.record(kind, obj, previous, getattr(self.request, "info", None))

    def schedule(self, delay: int | None, action: Callable[[], None]) -> None:
        if delay is not None:
            self.scheduled.append(_Scheduled(self.now() + delay, next(self._order), action))

    def run_due(self) -> None:
        with self.lock:
            while True:
                due = [s for s in self.scheduled if s.at <= self.now()]
                if not due:
                    return
                first = min(due, key=lambda s: (s.at, s.order))
                self.scheduled.remove(first)
                first.action()


def _base(store: Store, prefix: str, kind: str) -> Obj:
    return {"id": new_id(prefix), "object": kind, "created": store.now(), "livemode": False}


# -------------------------------------------------------------------------------------- resources
class Customers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, params: Obj) -> Obj:
        customer = _base(self.store, "cus", "customer") | {
            "email": _str(params, "email"),
            "name": _str(params, "name"),
            "description": _str(params, "description"),
            "metadata": _metadata(params),
            "balance": 0,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
            "phone": None,
            "preferred_locales": [],
        }
        return self.store.add(customer)

    def retrieve(self, customer_id: str) -> Obj:
        return self.store.get(customer_id, "customer")


class PaymentMethods:
    """Cards and SEPA debits, each with the behaviour the test chose (kept out of the JSON)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        customer: str | None,
        type: str,
        behaviour: str | None,
        last4: str | None,
        *,
        brand: str = "visa",
        country: str = "DE",
        name: str | None = None,
        email: str | None = None,
        failure_code: str | None = None,
    ) -> Obj:
        if type not in ("card", "sepa_debit"):
            raise ValueError(f"unsupported payment method type {type!r}")
        owner = self.store.get(customer, "customer") if customer else None
        behaviour = behaviour or ("ok" if type == "card" else "sepa_ok")
        if type == "sepa_debit" and behaviour not in ("sepa_ok", "sepa_fail", "sepa_late_failure"):
            raise ValueError(f"unknown sepa_debit behaviour {behaviour!r}")
        if type == "card" and behaviour.startswith("sepa_"):
            raise ValueError(f"{behaviour!r} is a sepa_debit behaviour")
        method = _base(self.store, "pm", "payment_method") | {
            "type": type,
            "customer": customer,
            "metadata": {},
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None},
                "email": email or (owner or {}).get("email"),
                "name": name or (owner or {}).get("name"),
                "phone": None,
            },
        }
        fingerprint = secrets.token_hex(8)
        if type == "card":
            method["card"] = {
                "brand": brand,
                "last4": last4 or "4242",
                "exp_month": 12,
                "exp_year": time.gmtime(self.store.now()).tm_year + 3,
                "country": country,
                "funding": "credit",
                "fingerprint": fingerprint,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "networks": {"available": [brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            }
        else:
            method["sepa_debit"] = {
                "bank_code": "37040044",
                "branch_code": "",
                "country": country,
                "fingerprint": fingerprint,
                "last4": last4 or "3000",
                "generated_from": {"charge": None, "setup_attempt": None},
            }
        return self.store.add(method, behaviour=behaviour, failure_code=failure_code or "insufficient_funds", used=False)

    def retrieve(self, method_id: str) -> Obj:
        return self.store.get(method_id, "payment_method")

    def update(self, method_id: str, params: Obj) -> Obj:
        """`POST /v1/payment_methods/{id}`, the part we use: `metadata` merged key by key (an empty
        value removes the key), within Stripe's limits (50 keys, keys up to 40 characters, values
        up to 500). Emits `payment_method.updated` when anything changed."""
        with self.store.lock:
            method = self.retrieve(method_id)
            raw = params.get("metadata")
            if raw is not None and not isinstance(raw, dict):
                raise StripeApiError(400, "Invalid object", code="parameter_invalid_empty", param="metadata")
            metadata = dict(method["metadata"])
            for key, value in (raw or {}).items():
                if len(str(key)) > METADATA_KEY_LENGTH:
                    raise StripeApiError(
                        400, f"Metadata keys can have up to {METADATA_KEY_LENGTH} characters.", param=f"metadata[{key}]"
                    )
                if len(str(value)) > METADATA_VALUE_LENGTH:
                    raise StripeApiError(
                        400, f"Metadata values can have up to {METADATA_VALUE_LENGTH} characters.", param=f"metadata[{key}]"
                    )
                if value == "":
                    metadata.pop(str(key), None)
                else:
                    metadata[str(key)] = str(value)
            if len(metadata) > METADATA_KEYS:
                raise StripeApiError(400, f"You can have at most {METADATA_KEYS} keys in metadata.", param="metadata")
            if metadata != method["metadata"]:
                previous = {"metadata": method["metadata"]}
                method["metadata"] = metadata
                self.store.emit("payment_method.updated", method, previous)
            return method

    def automatically_update(self, method_id: str, last4: str, exp_month: int | None, exp_year: int | None) -> Obj:
        with self.store.lock:
            method = self.retrieve(method_id)
            if method["type"] != "card":
                raise ValueError("only cards are updated by the network")
            previous = {"card": copy.deepcopy(method["card"])}
            method["card"].update(last4=last4, fingerprint=secrets.token_hex(8))
            if exp_month:
                method["card"]["exp_month"] = exp_month
            if exp_year:
                method["card"]["exp_year"] = exp_year
            self.store.emit("payment_method.automatically_updated", method, previous)
            return method


class Mandates:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, method: Obj) -> Obj:
        reference = "STRIPE-" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        mandate = {
            "id": new_id("mandate"),
            "object": "mandate",
            "customer_acceptance": {
                "accepted_at": self.store.now(),
                "online": {"ip_address": "127.0.0.1", "user_agent": "stripe-standin"},
                "type": "online",
            },
            "livemode": False,
            "multi_use": {},
            "on_behalf_of": None,
            "payment_method": method["id"],
            "payment_method_details": {
                "sepa_debit": {"reference": reference, "url": f"https://payments.stripe.com/sepa_debit/mandate/{reference}"},
                "type": "sepa_debit",
            },
            "single_use": None,
            "status": "active",
            "type": "multi_use",
        }
        self.store.private[method["id"]]["mandate"] = mandate["id"]
        return self.store.add(mandate)

    def retrieve(self, mandate_id: str) -> Obj:
        return self.store.get(mandate_id, "mandate")

    def for_method(self, method_id: str) -> Obj | None:
        mandate_id = self.store.private.get(method_id, {}).get("mandate")
        return self.store.objects.get(mandate_id) if mandate_id else None

    def deactivate(self, mandate_id: str) -> Obj:
        with self.store.lock:
            mandate = self.retrieve(mandate_id)
            if mandate["status"] != "inactive":
                mandate["status"] = "inactive"
                self.store.emit("mandate.updated", mandate, {"status": "active"})
            return mandate


class SetupIntents:
    def __init__(self, store: Store, methods: PaymentMethods, mandates: Mandates) -> None:
        self.store, self.methods, self.mandates = store, methods, mandates

    def create(self, params: Obj) -> Obj:
        customer = _str(params, "customer")
        if customer:
            self.store.get(customer, "customer", "customer")
        usage = _str(params, "usage") or "off_session"
        if usage not in ("off_session", "on_session"):
            raise StripeApiError(400, "Invalid usage: must be one of off_session or on_session", param="usage")
        types = _types(params) or ["card"]
        intent = _base(self.store, "seti", "setup_intent") | {
            "application": None,
            "automatic_payment_methods": None,
            "cancellation_reason": None,
            "customer": customer,
            "description": _str(params, "description"),
            "flow_directions": None,
            "last_setup_error": None,
            "latest_attempt": None,
            "mandate": None,
            "metadata": _metadata(params),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_options": {},
            "payment_method_types": types,
            "allowed_payment_method_types": types,
            "single_use_mandate": None,
            "status": "requires_payment_method",
            "usage": usage,
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"
        return self.store.add(intent)

    def retrieve(self, intent_id: str) -> Obj:
        return self.store.get(intent_id, "setup_intent")

    def list(self, params: Obj) -> Obj:
        """Stripe's `GET /v1/setup_intents` with its `customer` and `payment_method` filters, newest first."""
        customer, method_id = _str(params, "customer"), _str(params, "payment_method")
        limit = _int(params, "limit") or 10
        found = [
            i
            for i in self.store.objects.values()
            if i.get("object") == "setup_intent"
            and (customer is None or i["customer"] == customer)
            and (method_id is None or i["payment_method"] == method_id)
        ]
        found.sort(key=lambda i: i["created"], reverse=True)
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": "/v1/setup_intents"}

    def confirm(self, intent_id: str, type: str, behaviour: str | None, last4: str | None, **details: Any) -> Obj:
        """What Stripe.js does in the customer's browser: a new payment method attached to the
        intent's customer; for a bank debit, a multi-use Mandate with Stripe's reference."""
        with self.store.lock:
            intent = self.retrieve(intent_id)
            if intent["status"] == "succeeded":
                raise ValueError(f"{intent_id} already succeeded")
            if type not in intent["payment_method_types"]:
                raise ValueError(f"{intent_id} allows {intent['payment_method_types']}, not {type}")
            method = self.methods.create(intent["customer"], type, behaviour, last4, **details)
            intent.update(status="succeeded", payment_method=method["id"], latest_attempt=new_id("setatt"))
            if type == "sepa_debit":
                intent["mandate"] = self.mandates.create(method)["id"]
            self.store.emit("setup_intent.succeeded", intent)
            return intent


class PaymentIntents:
    """PaymentIntents and their Charges: cards answer at once (or decline with 402), SEPA debits
    are `processing` until settled (by a helper, or the clock), and may be reversed afterwards."""

    def __init__(self, store: Store, methods: PaymentMethods, mandates: Mandates, settlement_delay: int | None) -> None:
        self.store, self.methods, self.mandates = store, methods, mandates
        self.settlement_delay = settlement_delay
        self.reversal_delay: int | None = 2 * DAY

    # -- create
    def create(self, params: Obj) -> Obj:
        amount = _int(params, "amount", required=True)
        assert amount is not None
        currency = (_str(params, "currency") or "").lower()
        if not currency:
            raise StripeApiError(400, "Missing required param: currency.", code="parameter_missing", param="currency")
        if amount < MINIMUM_AMOUNT.get(currency, 1):
            raise StripeApiError(
                400, "Amount must be at least the minimum charge amount.", code="amount_too_small", param="amount"
            )
        customer = _str(params, "customer")
        if customer:
            self.store.get(customer, "customer", "customer")
        method_id = _str(params, "payment_method")
        method = self.store.get(method_id, "payment_method", "payment_method") if method_id else None
        types = _types(params)
        if method is not None:
            self._check_method(method, customer, types)
        types = types or ([method["type"]] if method else ["card"])
        if "sepa_debit" in types and currency != "eur":
            raise StripeApiError(
                400,
                f"The currency provided ({currency}) is invalid for one or more payment method types on this "
                "PaymentIntent. The payment method type sepa_debit only supports the following currencies: eur. "
                "Either correct the provided currency, or use a different PaymentIntent to accept this payment method type.",
                code="payment_intent_invalid_parameter",
                param="currency",
            )
        mandate = self._mandate(method, _str(params, "mandate")) if method and method["type"] == "sepa_debit" else None
        intent = _base(self.store, "pi", "payment_intent") | {
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "currency": currency,
            "customer": customer,
            "description": _str(params, "description"),
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": _metadata(params),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": method_id,
            "payment_method_options": {},
            "payment_method_types": types,
            "allowed_payment_method_types": types,
            "processing": None,
            "receipt_email": None,
            "setup_future_usage": _str(params, "setup_future_usage"),
            "statement_descriptor": None,
            "status": "requires_payment_method" if method is None else "requires_confirmation",
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        self.store.add(intent, mandate=mandate["id"] if mandate else None)
        if method is not None and _bool(params, "confirm"):
            if not method["customer"]:
                self.store.private[method["id"]]["used"] = True
            return self._confirm(intent, method)
        return intent

    def _check_method(self, method: Obj, customer: str | None, types: list[str] | None) -> None:
        owner = method.get("customer")
        if owner and owner != customer:
            raise StripeApiError(
                400,
                f"The provided PaymentMethod {method['id']} belongs to Customer {owner}. Please include the Customer "
                "in the `customer` parameter on the PaymentIntent.",
                code="payment_intent_invalid_parameter",
                param="payment_method",
            )
        if not owner and customer:
            raise StripeApiError(
                400,
                f"The provided PaymentMethod {method['id']} is not attached to Customer {customer}.",
                code="payment_intent_invalid_parameter",
                param="payment_method",
            )
        if not owner and self.store.private[method["id"]].get("used"):
            raise StripeApiError(
                400,
                "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
                "shared with a connected account without Customer attachment, or was detached from a Customer. It may "
                "not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.",
                code="payment_method_unexpected_state",
                param="payment_method",
            )
        if types is not None and method["type"] not in types:
            raise StripeApiError(
                400,
                f"The PaymentMethod provided ({method['type']}) is not allowed for this PaymentIntent. Please attach a "
                f"PaymentMethod of one of the following types: {', '.join(types)}.",
                code="payment_intent_incompatible_payment_method",
                param="payment_method",
            )

    def _mandate(self, method: Obj, mandate_id: str | None) -> Obj:
        mandate = self.store.get(mandate_id, "mandate", "mandate") if mandate_id else self.mandates.for_method(method["id"])
        if mandate is None or mandate["payment_method"] != method["id"] or mandate["status"] != "active":
            raise StripeApiError(
                400,
                "The provided mandate is invalid and can not be used for the payment intent."
                if mandate
                else f"A mandate is required to charge the sepa_debit PaymentMethod {method['id']} off session.",
                code="payment_intent_mandate_invalid",
                param="mandate",
            )
        return mandate

    def _confirm(self, intent: Obj, method: Obj) -> Obj:
        behaviour = self.store.private[method["id"]]["behaviour"]
        if method["type"] == "card" and behaviour == "requires_action":
            intent.update(
                status="requires_action",
                next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}},
            )
            return intent
        charge = self._charge(intent, method)
        if method["type"] == "sepa_debit":
            intent.update(status="processing", processing={"type": "sepa_debit"})
            self.store.emit("payment_intent.processing", intent)
            settles = behaviour != "sepa_fail"
            self.store.schedule(self.settlement_delay, lambda: self._settle_if_processing(intent["id"], settles))
            if behaviour == "sepa_late_failure" and self.settlement_delay is not None and self.reversal_delay is not None:
                delay = self.settlement_delay + self.reversal_delay
                self.store.schedule(delay, lambda: self._reverse_if_succeeded(intent["id"]))
            return intent
        if behaviour == "ok":
            self._succeed(intent, charge)
            return intent
        code, decline = (behaviour, None) if behaviour in CARD_DECLINE_CODES else ("card_declined", behaviour)
        if behaviour == "authentication_required":
            decline = "authentication_required"
        error = self._fail(intent, charge, code, decline, "Your card was declined." if code == "card_declined" else None)
        raise StripeApiError(
            402,
            error["message"],
            type="card_error",
            code=code,
            stored=True,
            decline_code=decline,
            charge=charge["id"],
            payment_intent=copy.deepcopy(intent),
            payment_method=copy.deepcopy(method),
        )

    def _charge(self, intent: Obj, method: Obj) -> Obj:
        details: Obj = {"type": method["type"]}
        if method["type"] == "card":
            card = method["card"]
            details["card"] = {k: card[k] for k in ("brand", "last4", "exp_month", "exp_year", "country", "fingerprint")}
        else:
            mandate_id = self.store.private[intent["id"]].get("mandate")
            details["sepa_debit"] = {
                **{k: method["sepa_debit"][k] for k in ("bank_code", "country", "last4")},
                "mandate": mandate_id,
            }
        # A SEPA debit's Charge is a `py_…` (a "payment"), a card's a `ch_…`: both are Charges.
        charge = _base(self.store, "py" if method["type"] == "sepa_debit" else "ch", "charge") | {
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "billing_details": copy.deepcopy(method["billing_details"]),
            "captured": False,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "metadata": dict(intent["metadata"]),
            "outcome": None,
            "paid": False,
            "payment_intent": intent["id"],
            "payment_method": method["id"],
            "payment_method_details": details,
            "refunded": False,
            "status": "pending",
        }
        self.store.add(charge)
        intent["latest_charge"] = charge["id"]
        return charge

    def _succeed(self, intent: Obj, charge: Obj) -> None:
        intent.update(status="succeeded", amount_received=intent["amount"], processing=None, last_payment_error=None)
        charge.update(
            status="succeeded",
            paid=True,
            captured=True,
            amount_captured=charge["amount"],
            outcome={
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
        )
        self.store.emit("payment_intent.succeeded", intent)
        self.store.emit("charge.succeeded", charge)

    def _fail(self, intent: Obj, charge: Obj, code: str, decline: str | None, message: str | None) -> Obj:
        method = self.store.objects[charge["payment_method"]]
        message = message or {
            "insufficient_funds": "The customer's account has insufficient funds to cover this payment.",
            "expired_card": "Your card has expired.",
            "incorrect_number": "Your card number is incorrect.",
            "authentication_required": "Your card was declined. This transaction requires authentication.",
        }.get(code, f"The payment failed: {code}.")
        error: Obj = {
            "type": "card_error",
            "code": code,
            "message": message,
            "charge": charge["id"],
            "payment_method": copy.deepcopy(method),
            "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
        }
        if decline:
            error["decline_code"] = decline
        reason: str | None = decline or code
        if method["type"] == "sepa_debit":
            # As Stripe reports a failed or returned SEPA debit: the PaymentIntent's error is a
            # generic decline (empty code, decline_code generic_decline); the bank's reason is the
            # Charge's failure_code only.
            message = SEPA_FAILURES.get(code, message)
            error.update(code="", decline_code="generic_decline", message=message)
            error.pop("doc_url", None)
            reason = None
        intent.update(status="requires_payment_method", last_payment_error=error, processing=None, amount_received=0)
        charge.update(
            status="failed",
            paid=False,
            failure_code=decline or code,
            failure_message=message,
            outcome={
                "network_status": "declined_by_network",
                "reason": reason,
                "risk_level": "normal",
                "seller_message": message,
                "type": "issuer_declined",
            },
        )
        self.store.emit("payment_intent.payment_failed", intent)
        self.store.emit("charge.failed", charge)
        return error

    # -- reads and cancel
    def retrieve(self, intent_id: str) -> Obj:
        return self.store.get(intent_id, "payment_intent")

    def list(self, params: Obj) -> Obj:
        """`GET /v1/payment_intents`: newest first, paginated, `created` and `customer` filters."""
        customer = _str(params, "customer")
        found = [
            o
            for o in self.store.objects.values()
            if o.get("object") == "payment_intent" and (customer is None or o.get("customer") == customer)
        ]
        return list_page(self.store, found, params, "/v1/payment_intents")

    def search(self, query: str) -> Obj:
        clauses = _parse_query(query)
        found = [o for o in self.store.objects.values() if o.get("object") == "payment_intent" and all(c(o) for c in clauses)]
        found.sort(key=lambda o: o["created"], reverse=True)
        return {
            "object": "search_result",
            "data": found,
            "has_more": False,
            "next_page": None,
            "url": "/v1/payment_intents/search",
        }

    def cancel(self, intent_id: str, params: Obj) -> Obj:
        intent = self.retrieve(intent_id)
        if intent["status"] not in CANCELLABLE:
            raise StripeApiError(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a PaymentIntent "
                f"with one of the following statuses may be canceled: {', '.join(CANCELLABLE)}.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(intent),
            )
        reason = _str(params, "cancellation_reason")
        intent.update(status="canceled", canceled_at=self.store.now(), cancellation_reason=reason, next_action=None)
        self.store.emit("payment_intent.canceled", intent)
        return intent

    # -- settlement over time
    def settle(self, intent_id: str, succeeded: bool | None, decline_code: str | None) -> Obj:
        with self.store.lock:
            intent = self.retrieve(intent_id)
            if intent["status"] != "processing":
                raise ValueError(f"{intent_id} is {intent['status']}, not processing")
            charge = self.store.objects[intent["latest_charge"]]
            private = self.store.private[intent["payment_method"]]
            if succeeded is None:
                succeeded = private["behaviour"] != "sepa_fail"
            if succeeded:
                self._succeed(intent, charge)
            else:
                self._fail(intent, charge, decline_code or private["failure_code"], None, None)
            return intent

    def _settle_if_processing(self, intent_id: str, succeeded: bool) -> None:
        if self.store.objects[intent_id]["status"] == "processing":
            self.settle(intent_id, succeeded, None)

    def reverse(self, intent_id: str, code: str | None) -> Obj:
        """A succeeded bank debit returned afterwards (a late failure): the PaymentIntent goes back
        to requires_payment_method and its charge fails, as Stripe reports it."""
        with self.store.lock:
            intent = self.retrieve(intent_id)
            if intent["status"] != "succeeded":
                raise ValueError(f"{intent_id} is {intent['status']}, not succeeded")
            charge = self.store.objects[intent["latest_charge"]]
            self._fail(intent, charge, code or self.store.private[intent["payment_method"]]["failure_code"], None, None)
            return intent

    def _reverse_if_succeeded(self, intent_id: str) -> None:
        if self.store.objects[intent_id]["status"] == "succeeded":
            self.reverse(intent_id, None)


def _parse_query(query: str) -> list[Callable[[Obj], bool]]:
    """Stripe's search language, the part we use: `field:'value'` clauses joined by AND, with
    `metadata['key']` fields and `status`, `currency`, `customer`, `amount`."""
    clauses: list[Callable[[Obj], bool]] = []
    for clause in re.split(r"\s+AND\s+", query.strip()):
        match = re.fullmatch(
            r"""(metadata\[['"]([^'"]+)['"]\]|status|currency|customer|amount):\s*['"]?([^'"]*)['"]?""", clause.strip()
        )
        if not match:
            raise StripeApiError(400, f"Invalid search query: {clause!r}", code="search_query_invalid", param="query")
        name, key, value = match.group(1), match.group(2), match.group(3)
        clauses.append(_metadata_is(key, value) if key is not None else _field_is(name, value))
    return clauses


def _metadata_is(key: str, value: str) -> Callable[[Obj], bool]:
    return lambda obj: (obj.get("metadata") or {}).get(key) == value


def _field_is(name: str, value: str) -> Callable[[Obj], bool]:
    return lambda obj: str(obj.get(name)) == value


class Refunds:
    def __init__(self, store: Store, settlement_delay: int | None) -> None:
        self.store, self.settlement_delay = store, settlement_delay

    def create(self, params: Obj) -> Obj:
        intent_id, charge_id = _str(params, "payment_intent"), _str(params, "charge")
        if intent_id:
            intent = self.store.get(intent_id, "payment_intent", "payment_intent")
            charge_id = intent["latest_charge"]
        if not charge_id:
            raise StripeApiError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        charge = self.store.get(charge_id, "charge", "charge")
        if charge["status"] != "succeeded":
            raise StripeApiError(
                400, f"This charge is {charge['status']} and cannot be refunded.", code="charge_not_refundable", param="charge"
            )
        open_dispute = [
            d
            for d in self.store.objects.values()
            if d.get("object") == "dispute" and d["charge"] == charge_id and d["status"] != "won"
        ]
        if open_dispute:
            raise StripeApiError(400, f"Charge {charge_id} has been charged back; cannot issue a refund.", code="charge_disputed")
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            raise StripeApiError(400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded")
        amount = _int(params, "amount") or left
        if amount > left:
            raise StripeApiError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        reason = _str(params, "reason")
        if reason and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise StripeApiError(400, f"Invalid reason: {reason}", code="parameter_invalid_string", param="reason")
        sepa = charge["payment_method_details"]["type"] == "sepa_debit"
        refund = _base(self.store, "re", "refund") | {
            "amount": amount,
            "balance_transaction": None,
            "charge": charge_id,
            "currency": charge["currency"],
            "description": None,
            "destination_details": None,
            "failure_reason": None,
            "metadata": _metadata(params),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "status": "pending" if sepa else "succeeded",
        }
        self.store.add(refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.store.emit("charge.refunded", charge)
        if sepa:
            self.store.schedule(self.settlement_delay, lambda: self._settle_if_pending(refund["id"]))
        return refund

    def retrieve(self, refund_id: str) -> Obj:
        return self.store.get(refund_id, "refund")

    def list(self, params: Obj) -> Obj:
        intent_id, charge_id = _str(params, "payment_intent"), _str(params, "charge")
        found = [
            r
            for r in self.store.objects.values()
            if r.get("object") == "refund"
            and (intent_id is None or r["payment_intent"] == intent_id)
            and (charge_id is None or r["charge"] == charge_id)
        ]
        return list_page(self.store, found, params, "/v1/refunds")

    def settle(self, refund_id: str) -> Obj:
        with self.store.lock:
            refund = self.retrieve(refund_id)
            if refund["status"] != "pending":
                raise ValueError(f"{refund_id} is {refund['status']}, not pending")
            refund["status"] = "succeeded"
            self.store.emit("charge.refund.updated", refund, {"status": "pending"})
            return refund

    def _settle_if_pending(self, refund_id: str) -> None:
        if self.store.objects[refund_id]["status"] == "pending":
            self.settle(refund_id)

    def fail(self, refund_id: str, reason: str) -> Obj:
        """A refund that fails after Stripe accepted it (the card was closed meanwhile...): the
        money comes back to the merchant's balance, `charge.refund.updated` says so."""
        with self.store.lock:
            refund = self.retrieve(refund_id)
            if refund["status"] in ("failed", "canceled"):
                raise ValueError(f"{refund_id} is already {refund['status']}")
            previous = {"status": refund["status"], "failure_reason": None}
            # The balance transaction that gives the money back (expandable: its `created` dates it).
            back = _base(self.store, "txn", "balance_transaction") | {
                "amount": refund["amount"],
                "currency": refund["currency"],
                "type": "refund_failure",
                "source": refund_id,
            }
            self.store.objects[back["id"]] = back
            refund.update(status="failed", failure_reason=reason, failure_balance_transaction=back["id"])
            charge = self.store.objects[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            self.store.emit("charge.refund.updated", refund, previous)
            return refund


class Disputes:
    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, intent_id: str, reason: str, amount: int | None, evidence_days: int) -> Obj:
        """A chargeback on a succeeded payment. Card: `needs_response` with an evidence deadline;
        SEPA debit: final, `lost` at once (no evidence, no appeal), created then closed."""
        with self.store.lock:
            intent = self.store.get(intent_id, "payment_intent")
            charge = self.store.objects.get(intent["latest_charge"] or "")
            if charge is None or charge["status"] != "succeeded":
                raise ValueError(f"{intent_id} has no succeeded charge to dispute")
            sepa = charge["payment_method_details"]["type"] == "sepa_debit"
            dispute = _base(self.store, "dp", "dispute") | {
                "amount": amount or charge["amount"],
                "balance_transactions": [],
                "charge": charge["id"],
                "currency": charge["currency"],
                "evidence": {"customer_name": None, "uncategorized_text": None},
                "evidence_details": {
                    "due_by": None if sepa else self.store.now() + evidence_days * DAY,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "metadata": {},
                "network_reason_code": None,
                "payment_intent": intent_id,
                "payment_method_details": {"type": charge["payment_method_details"]["type"]},
                "reason": reason,
                "status": "lost" if sepa else "needs_response",
            }
            self.store.add(dispute)
            charge["disputed"] = True
            self.store.emit("charge.dispute.created", dispute)
            if sepa:
                self.store.emit("charge.dispute.closed", dispute)
            return dispute

    def update(self, dispute_id: str, status: str) -> Obj:
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"unknown dispute status {status!r}")
        with self.store.lock:
            dispute = self.retrieve(dispute_id)
            if dispute["status"] in ("won", "lost"):
                raise ValueError(f"{dispute_id} is closed ({dispute['status']})")
            previous = {"status": dispute["status"]}
            dispute["status"] = status
            if status == "under_review":
                dispute["evidence_details"].update(has_evidence=True, submission_count=1)
            self.store.emit("charge.dispute.closed" if status in ("won", "lost") else "charge.dispute.updated", dispute, previous)
            return dispute

    def retrieve(self, dispute_id: str) -> Obj:
        return self.store.get(dispute_id, "dispute")

    def list(self, params: Obj) -> Obj:
        intent_id, charge_id = _str(params, "payment_intent"), _str(params, "charge")
        found = [
            d
            for d in self.store.objects.values()
            if d.get("object") == "dispute"
            and (intent_id is None or d["payment_intent"] == intent_id)
            and (charge_id is None or d["charge"] == charge_id)
        ]
        if "limit" not in params and (intent_id or charge_id):
            params = {**params, "limit": "100"}  # one payment's disputes: all of them, as before
        return list_page(self.store, found, params, "/v1/disputes")


# ------------------------------------------------------------------------------------- the server
@dataclass
class _Fault:
    status: int
    path: str
    times: int
    after_processing: bool
    delay: float


@dataclass
class _Stored:
    method: str
    path: str
    params: Obj
    status: int
    body: Obj
    at: int


KEY_MEMORY = DAY  # Stripe prunes idempotency keys after 24 hours


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # no line per request on stderr
        pass


Route = Callable[[Obj, list[str]], Obj]


class StripeStandIn:
    """The stand-in: a threaded HTTP server speaking Stripe's v1 API, plus the test helpers."""

    def __init__(
        self,
        port: int = 0,
        *,
        api_key: str | None = None,
        start_time: int | None = None,
        settlement_delay: int | None = 3 * DAY,
        signing_clock: Callable[[], float] = time.time,
    ) -> None:
        """`api_key`: the one key accepted (default: any `sk_test_…`). `start_time`: freeze the
        clock at that unix time (default: follow the wall clock; `advance` moves it either way).
        `settlement_delay`: seconds after which processing SEPA debits and pending SEPA refunds
        settle by themselves (None: only by the helpers)."""
        self.port, self.api_key = port, api_key
        self.clock = Clock(start_time)
        self.store = Store(self.clock, Events(self.clock, signing_clock))
        self.customers = Customers(self.store)
        self.payment_methods = PaymentMethods(self.store)
        self.mandates = Mandates(self.store)
        self.setup_intents = SetupIntents(self.store, self.payment_methods, self.mandates)
        self.payment_intents = PaymentIntents(self.store, self.payment_methods, self.mandates, settlement_delay)
        self.refunds = Refunds(self.store, settlement_delay)
        self.disputes = Disputes(self.store)
        self.requests: list[tuple[str, str, Obj, dict[str, str]]] = []  # (method, path, params, headers) as received
        self._idempotent: dict[tuple[str, str], _Stored] = {}
        self._faults: list[_Fault] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("POST", re.compile(r"/v1/customers"), lambda p, a: self.customers.create(p)),
            ("GET", re.compile(r"/v1/customers/([^/]+)"), lambda p, a: self.customers.retrieve(a[0])),
            (
                "GET",
                re.compile(r"/v1/payment_methods/([^/]+)"),
                lambda p, a: self._expanded(self.payment_methods.retrieve(a[0]), p),
            ),
            ("POST", re.compile(r"/v1/payment_methods/([^/]+)"), lambda p, a: self.payment_methods.update(a[0], p)),
            ("POST", re.compile(r"/v1/setup_intents"), lambda p, a: self.setup_intents.create(p)),
            ("GET", re.compile(r"/v1/setup_intents"), lambda p, a: self.setup_intents.list(p)),
            ("GET", re.compile(r"/v1/setup_intents/([^/]+)"), lambda p, a: self.setup_intents.retrieve(a[0])),
            ("POST", re.compile(r"/v1/payment_intents"), lambda p, a: self.payment_intents.create(p)),
            ("GET", re.compile(r"/v1/payment_intents"), lambda p, a: self.payment_intents.list(p)),
            ("GET", re.compile(r"/v1/payment_intents/search"), lambda p, a: self.payment_intents.search(str(p.get("query", "")))),
            ("GET", re.compile(r"/v1/payment_intents/([^/]+)"), lambda p, a: self.payment_intents.retrieve(a[0])),
            ("POST", re.compile(r"/v1/payment_intents/([^/]+)/cancel"), lambda p, a: self.payment_intents.cancel(a[0], p)),
            ("GET", re.compile(r"/v1/charges/([^/]+)"), lambda p, a: self.store.get(a[0], "charge")),
            ("POST", re.compile(r"/v1/refunds"), lambda p, a: self.refunds.create(p)),
            ("GET", re.compile(r"/v1/refunds"), lambda p, a: self.refunds.list(p)),
            ("GET", re.compile(r"/v1/refunds/([^/]+)"), lambda p, a: self.refunds.retrieve(a[0])),
            ("GET", re.compile(r"/v1/disputes"), lambda p, a: self.disputes.list(p)),
            ("GET", re.compile(r"/v1/disputes/([^/]+)"), lambda p, a: self.disputes.retrieve(a[0])),
            ("GET", re.compile(r"/v1/mandates/([^/]+)"), lambda p, a: self.mandates.retrieve(a[0])),
            ("GET", re.compile(r"/v1/events"), lambda p, a: self._list_events(p)),
            ("GET", re.compile(r"/v1/events/([^/]+)"), lambda p, a: self._event(a[0])),
        ]

    # ---------------------------------------------------------------------------- lifecycle
    def start(self) -> StripeStandIn:
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.port
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stripe-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.events.close()

    def __enter__(self) -> StripeStandIn:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------------------- HTTP
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.path.startswith("/_standin/"):
            return self._control(request)
        params = parse_form(
            parse_qsl(
                request.get_data(as_text=True) if request.method == "POST" else request.query_string.decode(),
                keep_blank_values=True,
            )
        )
        self.requests.append((request.method, request.path, params, dict(request.headers)))
        key = self._authorised(request)
        if key is None:
            given = request.headers.get("Authorization", "").partition(" ")[2]
            shown = f"{given[:8]}****{given[-4:]}" if len(given) > 12 else given
            return self._json(StripeApiError(401, f"Invalid API Key provided: {shown}").body(), 401)
        fault = self._fault(request.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and not fault.after_processing and fault.status:
            return self._json(
                {"error": {"type": "api_error", "message": "An unknown error occurred (stand-in fault)."}}, fault.status
            )
        idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        with self.store.lock:
            self.store.run_due()
            if idempotency_key:
                stored = self._idempotent.get((key, idempotency_key))
                if stored is not None and stored.at + KEY_MEMORY <= self.store.now():
                    stored = None  # forgotten after 24 h (of the stand-in's clock): a new request
                if stored is not None:
                    if (stored.method, stored.path, stored.params) != (request.method, request.path, params):
                        error = StripeApiError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they were first used "
                            f"with. Try using a key other than '{idempotency_key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                        return self._json(error.body(), 400)
                    return self._json(stored.body, stored.status, replayed=True)
            self.store.request.info = {"id": new_id("req", 14), "idempotency_key": idempotency_key}
            try:
                status, body = 200, copy.deepcopy(self._route(request.method, request.path, params))
                keep = True
            except StripeApiError as error:
                status, body, keep = error.status, copy.deepcopy(error.body()), error.stored
            finally:
                self.store.request.info = None
            if idempotency_key and keep:
                self._idempotent[(key, idempotency_key)] = _Stored(
                    request.method, request.path, params, status, body, self.store.now()
                )
        if fault is not None and fault.after_processing and fault.status:
            return self._json(
                {"error": {"type": "api_error", "message": "An unknown error occurred (stand-in fault)."}}, fault.status
            )
        return self._json(body, status)

    def _authorised(self, request: Request) -> str | None:
        """The secret key of `Authorization: Bearer <key>` (the libraries) or `Basic <key:>` (curl -u)."""
        header = request.headers.get("Authorization", "")
        key = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        if header.startswith("Basic "):
            try:
                key = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = None
        if key is None:
            return None
        if self.api_key is not None:
            return key if hmac.compare_digest(key, self.api_key) else None
        return key if key.startswith("sk_test_") and len(key) > len("sk_test_") else None

    def _route(self, method: str, path: str, params: Obj) -> Obj:
        for verb, pattern, route in self._routes:
            match = pattern.fullmatch(path)
            if match and verb == method:
                return route(params, list(match.groups()))
        raise StripeApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/.",
        )

    def _fault(self, path: str) -> _Fault | None:
        with self.store.lock:
            for fault in self._faults:
                if path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _json(body: Obj, status: int = 200, replayed: bool = False) -> Response:
        response = Response(json.dumps(body, indent=2), status=status, content_type="application/json")
        response.headers["Request-Id"] = new_id("req", 14)
        response.headers["Stripe-Version"] = API_VERSION
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def _expanded(self, obj: Obj, params: Obj) -> Obj:
        """Stripe's `expand[]=field`: an id field answered as the object it names (top level only)."""
        fields = params.get("expand")
        names = fields if isinstance(fields, list) else [fields] if isinstance(fields, str) else []
        out = dict(obj)
        for name in names:
            value = out.get(str(name))
            if isinstance(value, str) and value in self.store.objects:
                out[str(name)] = self.store.objects[value]
        return out

    def _event(self, event_id: str) -> Obj:
        event = self.store.events.by_id.get(event_id)
        if event is None:
            raise missing("event", event_id)
        return event

    def _list_events(self, params: Obj) -> Obj:
        kind = _str(params, "type")
        limit = _int(params, "limit") or 10
        found = [e for e in reversed(self.store.events.log) if kind is None or e["type"] == kind]
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": "/v1/events"}

    # ---------------------------------------------------------------------------- control API (CLI)
    def _control(self, request: Request) -> Response:
        """The helpers as unauthenticated JSON calls, for a developer running the CLI."""
        body: Obj = request.get_json(silent=True) or {}
        actions: list[tuple[str, str, Callable[[list[str]], Any]]] = [
            ("GET", r"events", lambda a: {"data": self.events}),
            ("POST", r"events/([^/]+)/deliver", lambda a: {"status": self.deliver(a[0])}),
            ("POST", r"clock/advance", lambda a: {"now": self.advance(seconds=int(body.get("seconds", 0)))}),
            (
                "POST",
                r"payment_methods",
                lambda a: self.get(self.add_payment_method(body.get("customer"), **_kw(body, "customer"))),
            ),
            (
                "POST",
                r"payment_methods/([^/]+)/automatically_update",
                lambda a: self.automatically_update(a[0], str(body["last4"])),
            ),
            ("POST", r"setup_intents/([^/]+)/confirm", lambda a: self.confirm_setup_intent(a[0], **body)),
            (
                "POST",
                r"payment_intents/([^/]+)/settle",
                lambda a: self.settle(a[0], body.get("succeeded"), body.get("decline_code")),
            ),
            ("POST", r"payment_intents/([^/]+)/reverse", lambda a: self.reverse(a[0], body.get("code"))),
            ("POST", r"payment_intents/([^/]+)/dispute", lambda a: self.get(self.open_dispute(a[0], **body))),
            ("POST", r"disputes/([^/]+)", lambda a: self.update_dispute(a[0], str(body["status"]))),
            (
                "POST",
                r"refunds/([^/]+)/fail",
                lambda a: self.fail_refund(a[0], str(body.get("reason", "expired_or_canceled_card"))),
            ),
            ("POST", r"refunds/([^/]+)/settle", lambda a: self.settle_refund(a[0])),
            ("POST", r"mandates/([^/]+)/deactivate", lambda a: self.deactivate_mandate(a[0])),
        ]
        path = request.path[len("/_standin/") :].strip("/")
        for method, pattern, action in actions:
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                try:
                    return self._json(action(list(match.groups())))
                except (ValueError, KeyError, TypeError, StripeApiError) as failure:
                    return self._json({"error": {"message": str(failure)}}, 400)
        return self._json({"error": {"message": f"unknown stand-in control {request.method} {request.path}"}}, 404)

    # ---------------------------------------------------------------------------- test helpers
    def get(self, object_id: str) -> Obj:
        """Any object by id, as it is now (a copy)."""
        with self.store.lock:
            obj = self.store.objects.get(object_id)
            if obj is None:
                raise KeyError(object_id)
            return copy.deepcopy(obj)

    def add_customer(self, *, email: str | None = None, name: str | None = None, metadata: dict[str, str] | None = None) -> str:
        with self.store.lock:
            params: Obj = {"email": email, "name": name, "metadata": metadata or {}}
            return str(self.customers.create({k: v for k, v in params.items() if v is not None})["id"])

    def add_payment_method(
        self,
        customer: str | None,
        type: str = "card",
        behaviour: str | None = None,
        last4: str | None = None,
        *,
        mandate: bool = True,
        **details: Any,
    ) -> str:
        """A payment method attached to `customer` (None: a bare one), behaving as `behaviour`
        (see the module's docstring). A sepa_debit one gets an active Mandate unless mandate=False.
        `details`: brand, country, name, email, failure_code (a SEPA failure's code)."""
        with self.store.lock:
            method = self.payment_methods.create(customer, type, behaviour, last4, **details)
            if type == "sepa_debit" and mandate:
                self.mandates.create(method)
            return str(method["id"])

    def mandate_of(self, payment_method_id: str) -> str | None:
        with self.store.lock:
            mandate = self.mandates.for_method(payment_method_id)
            return str(mandate["id"]) if mandate else None

    def confirm_setup_intent(
        self, setup_intent_id: str, type: str = "card", behaviour: str | None = None, last4: str | None = None, **details: Any
    ) -> Obj:
        """The customer completes the SetupIntent in the browser (Stripe.js): a new payment method
        of `type` attached to its customer, status `succeeded`; sepa_debit adds a Mandate."""
        return copy.deepcopy(self.setup_intents.confirm(setup_intent_id, type, behaviour, last4, **details))

    def settle(self, payment_intent_id: str, succeeded: bool | None = True, decline_code: str | None = None) -> Obj:
        """A processing (SEPA) payment settles: succeeded, or failed with `decline_code` (default:
        its method's failure_code). succeeded=None follows the method's behaviour."""
        return copy.deepcopy(self.payment_intents.settle(payment_intent_id, succeeded, decline_code))

    def reverse(self, payment_intent_id: str, code: str | None = "insufficient_funds") -> Obj:
        return copy.deepcopy(self.payment_intents.reverse(payment_intent_id, code))

    def open_dispute(
        self, payment_intent_id: str, reason: str = "fraudulent", amount: int | None = None, evidence_days: int = 7
    ) -> str:
        return str(self.disputes.open(payment_intent_id, reason, amount, evidence_days)["id"])

    def update_dispute(self, dispute_id: str, status: str) -> Obj:
        """Move a card dispute: under_review (updated), won or lost (closed)."""
        return copy.deepcopy(self.disputes.update(dispute_id, status))

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> Obj:
        return copy.deepcopy(self.refunds.fail(refund_id, reason))

    def settle_refund(self, refund_id: str) -> Obj:
        return copy.deepcopy(self.refunds.settle(refund_id))

    def deactivate_mandate(self, mandate_id: str) -> Obj:
        """The customer's bank cancels the mandate: status inactive, `mandate.updated`."""
        return copy.deepcopy(self.mandates.deactivate(mandate_id))

    def automatically_update(
        self, payment_method_id: str, last4: str, exp_month: int | None = None, exp_year: int | None = None
    ) -> Obj:
        """The card network replaced the card: new last4, `payment_method.automatically_updated`."""
        return copy.deepcopy(self.payment_methods.automatically_update(payment_method_id, last4, exp_month, exp_year))

    def fail_next(
        self, status: int = 500, *, path: str = "/v1/", times: int = 1, after_processing: bool = False, delay: float = 0.0
    ) -> None:
        """The next `times` requests under `path` answer `status` with an api_error: before
        being processed, or after (the request took effect, its answer is lost). `delay` seconds
        first (status 0: only slow)."""
        with self.store.lock:
            self._faults.append(_Fault(status, path, times, after_processing, delay))

    # time
    @property
    def now(self) -> int:
        return self.clock.now()

    @now.setter
    def now(self, instant: int) -> None:
        with self.store.lock:
            self.clock.set(instant)
            self.store.run_due()

    def advance(self, seconds: int = 0, *, minutes: int = 0, hours: int = 0, days: int = 0) -> int:
        """Move the clock on, and do what falls due meanwhile (settlements, reversals)."""
        with self.store.lock:
            self.clock.advance(seconds + 60 * minutes + 3600 * hours + DAY * days)
            self.store.run_due()
            return self.clock.now()

    # events
    @property
    def events(self) -> list[Obj]:
        with self.store.lock:
            return copy.deepcopy(self.store.events.log)

    def events_of(self, *types: str) -> list[Obj]:
        return [e for e in self.events if e["type"] in types]

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.store.events.deliveries)

    def forward_to(self, url: str, secret: str) -> None:
        """POST every event from now on to `url`, signed with `secret` (as `stripe listen
        --forward-to` or a webhook endpoint)."""
        self.store.events.target = _Target(url, secret)

    def deliver(self, event_id: str, *, timestamp: int | None = None, secret: str | None = None) -> int:
        """Send one event (again) now; returns the target's status."""
        return self.store.events.deliver(event_id, timestamp=timestamp, secret=secret)

    def pause_delivery(self) -> None:
        """Keep new events pending (in `pending_events`) instead of sending them."""
        self.store.events.paused = True

    @property
    def pending_events(self) -> list[str]:
        return list(self.store.events.pending)

    def deliver_pending(self, order: Sequence[str] | None = None, *, reverse: bool = False) -> list[int]:
        """Send the pending events now, in `order` (ids), or reversed, or as they came; delivery
        stays paused. Returns the statuses."""
        events = self.store.events
        ids = list(order) if order is not None else list(reversed(events.pending) if reverse else events.pending)
        events.pending = [e for e in events.pending if e not in ids]
        return [events.deliver(event_id) for event_id in ids]

    def resume_delivery(self) -> None:
        events = self.store.events
        events.paused = False
        for event_id in events.pending:
            events.send_later(event_id)
        events.pending = []

    def withhold(self, *types: str) -> None:
        """Lose every event of these types from now on (recorded, never sent; `withheld_events`)."""
        self.store.events.withheld_types.update(types)

    def stop_withholding(self) -> None:
        self.store.events.withheld_types.clear()

    @property
    def withheld_events(self) -> list[str]:
        return list(self.store.events.withheld)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the events queued for sending are sent."""
        return self.store.events.flush(timeout)


def _kw(body: Obj, *drop: str) -> Obj:
    return {k: v for k, v in body.items() if k not in drop}


# ----------------------------------------------------------------------------------------- the CLI
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.stripe_standin", description="A local stand-in for Stripe's API.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default=None, help="the one secret key accepted (default: any sk_test_…)")
    parser.add_argument("--forward-to", default=None, help="webhook target, e.g. http://127.0.0.1:3000/gateway/stripe/events")
    parser.add_argument("--webhook-secret", default="whsec_local", help="signing secret of the webhook target")
    parser.add_argument(
        "--settle-after", type=int, default=180, help="seconds until a SEPA debit settles (Stripe test mode: minutes)"
    )
    args = parser.parse_args(argv)
    standin = StripeStandIn(args.port, api_key=args.api_key, settlement_delay=args.settle_after)
    standin.payment_intents.reversal_delay = args.settle_after
    if args.forward_to:
        standin.forward_to(args.forward_to, args.webhook_secret)
    standin.start()
    print(
        f"Stripe stand-in on {standin.url} (STRIPE_API_BASE={standin.url}); events -> {args.forward_to or 'nowhere'}", flush=True
    )
    try:
        while True:  # the clock follows the wall clock: settle what falls due
            time.sleep(1)
            standin.store.run_due()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
