"""Winding up an ended mandate: what it still holds must not vanish.

A mandate that ended (cancelled, revoked, completed) with nothing left at the gateway may still
hold items never billed and carried credit. Whatever path ended it (the merchant, the customer's
page, a bank's revocation, the last charge settling, a resume past the term), the billing engine
winds it up once, on the mandate's version:

* each pending item becomes `void` (`item.voided`): it will never be billed;
* the carried credit is given back to the customer as refunds of the mandate's succeeded charges
  with money left: first those whose cycles granted credit (`Charge.credited`: the money it was
  paid with, so its credit note is at that money's rates), then the others, newest first, each up
  to the money it has left (`reason` `other`,
  `metadata.credit` `"true"`); what no charge can take is reported by `mandate.credit_forfeited`
  with the amount.

A credit refund that fails at the gateway after it succeeded (`credit_refund_failed`) gives its
amount back to the mandate as credit (and to its charge's granted credit, so the next refund
comes from the same money and rates): the wind-up refunds it again. After
`MAX_CREDIT_REFUND_FAILURES` such failures on a mandate, the amount is reported by
`mandate.credit_forfeited` instead, so a customer whose account keeps failing ends the loop.

Items go in slices (each is a write and an event in the transaction), then the credit, a few
refunds per pass: a pass that made its most refunds keeps the rest of the credit for the next
pass, so only credit that no charge has money for is ever forfeited. Pure: the caller reads the
items and the charges with money left (all of them, newest first), and writes the result
atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .charge import Charge
from .events import EventType
from .items import Item
from .model import Mandate
from .money import Money
from .refunds import Refund

# Items voided per transaction (two writes each) and credit refunds made per transaction (three each).
ITEMS_PER_PASS = 25
MAX_CREDIT_REFUNDS = 10
CREDIT_REFUND_METADATA = {"credit": "true"}
# Leftover-credit refunds of one mandate that may fail after succeeding before the rest is forfeited.
MAX_CREDIT_REFUND_FAILURES = 3


@dataclass
class WindUp:
    items: list[Item] = field(default_factory=list)  # voided
    charges: list[Charge] = field(default_factory=list)  # with a credit refund reserved
    refunds: list[Refund] = field(default_factory=list)  # pending, sent by the engine like any refund
    forfeited: Money | None = None  # credit no charge could take: reported, never silently dropped
    mandate_events: list[EventType] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.items or self.refunds or self.mandate_events)


def wind_up(
    mandate: Mandate,
    items: dict[str, Item],
    charges: list[Charge],
    new_refund_id: Callable[[], str],
    now: datetime,
) -> WindUp:
    """`items`: the mandate's pending items as read; `charges`: its succeeded charges with money
    left, newest first (all of them). Changes `mandate` and the objects returned; the caller
    commits them together."""
    result = WindUp()
    if not mandate.winding_up:
        return result
    for item_id in list(mandate.pending_items)[:ITEMS_PER_PASS]:
        item = items.get(item_id)
        if item is not None and item.void(now):
            result.items.append(item)
        mandate.remove_item(item_id)  # billed or deleted meanwhile (cannot happen once ended): nothing to void
    if mandate.pending_items or mandate.credit <= 0:
        mandate.updated_at = now
        return result  # more items first; the credit goes with the last slice
    left = mandate.credit
    # The charges whose cycles granted credit first (its credit notes then give back the VAT that
    # money carried, at its rates), then the rest, newest first.
    for charge in sorted(charges, key=lambda c: c.credited <= 0):
        if left == 0 or len(result.refunds) == MAX_CREDIT_REFUNDS:
            break
        if charge.mandate_id != mandate.id:
            continue
        amount = charge.reserve_credit_refund(left, now)  # 0 for a charge with no money left at a gateway
        if not amount:
            continue
        left -= amount
        result.charges.append(charge)
        result.refunds.append(Refund.of(charge, new_refund_id(), amount, now, "other", CREDIT_REFUND_METADATA, of_credit=True))
    mandate.updated_at = now
    if left and len(result.refunds) == MAX_CREDIT_REFUNDS:
        mandate.credit = left  # the rest in the next pass (older charges may still take it)
        return result
    if left:
        result.forfeited = Money(left, mandate.terms.currency)
        result.mandate_events.append(EventType.MANDATE_CREDIT_FORFEITED)
    mandate.credit = 0
    return result


def is_credit_refund(refund: Refund) -> bool:
    """Whether `refund` gave back an ended mandate's leftover credit (made by `wind_up`; the
    metadata it shows merchants is not proof: a merchant's own refund may carry the same)."""
    return refund.of_credit


def credit_refund_failed(mandate: Mandate, charge: Charge, amount: int, now: datetime) -> Money | None:
    """A leftover-credit refund of `charge` (of `amount`) failed after it succeeded (the charge's
    `refund_failed_later` applied): the money is the customer's credit again, on the mandate, for
    the wind-up to refund once more; after `MAX_CREDIT_REFUND_FAILURES` failures it is not given
    back but returned as forfeited (report it with `mandate.credit_forfeited`)."""
    mandate.credit_refund_failures += 1
    mandate.updated_at = now
    if mandate.credit_refund_failures >= MAX_CREDIT_REFUND_FAILURES:
        return Money(amount, mandate.terms.currency)
    mandate.credit += amount
    # The charge granted that credit again, within what its cycle was paid for.
    room = charge.paid_worth - charge.credited - charge.amount_refunded - charge.amount_disputed
    charge.credited += max(0, min(amount, room))
    return None
