"""The dashboard's settings page through its real routes, sessions and the API's account and tax
rate use cases on the in-memory billing world: an owner changes the account (name, legal details,
locale, notifications with invoice_pdf, prefixes) and creates and archives a tax rate; the API's
limits are form errors (422), never a 500. A viewer's action is 403 and changes nothing, an action
without the session's CSRF token is refused, another merchant's rate is 404; English and
Lithuanian."""

from __future__ import annotations

import pytest

from billing.api.requests import AccountUpdate, TaxRateCreate
from billing.domain.tax_rates import TaxRate
from billing.service.ports import PageRequest
from tests.unit.test_dashboard_owner_pages import OWNER, owner_b, post, text_of, viewer
from tests.unit.test_dashboard_security import World
from tests.world import MERCHANT

FORM = {
    "name": "Sporto klubas",
    "legal_name": "UAB Sporto klubas",
    "address": "Gedimino pr. 1\nVilnius",
    "vat_id": "LT100001919017",
    "company_code": "300000000",
    "support_email": "help@klubas.lt",
    "default_locale": "lt",
    "invoice_prefix": "SK",
    "credit_note_prefix": "SKK",
    "upcoming_charge_days": "5",
    "trial_ending_days": "0",
    "receipts": "on",
    "invoice_pdf": "on",
}
RATE = {"display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": "on"}


@pytest.fixture
def world() -> World:
    return World()


def rates_of(world: World, merchant: str = MERCHANT) -> list[TaxRate]:
    return list(world.billing.repo.page(TaxRate, merchant, PageRequest(100)).data)


