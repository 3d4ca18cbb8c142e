"""Review 25: the dashboard's one gate, enumerated from the routers (not hand-picked): every POST
route as a viewer is 403 and changes nothing; every route that takes an id, given another
merchant's ids (path and form), is 404 and changes nothing; an id of the merchant's own hidden
under another of its objects (a charge under another mandate, a delivery under another
endpoint) is 404 too."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from billing.api.requests import AccountUpdate, MandateCreate, PlanCreate, RefundCreate, TaxRateCreate
from billing.dashboard import site
from billing.service.ports import PageRequest
from tests.support.values import CONSENT
from tests.unit.test_dashboard_security import World, token
from tests.unit.test_dashboard_webhook_pages import delivery
from tests.world import MERCHANT

SIGN_IN = {"/dashboard/sign-in", "/dashboard/sign-in/new-password", "/dashboard/sign-out"}  # not owner actions
POSTS = sorted(
    rule for router in site.ROUTERS for (rule, methods, *_) in router._routes if "POST" in methods and rule not in SIGN_IN
)
GETS_WITH_IDS = sorted(
    rule for router in site.ROUTERS for (rule, methods, *_) in router._routes if "GET" in methods and "<" in rule
)


@pytest.fixture
def world() -> World:
    return World()


def objects(world: World, merchant: str) -> dict[str, str]:
    """One object of each kind a route names, for `merchant`: the values of every path parameter."""
    api = world.deps.use_cases(world.deps.approval_links("https://localhost"))  # with the webhook ports
    plan = api.plans.create(
        merchant, PlanCreate.model_validate({"name": "P", "amount": 1999, "currency": "EUR", "interval": "month"})
    )
    mandate = api.mandates.create(
        merchant,
        MandateCreate.model_validate(
            {
                "plan_id": plan.id,
                "customer": {"reference": f"c-{merchant}", "email": f"c@{merchant}.example"},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                "consent": CONSENT,
            }
        ),
    )
    world.billing.tick()
    [charge] = api.charges.page(merchant, PageRequest(10), mandate_id=mandate.id).data
    assert charge.status == "succeeded"
    key = api.api_keys.create(merchant).key
    from billing.api.requests import WebhookEndpointCreate

    endpoint = api.webhooks.create(
        merchant, WebhookEndpointCreate.model_validate({"url": "https://shop.example/h", "enabled_events": ["*"]})
    ).endpoint
    made = delivery(world, endpoint.id, merchant=merchant)
    api.account.update(merchant, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    rate = api.tax_rates.create(
        merchant, TaxRateCreate.model_validate({"display_name": "PVM", "percentage": "21", "country": "LT"})
    )
    user = world.owner_a if merchant == MERCHANT else world.owner_b
    # A second charge of the merchant's, refunded in part and disputed (their own pages)
    other = api.mandates.create(
        merchant,
        MandateCreate.model_validate(
            {
                "plan_id": plan.id,
                "customer": {"reference": f"d-{merchant}", "email": f"d@{merchant}.example"},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                "consent": CONSENT,
            }
        ),
    )
    world.billing.tick()
    [paid] = api.charges.page(merchant, PageRequest(10), mandate_id=other.id).data
    refunded = api.refunds.create(merchant, paid.id, RefundCreate.model_validate({"amount": 100}))
    world.billing.tick()
    world.billing.apply(world.billing.gateway.open_dispute(paid.id, reason="fraudulent", amount=300))
    [disputed] = [d for d in api.disputes.page(merchant, PageRequest(100)).data if d.charge_id == paid.id]
    return {
        "refund_id": refunded.id,
        "dispute_id": disputed.id,
        "mandate_id": mandate.id,
        "charge_id": charge.id,
        "plan_id": plan.id,
        "key_id": key.id,
        "endpoint_id": endpoint.id,
        "delivery_id": made.id,
        "rate_id": rate.id,
        "user_id": user.user_id,
        "left": str(charge.refundable),
    }


def fill(rule: str, ids: dict[str, str]) -> str:
    return re.sub(r"<(\w+)>", lambda m: ids[m.group(1)], rule)


FORMS: dict[str, dict[str, str]] = {  # a well-formed body for each form route
    "/dashboard/users": {"email": "new@a.example", "role": "owner"},
    "/dashboard/plans": {"name": "X", "amount": "1", "currency": "EUR", "interval": "month"},
    "/dashboard/exports": {"kind": "invoices", "month": "2026-10"},
    "/dashboard/webhooks": {"url": "https://shop.example/x", "events": ""},
    "/dashboard/settings": {
        "name": "Evil",
        "default_locale": "en",
        "invoice_prefix": "INV",
        "credit_note_prefix": "CN",
        "upcoming_charge_days": "3",
        "trial_ending_days": "3",
    },  # fmt: skip
    "/dashboard/settings/tax-rates": {"display_name": "X", "percentage": "5", "country": "LT"},
    "/dashboard/webhooks/<endpoint_id>/status": {"status": "disabled"},
    "/dashboard/users/<user_id>/role": {"role": "viewer"},
}


def state(world: World) -> Any:
    """Everything an action could change."""
    return (
        len(world.billing.repo.commits),
        copy.deepcopy(world.pool.users),
        copy.deepcopy(world.members.rows),
        list(world.webhook_queue.woken),
        list(world.export_queue.sent),
    )


def test_the_routes_were_found() -> None:
    assert len(POSTS) >= 15 and "/dashboard/mandates/<mandate_id>/charges/<charge_id>/refund" in POSTS


@pytest.mark.parametrize("rule", POSTS)
def test_every_post_route_as_a_viewer_is_403_and_changes_nothing(world: World, rule: str) -> None:
    # Given merchant A's objects and a signed-in viewer of merchant A with a valid CSRF token
    ids = objects(world, MERCHANT)
    session = token(role="viewer", sub=world.viewer_a.user_id)
    form = FORMS.get(rule, {}) | {"amount": "1", "left": ids["left"], "reason": "requested_by_customer"}
    form["csrf"] = world.csrf(session)
    before = state(world)
    # When the viewer posts the action
    response = world.request("POST", fill(rule, ids), session, form)
    # Then it is refused as forbidden, and nothing changed
    assert response.status == 403, (rule, response.status, response.body[:300])
    assert state(world) == before


@pytest.mark.parametrize("rule", [r for r in POSTS if "<" in r])
def test_every_post_route_given_another_merchants_ids_is_404_and_changes_nothing(world: World, rule: str) -> None:
    # Given objects of both merchants, and merchant A's owner signed in
    objects(world, MERCHANT)
    theirs = objects(world, "mch_b")
    session = token(sub=world.owner_a.user_id)
    form = FORMS.get(rule, {}) | {"amount": "1", "left": theirs["left"], "reason": "requested_by_customer"}
    form["csrf"] = world.csrf(session)
    before = state(world)
    # When A's owner posts the action on B's objects
    response = world.request("POST", fill(rule, theirs), session, form)
    # Then it is not found, and nothing changed
    assert response.status == 404, (rule, response.status, response.body[:300])
    assert state(world) == before


@pytest.mark.parametrize("rule", GETS_WITH_IDS)
def test_every_get_route_given_another_merchants_ids_is_404(world: World, rule: str) -> None:
    objects(world, MERCHANT)
    theirs = objects(world, "mch_b")
    response = world.request("GET", fill(rule, theirs), token(sub=world.owner_a.user_id))
    assert response.status == 404, (rule, response.status)
    assert theirs["mandate_id"] not in response.body and "c@mch_b.example" not in response.body


def test_a_charge_refunded_under_another_of_the_merchants_mandates_is_404(world: World) -> None:
    # Given two of merchant A's mandates, each with a paid charge
    first, second = objects(world, MERCHANT), objects(world, MERCHANT)
    session = token(sub=world.owner_a.user_id)
    before = state(world)
    # When the refund form of the second's charge is posted under the first's URL
    path = f"/dashboard/mandates/{first['mandate_id']}/charges/{second['charge_id']}/refund"
    form = {"amount": "1", "left": second["left"], "reason": "requested_by_customer", "csrf": world.csrf(session)}
    response = world.request("POST", path, session, form)
    # Then not found, and nothing refunded
    assert response.status == 404 and state(world) == before


def test_a_delivery_retried_under_another_of_the_merchants_endpoints_is_404(world: World) -> None:
    first, second = objects(world, MERCHANT), objects(world, MERCHANT)
    session = token(sub=world.owner_a.user_id)
    before = state(world)
    path = f"/dashboard/webhooks/{first['endpoint_id']}/deliveries/{second['delivery_id']}/retry"
    response = world.request("POST", path, session, {"csrf": world.csrf(session)})
    assert response.status == 404 and state(world) == before


def test_a_plan_given_another_merchants_tax_rate_is_refused_and_not_created(world: World) -> None:
    objects(world, MERCHANT)
    theirs = objects(world, "mch_b")
    session = token(sub=world.owner_a.user_id)
    form = FORMS["/dashboard/plans"] | {"tax_rate_id": theirs["rate_id"], "csrf": world.csrf(session)}
    response = world.request("POST", "/dashboard/plans", session, form)
    assert response.status in (404, 422)
    assert not [p for p in world.billing.api.plans.page(MERCHANT, PageRequest(100)).data if p.name == "X"]
