"""Benchmark (not a test): each function's initialisation against a bare `import boto3`.

Lambda's cold start is the runtime's start plus the import of the handler module (what `Init
Duration` reports). Each sample is a fresh interpreter, timed from its start until the module
is imported and the handler is ready, the way Lambda runs it: the layer and the function's
directory on the path, the function's environment, LAMBDA_TASK_ROOT set (so that Powertools
enables the X-Ray SDK where a function uses it). Interpreter shutdown is not counted: Lambda
does not pay it per request. The target is at most 2.5x for every function (decision 53).

Run: `make bench` (COLD_START_SAMPLES overrides the sample count, default 21).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.template import resources  # noqa: E402

TARGET = 2.5
ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "recurring-payments",
    "POWERTOOLS_METRICS_NAMESPACE": "RecurringPayments",
    "TABLE_NAME": "billing",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "LINK_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:links",
    "EVENTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:events",
    "CHARGE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/charges",
    "GATEWAY_LEDGER_TABLE_NAME": "ledger",
}
# The child prints its own clock once ready; the parent compares it with the spawn time.
PROBE = "import time; {setup}; print(time.time(), flush=True)"


def _once(setup: str, env: dict[str, str]) -> float:
    started = time.time()
    child = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(child.stderr)
    return float(child.stdout.split()[-1]) - started


def paired(setup: str, env: dict[str, str], baseline_env: dict[str, str], samples: int) -> tuple[float, float]:
    """Median init of `setup` and of a bare `import boto3`, sampled alternately, so that the
    machine's drift (other work, CPU frequency) weighs on both alike."""
    mine, bare = [], []
    for _ in range(samples):
        bare.append(_once("import boto3", baseline_env))
        mine.append(_once(setup, env))
    return statistics.median(mine), statistics.median(bare)


def main() -> None:
    samples = int(os.environ.get("COLD_START_SAMPLES", "21"))
    layer = str(ROOT / "layers" / "billing")
    base_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}, **ENV}
    baseline_env = {**base_env, "PYTHONPATH": layer}
    print(f"cold start (median of {samples}, each function sampled alternately with a bare `import boto3`)")
    print(f"{'function':<28} {'init ms':>8} {'boto3 ms':>9} {'ratio':>6}")
    worst = 0.0
    functions = resources("AWS::Serverless::Function")
    request_path = {"AuthorizerFunction"} | {
        name for name, r in functions.items() if any(e["Type"] == "Api" for e in r["Properties"].get("Events", {}).values())
    }
    for name, resource in sorted(functions.items()):
        code = ROOT / resource["Properties"]["CodeUri"]
        env = {**base_env, "PYTHONPATH": f"{code}{os.pathsep}{layer}", "LAMBDA_TASK_ROOT": str(code)}
        seconds, baseline = paired("import app", env, baseline_env, samples)
        ratio = seconds / baseline
        if name in request_path:
            worst = max(worst, ratio)
        marker = "  (request path)" if name in request_path else ""
        print(f"{name:<28} {seconds * 1000:>8.0f} {baseline * 1000:>9.0f} {ratio:>5.2f}x{marker}")
    print(f"request path worst {worst:.2f}x (target <= {TARGET}x)")


if __name__ == "__main__":
    main()
