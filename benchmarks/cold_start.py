"""Benchmark (not a test): each function's initialisation against a bare `import boto3`.

Lambda's cold start is the runtime's start plus the import of the handler module (what `Init
Duration` reports). Each sample is a fresh interpreter, timed from its start until the module
is imported and the handler is ready, the way Lambda runs it: the layer and the function's
directory on the path, the function's environment, LAMBDA_TASK_ROOT set (so that Powertools
enables the X-Ray SDK where a function uses it). Interpreter shutdown is not counted: Lambda
does not pay it per request. The target is at most 2.5x for every request-path function
(decision 53), on both measures:

- venv: the sources in this repository, run by the dev virtualenv's Python, where every module
  is already compiled to bytecode (the baseline is that venv's `import boto3`);
- built: what `make build` deploys (`.aws-sam/build`: the function's directory as /var/task,
  the layer's `python/` as /opt/python), run by Python 3.13 as the runtime is, with
  PYTHONDONTWRITEBYTECODE=1: Lambda's /opt and /var/task are read-only, so only the bytecode the
  artifact carries counts, whatever is missing is compiled again at every cold start. The
  baseline is a bare `import boto3` of the runtime's own boto3 (compiled, outside the layer), in
  `.venv-runtime` (`make runtime-venv`, boto3 at the layer's version). The layer's arm64
  extension modules are swapped for this machine's builds of the same versions in a copy
  (`.aws-sam/bench-host`); every Python file and its bytecode stay as built. Skipped, with a
  message, when `.aws-sam/build` or that interpreter does not exist.

Run: `make bench`, or `python benchmarks/cold_start.py [venv|built] [FunctionName ...]`
(COLD_START_SAMPLES overrides the sample count, default 21).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.template import resources  # noqa: E402

TARGET = 2.5
BUILD = Path(os.environ.get("COLD_START_BUILD", str(ROOT / ".aws-sam" / "build")))  # another build, to compare
RUNTIME_PYTHON = Path(os.environ.get("RUNTIME_PYTHON", str(ROOT / ".venv-runtime" / "bin" / "python")))
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
    "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as template.yaml's Globals
}
# The child prints its own clock once ready; the parent compares it with the spawn time.
PROBE = "import time; {setup}; print(time.time(), flush=True)"


def _once(python: str, setup: str, env: Mapping[str, str]) -> float:
    started = time.time()
    child = subprocess.run([python, "-c", PROBE.format(setup=setup)], env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(child.stderr)
    return float(child.stdout.split()[-1]) - started


def paired(python: str, env: Mapping[str, str], baseline_env: Mapping[str, str], samples: int) -> tuple[float, float, float]:
    """Median init of the handler module, of a bare `import boto3`, and of their ratio, sampled in
    back-to-back pairs: the machine's drift (other work, CPU frequency) weighs on both of a pair
    alike, so the median of the pairs' ratios is steadier than the ratio of the medians."""
    mine, bare = [], []
    for _ in range(samples):
        bare.append(_once(python, "import boto3", baseline_env))
        mine.append(_once(python, "import app", env))
    ratio = statistics.median(m / b for m, b in zip(mine, bare, strict=True))
    return statistics.median(mine), statistics.median(bare), ratio


def pyc_summary(root: Path) -> str:
    """How many modules under `root` carry bytecode, and of which kind (PEP 552 flags)."""
    sources = sum(1 for _ in root.rglob("*.py"))
    kinds = {0: 0, 1: 0, 3: 0}  # timestamp, unchecked-hash, checked-hash
    for pyc in root.rglob("*.pyc"):
        with pyc.open("rb") as f:
            flags = int.from_bytes(f.read(8)[4:8], "little")
        kinds[flags] = kinds.get(flags, 0) + 1
    return f"{sources} .py, {sum(kinds.values())} .pyc (unchecked-hash {kinds[1]}, checked-hash {kinds[3]}, timestamp {kinds[0]})"


