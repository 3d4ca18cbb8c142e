"""The merchant's account: what receipts show (legal details), who customers write to (support
e-mail), the customers' default language, the receipt series' prefix and which e-mails customers
get. Pure; validated at the API's edge and again here (the stored object is a Pydantic model)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .errors import ValidationFailed
from .model import Entity
from .tax import RateRef
from .text import lines, single_line

Locale = Literal["en", "lt"]
LOCALES: tuple[str, ...] = ("en", "lt")
ReceiptPrefix = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")]
DEFAULT_INVOICE_PREFIX, DEFAULT_CREDIT_NOTE_PREFIX = "R", "CN"
NoticeDays = Annotated[int, Field(ge=0, le=14, description="0 (off) .. 14")]
# The account's free text and its rule (the name and the support address reach e-mails' subjects
# and reply-to; the legal name and the address, receipts).
TEXT_RULES: dict[str, Callable[[str], str]] = {
    "name": single_line,
    "legal_name": single_line,
    "support_email": single_line,
    "address": lines,
    "company_code": single_line,
}


class NotificationSettings(BaseModel):
    """Which e-mails customers get; notice periods in days before the due time (0: none)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    upcoming_charge_days: NoticeDays = 3
    trial_ending_days: NoticeDays = 3
    receipts: bool = True
    payment_failed: bool = True
    mandate_updates: bool = True
    # The invoice's PDF (Factur-X) attached to the receipt e-mail, the credit note's to the credit
    # note e-mail; off: the e-mails carry the document's link only (they always do).
    invoice_pdf: bool = False


class Account(Entity):
    """`id` is the merchant id."""

    @property
    def invoice_prefix(self) -> str:
        return self.receipt_prefix

    @property
    def default_tax_rate_id(self) -> str | None:
        return self.default_tax_rate.id if self.default_tax_rate else None

    name: str
    legal_name: str | None = None
    address: str | None = None
    vat_id: str | None = None
    support_email: str | None = None
    default_locale: Locale = "en"
    receipt_prefix: ReceiptPrefix = DEFAULT_INVOICE_PREFIX  # the invoice series' (`invoice_prefix`; `receipt_prefix` its alias)
    credit_note_prefix: ReceiptPrefix = DEFAULT_CREDIT_NOTE_PREFIX
    company_code: str | None = None
    # The rate of plans that have none (domain/tax), its terms copied when set; None: no tax.
    default_tax_rate: RateRef | None = None
    notifications: NotificationSettings = NotificationSettings.model_construct()  # the defaults, unbuilt at import
    # The prefixes each series had before its current one (engine state, not part of the API object):
    # a prefix belongs to one series for good, so an invoice and a credit note never share a number.
    former_invoice_prefixes: list[str] = []
    former_credit_note_prefixes: list[str] = []
    # Whether the merchant has ever had a tax rate (engine state, not part of the API object): set
    # in the transaction that creates its first rate, checked in the version-checked write that
    # would remove the VAT id (decision 185). None: an account from before the flag, learned once
    # from the rates themselves.
    has_tax_rates: bool | None = None

    @property
    def invoice_prefixes_used(self) -> set[str]:
        """Every prefix the invoice series may have numbered with (the default R among them)."""
        return {DEFAULT_INVOICE_PREFIX, self.receipt_prefix, *self.former_invoice_prefixes}

    @property
    def credit_note_prefixes_used(self) -> set[str]:
        return {DEFAULT_CREDIT_NOTE_PREFIX, self.credit_note_prefix, *self.former_credit_note_prefixes}

    def ensure_vat_id_may_go(self, changes: dict[str, object]) -> None:
        """422 when `changes` remove the VAT id of a merchant with tax rates (archived ones too: they
        still apply where attached), whose rated invoices must name it: it may change, not go.
        `has_tax_rates` must be known (the caller learns it for an account from before the flag)."""
        if "vat_id" in changes and not changes["vat_id"] and self.has_tax_rates:
            raise ValidationFailed(
                "vat_id cannot be removed: this account has tax rates, and the invoices of charges with a rate"
                " must name the seller's VAT id (it may be changed, not removed).",
                "vat_id",
            )

    @classmethod
    def new(cls, merchant_id: str, name: str, created_at: datetime) -> Account:
        """The account of a merchant whose settings were never changed: the defaults."""
        return cls(id=merchant_id, merchant_id=merchant_id, name=name, created_at=created_at, updated_at=created_at)

    def update(self, now: datetime, changes: dict[str, object]) -> bool:
        """Apply the fields sent (`notifications` merges the settings sent); False: nothing changed.
        Text that reaches e-mails' subjects and headers is one line (`text`): checked on change, so
        what was stored before the rule still loads."""
        for field, check in TEXT_RULES.items():
            value = changes.get(field)
            if isinstance(value, str):
                try:
                    check(value)
                except ValueError as error:
                    raise ValidationFailed(f"{field}: {error}", field) from None
        changes = self._prefixes(changes)
        if "notifications" in changes and isinstance(changes["notifications"], dict):
            merged = {**self.notifications.model_dump(), **changes["notifications"]}
            changes = {**changes, "notifications": NotificationSettings.model_validate(merged)}
        before = self.model_dump()
        updated = self.model_validate({**before, **changes})
        if updated.model_dump() == before:
            return False
        for field in changes:
            setattr(self, field, getattr(updated, field))
        self.updated_at = now
        return True

    def _prefixes(self, changes: dict[str, object]) -> dict[str, object]:
        """The changes with the series' former prefixes kept; a 422 when the invoice and credit
        note series would share a prefix, now or with one the other series had (its numbers may
        be issued: `CN-1` an invoice and a credit note)."""
        invoice, note = (
            changes.get("receipt_prefix", self.receipt_prefix),
            changes.get("credit_note_prefix", self.credit_note_prefix),
        )
        if not isinstance(invoice, str) or not isinstance(note, str):
            return changes  # null: refused by the caller
        if invoice == note:
            raise ValidationFailed(
                f"invoice_prefix and credit_note_prefix must differ (both '{note}'): numbers would repeat.",
                "credit_note_prefix" if "credit_note_prefix" in changes else "invoice_prefix",
            )
        if invoice != self.receipt_prefix and invoice in self.credit_note_prefixes_used:
            raise ValidationFailed(
                f"invoice_prefix '{invoice}' has been a credit note prefix: its numbers may be issued already. Choose another.",
                "invoice_prefix",
            )
        if note != self.credit_note_prefix and note in self.invoice_prefixes_used | {invoice}:
            raise ValidationFailed(
                f"credit_note_prefix '{note}' has been an invoice prefix: its numbers may be issued already. Choose another.",
                "credit_note_prefix",
            )
        out = dict(changes)
        if invoice != self.receipt_prefix:
            out["former_invoice_prefixes"] = sorted({*self.former_invoice_prefixes, self.receipt_prefix} - {invoice})
        if note != self.credit_note_prefix:
            out["former_credit_note_prefixes"] = sorted({*self.former_credit_note_prefixes, self.credit_note_prefix} - {note})
        return out
