"""The dev-only endpoints under /_local (the contract's "Local runtime" section). Bodies are
validated by pydantic like the API's; errors use the API's error object."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from billing.adapters.simulated_gateway import NoSuchPayment, NotPossible
from billing.domain.disputes import DisputeReason
from billing.domain.money import MAX_AMOUNT
from billing.wire import TimeIn, format_time
from devtools.clock import ClockWentBack

if TYPE_CHECKING:
    from devtools.local.system import LocalSystem

Answer = tuple[int, Any]


def _error(status: int, type_: str, message: str, param: str | None = None) -> Answer:
    return status, {"error": {"type": type_, "message": message, "param": param}}


class NewMerchant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ClockChange(BaseModel):
    """Exactly one of: move the test clock forward by `advance_seconds`, or set it to `now`."""

    model_config = ConfigDict(extra="forbid")

    advance_seconds: StrictInt | StrictFloat | None = None
    now: TimeIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ClockChange:
        if (self.advance_seconds is None) == (self.now is None):
            raise ValueError('send {"advance_seconds": N} or {"now": "<RFC 3339>"}')
        return self


class ReconcileDay(BaseModel):
    """The reconciliation of one UTC day, now (as its schedule would run it)."""

    model_config = ConfigDict(extra="forbid")

    date: date


class NewDispute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charge_id: Annotated[StrictStr, StringConstraints(min_length=1, max_length=255)]
    reason: DisputeReason


class DisputeClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["won", "lost"]


class Withhold(BaseModel):
    """While `withhold`, the simulated gateway's reports are lost on their way (settlement by lookup)."""

    model_config = ConfigDict(extra="forbid")

    withhold: StrictBool


class UnrequestedPayment(BaseModel):
    """A payment this service never asked for (reconciliation tests)."""

    model_config = ConfigDict(extra="forbid")

    mandate_id: Annotated[StrictStr, StringConstraints(min_length=1, max_length=255)]
    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]  # what any payment may be (the API's bound)
    currency: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z]{3}$")]
    at: TimeIn


_CLOSE = re.compile(r"^/_local/gateway/disputes/([A-Za-z0-9_]{1,200})/close$")
_FIGURES = re.compile(r"^/_local/figures/(mch_[A-Za-z0-9]{1,64})$")


def _invalid(error: ValidationError) -> Answer:
    first = error.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    return _error(422, "validation_error", f"{param}: {message}" if param else message, param)


