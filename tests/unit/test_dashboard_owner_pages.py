"""The dashboard's plans, API keys and exports through its real routes, sessions and the API's use
cases on the in-memory billing world: an owner lists, creates and archives plans (the API's limits
as form errors, never a 500), creates an API key (its secret shown on that response only, never on
the list) and revokes one, requests an export and downloads a ready one by a fresh link. A viewer's
action is 403 and changes nothing, an action without the session's CSRF token is refused, another
merchant's plan, key or export is 404; English and Lithuanian."""

from __future__ import annotations

import re
from html import unescape

import pytest

from billing.api.requests import AccountUpdate, ExportCreate, TaxRateCreate
from billing.domain.api_keys import ApiKey
from billing.domain.exports import Export
from billing.domain.model import Plan
from billing.service.ports import Changes
from tests.unit.test_dashboard_security import OWNER, World, owner_b, viewer
from tests.world import MERCHANT


@pytest.fixture
def world() -> World:
    return World()


def post(world: World, path: str, session: str, form: dict[str, str] | None = None, csrf: bool = True):  # type: ignore[no-untyped-def]
    sent = dict(form or {})
    if csrf:
        sent["csrf"] = world.csrf(session)
    return world.request("POST", path, session, sent)


def plans_of(world: World, merchant: str = MERCHANT) -> list[Plan]:
    return list(world.billing.api.plans.page(merchant, _all()).data)


def keys_of(world: World, merchant: str = MERCHANT) -> list[ApiKey]:
    return list(world.billing.api.api_keys.page(merchant, _all()).data)


def _all():  # type: ignore[no-untyped-def]
    from billing.service.ports import PageRequest

    return PageRequest(100)


