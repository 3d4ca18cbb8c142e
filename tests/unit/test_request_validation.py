"""Request models at the API boundary: a plan's contract limits, what a plan update may not change,
and which body errors are a 400 and which a 422."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing.api.requests import PlanCreate, PlanUpdate


@pytest.mark.parametrize(
    "change,param",
    [
        ({"amount": "1999"}, "amount"),
        ({"amount": 19.99}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 100_000_000}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval": "month", "interval_count": 37}, "interval_count"),
        ({"interval": "day", "interval_count": 1096}, "interval_count"),
        ({"trial_days": 731}, "trial_days"),
        ({"total_cycles": 0}, "total_cycles"),
        ({"retry_schedule_days": [3, 1]}, "retry_schedule_days"),
        ({"retry_schedule_days": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, "retry_schedule_days"),
        ({"retry_schedule_days": [61]}, "retry_schedule_days"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"metadata": {"k": "v" * 501}}, "metadata"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_plan_create_refuses_out_of_contract_values(change: dict, param: str) -> None:
    # When a plan body breaks one rule of the contract, Then the error names that field
    body = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", **change}
    with pytest.raises(ValidationError) as error:
        PlanCreate.model_validate(body)
    assert error.value.errors()[0]["loc"][0] == param


@pytest.mark.parametrize(
    "field", ["amount", "currency", "interval", "interval_count", "trial_days", "total_cycles", "retry_schedule_days"]
)
def test_plan_update_refuses_price_and_schedule_fields(field: str) -> None:
    # When a plan update sends a price or schedule field, Then it is refused with the reason
    with pytest.raises(ValidationError) as error:
        PlanUpdate.model_validate({field: 1})
    assert error.value.errors()[0]["loc"] == (field,)
    assert "create a new plan" in error.value.errors()[0]["msg"]


def test_body_level_errors_are_400_only_when_the_body_is_not_an_object() -> None:
    from billing.api.errors import validation_error_response

    # When the body is not a JSON object, Then it is a 400; a rule across fields is a 422 with its message
    not_object = validation_error_response(
        [{"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be an object"}]
    )
    assert not_object.status_code == 400
    rule = validation_error_response([{"type": "value_error", "loc": ("body",), "msg": "Value error, a and b conflict"}])
    assert rule.status_code == 422
    assert rule.body["error"] == {"type": "validation_error", "message": "a and b conflict", "param": None}
