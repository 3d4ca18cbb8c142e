"""The owner's webhooks page: endpoints listed (URL, events, status), created (the signing secret
shown once), their secret rotated (the new one shown once), an endpoint's recent deliveries listed
(status, attempts, event type, created) and a failed one retried.

As the other owner pages (`owner_pages`): every page reads through `routes.signed_in()` (a viewer
sees no form), every POST through `routes.act()` (same origin, CSRF, an owner), all of it through
the use cases the API's /v1/webhook_endpoints routes use, in the signed-in user's merchant: another
merchant's endpoint or delivery is 404. What a form got wrong is its page again with the reason
(422), what the object's state refuses is 409: never a 500.

A secret is on the POST's response only (no-store, as every dashboard page): never on the list, in
a redirect's URL or in the log. The form sent twice (a double click, back and send again) adds one
endpoint: each rendering carries its own key (`once.py`, the API's Idempotency-Key table); the
second sending says the endpoint was added already (its secret is not shown again). So is each
row's rotate form: a rotation sent twice rotates once (the secret in use keeps its 24 hours).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, get_args

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ..domain.errors import InvalidRequest, InvalidState, ValidationFailed
from ..domain.events import EVENT_TYPES
from ..domain.lifecycles import DeliveryStatus
from ..domain.text import single_line
from ..domain.webhooks import MAX_URL_LENGTH, EndpointStatus
from ..observability import logger
from ..service.ports import PageRequest
from ..service.webhooks import EndpointWithSecret
from . import confirm, once, render, routes, views
from .mandate_pages import PAGE_SIZE, use_cases
from .routes import Session
from .texts import Lang, text

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated

DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)
MAX_EVENTS = 64  # the API's EnabledEvents
MAX_EVENT_NAME = 100
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class EndpointForm:
    """What the endpoint form sends, as the use case takes it (service/webhooks.NewEndpoint)."""

    url: str
    enabled_events: list[str]
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def endpoint_form(fields: dict[str, str], lang: Lang) -> EndpointForm:
    """The form's fields as the use case's command, with the API's limits (WebhookEndpointCreate);
    the use case then checks the URL (https, public) and the event types (ValidationFailed)."""
    url = fields.get("url", "").strip()
    try:
        if not 1 <= len(url) <= MAX_URL_LENGTH:
            raise ValueError(url)
        single_line(url)
    except ValueError:
        raise routes.FormRefused(text(lang, "webhooks.url_invalid", most=MAX_URL_LENGTH)) from None
    entered = fields.get("events", "").replace(",", " ").split()
    events = entered or ["*"]
    if len(events) > MAX_EVENTS or any(len(e) > MAX_EVENT_NAME for e in events):
        raise routes.FormRefused(text(lang, "webhooks.events_invalid", most=MAX_EVENTS))
    unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
    if unknown or ("*" in events and len(events) > 1):
        raise routes.FormRefused(text(lang, "webhooks.events_unknown", names=", ".join(unknown or ["*"])[:300]))
    description = fields.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise routes.FormRefused(text(lang, "webhooks.description_invalid", most=MAX_DESCRIPTION))
    return EndpointForm(url, events, description or None)


@dataclass(frozen=True)
class StatusChange:
    """The endpoint's status alone, as the API's PATCH with only `status` (service/webhooks.EndpointChanges)."""

    status: EndpointStatus
    url: None = None
    enabled_events: None = None
    description: None = None
    metadata: None = None

    @property
    def model_fields_set(self) -> set[str]:
        return {"status"}


def _events_text(events: list[str], lang: Lang) -> str:
    return text(lang, "webhooks.all_events") if events == ["*"] else ", ".join(events)


def webhooks_page(
    session: Session, status: int = 200, error: str = "", notice: str = "", entered: dict[str, str] | None = None
) -> Response[str]:
    lang, api = routes.lang(), use_cases()
    cursor = routes.query("cursor", 2048)
    try:
        result = api.webhooks.page(session.user.merchant_id, PageRequest(PAGE_SIZE, cursor or None))
    except (InvalidRequest, ValidationFailed) as refused:
        return routes.message(400, text(lang, "lists.bad_query", message=refused.message), session=session)
    rows = [
        {
            "id": e.id,
            "url": e.url,
            "events": _events_text(e.enabled_events, lang),
            "description": e.description or "",
            "status": e.status,
            "status_text": text(lang, f"webhooks.status.{e.status}"),
            "created": views.moment(e.created_at, lang),
            "rotate_key": once.new_key(),  # each row's rotate form its own key
        }
        for e in result.data
        if not e.deleted
    ]
    here = f"{routes.root()}/webhooks"
    page_html = render.page(
        "webhooks.html",
        routes.frame("webhooks", session),
        rows=rows,
        entered={"url": "", "events": "", "description": ""} | (entered or {}),
        event_types=sorted(EVENT_TYPES),
        **routes.pager(here, result, cursor),
        form_key=once.new_key(),
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/webhooks")
def webhooks() -> Response[str]:
    session = routes.signed_in()
    return webhooks_page(
        session, notice=routes.notice("webhooks", ("enabled", "disabled", "deleted", "already_created", "already_rotated"))
    )


def _secret_page(session: Session, status: int, made: EndpointWithSecret, what: str) -> Response[str]:
    """The secret in this response only (no-store); the log says what was done, never the secret."""
    user = session.user
    logger.info(
        "dashboard action",
        extra={"merchant_id": user.merchant_id, "user_id": user.user_id, "action": what, "endpoint_id": made.endpoint.id},
    )
    page_html = render.page(
        "webhook_secret.html",
        routes.frame("webhooks", session),
        secret=made.secret,
        endpoint_id=made.endpoint.id,
        url=made.endpoint.url,
        rotated=what == "webhook_secret_rotated",
    )
    return routes.respond(status, page_html)


@router.post("/dashboard/webhooks")
def create_endpoint() -> Response[str]:
    session, fields = routes.act()
    lang = routes.lang()
    entered = {k: fields.get(k, "")[:MAX_URL_LENGTH] for k in ("url", "events", "description")}
    made: list[EndpointWithSecret] = []
    try:
        command = endpoint_form(fields, lang)

        def create() -> dict[str, Any]:
            made.append(use_cases().webhooks.create(session.user.merchant_id, command))
            return {"status": 201, "body": {"id": made[0].endpoint.id}}  # what a replay knows: never the secret

        sent = {"url": command.url, "enabled_events": command.enabled_events, "description": command.description}
        first, _ = once.run(session, "create_webhook_endpoint", fields, sent, create)
    except once.SentBefore:  # the form sent again while the first is running, or with other values
        return webhooks_page(session, 409, text(lang, "webhooks.sent_twice"), entered=entered)
    except routes.FormRefused as refused:
        return webhooks_page(session, 422, str(refused), entered=entered)
    except ValidationFailed as refused:  # the use case's 422: not https, not public, an unknown event type
        return webhooks_page(session, 422, text(lang, "webhooks.refused", message=refused.message), entered=entered)
    except InvalidState as refused:  # at most 16 endpoints
        return webhooks_page(session, 409, refused.message, entered=entered)
    if not made:  # the same form again: the endpoint it made, whose secret that answer showed once
        return routes.done(session, "webhooks", "already_created", endpoint_id=str(first["body"]["id"]))
    return _secret_page(session, 201, made[0], "webhook_endpoint_created")


def _rotation_fields(session: Session, endpoint_id: str, fields: dict[str, str]) -> dict[str, str]:
    """The rotation's form key: the row's own (each rendering of the page gives each endpoint's
    rotate form a fresh one), or for a form without one (a page rendered before the rotate form had
    a key, a hand-made POST) one derived from the session's CSRF token and the endpoint: such
    rotations run once per endpoint per session (24 hours), the page's own form rotates again."""
    sent = fields.get(once.FIELD, "")
    if once.is_key(sent):
        return {once.FIELD: sent}
    return {once.FIELD: hashlib.sha256(f"rotate:{session.csrf}:{endpoint_id}".encode()).hexdigest()[:32]}


