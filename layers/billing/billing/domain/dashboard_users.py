"""Who may do what on the merchant's dashboard: a user belongs to exactly one merchant, with a
role (`owner`: everything, inviting and removing users and changing their roles included;
`viewer`: reads only). The one place a role is checked (`require_owner`); another merchant's user
is not found (404), never forbidden, so ids of other merchants reveal nothing. A merchant always
keeps an owner: the last one is never demoted nor removed (`keeper`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from .errors import BillingError, InvalidState, NotFound, ValidationFailed

Role = Literal["owner", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
_MERCHANT = re.compile(r"^mch_[A-Za-z0-9]{1,64}$")
# What an e-mail address must look like to be invited (Cognito checks it again): one @, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")


class Forbidden(BillingError):
    """The signed-in user's role does not allow the action (a viewer acting)."""

    status, type = 403, "forbidden"


@dataclass(frozen=True)
class DashboardUser:
    """A signed-in user, as the pool's verified token says (never as the browser says), with the
    role the merchant's directory gives them now (`DashboardSessions.user`)."""

    user_id: str  # the pool's `sub`
    email: str
    merchant_id: str
    role: Role

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


@dataclass(frozen=True)
class Member:
    """A user of one merchant's dashboard, as the merchant's directory lists them."""

    user_id: str
    email: str
    role: Role
    invited_at: datetime
    invited_by: str | None = None  # the owner's user id (None: created with the merchant)


def user_of(claims: dict[str, object]) -> DashboardUser | None:
    """The user a verified token's claims name, or None when they do not name a merchant and a
    role this service knows (a token of the pool, but not a dashboard user's)."""
    sub, email = claims.get("sub"), claims.get("email")
    merchant_id, role = claims.get("custom:merchant_id"), claims.get("custom:role")
    if not (isinstance(sub, str) and sub and isinstance(email, str) and isinstance(merchant_id, str)):
        return None
    if not _MERCHANT.match(merchant_id) or role not in ROLES:
        return None
    return DashboardUser(sub, email, merchant_id, role)  # type: ignore[arg-type]  # role checked just above


def require_owner(user: DashboardUser) -> None:
    """Every action of the dashboard passes here first: a viewer's is refused."""
    if not user.is_owner:
        raise Forbidden("Only an owner of this merchant can do this.")


def invitable(email: str, role: str) -> tuple[str, Role]:
    """The e-mail (trimmed, lower case) and role an owner may invite, or a 422 naming the field."""
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise ValidationFailed("email: not an e-mail address", "email")
    if role not in ROLES:
        raise ValidationFailed(f"role: one of {', '.join(ROLES)}", "role")
    return address, role  # type: ignore[return-value]  # role checked just above


def removable(actor: DashboardUser, member: Member | None, user_id: str) -> Member:
    """The member an owner may remove: one of their merchant's (else 404), not themselves (409:
    a merchant keeps the owner who acts)."""
    if member is None:
        raise NotFound(f"No such user: '{user_id}'.", "user_id")
    if member.user_id == actor.user_id:
        raise InvalidState("You cannot remove yourself.")
    return member


NO_OWNER_LEFT = "A merchant keeps at least one owner: make another user an owner first."


def changeable(member: Member | None, user_id: str, role: str) -> tuple[Member, Role]:
    """The member of the owner's merchant whose role changes (else 404) and the role (else 422)."""
    if member is None:
        raise NotFound(f"No such user: '{user_id}'.", "user_id")
    if role not in ROLES:
        raise ValidationFailed(f"role: one of {', '.join(ROLES)}", "role")
    return member, role  # type: ignore[return-value]  # role checked just above


def keeper(actor: DashboardUser, target: Member, members: list[Member]) -> str:
    """The owner who stays one while `target` stops being an owner (demoted or removed): the
    acting owner, or, when owners change themselves, another owner of the merchant. The change is
    written only while the keeper is still an owner (one transaction), so two owners demoting or
    removing each other at once cannot leave the merchant without one. None left: 409."""
    if actor.user_id != target.user_id:
        return actor.user_id
    for member in members:
        if member.role == "owner" and member.user_id != target.user_id:
            return member.user_id
    raise InvalidState(NO_OWNER_LEFT)
