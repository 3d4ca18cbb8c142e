"""Signed customer links (approval pages, receipts) and CSRF tokens: they name exactly what they were
signed for, and forged, expired or garbage links are refused, never a crash."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.service.links import ApprovalLinks, ExpiredLink, InvalidLink
from tests.fakes import FakeClock

NOW = FakeClock().now()


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
