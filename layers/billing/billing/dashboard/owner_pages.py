"""The owner's pages of the account: plans (listed, created, archived), API keys (listed by their
last four characters, created with the secret shown once, revoked) and exports (listed, requested
for a month, a ready one linked by a fresh presigned link as the API gives).

Every page reads through `routes.signed_in()` (an owner or a viewer; a viewer sees no form), every
POST goes through `routes.act()` (same origin, the session's CSRF token, an owner: a viewer is
403); all of it through the API's use cases in the signed-in user's merchant, so another
merchant's plan, key or export is 404. What a form got wrong is its page again with the reason
(422), what the object's state refuses is 409: never a 500.

A new API key's secret is on the POST's response only (no-store, as every dashboard page): never
on the list, in a redirect's URL, in the log or in the idempotency record.

Archiving a plan, revoking a key and removing a dashboard user (the users list itself is in
`routes.py`) go through a confirmation page (`confirm.py`); a creation form
(plan, key, export) sent twice makes one object (`once.py`): the second send lands on the same
result, a key's page then saying it was made already, by its last four characters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Literal, get_args

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ..domain.errors import InvalidRequest, InvalidState, ValidationFailed
from ..domain.exports import ExportKind
from ..domain.lifecycles import ExportStatus
from ..domain.money import CURRENCY_EXPONENT, MAX_AMOUNT, MIN_AMOUNT, Currency
from ..domain.schedule import MAX_INTERVAL_COUNT, Interval
from ..domain.text import single_line
from ..observability import logger
from ..service.ports import PageRequest
from . import confirm, once, render, routes, views
from .mandate_pages import PAGE_SIZE, use_cases
from .routes import Session
from .texts import Lang, text

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated

CURRENCIES: tuple[str, ...] = get_args(Currency)
INTERVALS: tuple[str, ...] = get_args(Interval)
KINDS: tuple[str, ...] = get_args(ExportKind)
EXPORT_STATUSES: tuple[str, ...] = get_args(ExportStatus)
MONTH = re.compile(r"(20[0-9][0-9]|21[0-9][0-9])-(0[1-9]|1[0-2])")  # the API's ExportCreate.month
MAX_TRIAL_DAYS = 730


@dataclass(frozen=True)
class PlanForm:
    """What the plan form sends, as the use case takes it (service/commands.NewPlan)."""

    name: str
    amount: int
    currency: Currency
    interval: Interval
    interval_count: int = 1
    trial_days: int = 0
    tax_rate_id: str | None = None
    total_cycles: int | None = None
    retry_schedule_days: tuple[int, ...] = (1, 3, 7)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportForm:
    """What the export form sends, as the use case takes it (service/commands.NewExport)."""

    kind: ExportKind
    month: str
    format: Literal["csv"] = "csv"


def _count(value: int, lang: Lang) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=views.LOCALES[lang])


def _whole(entered: str, least: int, most: int) -> int:
    entered = entered.strip()
    if not (entered.isascii() and entered.isdigit()) or len(entered) > 6 or not least <= int(entered) <= most:
        raise ValueError(entered)
    return int(entered)


# ----------------------------------------------------------------------------- plans


def plans_page(
    session: Session, status: int = 200, error: str = "", notice: str = "", entered: dict[str, str] | None = None
) -> Response[str]:
    lang, api, merchant = routes.lang(), use_cases(), session.user.merchant_id
    cursor = routes.query("cursor", 2048)
    try:
        result = api.plans.page(merchant, PageRequest(PAGE_SIZE, cursor or None))
    except (InvalidRequest, ValidationFailed) as refused:
        return routes.message(400, text(lang, "lists.bad_query", message=refused.message), session=session)
    rates = [r for r in api.tax_rates.page(merchant, PageRequest(100)).data if r.active] if session.user.is_owner else []
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "amount": views.money(p.terms.amount, p.terms.currency, lang),
            "schedule": f"{p.terms.interval_count} {text(lang, f'interval.{p.terms.interval}')}",
            "trial": p.terms.trial_days,
            "status": p.status,
            "status_text": text(lang, f"plans.status.{p.status}"),
            "created": views.day(p.created_at, lang),
        }
        for p in result.data
    ]
    here = f"{routes.root()}/plans"
    page_html = render.page(
        "plans.html",
        routes.frame("plans", session),
        form_key=once.new_key(),
        rows=rows,
        currencies=CURRENCIES,
        intervals=[(i, text(lang, f"interval.{i}")) for i in INTERVALS],
        rates=[(r.id, f"{r.display_name} {r.percentage}% ({r.country})") for r in rates],
        entered={"name": "", "amount": "", "currency": "EUR", "interval": "month", "interval_count": "1", "trial_days": ""}
        | {k: v for k, v in (entered or {}).items() if v},
        **routes.pager(here, result, cursor),
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/plans")
def plans() -> Response[str]:
    session = routes.signed_in()
    return plans_page(session, notice=routes.notice("plans", ("created", "archived")))


def plan_form(fields: dict[str, str], lang: Lang) -> PlanForm:
    """The form's fields as the use case's command, with the API's limits; routes.FormRefused says why not."""
    name = fields.get("name", "").strip()
    try:
        if not 1 <= len(name) <= 200:
            raise ValueError(name)
        single_line(name)
    except ValueError:
        raise routes.FormRefused(text(lang, "plans.name_invalid")) from None
    currency = fields.get("currency", "")
    if currency not in CURRENCIES:
        raise routes.FormRefused(text(lang, "error.invalid", field="currency"))
    interval = fields.get("interval", "")
    if interval not in INTERVALS:
        raise routes.FormRefused(text(lang, "error.invalid", field="interval"))
    digits = CURRENCY_EXPONENT[currency]
    try:
        amount = views.minor_units(fields.get("amount", "")[:32], currency)
    except views.AmountRefused:
        raise routes.FormRefused(text(lang, "plans.amount_invalid", currency=currency, digits=digits)) from None
    if amount is None or not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        least, most = (views.money(a, currency, lang) for a in (MIN_AMOUNT, MAX_AMOUNT))
        raise routes.FormRefused(text(lang, "plans.amount_range", least=least, most=most))
    longest = MAX_INTERVAL_COUNT[interval]
    try:
        count = _whole(fields.get("interval_count", "1") or "1", 1, longest)
    except ValueError:
        raise routes.FormRefused(text(lang, "plans.interval_count_invalid", most=longest)) from None
    try:
        trial = _whole(fields.get("trial_days", "") or "0", 0, MAX_TRIAL_DAYS)
    except ValueError:
        raise routes.FormRefused(text(lang, "plans.trial_days_invalid")) from None
    rate = fields.get("tax_rate_id", "").strip()[:64] or None
    return PlanForm(name, amount, currency, interval, count, trial, rate)  # type: ignore[arg-type]  # checked above


