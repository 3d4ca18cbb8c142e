"""The merchant dashboard's use cases: who is signed in (a verified token, never the browser's
word), signing in with e-mail and password (the local form), and the merchant's users (an owner
invites and removes them and changes their roles; a viewer cannot; another merchant's user is not
found; the last owner is never demoted nor removed)."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from ..domain.dashboard_users import (
    DashboardUser,
    Member,
    Role,
    changeable,
    invitable,
    owners_required,
    removable,
    require_owner,
    signed_out,
    stranded,
    user_of,
)
from ..domain.errors import InvalidState
from .ports import Clock, CodeExchange, DashboardMembers, InvalidToken, PasswordSignIn, TokenVerifier, UserPool


class PoolSignOutFailed(Exception):
    """The pool's global sign-out failed after the user's sign-out time was written: every token
    they hold is refused already (`DashboardSessions.user`); only the pool's refresh tokens live on."""


class DashboardSessions:
    """A session is the pool's ID token, verified on every request (signature, issuer, audience,
    token_use, expiry) and read for the user's merchant; the user must still be in their
    merchant's directory (one read by key), whose role is the one that counts: a removed user's
    session ends at once, a changed role applies on the next request, not when the token (which
    still names the role it was issued with) expires, and every token issued before the user last
    signed out is refused."""

    def __init__(
        self,
        verifier: TokenVerifier,
        members: DashboardMembers,
        password_sign_in: PasswordSignIn | None = None,
        code_exchange: CodeExchange | None = None,
    ) -> None:
        self.verifier, self.members = verifier, members
        self.password_sign_in, self.code_exchange = password_sign_in, code_exchange

    def user(self, token: str) -> DashboardUser:
        """The signed-in user, or InvalidToken (also for a valid token of the pool that names no
        merchant and role, a user no longer among the merchant's, or a token issued before the user
        last signed out). The role is the merchant's directory's: changed since the token was
        issued, the new one counts."""
        claims = self.verifier.verify(token)
        found = user_of(claims)
        if found is None:
            raise InvalidToken("the token names no dashboard user")
        member = self.members.get(found.merchant_id, found.user_id)
        if member is None:
            raise InvalidToken("the user was removed")
        if signed_out(claims, member.signed_out_at):
            raise InvalidToken("the user signed out after the token was issued")
        return found if member.role == found.role else replace(found, role=member.role)

    def sign_in(self, email: str, password: str) -> tuple[str, DashboardUser]:
        """E-mail and password at the pool, then the same verification as every request.
        Raises SignInRefused (or InvalidToken); `password_sign_in` absent: the form is off (AWS:
        managed login only)."""
        if self.password_sign_in is None:
            raise InvalidToken("password sign-in is not offered here")
        token = self.password_sign_in.sign_in(email.strip().lower(), password)
        return token, self.user(token)

    def choose_password(self, email: str, session: str, new_password: str) -> tuple[str, DashboardUser]:
        """An invited user's own password (the local form; managed login does it on AWS)."""
        if self.password_sign_in is None:
            raise InvalidToken("password sign-in is not offered here")
        token = self.password_sign_in.choose_password(email.strip().lower(), session, new_password)
        return token, self.user(token)

    def from_managed_login(self, code: str, verifier: str, redirect_uri: str) -> tuple[str, DashboardUser]:
        """Managed login's code (PKCE) for the ID token, then the same verification as every request."""
        if self.code_exchange is None:
            raise InvalidToken("managed login is not configured here")
        token = self.code_exchange.exchange(code, verifier, redirect_uri)
        return token, self.user(token)


