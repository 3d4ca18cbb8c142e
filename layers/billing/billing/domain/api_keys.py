"""API keys: a merchant's credentials. Shown once; stored as a SHA-256 digest (a key holds 256
random bits, so a fast hash leaves nothing to brute-force).

A key reads `rk_live_<locator>.<secret>`: the locator (base64url of "<merchant id>.<key id>")
tells the authorizer which stored key to compare with, under the merchant's own partition, so
no lookup table outside merchant data is needed. Keys made before locators existed (`rk_live_`
and the secret alone) are found by the digest of the whole key; once adopted among their
merchant's keys (`adopt_first_format`, run once by the operator) they are listed, revoked and
rolled like the rest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from .errors import InvalidState, ValidationFailed
from .events import EventType
from .lifecycles import API_KEY
from .lifecycles import ApiKeyStatus as ApiKeyStatus
from .model import Entity

PREFIX = "rk_live_"
MAX_ACTIVE_KEYS = 10
MAX_ROLLING = timedelta(days=7)
_ID = re.compile(r"^(mch|key)_[A-Za-z0-9]{1,64}$")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def compose(merchant_id: str, key_id: str, secret: str) -> str:
    locator = base64.urlsafe_b64encode(f"{merchant_id}.{key_id}".encode()).rstrip(b"=").decode()
    return f"{PREFIX}{locator}.{secret}"


def locate(api_key: str) -> tuple[str, str, str] | None:
    """(merchant id, key id, secret) of a key with a locator; None for anything else."""
    if not api_key.startswith(PREFIX) or len(api_key) > 300:
        return None
    locator, dot, secret = api_key.removeprefix(PREFIX).partition(".")
    if not dot or not secret:
        return None
    try:
        merchant_id, _, key_id = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode().partition(".")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not (
        _ID.fullmatch(merchant_id) and merchant_id.startswith("mch_") and _ID.fullmatch(key_id) and key_id.startswith("key_")
    ):
        return None
    return merchant_id, key_id, secret


class ApiKey(Entity):
    key_hash: str  # of the secret (of the whole key for one made before locators); never shown
    last4: str | None = None  # None: a key made before locators, until its next use shows it
    status: ApiKeyStatus = "active"
    expires_at: datetime | None = None  # set when revoked: the key works until then (rolling keys)
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Active, or revoked with a grace period that has not run out yet."""
        return self.status == "active" or (self.expires_at is not None and now < self.expires_at)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.key_hash, digest(secret))

    def revoke(self, now: datetime, expires_in: timedelta = timedelta(0)) -> list[EventType]:
        """Revoked at once, or (rolling a key) still working for `expires_in`, at most 7 days."""
        if not timedelta(0) <= expires_in <= MAX_ROLLING:
            raise ValidationFailed("must be between 0 and 604800 seconds", "expires_in_seconds")
        self.status, self.expires_at, self.updated_at = API_KEY.move(self.status, "revoke"), now + expires_in, now
        return [EventType.API_KEY_REVOKED]


TOO_MANY_KEYS = f"A merchant may have at most {MAX_ACTIVE_KEYS} active API keys; revoke one first."
ACTIVE_COUNT = "api_keys_active"  # the merchant's count, written with each creation and revocation


def ensure_room_for_one_more(active: list[ApiKey]) -> None:
    """`active`: the merchant's keys not revoked (a rolling key being retired does not count). The
    early answer; the count written with the creation is what holds under concurrency."""
    if sum(1 for key in active if key.status == "active") >= MAX_ACTIVE_KEYS:
        raise InvalidState(TOO_MANY_KEYS)


def last4(key: str) -> str:
    """What a key shows of itself (the same for its secret and for the whole key string)."""
    return key[-4:]


def new_key(key_id: str, merchant_id: str, secret: str, now: datetime) -> tuple[ApiKey, str, list[EventType]]:
    """A key, the whole key string to show once, and the events of its creation."""
    key = ApiKey(id=key_id, merchant_id=merchant_id, key_hash=digest(secret), last4=last4(secret), created_at=now, updated_at=now)
    return key, compose(merchant_id, key_id, secret), [EventType.API_KEY_CREATED]


def first_format_key_id(key_hash: str) -> str:
    """The id a key made before locators gets among its merchant's keys: derived from its digest
    (so adopting it twice finds the same key), without showing the digest."""
    return "key_" + hashlib.sha256(f"first-format.{key_hash}".encode()).hexdigest()[:24]


def adopt_first_format(key_hash: str, merchant_id: str, created_at: datetime, now: datetime) -> ApiKey:
    """A key made before locators (still working), as one of its merchant's keys: listed, revoked
    or rolled like any other. Its digest is of the whole key string (the key has no locator: the
    authorizer finds it by that digest, then reads this key); its last four are unknown until it is
    next used. Not a new key: no event."""
    return ApiKey(
        id=first_format_key_id(key_hash),
        merchant_id=merchant_id,
        key_hash=key_hash,
        last4=None,
        created_at=created_at,
        updated_at=now,
    )