@router.post("/dashboard/plans")
def create_plan() -> Response[str]:
    session, fields = routes.act()
    lang = routes.lang()
    entered = {k: fields.get(k, "")[:200] for k in ("name", "amount", "currency", "interval", "interval_count", "trial_days")}
    try:
        command = plan_form(fields, lang)
        made, _ = once.run(
            session,
            "create_plan",
            fields,
            asdict(command),
            lambda: {"plan_id": use_cases().plans.create(session.user.merchant_id, command).id},
        )
    except once.SentBefore as refused:  # the same form sent with other values, or still running
        return plans_page(session, 409, str(refused), entered=entered)
    except routes.FormRefused as refused:
        return plans_page(session, 422, str(refused), entered=entered)
    except ValidationFailed as refused:  # the use case's 422 (a tax rate not the merchant's active one)
        return plans_page(session, 422, refused.message, entered=entered)
    return routes.done(session, "plans", "created", plan_id=made["plan_id"])


@router.get("/dashboard/plans/<plan_id>/archive")
def confirm_archive(plan_id: str) -> Response[str]:
    """The archive button's page: the plan, what archiving does; its form archives."""
    session = confirm.owner()
    lang = routes.lang()
    plan = use_cases().plans.get(session.user.merchant_id, plan_id)  # another merchant's: NotFound, the 404 page
    if plan.status != "active":
        return plans_page(session, 409, text(lang, "confirm.not_now", state=text(lang, f"plans.status.{plan.status}")))
    terms = plan.terms
    summary = [
        (text(lang, "confirm.plan"), f"{plan.name} ({plan.id})"),
        (text(lang, "confirm.amount"), views.money(terms.amount, terms.currency, lang)),
        (text(lang, "plans.schedule"), f"{terms.interval_count} {text(lang, f'interval.{terms.interval}')}"),
        (text(lang, "confirm.created"), views.day(plan.created_at, lang)),
    ]
    return confirm.page(
        session,
        "plans",
        confirm.Confirmation(
            title=text(lang, "confirm.archive_title", name=plan.name),
            happens=text(lang, "confirm.archive_happens"),
            summary=summary,
            action=f"{routes.root()}/plans/{plan.id}/archive",
            button=text(lang, "confirm.archive_button"),
            back=f"{routes.root()}/plans",
        ),
    )


