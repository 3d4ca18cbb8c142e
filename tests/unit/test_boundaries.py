"""Pure boundary pieces: card-number guard, tokens, cursors, signed approval links, request models."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.adapters.dynamodb import cursor
from billing.api.requests import MandateCreate, PlanCreate, PlanUpdate
from billing.domain.errors import InvalidRequest, ValidationFailed
from billing.domain.money import format_amount
from billing.domain.payment_methods import SIMULATED_TOKENS, looks_like_card_number, validate_token
from billing.service.links import ApprovalLinks, ExpiredLink, InvalidLink
from tests.fakes import FakeClock

NOW = FakeClock().now()


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


def test_amounts_are_formatted_by_currency_exponent() -> None:
    # When minor units are shown, Then each currency's exponent places the decimal point
    assert format_amount(1999, "EUR") == "19.99 EUR"
    assert format_amount(5, "USD") == "0.05 USD"
    assert format_amount(500, "JPY") == "500 JPY"


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


def test_cursor_round_trips_and_is_bound_to_its_list() -> None:
    # Given a cursor of one list
    token = cursor.encode("2026-11-25T09:00:00.000000Z#pln_1", "list-a")
    # Then it decodes for that list, and is refused for another
    assert cursor.decode(token, "list-a") == "2026-11-25T09:00:00.000000Z#pln_1"
    with pytest.raises(InvalidRequest):
        cursor.decode(token, "list-b")


@given(st.text(max_size=200))
def test_tampered_cursors_are_invalid_requests_never_crashes(garbage: str) -> None:
    # When any text is given as a cursor, Then it decodes or is an invalid request naming the cursor, never a crash
    try:
        cursor.decode(garbage, "list-a")
    except InvalidRequest as error:
        assert error.param == "cursor"


def test_cursor_with_wrong_shape_inside_is_invalid() -> None:
    # When a well-encoded cursor holds the wrong shape, Then it is an invalid request
    token = base64.urlsafe_b64encode(json.dumps({"v": 1, "l": "list-a", "a": 5}).encode()).decode()
    with pytest.raises(InvalidRequest):
        cursor.decode(token, "list-a")


def _mandate(status: str = "pending_approval"):
    from billing.domain.model import Customer, Mandate, PlanTerms

    terms = PlanTerms(
        amount=1, currency="EUR", interval="month", interval_count=1, trial_days=0, total_cycles=None, retry_schedule_days=(1,)
    )
    return Mandate(
        id="mdt_1",
        merchant_id="mch_1",
        plan_id="pln_1",
        terms=terms,
        customer=Customer(reference="c"),
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )


def test_approval_links_verify_and_name_exactly_one_mandate() -> None:
    # Given the approval link of a mandate awaiting approval
    links = ApprovalLinks(b"k" * 32, "https://api.example/live")
    url = links.approval_url(_mandate())
    token = url.rsplit("/", 1)[1]
    # When it is verified, Then it names that mandate of that merchant, for 7 days; an active mandate has none
    target = links.verify(token, NOW)
    assert (target.merchant_id, target.mandate_id) == ("mch_1", "mdt_1")
    assert target.expires_at == NOW + timedelta(days=7)
    assert links.approval_url(_mandate("active")) is None


def test_forged_or_expired_links_are_refused() -> None:
    # Given an approval link
    links = ApprovalLinks(b"k" * 32, "https://api.example/live")
    token = links.approval_url(_mandate()).rsplit("/", 1)[1]
    payload, mac = token.split(".")
    # When its payload is changed, it is checked with another key, it is too old or it is not a link, Then it is refused
    forged = base64.urlsafe_b64encode(b"mch_2.mdt_1.99999999999").rstrip(b"=").decode() + "." + mac
    with pytest.raises(InvalidLink):
        links.verify(forged, NOW)
    with pytest.raises(InvalidLink):
        ApprovalLinks(b"x" * 32, "https://api.example/live").verify(token, NOW)
    with pytest.raises(ExpiredLink):
        links.verify(token, NOW + timedelta(days=7, seconds=1))
    with pytest.raises(InvalidLink):
        links.verify("not-a-token", datetime.now(timezone.utc))


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


def test_a_plan_stored_with_flat_terms_reads_as_the_same_plan() -> None:
    # Given a plan body as stored before `terms` was its own object (term fields at the top level)
    from billing.domain.model import Plan, PlanTerms

    flat = {
        "id": "pln_1",
        "merchant_id": "mch_1",
        "created_at": "2026-11-01T09:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z",
        "name": "Gold",
        "amount": 1999,
        "currency": "EUR",
        "interval": "month",
        "interval_count": 1,
        "trial_days": 7,
        "retry_schedule_days": [1, 3],
        "status": "active",
        "metadata": {},
    }
    # When it is read
    plan = Plan.model_validate(flat)
    # Then its terms are exactly the stored ones, and it stores back in the new shape
    assert plan.terms == PlanTerms(amount=1999, currency="EUR", interval="month", trial_days=7, retry_schedule_days=(1, 3))
    assert Plan.model_validate(plan.model_dump(mode="json")) == plan


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["v", "l", "a", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON)
def test_a_cursor_of_any_json_shape_is_an_invalid_request_never_a_crash(value: object) -> None:
    # Given any JSON value (a cursor without its list, a list, a number...) encoded as a cursor
    token = base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    # When it is decoded, Then it is a position only if it is one of ours; anything else is a 400
    try:
        cursor.decode(token, "list-a")
    except InvalidRequest as error:
        assert error.param == "cursor"


def test_a_cursor_without_its_list_is_an_invalid_request() -> None:
    token = base64.urlsafe_b64encode(json.dumps({"v": 1, "a": "2026-11-25T09:00:00.000000Z#pln_1"}).encode()).decode()
    with pytest.raises(InvalidRequest):
        cursor.decode(token, "list-a")


@given(st.text(max_size=300) | st.builds(lambda p, m: f"{p}.{m}", st.text(max_size=100), st.text(max_size=60)))
def test_any_text_as_a_link_is_refused_or_verified_never_a_crash(token: str) -> None:
    # When any text is given as a customer link, Then it is an invalid link (or, only if we signed it, verified)
    links = ApprovalLinks(b"k" * 32, "https://api.example/live")
    with pytest.raises(InvalidLink):
        links.verify(token, NOW)


@given(st.text(max_size=300) | st.builds(lambda p, m: f"{p}.{m}", st.text(max_size=100), st.text(max_size=60)))
def test_any_text_as_a_receipt_link_or_csrf_token_is_refused_never_a_crash(token: str) -> None:
    # When any text is given as a receipt link or as a form's CSRF token, Then it is refused, never a crash
    from billing.customer_page.forms import csrf_valid

    links = ApprovalLinks(b"k" * 32, "https://api.example/live")
    with pytest.raises(InvalidLink):
        links.verify_receipt(token)
    assert not csrf_valid(b"k" * 32, "link", "approve", token)


def test_a_page_link_signed_before_purposes_verifies_as_a_page_only() -> None:
    # Given a page link as it was signed before its purpose was in the MAC (HMAC over the bare payload)
    import hashlib
    import hmac

    key, payload = b"k" * 32, f"mch_1.mdt_1.{int((NOW + timedelta(days=1)).timestamp())}".encode()
    old = f"{_b64(payload)}.{_b64(hmac.new(key, payload, hashlib.sha256).digest())}"
    links = ApprovalLinks(key, "https://api.example/live")
    # Then it still names its mandate, is no receipt, and links made now are signed for their purpose
    assert links.verify(old, NOW).mandate_id == "mdt_1"
    with pytest.raises(InvalidLink):
        links.verify_receipt(old)
    assert links.token("mch_1", "mdt_1", NOW + timedelta(days=1)) != old


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_forged_link_with_a_huge_expiry_is_refused_before_its_payload_is_read() -> None:
    # Given a link naming a mandate with an expiry no datetime can hold, and a made-up MAC
    payload = base64.urlsafe_b64encode(b"mch_x.mdt_y.99999999999999999999").rstrip(b"=").decode()
    # When it is verified, Then it is an invalid link (the MAC is checked first), not an overflow
    with pytest.raises(InvalidLink):
        ApprovalLinks(b"k" * 32, "https://api.example/live").verify(f"{payload}.AAAA", NOW)


def test_a_short_link_key_is_refused_when_first_used() -> None:
    # Given links whose key reader gives a key shorter than 32 bytes
    links = ApprovalLinks(lambda: b"short", "https://api.example/live")
    # When a link is made, Then the key is refused
    with pytest.raises(ValueError, match="32 bytes"):
        links.token("mch_1", "mdt_1", NOW)
