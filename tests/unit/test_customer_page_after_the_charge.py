"""The customer's page after the charge, en and lt: a bank debit being debited (`processing`), a
debit the bank returned (reversed, back in the decline rules), and disputes (a lost one shows on
its charge). In-memory world, gateway reports applied as the applier does, the page rendered from
the portal's view."""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import count
from typing import Any

import pytest

from billing.customer_page import render
from billing.service.customer_portal import CustomerPortal
from billing.service.gateway_events import GatewayEvent, GatewayEvents
from billing.service.links import ApprovalLinks
from tests.world import MERCHANT, World

LINKS = ApprovalLinks(b"k" * 32, "https://pay.example")
_ids = count(1)


def report(world: World, **fields: Any) -> None:
    data = {"id": f"evt_page{next(_ids)}", "gateway": "simulated", "event_type": "x", "created": world.clock.now()}
    GatewayEvents(world.repo, world.clock, world.ids).apply(
        GatewayEvent.model_validate(data | {"merchant_id": MERCHANT} | fields)
    )


def past_charges(world: World, mandate_id: str, lang: str) -> str:
    """The page's list of past charges, as text (one line a row)."""
    portal = CustomerPortal(world.api, LINKS, lambda _: "Sporto klubas")
    view = portal.view(LINKS.token(MERCHANT, mandate_id, world.clock.now() + timedelta(days=30)))
    html = render.mandate_page(view, lang, "n", "/customer/mandates/t", {"approve": "c", "payment_method": "c"})  # type: ignore[arg-type]  # lang: a str here
    table = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table.split("</tr>")]
    return "\n".join(row for row in rows if row)


def bank_debit(world: World, token: str = "pm_sim_sepa_ok") -> str:
    customer = {"reference": "c", "email": "ona@example.lt", "name": "Ona"}
    return world.mandate(world.plan(amount=1000), token, customer=customer)


@pytest.mark.parametrize(
    ("lang", "due", "label"), [("en", "Due: being collected", "Being debited"), ("lt", "Laukia nuskaitymo", "Nurašoma")]
)
def test_a_debit_being_collected_is_shown_as_being_debited(lang: str, due: str, label: str) -> None:
    # Given a bank debit due: dispatched, not yet at the gateway
    world = World()
    m = bank_debit(world)
    world.until_debit(m)
    world.dispatch()
    assert due in past_charges(world, m, lang)
    # When the gateway accepted it and has not settled it
    world.deliver_all()
    [charge] = world.charges(m)
    assert charge.status == "processing"
    # Then the customer's page lists it as being debited, not as due, paid or failed
    listed = past_charges(world, m, lang)
    assert label in listed and due not in listed


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", ("Will be retried", "Returned by your bank on")), ("lt", ("Bus kartojama", "Bankas grąžino"))],
)
def test_a_debit_the_bank_returned_says_so_next_to_its_retry(lang: str, words: tuple[str, str]) -> None:
    # Given a settled bank debit
    world = World()
    m = bank_debit(world)
    world.first_debit(m)
    [charge] = world.charges(m)
    report(world, payment={"charge_id": charge.id, "attempt": 1, "outcome": "succeeded"})
    # When the bank returns it (insufficient funds: retried on the plan's schedule)
    world.clock.current += timedelta(days=4)
    report(world, payment={"charge_id": charge.id, "attempt": 1, "outcome": "reversed", "decline_code": "insufficient_funds"})
    # Then the page shows it will be retried, and that the bank returned it, on which day
    retry, returned = words
    listed = past_charges(world, m, lang)
    assert retry in listed and returned in listed and "Paid" not in listed and "Apmokėta" not in listed


@pytest.mark.parametrize(
    ("lang", "lost", "open_"),
    [
        ("en", "Disputed through your bank: €10.00, lost", "Disputed through your bank: €10.00, open"),
        ("lt", "Užginčyta per jūsų banką: 10,00\xa0€, pralaimėta", "Užginčyta per jūsų banką: 10,00\xa0€, ginčas vyksta"),
    ],
)
def test_a_disputed_charge_shows_its_dispute_and_a_lost_one_says_lost(lang: str, lost: str, open_: str) -> None:
    # Given a paid card charge the customer disputed with their bank
    world = World()
    m = world.mandate(world.plan(amount=1000), "pm_sim_ok")
    world.tick()
    [charge] = world.charges(m)
    facts = {"reference": "dp_1", "charge_id": charge.id, "amount": 1000, "currency": "EUR", "reason": "product_not_received"}
    report(world, dispute=facts | {"status": "needs_response"})
    # Then the page shows the dispute open on that charge
    assert open_ in past_charges(world, m, lang)
    # When the merchant loses it
    report(world, dispute=facts | {"status": "lost"})
    # Then the charge says the dispute was lost
    listed = past_charges(world, m, lang)
    assert lost in listed and open_ not in listed


def test_the_page_shows_a_bank_debit_on_the_date_its_notice_named() -> None:
    # Given a bank debit due at activation, announced at the first dispatch for 3 days later
    world = World()
    m = bank_debit(world)
    start = world.clock.now()
    world.tick()
    assert world.get(m).next_debit_at == start + timedelta(days=3)
    # When the customer opens their page, Then the next payment shows that date, not the due time
    portal = CustomerPortal(world.api, LINKS, lambda _: "Sporto klubas")
    view = portal.view(LINKS.token(MERCHANT, m, world.clock.now() + timedelta(days=30)))
    assert view.upcoming[0] == (1, start + timedelta(days=3))
    assert view.upcoming[1][1] == world.get(m).due(2)
