"""Review 25: bad input on every form is a clear 4xx, never a 500 (unicode digits, huge bodies,
duplicate fields, bad cursors, amounts of every wrong shape); the refund form keeps the API's
limits; every merchant- or customer-controlled string is escaped; no secret in any page."""

from __future__ import annotations

import pytest

from billing.api.requests import MandateCreate
from tests.support.values import CONSENT
from tests.unit.test_dashboard_mandates import OWNER, paid
from tests.unit.test_dashboard_security import World
from tests.unit.test_dashboard_settings_pages import FORM as ACCOUNT_FORM
from tests.world import MERCHANT


@pytest.fixture
def world() -> World:
    return World()


def post(world: World, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return world.request("POST", path, OWNER, form | {"csrf": world.csrf(OWNER)})


# ----------------------------------------------------------------------------- unicode digits


@pytest.mark.parametrize("days", ["²", "¹⁴"])
def test_a_unicode_digit_in_the_notice_days_is_a_422_not_a_500(world: World, days: str) -> None:
    response = post(world, "/dashboard/settings", ACCOUNT_FORM | {"upcoming_charge_days": days})
    assert response.status == 422


def test_a_unicode_digit_in_the_refund_forms_left_is_a_422_not_a_500(world: World) -> None:
    mandate_id, charge_id = paid(world)
    before = len(world.billing.repo.commits)
    response = post(world, f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund", {"amount": "1", "left": "²"})
    assert response.status == 422 and len(world.billing.repo.commits) == before


def test_arabic_indic_digits_in_plan_numbers_are_refused_never_a_500(world: World) -> None:
    form = {"name": "P", "amount": "١٠", "currency": "EUR", "interval": "month", "interval_count": "²", "trial_days": "٣"}
    assert post(world, "/dashboard/plans", form).status == 422


# ----------------------------------------------------------------------------- the refund form


@pytest.mark.parametrize(
    "amount",
    ["-1", "0", "0.001", "1e3", "20.00", "99999999999999999999", "NaN", "Infinity", "1,2,3", "１０", "10\x00", "½", " "],
)
def test_every_wrong_refund_amount_is_a_4xx_and_refunds_nothing(world: World, amount: str) -> None:
    mandate_id, charge_id = paid(world)  # 19.99 EUR paid
    before = world.billing.api.charges.get(MERCHANT, charge_id).refundable
    response = post(
        world, f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund", {"amount": amount, "left": str(before)}
    )
    if amount == " ":  # empty: everything left, by design
        assert response.status == 303
        return
    assert 400 <= response.status < 500, (amount, response.status)
    assert world.billing.api.charges.get(MERCHANT, charge_id).refundable == before


def test_two_tabs_refunding_the_same_charge_refund_once(world: World) -> None:
    mandate_id, charge_id = paid(world)
    left = str(world.billing.api.charges.get(MERCHANT, charge_id).refundable)
    path = f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund"
    first, second = post(world, path, {"amount": "15", "left": left}), post(world, path, {"amount": "15", "left": left})
    assert first.status == 303 and second.status == 409
    assert world.billing.api.charges.get(MERCHANT, charge_id).refundable == 1999 - 1500


def test_a_failed_charge_cannot_be_refunded(world: World) -> None:
    plan_id = world.billing.plan()
    mandate_id = world.billing.api.mandates.create(
        MERCHANT,
        MandateCreate.model_validate(
            {
                "plan_id": plan_id,
                "customer": {"reference": "c"},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_expired_card"},
                "consent": CONSENT,
            }
        ),
    ).id
    world.billing.tick()
    [charge] = world.billing.charges(mandate_id)
    assert charge.status == "failed"
    before = len(world.billing.repo.commits)
    response = post(world, f"/dashboard/mandates/{mandate_id}/charges/{charge.id}/refund", {"amount": "", "left": "0"})
    assert response.status in (409, 422) and len(world.billing.repo.commits) == before


# ----------------------------------------------------------------------------- bodies, fields, cursors


def test_a_huge_body_duplicate_fields_and_junk_are_4xx(world: World) -> None:
    huge = post(world, "/dashboard/plans", {"name": "x" * 200_000, "amount": "1", "currency": "EUR", "interval": "month"})
    assert 400 <= huge.status < 500
    headers = {"Host": "localhost", "Cookie": f"dashboard_session={OWNER}", "Content-Type": "application/x-www-form-urlencoded"}
    dup = f"csrf={world.csrf(OWNER)}&name=A&name=B&amount=1&amount=-1&currency=EUR&currency=XXX&interval=month"
    assert world.gateway.request("POST", "/dashboard/plans", headers, dup).status in (303, 422)
    junk = f"csrf={world.csrf(OWNER)}&%ff%fe=%00%ff&name=%ED%A0%80"
    assert 400 <= world.gateway.request("POST", "/dashboard/plans", headers, junk).status < 500


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/mandates?cursor=AAAA",
        "/dashboard/mandates?cursor=%00%ff",
        "/dashboard/mandates?q=a%40b&cursor=zzz",
        "/dashboard/charges?cursor=eyJ9",
        "/dashboard/refunds?status=%00",
        "/dashboard/invoices?cursor=" + "A" * 3000,
        "/dashboard/plans?cursor=x",
        "/dashboard/api-keys?cursor=x",
        "/dashboard/exports?cursor=x",
        "/dashboard/webhooks?cursor=x",
        "/dashboard/overview?lang=xx",
        "/dashboard/overview?lang=%00",
        "/dashboard/mandates?status=nope&plan_id=%3Cscript%3E",
    ],
)
def test_bad_query_strings_are_never_a_500(world: World, path: str) -> None:
    response = world.request("GET", path, OWNER)
    assert response.status < 500, (path, response.status)


