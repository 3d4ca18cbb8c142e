"""Second adversarial review of issue 24, races on the rules that keep documents valid: a merchant
with tax rates always has a VAT id (decision 185)."""

from __future__ import annotations

from typing import Any

from billing.api.requests import AccountUpdate, TaxRateCreate
from billing.domain.account import Account
from billing.domain.errors import ValidationFailed
from billing.service.ports import PageRequest
from tests.world import MERCHANT, World

RATE = {"display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": True}


def test_a_rate_created_while_the_vat_id_is_removed_never_leaves_rates_without_a_vat_id(monkeypatch: Any) -> None:
    # Given a merchant with a VAT id and no tax rate yet
    world = World()
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    original, raced = world.repo.get, []

    def read_then_the_other_request_lands(model: Any, merchant_id: str, object_id: str) -> Any:
        found = original(model, merchant_id, object_id)
        if model is Account and not raced:
            raced.append(True)
            # meanwhile, another request of the merchant removes the VAT id (it sees no rate yet)
            world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": None}))
        return found

    # the rate's creation reads the account (its VAT id) first: the removal lands right after
    monkeypatch.setattr(world.repo, "get", read_then_the_other_request_lands)
    # When a tax rate is created concurrently with the removal
    try:
        world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(RATE))
    except ValidationFailed:
        pass  # refused: fine
    monkeypatch.undo()
    assert raced  # the removal did land in the middle of the creation
    # Then the merchant never ends with a tax rate and no VAT id (BR-S-02 on every rated invoice)
    rates = world.api.tax_rates.page(MERCHANT, PageRequest(10, None)).data
    vat_id = world.api.account.get(MERCHANT).vat_id
    assert not (rates and vat_id is None)
