"""API keys over the API: several per merchant, created (the secret shown once), listed, revoked
at once or rolled (still working for up to 7 days while clients move to a new key); keys made
before locators adopted among them (`scripts/api_keys.py migrate-legacy`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain import api_keys
from ..domain.api_keys import ApiKey
from ..domain.errors import found
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import Changes, Clock, IdGenerator, Limit, Page, PageRequest, Repository


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # the whole key string: shown this once, stored only as a digest


class ApiKeys:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator, recorder: EventRecorder) -> None:
        self.repo, self.clock, self.ids, self.recorder = repo, clock, ids, recorder

    def create(self, merchant_id: str) -> CreatedKey:
        """A concurrent creation or revocation holding the merchant's count makes the write
        conflict: it is decided again on fresh state (room left, or the limit's 409)."""
        key_id, secret_part = self.ids.new("key"), self.ids.secret()

        def once(_: int) -> CreatedKey:
            now = self.clock.now()
            active = self._active(merchant_id)
            api_keys.ensure_room_for_one_more(active)
            key, secret, types = api_keys.new_key(key_id, merchant_id, secret_part, now)
            room = Limit(merchant_id, api_keys.ACTIVE_COUNT, +1, api_keys.MAX_ACTIVE_KEYS, api_keys.TOO_MANY_KEYS, len(active))
            self.repo.commit(Changes(put=[key], events=self.recorder.events([(key, types)], now), limits=[room]))
            return CreatedKey(key, secret)

        return retry_on_conflict(once)

    def _active(self, merchant_id: str) -> list[ApiKey]:
        page = self.repo.page(ApiKey, merchant_id, PageRequest(api_keys.MAX_ACTIVE_KEYS + 1), status="active")
        return [key for key in page.data if key.status == "active"]

    def get(self, merchant_id: str, key_id: str) -> ApiKey:
        return found(self.repo.get(ApiKey, merchant_id, key_id), "API key", key_id)

    def page(self, merchant_id: str, page: PageRequest) -> Page[ApiKey]:
        return self.repo.page(ApiKey, merchant_id, page)

    def revoke(self, merchant_id: str, key_id: str, expires_in: timedelta = timedelta(0)) -> ApiKey:
        def once(_: int) -> ApiKey:
            now = self.clock.now()
            key = self.get(merchant_id, key_id)
            was_active = len(self._active(merchant_id)) if key.status == "active" else 0
            types = key.revoke(now, expires_in)
            freed = Limit(merchant_id, api_keys.ACTIVE_COUNT, -1, initial=was_active)
            self.repo.commit(Changes(put=[key], events=self.recorder.events([(key, types)], now), limits=[freed]))
            return key

        return retry_on_conflict(once)

    def adopt_first_format(self, merchant_id: str, key_hash: str, created_at: datetime | None) -> ApiKey | None:
        """A key made before locators, still working, made one of the merchant's keys (listed,
        revocable); None when it already is. `created_at`: when it was made, if recorded. It counts
        among the active keys at once, even past the maximum (it exists already: the merchant
        revokes keys to make room)."""

        def once(_: int) -> ApiKey | None:
            if self.repo.get(ApiKey, merchant_id, api_keys.first_format_key_id(key_hash)) is not None:
                return None
            now = self.clock.now()
            key = api_keys.adopt_first_format(key_hash, merchant_id, created_at or now, now)
            counted = Limit(merchant_id, api_keys.ACTIVE_COUNT, +1, initial=len(self._active(merchant_id)))
            self.repo.commit(Changes(put=[key], limits=[counted]))
            return key

        return retry_on_conflict(once)
