"""The public shapes of the objects: how domain objects look in the API, in event snapshots and
in webhook bodies. One module that the HTTP layer (`api/`) and the services (event snapshots)
both import, below both; HTTP-only shapes (lists, errors) stay in `api/responses.py`.

Times are RFC 3339 UTC with a `Z`. `render` is also what event snapshots hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from ..domain import payment_methods
from ..domain.account import Account, Locale
from ..domain.api_keys import ApiKey
from ..domain.charge import AttemptOutcome, Charge, ChargeStatus, LineType, published
from ..domain.disputes import Dispute, DisputeReason, DisputeStatus
from ..domain.exports import Export, ExportFormat, ExportKind, ExportStatus
from ..domain.invoices import DocumentReason, Invoice, InvoiceType, Seller, charge_invoice_id
from ..domain.items import Item, ItemStatus
from ..domain.model import FINAL_STATUSES, Event, Mandate, MandateStatus, PaymentMethod, Plan, PlanStatus
from ..domain.money import Currency
from ..domain.notifications import Notification, NotificationKind, NotificationStatus
from ..domain.reconciliation import DifferenceKind, MovementKind, Reconciliation, ReconciliationStatus, Sums
from ..domain.refunds import Refund, RefundReason, RefundStatus
from ..domain.schedule import Interval
from ..domain.tax import PublishedCategory
from ..domain.tax_rates import TaxRate
from ..wire import TimeOut

if TYPE_CHECKING:
    from ..domain.webhooks import WebhookDelivery, WebhookEndpoint


class ResponseModel(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    @classmethod
    def copied(cls, obj: BaseModel, **extra: Any) -> Self:
        """The response of a domain object whose fields it shows under the same names."""
        return cls(**obj.model_dump(include=set(cls.model_fields) - {"object", *extra}), **extra)


class PlanOut(ResponseModel):
    id: str
    object: Literal["plan"] = "plan"
    name: str
    amount: int
    currency: Currency
    interval: Interval
    interval_count: int
    trial_days: int
    total_cycles: int | None
    retry_schedule_days: list[int]
    tax_rate_id: str | None = Field(None, description="Its tax rate; null: the account's default_tax_rate_id applies")
    status: PlanStatus
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        terms = plan.terms.model_dump(exclude={"tax_rate"})
        rate = plan.terms.tax_rate
        return cls(**plan.model_dump(exclude={"merchant_id", "version", "terms"}), **terms, tax_rate_id=rate.id if rate else None)


class TaxAddressOut(ResponseModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerTaxOut(ResponseModel):
    type: Literal["individual", "business"] | None = None
    company_name: str | None = None
    company_code: str | None = None
    vat_id: str | None = None
    address: TaxAddressOut | None = None


class TaxRateOut(ResponseModel):
    id: str
    object: Literal["tax_rate"] = "tax_rate"
    display_name: str
    percentage: str = Field(description='Exact decimal string, "0".."100", at most 4 decimals')
    country: str
    inclusive: bool = Field(description="Prices entered with it are gross (true) or net, the tax added (false)")
    description: str | None
    active: bool
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, rate: TaxRate) -> TaxRateOut:
        return cls(**rate.model_dump(exclude={"merchant_id", "version", "status"}), active=rate.active)


class CustomerOut(ResponseModel):
    reference: str
    email: str | None
    name: str | None
    locale: Locale | None = Field(None, description="The language of the customer's page, e-mails and receipts")
    tax: CustomerTaxOut | None = Field(None, description="The customer's tax details (a VAT invoice's buyer)")


class PaymentMethodOut(ResponseModel):
    gateway: payment_methods.Gateway
    type: payment_methods.PaymentMethodType = Field("card", description="card, or sepa_debit (a SEPA Core bank debit)")
    token_last4: str
    last4: str | None = Field(None, description="Last four digits of the card number or the IBAN (never the full number)")
    mandate_reference: str | None = Field(None, description="A bank debit's SEPA mandate reference")

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodOut:
        return cls(
            gateway=method.gateway,
            type=method.type,
            token_last4=payment_methods.last4(method.token),
            last4=method.last4,
            mandate_reference=method.mandate_reference if method.bank_debit else None,
        )


class ConsentOut(ResponseModel):
    accepted_at: TimeOut
    ip: str | None
    user_agent: str | None


class MoneyOut(ResponseModel):
    amount: int
    currency: Currency


class MandateOut(ResponseModel):
    id: str
    object: Literal["mandate"] = "mandate"
    plan_id: str
    customer: CustomerOut
    payment_method: PaymentMethodOut | None
    status: MandateStatus
    start_at: TimeOut | None
    end_at: TimeOut | None
    next_charge_at: TimeOut | None
    cycles_charged: int
    consent: ConsentOut | None
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut
    ended_at: TimeOut | None
    resume_at: TimeOut | None = None
    credit: MoneyOut = Field(description="Carried credit from a prorated plan change, taken off the next charges")
    approval_url: str | None = Field(None, description="Where the customer approves; only while pending_approval")

    @classmethod
    def of(cls, mandate: Mandate, approval_url: str | None = None) -> MandateOut:
        pm = mandate.payment_method
        return cls(
            id=mandate.id,
            plan_id=mandate.plan_id,
            customer=CustomerOut(**mandate.customer.model_dump()),
            payment_method=PaymentMethodOut.of(pm) if pm else None,
            status=mandate.status,
            start_at=mandate.start_at,
            end_at=mandate.end_at,
            next_charge_at=None if mandate.status in FINAL_STATUSES else mandate.next_charge_at,
            cycles_charged=mandate.cycles_charged,
            consent=ConsentOut(**mandate.consent.model_dump(exclude={"terms_sha256"})) if mandate.consent else None,
            metadata=mandate.metadata,
            created_at=mandate.created_at,
            updated_at=mandate.updated_at,
            ended_at=mandate.ended_at,
            resume_at=mandate.resume_at,
            credit=MoneyOut(amount=mandate.credit, currency=mandate.terms.currency),
            approval_url=approval_url,  # the link signer gives one only while the mandate awaits approval
        )


class AttemptOut(ResponseModel):
    at: TimeOut
    outcome: AttemptOutcome
    decline_code: str | None
    gateway_reference: str | None
    settled_at: TimeOut | None = Field(None, description="When a bank debit accepted as processing settled")
    reversed_at: TimeOut | None = Field(None, description="When the gateway reported the money taken as returned")


class LineOut(ResponseModel):
    type: LineType
    description: str
    amount: int
    item_id: str | None
    tax_rate_id: str | None = Field(None, description="Its group's rate in tax_breakdown (null: no rate, in no group)")


class TaxLineOut(ResponseModel):
    """One rated group (lines with no rate are in no group: an untaxed charge has none)."""

    tax_rate_id: str
    percentage: str
    inclusive: bool
    category: PublishedCategory
    taxable_amount: int
    tax_amount: int


class ChargeOut(ResponseModel):
    id: str
    object: Literal["charge"] = "charge"
    mandate_id: str
    plan_id: str
    cycle: int
    amount: int
    currency: Currency
    due_at: TimeOut
    status: ChargeStatus
    attempts: list[AttemptOut]
    next_attempt_at: TimeOut | None
    failure_code: str | None
    amount_refunded: int
    amount_disputed: int = Field(0, description="Open and lost disputes: not refundable")
    dispute_id: str | None = Field(None, description="The latest dispute of this charge")
    amount_credited: int = Field(
        0,
        description="Credit (money, its tax included) a prorated plan change granted for this cycle's unused time:"
        " refunds are limited to the rest",
    )
    subtotal: int = Field(description="The lines' sum, as entered (gross with inclusive rates, net with exclusive ones)")
    tax_amount: int = Field(0, description="The tax of the charge (the sum of tax_breakdown's)")
    tax_breakdown: list[TaxLineOut] = Field(
        default_factory=list,
        description="One group per tax rate of the lines; lines with no rate are in no group ([] when none has a rate)",
    )
    lines: list[LineOut] = Field(description="What the subtotal is made of; they sum to it")
    receipt_number: str | None = Field(description="<receipt_prefix>-<n>, given within seconds of the success")
    receipt_url: str | None = Field(None, description="The receipt's signed link (HTML; ?format=pdf for the PDF)")
    invoice_id: str | None = Field(None, description="Its invoice (receipt_number is the invoice's number)")
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, charge: Charge, receipt_url: str | None = None) -> ChargeOut:
        return cls(
            **charge.model_dump(
                include={
                    "id",
                    "mandate_id",
                    "plan_id",
                    "cycle",
                    "amount",
                    "currency",
                    "due_at",
                    "status",
                    "next_attempt_at",
                    "failure_code",
                    "amount_refunded",
                    "receipt_number",
                    "dispute_id",
                    "created_at",
                    "updated_at",
                }
            ),
            attempts=[AttemptOut(**a.model_dump(exclude={"number"})) for a in charge.attempts] + _processing(charge),
            amount_disputed=charge.amount_disputed,
            amount_credited=charge.credited,
            subtotal=charge.amount if charge.subtotal is None else charge.subtotal,
            tax_amount=charge.tax_amount,
            tax_breakdown=[TaxLineOut(**group.model_dump()) for group in published(charge.tax_breakdown)],
            lines=[LineOut(**line.model_dump()) for line in charge.bill_lines],
            receipt_url=receipt_url,
            invoice_id=charge_invoice_id(charge.id, charge.collection) if charge.receipt_number is not None else None,
        )


def _processing(charge: Charge) -> list[AttemptOut]:
    """The attempt the gateway accepted and has not settled, listed with outcome `processing`."""
    if not charge.processing_attempt or charge.processing_since is None:
        return []
    return [
        AttemptOut(
            at=charge.processing_since,
            outcome="processing",
            decline_code=None,
            gateway_reference=charge.processing_reference,
            settled_at=None,
            reversed_at=None,
        )
    ]


class DisputeOut(ResponseModel):
    id: str
    object: Literal["dispute"] = "dispute"
    charge_id: str
    mandate_id: str
    amount: int
    currency: Currency
    reason: DisputeReason
    status: DisputeStatus
    evidence_due_by: TimeOut | None
    gateway_reference: str
    created_at: TimeOut
    updated_at: TimeOut
    closed_at: TimeOut | None

    @classmethod
    def of(cls, dispute: Dispute) -> DisputeOut:
        return cls.copied(dispute)


class SumsOut(ResponseModel):
    charges: int = Field(description="Succeeded charges (minor units)")
    refunds: int = Field(description="Succeeded refunds")
    reversals: int = Field(description="Payments returned after they succeeded (bank debits)")
    disputes: int = Field(description="Lost disputes")
    net: int = Field(description="charges - refunds - reversals - disputes")

    @classmethod
    def of(cls, sums: Sums) -> SumsOut:
        return cls(**sums.model_dump(), net=sums.net)


class CurrencyTotalsOut(ResponseModel):
    currency: str
    recorded: SumsOut = Field(description="What this service recorded as moved that day")
    gateway: SumsOut = Field(description="What the gateway reports as moved")


class DifferenceOut(ResponseModel):
    kind: DifferenceKind
    movement: MovementKind = Field(
        description="What moved: charge, refund, reversal, dispute, or refund_failure (a succeeded refund failed later: its money back)"
    )
    currency: str
    charge_id: str | None
    refund_id: str | None
    gateway_reference: str
    recorded_amount: int | None = Field(description="Moved in this service's books (null: unknown here; 0: known, not moved)")
    gateway_amount: int | None = Field(description="Moved at the gateway (null: unknown there; 0: known, not moved)")


class ReconciliationOut(ResponseModel):
    id: str
    object: Literal["reconciliation"] = "reconciliation"
    date: str = Field(description="The UTC day reconciled (YYYY-MM-DD)")
    status: ReconciliationStatus
    totals: list[CurrencyTotalsOut]
    differences: list[DifferenceOut] = Field(description="Every difference found (at most the first 500: see difference_count)")
    difference_count: int = Field(description="How many differences were found")
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, report: Reconciliation) -> ReconciliationOut:
        return cls(
            id=report.id,
            date=report.date.isoformat(),
            status=report.status,
            totals=[
                CurrencyTotalsOut(currency=t.currency, recorded=SumsOut.of(t.recorded), gateway=SumsOut.of(t.gateway))
                for t in report.totals
            ],
            differences=[DifferenceOut(**d.model_dump()) for d in report.differences],
            difference_count=report.difference_count,
            created_at=report.created_at,
            updated_at=report.updated_at,
        )


def render_reconciliation(report: Reconciliation) -> dict[str, object]:
    return ReconciliationOut.of(report).model_dump(mode="json")


class NotificationsOut(ResponseModel):
    upcoming_charge_days: int
    trial_ending_days: int
    receipts: bool
    payment_failed: bool
    mandate_updates: bool
    invoice_pdf: bool = Field(
        False, description="The receipt and credit note e-mails attach the document's PDF (Factur-X); the link is always in them"
    )


class AccountOut(ResponseModel):
    id: str
    object: Literal["account"] = "account"
    name: str
    legal_name: str | None
    address: str | None
    vat_id: str | None
    support_email: str | None
    default_locale: Locale
    receipt_prefix: str = Field(description="Alias of invoice_prefix")
    invoice_prefix: str
    credit_note_prefix: str
    company_code: str | None = None
    default_tax_rate_id: str | None = Field(None, description="The rate of plans that have none")
    notifications: NotificationsOut
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            **account.model_dump(
                exclude={
                    "merchant_id",
                    "version",
                    "default_tax_rate",
                    "former_invoice_prefixes",
                    "former_credit_note_prefixes",
                    "has_tax_rates",
                }
            ),
            invoice_prefix=account.invoice_prefix,
            default_tax_rate_id=account.default_tax_rate_id,
        )


class NotificationOut(ResponseModel):
    id: str
    object: Literal["notification"] = "notification"
    mandate_id: str
    charge_id: str | None
    kind: NotificationKind
    to: str
    locale: Locale
    status: NotificationStatus
    failure: str | None = Field(
        None,
        description="Why it was not sent or not delivered (interrupted: it may have gone out, and is never sent "
        "again; suppressed: an earlier e-mail to the address bounced or was reported; bounced: returned)",
    )
    feedback: Literal["bounce", "complaint"] | None = Field(
        None, description="What came back after SES took it: a bounce, or the customer reporting it as unwanted"
    )
    sent_at: TimeOut | None
    created_at: TimeOut

    @classmethod
    def of(cls, notification: Notification) -> NotificationOut:
        return cls.copied(notification)


class RefundOut(ResponseModel):
    id: str
    object: Literal["refund"] = "refund"
    charge_id: str
    mandate_id: str
    amount: int
    currency: Currency
    reason: RefundReason
    status: RefundStatus
    failure_code: str | None
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls.copied(refund)


class ItemOut(ResponseModel):
    id: str
    object: Literal["item"] = "item"
    mandate_id: str
    amount: int
    currency: Currency
    description: str
    status: ItemStatus
    charge_id: str | None
    tax_rate_id: str | None = Field(None, description="Its own tax rate; null: the plan's")
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, item: Item) -> ItemOut:
        return cls.copied(item, tax_rate_id=item.tax_rate.id if item.tax_rate else None)


class ScheduledCharge(ResponseModel):
    cycle: int
    due_at: TimeOut
    amount: int
    currency: Currency
    credit_applied: int = Field(0, description="Carried credit this charge would use (already taken off `amount`)")


class ScheduleOut(ResponseModel):
    object: Literal["schedule"] = "schedule"
    mandate_id: str
    credit: MoneyOut = Field(description="The mandate's carried credit now")
    data: list[ScheduledCharge]


class EventDataOut(ResponseModel):
    object: dict[str, Any]
    # Only on the events that have them (left out, not null, elsewhere).
    previous_attributes: dict[str, Any] | None = Field(
        None, description="The changed fields' old values, on a change", exclude_if=lambda v: v is None
    )
    source: Literal["merchant", "customer", "gateway"] | None = Field(
        None,
        description="Who replaced the payment method, or revoked the mandate (`gateway`: reported by the gateway)",
        exclude_if=lambda v: v is None,
    )
    amount: int | None = Field(
        None, description="`mandate.credit_forfeited`: the credit no charge could take back", exclude_if=lambda v: v is None
    )
    currency: Currency | None = Field(None, description="The currency of `amount`", exclude_if=lambda v: v is None)


class EventOut(ResponseModel):
    id: str
    object: Literal["event"] = "event"
    type: str
    created_at: TimeOut
    data: EventDataOut

    @classmethod
    def of(cls, event: Event) -> EventOut:
        data = event.data
        shown = data.get("object")
        if isinstance(shown, dict) and isinstance(shown.get("tax_breakdown"), list):
            # Snapshots recorded before the API showed rated groups only: a `not_subject` group
            # (lines with no rate) reads as no group, as the charge or document itself now does.
            groups = [g for g in shown["tax_breakdown"] if not (isinstance(g, dict) and g.get("category") == "not_subject")]
            data = {**data, "object": {**shown, "tax_breakdown": groups}}
        return cls(id=event.id, type=event.type, created_at=event.created_at, data=EventDataOut(**data))


class ApiKeyOut(ResponseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    last4: str | None = Field(
        description="The key's last four characters; null for a key of the first format (issued before keys carried their id) until it is next used"
    )
    status: Literal["active", "revoked"]
    expires_at: TimeOut | None
    created_at: TimeOut
    last_used_at: TimeOut | None
    secret: str | None = Field(None, description="The whole key: only in the answer that created it, never again")

    @classmethod
    def of(cls, key: ApiKey, secret: str | None = None) -> ApiKeyOut:
        return cls.copied(key, secret=secret)


class ExportOut(ResponseModel):
    id: str
    object: Literal["export"] = "export"
    kind: ExportKind
    month: str = Field(description="YYYY-MM (UTC): the objects created (invoices: issued) in that month")
    format: ExportFormat
    status: ExportStatus
    url: str | None = Field(
        None,
        description="Once ready: a link that downloads the CSV file without credentials, valid for an hour; "
        "each read of the export issues a fresh one (null in events: read the export for a link; null once "
        "the file has expired, 6 days after `ready_at`: ask for a new export)",
    )
    rows: int | None = Field(description="Data rows in the file (the header not counted), once ready")
    failure_reason: str | None
    ready_at: TimeOut | None
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, export: Export, url: str | None = None) -> ExportOut:
        return cls.copied(export, url=url)


class InvoiceLineOut(ResponseModel):
    type: Literal["plan", "item", "proration", "correction"]
    description: str
    amount: int = Field(
        description="As entered (gross with an inclusive rate, net with an exclusive one); negative on a credit note"
    )
    item_id: str | None
    tax_rate_id: str | None


class PeriodOut(ResponseModel):
    start: TimeOut
    end: TimeOut


class BuyerAddressOut(ResponseModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None


class BuyerTaxOut(ResponseModel):
    type: Literal["individual", "business"] | None = None
    company_name: str | None = None
    company_code: str | None = None
    vat_id: str | None = None
    address: BuyerAddressOut | None = None


class BuyerOut(ResponseModel):
    name: str | None
    email: str | None
    tax: BuyerTaxOut | None


class InvoiceOut(ResponseModel):
    id: str
    object: Literal["invoice"] = "invoice"
    type: InvoiceType
    number: str = Field(description="invoice_prefix-n (invoices) or credit_note_prefix-n (credit notes), gapless per merchant")
    corrects: str | None = Field(
        description="A credit note's: the invoice it corrects; an invoice's (reason refund_failed): the credit note it undoes"
    )
    reason: DocumentReason | None = Field(
        None, description="A credit note's: what it answers; refund_failed: an invoice undoing a failed refund's credit note"
    )
    charge_id: str
    mandate_id: str
    refund_id: str | None
    dispute_id: str | None
    issued_at: TimeOut
    period: PeriodOut | None
    currency: Currency
    subtotal: int
    tax_amount: int
    total: int = Field(description="What was collected (negative on a credit note: what was given back)")
    tax_breakdown: list[TaxLineOut]
    lines: list[InvoiceLineOut]
    seller: Seller
    buyer: BuyerOut
    reverse_charge: bool
    locale: Locale
    url: str | None = Field(None, description="The document's signed link (HTML; ?format=pdf or ?format=xml)")
    created_at: TimeOut

    @classmethod
    def of(cls, invoice: Invoice, url: str | None = None) -> InvoiceOut:
        period = None
        if invoice.period_start is not None and invoice.period_end is not None:
            period = PeriodOut(start=invoice.period_start, end=invoice.period_end)
        return cls(
            **invoice.model_dump(
                include={
                    "id",
                    "type",
                    "number",
                    "corrects",
                    "reason",
                    "charge_id",
                    "mandate_id",
                    "refund_id",
                    "dispute_id",
                    "issued_at",
                    "currency",
                    "subtotal",
                    "tax_amount",
                    "total",
                    "reverse_charge",
                    "locale",
                    "created_at",
                }
            ),  # fmt: skip
            period=period,
            tax_breakdown=[TaxLineOut(**g.model_dump()) for g in published(invoice.tax_breakdown)],
            lines=[InvoiceLineOut(**line.model_dump()) for line in invoice.lines],
            seller=invoice.seller,
            buyer=BuyerOut(**invoice.buyer.model_dump()),
            url=url,
        )


def render(
    obj: Plan
    | Mandate
    | Charge
    | ApiKey
    | WebhookEndpoint
    | WebhookDelivery
    | Refund
    | Dispute
    | Item
    | Account
    | Notification
    | TaxRate
    | Export
    | Reconciliation
    | Invoice,
    link: str | None = None,
) -> dict[str, object]:
    """An object as the API returns it (responses and event snapshots); `link`: a mandate's
    approval link, a charge's receipt link, a ready export's download link."""
    if isinstance(obj, Export):
        return ExportOut.of(obj, link).model_dump(mode="json")
    if isinstance(obj, Invoice):
        return InvoiceOut.of(obj, link).model_dump(mode="json")
    if isinstance(obj, ApiKey):
        return ApiKeyOut.of(obj).model_dump(mode="json", exclude={"secret"})
    if isinstance(obj, Plan):
        return PlanOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Charge):
        return ChargeOut.of(obj, link).model_dump(mode="json")
    if isinstance(obj, Mandate):
        return MandateOut.of(obj, link).model_dump(mode="json")
    if isinstance(obj, Refund):
        return RefundOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Dispute):
        return DisputeOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Item):
        return ItemOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Account):
        return AccountOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Notification):
        return NotificationOut.of(obj).model_dump(mode="json")
    if isinstance(obj, TaxRate):
        return TaxRateOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Reconciliation):
        return render_reconciliation(obj)
    from .webhooks import render_webhook_object  # loaded only where webhooks are handled (cold start)

    return render_webhook_object(obj)


def render_event(event: Event) -> dict[str, object]:
    """An event as `GET /v1/events/{id}` returns it: a webhook's body, an SNS message."""
    return EventOut.of(event).model_dump(mode="json")
