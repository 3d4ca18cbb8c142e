"""Review 25b: archiving a tax rate is as final as archiving a plan (no way back: the API has no
unarchive, and an archived default stays the account's default, then refused when the default form
is saved unchanged), yet the settings page archives it with one click of an inline POST button,
while a plan, a key, a mandate and an endpoint go through a confirmation page (`confirm.py`)."""

from __future__ import annotations

import pytest

from tests.unit.test_dashboard_owner_pages import OWNER
from tests.unit.test_dashboard_security import World
from tests.unit.test_dashboard_settings_pages import a_rate, rates_of


@pytest.fixture
def world() -> World:
    return World()


def test_archiving_a_tax_rate_goes_through_a_confirmation_page(world: World) -> None:
    rate = a_rate(world)
    # The settings page links to a confirmation, holding no POST form that archives at once
    page = world.request("GET", "/dashboard/settings", OWNER).body
    assert f'action="/dashboard/settings/tax-rates/{rate.id}/archive"' not in page
    assert f'href="/dashboard/settings/tax-rates/{rate.id}/archive"' in page
    # And the confirmation archives nothing by itself
    shown = world.request("GET", f"/dashboard/settings/tax-rates/{rate.id}/archive", OWNER)
    assert shown.status == 200 and rates_of(world)[0].status == "active"
