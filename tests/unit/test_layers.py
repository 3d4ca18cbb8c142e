"""The layers are enforced, not only documented: import-linter's contracts (pyproject.toml
[tool.importlinter], run by `make lint`) hold for the billing package and for every handler
(functions/<name>/app.py, the namespace package `functions`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports() -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'billing'}{os.pathsep}{ROOT}"}
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def test_every_layer_contract_is_kept_by_the_package_and_every_handler() -> None:
    # Given the contracts, When the imports of billing/ and functions/*/app.py are linted
    result = lint_imports()
    # Then every contract is kept, and the handlers were part of the graph (each is a module of `functions`)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
    handlers = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    graph = subprocess.run(
        [sys.executable, "-c", "import grimp, json; g = grimp.build_graph('functions'); print(json.dumps(sorted(g.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert all(f"functions.{name}.app" in graph.stdout for name in handlers), graph.stdout + graph.stderr