def test_a_mandate_page_with_a_bad_cursor_is_a_400(world: World) -> None:
    mandate_id, _ = paid(world)
    for query in ("events=zzz", "charges=zzz", "events=" + "A" * 3000):
        assert world.request("GET", f"/dashboard/mandates/{mandate_id}?{query}", OWNER).status == 400


# ----------------------------------------------------------------------------- output


XSS = '"><img src=x onerror=alert(1)>'


def test_customer_and_merchant_strings_are_escaped_everywhere(world: World) -> None:
    plan_id = world.billing.plan(name=f"Gold{XSS}"[:200])
    mandate_id = world.billing.api.mandates.create(
        MERCHANT,
        MandateCreate.model_validate(
            {
                "plan_id": plan_id,
                "customer": {"reference": f"r{XSS}", "email": "x@example.com", "name": f"N{XSS}"},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                "consent": CONSENT,
                "metadata": {"k": XSS},
            }
        ),
    ).id
    world.billing.tick()
    pages = [
        f"/dashboard/mandates/{mandate_id}",
        "/dashboard/mandates",
        "/dashboard/mandates?q=" + XSS.replace(" ", "+").replace("&", "%26").replace(">", "%3E").replace("<", "%3C"),
        "/dashboard/charges",
        "/dashboard/plans",
        "/dashboard/invoices",
    ]
    for path in pages:
        body = world.request("GET", path, OWNER).body
        assert "<img" not in body and "onerror=alert(1)>" not in body, path


def test_no_secret_of_a_key_or_an_endpoint_is_on_any_later_page(world: World) -> None:
    import re

    key_page = post(world, "/dashboard/api-keys", {})
    hook_page = post(world, "/dashboard/webhooks", {"url": "https://shop.example/h", "events": ""})
    secrets = re.findall(r'value="([^"]+)" id="new-(?:secret|key)"', key_page.body + hook_page.body)
    assert len(secrets) == 2, key_page.body[-500:]
    for path in ("/dashboard/api-keys", "/dashboard/webhooks", "/dashboard/settings", "/dashboard/overview"):
        body = world.request("GET", path, OWNER).body
        assert not any(s in body for s in secrets), path
    assert key_page.headers["Cache-Control"] == "no-store" and hook_page.headers["Cache-Control"] == "no-store"
