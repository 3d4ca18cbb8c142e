"""Payment method tokens at the boundary: card numbers are refused and never echoed, each gateway's
token shape is checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.api.requests import MandateCreate
from billing.domain.errors import ValidationFailed
from billing.domain.payment_methods import SIMULATED_TOKENS, looks_like_card_number, validate_token


@given(digits=st.text(alphabet="0123456789", min_size=13, max_size=19), sep=st.sampled_from(["", " ", "-"]))
def test_any_13_to_19_digit_value_is_refused_as_a_card_number(digits: str, sep: str) -> None:
    # Given any run of 13 to 19 digits, grouped as people type card numbers
    grouped = sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    # Then it is taken for a card number and refused as a token, without echoing it
    assert looks_like_card_number(grouped)
    with pytest.raises(ValidationFailed) as error:
        validate_token("simulated", grouped)
    assert digits not in error.value.message and grouped not in error.value.message


def test_short_digit_runs_are_not_card_numbers() -> None:
    # When a token holds a shorter digit run, Then it is not a card number
    assert not looks_like_card_number("pm_123456789012")


@pytest.mark.parametrize("token", SIMULATED_TOKENS)
def test_simulated_tokens_are_accepted(token: str) -> None:
    # When a simulated test token is given, Then it is accepted as is
    assert validate_token("simulated", token) == token


@pytest.mark.parametrize(
    "gateway,token", [("simulated", "pm_sim_unknown"), ("stripe", "pm_sim_ok"), ("stripe", "tok_visa"), ("simulated", "")]
)
def test_tokens_of_the_wrong_shape_are_refused(gateway: str, token: str) -> None:
    # When a token does not have its gateway's shape, Then it is refused
    with pytest.raises(ValidationFailed):
        validate_token(gateway, token)


def test_stripe_payment_method_ids_are_accepted() -> None:
    # When a Stripe payment method id is given, Then it is accepted as is
    assert validate_token("stripe", "pm_1Q2w3E4r5T6y7U8i") == "pm_1Q2w3E4r5T6y7U8i"


def test_card_number_in_mandate_body_is_a_422_that_does_not_echo_it() -> None:
    # When a mandate body carries a card number as its token
    with pytest.raises(ValidationError) as error:
        MandateCreate.model_validate(
            {
                "plan_id": "pln_x",
                "customer": {"reference": "c"},
                "payment_method": {"gateway": "simulated", "token": "4242424242424242"},
            }
        )
    # Then the error names the token field and does not repeat the number
    [detail] = error.value.errors()
    assert detail["loc"] == ("payment_method", "token")
    assert "4242424242424242" not in detail["msg"]
