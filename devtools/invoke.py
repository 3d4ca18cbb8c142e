"""`make invoke FN=<function> EVENT=events/<file>.json`: the Docker-free `sam local invoke`.

Runs one function's real handler with one sample event against a local emulation created from
template.yaml (the same resources `make local` creates), and prints what it returned.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from devtools import local  # noqa: F401  (sets sys.path and the fake AWS environment)
from devtools.lambda_runtime import invoke, load_function  # noqa: E402
from devtools.moto_patches import fast_transactions, serialize_calls  # noqa: E402
from devtools.provision import provision  # noqa: E402
from devtools.template import ROOT, resources  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    functions = {
        name: Path(props["Properties"]["CodeUri"]).name for name, props in resources("AWS::Serverless::Function").items()
    }
    parser = argparse.ArgumentParser(description="Invoke one function with one event, locally.")
    parser.add_argument("function", help="directory under functions/ or template name: " + ", ".join(sorted(functions.values())))
    parser.add_argument("event", type=Path)
    args = parser.parse_args(argv)
    directory = functions.get(args.function, args.function)
    if not (ROOT / "functions" / directory / "app.py").exists():
        parser.error(f"no such function: {args.function}")
    logical = next((k for k, v in functions.items() if v == directory), directory)
    event = json.loads(args.event.read_text())
    with mock_aws():
        serialize_calls()
        fast_transactions()
        import os

        os.environ.update(provision(boto3.Session()).env())
        module = load_function(directory)
        try:
            result = invoke(module, event, logical, timeout=900)
        except Exception as error:  # shown the way Lambda reports a function error
            json.dump({"errorType": type(error).__name__, "errorMessage": str(error)}, sys.stdout, indent=2)
            print()
            raise SystemExit(1) from None
    json.dump(result, sys.stdout, indent=2, default=str)
    print()


if __name__ == "__main__":
    main()
