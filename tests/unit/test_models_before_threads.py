"""Pydantic models are built on first use (`defer_build`). Two threads using one for the first time
at once can meet it half-built ("validate_assignment is not supported for Charge", seen on a cold
dispatcher claiming two mandates). So whoever hands work to threads builds them first, in its own
thread. Checked in a fresh interpreter, where nothing is built yet."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from devtools.template import ROOT

SCRIPT = textwrap.dedent(
    """
    import concurrent.futures, sys
    sys.path[:0] = [{root!r}, {layer!r}]
    from billing.domain.charge import Charge
    from billing.service import dispatcher
    from tests.world import World

    world = World()
    plan_id = world.plan()
    for _ in range(3):
        world.mandate(plan_id)
    assert not Charge.__pydantic_complete__, "the test needs a cold Charge"
    seen = []

    class Watched(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            seen.append(Charge.__pydantic_complete__)  # when the dispatcher hands work to threads
            super().__init__(*args, **kwargs)

    dispatcher.ThreadPoolExecutor = Watched
    report = world.dispatch()
    assert report.new_charges == 3, report
    print(seen)
    """
)


def test_the_dispatcher_builds_its_models_before_it_hands_mandates_to_threads() -> None:
    # Given a fresh interpreter where no charge was ever validated, and three mandates due
    script = SCRIPT.format(root=str(ROOT), layer=str(ROOT / "layers" / "billing"))
    # When the dispatcher claims them on its threads
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    # Then every model was built before the first thread started (never by two threads at once)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True]"
