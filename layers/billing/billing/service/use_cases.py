"""The use cases a request can reach, built for one request (approval links depend on the URL
it came in on): the merchant API and the customer page both use them. Each is built (and its
module imported) when the request first uses it, so a request loads only what it runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from .event_recorder import EventRecorder
from .ports import CardSetup, Clock, ExportFiles, ExportQueue, IdGenerator, Links, Repository

if TYPE_CHECKING:
    from .account import Accounts
    from .api_keys import ApiKeys
    from .charge_log import ChargeLog
    from .event_log import EventLog
    from .exports import Exports
    from .invoices import Invoices
    from .mandates import Mandates
    from .money_operations import Disputes, Items, Refunds
    from .notification_log import NotificationLog
    from .plans import Plans
    from .ports import WebhookPorts
    from .reconciliations import ReconciliationLog
    from .tax_rates import TaxRates
    from .webhooks import WebhookEndpoints


class UseCases:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        ids: IdGenerator,
        links: Links,
        gateways: frozenset[str],
        cards: Callable[[], CardSetup | None] = lambda: None,
        webhook_ports: Callable[[], WebhookPorts] | None = None,
        export_ports: Callable[[], tuple[ExportQueue, ExportFiles | None]] | None = None,
    ) -> None:
        """`gateways` and `cards`: which payment methods this deployment takes (see `Mandates`;
        Stripe built when a mandate first needs it); `webhook_ports`: built when a webhook route
        is first used (None: this process has none, its webhook use cases do not exist)."""
        self.repo, self.clock, self.ids, self.links = repo, clock, ids, links
        self.gateways, self.cards, self.webhook_ports = gateways, cards, webhook_ports
        self.export_ports = export_ports
        self.recorder = EventRecorder(ids, links)

    @cached_property
    def plans(self) -> Plans:
        from .plans import Plans

        return Plans(self.repo, self.clock, self.ids, self.recorder)

    @cached_property
    def mandates(self) -> Mandates:
        from .mandates import Mandates

        return Mandates(self.repo, self.clock, self.ids, self.recorder, self.gateways, self.cards())

    @cached_property
    def charges(self) -> ChargeLog:
        from .charge_log import ChargeLog

        return ChargeLog(self.repo)

    @cached_property
    def account(self) -> Accounts:
        from .account import Accounts

        return Accounts(self.repo, self.clock)

    @cached_property
    def notifications(self) -> NotificationLog:
        from .notification_log import NotificationLog

        return NotificationLog(self.repo)

    @cached_property
    def refunds(self) -> Refunds:
        from .money_operations import Refunds

        return Refunds(self.repo, self.clock, self.ids, self.recorder)

    @cached_property
    def disputes(self) -> Disputes:
        from .money_operations import Disputes

        return Disputes(self.repo)

    @cached_property
    def tax_rates(self) -> TaxRates:
        from .tax_rates import TaxRates

        return TaxRates(self.repo, self.clock, self.ids)

    @cached_property
    def reconciliations(self) -> ReconciliationLog:
        from .reconciliations import ReconciliationLog

        return ReconciliationLog(self.repo)

    @cached_property
    def invoices(self) -> Invoices:
        from .invoices import Invoices

        return Invoices(self.repo)

    @cached_property
    def items(self) -> Items:
        from .money_operations import Items

        return Items(self.repo, self.clock, self.ids, self.recorder)

    @cached_property
    def events(self) -> EventLog:
        from .event_log import EventLog

        return EventLog(self.repo)

    @cached_property
    def api_keys(self) -> ApiKeys:
        from .api_keys import ApiKeys

        return ApiKeys(self.repo, self.clock, self.ids, self.recorder)

    @cached_property
    def webhooks(self) -> WebhookEndpoints:
        from .webhooks import WebhookEndpoints

        if self.webhook_ports is None:
            raise LookupError("this process has no webhook adapters")
        return WebhookEndpoints(self.repo, self.clock, self.ids, self.recorder, self.webhook_ports())

    @cached_property
    def exports(self) -> Exports:
        from .exports import Exports

        if self.export_ports is None:
            raise LookupError("this process has no export adapters")
        queue, files = self.export_ports()
        return Exports(self.repo, self.clock, self.ids, queue, files)
