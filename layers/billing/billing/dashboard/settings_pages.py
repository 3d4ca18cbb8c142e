"""The owner's settings page: the account (name, legal name, address, VAT id, company code,
support e-mail, default locale, customer notifications with invoice_pdf, the invoice and credit
note prefixes) changed through the account use case, the tax rates listed, created and archived
through the tax rates' use cases (archiving, final, through a confirmation page: `confirm.py`),
and the account's default tax rate chosen (its own small form,
the account use case's `default_tax_rate_id`: an active rate of this merchant, else 422, as the
API says): those of PATCH /v1/account and /v1/tax_rates.

As the other owner pages (`owner_pages`): read through `routes.signed_in()` (a viewer sees the
values, no form), every POST through `routes.act()` (same origin, CSRF, an owner); what a form got
wrong is the page again with the reason (422), what a state refuses is 409, never a 500; another
merchant's rate is 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ..domain.errors import InvalidState, ValidationFailed
from ..domain.tax import PERCENTAGE_PATTERN, iso_country
from ..domain.text import lines, single_line
from ..service.ports import PageRequest
from . import confirm, render, routes, views
from .mandate_pages import use_cases
from .routes import Session
from .texts import Lang, text

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated

PREFIX = re.compile(r"[A-Z0-9]{1,10}")  # the API's AccountUpdate prefixes
VAT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .-]{1,29}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PERCENTAGE = re.compile(PERCENTAGE_PATTERN)
SWITCHES = ("receipts", "payment_failed", "mandate_updates", "invoice_pdf")
NOTICES = ("upcoming_charge_days", "trial_ending_days")
TEXTS = ("name", "legal_name", "address", "vat_id", "company_code", "support_email")
MAX_RATES = 100  # listed on the page (a merchant has a few)
MAX_ID = 64  # the API's ObjectId


@dataclass(frozen=True)
class AccountForm:
    """The account form's fields as the use case's changes (service/commands.AccountChanges): the
    whole form is sent, an emptied optional detail cleared (null)."""

    changes: dict[str, object]

    def sent(self) -> dict[str, object]:
        return dict(self.changes)


@dataclass(frozen=True)
class TaxRateForm:
    """What the tax rate form sends, as the use case takes it (service/commands.NewTaxRate)."""

    display_name: str
    percentage: str
    country: str
    inclusive: bool = True
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _text(fields: dict[str, str], name: str, most: int, lang: Lang, multiline: bool = False) -> str | None:
    value = fields.get(name, "").strip().replace("\r\n", "\n")
    try:
        if len(value) > most:
            raise ValueError(value)
        if value:
            (lines if multiline else single_line)(value)
    except ValueError:
        raise routes.FormRefused(text(lang, "settings.text_invalid", field=text(lang, f"settings.{name}"), most=most)) from None
    return value or None


def account_form(fields: dict[str, str], lang: Lang) -> AccountForm:
    """The API's limits (AccountUpdate); the use case then checks the VAT id, the prefixes' series."""
    name = _text(fields, "name", 200, lang)
    if name is None:
        raise routes.FormRefused(text(lang, "settings.name_required"))
    changes: dict[str, object] = {
        "name": name,
        "legal_name": _text(fields, "legal_name", 200, lang),
        "address": _text(fields, "address", 500, lang, multiline=True),
        "company_code": _text(fields, "company_code", 50, lang),
    }
    vat_id = _text(fields, "vat_id", 30, lang)
    if vat_id is not None and not VAT_ID.fullmatch(vat_id):
        raise routes.FormRefused(text(lang, "settings.vat_id_invalid"))
    email = _text(fields, "support_email", 254, lang)
    if email is not None and not EMAIL.fullmatch(email):
        raise routes.FormRefused(text(lang, "settings.email_invalid"))
    locale = fields.get("default_locale", "")
    if locale not in ("en", "lt"):
        raise routes.FormRefused(text(lang, "error.invalid", field="default_locale"))
    prefixes = {k: fields.get(k, "").strip() for k in ("invoice_prefix", "credit_note_prefix")}
    if not all(PREFIX.fullmatch(v) for v in prefixes.values()):
        raise routes.FormRefused(text(lang, "settings.prefix_invalid"))
    notifications: dict[str, object] = {k: fields.get(k) == "on" for k in SWITCHES}
    for notice in NOTICES:
        days = fields.get(notice, "").strip()
        if not (days.isascii() and days.isdigit()) or len(days) > 2 or int(days) > 14:
            raise routes.FormRefused(text(lang, "settings.days_invalid", field=text(lang, f"settings.{notice}")))
        notifications[notice] = int(days)
    changes |= {"vat_id": vat_id, "support_email": email, "default_locale": locale, **prefixes}
    return AccountForm(changes | {"notifications": notifications})


def tax_rate_form(fields: dict[str, str], lang: Lang) -> TaxRateForm:
    name = _text(fields, "display_name", 50, lang)
    if name is None:
        raise routes.FormRefused(text(lang, "settings.rate_name_required"))
    percentage = fields.get("percentage", "").strip().replace(",", ".")
    if not PERCENTAGE.fullmatch(percentage):
        raise routes.FormRefused(text(lang, "settings.percentage_invalid"))
    country = fields.get("country", "").strip().upper()[:2]
    try:
        iso_country(country)
    except ValueError:
        raise routes.FormRefused(text(lang, "settings.country_invalid")) from None
    description = _text(fields, "rate_description", 500, lang)
    return TaxRateForm(name, percentage, country, fields.get("inclusive") == "on", description)


def _percent(value: str, lang: Lang) -> str:
    from decimal import Decimal

    from babel.numbers import format_decimal

    return f"{format_decimal(Decimal(value), format='#,##0.####', locale=views.LOCALES[lang])} %"


def settings_page(
    session: Session, status: int = 200, error: str = "", notice: str = "", entered: dict[str, object] | None = None
) -> Response[str]:
    lang, api, merchant = routes.lang(), use_cases(), session.user.merchant_id
    account = api.account.get(merchant)
    values: dict[str, object] = {k: getattr(account, k) or "" for k in TEXTS}
    values |= {
        "default_locale": account.default_locale,
        "invoice_prefix": account.invoice_prefix,
        "credit_note_prefix": account.credit_note_prefix,
        **account.notifications.model_dump(),
    }
    if entered:
        values |= entered
    rates = [
        {
            "id": r.id,
            "name": r.display_name,
            "percentage": _percent(r.percentage, lang),
            "country": r.country,
            "inclusive": text(lang, "settings.inclusive_yes" if r.inclusive else "settings.inclusive_no"),
            "status": r.status,
            "status_text": text(lang, f"settings.rate_status.{r.status}"),
            "default": r.id == account.default_tax_rate_id,
        }
        for r in api.tax_rates.page(merchant, PageRequest(MAX_RATES)).data
    ]
    choices = [{"id": r["id"], "name": f"{r['name']} ({r['percentage']})"} for r in rates if r["status"] == "active"]
    if account.default_tax_rate_id and not any(c["id"] == account.default_tax_rate_id for c in choices):
        # The default is archived since it was chosen: shown as it is (plans keep it), no new choice of it.
        archived = text(lang, "settings.rate_status.archived")
        choices.append({"id": account.default_tax_rate_id, "name": f"{account.default_tax_rate_id} ({archived})"})
    page_html = render.page(
        "settings.html",
        routes.frame("settings", session),
        values=values,
        switches=SWITCHES,
        notices=NOTICES,
        rates=rates,
        default_rate=account.default_tax_rate_id or "",
        default_choices=choices,
        error=error,
        notice=notice,
    )
    return routes.respond(status, page_html)


@router.get("/dashboard/settings")
def settings() -> Response[str]:
    session = routes.signed_in()
    return settings_page(
        session, notice=routes.notice("settings", ("saved", "rate_created", "rate_archived", "default_rate_saved"))
    )


@router.post("/dashboard/settings")
def save_account() -> Response[str]:
    session, fields = routes.act()
    lang = routes.lang()
    entered: dict[str, object] = {k: fields.get(k, "")[:500] for k in (*TEXTS, *NOTICES, "invoice_prefix", "credit_note_prefix")}
    entered |= {k: fields.get(k) == "on" for k in SWITCHES}
    try:
        use_cases().account.update(session.user.merchant_id, account_form(fields, lang))
    except routes.FormRefused as refused:
        return settings_page(session, 422, str(refused), entered=entered)
    except ValidationFailed as refused:  # the use case's: a VAT id not an EU one, a prefix of the other series
        return settings_page(session, 422, text(lang, "settings.refused", message=refused.message), entered=entered)
    except InvalidState as refused:
        return settings_page(session, 409, refused.message, entered=entered)
    return routes.done(session, "settings", "saved")


@router.post("/dashboard/settings/tax-rates")
def create_rate() -> Response[str]:
    session, fields = routes.act()
    lang = routes.lang()
    try:
        rate = use_cases().tax_rates.create(session.user.merchant_id, tax_rate_form(fields, lang))
    except routes.FormRefused as refused:
        return settings_page(session, 422, str(refused))
    except ValidationFailed as refused:  # the use case's: the account has no VAT id
        return settings_page(session, 422, text(lang, "settings.refused", message=refused.message))
    except InvalidState as refused:
        return settings_page(session, 409, refused.message)
    return routes.done(session, "settings", "rate_created", tax_rate_id=rate.id)


@router.get("/dashboard/settings/tax-rates/<rate_id>/archive")
def confirm_archive_rate(rate_id: str) -> Response[str]:
    """The archive link's page (`confirm.py`): the rate, what archiving does (final: no way back);
    its form archives."""
    session = confirm.owner()
    lang, merchant = routes.lang(), session.user.merchant_id
    rate = use_cases().tax_rates.get(merchant, rate_id)  # another merchant's: NotFound, the 404 page
    if rate.status != "active":
        return settings_page(session, 409, text(lang, "confirm.not_now", state=text(lang, f"settings.rate_status.{rate.status}")))
    inclusive = text(lang, "settings.inclusive_yes" if rate.inclusive else "settings.inclusive_no")
    summary = [
        (text(lang, "settings.display_name"), f"{rate.display_name} ({rate.id})"),
        (text(lang, "settings.percentage"), f"{_percent(rate.percentage, lang)} ({inclusive})"),
        (text(lang, "settings.country_column"), rate.country),
        (text(lang, "confirm.created"), views.day(rate.created_at, lang)),
    ]
    happens = text(lang, "settings.archive_rate_happens")
    if use_cases().account.get(merchant).default_tax_rate_id == rate.id:
        happens = f"{happens} {text(lang, 'settings.archive_rate_default')}"
    return confirm.page(
        session,
        "settings",
        confirm.Confirmation(
            title=text(lang, "settings.archive_rate_title", name=rate.display_name),
            happens=happens,
            summary=summary,
            action=f"{routes.root()}/settings/tax-rates/{rate.id}/archive",
            button=text(lang, "settings.archive_rate_button"),
            back=f"{routes.root()}/settings",
        ),
    )


@router.post("/dashboard/settings/tax-rates/<rate_id>/archive")
def archive_rate(rate_id: str) -> Response[str]:
    session, _ = routes.act()
    try:
        use_cases().tax_rates.archive(session.user.merchant_id, rate_id)  # another merchant's: the 404 page
    except InvalidState as refused:
        return settings_page(session, 409, refused.message)
    return routes.done(session, "settings", "rate_archived", tax_rate_id=rate_id)


@router.post("/dashboard/settings/default-tax-rate")
def save_default_rate() -> Response[str]:
    """The account's default tax rate (empty: none), through the account use case, which checks it
    as the API does: an active rate of this merchant (an archived one, another merchant's or an
    unknown id is a 422 saying so), and the account has a VAT id."""
    session, fields = routes.act()
    lang = routes.lang()
    chosen = fields.get("default_tax_rate_id", "").strip()
    if len(chosen) > MAX_ID:
        return settings_page(session, 422, text(lang, "error.invalid", field="default_tax_rate_id"))
    try:
        use_cases().account.update(session.user.merchant_id, AccountForm({"default_tax_rate_id": chosen or None}))
    except ValidationFailed as refused:
        return settings_page(session, 422, text(lang, "settings.refused", message=refused.message))
    except InvalidState as refused:
        return settings_page(session, 409, refused.message)
    return routes.done(session, "settings", "default_rate_saved", tax_rate_id=chosen)
