"""The local runtime's clock: real time until it is set, then a test clock that moves only when told.

Every component reads it: the API (activation, events), the dispatcher's schedule, the charger,
the simulated gateway, and the emulated SQS visibility timeouts.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


class ClockWentBack(Exception):
    pass


class LocalClock:
    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._frozen or datetime.now(timezone.utc)

    @property
    def is_test_clock(self) -> bool:
        return self._frozen is not None

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            current = self._frozen or datetime.now(timezone.utc)
            if moment < current:
                raise ClockWentBack(f"the clock only moves forward (now {current.isoformat()})")
            self._frozen = moment.astimezone(timezone.utc)
            return self._frozen

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ClockWentBack("advance_seconds must be >= 0")
        with self._lock:
            self._frozen = (self._frozen or datetime.now(timezone.utc)) + timedelta(seconds=seconds)
            return self._frozen

    def epoch_seconds(self) -> float:
        return self.now().timestamp()
