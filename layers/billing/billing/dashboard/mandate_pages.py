"""The dashboard's mandates: the list (search by customer reference or e-mail, filters by status
and plan, cursors like the API), a mandate's page (terms, customer, payment method by its last
four digits, status, credit, items, charges with their refunds and disputes, the timeline of its
events, its approval link while it awaits approval) and the owner's actions on it: cancel (through
a confirmation page naming the customer and what cancelling does: `confirm.py`), pause (until
resumed, or until a date after today: 00:00 UTC that day), resume, refund a charge.

Every page reads through `routes.signed_in()`, every POST goes through `routes.act()` (same
origin, the session's CSRF token, an owner: a viewer is 403); all of it through the API's use
cases in the signed-in user's merchant, so another merchant's mandate or charge is 404. A refund
form carries what was left to refund when it was shown and refunds only if that is still so
(checked on the charge's version): the same form sent twice refunds once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, get_args

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ..domain.errors import InvalidRequest, InvalidState, NotFound, ValidationFailed
from ..domain.lifecycles import MANDATE, MandateStatus
from ..domain.money import CURRENCY_EXPONENT
from ..domain.refunds import RefundReason
from ..service.ports import PageRequest
from ..service.use_cases import UseCases
from . import confirm, render, routes, views
from .headers import security_headers
from .routes import Session
from .texts import text

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated

PAGE_SIZE = 20
STATUSES: tuple[str, ...] = get_args(MandateStatus)
REASONS: tuple[str, ...] = get_args(RefundReason)


@dataclass(frozen=True)
class PauseForm:
    """What the pause form sends, as the use case takes it (service/commands.Pause): until resumed,
    or until 00:00 UTC of the date chosen (the dashboard counts UTC days, as its figures)."""

    resume_at: datetime | None = None


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
LAST_DAY = date(2199, 12, 31)  # the API's times lie in 2000-2199


def pause_form(entered: str, now: datetime, lang: Any) -> PauseForm:
    """The optional resume date: a day after today (UTC), at most the API's last; else FormRefused."""
    entered = entered.strip()[:10]
    if not entered:
        return PauseForm()
    today = now.astimezone(timezone.utc).date()
    try:
        if not ISO_DAY.fullmatch(entered):
            raise ValueError(entered)
        day = date.fromisoformat(entered)
        if not today < day <= LAST_DAY:
            raise ValueError(entered)
    except ValueError:
        tomorrow = (today + timedelta(days=1)).isoformat()
        raise routes.FormRefused(text(lang, "mandate.resume_on_invalid", today=today.isoformat(), example=tomorrow)) from None
    return PauseForm(datetime.combine(day, time(0), timezone.utc))


@dataclass(frozen=True)
class RefundForm:
    """What the refund form sends, as the use case takes it (service/commands.NewRefund)."""

    amount: int | None
    reason: RefundReason = "requested_by_customer"
    metadata: dict[str, str] = field(default_factory=dict)


def use_cases() -> UseCases:
    deps = routes.deps()
    return deps.use_cases(deps.approval_links(routes.base_url()))


@router.get("/dashboard/static/mandates.js")
def script() -> Response[str]:
    """The copy button of an approval link (progressive: the page works without it)."""
    from importlib.resources import files

    body = files("billing.dashboard").joinpath("templates", "mandates.js").read_text(encoding="utf-8")
    headers: dict[str, Any] = security_headers(cache=True)
    return Response(status_code=200, content_type="text/javascript; charset=utf-8", body=body, headers=headers)


# ----------------------------------------------------------------------------- the list


@router.get("/dashboard/mandates")
def mandates() -> Response[str]:
    session = routes.signed_in()
    lang = routes.lang()
    search, status, plan_id, cursor = (
        routes.query("q"),
        routes.query("status"),
        routes.query("plan_id", 80),
        routes.query("cursor", 2048),
    )
    filters = {"status": status if status in STATUSES else None, "plan_id": plan_id or None}
    api, merchant = use_cases(), session.user.merchant_id
    if search.startswith("mdt_") and not cursor:  # a mandate's id: its page, when it is the merchant's
        try:
            return routes.redirect(f"{routes.root()}/mandates/{api.mandates.get(merchant, search).id}")
        except NotFound:
            pass  # perhaps a customer reference after all
    error, found, result = "", [], None
    try:
        page = PageRequest(PAGE_SIZE, cursor or None)
        if "@" in search:
            result = api.mandates.find_by_email(merchant, search, page, **filters)
        else:
            result = api.mandates.page(merchant, page, customer_reference=search or None, **filters)
        found = result.data
    except (InvalidRequest, ValidationFailed) as refused:
        error = text(lang, "mandates.bad_query", message=refused.message)
    plans = [(p.id, p.name) for p in api.plans.page(merchant, PageRequest(100)).data]
    page_html = render.page(
        "mandates.html",
        routes.frame("mandates", session),
        rows=[views.mandate_row(m, lang) for m in found],
        search=search,
        status=filters["status"] or "",
        plan_id=plan_id,
        statuses=[(s, views.status(s, lang)) for s in STATUSES],
        plans=plans,
        by_email="@" in search,
        **routes.pager(f"{routes.root()}/mandates", result, cursor, q=search, status=filters["status"], plan_id=plan_id),
        error=error,
    )
    return routes.respond(400 if error else 200, page_html)


