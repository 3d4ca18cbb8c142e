"""The customer's hosted page (/customer/mandates/<signed token>): approve, follow, revoke, buy
as a business; and a charge's receipt (/customer/receipts/<signed token>). The routes parse the form, call the
portal (`service/customer_portal`) and answer a page.

No merchant key: the signed, mandate-bound token in the approval link is the only access. Forms
carry a CSRF token bound to the link and the action, same-origin is checked, and every response
has a strict Content-Security-Policy (no script at all for the simulated gateway). The handler
(`functions/customer_page/app.py`) puts the process's dependencies (`bootstrap.CustomerPageDeps`)
in the resolver's context on each invocation.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlparse

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ValidationError

from ..domain.errors import ConcurrentModification, InvalidState, TooManyRequests, ValidationFailed
from ..domain.payment_methods import SIMULATED_TOKENS, simulated_type
from ..http import public_base_url
from ..observability import logger, metrics
from ..service.customer_portal import (
    BankDebitOffer,
    BankDebitRefused,
    CardChoice,
    CardNotConfirmed,
    ConfirmedCard,
    CustomerPortal,
    MandateNotAccepted,
    TermsChanged,
    TestCard,
    terms_digest,
)
from ..service.links import ExpiredLink, InvalidLink
from ..service.ports import Clock, GatewayUnavailable
from ..settings import Settings
from . import forms, render
from .headers import security_headers
from .texts import Lang, pick_language, sepa_mandate, text

TEST_CARDS = tuple(t for t in SIMULATED_TOKENS if simulated_type(t) == "card")
TEST_BANK_ACCOUNTS = tuple(t for t in SIMULATED_TOKENS if simulated_type(t) == "sepa_debit")

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


class PageDeps(Protocol):
    """What the page uses of the process's dependencies (`bootstrap.CustomerPageDeps`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def signing_key(self) -> Callable[[], bytes]: ...

    @property
    def portal(self) -> Callable[[str], CustomerPortal]: ...

    @property
    def takes_cards(self) -> bool: ...


def deps() -> PageDeps:
    found: PageDeps = router.context["deps"]
    return found


def request() -> APIGatewayProxyEvent:
    current: APIGatewayProxyEvent = router.current_event  # type: ignore[assignment]  # a REST API's event
    return current


def base_url() -> str:
    return public_base_url(deps().settings.public_base_url, request().request_context)


def portal() -> CustomerPortal:
    return deps().portal(base_url())


def lang(customer: Lang | None = None) -> Lang:
    """`?lang=`, else the customer's language (once the link is known), else the browser's."""
    event = request()
    return pick_language(event.get_query_string_value("lang"), event.headers.get("Accept-Language"), customer)


def page_path(token: str) -> str:
    return f"{urlparse(base_url()).path.rstrip('/')}/customer/mandates/{token}"


def receipt_path(token: str) -> str:
    return f"{urlparse(base_url()).path.rstrip('/')}/customer/receipts/{token}"


def respond(status: int, body: str, nonce: str, with_stripe: bool = False) -> Response[str]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=body,
        headers=security_headers(nonce, with_stripe),
    )


def invalid_link(language: Lang, nonce: str) -> Response[str]:
    return respond(404, render.message(language, nonce, text(language, "invalid"), text(language, "invalid_text")), nonce)