@router.post("/dashboard/plans/<plan_id>/archive")
def archive_plan(plan_id: str) -> Response[str]:
    session, _ = routes.act()
    try:
        use_cases().plans.archive(session.user.merchant_id, plan_id)  # another merchant's: NotFound, the 404 page
    except InvalidState as refused:
        return plans_page(session, 409, refused.message)
    return routes.done(session, "plans", "archived", plan_id=plan_id)


# ----------------------------------------------------------------------------- API keys


def keys_page(session: Session, status: int = 200, error: str = "", notice: str = "") -> Response[str]:
    lang, api = routes.lang(), use_cases()
    cursor = routes.query("cursor", 2048)
    try:
        result = api.api_keys.page(session.user.merchant_id, PageRequest(PAGE_SIZE, cursor or None))
    except (InvalidRequest, ValidationFailed) as refused:
        return routes.message(400, text(lang, "lists.bad_query", message=refused.message), session=session)
    rows = [
        {
            "id": k.id,
            "last4": f"…{k.last4}" if k.last4 else "–",
            "status": k.status,
            "status_text": text(lang, f"keys.status.{k.status}"),
            "created": views.moment(k.created_at, lang),
            "last_used": views.moment(k.last_used_at, lang) if k.last_used_at else text(lang, "keys.never"),
        }
        for k in result.data
    ]
    here = f"{routes.root()}/api-keys"
    page_html = render.page(
        "api_keys.html",
        routes.frame("api-keys", session),
        form_key=once.new_key(),
        rows=rows,
        **routes.pager(here, result, cursor),
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/api-keys")
def api_keys() -> Response[str]:
    session = routes.signed_in()
    return keys_page(session, notice=routes.notice("keys", ("revoked",)))


@router.post("/dashboard/api-keys")
def create_key() -> Response[str]:
    """The secret is in this response only (no-store); a reload of the list never shows it again."""
    session, fields = routes.act()
    secrets: list[str] = []

    def create() -> dict[str, Any]:
        made = use_cases().api_keys.create(session.user.merchant_id)
        secrets.append(made.secret)  # kept in this response only: the stored result holds no secret
        return {"key_id": made.key.id, "last4": made.key.last4 or ""}

    try:
        key, _ = once.run(session, "create_api_key", fields, {}, create)
    except InvalidState as refused:  # the most active keys a merchant may have
        return keys_page(session, 409, refused.message)
    except once.SentBefore as refused:
        return keys_page(session, 409, str(refused))
    user = session.user
    frame = routes.frame("api-keys", session)
    if not secrets:  # the same form sent again: its key is made already, its secret never shown again
        page_html = render.page("api_key_created.html", frame, secret="", key_id=key["key_id"], last4=key["last4"])
        return routes.respond(200, page_html)
    logger.info(
        "dashboard action",
        extra={"merchant_id": user.merchant_id, "user_id": user.user_id, "action": "key_created", "key_id": key["key_id"]},
    )
    page_html = render.page("api_key_created.html", frame, secret=secrets[0], key_id=key["key_id"], last4=key["last4"])
    return routes.respond(201, page_html)


@router.get("/dashboard/api-keys/<key_id>/revoke")
def confirm_revoke(key_id: str) -> Response[str]:
    """The revoke button's page: the key by its last four characters, what revoking does; its form revokes."""
    session = confirm.owner()
    lang = routes.lang()
    key = use_cases().api_keys.get(session.user.merchant_id, key_id)  # another merchant's: NotFound, the 404 page
    if key.status != "active":
        return keys_page(session, 409, text(lang, "confirm.not_now", state=text(lang, f"keys.status.{key.status}")))
    last4 = f"…{key.last4}" if key.last4 else "–"
    summary = [
        (text(lang, "confirm.key"), f"{last4} ({key.id})"),
        (text(lang, "confirm.created"), views.moment(key.created_at, lang)),
        (text(lang, "confirm.last_used"), views.moment(key.last_used_at, lang) if key.last_used_at else text(lang, "keys.never")),
    ]
    return confirm.page(
        session,
        "api-keys",
        confirm.Confirmation(
            title=text(lang, "confirm.revoke_title", last4=last4),
            happens=text(lang, "confirm.revoke_happens"),
            summary=summary,
            action=f"{routes.root()}/api-keys/{key.id}/revoke",
            button=text(lang, "confirm.revoke_button"),
            back=f"{routes.root()}/api-keys",
        ),
    )


@router.post("/dashboard/api-keys/<key_id>/revoke")
def revoke_key(key_id: str) -> Response[str]:
    session, _ = routes.act()
    try:
        use_cases().api_keys.revoke(session.user.merchant_id, key_id)  # another merchant's: NotFound, the 404 page
    except InvalidState as refused:
        return keys_page(session, 409, refused.message)
    return routes.done(session, "api-keys", "revoked", key_id=key_id)


# ----------------------------------------------------------------------------- exports


def exports_page(
    session: Session, status: int = 200, error: str = "", notice: str = "", entered: dict[str, str] | None = None
) -> Response[str]:
    lang, api = routes.lang(), use_cases()
    exports = api.exports
    cursor = routes.query("cursor", 2048)
    try:
        result = exports.page(session.user.merchant_id, PageRequest(PAGE_SIZE, cursor or None))
    except (InvalidRequest, ValidationFailed) as refused:
        return routes.message(400, text(lang, "lists.bad_query", message=refused.message), session=session)
    rows = [
        {
            "id": e.id,
            "kind": text(lang, f"exports.kind.{e.kind}"),
            "month": e.month,
            "status": e.status,
            "status_text": text(lang, f"exports.status.{e.status}"),
            "rows": "" if e.rows is None else _count(e.rows, lang),
            "created": views.moment(e.created_at, lang),
            "link": exports.link(e) or "",  # a fresh presigned link, as the API's read gives
        }
        for e in result.data
    ]
    now = routes.deps().clock.now()
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    here = f"{routes.root()}/exports"
    page_html = render.page(
        "exports.html",
        routes.frame("exports", session),
        form_key=once.new_key(),
        rows=rows,
        kinds=[(k, text(lang, f"exports.kind.{k}")) for k in KINDS],
        entered={"kind": "invoices", "month": last_month, **(entered or {})},
        **routes.pager(here, result, cursor),
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/exports")
def exports() -> Response[str]:
    session = routes.signed_in()
    return exports_page(session, notice=routes.notice("exports", ("requested",)))


@router.post("/dashboard/exports")
def request_export() -> Response[str]:
    session, fields = routes.act()
    lang = routes.lang()
    kind, month = fields.get("kind", "")[:20], fields.get("month", "").strip()[:20]
    entered = {"kind": kind, "month": month}
    if kind not in KINDS:
        return exports_page(session, 422, text(lang, "exports.kind_invalid"), entered=entered)
    if not MONTH.fullmatch(month):
        return exports_page(session, 422, text(lang, "exports.month_invalid"), entered=entered)
    command = ExportForm(kind, month)  # type: ignore[arg-type]  # checked above
    try:
        made, _ = once.run(
            session,
            "create_export",
            fields,
            asdict(command),
            lambda: {"export_id": use_cases().exports.create(session.user.merchant_id, command).id},
        )
    except ValidationFailed as refused:
        return exports_page(session, 422, refused.message, entered=entered)
    except once.SentBefore as refused:
        return exports_page(session, 409, str(refused), entered=entered)
    return routes.done(session, "exports", "requested", export_id=made["export_id"])


# ----------------------------------------------------------------------------- a user's removal (the list: routes.py)


@router.get("/dashboard/users/<user_id>/remove")
def confirm_remove(user_id: str) -> Response[str]:
    """The users list's remove button: the user by e-mail and role, what removing does; its form
    (the POST in routes.py, unchanged) removes. Another merchant's user is 404; the owner
    themselves is the users page with the reason (409), as the POST."""
    session = confirm.owner()
    lang = routes.lang()
    users = routes.deps().users()
    try:
        member = users.removable(session.user, user_id)  # another merchant's: NotFound, the 404 page
    except InvalidState as refused:
        page_html = render.users_page(routes.frame("users", session), users.list(session.user), error=refused.message)
        return routes.respond(409, page_html)
    summary = [
        (text(lang, "confirm.user"), member.email),
        (text(lang, "confirm.role"), text(lang, f"role.{member.role}")),
        (text(lang, "confirm.invited"), views.day(member.invited_at, lang)),
    ]
    return confirm.page(
        session,
        "users",
        confirm.Confirmation(
            title=text(lang, "confirm.remove_title", email=member.email),
            happens=text(lang, "confirm.remove_happens"),
            summary=summary,
            action=f"{routes.root()}/users/{member.user_id}/remove",
            button=text(lang, "confirm.remove_button"),
            back=f"{routes.root()}/users",
        ),
    )