class LocalEndpoints:
    def __init__(self, system: LocalSystem) -> None:
        self.system = system
        self.routes: dict[tuple[str, str], Callable[[Any], Answer]] = {
            ("GET", "/_local/health"): self.health,
            ("POST", "/_local/merchants"): self.create_merchant,
            ("GET", "/_local/clock"): lambda _: (200, self._clock()),
            ("POST", "/_local/clock"): self.set_clock,
            ("POST", "/_local/tick"): lambda _: (200, system.tick()),
            ("POST", "/_local/reconcile"): self.reconcile,
            ("GET", "/_local/gateway/ledger"): lambda _: (200, {"entries": system.simulated_gateway.entries()}),
            ("POST", "/_local/gateway/ledger"): self.record_payment,
            ("POST", "/_local/gateway/disputes"): self.open_dispute,
            ("POST", "/_local/gateway/withhold"): self.withhold,
            ("GET", "/_local/emails"): lambda _: (200, {"emails": list(system.emails.sent)}),
            ("GET", "/_local/queues"): lambda _: (200, system.queues()),
            ("GET", "/_local/stats"): lambda _: (200, system.stats.snapshot()),
            ("POST", "/_local/stats/reset"): self.reset_stats,
        }

    def __call__(self, method: str, path: str, body: Any) -> Answer:
        route = self.routes.get((method, path))
        closing = _CLOSE.match(path) if method == "POST" else None
        if closing is not None:
            return self.close_dispute(closing.group(1), body)
        figures = _FIGURES.match(path) if method == "GET" else None
        if figures is not None:
            return self.figures(figures.group(1))
        if route is None:
            return _error(404, "not_found", "No such local endpoint.")
        return route(body)

    def _clock(self) -> dict[str, Any]:
        return {"now": format_time(self.system.clock.now()), "test_clock": self.system.clock.is_test_clock}

    def health(self, _: Any) -> Answer:
        if not self.system.ready:
            return 503, {"status": "starting"}
        return 200, {"status": "ok", "api": self.system.base_url, **self._clock()}

    def create_merchant(self, body: Any) -> Answer:
        try:
            request = NewMerchant.model_validate(body)
        except ValidationError:
            return _error(422, "validation_error", "name: 1..200 characters", "name")
        created = self.system.merchants.create(request.name, self.system.clock.now())
        # The merchant's owner in the emulated user pool: signs in to /dashboard with this password.
        email = f"owner@{created.merchant_id}.local"
        _, password = self.system.dashboard_users().create_owner(created.merchant_id, email)
        return 201, {
            "merchant_id": created.merchant_id,
            "api_key": created.api_key,
            "dashboard_url": f"{self.system.base_url}/dashboard/sign-in",
            "owner_email": email,
            "owner_password": password,
        }

    def set_clock(self, body: Any) -> Answer:
        try:
            change = ClockChange.model_validate(body)
        except ValidationError as error:
            first = error.errors()[0]
            param = str(first["loc"][0]) if first["loc"] else None  # the field, not pydantic's union branch
            message = str(first["msg"]).removeprefix("Value error, ")
            return _error(400, "invalid_request", f"{param}: {message}" if param else message, param)
        try:
            if change.advance_seconds is not None:
                self.system.clock.advance(float(change.advance_seconds))
            else:
                assert change.now is not None
                self.system.clock.set(change.now)
        except ClockWentBack as error:
            return _error(409, "invalid_state", str(error))
        return 200, self._clock()

    def reconcile(self, body: Any) -> Answer:
        """Reconcile a day now: every merchant's report stored, its event published."""
        try:
            request = ReconcileDay.model_validate(body)
        except ValidationError as error:
            return _invalid(error)
        with self.system.engine:
            summary = self.system.reconcile(request.date)
            self.system.relay_events()
            self.system.deliver_webhooks()
        return 200, summary

    def figures(self, merchant_id: str) -> Answer:
        """The dashboard overview's figures of a merchant at the local clock's now, as kept from
        the events so far (what the dashboard will show)."""
        keeper = self.system.figures.deps.keeper
        with self.system.engine:  # after the step under way has kept its events
            found = keeper.overview(merchant_id, self.system.clock.now())
        return 200, {"now": format_time(self.system.clock.now()), "currencies": [o.as_dict() for o in found]}

    def reset_stats(self, _: Any) -> Answer:
        self.system.stats.reset()
        return 200, self.system.stats.snapshot()

    # ------------------------------------------------------------------ the simulated gateway's own tools
    def open_dispute(self, body: Any) -> Answer:
        try:
            request = NewDispute.model_validate(body)
        except ValidationError as error:
            return _invalid(error)
        return self._at_gateway(lambda: self.system.simulated_gateway.open_dispute(request.charge_id, request.reason), 201)

    def close_dispute(self, reference: str, body: Any) -> Answer:
        try:
            request = DisputeClose.model_validate(body)
        except ValidationError as error:
            return _invalid(error)
        return self._at_gateway(lambda: self.system.simulated_gateway.close_dispute(reference, request.status), 200)

    def record_payment(self, body: Any) -> Answer:
        try:
            request = UnrequestedPayment.model_validate(body)
        except ValidationError as error:
            return _invalid(error)
        gateway = self.system.simulated_gateway
        return self._at_gateway(
            lambda: gateway.record_unrequested(request.mandate_id, request.amount, request.currency, request.at), 201
        )

    def _at_gateway(self, change: Callable[[], dict[str, Any]], status: int) -> Answer:
        """One change at the simulated gateway, reported at once through the same path as the rest."""
        try:
            with self.system.engine:  # not in the middle of a tick
                answer = change()
                self.system.report_gateway_changes()
                return status, answer
        except NoSuchPayment as error:
            return _error(404, "not_found", str(error))
        except NotPossible as error:
            return _error(409, "invalid_state", str(error))

    def withhold(self, body: Any) -> Answer:
        try:
            request = Withhold.model_validate(body)
        except ValidationError as error:
            return _invalid(error)
        with self.system.engine:
            self.system.withhold_gateway_events = request.withhold
        return 200, {"withhold": request.withhold}
