"""The simulated gateway on moto: its timeline survives a call that failed half way."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from botocore.exceptions import ClientError

from billing.adapters.simulated_gateway import SimulatedGateway
from billing.domain.money import Money
from billing.service.ports import AttemptRequest
from tests.support.emulation import Provisioned


class Clock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class ThrottledOnce:
    """A DynamoDB client whose first write of a scheduled change is throttled (the payment itself was stored)."""

    def __init__(self, client: Any) -> None:
        self.client, self.failed = client, False

    def put_item(self, **kwargs: Any) -> Any:
        key = kwargs["Item"]["idempotency_key"]["S"]
        if key.startswith("change:") and not self.failed:
            self.failed = True
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        return self.client.put_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_debit_asked_again_after_a_failure_half_way_still_settles_and_is_returned_on_time(aws: Provisioned) -> None:
    # Given a returned-later test IBAN, and a gateway whose first write of the payment's timeline fails
    clock = Clock(datetime(2027, 3, 1, 9, tzinfo=timezone.utc))
    client = ThrottledOnce(boto3.client("dynamodb"))
    gateway = SimulatedGateway(client, aws.tables["SimulatedGatewayLedgerTable"], clock)
    request = AttemptRequest(
        "chg_sim1:1", Money(1000, "EUR"), "pm_sim_sepa_late_failure", "mch_a", "mdt_a", "chg_sim1", 1, "sepa_debit"
    )
    try:
        gateway.charge(request)
        raise AssertionError("the first call should have failed")
    except ClientError:
        pass
    # When the charger asks again with the same key, a little later
    clock.current += timedelta(minutes=5)
    assert gateway.charge(request).outcome == "processing"
    # Then the settlement (3 TARGET business days after the first call, Thursday) and the return
    # (2 more: Monday) are both reported when the clock reaches them, once each
    clock.current = datetime(2027, 3, 4, 9, 1, tzinfo=timezone.utc)
    settled = gateway.release_due(clock.current)
    assert [e.payment.outcome for e in settled if e.payment] == ["succeeded"]
    gateway.mark_reported(settled)
    clock.current = datetime(2027, 3, 8, 9, 1, tzinfo=timezone.utc)
    returned = gateway.release_due(clock.current)
    assert [e.payment.outcome for e in returned if e.payment] == ["reversed"]
    gateway.mark_reported(returned)
    # And asking once more writes nothing again: nothing is due twice
    gateway.charge(request)
    assert gateway.release_due(clock.current + timedelta(days=30)) == []


def test_the_ledger_of_a_merchant_dates_each_move_when_the_money_moved(aws: Provisioned) -> None:
    # Given a returned-later bank debit, a card charge with a refund, and another merchant's charge
    clock = Clock(datetime(2027, 3, 1, 9, tzinfo=timezone.utc))
    gateway = SimulatedGateway(boto3.client("dynamodb"), aws.tables["SimulatedGatewayLedgerTable"], clock)
    debit = AttemptRequest("chg_d:1", Money(1000, "EUR"), "pm_sim_sepa_late_failure", "mch_a", "mdt_a", "chg_d", 1, "sepa_debit")
    card = AttemptRequest("chg_c:1", Money(500, "GBP"), "pm_sim_ok", "mch_a", "mdt_b", "chg_c", 1)
    theirs = AttemptRequest("chg_t:1", Money(700, "EUR"), "pm_sim_ok", "mch_b", "mdt_t", "chg_t", 1)
    for request in (debit, card, theirs):
        gateway.charge(request)
    from billing.service.ports import RefundRequest

    gateway.refund(
        RefundRequest("refund:rfd_1", Money(200, "GBP"), "pm_sim_ok", "sim_chg_c_1", "other", "mch_a", "mdt_b", "chg_c", "rfd_1")
    )
    window = (clock.current - timedelta(days=14), clock.current - timedelta(days=120))

    def moves(at: datetime) -> set[tuple[str, str, int, datetime, str | None]]:
        clock.current = at
        entries = gateway.ledger_entries("mch_a", *window, at + timedelta(days=1))
        return {(e.kind, e.status, e.amount, e.at, e.refund_id) for e in entries}

    start = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
    # Then today: the debit is processing, the card charge and its refund moved now
    assert moves(start) == {
        ("charge", "processing", 1000, start, None),
        ("charge", "succeeded", 500, start, None),
        ("refund", "succeeded", 200, start, "rfd_1"),
    }
    # And once settled (3 TARGET business days) it is dated then; once returned (2 more), its reversal too
    settled, returned = datetime(2027, 3, 4, 9, tzinfo=timezone.utc), datetime(2027, 3, 8, 9, tzinfo=timezone.utc)
    later = moves(returned + timedelta(hours=1))
    assert ("charge", "succeeded", 1000, settled, None) in later and ("reversal", "succeeded", 1000, returned, None) in later
    # And the other merchant's charge is never in it
    assert all(amount != 700 for _, _, amount, _, _ in later)
