"""A merchant with tax rates always has a VAT id (decision 185), whichever of a rate's creation and
the VAT id's removal lands first: the account's `has_tax_rates` flag, written with the first rate in
one transaction conditioned on the account's version, is checked in the removal's version-checked
write."""

from __future__ import annotations

from typing import Any

import pytest

from billing.api.requests import AccountUpdate, TaxRateCreate
from billing.domain.account import Account
from billing.domain.errors import ValidationFailed
from billing.service.ports import Changes, PageRequest
from billing.shapes import AccountOut
from tests.world import MERCHANT, World

RATE = {"display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": True}
REMOVE = AccountUpdate.model_validate({"vat_id": None})


def registered() -> World:
    world = World()
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    return world


def test_a_rate_created_while_a_removal_is_between_its_check_and_its_write_makes_the_removal_refused(
    monkeypatch: Any,
) -> None:
    # Given a merchant with a VAT id and no rate, whose VAT id removal has read the account
    world = registered()
    original, raced = world.repo.get, []

    def read_then_the_rate_lands(model: Any, merchant_id: str, object_id: str) -> Any:
        found = original(model, merchant_id, object_id)
        if model is Account and not raced:
            raced.append(True)
            world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(RATE))
        return found

    monkeypatch.setattr(world.repo, "get", read_then_the_rate_lands)
    # When a rate is created before the removal is written
    with pytest.raises(ValidationFailed) as refused:
        world.api.account.update(MERCHANT, REMOVE)
    monkeypatch.undo()
    # Then the removal is redone on the new version and refused: the rate keeps its VAT id
    assert raced and refused.value.param == "vat_id"
    assert world.api.account.get(MERCHANT).vat_id == "LT100001919017"
    assert world.api.tax_rates.page(MERCHANT, PageRequest(10, None)).data


def test_the_first_rate_marks_the_account_and_later_rates_do_not_write_it_again() -> None:
    world = registered()
    world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(RATE))
    account = world.repo.get(Account, MERCHANT, MERCHANT)
    assert account is not None and account.has_tax_rates is True
    version = account.version
    world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(RATE))
    assert world.api.account.get(MERCHANT).version == version
    assert "has_tax_rates" not in AccountOut.of(world.api.account.get(MERCHANT)).model_dump()  # engine state


def test_an_account_from_before_the_flag_learns_it_from_its_rates_once() -> None:
    # Given an account with a rate stored before the flag existed
    world = registered()
    world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(RATE))
    account = world.repo.get(Account, MERCHANT, MERCHANT)
    assert account is not None
    account.has_tax_rates = None
    world.repo.commit(Changes(put=[account]))
    # When its VAT id is removed
    with pytest.raises(ValidationFailed):
        world.api.account.update(MERCHANT, REMOVE)
    # Then it is refused, from the rates themselves
    assert world.api.account.get(MERCHANT).vat_id == "LT100001919017"


def test_an_account_from_before_the_flag_without_rates_may_remove_its_vat_id_and_knows_it_has_none() -> None:
    world = registered()
    account = world.repo.get(Account, MERCHANT, MERCHANT)
    assert account is not None and account.has_tax_rates is None
    assert world.api.account.update(MERCHANT, REMOVE).vat_id is None
    stored = world.repo.get(Account, MERCHANT, MERCHANT)
    assert stored is not None and stored.has_tax_rates is False