@router.post("/dashboard/webhooks/<endpoint_id>/rotate")
def rotate_secret(endpoint_id: str) -> Response[str]:
    """The secret rotated once per form: the same form sent twice (a double click, a reload of the
    POST's answer) would drop the secret in use at once (the endpoint keeps one previous secret,
    and it would be the never-seen one of the first rotation); its replay says the secret was
    rotated already, shows none, and what it stores is the endpoint's id only."""
    session, fields = routes.act()
    made: list[EndpointWithSecret] = []

    def rotate() -> dict[str, Any]:
        made.append(use_cases().webhooks.rotate_secret(session.user.merchant_id, endpoint_id))  # another's: 404
        return {"status": 200, "body": {"id": made[0].endpoint.id}}  # what a replay knows: never the secret

    try:
        once.run(
            session, "webhook_rotation", _rotation_fields(session, endpoint_id, fields), {"endpoint_id": endpoint_id}, rotate
        )
    except once.SentBefore:  # still being handled, or the key sent with another endpoint
        return webhooks_page(session, 409, text(routes.lang(), "webhooks.rotate_sent_twice"))
    except InvalidState as refused:
        return webhooks_page(session, 409, refused.message)
    if not made:  # the same form again: rotated once, by the first
        return routes.done(session, "webhooks", "already_rotated", endpoint_id=endpoint_id)
    return _secret_page(session, 200, made[0], "webhook_secret_rotated")


