"""A destructive action's confirmation: a GET page naming the object and what will happen, holding
the POST form (with the session's CSRF token) that does it. No script: the list's or the mandate's
button is a link to this page, so nothing inline is needed under the CSP (`default-src 'self'`).

The page reads through `routes.signed_in()` and the owner's role (a viewer's is 403, as the
action's `routes.act()`); the object is read through the use cases in the signed-in user's
merchant first, so another merchant's is 404. The POST itself is unchanged (`routes.act()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools.event_handler import Response

from ..domain.dashboard_users import require_owner
from . import render, routes
from .routes import Session


@dataclass(frozen=True)
class Confirmation:
    """What the page says and sends: its title, what will happen, the object's summary (label,
    value) rows, the POST's URL, its hidden fields (the CSRF token is added) and its button."""

    title: str
    happens: str
    summary: Sequence[tuple[str, str]]
    action: str
    button: str
    back: str  # where "keep it" goes: the page the link came from
    hidden: dict[str, str] = field(default_factory=dict)
    danger: bool = True


def owner() -> Session:
    """The confirmation page's reader: signed in and an owner (a viewer is 403, as on the POST)."""
    session = routes.signed_in()
    require_owner(session.user)
    return session


def page(session: Session, current: str, confirmation: Confirmation, status: int = 200) -> Response[str]:
    hidden = {**confirmation.hidden, "csrf": session.csrf}
    body = render.page("confirm_action.html", routes.frame(current, session), c=confirmation, hidden=hidden)
    return routes.respond(status, body)
