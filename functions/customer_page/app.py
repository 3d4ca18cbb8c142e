"""The customer's hosted page (/customer/mandates/<signed token>): approve, follow, revoke.

No merchant key: the signed, mandate-bound token in the approval link is the only access. Forms
carry a CSRF token bound to the link and the action, same-origin is checked, and every response
has a strict Content-Security-Policy (no script at all for the simulated gateway).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billing import bootstrap
from billing import customer_html as html
from billing.api.routing import public_base_url
from billing.domain.errors import InvalidState, ValidationFailed
from billing.domain.model import Mandate, PaymentMethod
from billing.domain.payment_methods import SIMULATED_TOKENS
from billing.observability import logger, metrics
from billing.service.customer_portal import CustomerPortal, TermsChanged
from billing.service.links import ApprovalLinks, ExpiredLink, InvalidLink

app = APIGatewayRestResolver()

billing = bootstrap.build()
settings = billing.settings
# With Stripe configured the payment step is a SetupIntent confirmed by Stripe.js in the browser.
stripe = billing.stripe if settings.stripe_publishable_key else None


class ApproveForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    csrf: str = Field(max_length=100)
    terms_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    payment_token: Literal[SIMULATED_TOKENS]  # type: ignore[valid-type]
    consent: Literal["yes"]


class StripeApproveForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    csrf: str = Field(max_length=100)
    terms_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    setup_intent: str = Field(pattern=r"^seti_[A-Za-z0-9]{1,100}$")
    consent: Literal["yes"]


def base_url() -> str:
    return public_base_url(settings, app.current_event)


def links() -> ApprovalLinks:
    return billing.approval_links(base_url())


def portal() -> CustomerPortal:
    approval_links = links()
    return CustomerPortal(billing.merchant_api(approval_links), approval_links, billing.merchants.merchant_name)


def csrf_token(token: str, action: str) -> str:
    return hmac.new(billing.signing_key(), f"csrf|{action}|{token}".encode(), hashlib.sha256).hexdigest()[:40]


def lang() -> html.Lang:
    query = app.current_event.get_query_string_value("lang")
    return html.pick_language(query, app.current_event.headers.get("Accept-Language"))


def page_path(token: str) -> str:
    return f"{urlparse(base_url()).path.rstrip('/')}/customer/mandates/{token}"


def respond(status: int, body: str, nonce: str, headers: dict[str, str] | None = None, with_stripe: bool = False) -> Response:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={
            "Content-Security-Policy": html.content_security_policy(nonce, with_stripe),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",  # the link (a credential) never leaks to other sites; same-origin POSTs keep their Origin
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


def show(token: str, status: int = 200, notice: str = "", error: str = "") -> Response:
    language, nonce = lang(), secrets.token_urlsafe(16)
    try:
        view = portal().view(token)
    except InvalidLink:
        return respond(
            404, html.message(language, nonce, html.text(language, "invalid"), html.text(language, "invalid_text")), nonce
        )
    if view.link_expired:
        text = html.text(language, "expired_text", merchant=view.merchant_name)
        return respond(410, html.message(language, nonce, html.text(language, "expired"), text), nonce)
    csrf = {"approve": csrf_token(token, "approve")}
    setup = None
    if stripe is not None and view.mandate.status == "pending_approval":
        customer = view.mandate.customer
        intent = stripe.create_setup_intent(view.mandate.merchant_id, view.mandate.id, customer.email, customer.name)
        setup = {"publishable_key": settings.stripe_publishable_key, "client_secret": intent["client_secret"], "id": intent["id"]}
    body = html.mandate_page(view, language, nonce, page_path(token), csrf, notice=notice, error=error, stripe=setup)
    return respond(status, body, nonce, with_stripe=setup is not None)


def same_origin() -> bool:
    """Browsers send Origin on POST; when they do, it must be this site."""
    origin = app.current_event.headers.get("Origin")
    if not origin:
        return True
    host = app.current_event.headers.get("Host") or ""
    return urlparse(origin).netloc == host


def form() -> dict[str, str]:
    body = app.current_event.body or ""
    if app.current_event.is_base64_encoded:
        import base64

        body = base64.b64decode(body).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body[:10_000]).items()}


def forbidden(token: str) -> Response:
    return show(token, 403, error=html.text(lang(), "forbidden"))


def see_other(token: str, done: str) -> Response:
    return Response(
        status_code=303,
        body="",
        headers={"Location": f"{page_path(token)}?lang={lang()}&done={done}", "Cache-Control": "no-store"},
    )


@app.get("/customer/mandates/<token>")
def mandate_page(token: str):
    done = app.current_event.get_query_string_value("done")
    notice = {"approved": html.text(lang(), "approved"), "revoked": html.text(lang(), "revoked_done")}.get(done or "", "")
    return show(token, notice=notice)


@app.post("/customer/mandates/<token>/approve")
def approve(token: str):
    fields = form()
    if not same_origin() or not hmac.compare_digest(fields.get("csrf", ""), csrf_token(token, "approve")):
        return forbidden(token)
    try:
        terms, choose = payment_method(fields)
    except ValidationError:
        return show(token, 400, error=html.text(lang(), "choose"))
    identity = app.current_event.request_context.identity
    try:
        portal().approve(token, choose, identity.source_ip, app.current_event.headers.get("User-Agent"), terms)
    except CardNotConfirmed:
        return show(token, 400, error=html.text(lang(), "card_not_confirmed"))
    except (InvalidLink, ExpiredLink):
        return show(token)
    except TermsChanged:
        return show(token, 409, error=html.text(lang(), "changed"))
    except InvalidState:
        return show(token, 409)
    except ValidationFailed:  # e.g. a test card where the simulated gateway is switched off
        return show(token, 422, error=html.text(lang(), "method_unavailable"))
    metrics.add_metric(name="MandatesApprovedByCustomer", unit="Count", value=1)
    return see_other(token, "approved")


class CardNotConfirmed(Exception):
    pass


def payment_method(fields: dict[str, str]) -> tuple[str, Callable[[Mandate], PaymentMethod]]:
    """The terms hash the customer saw, and how to get the method they chose: a test card, or
    (with Stripe) the card confirmed in the browser, read back from Stripe's SetupIntent for this
    mandate (never taken from the form)."""
    if stripe is None:
        request = ApproveForm.model_validate(fields)
        return request.terms_sha256, lambda mandate: PaymentMethod(gateway="simulated", token=request.payment_token)
    confirmed = StripeApproveForm.model_validate(fields)

    def confirmed_card(mandate: Mandate) -> PaymentMethod:
        token = stripe.confirmed_payment_method(confirmed.setup_intent, mandate.id)
        if token is None:
            raise CardNotConfirmed(confirmed.setup_intent)
        return PaymentMethod(gateway="stripe", token=token)

    return confirmed.terms_sha256, confirmed_card


@app.get("/customer/mandates/<token>/revoke")
def confirm_revoke(token: str):
    language, nonce = lang(), secrets.token_urlsafe(16)
    try:
        view = portal().view(token)
    except (InvalidLink, ExpiredLink):
        return show(token)
    if view.mandate.status not in ("active", "paused", "past_due"):
        return show(token, 409)
    return respond(200, html.revoke_page(view, language, nonce, page_path(token), csrf_token(token, "revoke")), nonce)


@app.post("/customer/mandates/<token>/revoke")
def revoke(token: str):
    if not same_origin() or not hmac.compare_digest(form().get("csrf", ""), csrf_token(token, "revoke")):
        return forbidden(token)
    try:
        portal().revoke(token)
    except InvalidLink:
        return show(token)
    except InvalidState:
        return show(token, 409)
    metrics.add_metric(name="MandatesRevokedByCustomer", unit="Count", value=1)
    return see_other(token, "revoked")


@app.not_found
def not_found(_: Any):
    nonce, language = secrets.token_urlsafe(16), lang()
    return respond(404, html.message(language, nonce, html.text(language, "invalid"), html.text(language, "invalid_text")), nonce)


@app.exception_handler(Exception)
def on_bug(error: Exception):
    logger.exception("customer page error")
    nonce = secrets.token_urlsafe(16)
    return respond(500, html.message("en", nonce, "Something went wrong. Please try again later."), nonce)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
