"""Who may do what on the merchant's dashboard: a user belongs to exactly one merchant, with a
role (`owner`: everything, inviting and removing users and changing their roles included;
`viewer`: reads only). The one place a role is checked (`require_owner`); another merchant's user
is not found (404), never forbidden, so ids of other merchants reveal nothing. A merchant always
keeps an owner: the last one is never demoted nor removed (`owners_required`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from .errors import BillingError, InvalidState, NotFound, ValidationFailed

Role = Literal["owner", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
# The pool's user name is the address, and Cognito's user names are 1-128 characters (AdminCreateUser).
MAX_EMAIL = 128
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
    signed_out_at: datetime | None = None  # their last sign-out: tokens issued until then open nothing


@dataclass(frozen=True)
class PoolUser:
    """A user as the pool holds them: the merchant and role their attributes name."""

    user_id: str  # the pool's `sub`
    email: str
    merchant_id: str
    created_at: datetime | None = None  # None: the pool did not say


# An invitation writes its pool user, then its directory row within one request (the function's
# timeout is far shorter): a pool user younger than this may be an invitation still in flight.
IN_FLIGHT = timedelta(minutes=5)


def stranded(found: PoolUser, listed: Member | None, now: datetime) -> bool:
    """Whether a pool user is left over: no row of the merchant their `custom:merchant_id` names
    lists them (an invitation whose row was never written, a removal whose pool delete failed),
    and they are old enough not to be an invitation in flight. Such a user may be deleted so their
    address can be invited again; one a directory lists never is (another merchant's user stays
    "already exists")."""
    if listed is not None:
        return False
    return found.created_at is None or now - found.created_at >= IN_FLIGHT


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
    if len(address) > MAX_EMAIL:
        raise ValidationFailed(f"email: at most {MAX_EMAIL} characters", "email")
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


def changeable(member: Member | None, user_id: str, role: str) -> tuple[Member, Role]:
    """The member of the owner's merchant whose role changes (else 404) and the role (else 422)."""
    if member is None:
        raise NotFound(f"No such user: '{user_id}'.", "user_id")
    if role not in ROLES:
        raise ValidationFailed(f"role: one of {', '.join(ROLES)}", "role")
    return member, role  # type: ignore[return-value]  # role checked just above


def signed_out(claims: dict[str, object], signed_out_at: datetime | None) -> bool:
    """Whether a verified token was issued before its user last signed out: its `auth_time` (or
    `iat`), whole seconds as the pool writes them, not later than the sign-out's second. A token
    without either time is refused once its user has signed out."""
    if signed_out_at is None:
        return False
    issued = claims.get("auth_time", claims.get("iat"))
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        return True
    return int(issued) <= int(signed_out_at.timestamp())


class NoOwnerLeft(InvalidState):
    """The change would leave the merchant without an owner (409)."""


class MembersChanged(InvalidState):
    """The merchant's users changed between reading and writing (the user gone, or an owner the
    change needs gone or no longer an owner): nothing was written (409)."""


def leaves_an_owner(members: Iterable[Member], user_id: str, role: Role | None) -> bool:
    """Whether the merchant still has an owner once `user_id` is removed (`role` None) or given `role`."""
    return any(m.role == "owner" for m in members if m.user_id != user_id) or role == "owner"


def owners_required(members: Iterable[Member], actor: DashboardUser, user_id: str, role: Role | None) -> tuple[str, ...]:
    """The rule every change to a merchant's users (a removal: `role` None; a role change) obeys:
    the acting owner is still an owner, and the merchant keeps one. Returns the users who must
    still be owners when the change is written (checked in the same conditional write, so two
    owners removing or demoting each other at once cannot both succeed): the actor, and when the
    actor gives up their own ownership another owner. 403 when the actor is no longer an owner in
    `members` (the directory), 409 when the change would leave no owner."""
    require_owner(actor)
    listed = list(members)
    owners = sorted(m.user_id for m in listed if m.role == "owner")
    if actor.user_id not in owners:
        raise Forbidden("Only an owner of this merchant can do this.")
    if not leaves_an_owner(listed, user_id, role):
        raise NoOwnerLeft("A merchant keeps at least one owner: make another user an owner first.")
    if user_id == actor.user_id and role != "owner":
        return actor.user_id, next(o for o in owners if o != actor.user_id)
    return (actor.user_id,)