def show(
    token: str,
    status: int = 200,
    notice: str = "",
    error: str = "",
    error_key: str = "",
    business: dict[str, str] | None = None,
    invalid: str = "",
) -> Response[str]:
    """The mandate's page; `error_key`: an error said in the page's language (the customer's);
    `business`: the business form as the customer filled it (shown again), `invalid` its field in error."""
    language, nonce = lang(), secrets.token_urlsafe(16)
    customer_portal = portal()
    try:
        view = customer_portal.view(token)
    except InvalidLink:
        return invalid_link(language, nonce)
    language = lang(view.mandate.customer.locale)
    error = text(language, error_key) if error_key else error
    if view.link_expired:
        body = text(language, "expired_text", merchant=view.merchant_name)
        return respond(410, render.message(language, nonce, text(language, "expired"), body), nonce)
    csrf = {action: forms.csrf_token(deps().signing_key(), token, action) for action in ("approve", "payment_method", "business")}
    intent = customer_portal.card_setup(view)  # approval's SetupIntent, or one for a new card
    setup = None
    if intent is not None:
        setup = {
            "publishable_key": deps().settings.stripe_publishable_key,
            "client_secret": intent["client_secret"],
            "id": intent["id"],
        }
        bank = customer_portal.bank_setup(view)  # a bank account (IBAN) at approval, where a bank debit is allowed
        if bank is not None:
            setup |= {"bank_client_secret": bank["client_secret"], "bank_id": bank["id"]}
    simulated = deps().settings.allow_simulated_gateway and setup is None
    test_cards = TEST_CARDS if simulated else ()
    offer = view.bank_debit if setup is not None or simulated else None
    test_banks = TEST_BANK_ACCOUNTS if simulated and offer is not None else ()
    shown = sepa_text(language, offer)
    body = render.mandate_page(
        view,
        language,
        nonce,
        page_path(token),
        csrf,
        notice=notice,
        error=error,
        stripe=setup,
        test_cards=test_cards,
        test_banks=test_banks,
        sepa=offer,
        terms_sha256=terms_digest(view.mandate, shown),
        business=business,
        invalid=invalid,
    )
    return respond(status, body, nonce, with_stripe=setup is not None)


def sepa_text(language: Lang, offer: BankDebitOffer | None) -> str:
    """The SEPA mandate the page shows (and hashes with the terms) when a bank debit is offered."""
    return sepa_mandate(language, offer.creditor, offer.reference) if offer is not None else ""


def submitted(token: str, action: str) -> dict[str, str] | None:
    """The form's fields, if it came from this page (same origin, the link's CSRF token for `action`)."""
    event = request()
    body = event.body or ""
    if event.is_base64_encoded:
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    fields = forms.parse_form(body)
    if not forms.same_origin(event.headers.get("Origin"), event.headers.get("Host")):
        return None
    if not forms.csrf_valid(deps().signing_key(), token, action, fields.get("csrf", "")):
        return None
    return fields


def forbidden(token: str) -> Response[str]:
    return show(token, 403, error=text(lang(), "forbidden"))


def see_other(token: str, done: str) -> Response[str]:
    return Response(
        status_code=303,
        body="",
        headers={"Location": f"{page_path(token)}?lang={lang()}&done={done}", "Cache-Control": "no-store"},
    )


@router.get("/customer/mandates/<token>")
def mandate_page(token: str) -> Response[str]:
    done = request().get_query_string_value("done")
    notices = {
        "approved": "approved",
        "revoked": "revoked_done",
        "method_updated": "method_updated",
        "business": "business.saved",
        "individual": "business.individual_saved",
    }
    notice = text(lang(), notices[done]) if done in notices else ""
    return show(token, notice=notice)


@router.post("/customer/mandates/<token>/approve")
def approve(token: str) -> Response[str]:
    fields = submitted(token, "approve")
    if fields is None:
        return forbidden(token)
    try:
        terms, choice = payment_method(fields)
    except ValidationError:
        return show(token, 400, error=text(lang(), "choose"))
    identity = request().request_context.identity
    try:
        language = lang()  # the page's (its form posts with ?lang=): the mandate text it showed
        portal().approve(
            token,
            choice,
            identity.source_ip,
            request().headers.get("User-Agent"),
            terms,
            wording=lambda offer: sepa_text(language, offer),
        )
    except CardNotConfirmed:
        return show(token, 400, error=text(lang(), "card_not_confirmed"))
    except (InvalidLink, ExpiredLink):
        return show(token)
    except TermsChanged:
        return show(token, 409, error=text(lang(), "changed"))
    except InvalidState:
        return show(token, 409)
    except BankDebitRefused:  # not in EUR, or no e-mail or name: nothing changed
        return show(token, 422, error=text(lang(), "bank_debit_refused"))
    except ValidationFailed:  # e.g. a test card where the simulated gateway is switched off
        return show(token, 422, error=text(lang(), "method_unavailable"))
    metrics.add_metric(name="MandatesApprovedByCustomer", unit="Count", value=1)
    return see_other(token, "approved")


