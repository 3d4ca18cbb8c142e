"""Filtered lists read a bounded number of items per page, whatever the merchant's size
(counted with the AWS call counter on the real DynamoDB adapter, on moto)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3

from billing.adapters.dynamodb.queries import MAX_EXAMINED_PER_PAGE
from billing.adapters.dynamodb.repository import DynamoRepository
from billing.domain.model import Consent, Customer, Mandate, PaymentMethod, Plan, PlanTerms
from billing.service.ports import Changes, PageRequest
from devtools.aws_stats import AwsStats
from devtools.provision import Provisioned

A = "mch_bounded"
NOW = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)


def seed(repo: DynamoRepository, total: int, cancelled: set[int]) -> tuple[Plan, list[Mandate]]:
    plan = Plan(
        id="pln_bounded",
        merchant_id=A,
        created_at=NOW,
        updated_at=NOW,
        name="Gold",
        terms=PlanTerms(amount=1999, currency="EUR", interval="month"),
    )
    mandates = []
    for n in range(total):
        at = NOW + timedelta(seconds=n)
        m = Mandate(
            id=f"mdt_b{n:05d}",
            merchant_id=A,
            plan_id=plan.id,
            terms=plan.terms,
            customer=Customer(reference="same-customer"),
            created_at=at,
            updated_at=at,
        )
        m.activate(at, PaymentMethod(gateway="simulated", token="pm_sim_ok"), Consent(accepted_at=at))
        if n in cancelled:
            m.cancel(at)
        mandates.append(m)
    repo.commit(Changes(put=[plan]))
    for start in range(0, total, 25):
        repo.commit(Changes(put=[*mandates[start : start + 25]]))
    return plan, mandates


def test_a_filtered_list_reads_a_bounded_number_of_items_per_page_and_misses_nothing(aws: Provisioned) -> None:
    # Given 600 mandates of one plan and one customer, two of them cancelled (the oldest ones)
    plain = DynamoRepository(boto3.client("dynamodb"), aws.tables["BillingTable"])
    plan, mandates = seed(plain, 600, cancelled={0, 1})
    counted = boto3.Session()
    stats = AwsStats()
    stats.attach(counted)
    repo = DynamoRepository(counted.client("dynamodb"), aws.tables["BillingTable"])
    for filters in ({"plan_id": plan.id, "status": "cancelled"}, {"customer_reference": "same-customer", "status": "cancelled"}):
        # When the cancelled ones are listed one at a time, following the cursor
        found, cursor, pages = [], None, 0
        while True:
            stats.reset()
            page = repo.page(Mandate, A, PageRequest(1, cursor), **filters)
            # Then no page reads more than the budget (plus the page's own items)
            assert stats.items_read <= MAX_EXAMINED_PER_PAGE + 1, (filters, pages, stats.items_read)
            found += [m.id for m in page.data]
            pages += 1
            if not page.has_more:
                break
            cursor = page.next_cursor
        # And every match comes exactly once, newest first, in a bounded number of pages
        assert found == [mandates[1].id, mandates[0].id], filters
        assert pages <= 600 // MAX_EXAMINED_PER_PAGE + 2
