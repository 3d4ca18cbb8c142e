"""The dashboard's HTML, from Jinja2 templates with autoescaping on (every value from data is
escaped by the engine); no inline script or style (the CSP allows neither)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..domain.dashboard_users import DashboardUser, Member
from ..domain.figures import CurrencyOverview
from .texts import NAVIGATION, Lang, text

_templates = Environment(
    loader=PackageLoader("billing.dashboard"),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,  # a misspelt variable is an error, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Frame:
    """What every page of the shell shows: the language, where the dashboard lives, who is signed
    in (None: the sign-in page) and their CSRF token, the page the navigation marks, the link
    that switches language."""

    lang: Lang
    root: str  # the dashboard's path (/dashboard, or /<stage>/dashboard on API Gateway's own domain)
    user: DashboardUser | None
    csrf: str
    current: str
    switch_href: str


def page(template: str, frame: Frame, **context: Any) -> str:
    """A page of the shell: other features' templates extend base.html and render through here."""
    context.setdefault("notice", "")
    context.setdefault("error", "")
    return _templates.get_template(template).render(
        lang=frame.lang,
        other_lang="lt" if frame.lang == "en" else "en",
        root=frame.root,
        user=frame.user,
        csrf=frame.csrf,
        current=frame.current,
        switch_href=frame.switch_href,
        navigation=NAVIGATION,
        t=partial(text, frame.lang),
        **context,
    )


def stylesheet() -> str:
    return _templates.get_template("dashboard.css").render()


def users_page(frame: Frame, members: list[Member], notice: str = "", error: str = "") -> str:
    from babel.dates import format_date  # imported on first use

    locale = {"en": "en_GB", "lt": "lt_LT"}[frame.lang]
    rows = [
        {"user_id": m.user_id, "email": m.email, "role": m.role, "invited": format_date(m.invited_at.date(), locale=locale)}
        for m in members
    ]
    return page("users.html", frame, members=rows, notice=notice, error=error)


def overview_page(frame: Frame, overviews: list[CurrencyOverview], now: datetime) -> str:
    """The figures of each currency, written in the frame's language, with their charts."""
    from babel.dates import format_datetime

    from .overview import LOCALES, views

    as_of = format_datetime(now, format="medium", tzinfo=timezone.utc, locale=LOCALES[frame.lang])
    return page("overview.html", frame, currencies=views(overviews, frame.lang), as_of=as_of)