@router.post("/customer/mandates/<token>/payment_method")
def replace_payment_method(token: str) -> Response[str]:
    """The customer's new payment method: a past_due mandate becomes active and its failed charge
    is attempted at the next dispatch (event source `customer`)."""
    fields = submitted(token, "payment_method")
    if fields is None:
        return forbidden(token)
    try:
        terms, choice = new_payment_method(fields)
    except ValidationError:
        return show(token, 400, error=text(lang(), "choose"))
    identity = request().request_context.identity
    try:
        language = lang()  # the page's (its form posts with ?lang=): the mandate text it showed
        portal().replace_payment_method(
            token,
            choice,
            identity.source_ip,
            request().headers.get("User-Agent"),
            terms,
            wording=lambda offer: sepa_text(language, offer),
        )
    except CardNotConfirmed:
        return show(token, 400, error=text(lang(), "card_not_confirmed"))
    except MandateNotAccepted:  # a bank account without the SEPA mandate's acceptance: nothing changed
        return show(token, 400, error=text(lang(), "sepa.not_accepted"))
    except TermsChanged:
        return show(token, 409, error=text(lang(), "changed"))
    except InvalidLink:
        return show(token)
    except TooManyRequests as limited:
        response = show(token, 429, error_key="method_changes_used_up")
        wait = math.ceil((limited.retry_at - deps().clock.now()).total_seconds())
        response.headers["Retry-After"] = str(max(wait, 1))
        return response
    except InvalidState:
        return show(token, 409)
    except BankDebitRefused:
        return show(token, 422, error=text(lang(), "bank_debit_refused"))
    except ValidationFailed:
        return show(token, 422, error=text(lang(), "method_unavailable"))
    metrics.add_metric(name="PaymentMethodsReplacedByCustomer", unit="Count", value=1)
    return see_other(token, "method_updated")


@router.post("/customer/mandates/<token>/business")
def business_details(token: str) -> Response[str]:
    """The customer buys as a business (company name, code, VAT id, address) or as a private person
    again: their tax details, through the merchant's `POST /v1/mandates/{id}/customer` use case,
    for charges created afterwards. A bad VAT id or field: 422, the form shown again, nothing changed."""
    fields = submitted(token, "business")
    if fields is None:
        return forbidden(token)
    try:
        form = forms.BusinessForm.model_validate(fields)
    except ValidationError as invalid:
        if any(e["type"] == forms.MISSING_COMPANY_NAME for e in invalid.errors()):
            return show(token, 422, error_key="business.name_required", business=fields, invalid="company_name")
        return show(token, 422, error_key="business.invalid", business=fields)
    try:
        portal().update_tax_details(token, form.tax())
    except (InvalidLink, ExpiredLink):
        return show(token)
    except InvalidState:  # the mandate was stopped
        return show(token, 409)
    except ValidationFailed:  # the VAT id is not valid for its country prefix
        return show(token, 422, error_key="business.vat_invalid", business=fields, invalid="vat_id")
    metrics.add_metric(name="TaxDetailsChangedByCustomer", unit="Count", value=1)
    return see_other(token, form.type if form.type == "business" else "individual")


def new_payment_method(fields: dict[str, str]) -> tuple[str | None, CardChoice]:
    """The terms hash of the SEPA mandate the customer accepted (None: not ticked), and the method:
    a test card or bank account, or (with Stripe) the one confirmed in the browser for this mandate."""
    if not deps().takes_cards:
        simulated = forms.UpdateMethodForm.model_validate(fields)
        return simulated.accepted_terms, TestCard(simulated.payment_token)
    confirmed = forms.StripeUpdateMethodForm.model_validate(fields)
    return confirmed.accepted_terms, ConfirmedCard(confirmed.setup_intent)


