"""The simulated gateway over time, on the local clock over HTTP: bank debits processing then
settling after 3 TARGET business days (or declined, or reversed), bank cancellations, disputes,
card updates, each reported through the gateway-events path when the clock reaches it; and a
settlement still made by lookup when its event is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.customer_page.formatting import day
from billing.domain.business_days import add_business_days, is_business_day
from tests.local.conftest import Http, merchant

pytestmark = pytest.mark.slow


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Story:
    """One merchant on the shared local clock (it only goes forward: every test starts from now)."""

    def __init__(self, local: str, name: str) -> None:
        self.local, self.root = local, Http(local)
        self.call = merchant(local, name)

    def now(self) -> datetime:
        return parse(self.root("GET", "/_local/clock")[1]["now"])

    def go(self, moment: datetime) -> dict[str, Any]:
        """Set the clock to `moment` (forward) and tick."""
        if moment > self.now():
            assert self.root("POST", "/_local/clock", {"now": iso(moment)})[0] == 200
        status, summary = self.root("POST", "/_local/tick")
        assert status == 200
        return dict(summary)

    def next_friday(self) -> datetime:
        """A Friday 09:00 at least 4 days ahead whose next 3 weeks hold no TARGET holiday (the story's
        dates as planned; the mandate is created 3 days before, see `debited_on`)."""
        day = self.now().date() + timedelta(days=4)
        while day.weekday() != 4 or not all(
            is_business_day(day + timedelta(days=n)) for n in range(21) if (day + timedelta(days=n)).weekday() < 5
        ):
            day += timedelta(days=1)
        return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)

    def mandate(self, token: str, interval: str = "month", retry: list[int] | None = None) -> str:
        now = self.now()
        plan_body: dict[str, Any] = {"name": "Plan", "amount": 1999, "currency": "EUR", "interval": interval}
        if retry is not None:
            plan_body["retry_schedule_days"] = retry
        status, plan = self.call("POST", "/v1/plans", plan_body)
        assert status == 201, plan
        status, mandate = self.call(
            "POST",
            "/v1/mandates",
            {
                "plan_id": plan["id"],
                "customer": {"reference": token, "email": "ada@example.com", "name": "Ada Lovelace"},
                "payment_method": {"gateway": "simulated", "token": token},
                "consent": {"accepted_at": iso(now), "ip": "203.0.113.9", "user_agent": "test"},
            },
        )
        assert status == 201 and mandate["status"] == "active", mandate
        return str(mandate["id"])

    def debited_on(self, day: datetime, token: str, interval: str = "month", retry: list[int] | None = None) -> str:
        """A bank-debit mandate created 3 days before `day` (its first cycle due then), whose
        pre-notification, given at once, names `day` (the account's 3 notice days): first debited on `day`."""
        self.go(day - timedelta(days=3))
        mandate_id = self.mandate(token, interval, retry)
        self.go(day - timedelta(days=3))
        assert self.charges(mandate_id) == []  # not before the date its notice names
        self.go(day)
        return mandate_id

    def charges(self, mandate_id: str) -> list[dict[str, Any]]:
        """Oldest first."""
        page = self.call("GET", f"/v1/charges?mandate_id={mandate_id}&limit=100")[1]
        return list(reversed(page["data"]))

    def mandate_of(self, mandate_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/mandates/{mandate_id}")[1])

    def events(self, mandate_id: str) -> list[str]:
        page = self.call("GET", "/v1/events?limit=100")[1]["data"]
        mine = [e for e in page if mandate_id in str(e["data"])]
        return [e["type"] for e in reversed(mine)]

    def ledger(self, mandate_id: str) -> list[dict[str, Any]]:
        return [e for e in self.root("GET", "/_local/gateway/ledger")[1]["entries"] if e["mandate_id"] == mandate_id]

    def refund(self, charge_id: str, amount: int, key: str) -> tuple[int, Any]:
        return self.call("POST", f"/v1/charges/{charge_id}/refunds", {"amount": amount}, {"Idempotency-Key": key})


def test_a_friday_bank_debit_is_processing_then_settles_on_wednesday(local: str) -> None:
    # Given a bank-debit mandate charged on a Friday
    story = Story(local, "Debits")
    friday = story.next_friday()
    mandate_id = story.debited_on(friday, "pm_sim_sepa_ok")
    # Then the charge is processing: its attempt at the gateway, money not settled
    [charge] = story.charges(mandate_id)
    assert charge["status"] == "processing" and charge["attempts"][0]["outcome"] == "processing"
    assert [(e["kind"], e["status"]) for e in story.ledger(mandate_id)] == [("charge", "processing")]
    # When the clock reaches Tuesday (2 business days), Then it is still processing
    story.go(friday + timedelta(days=4))
    assert story.charges(mandate_id)[0]["status"] == "processing"
    # When it reaches Wednesday 09:00 (3 TARGET business days), Then the gateway reports it settled
    wednesday = add_business_days(friday, 3)
    assert wednesday == friday + timedelta(days=5)
    summary = story.go(wednesday)
    assert summary["gateway_changes"]["reported"] >= 1
    [charge] = story.charges(mandate_id)
    assert charge["status"] == "succeeded" and charge["attempts"][0]["outcome"] == "succeeded"
    assert parse(charge["attempts"][0]["settled_at"]) == wednesday
    assert [(e["kind"], e["status"]) for e in story.ledger(mandate_id)] == [("charge", "succeeded")]
    assert story.events(mandate_id).count("charge.processing") == 1 and "charge.succeeded" in story.events(mandate_id)
    # And a mandate shows its bank debit
    method = story.mandate_of(mandate_id)["payment_method"]
    assert method["type"] == "sepa_debit" and method["last4"] == "3000"


def test_a_debit_declined_for_insufficient_funds_is_retried(local: str) -> None:
    story = Story(local, "Declines")
    friday = story.next_friday()
    mandate_id = story.debited_on(friday, "pm_sim_sepa_insufficient_funds", retry=[1, 3])
    # When its settlement day comes, Then the debit is declined (soft) and retried: not at once (its
    # day on the plan's schedule has passed) but 2 days after the failure, the date the customer's
    # payment_failed e-mail names
    wednesday = add_business_days(friday, 3)
    story.go(wednesday)
    [charge] = story.charges(mandate_id)
    attempts = [(a["outcome"], a["decline_code"]) for a in charge["attempts"]]
    assert attempts == [("declined", "insufficient_funds")] and charge["status"] == "retrying"
    assert parse(charge["attempts"][0]["settled_at"]) == wednesday
    retry = wednesday + timedelta(days=2)
    assert parse(charge["next_attempt_at"]) == retry
    assert "charge.retry_scheduled" in story.events(mandate_id)
    [failed] = [
        e
        for e in story.root("GET", "/_local/emails")[1]["emails"]
        if e["mandate_id"] == mandate_id and e["kind"] == "payment_failed"
    ]
    assert day(retry, "en", "long") in failed["text"], failed["text"]
    # When that day comes, Then the retry goes out, processing again
    story.go(retry)
    [charge] = story.charges(mandate_id)
    assert [a["outcome"] for a in charge["attempts"]] == ["declined", "processing"] and charge["status"] == "processing"
    assert [e["status"] for e in story.ledger(mandate_id)] == ["failed", "processing"]
    # And the retry settles the same way 3 business days later
    story.go(add_business_days(retry, 3))
    assert [a["outcome"] for a in story.charges(mandate_id)[0]["attempts"]][:2] == ["declined", "declined"]


def test_a_late_failure_is_reversed_back_into_dunning(local: str) -> None:
    story = Story(local, "Returns")
    friday = story.next_friday()
    mandate_id = story.debited_on(friday, "pm_sim_sepa_late_failure", retry=[1, 3])
    settled = add_business_days(friday, 3)
    story.go(settled)
    assert story.charges(mandate_id)[0]["status"] == "succeeded"
    # When the bank returns the debit 2 business days later
    returned = add_business_days(settled, 2)
    story.go(returned)
    # Then the charge is reversed into the decline rules: its attempt declined with reversed_at, and
    # the retry (its day on the plan's schedule long past) is due 2 days after the return, not at once
    [charge] = story.charges(mandate_id)
    first = charge["attempts"][0]
    assert first["outcome"] == "declined" and first["decline_code"] == "insufficient_funds" and first["reversed_at"]
    assert charge["status"] == "retrying" and parse(charge["next_attempt_at"]) == returned + timedelta(days=2)
    assert "charge.reversed" in story.events(mandate_id)
    # When that day comes, Then the retry goes out
    story.go(returned + timedelta(days=2))
    [charge] = story.charges(mandate_id)
    assert [a["outcome"] for a in charge["attempts"]] == ["declined", "processing"] and charge["status"] == "processing"
    money = [(e["kind"], e["status"], e["amount"]) for e in story.ledger(mandate_id)]
    assert money == [("charge", "succeeded", 1999), ("reversal", "succeeded", 1999), ("charge", "processing", 1999)]


def test_a_bank_cancellation_revokes_the_mandate_and_its_pre_notified_debit_never_goes(local: str) -> None:
    # Given a weekly bank-debit mandate whose bank cancels it a day after its first debit settled
    # (created on a Tuesday, first debited on the Friday its notice named; the second cycle is due the
    # next Tuesday, so no dispatcher run on the Friday can announce it, however often the schedule fires)
    story = Story(local, "Cancelled")
    friday = story.next_friday()
    mandate_id = story.debited_on(friday, "pm_sim_sepa_revoked", interval="week")
    settled = add_business_days(friday, 3)
    story.go(settled)
    # (the second cycle, due the day before and held back while the first was processing, is
    # pre-notified by now: to be debited 3 days later)
    story.go(settled)
    assert [c["status"] for c in story.charges(mandate_id)] == ["succeeded"]
    notices = [
        e
        for e in story.root("GET", "/_local/emails")[1]["emails"]
        if e["mandate_id"] == mandate_id and e["kind"] == "upcoming_charge"
    ]
    assert len(notices) == 2
    # When the bank reports the mandate cancelled (a day after the first settlement)
    story.go(settled + timedelta(days=1))
    # Then the mandate is revoked by the gateway
    assert story.mandate_of(mandate_id)["status"] == "revoked"
    assert "mandate.revoked" in story.events(mandate_id)
    # And the debit announced for later never goes to the bank
    story.go(settled + timedelta(days=3))
    story.go(settled + timedelta(days=4))
    assert [c["status"] for c in story.charges(mandate_id)] == ["succeeded"]
    assert [e["kind"] for e in story.ledger(mandate_id)] == ["charge"]


def test_a_won_dispute_limits_refunds_until_it_is_won(local: str) -> None:
    story = Story(local, "Won")
    start = story.next_friday()
    story.go(start)
    mandate_id = story.mandate("pm_sim_dispute_won")
    story.go(start)
    [charge] = story.charges(mandate_id)
    assert charge["status"] == "succeeded"
    # When the customer disputes it 5 days later
    story.go(start + timedelta(days=5))
    charge = story.charges(mandate_id)[0]
    assert charge["amount_disputed"] == 1999 and charge["dispute_id"]
    assert story.mandate_of(mandate_id)["status"] == "active"  # product_not_received does not revoke
    # Then no refund may touch the disputed amount
    status, body = story.refund(charge["id"], 1, "r-won-1")
    assert status == 422, body
    # When the dispute is won 10 days later, Then the amount is released
    story.go(start + timedelta(days=15))
    assert story.charges(mandate_id)[0]["amount_disputed"] == 0
    assert story.refund(charge["id"], 1999, "r-won-2")[0] == 201
    assert [t for t in story.events(mandate_id) if t.startswith("dispute.")] == ["dispute.created", "dispute.closed"]


def test_a_lost_fraud_dispute_revokes_and_no_attempt_follows(local: str) -> None:
    story = Story(local, "Lost")
    start = story.next_friday()
    story.go(start)
    mandate_id = story.mandate("pm_sim_dispute_lost", interval="week")
    story.go(start)
    # When the first charge is disputed as fraudulent 5 days later
    story.go(start + timedelta(days=5))
    # Then the mandate is revoked, and no charge follows on the weekly schedule
    assert story.mandate_of(mandate_id)["status"] == "revoked"
    story.go(start + timedelta(days=15))
    [charge] = story.charges(mandate_id)
    # And the lost dispute takes the money back: nothing is left to refund
    assert charge["amount_disputed"] == 1999
    status, body = story.refund(charge["id"], 1, "r-lost")
    assert status == 422, body
    disputes = [(e["kind"], e["status"], e["amount"]) for e in story.ledger(mandate_id) if e["kind"] == "dispute"]
    assert disputes == [("dispute", "succeeded", 1999)]


def test_disputes_opened_and_closed_at_the_gateway_by_hand(local: str) -> None:
    story = Story(local, "By hand")
    start = story.next_friday()
    story.go(start)
    card = story.mandate("pm_sim_ok")
    story.go(start)
    [charge] = story.charges(card)
    root = story.root
    # Refused: a charge the gateway never took, a reason not in the contract
    assert root("POST", "/_local/gateway/disputes", {"charge_id": "chg_nope", "reason": "general"})[0] == 404
    assert root("POST", "/_local/gateway/disputes", {"charge_id": charge["id"], "reason": "bored"})[0] == 422
    # When the customer's bank opens a card dispute now
    status, dispute = root("POST", "/_local/gateway/disputes", {"charge_id": charge["id"], "reason": "duplicate"})
    assert status == 201 and dispute["status"] == "needs_response", dispute
    # Then it is reported at once: the charge is disputed, the mandate (not a fraud reason) stays active
    assert story.charges(card)[0]["amount_disputed"] == 1999
    assert story.mandate_of(card)["status"] == "active"
    # When it is closed as won, Then the amount is released; closing it again is refused
    reference = dispute["gateway_reference"]
    assert root("POST", f"/_local/gateway/disputes/{reference}/close", {"status": "won"})[0] == 200
    assert story.charges(card)[0]["amount_disputed"] == 0
    assert root("POST", f"/_local/gateway/disputes/{reference}/close", {"status": "lost"})[0] == 409
    assert root("POST", "/_local/gateway/disputes/dp_sim_nope/close", {"status": "won"})[0] == 404
    assert root("POST", f"/_local/gateway/disputes/{reference}/close", {"status": "maybe"})[0] == 422
    # A payment this service never asked for goes into the gateway's ledger (the gateway's own
    # bookkeeping is not the system's cost: /_local/stats leaves it out)
    assert root("POST", "/_local/stats/reset")[0] == 200
    status, entry = root(
        "POST", "/_local/gateway/ledger", {"mandate_id": card, "amount": 700, "currency": "EUR", "at": iso(start)}
    )
    assert status == 201 and entry["status"] == "succeeded"
    assert root("GET", "/_local/stats")[1]["aws_calls"] == {}
    assert [(e["kind"], e["amount"], e["charge_id"]) for e in story.ledger(card) if e["amount"] == 700] == [("charge", 700, None)]
    for amount in (-1, 10**40):  # not a payment: refused with the error object, never a dropped connection
        body = {"mandate_id": card, "amount": amount, "currency": "EUR", "at": iso(start)}
        assert root("POST", "/_local/gateway/ledger", body)[0] == 422
    assert root("POST", "/_local/gateway/withhold", {"withhold": "yes"})[0] == 422


def test_a_bank_debits_dispute_is_lost_at_once(local: str) -> None:
    story = Story(local, "Refund claim")
    friday = story.next_friday()
    mandate_id = story.debited_on(friday, "pm_sim_sepa_ok")
    # A processing debit cannot be disputed yet
    charge_id = story.charges(mandate_id)[0]["id"]
    assert story.root("POST", "/_local/gateway/disputes", {"charge_id": charge_id, "reason": "general"})[0] == 404
    story.go(add_business_days(friday, 3))
    status, dispute = story.root("POST", "/_local/gateway/disputes", {"charge_id": charge_id, "reason": "debit_not_authorized"})
    assert status == 201 and dispute["status"] == "lost"
    assert story.charges(mandate_id)[0]["amount_disputed"] == 1999
    assert story.mandate_of(mandate_id)["status"] == "revoked"  # debit_not_authorized revokes


def test_a_card_replaced_by_the_network_shows_its_new_last4(local: str) -> None:
    story = Story(local, "Card update")
    start = story.next_friday()
    story.go(start)
    mandate_id = story.mandate("pm_sim_card_updated")
    story.go(start)
    assert story.mandate_of(mandate_id)["payment_method"]["last4"] == "4242"
    story.go(start + timedelta(days=1))
    assert story.mandate_of(mandate_id)["payment_method"]["last4"] == "4444"
    assert "mandate.payment_method_updated" in story.events(mandate_id)


def test_a_lost_settlement_event_still_settles_by_lookup(local: str) -> None:
    # Given a bank debit whose gateway reports are lost on their way
    story = Story(local, "Lost events")
    friday = story.next_friday()
    mandate_id = story.debited_on(friday, "pm_sim_sepa_ok")
    assert story.root("POST", "/_local/gateway/withhold", {"withhold": True})[0] == 200
    try:
        # When the clock passes the settlement (its report lost), with a tick every few hours
        settled = add_business_days(friday, 3)
        moment = settled
        story.go(moment)
        while story.charges(mandate_id)[0]["status"] == "processing" and moment < settled + timedelta(days=2):
            moment += timedelta(hours=6)
            story.go(moment)
        # Then the engine's lookup settled it anyway (it looks processing debits up at least daily)
        [charge] = story.charges(mandate_id)
        assert charge["status"] == "succeeded" and moment <= settled + timedelta(days=1, hours=6)
        assert parse(charge["attempts"][0]["settled_at"]) == moment
    finally:
        assert story.root("POST", "/_local/gateway/withhold", {"withhold": False})[0] == 200