def new_password() -> str:
    """A password the pool's policy accepts (upper, lower, digit, symbol; 20 characters), shown once."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(16))
    return f"{body}Aa1!"


class DashboardUsers:
    def __init__(
        self, pool: UserPool, members: DashboardMembers, clock: Clock, wall_clock: Callable[[], float] = time.time
    ) -> None:
        # `wall_clock`: the pool's tokens carry the real time (never a simulated clock's)
        self.pool, self.members, self.clock, self.wall_clock = pool, members, clock, wall_clock

    def list(self, actor: DashboardUser) -> list[Member]:
        return sorted(self.members.list(actor.merchant_id), key=lambda m: (m.invited_at, m.email))

    def invite(self, actor: DashboardUser, email: str, role: str) -> Member:
        """The pool's user (it e-mails the invitation), then their directory row in one conditional
        write that also checks the inviting owner is still one (`owners_required`: an owner demoted
        or removed while their request was in flight invites no one, 403/409). The row not written
        (that check, a DynamoDB failure; read back, since an error does not prove it was not): the
        pool's user is deleted again, so the invitation can be sent again. An address the pool holds
        but no directory lists (left over by a failure half-way) is deleted and invited anew; one a
        directory lists stays "already exists"."""
        require_owner(actor)
        address, checked = invitable(email, role)
        owners = owners_required(self.members.list(actor.merchant_id), actor, "", checked)
        return self._invite(actor.merchant_id, address, checked, owners, actor.user_id)

    def _invite(self, merchant_id: str, address: str, role: Role, owners: tuple[str, ...], by: str | None) -> Member:
        user_id = self._create(address, merchant_id, role)
        member = Member(user_id, address, role, self.clock.now(), invited_by=by)
        try:
            self.members.add(merchant_id, member, owners)
        except Exception:
            # An error does not prove the row was not written (an answer lost after the commit):
            # the row read back decides. Listed, the pool's user stays (else: listed, unable to sign in).
            if not self._listed(merchant_id, user_id):
                self.pool.delete_user(user_id)  # taken back: the address can be invited again
            raise
        return member

    def _listed(self, merchant_id: str, user_id: str) -> bool:
        """Whether the directory lists the user; unreadable, they count as listed (a pool user
        kept is at worst `stranded` and replaced by the next invitation; one deleted under its
        row can never sign in)."""
        try:
            return self.members.get(merchant_id, user_id) is not None
        except Exception:
            return True

    def removable(self, actor: DashboardUser, user_id: str) -> Member:
        """The member `remove` would remove, for its confirmation page: an owner only (403),
        another merchant's user is 404, the actor themselves 409 (as `remove`)."""
        require_owner(actor)
        return removable(actor, self.members.get(actor.merchant_id, user_id), user_id)

    def _create(self, address: str, merchant_id: str, role: Role) -> str:
        """The pool's new user; a left-over one of that address (`stranded`) deleted first."""
        try:
            return self.pool.create_user(address, merchant_id, role)
        except InvalidState:
            found = self.pool.user(address)
            now = datetime.fromtimestamp(self.wall_clock(), timezone.utc)
            if found is None or not stranded(found, self.members.get(found.merchant_id, found.user_id), now):
                raise
        self.pool.delete_user(found.user_id)
        return self.pool.create_user(address, merchant_id, role)

    def remove(self, actor: DashboardUser, user_id: str) -> Member:
        """The directory first, in one conditional write that also checks the acting owner is
        still one (two owners removing each other at once: the second finds itself gone, 409),
        then the pool (the user's sign-in ends with their row anyway). Sent again after the pool
        failed, it finishes the pool's delete (the user's pool entry naming this merchant, no row,
        and older than an invitation in flight: `stranded`), then says the user is gone (404)."""
        require_owner(actor)
        listed = self.members.get(actor.merchant_id, user_id)
        if listed is None and user_id and len(user_id) <= 128:
            found = self.pool.user(user_id)
            now = datetime.fromtimestamp(self.wall_clock(), timezone.utc)
            if (
                found is not None
                and found.merchant_id == actor.merchant_id
                and found.user_id == user_id
                and stranded(found, listed, now)  # not an invitation of this merchant still in flight
            ):
                self.pool.delete_user(found.user_id)
        member = removable(actor, listed, user_id)
        owners = owners_required(self.members.list(actor.merchant_id), actor, member.user_id, None)
        self.members.change(actor.merchant_id, member.user_id, None, owners)
        self.pool.delete_user(member.user_id)
        return member

    def change_role(self, actor: DashboardUser, user_id: str, role: str) -> Member:
        """An owner makes a user of their merchant an owner or a viewer, themselves included while
        another owner stays (the last owner: 409). The directory is written first, in one
        conditional write that also checks the owners the rule names (`owners_required`); then the
        pool's `custom:role`, so the two agree (the same role again writes the pool's attribute
        again: a retry after a pool failure mends it). The user's sessions have the new role on
        their next request (`DashboardSessions.user`)."""
        require_owner(actor)
        member, wanted = changeable(self.members.get(actor.merchant_id, user_id), user_id, role)
        if member.role != wanted:
            owners = owners_required(self.members.list(actor.merchant_id), actor, member.user_id, wanted)
            self.members.change(actor.merchant_id, member.user_id, wanted, owners)
        self.pool.set_role(member.user_id, wanted)
        return replace(member, role=wanted)

    def sign_out(self, user: DashboardUser) -> None:
        """Every token the user holds ends now: the sign-out's time on their row (checked on every
        request), then the pool's global sign-out (their refresh tokens). The pool failing after the
        row was written is `PoolSignOutFailed`: the tokens are refused already, the caller goes on."""
        self.members.signed_out(user.merchant_id, user.user_id, datetime.fromtimestamp(self.wall_clock(), timezone.utc))
        try:
            self.pool.sign_out(user.user_id)
        except Exception as error:
            raise PoolSignOutFailed("the pool's global sign-out failed after the sign-out was recorded") from error

    def invite_first_owner(self, merchant_id: str, email: str) -> Member:
        """A deployed merchant's first owner (`make merchant OWNER=<e-mail>`): the pool e-mails the
        invitation with a temporary password; the owner chooses their own on managed login. As an
        invitation: the row not written, the pool's user is taken back; a left-over one is replaced."""
        address, role = invitable(email, "owner")
        return self._invite(merchant_id, address, role, (), None)

    def create_owner(self, merchant_id: str, email: str, role: Role = "owner") -> tuple[Member, str]:
        """The merchant's first user (the local runtime's `owner@<merchant>.local`), with a
        password they can sign in with at once, returned once."""
        password = new_password()
        user_id = self.pool.create_user(email, merchant_id, role, password=password)
        member = Member(user_id, email, role, self.clock.now())
        self.members.put(merchant_id, member)
        return member, password
