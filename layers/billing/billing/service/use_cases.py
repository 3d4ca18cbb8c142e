"""The use cases a request can reach, built for one request (approval links depend on the URL
it came in on): the merchant API and the customer page both use them."""

from __future__ import annotations

from dataclasses import dataclass

from .api_keys import ApiKeys
from .charges import Charges
from .event_log import EventLog
from .mandates import Mandates
from .plans import Plans
from .ports import Clock, Links


@dataclass(frozen=True)
class UseCases:
    plans: Plans
    mandates: Mandates
    charges: Charges
    events: EventLog
    api_keys: ApiKeys
    links: Links
    clock: Clock
