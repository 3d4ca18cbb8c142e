"""Review 25: the overview of a merchant never includes another merchant's money, whatever the
order and number of times the events of both reach the keeper."""

from __future__ import annotations

import random

from billing.api.requests import MandateCreate, PlanCreate
from billing.service.figures import FigureKeeper
from billing.service.messages import PublishedEvent
from tests.figure_fakes import InMemoryFigureStore
from tests.support.values import CONSENT
from tests.unit.test_figures import figures_of
from tests.world import MERCHANT, World, refund


def _other_merchants_business(world: World, merchant: str) -> None:
    plan = world.api.plans.create(
        merchant, PlanCreate.model_validate({"name": "B", "amount": 70000, "currency": "EUR", "interval": "month"})
    )
    for n in range(3):
        world.api.mandates.create(
            merchant,
            MandateCreate.model_validate(
                {
                    "plan_id": plan.id,
                    "customer": {"reference": f"b-{n}"},
                    "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                    "consent": CONSENT,
                }
            ),
        )


def test_another_merchants_events_shuffled_and_twice_change_nothing_in_the_overview() -> None:
    # Given merchant A's business and merchant B's larger one in the same table
    world = World()
    world.mandate(world.plan())
    _other_merchants_business(world, "mch_b")
    world.tick()
    [charge] = [c for c in world.charges() if c.status == "succeeded"]
    refund(world, charge.id, amount=500)
    world.tick()
    events = [e for c in world.repo.commits for e in c.events]
    assert {e.merchant_id for e in events} >= {MERCHANT, "mch_b"}
    # When one keeper gets A's events only, and another every event of both, shuffled, twice
    only_a = FigureKeeper(world.repo, InMemoryFigureStore())
    assert not only_a.keep_events([PublishedEvent.of(e) for e in events if e.merchant_id == MERCHANT]).failed
    both = FigureKeeper(world.repo, InMemoryFigureStore())
    mixed = events + events
    random.Random(25).shuffle(mixed)
    for start in range(0, len(mixed), 10):
        assert not both.keep_events([PublishedEvent.of(e) for e in mixed[start : start + 10]]).failed
    # Then A's overview is the same, and B's money is in B's only
    now = world.clock.now()
    assert figures_of(both, "EUR", now) == figures_of(only_a, "EUR", now)
    assert figures_of(both, "EUR", now)["collected"] == charge.amount
    [b] = both.overview("mch_b", now)
    assert b.collected == 3 * 70000 and b.active == 3