def payment_method(fields: dict[str, str]) -> tuple[str, CardChoice]:
    """The terms hash the customer saw, and the method they chose: a test card, or (with Stripe)
    the card confirmed in the browser (the portal reads it back from the gateway)."""
    if not deps().takes_cards:
        request = forms.ApproveForm.model_validate(fields)
        return request.terms_sha256, TestCard(request.payment_token)
    confirmed = forms.StripeApproveForm.model_validate(fields)
    return confirmed.terms_sha256, ConfirmedCard(confirmed.setup_intent)


@router.get("/customer/mandates/<token>/revoke")
def confirm_revoke(token: str) -> Response[str]:
    language, nonce = lang(), secrets.token_urlsafe(16)
    try:
        view = portal().view(token)
    except (InvalidLink, ExpiredLink):
        return show(token)
    if not view.mandate.customer_may_revoke:
        return show(token, 409)
    language = lang(view.mandate.customer.locale)
    csrf = forms.csrf_token(deps().signing_key(), token, "revoke")
    return respond(200, render.revoke_page(view, language, nonce, page_path(token), csrf), nonce)


@router.post("/customer/mandates/<token>/revoke")
def revoke(token: str) -> Response[str]:
    if submitted(token, "revoke") is None:
        return forbidden(token)
    try:
        portal().revoke(token)
    except InvalidLink:
        return show(token)
    except InvalidState:
        return show(token, 409)
    metrics.add_metric(name="MandatesRevokedByCustomer", unit="Count", value=1)
    return see_other(token, "revoked")


@router.get("/customer/receipts/<token>")
def receipt(token: str) -> Response[str]:
    """A charge's receipt at its signed link: HTML, or `?format=pdf` (the same content)."""
    nonce = secrets.token_urlsafe(16)
    try:
        view = portal().receipt(token)
    except InvalidLink:
        return invalid_link(lang(), nonce)
    language = lang(view.mandate.customer.locale)
    wanted = request().get_query_string_value("format")
    if wanted == "xml" and view.invoice is not None:  # the EN 16931 invoice (Factur-X EN 16931 CII)
        from ..shapes.einvoice import cii_xml

        headers = {"Content-Disposition": f'inline; filename="{view.invoice.number}.xml"', "Cache-Control": "no-store"}
        return Response(
            status_code=200, content_type="application/xml", body=cii_xml(view.invoice).decode("utf-8"), headers=headers
        )
    if wanted == "pdf":
        number = view.invoice.number if view.invoice is not None else view.charge.receipt_number
        filename = f"{'invoice' if view.invoice is not None else 'receipt'}-{number}.pdf"
        headers = {"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"}
        # Bytes: Powertools answers them base64-encoded (isBase64Encoded); the API lists application/pdf as binary.
        pdf: Any = render.receipt_pdf(view, language)
        return Response(status_code=200, content_type="application/pdf", body=pdf, headers=headers)
    return respond(200, render.receipt_page(view, language, nonce, receipt_path(token)), nonce)


def not_found(_: Any) -> Response[str]:
    return invalid_link(lang(), secrets.token_urlsafe(16))


def on_gateway_unavailable(_: Exception) -> Response[str]:
    """Stripe did not answer a check the page needs: nothing changed, the customer tries again."""
    return try_again(503, "30", "unavailable")


def on_conflict(_: Exception) -> Response[str]:
    """The mandate kept changing under this request (past the retries): nothing changed, try again."""
    return try_again(409, "1", "busy")


def try_again(status: int, retry_after: str, why: str) -> Response[str]:
    language, nonce = lang(), secrets.token_urlsafe(16)
    response = respond(status, render.message(language, nonce, text(language, why), text(language, f"{why}_text")), nonce)
    response.headers["Retry-After"] = retry_after
    return response


def on_bug(error: Exception) -> Response[str]:
    logger.exception("customer page error")
    nonce = secrets.token_urlsafe(16)
    return respond(500, render.message("en", nonce, "Something went wrong. Please try again later."), nonce)


def install(app: APIGatewayRestResolver) -> None:
    """The page's answers to what no route answers: an unknown path, the gateway or the table busy, a bug."""
    app.not_found(not_found)
    app.exception_handler(GatewayUnavailable)(on_gateway_unavailable)
    app.exception_handler(ConcurrentModification)(on_conflict)
    app.exception_handler(Exception)(on_bug)
