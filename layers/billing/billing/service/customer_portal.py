"""The customer's side of a mandate, reached only through its signed link: see what will be
charged, approve (with consent evidence), follow the charges, revoke, say they buy as a business
(their tax details); and a charge's receipt, reached through its own signed link.

A bank account is offered at approval when bank-debit rules allow it (EUR, the customer's e-mail
and name: `payment_methods.ensure_bank_debit_allowed`), with the SEPA mandate the customer
accepts: its creditor (the merchant's legal name, else its name) and mandate reference (ours for
the simulated gateway; Stripe's, known once Stripe holds the mandate). The mandate's wording is
the page's (customer_page/texts.py); the hash of the terms kept as consent evidence covers it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain import payment_methods
from ..domain.account import Account
from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.errors import InvalidState, NotFound, ValidationFailed
from ..domain.invoices import Invoice, charge_invoice_id
from ..domain.model import Consent, Mandate, PaymentMethod, Plan
from ..domain.refunds import Refund
from ..domain.tax import CustomerTax
from .links import ApprovalLinks, ExpiredLink, InvalidLink
from .ports import CardSetup, PageRequest, Repository
from .tax_rates import seller_vat_id
from .use_cases import UseCases

UPCOMING = 6
PAST = 24


class TermsChanged(Exception):
    """What the customer approved is not what the mandate would charge now: show it again."""


class CardNotConfirmed(Exception):
    """The card the form names was not confirmed at the gateway for this mandate."""


class MandateNotAccepted(Exception):
    """A bank account was given without ticking the acceptance of its SEPA mandate: nothing changed."""


class BankDebitRefused(ValidationFailed):
    """A bank account was chosen for a mandate that cannot be paid by bank debit (not in EUR, or
    without the customer's e-mail or name): nothing changed."""


@dataclass(frozen=True)
class BankDebitOffer:
    """The SEPA Direct Debit mandate the page shows before approval: who collects (the creditor)
    and the mandate reference (None: the gateway gives it when the customer confirms)."""

    creditor: str
    reference: str | None


# The page's wording of the SEPA mandate for an offer (in the page's language): hashed with the terms.
MandateWording = Callable[[BankDebitOffer], str]


@dataclass(frozen=True)
class TestCard:
    """One of the simulated gateway's test tokens, chosen on the page."""

    token: str


@dataclass(frozen=True)
class ConfirmedCard:
    """The card Stripe.js confirmed in the browser: read back from the gateway's SetupIntent for
    this mandate, never taken from the form."""

    setup_intent: str


CardChoice = TestCard | ConfirmedCard


@dataclass(frozen=True)
class TaxDetailsChange:
    """The customer's tax details from their page, as the command of `POST /v1/mandates/{id}/customer`
    (`commands.CustomerChanges`) with only `tax` sent."""

    tax: CustomerTax

    def sent(self) -> dict[str, Any]:
        return {"tax": self.tax}


@dataclass
class ReceiptView:
    """What a receipt shows: who was paid (the account's legal details), by whom, for what."""

    account: Account
    mandate: Mandate
    charge: Charge
    plan_name: str
    refunds: list[Refund]
    disputes: list[Dispute] = field(default_factory=list)  # the customer's bank's claims on it
    # The document the link shows: the charge's invoice (None until issued: a receipt), or a
    # credit note of it (a link naming the credit note).
    invoice: Invoice | None = None

    @property
    def paid_at(self) -> datetime:
        """When the money was taken (a charge covered by credit: when it was settled)."""
        return next((a.at for a in self.charge.attempts if a.outcome == "succeeded"), self.charge.updated_at)


@dataclass
class CustomerView:
    merchant_name: str
    mandate: Mandate
    upcoming: list[tuple[int, datetime]]
    charges: list[Charge]
    link_expired: bool
    terms_sha256: str  # of the terms alone; with a bank-debit offer, `terms_digest(mandate, wording(offer))`
    bank_debit: BankDebitOffer | None = None  # offered at approval or for a new method (the rules allow a bank debit)
    receipts: dict[str, str] = field(default_factory=dict)  # charge id -> its receipt's link
    disputes: dict[str, list[Dispute]] = field(default_factory=dict)  # charge id -> the bank's claims on it, oldest first
    may_replace_method: bool = False  # the page offers a new payment method (a card step) now
    method_changes_used_up: bool = False  # it would, but the day's changes are used up
    # What each of `upcoming` collects, priced as the dispatcher will: with the seller's VAT id now
    upcoming_amounts: list[int] = field(default_factory=list)


def receipt_view(repo: Repository, merchant_id: str, charge_id: str, document: Invoice | None = None) -> ReceiptView | None:
    """What a charge's receipt (or one of its documents: `document`) shows; None when the charge
    has no number yet (no receipt) or is not the merchant's. The charge's invoice when issued."""
    charge = repo.get(Charge, merchant_id, charge_id)
    if document is None and charge is not None:
        document = repo.get(Invoice, merchant_id, charge_invoice_id(charge.id, charge.collection))
    mandate = repo.get(Mandate, merchant_id, charge.mandate_id) if charge else None
    account = repo.get(Account, merchant_id, merchant_id)
    if charge is None or charge.receipt_number is None or mandate is None or account is None:
        return None
    plan = repo.get(Plan, merchant_id, charge.plan_id)
    refunds = repo.page(Refund, merchant_id, PageRequest(100), charge_id=charge.id, status="succeeded").data
    disputes = repo.page(Dispute, merchant_id, PageRequest(100), charge_id=charge.id).data if charge.dispute_id else []
    return ReceiptView(
        account,
        mandate,
        charge,
        plan.name if plan else "",
        sorted(refunds, key=lambda r: r.updated_at),
        sorted(disputes, key=lambda d: d.created_at),
        document,
    )


def terms_digest(mandate: Mandate, mandate_text: str = "") -> str:
    """A hash of the terms the page shows (not of dates that move with the clock), kept as consent
    evidence; with the SEPA mandate's text when the page offers a bank debit."""
    shown: dict[str, object] = {
        "merchant_id": mandate.merchant_id,
        "mandate_id": mandate.id,
        "terms": mandate.terms.model_dump(mode="json"),
        "start_at": mandate.start_at.isoformat() if mandate.start_at else None,
        "end_at": mandate.end_at.isoformat() if mandate.end_at else None,
    }
    if mandate_text:
        shown["bank_debit_mandate"] = mandate_text
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def _consent(now: datetime, ip: str | None, user_agent: str | None, terms_sha256: str) -> Consent:
    """The evidence of what the customer accepted on the page, and from where."""
    return Consent(accepted_at=now, ip=ip, user_agent=(user_agent or "")[:500] or None, terms_sha256=terms_sha256)


class CustomerPortal:
    def __init__(
        self,
        use_cases: UseCases,
        links: ApprovalLinks,
        merchant_name: Callable[[str], str | None],
        cards: CardSetup | None = None,
    ) -> None:
        """`cards`: the gateway the page takes cards through (Stripe's SetupIntents), or None: the
        simulated gateway's test cards."""
        self.mandates, self.charges, self.clock, self.repo = (
            use_cases.mandates,
            use_cases.charges,
            use_cases.clock,
            use_cases.repo,
        )
        self.links, self.merchant_name, self.cards = links, merchant_name, cards

    def card_setup(self, view: CustomerView) -> dict[str, str] | None:
        """The SetupIntent the page confirms a card with (`id`, `client_secret`): approval's, or a
        fresh one for a new card (one per state of the mandate); None when the page asks for none."""
        mandate = view.mandate
        if self.cards is None or not (mandate.awaiting_approval or view.may_replace_method):
            return None
        purpose = "" if mandate.awaiting_approval else f"update-{mandate.version}"
        customer = mandate.customer
        return self.cards.create_setup_intent(mandate.merchant_id, mandate.id, customer.email, customer.name, purpose)

    def bank_setup(self, view: CustomerView) -> dict[str, str] | None:
        """The SetupIntent a bank account (IBAN) is confirmed with, at approval or as a new payment
        method (one per state of the mandate), when one is offered and the page takes payment
        methods through the gateway (Stripe.js); else None."""
        mandate = view.mandate
        if self.cards is None or view.bank_debit is None or not (mandate.awaiting_approval or view.may_replace_method):
            return None
        purpose = "bank" if mandate.awaiting_approval else f"update-{mandate.version}"
        customer = mandate.customer
        return self.cards.create_setup_intent(
            mandate.merchant_id, mandate.id, customer.email, customer.name, purpose, method_type="sepa_debit"
        )

    def _bank_offer(self, mandate: Mandate) -> BankDebitOffer | None:
        """The bank debit the approval offers, if the rules allow one for this mandate."""
        customer = mandate.customer
        try:
            payment_methods.ensure_bank_debit_allowed(mandate.terms.currency, customer.email, customer.name)
        except ValidationFailed:
            return None
        account = self.repo.get(Account, mandate.merchant_id, mandate.merchant_id)
        creditor = (account.legal_name or account.name) if account is not None else self.merchant_name(mandate.merchant_id)
        reference = payment_methods.mandate_reference(mandate.id) if self.cards is None else None
        return BankDebitOffer(creditor or "", reference)

    def _method(self, choice: CardChoice, mandate: Mandate, offer: BankDebitOffer | None) -> PaymentMethod:
        """The chosen method; a bank account only where a bank debit was offered (BankDebitRefused)."""
        if isinstance(choice, TestCard):
            method = PaymentMethod(gateway="simulated", token=choice.token)
        else:
            token = self.cards.confirmed_payment_method(choice.setup_intent, mandate.id) if self.cards is not None else None
            if token is None or self.cards is None:
                raise CardNotConfirmed(choice.setup_intent)
            details = self.cards.describe(token)
            method = PaymentMethod(
                gateway="stripe",
                token=token,
                type=details.type,
                last4=details.last4,
                mandate_reference=details.mandate_reference,
            )
        if method.bank_debit and offer is None:
            try:
                mandate.ensure_method_allowed(method)
            except ValidationFailed as refused:
                raise BankDebitRefused(refused.message, refused.param) from refused
            raise BankDebitRefused("A bank debit is not offered for this mandate.", "payment_method")
        return method

    def _mandate(self, token: str) -> tuple[Mandate, bool]:
        """The mandate the link names, and whether the link has expired. Raises InvalidLink for a
        link that is not ours (or names no mandate)."""
        now = self.clock.now()
        try:
            target, expired = self.links.verify(token, now), False
        except ExpiredLink:
            target, expired = self.links.verify(token, now, allow_expired=True), True
        try:
            return self.mandates.get(target.merchant_id, target.mandate_id), expired
        except NotFound as error:
            raise InvalidLink("no such mandate") from error

    def view(self, token: str) -> CustomerView:
        mandate, expired = self._mandate(token)
        now = self.clock.now()
        upcoming = mandate.upcoming_payments(now, UPCOMING)
        # Priced with the account's VAT id as it is (decision 186), not the one last saved on the mandate
        priced = mandate.as_sold_by(seller_vat_id(self.repo, mandate.merchant_id)).upcoming_credit_use(upcoming)
        changes_left = mandate.customer_method_change_at(now) <= now
        may_replace = mandate.customer_may_replace_method and changes_left
        charges: list[Charge] = []
        if not mandate.awaiting_approval:  # nothing can have been charged before approval
            charges = self.charges.page(mandate.merchant_id, PageRequest(PAST), mandate_id=mandate.id).data
        disputes: dict[str, list[Dispute]] = {}
        if any(c.dispute_id for c in charges):  # read only when one of them was disputed
            for dispute in self.repo.page(Dispute, mandate.merchant_id, PageRequest(100), mandate_id=mandate.id).data:
                disputes.setdefault(dispute.charge_id, []).append(dispute)
        return CustomerView(
            merchant_name=self.merchant_name(mandate.merchant_id) or "",
            mandate=mandate,
            upcoming=upcoming,
            upcoming_amounts=[amount for amount, _ in priced],
            charges=charges,
            link_expired=expired and mandate.awaiting_approval,
            terms_sha256=terms_digest(mandate),
            bank_debit=self._bank_offer(mandate) if mandate.awaiting_approval or may_replace else None,
            receipts={c.id: url for c in charges if (url := self.links.receipt_url(c))},
            disputes={k: sorted(v, key=lambda d: d.created_at) for k, v in disputes.items()},
            may_replace_method=may_replace,
            method_changes_used_up=mandate.customer_may_replace_method and not changes_left,
        )

    def receipt(self, token: str) -> ReceiptView:
        """The receipt a link names; InvalidLink for a link that is not ours or a charge without one."""
        merchant_id, named = self.links.verify_receipt(token)
        repo = self.repo
        document = repo.get(Invoice, merchant_id, named) if named.startswith("inv_") else None
        if named.startswith("inv_") and document is None:
            raise InvalidLink("no such document")
        charge_id = document.charge_id if document is not None else named
        view = receipt_view(repo, merchant_id, charge_id, document)
        if view is None:
            raise InvalidLink("no such receipt")
        return view

    def approve(
        self,
        token: str,
        choice: CardChoice,
        ip: str | None,
        user_agent: str | None,
        terms_sha256: str,
        wording: MandateWording | None = None,
    ) -> Mandate:
        """With the payment method the customer chose (a test card or bank account, or the card or
        bank account Stripe confirmed for this mandate: CardNotConfirmed otherwise; a bank account
        where no bank debit is allowed: BankDebitRefused). `wording`: the SEPA mandate's text as
        the page showed it (in its language), part of the terms' hash when a bank debit is offered."""
        mandate, expired = self._mandate(token)
        if not mandate.awaiting_approval:
            raise InvalidState("This mandate is not waiting for approval.")
        if expired:
            raise ExpiredLink("link expired")
        offer = self._bank_offer(mandate)
        shown = wording(offer) if offer is not None and wording is not None else ""
        if terms_sha256 != terms_digest(mandate, shown):
            raise TermsChanged("the terms changed since the page was shown")
        consent = _consent(self.clock.now(), ip, user_agent, terms_sha256)
        return self.mandates.approve(mandate.merchant_id, mandate.id, self._method(choice, mandate, offer), consent)

    def replace_payment_method(
        self,
        token: str,
        choice: CardChoice,
        ip: str | None = None,
        user_agent: str | None = None,
        terms_sha256: str | None = None,
        wording: MandateWording | None = None,
    ) -> Mandate:
        """The customer's new payment method (a test card or bank account, or the card or bank
        account Stripe confirmed for this mandate): as the merchant's `…/payment_method`, with the
        event's source `customer`. A bank account only where a bank debit is offered
        (BankDebitRefused), with the SEPA mandate accepted: `terms_sha256`, the hash of the terms
        and the mandate's text as the page showed it (`wording`, in its language), None when the
        customer did not tick its acceptance (MandateNotAccepted; TermsChanged when it is not what
        is shown now). It is kept as the consent, as at approval."""
        mandate, _ = self._mandate(token)
        if not mandate.customer_may_replace_method:
            raise InvalidState("The payment method of this mandate cannot be replaced now.")
        now = self.clock.now()
        mandate.ensure_customer_may_change_method(now)  # before the gateway is asked (decided again at the write)
        offer = self._bank_offer(mandate)
        method = self._method(choice, mandate, offer)
        consent = None
        if method.bank_debit and offer is not None:
            if terms_sha256 is None:
                raise MandateNotAccepted(mandate.id)
            if terms_sha256 != terms_digest(mandate, wording(offer) if wording is not None else ""):
                raise TermsChanged("the terms changed since the page was shown")
            consent = _consent(now, ip, user_agent, terms_sha256)
        return self.mandates.replace_payment_method(mandate.merchant_id, mandate.id, method, source="customer", consent=consent)

    def update_tax_details(self, token: str, details: CustomerTax) -> Mandate:
        """The customer buys as a business (the company's name, code, VAT id, address) or as a
        private person again, from their page: the merchant's `POST /v1/mandates/{id}/customer` use
        case with only `tax` sent (the VAT id checked there: ValidationFailed, nothing changed; a
        stopped mandate: InvalidState), for charges created afterwards. The link decides the mandate
        (and so the merchant); an expired approval link changes nothing (ExpiredLink)."""
        mandate, expired = self._mandate(token)
        if expired and mandate.awaiting_approval:
            raise ExpiredLink("link expired")
        return self.mandates.update_customer(mandate.merchant_id, mandate.id, TaxDetailsChange(details))

    def revoke(self, token: str) -> Mandate:
        mandate, _ = self._mandate(token)
        if not mandate.customer_may_revoke:
            raise InvalidState("This mandate cannot be revoked now.")
        return self.mandates.revoke(mandate.merchant_id, mandate.id)