def runnable_here(build: Path) -> Path:
    """A copy of the built artifact that this machine can run: the layer's arm64 extension
    modules (pydantic_core, wrapt, markupsafe...) swapped for the same versions' builds for this
    machine, every Python file and its bytecode left as built."""
    host = build.parent / "bench-host"
    shutil.rmtree(host, ignore_errors=True)
    shutil.copytree(build, host, symlinks=True)
    layer = host / "BillingLayer" / "python"
    machine = platform.machine()
    native = [so for so in layer.rglob("*.so*") if so.is_file()]
    if not native or all(machine in so.name for so in native if ".cpython-" in so.name):
        return host
    owners = []
    for record in layer.glob("*.dist-info/RECORD"):
        if ".so" in record.read_text():
            meta = dict(line.split(": ", 1) for line in (record.parent / "METADATA").read_text().splitlines()[:5] if ": " in line)
            owners.append(f"{meta['Name']}=={meta['Version']}")
    wheels = build.parent / "bench-wheels"
    for requirement in owners:
        dest = wheels / requirement
        if not any(dest.glob("*.whl")):
            pip = [str(RUNTIME_PYTHON), "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            subprocess.run([*pip, "--dest", str(dest), requirement], check=True)
    for so in native:
        so.unlink()
    for requirement in owners:
        for wheel in (wheels / requirement).glob("*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.namelist():
                    if ".so" in member.rsplit("/", 1)[-1]:
                        archive.extract(member, layer)
    return host


def measure(
    title: str,
    python: str,
    code_dir: Any,
    layer: str,
    baseline_env: Mapping[str, str],
    base_env: Mapping[str, str],
    only: list[str],
    samples: int,
) -> float:
    print(f"\n{title}")
    print(f"{'function':<28} {'init ms':>8} {'boto3 ms':>9} {'ratio':>6}")
    worst = 0.0
    functions = resources("AWS::Serverless::Function")
    request_path = {"AuthorizerFunction"} | {
        name for name, r in functions.items() if any(e["Type"] == "Api" for e in r["Properties"].get("Events", {}).values())
    }
    for name, resource in sorted(functions.items()):
        if only and not any(name.startswith(o) for o in only):
            continue
        code = code_dir(name, resource)
        env = {**base_env, "PYTHONPATH": f"{code}{os.pathsep}{layer}", "LAMBDA_TASK_ROOT": str(code)}
        seconds, baseline, ratio = paired(python, env, baseline_env, samples)
        if name in request_path:
            worst = max(worst, ratio)
        marker = "  (request path)" if name in request_path else ""
        print(f"{name:<28} {seconds * 1000:>8.0f} {baseline * 1000:>9.0f} {ratio:>5.2f}x{marker}", flush=True)
    print(f"request path worst {worst:.2f}x (target <= {TARGET}x)")
    return worst


def main() -> None:
    args = sys.argv[1:]
    which = {a for a in args if a in ("venv", "built")} or {"venv", "built"}
    only = [a for a in args if a not in ("venv", "built")]
    samples = int(os.environ.get("COLD_START_SAMPLES", "21"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON", "VIRTUAL_ENV"))}
    base_env = {**env, **ENV}
    print(f"cold start (median of {samples} pairs: each function's init right after a bare `import boto3`)")
    if "venv" in which:
        layer = str(ROOT / "layers" / "billing")
        measure(
            f"venv: sources, {sys.executable} (Python {sys.version.split()[0]}), compiled by earlier runs",
            sys.executable,
            lambda _name, resource: ROOT / resource["Properties"]["CodeUri"],
            layer,
            {**base_env, "PYTHONPATH": layer},
            base_env,
            only,
            samples,
        )
    if "built" in which:
        if not (BUILD / "BillingLayer" / "python").is_dir():
            print("\nbuilt: skipped, no .aws-sam/build (run `make build` first)")
            return
        if not RUNTIME_PYTHON.exists():
            print(f"\nbuilt: skipped, no runtime interpreter {RUNTIME_PYTHON} (run `make runtime-venv` first)")
            return
        host = runnable_here(BUILD)
        layer = str(host / "BillingLayer" / "python")
        print(f"\nlayer: {pyc_summary(Path(layer))}; {platform.machine()} builds of its extension modules")
        built_env = {**base_env, "PYTHONDONTWRITEBYTECODE": "1"}
        measure(
            f"built: {BUILD}, {RUNTIME_PYTHON} as the runtime, no writable bytecode cache",
            str(RUNTIME_PYTHON),
            lambda name, _resource: host / name,
            layer,
            built_env,
            built_env,
            only,
            samples,
        )


if __name__ == "__main__":
    main()