def a_rate(world: World, merchant: str = MERCHANT) -> TaxRate:
    world.billing.api.account.update(merchant, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    return world.billing.api.tax_rates.create(
        merchant, TaxRateCreate.model_validate({"display_name": "PVM", "percentage": "21", "country": "LT"})
    )


def test_an_owner_saves_the_account_through_the_account_use_case(world: World) -> None:
    done = post(world, "/dashboard/settings", OWNER, FORM)
    assert done.status == 303 and done.headers["Location"] == "/dashboard/settings?done=saved"
    account = world.billing.api.account.get(MERCHANT)
    assert (account.name, account.legal_name, account.address, account.vat_id, account.company_code) == (
        "Sporto klubas",
        "UAB Sporto klubas",
        "Gedimino pr. 1\nVilnius",
        "LT100001919017",
        "300000000",
    )
    assert (account.support_email, account.default_locale, account.invoice_prefix, account.credit_note_prefix) == (
        "help@klubas.lt",
        "lt",
        "SK",
        "SKK",
    )
    n = account.notifications
    assert (n.upcoming_charge_days, n.trial_ending_days, n.receipts, n.payment_failed, n.invoice_pdf) == (5, 0, True, False, True)
    page = world.request("GET", done.headers["Location"], OWNER).body
    assert "The settings were saved." in page and 'value="UAB Sporto klubas"' in page
    # An emptied optional detail is cleared
    post(world, "/dashboard/settings", OWNER, FORM | {"legal_name": ""})
    assert world.billing.api.account.get(MERCHANT).legal_name is None


@pytest.mark.parametrize(
    "change,lang,message",
    [
        ({"name": ""}, "en", "The name must be one line"),
        ({"name": "a\nb"}, "en", "Name must be at most 200 characters, on one line"),
        ({"support_email": "nope"}, "en", "must be an e-mail address"),
        ({"vat_id": "!"}, "en", "The VAT id must be"),
        ({"vat_id": "XX123"}, "en", "Not saved:"),  # the use case's: not an EU VAT id
        ({"invoice_prefix": "sk"}, "en", "capital letters or digits"),
        ({"credit_note_prefix": "SK"}, "en", "Not saved:"),  # the use case's: both series one prefix
        ({"upcoming_charge_days": "15"}, "en", "from 0 to 14"),
        ({"default_locale": "de"}, "en", "default_locale"),
        ({"address": "x" * 501}, "en", "at most 500"),
        ({"invoice_prefix": "sk"}, "lt", "didžiųjų raidžių"),
    ],
)
def test_an_account_past_the_apis_limits_is_a_form_error_not_a_500(
    world: World, change: dict[str, str], lang: str, message: str
) -> None:
    before = world.billing.api.account.get(MERCHANT).model_dump()
    response = post(world, f"/dashboard/settings?lang={lang}", OWNER, FORM | change)
    assert response.status == 422 and 'role="alert"' in response.body, response.body
    assert message in text_of(response.body)
    assert world.billing.api.account.get(MERCHANT).model_dump() == before


def test_an_owner_creates_and_archives_a_tax_rate(world: World) -> None:
    post(world, "/dashboard/settings", OWNER, FORM)  # a VAT id first
    done = post(world, "/dashboard/settings/tax-rates", OWNER, RATE | {"percentage": "9,5"})
    assert done.status == 303 and done.headers["Location"] == "/dashboard/settings?done=rate_created"
    [rate] = rates_of(world)
    assert (rate.display_name, rate.percentage, rate.country, rate.inclusive) == ("PVM", "9.5", "LT", True)
    page = world.request("GET", "/dashboard/settings?lang=lt", OWNER).body
    assert f'data-rate-id="{rate.id}"' in page and "9,5 %" in text_of(page)
    archived = post(world, f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER)
    assert archived.status == 303 and rates_of(world)[0].status == "archived"
    assert post(world, f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER).status == 409


@pytest.mark.parametrize(
    "change,message",
    [
        ({"percentage": "101"}, "from 0 to 100"),
        ({"percentage": "1.00001"}, "at most 4 decimal places"),
        ({"country": "ZZ"}, "ISO 3166-1"),
        ({"display_name": ""}, "1 to 50 characters"),
    ],
)
def test_a_tax_rate_past_the_apis_limits_is_a_form_error(world: World, change: dict[str, str], message: str) -> None:
    post(world, "/dashboard/settings", OWNER, FORM)
    response = post(world, "/dashboard/settings/tax-rates", OWNER, RATE | change)
    assert response.status == 422 and message in text_of(response.body) and rates_of(world) == []


def test_a_tax_rate_without_a_vat_id_is_the_use_cases_422(world: World) -> None:
    response = post(world, "/dashboard/settings/tax-rates", OWNER, RATE)
    assert response.status == 422 and "Not saved:" in text_of(response.body) and rates_of(world) == []


def test_a_viewer_sees_the_settings_but_every_action_is_403_and_changes_nothing(world: World) -> None:
    rate = a_rate(world)
    before = world.billing.api.account.get(MERCHANT).model_dump(), rates_of(world)
    for path, form in (
        ("/dashboard/settings", FORM),
        ("/dashboard/settings/tax-rates", RATE),
        (f"/dashboard/settings/tax-rates/{rate.id}/archive", {}),
        ("/dashboard/settings/default-tax-rate", {"default_tax_rate_id": rate.id}),
    ):
        assert post(world, path, viewer(world), form).status == 403, path
        assert post(world, path, OWNER, form, csrf=False).status == 403, path
        assert (world.billing.api.account.get(MERCHANT).model_dump(), rates_of(world)) == before
    page = world.request("GET", "/dashboard/settings", viewer(world)).body
    assert "Only an owner can change these." in page and "/tax-rates/" not in page and "Save the settings" not in page


def test_another_merchants_rate_is_404_and_unchanged(world: World) -> None:
    rate = a_rate(world)
    assert post(world, f"/dashboard/settings/tax-rates/{rate.id}/archive", owner_b(world)).status == 404
    assert rates_of(world)[0].status == "active"
    assert rate.id not in world.request("GET", "/dashboard/settings", owner_b(world)).body
    assert post(world, "/dashboard/settings/tax-rates/txr_nope/archive", OWNER).status == 404


def test_the_page_speaks_lithuanian_and_is_in_the_navigation(world: World) -> None:
    body = world.request("GET", "/dashboard/settings?lang=lt", OWNER).body
    assert "Nustatymai" in body and "Mokesčių tarifai" in body and "Pridėti sąskaitos PDF prie kvito" in body
    assert 'href="/dashboard/settings" aria-current="page"' in body


# ----------------------------------------------------------------------------- the default tax rate


def default_of(world: World, merchant: str = MERCHANT) -> str | None:
    return world.billing.api.account.get(merchant).default_tax_rate_id


def test_an_owner_chooses_the_accounts_default_tax_rate_and_clears_it(world: World) -> None:
    rate = a_rate(world)
    page = world.request("GET", "/dashboard/settings", OWNER).body
    assert 'action="/dashboard/settings/default-tax-rate"' in page and f'<option value="{rate.id}">PVM (21 %)</option>' in page
    # When the owner chooses the rate
    done = post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": rate.id})
    # Then it is the account's default, as PATCH /v1/account would set it
    assert done.status == 303 and done.headers["Location"] == "/dashboard/settings?done=default_rate_saved"
    assert default_of(world) == rate.id
    shown = world.request("GET", done.headers["Location"], OWNER).body
    assert "The default tax rate was saved" in shown and f'<option value="{rate.id}" selected>' in shown
    assert "(the account&#39;s default)" in shown
    # When the owner chooses none, Then the account has no default
    assert post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": ""}).status == 303
    assert default_of(world) is None


def test_an_archived_rate_is_refused_with_the_apis_reason(world: World) -> None:
    rate = a_rate(world)
    post(world, f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER)
    # Not offered any more; sent anyway (a page from before the archive), the use case refuses it
    assert f'<option value="{rate.id}"' not in world.request("GET", "/dashboard/settings", OWNER).body
    refused = post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": rate.id})
    assert refused.status == 422 and 'role="alert"' in refused.body
    assert f"Not saved: Tax rate {rate.id} is archived" in text_of(refused.body)
    assert default_of(world) is None


def test_an_archived_default_is_shown_as_it_is(world: World) -> None:
    rate = a_rate(world)
    post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": rate.id})
    post(world, f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER)
    page = world.request("GET", "/dashboard/settings", OWNER).body
    assert f'<option value="{rate.id}" selected>{rate.id} (archived)</option>' in page and default_of(world) == rate.id


@pytest.mark.parametrize("sent", ["txr_nope", "x" * 65, "txr_\u0000"])
def test_another_merchants_or_an_unknown_rate_is_refused_and_nothing_changes(world: World, sent: str) -> None:
    mine = a_rate(world)
    post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": mine.id})
    theirs = a_rate(world, "mch_b")
    for rate_id in (theirs.id, sent):
        refused = post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": rate_id})
        assert refused.status == 422 and 'role="alert"' in refused.body, rate_id
        assert default_of(world) == mine.id
    assert "No such tax rate" in text_of(
        post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": theirs.id}).body
    )
    # And the other merchant's page never offers this merchant's rate
    assert mine.id not in world.request("GET", "/dashboard/settings", owner_b(world)).body


def test_the_default_rate_speaks_lithuanian(world: World) -> None:
    rate = a_rate(world)
    page = world.request("GET", "/dashboard/settings?lang=lt", OWNER).body
    assert "Numatytasis mokesčio tarifas" in page and "Išsaugoti numatytąjį tarifą" in page
    done = post(world, "/dashboard/settings/default-tax-rate?lang=lt", OWNER, {"default_tax_rate_id": rate.id})
    assert "Numatytasis mokesčio tarifas išsaugotas" in world.request("GET", done.headers["Location"] + "&lang=lt", OWNER).body


# ----------------------------------------------------------------------------- archiving through a confirmation


def test_archiving_a_rate_is_confirmed_on_its_own_page_whose_form_archives(world: World) -> None:
    rate = a_rate(world)
    # Given the settings page's archive link, its page names the rate and says it cannot be undone
    shown = world.request("GET", f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER)
    said = text_of(shown.body)
    assert shown.status == 200 and "Archive the tax rate PVM?" in said and rate.id in said and "LT" in said
    assert "This cannot be undone" in said and "the account's default: choose another" not in said
    assert f'action="/dashboard/settings/tax-rates/{rate.id}/archive"' in shown.body and 'name="csrf"' in shown.body
    assert 'href="/dashboard/settings"' in shown.body and rates_of(world)[0].status == "active"
    # When its form is sent, the rate is archived
    assert post(world, f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER).status == 303
    assert rates_of(world)[0].status == "archived"
    # And the page of an archived rate says it cannot be done now (409), with no form that archives
    again = world.request("GET", f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER)
    assert again.status == 409 and f'action="/dashboard/settings/tax-rates/{rate.id}/archive"' not in again.body


def test_the_confirmation_of_the_default_rate_says_so_in_lithuanian(world: World) -> None:
    rate = a_rate(world)
    assert post(world, "/dashboard/settings/default-tax-rate", OWNER, {"default_tax_rate_id": rate.id}).status == 303
    shown = text_of(world.request("GET", f"/dashboard/settings/tax-rates/{rate.id}/archive?lang=lt", OWNER).body)
    assert "Archyvuoti mokesčio tarifą PVM?" in shown and "Tai paskyros numatytasis tarifas" in shown


def test_the_confirmation_is_an_owners_and_another_merchants_rate_is_404(world: World) -> None:
    rate = a_rate(world)
    assert world.request("GET", f"/dashboard/settings/tax-rates/{rate.id}/archive", viewer(world)).status == 403
    assert world.request("GET", f"/dashboard/settings/tax-rates/{rate.id}/archive", owner_b(world)).status == 404
    assert world.request("GET", "/dashboard/settings/tax-rates/txr_nope/archive", OWNER).status == 404
    assert rates_of(world)[0].status == "active"
