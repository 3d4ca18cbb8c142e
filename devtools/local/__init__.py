"""`make local`: the whole system on one machine, without Docker.

* an embedded AWS emulation (moto, in this process) with the tables, queues, topic and secret
  created from template.yaml's own resource definitions;
* the API on http://127.0.0.1:$PORT: each HTTP request becomes the API Gateway REST proxy event
  AWS would send, through the real authorizer (with its cache) and the real handler;
* the dispatcher fired on the template's schedule against the local clock; the charger fed from
  the gateway queue in batches of the template's size, with partial batch failures, visibility
  timeouts (on the local clock) and the redrive policy; the table stream relayed to SNS by the
  real event publisher; and every SNS event printed as one readable line;
* the dev-only endpoints of the contract's "Local runtime" section under /_local.

Modules: `system` (the emulation, the functions and the engine's steps), `event_lines` (SNS
events printed as lines), `endpoints` (/_local), `state` (--state save and load), `server` (the
HTTP server and `main`). Importing this package sets the fake AWS environment first.
Data lives as long as the process, unless `--state FILE` saves it on exit and loads it on start.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
from devtools.fake_aws import use_fake_aws  # noqa: E402

# EMF metric lines would drown the event lines; CloudWatch has them on AWS.
use_fake_aws(defaults_only=True, POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true")
