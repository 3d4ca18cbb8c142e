"""Mandates: a customer's permission to be charged on a plan's terms, and every change to it
(approval, cancel, revoke, pause, resume, a new payment method).

Every method takes the merchant id (from the authorizer, never from the request) first; a
change and the events it causes are committed together in one transaction, conditional on the
mandate's version, so it is ordered with the charger's start marker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from ..domain.account import Account
from ..domain.charge import Charge
from ..domain.engine import released, replace_payment_method
from ..domain.errors import ValidationFailed, found
from ..domain.events import EventType
from ..domain.model import Consent, Customer, Mandate, PaidPeriod, PaymentMethod, Plan, PlanTerms
from ..domain.payment_methods import ensure_usable
from ..domain.tax import CustomerTax, ensure_vat_id
from .commands import CustomerChanges, NewCustomerTax, NewMandate, NewPaymentMethod, Pause, PlanChange
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import CardSetup, Changes, Clock, IdGenerator, Page, PageRequest, Repository
from .tax_rates import seller_vat_id

EMAIL_SEARCH_EXAMINED = 200  # mandates a search by e-mail examines per page (as the API's filtered lists)

Change = Callable[[Mandate, Charge | None, datetime], list[EventType]]


class Mandates:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        ids: IdGenerator,
        recorder: EventRecorder,
        gateways: frozenset[str],
        cards: CardSetup | None = None,
    ) -> None:
        """`gateways`: the gateways this deployment can charge with (a payment method for any
        other is refused with 422 before it is stored); `cards`: Stripe, where it is configured,
        which tells whether it holds a payment method for a merchant (its Customer's metadata)."""
        self.repo, self.clock, self.ids, self.recorder, self.gateways = repo, clock, ids, recorder, gateways
        self.cards = cards

    def create(self, merchant_id: str, request: NewMandate) -> Mandate:
        now = self.clock.now()
        plan = found(self.repo.get(Plan, merchant_id, request.plan_id), "plan", request.plan_id, "plan_id")
        plan.ensure_accepts_mandates()
        account = self.repo.get(Account, merchant_id, merchant_id)
        method: PaymentMethod | None = None
        if request.payment_method is not None:
            ensure_usable(request.payment_method.gateway, self.gateways)
            method = _method(request.payment_method)
            self._ensure_owned(merchant_id, method, "payment_method.token")
            method = described(method, self.cards)
        mandate = Mandate(
            id=self.ids.new("mdt"),
            merchant_id=merchant_id,
            plan_id=plan.id,
            terms=terms_with_tax(plan, account),
            customer=Customer(
                reference=request.customer.reference,
                email=request.customer.email,
                name=request.customer.name,
                locale=request.customer.locale or (account.default_locale if account else "en"),
                tax=customer_tax(request.customer.tax, "customer.tax"),
            ),
            seller_vat_id=account.vat_id if account else None,
            payment_method=method,
            start_at=request.start_at,
            end_at=request.end_at,
            metadata=dict(request.metadata),
            created_at=now,
            updated_at=now,
        )
        mandate.ensure_new_terms_valid(now)
        if mandate.payment_method is not None:
            mandate.ensure_method_allowed(mandate.payment_method)  # a bank debit: EUR, e-mail and name
        if mandate.payment_method is not None:
            self._record_use(mandate.payment_method, merchant_id, mandate.id)
        types: list[EventType] = [EventType.MANDATE_CREATED]
        if mandate.payment_method is not None and request.consent is not None:
            # The merchant collected consent itself: active at once.
            consent = request.consent
            types += mandate.activate(
                now,
                mandate.payment_method,
                Consent(accepted_at=consent.accepted_at, ip=consent.ip, user_agent=consent.user_agent),
            )
        # Events carry the final state of this request (the object as the API returns it).
        self.repo.commit(Changes(put=[mandate], events=self.recorder.events([(mandate, types)], now)))
        return mandate

    def update_customer(self, merchant_id: str, mandate_id: str, request: CustomerChanges) -> Mandate:
        """`POST /v1/mandates/{id}/customer`: e-mail, name, locale, tax details (the fields sent)."""
        changes = request.sent()
        if "locale" in changes and changes["locale"] is None:
            raise ValidationFailed("locale cannot be null.", "locale")
        if "tax" in changes:
            changes["tax"] = customer_tax(request.tax, "tax")

        def once(_: int) -> Mandate:
            account = self.repo.get(Account, merchant_id, merchant_id)
            mandate = self.get(merchant_id, mandate_id)
            if mandate.update_customer(self.clock.now(), changes, account.vat_id if account else None):
                self.repo.commit(Changes(put=[mandate]))
            return mandate

        return retry_on_conflict(once)

    def get(self, merchant_id: str, mandate_id: str) -> Mandate:
        return found(self.repo.get(Mandate, merchant_id, mandate_id), "mandate", mandate_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Mandate]:
        return self.repo.page(Mandate, merchant_id, page, **filters)

    def find_by_email(self, merchant_id: str, email: str, page: PageRequest, **filters: str | None) -> Page[Mandate]:
        """Mandates whose customer has this e-mail address (exact, case-insensitive), newest first.

        No index holds e-mail addresses: a page examines at most EMAIL_SEARCH_EXAMINED mandates (the
        list's own filters applied inside the index first) and may hold fewer matches than asked
        for, even none, with `has_more` and a cursor after the last one examined: the next page
        searches older mandates. Bounded whatever the merchant's size."""
        wanted = email.strip().casefold()
        matches: list[Mandate] = []
        cursor, has_more, examined = page.cursor, False, 0
        while examined < EMAIL_SEARCH_EXAMINED and len(matches) < page.limit:
            batch = self.repo.page(
                Mandate, merchant_id, PageRequest(min(100, EMAIL_SEARCH_EXAMINED - examined), cursor), **filters
            )
            examined += len(batch.data)
            matches += [m for m in batch.data if (m.customer.email or "").casefold() == wanted]
            cursor, has_more = batch.next_cursor, batch.has_more
            if not has_more:
                break
        return Page(matches, has_more, cursor if has_more else None)

    def schedule(self, merchant_id: str, mandate_id: str, count: int) -> tuple[Mandate, list[tuple[int, datetime]]]:
        """The next `count` charges, priced as the dispatcher would price them now: with the account's
        VAT id as it is (not the one last saved on the mandate)."""
        mandate = self.get(merchant_id, mandate_id).as_sold_by(seller_vat_id(self.repo, merchant_id))
        return mandate, mandate.upcoming_charges(self.clock.now(), count)

    def cancel(self, merchant_id: str, mandate_id: str) -> Mandate:
        return self._change(merchant_id, mandate_id, lambda m, c, now: m.cancel(now))

    def revoke(self, merchant_id: str, mandate_id: str) -> Mandate:
        return self._change(merchant_id, mandate_id, lambda m, c, now: m.revoke(now))

    def pause(self, merchant_id: str, mandate_id: str, request: Pause | None) -> Mandate:
        resume_at = request.resume_at if request else None
        return self._change(merchant_id, mandate_id, lambda m, c, now: m.pause(now, resume_at))

    def resume(self, merchant_id: str, mandate_id: str) -> Mandate:
        return self._change(
            merchant_id, mandate_id, lambda m, c, now: m.resume(now, c.next_attempt_at if c is not None else None)
        )

    def approve(self, merchant_id: str, mandate_id: str, method: PaymentMethod, consent: Consent) -> Mandate:
        """The customer approved on the hosted page: record the evidence and activate."""
        ensure_usable(method.gateway, self.gateways)
        self._record_use(method, merchant_id, mandate_id)
        return self._change(merchant_id, mandate_id, lambda m, c, now: m.activate(now, method, consent))

    def replace_payment_method(
        self,
        merchant_id: str,
        mandate_id: str,
        request: NewPaymentMethod,
        source: Literal["merchant", "customer"] = "merchant",
        consent: Consent | None = None,
    ) -> Mandate:
        """From the merchant's API, or from the customer's page (`source`, carried by the event).
        The merchant's token is checked at the gateway; the customer's page passes only a test card
        or bank account, or the method Stripe confirmed for this very mandate (as at approval), so
        no check is due. A bank account from the customer comes with `consent` (the hash of the
        SEPA mandate they accepted): the mandate's consent from then on, the event keeps the one before."""
        ensure_usable(request.gateway, self.gateways, "gateway")
        method = request if isinstance(request, PaymentMethod) else _method(request)  # the page's is described already
        if source == "merchant":
            self._ensure_owned(merchant_id, method, "token")
            method = described(method, self.cards)
        self._record_use(method, merchant_id, mandate_id)
        previous: dict[str, object] = {}

        def change(mandate: Mandate, charge: Charge | None, now: datetime) -> list[EventType]:
            before = self.recorder.snapshot(mandate)
            previous["payment_method"] = before["payment_method"]
            if consent is not None:
                previous["consent"] = before.get("consent")
            return replace_payment_method(mandate, charge, method, now, by_customer=source == "customer", consent=consent)

        extra = {"previous_attributes": previous, "source": source}
        return self._change(merchant_id, mandate_id, change, {EventType.MANDATE_PAYMENT_METHOD_UPDATED: extra})

    def change_plan(self, merchant_id: str, mandate_id: str, request: PlanChange) -> Mandate:
        """The new plan must be this merchant's (another merchant's is unknown here: 422)."""
        plan = self.repo.get(Plan, merchant_id, request.plan_id)
        if plan is None:
            raise ValidationFailed(f"No such plan: '{request.plan_id}'.", "plan_id")
        previous: dict[str, object] = {}
        touched: list[Charge] = []

        def change(mandate: Mandate, charge: Charge | None, now: datetime) -> list[EventType]:
            previous["plan_id"] = mandate.plan_id

            def credit_back(period: PaidPeriod) -> int:
                """The paid charge grants the credit (net of its refunds) and is written with the mandate;
                read only when a prorated change now needs it."""
                paid = self.repo.get(Charge, merchant_id, period.charge_id)
                if paid is None:
                    return 0
                granted = paid.credit_back(period.unused_credit(now), now)
                if granted:
                    touched.append(paid)
                return granted

            account = self.repo.get(Account, merchant_id, merchant_id)
            mandate.as_sold_by(account.vat_id if account else None)
            taxed = plan.model_copy(update={"terms": terms_with_tax(plan, account)})
            return mandate.change_plan(now, taxed, request.at, request.prorate, credit_back)

        extra: dict[str, Mapping[str, object]] = {EventType.MANDATE_PLAN_CHANGED: {"previous_attributes": previous}}
        return self._change(merchant_id, mandate_id, change, extra, touched)

    def _ensure_owned(self, merchant_id: str, method: PaymentMethod, param: str) -> None:
        # A Stripe payment method must be one of this merchant's customers' at Stripe; the simulated
        # gateway's tokens belong to everyone.
        if method.gateway == "stripe" and self.cards is not None and not self.cards.belongs_to(merchant_id, method.token):
            raise ValidationFailed("This payment method does not belong to a customer of this merchant at the gateway.", param)

    def _record_use(self, method: PaymentMethod, merchant_id: str, mandate_id: str) -> None:
        """Tell the gateway which mandate uses a Stripe payment method, before the mandate takes it
        (so its reports about the method reach the mandate). Written first: if the change is then
        refused, the gateway names a mandate that does not use the method, and such reports change
        nothing (`GatewayEvents` checks the method); Stripe unreachable refuses the request (503)
        with nothing stored, as `described` does."""
        if method.gateway == "stripe" and self.cards is not None:
            self.cards.record_use(merchant_id, mandate_id, method.token)

    def _change(
        self,
        merchant_id: str,
        mandate_id: str,
        change: Change,
        extra: Mapping[str, Mapping[str, object]] | None = None,
        touched: list[Charge] | None = None,
    ) -> Mandate:
        """Change a mandate; when that ends collection (cancel, revoke) with no attempt at the
        gateway, its unsettled charge is cancelled in the same transaction; an open charge the
        change updated (a new payment method pinned) is written too, and so are the charges the
        change adds to `touched` (a paid charge granting credit). `extra`: more event data by
        event type (`previous_attributes`, `source`)."""

        def once(_: int) -> Mandate:
            now = self.clock.now()
            if touched is not None:
                touched.clear()
            mandate = self.get(merchant_id, mandate_id)
            charge = self.repo.get(Charge, merchant_id, mandate.open_charge_id) if mandate.open_charge_id else None
            before = charge.model_copy(deep=True) if charge is not None else None
            types = change(mandate, charge, now)
            if not types:
                return mandate
            charge_types: list[EventType] = []
            if charge is not None and mandate.open_charge_id is None:  # the change detached it
                charge_types = charge.cancel(now)
                released(mandate, charge)
            written = [charge] if charge is not None and (charge_types or charge != before) else []
            changes = Changes(
                put=[mandate, *written, *[c for c in touched or [] if c not in written]],
                events=self.recorder.events(
                    [(mandate, types), (charge, charge_types)] if charge else [(mandate, types)], now, extra
                ),
            )
            self.repo.commit(changes)
            return mandate

        return retry_on_conflict(once)


def terms_with_tax(plan: Plan, account: Account | None) -> PlanTerms:
    """A plan's terms as a mandate takes them: the plan's tax rate, else the account's default."""
    if plan.terms.tax_rate is not None or account is None or account.default_tax_rate is None:
        return plan.terms
    return plan.terms.model_copy(update={"tax_rate": account.default_tax_rate})


def customer_tax(request: NewCustomerTax | None, param: str) -> CustomerTax | None:
    """The customer's tax details as sent; a VAT id checked for its country prefix's format (422)."""
    if request is None:
        return None
    details = CustomerTax.model_validate(request, from_attributes=True)
    if details.vat_id:
        details = details.model_copy(update={"vat_id": ensure_vat_id(details.vat_id, f"{param}.vat_id")})
    return details


def _method(request: NewPaymentMethod) -> PaymentMethod:
    return PaymentMethod(gateway=request.gateway, token=request.token)


def described(method: PaymentMethod, cards: CardSetup | None) -> PaymentMethod:
    """A Stripe token's type, last four digits and (bank debits) mandate reference, as Stripe
    reads them (`CardSetup.describe`; Stripe unreachable raises GatewayUnavailable); a simulated
    token says its own. Bank debits are then checked (EUR, e-mail, name) when the mandate adopts
    the method (`Mandate._adopt`)."""
    if method.gateway != "stripe" or cards is None:
        return method
    details = cards.describe(method.token)
    return method.model_copy(
        update={"type": details.type, "last4": details.last4, "mandate_reference": details.mandate_reference}
    )
