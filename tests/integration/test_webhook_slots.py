"""Per-endpoint attempt slots on DynamoDB (moto): at most four attempts in flight to one endpoint,
whatever the number of delivery instances; a slot whose holder died frees itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3

from billing.adapters.dynamodb.slots import DynamoEndpointSlots
from devtools.provision import Provisioned

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
HOLD = timedelta(seconds=30)


def test_four_attempts_at_once_per_endpoint_and_a_freed_slot_is_taken_again(aws: Provisioned) -> None:
    # Given two delivery instances sharing the table
    table = aws.tables["BillingTable"]
    first, second = (DynamoEndpointSlots(boto3.client("dynamodb"), table) for _ in range(2))
    # When they take slots for one endpoint
    taken = [first.acquire("mch_a", "we_1", f"h{i}", NOW, NOW + HOLD) for i in range(2)]
    taken += [second.acquire("mch_a", "we_1", f"h{i}", NOW, NOW + HOLD) for i in range(2, 5)]
    # Then four get one and the fifth waits; another endpoint (or merchant) is not affected
    assert taken == [True, True, True, True, False]
    assert second.acquire("mch_a", "we_2", "other", NOW, NOW + HOLD)
    assert second.acquire("mch_b", "we_1", "other-merchant", NOW, NOW + HOLD)
    # And a released slot is taken again
    first.release("mch_a", "we_1", "h0")
    assert second.acquire("mch_a", "we_1", "h5", NOW, NOW + HOLD)


def test_a_slot_whose_holder_died_is_free_after_its_hold_and_the_late_release_frees_nothing(aws: Provisioned) -> None:
    table = aws.tables["BillingTable"]
    dead, alive = (DynamoEndpointSlots(boto3.client("dynamodb"), table) for _ in range(2))
    assert all(dead.acquire("mch_a", "we_1", f"d{i}", NOW, NOW + HOLD) for i in range(4))
    assert not alive.acquire("mch_a", "we_1", "a0", NOW + HOLD - timedelta(seconds=1), NOW + 2 * HOLD)
    later = NOW + HOLD + timedelta(seconds=1)
    assert alive.acquire("mch_a", "we_1", "a1", later, later + HOLD)
    # The dead holder's release (if it comes back) does not free the slot the new holder has
    for i in range(4):
        dead.release("mch_a", "we_1", f"d{i}")
    taken = sum(alive.acquire("mch_a", "we_1", f"b{i}", later, later + HOLD) for i in range(4))
    assert taken == 3