def deliveries_page(session: Session, endpoint_id: str, status: int = 200, error: str = "", notice: str = "") -> Response[str]:
    lang, api, merchant = routes.lang(), use_cases(), session.user.merchant_id
    endpoint = api.webhooks.get(merchant, endpoint_id)  # another merchant's: NotFound, the 404 page
    cursor = routes.query("cursor", 2048)
    try:
        result = api.webhooks.deliveries(merchant, endpoint_id, PageRequest(PAGE_SIZE, cursor or None))
    except (InvalidRequest, ValidationFailed) as refused:
        return routes.message(400, text(lang, "lists.bad_query", message=refused.message), session=session)
    rows = [
        {
            "id": d.id,
            "event_type": d.event_type,
            "event_id": d.event_id,
            "status": d.status,
            "status_text": text(lang, f"webhooks.delivery.{d.status}"),
            "attempts": len(d.attempts),
            "last_response": "" if not d.attempts or d.attempts[-1].response_status is None else d.attempts[-1].response_status,
            "created": views.moment(d.created_at, lang),
            "retriable": d.status != "succeeded",
        }
        for d in result.data
    ]
    here = f"{routes.root()}/webhooks/{endpoint.id}/deliveries"
    page_html = render.page(
        "webhook_deliveries.html",
        routes.frame("webhooks", session),
        endpoint={"id": endpoint.id, "url": endpoint.url, "status_text": text(lang, f"webhooks.status.{endpoint.status}")},
        rows=rows,
        **routes.pager(here, result, cursor),
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/webhooks/<endpoint_id>/deliveries")
def deliveries(endpoint_id: str) -> Response[str]:
    session = routes.signed_in()
    return deliveries_page(session, endpoint_id, notice=routes.notice("webhooks", ("retried",)))


@router.post("/dashboard/webhooks/<endpoint_id>/deliveries/<delivery_id>/retry")
def retry_delivery(endpoint_id: str, delivery_id: str) -> Response[str]:
    session, _ = routes.act()
    try:
        use_cases().webhooks.retry(session.user.merchant_id, endpoint_id, delivery_id)  # another's: the 404 page
    except InvalidState as refused:  # succeeded, or holding every attempt it may
        return deliveries_page(session, endpoint_id, 409, refused.message)
    return routes.done(session, f"webhooks/{endpoint_id}/deliveries", "retried", endpoint_id=endpoint_id, delivery_id=delivery_id)


@router.post("/dashboard/webhooks/<endpoint_id>/status")
def set_status(endpoint_id: str) -> Response[str]:
    """Disable or enable again (the API's PATCH `status`); enabling again gives the endpoint five
    fresh days before failures can disable it (the use case's rule)."""
    session, fields = routes.act()
    wanted = fields.get("status", "")
    if wanted not in ("enabled", "disabled"):
        return webhooks_page(session, 422, text(routes.lang(), "webhooks.status_invalid"))
    status: EndpointStatus = "enabled" if wanted == "enabled" else "disabled"
    try:
        use_cases().webhooks.update(session.user.merchant_id, endpoint_id, StatusChange(status))  # another's: 404
    except InvalidState as refused:
        return webhooks_page(session, 409, refused.message)
    return routes.done(session, "webhooks", status, endpoint_id=endpoint_id)


@router.get("/dashboard/webhooks/<endpoint_id>/delete")
def confirm_delete(endpoint_id: str) -> Response[str]:
    """The delete's confirmation step (`confirm.py`): no script, a page with the POST form."""
    session = confirm.owner()
    endpoint = use_cases().webhooks.get(session.user.merchant_id, endpoint_id)  # another merchant's: the 404 page
    lang = routes.lang()
    return confirm.page(
        session,
        "webhooks",
        confirm.Confirmation(
            title=text(lang, "webhooks.delete_heading"),
            happens=text(lang, "webhooks.delete_question"),
            summary=[(text(lang, "webhooks.url"), endpoint.url), ("ID", endpoint.id)],
            action=f"{routes.root()}/webhooks/{endpoint.id}/delete",
            button=text(lang, "webhooks.delete"),
            back=f"{routes.root()}/webhooks",
        ),
    )


@router.post("/dashboard/webhooks/<endpoint_id>/delete")
def delete_endpoint(endpoint_id: str) -> Response[str]:
    session, _ = routes.act()
    use_cases().webhooks.delete(session.user.merchant_id, endpoint_id)  # another's or deleted already: the 404 page
    return routes.done(session, "webhooks", "deleted", endpoint_id=endpoint_id)