def text_of(body: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", body)).replace("\u00a0", " ")


GOLD = {"name": "Gold", "amount": "19,99", "currency": "EUR", "interval": "month", "interval_count": "1", "trial_days": "14"}


# ----------------------------------------------------------------------------- plans


def test_an_owner_creates_a_plan_in_major_units_and_sees_it_listed(world: World) -> None:
    # Given an active tax rate of the merchant (who has a VAT id)
    world.billing.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    rate = world.billing.api.tax_rates.create(
        MERCHANT, TaxRateCreate.model_validate({"display_name": "PVM", "percentage": "21", "country": "LT"})
    )
    # When the owner creates a plan of 19,99 EUR a month, 14 trial days, with that rate
    made = post(world, "/dashboard/plans", OWNER, GOLD | {"tax_rate_id": rate.id})
    # Then it is the API's plan, in minor units, and the list shows it
    assert made.status == 303 and made.headers["Location"] == "/dashboard/plans?done=created"
    [plan] = plans_of(world)
    assert (plan.name, plan.terms.amount, plan.terms.currency, plan.terms.interval, plan.terms.trial_days) == (
        "Gold",
        1999,
        "EUR",
        "month",
        14,
    )
    assert plan.terms.tax_rate is not None and plan.terms.tax_rate.id == rate.id
    page = world.request("GET", "/dashboard/plans?done=created", OWNER)
    assert page.status == 200 and f'data-plan-id="{plan.id}"' in page.body and "€19.99" in text_of(page.body)
    assert "The plan was created." in page.body


@pytest.mark.parametrize(
    "change,lang,message",
    [
        ({"amount": "abc"}, "en", "at most 2 decimal places"),
        ({"amount": "1.005"}, "en", "at most 2 decimal places"),
        ({"amount": "1e99999999"}, "en", "at most 2 decimal places"),  # never Decimal's overflow (a 500)
        ({"amount": "1e999990"}, "en", "at most 2 decimal places"),  # never a number of a million digits
        ({"amount": "-5"}, "en", "at most 2 decimal places"),
        ({"amount": "NaN"}, "en", "at most 2 decimal places"),
        ({"amount": "0"}, "en", "The amount must be between €0.01 and €999,999.99."),
        ({"amount": "10", "currency": "JPY"}, "en", ""),  # JPY has no decimals: 10 is fine
        ({"amount": "10.5", "currency": "JPY"}, "en", "at most 0 decimal places"),
        ({"name": ""}, "en", "The name must be one line"),
        ({"name": "a\nb"}, "en", "The name must be one line"),
        ({"interval_count": "37"}, "en", "from 1 to 36 for this interval"),
        ({"interval": "year", "interval_count": "4"}, "en", "from 1 to 3 for this interval"),
        ({"trial_days": "731"}, "en", "from 0 to 730"),
        ({"trial_days": "-1"}, "en", "from 0 to 730"),
        ({"currency": "XXX"}, "en", "currency"),
        ({"interval": "fortnight"}, "en", "interval"),
        ({"tax_rate_id": "txr_nope"}, "en", "tax"),  # the use case's 422
        ({"amount": "0"}, "lt", "Suma turi būti nuo 0,01 € iki"),
    ],
)
def test_a_plan_past_the_apis_limits_is_a_form_error_not_a_500(
    world: World, change: dict[str, str], lang: str, message: str
) -> None:
    response = post(world, f"/dashboard/plans?lang={lang}", OWNER, GOLD | change)
    if not message:
        assert response.status == 303 and plans_of(world)[0].terms.amount == 10
        return
    assert response.status == 422 and 'role="alert"' in response.body, response.body
    assert message.lower() in text_of(response.body).lower()
    assert plans_of(world) == []
    # And what was typed is kept in the form
    assert 'name="amount"' in response.body


def test_an_owner_archives_a_plan_and_again_is_409_not_500(world: World) -> None:
    plan_id = world.billing.plan()
    done = post(world, f"/dashboard/plans/{plan_id}/archive", OWNER)
    assert done.status == 303 and done.headers["Location"] == "/dashboard/plans?done=archived"
    assert world.billing.api.plans.get(MERCHANT, plan_id).status == "archived"
    again = post(world, f"/dashboard/plans/{plan_id}/archive", OWNER)
    assert again.status == 409 and 'role="alert"' in again.body


# ----------------------------------------------------------------------------- API keys


def test_a_new_keys_secret_is_shown_once_and_never_on_the_list(world: World) -> None:
    # When the owner creates a key
    made = post(world, "/dashboard/api-keys", OWNER)
    # Then the response shows the whole secret, never cached
    assert made.status == 201 and made.headers["Cache-Control"] == "no-store"
    secret_value = re.search(r'value="([^"]+)" id="new-key"', made.body).group(1)  # type: ignore[union-attr]
    assert secret_value.startswith("rk_live_") and "shown this once" in made.body
    [key] = keys_of(world)
    assert key.last4 == secret_value[-4:] and f'data-key-id="{key.id}"' in made.body
    # And the list shows its last four characters only, never the secret, on every later read
    for lang in ("en", "lt"):
        listed = world.request("GET", f"/dashboard/api-keys?lang={lang}", OWNER)
        assert listed.status == 200 and f'data-key-id="{key.id}"' in listed.body
        assert secret_value not in listed.body and key.last4 in listed.body
    assert "never" in world.request("GET", "/dashboard/api-keys?lang=en", OWNER).body


def test_an_owner_revokes_a_key_and_it_no_longer_works(world: World) -> None:
    created = world.billing.api.api_keys.create(MERCHANT)
    done = post(world, f"/dashboard/api-keys/{created.key.id}/revoke", OWNER)
    assert done.status == 303 and done.headers["Location"] == "/dashboard/api-keys?done=revoked"
    key = world.billing.api.api_keys.get(MERCHANT, created.key.id)
    assert key.status == "revoked" and not key.usable(world.billing.clock.now())
    page = world.request("GET", "/dashboard/api-keys?done=revoked", OWNER).body
    assert "The key was revoked" in page and f'/api-keys/{key.id}/revoke"' not in page
    # Revoked again: the lifecycle's 409 on the page, never a 500
    assert post(world, f"/dashboard/api-keys/{key.id}/revoke", OWNER).status == 409


# ----------------------------------------------------------------------------- exports


def test_an_owner_requests_an_export_and_a_ready_one_links_to_a_fresh_presigned_url(world: World) -> None:
    done = post(world, "/dashboard/exports", OWNER, {"kind": "charges", "month": "2026-11"})
    assert done.status == 303 and done.headers["Location"] == "/dashboard/exports?done=requested"
    [export] = world.billing.repo.page(Export, MERCHANT, _all()).data
    assert (export.kind, export.month, export.status) == ("charges", "2026-11", "pending")
    assert [m.export_id for m in world.export_queue.sent] == [export.id]
    pending = world.request("GET", "/dashboard/exports", OWNER).body
    assert f'data-export-id="{export.id}"' in pending and "files.example" not in pending
    # When it is built, Then the list links to a fresh link of its file (as the API's read gives)
    export.finish(3, world.billing.clock.now())
    world.billing.repo.commit(Changes(put=[export]))
    ready = world.request("GET", "/dashboard/exports", OWNER).body
    assert f"https://files.example/exports/{MERCHANT}/{export.id}.csv?expires_in=3600" in ready


@pytest.mark.parametrize(
    "form,message",
    [
        ({"kind": "charges", "month": "2026-13"}, "YYYY-MM"),
        ({"kind": "charges", "month": "1999-01"}, "YYYY-MM"),
        ({"kind": "charges", "month": "<script>"}, "YYYY-MM"),
        ({"kind": "payouts", "month": "2026-11"}, "invoices, charges or mandates"),
    ],
)
def test_an_export_the_api_refuses_is_a_form_error(world: World, form: dict[str, str], message: str) -> None:
    response = post(world, "/dashboard/exports", OWNER, form)
    assert response.status == 422 and message in text_of(response.body) and "<script>" not in response.body
    assert world.billing.repo.page(Export, MERCHANT, _all()).data == [] and world.export_queue.sent == []


# ----------------------------------------------------------------------------- guards


def _targets(world: World) -> dict[str, tuple[str, dict[str, str]]]:
    """Each action of these pages: its path and form, on merchant A's objects."""
    plan_id = world.billing.plan()
    key = world.billing.api.api_keys.create(MERCHANT).key
    return {
        "create_plan": ("/dashboard/plans", GOLD),
        "archive_plan": (f"/dashboard/plans/{plan_id}/archive", {}),
        "create_key": ("/dashboard/api-keys", {}),
        "revoke_key": (f"/dashboard/api-keys/{key.id}/revoke", {}),
        "request_export": ("/dashboard/exports", {"kind": "invoices", "month": "2026-10"}),
    }


ACTIONS = ["create_plan", "archive_plan", "create_key", "revoke_key", "request_export"]


def _state(world: World) -> object:
    plans = [(p.id, p.status) for p in plans_of(world)]
    keys = [(k.id, k.status) for k in keys_of(world)]
    return plans, keys, list(world.billing.repo.page(Export, MERCHANT, _all()).data), list(world.export_queue.sent)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_viewers_every_action_is_403_and_changes_nothing(world: World, action: str) -> None:
    path, form = _targets(world)[action]
    before = _state(world)
    session = viewer(world)
    response = post(world, path, session, form)
    assert response.status == 403 and "Only an owner" in response.body
    assert _state(world) == before
    # And the viewer's pages offer no form that changes anything
    for page in ("plans", "api-keys", "exports"):
        body = world.request("GET", f"/dashboard/{page}", session).body
        assert f'method="post" action="/dashboard/{page}' not in body and "Only an owner can change these." in body


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("token_sent", [None, "", "0" * 48])
def test_an_action_without_the_sessions_csrf_token_is_refused(world: World, action: str, token_sent: str | None) -> None:
    path, form = _targets(world)[action]
    before = _state(world)
    sent = form if token_sent is None else form | {"csrf": token_sent}
    response = world.request("POST", path, OWNER, sent)
    assert response.status == 403 and "form expired" in response.body
    assert _state(world) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_from_another_origin_is_refused(world: World, action: str) -> None:
    path, form = _targets(world)[action]
    before = _state(world)
    sent = form | {"csrf": world.csrf(OWNER)}
    response = world.request("POST", path, OWNER, sent, Origin="https://evil.example")
    assert response.status == 403 and _state(world) == before


@pytest.mark.parametrize("action", ["archive_plan", "revoke_key"])
def test_another_merchants_plan_and_key_are_404_and_unchanged(world: World, action: str) -> None:
    path, form = _targets(world)[action]
    before = _state(world)
    other = owner_b(world)
    assert post(world, path, other, form).status == 404
    assert _state(world) == before
    # And B's lists never show A's objects
    for page in ("plans", "api-keys", "exports"):
        assert "data-plan-id" not in world.request("GET", f"/dashboard/{page}", other).body
        assert "data-key-id" not in world.request("GET", f"/dashboard/{page}", other).body


def test_another_merchants_export_is_never_listed_nor_linked(world: World) -> None:
    api = world.deps.use_cases(world.deps.approval_links("https://localhost"))
    export = api.exports.create(MERCHANT, ExportCreate.model_validate({"kind": "charges", "month": "2026-11"}))
    export.finish(1, world.billing.clock.now())
    world.billing.repo.commit(Changes(put=[export]))
    body = world.request("GET", "/dashboard/exports", owner_b(world)).body
    assert export.id not in body and "files.example" not in body
    assert export.id in world.request("GET", "/dashboard/exports", OWNER).body


def test_an_unknown_plan_or_key_is_404(world: World) -> None:
    assert post(world, "/dashboard/plans/pln_nope/archive", OWNER).status == 404
    assert post(world, "/dashboard/api-keys/key_nope/revoke", OWNER).status == 404


# ----------------------------------------------------------------------------- languages and navigation


def test_the_pages_speak_lithuanian_and_are_in_the_navigation(world: World) -> None:
    world.billing.plan()
    world.billing.api.api_keys.create(MERCHANT)
    expected = {"plans": ("Planai", "Sukurti planą"), "api-keys": ("API raktai", "niekada"), "exports": ("Eksportas", "Užsakyti")}
    for page, words in expected.items():
        body = world.request("GET", f"/dashboard/{page}?lang=lt", OWNER).body
        assert all(w in body for w in words), page
        assert f'href="/dashboard/{page}" aria-current="page"' in body
    overview = world.request("GET", "/dashboard/overview", OWNER).body
    assert all(f'href="/dashboard/{page}"' in overview for page in expected)


def test_the_plans_page_pages_on_with_the_apis_cursor_and_an_altered_one_is_a_400(world: World) -> None:
    made = [world.billing.plan(name=f"P{n}") for n in range(23)]
    first = world.request("GET", "/dashboard/plans", OWNER).body
    listed = re.findall(r'data-plan-id="(pln_[A-Za-z0-9]+)"', first)
    older = unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))  # type: ignore[union-attr]
    rest = re.findall(r'data-plan-id="(pln_[A-Za-z0-9]+)"', world.request("GET", older, OWNER).body)
    assert sorted(listed + rest) == sorted(made) and len(listed) == 20
    for page in ("plans", "api-keys", "exports"):
        assert world.request("GET", f"/dashboard/{page}?cursor=not-a-cursor", OWNER).status == 400