# ----------------------------------------------------------------------------- a mandate


def mandate_page(session: Session, mandate_id: str, status: int = 200, error: str = "", notice: str = "") -> Response[str]:
    lang = routes.lang()
    api, merchant = use_cases(), session.user.merchant_id
    mandate = api.mandates.get(merchant, mandate_id)  # another merchant's: NotFound, the 404 page
    events_cursor, charges_cursor = routes.query("events", 2048), routes.query("charges", 2048)
    try:
        events = api.events.page(merchant, PageRequest(PAGE_SIZE, events_cursor or None), mandate_id=mandate.id)
        charges = api.charges.page(merchant, PageRequest(PAGE_SIZE, charges_cursor or None), mandate_id=mandate.id)
    except InvalidRequest as refused:  # a cursor altered or of another list
        return routes.message(400, text(lang, "mandates.bad_query", message=refused.message), session=session)
    refunds = api.refunds.page(merchant, PageRequest(100), mandate_id=mandate.id).data
    disputes = api.disputes.page(merchant, PageRequest(100), mandate_id=mandate.id).data
    items = api.items.page(merchant, PageRequest(PAGE_SIZE), mandate_id=mandate.id).data
    links = routes.deps().approval_links(routes.base_url())
    here = f"{routes.root()}/mandates/{mandate.id}"
    # each table's links keep the other table's cursor: paging one never resets the other
    timeline = routes.pager(here, events, events_cursor, param="events", anchor="#timeline", charges=charges_cursor)
    charges_pages = routes.pager(here, charges, charges_cursor, param="charges", anchor="#charges", events=events_cursor)
    shell = routes.frame("mandates", session)  # the navigation marks the mandates
    shell = replace(shell, switch_href=f"{here}?lang={'lt' if lang == 'en' else 'en'}")  # the language switch stays here
    page_html = render.page(
        "mandate.html",
        shell,
        mandate=views.mandate_view(mandate, lang),
        approval_url=(links.approval_url(mandate) or "") if session.user.is_owner else "",
        charges=[
            views.charge_view(c, [r for r in refunds if r.charge_id == c.id], [d for d in disputes if d.charge_id == c.id], lang)
            for c in charges.data
        ],
        older_charges=charges_pages["next_href"],
        newest_charges=charges_pages["first_href"],
        items=[views.item_view(i, lang) for i in items],
        events=[views.event_view(e, lang) for e in events.data],
        older_events=timeline["next_href"],
        newest_events=timeline["first_href"],
        reasons=[(r, text(lang, f"reason.{r}")) for r in REASONS],
        tomorrow=(routes.deps().clock.now().astimezone(timezone.utc).date() + timedelta(days=1)).isoformat(),
        here=here,
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/mandates/<mandate_id>")
def mandate(mandate_id: str) -> Response[str]:
    session = routes.signed_in()
    return mandate_page(session, mandate_id, notice=routes.notice("mandate", ("cancelled", "paused", "resumed", "refunded")))


@router.get("/dashboard/mandates/<mandate_id>/cancel")
def confirm_cancel(mandate_id: str) -> Response[str]:
    """The cancel button's page: who, on what terms, what cancelling does; its form does it."""
    session = confirm.owner()
    lang = routes.lang()
    mandate = use_cases().mandates.get(session.user.merchant_id, mandate_id)  # another merchant's: 404
    here = f"{routes.root()}/mandates/{mandate.id}"
    if not MANDATE.allows(mandate.status, "cancel"):
        state = text(lang, "confirm.not_now", state=views.status(mandate.status, lang))
        return mandate_page(session, mandate.id, 409, state)
    shown = views.mandate_view(mandate, lang)
    customer = shown["name"] or shown["reference"]
    summary = [
        (text(lang, "confirm.customer"), " · ".join(v for v in (shown["name"], shown["reference"], shown["email"]) if v)),
        (text(lang, "confirm.mandate"), mandate.id),
        (text(lang, "confirm.terms"), shown["terms"]),
        (text(lang, "confirm.status"), shown["status"]),
        (text(lang, "confirm.next_charge"), shown["next_charge"] or "–"),
    ]
    return confirm.page(
        session,
        "mandates",
        confirm.Confirmation(
            title=text(lang, "confirm.cancel_title", customer=customer),
            happens=text(lang, "confirm.cancel_happens"),
            summary=summary,
            action=f"{here}/cancel",
            button=text(lang, "confirm.cancel_button"),
            back=here,
        ),
    )


@router.post("/dashboard/mandates/<mandate_id>/cancel")
def cancel(mandate_id: str) -> Response[str]:
    session, _ = routes.act()
    try:
        use_cases().mandates.cancel(session.user.merchant_id, mandate_id)
    except InvalidState as refused:
        return mandate_page(session, mandate_id, 409, refused.message)
    return routes.done(session, f"mandates/{mandate_id}", "cancelled", mandate_id=mandate_id)


@router.post("/dashboard/mandates/<mandate_id>/pause")
def pause(mandate_id: str) -> Response[str]:
    """Until resumed, or until the date chosen (`resume_on`, optional): a date not after today is
    the mandate's page again with the reason (422), nothing paused."""
    session, fields = routes.act()
    try:
        form = pause_form(fields.get("resume_on", ""), routes.deps().clock.now(), routes.lang())
        use_cases().mandates.pause(session.user.merchant_id, mandate_id, form)
    except routes.FormRefused as refused:  # (another merchant's mandate: its page is the 404 page)
        return mandate_page(session, mandate_id, 422, str(refused))
    except ValidationFailed as refused:  # the domain's own check (resume_at in the future)
        return mandate_page(session, mandate_id, 422, refused.message)
    except InvalidState as refused:
        return mandate_page(session, mandate_id, 409, refused.message)
    return routes.done(session, f"mandates/{mandate_id}", "paused", mandate_id=mandate_id)


@router.post("/dashboard/mandates/<mandate_id>/resume")
def resume(mandate_id: str) -> Response[str]:
    session, _ = routes.act()
    try:
        use_cases().mandates.resume(session.user.merchant_id, mandate_id)
    except InvalidState as refused:
        return mandate_page(session, mandate_id, 409, refused.message)
    return routes.done(session, f"mandates/{mandate_id}", "resumed", mandate_id=mandate_id)


@router.post("/dashboard/mandates/<mandate_id>/charges/<charge_id>/refund")
def refund(mandate_id: str, charge_id: str) -> Response[str]:
    """A refund of the mandate's charge, with the API's limits; what the form got wrong is shown on
    the mandate's page (422), a charge refunded since the form was shown is 409 (nothing refunded)."""
    session, fields = routes.act()
    lang, api, merchant = routes.lang(), use_cases(), session.user.merchant_id
    charge = api.charges.get(merchant, charge_id)  # another merchant's: 404
    if charge.mandate_id != mandate_id:
        api.mandates.get(merchant, mandate_id)  # 404 for a mandate not the merchant's
        return routes.on_not_found(None)
    reason = fields.get("reason", "requested_by_customer")
    shown_left = fields.get("left", "")
    try:
        amount = views.minor_units(fields.get("amount", "")[:32], charge.currency)
        if reason not in REASONS:
            raise ValidationFailed("reason", "reason")
        if not (shown_left.isascii() and shown_left.isdigit()) or len(shown_left) > 18:  # "²" is a digit to isdigit()
            raise ValidationFailed("left", "left")
        if charge.refundable != int(shown_left):  # the form is older than a refund (the use case checks again, atomically)
            return mandate_page(session, mandate_id, 409, text(lang, "refund.changed"))
        made = api.refunds.create(
            merchant,
            charge.id,
            RefundForm(amount, reason),  # type: ignore[arg-type]  # checked against REASONS above
            if_refundable=int(shown_left),
            mandate_id=mandate_id,
        )
    except views.AmountRefused:
        problem = text(lang, "refund.amount_invalid", digits=CURRENCY_EXPONENT[charge.currency])
        return mandate_page(session, mandate_id, 422, problem)
    except ValidationFailed as refused:
        left = charge.refundable
        if refused.param == "amount":
            problem = (
                text(lang, "refund.nothing_left")
                if left < 1
                else text(
                    lang,
                    "refund.amount_range",
                    least=views.money(1, charge.currency, lang),
                    left=views.money(left, charge.currency, lang),
                )
            )
        else:
            problem = text(lang, "error.invalid", field=refused.param)
        return mandate_page(session, mandate_id, 422, problem)
    except InvalidState as refused:
        return mandate_page(session, mandate_id, 409, refused.message)
    return routes.done(
        session, f"mandates/{mandate_id}", "refunded", mandate_id=mandate_id, charge_id=charge.id, refund_id=made.id
    )
