"""Load a function's handler from functions/<name>/app.py and invoke it like Lambda would."""

from __future__ import annotations

import contextvars
import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from billing.bootstrap import OVERRIDES, Overrides

from .template import ROOT, function_timeout

# The logical id of the function whose handler is running in this context (tests check its AWS
# calls against its role: tests/support/iam.py).
running_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("running_function", default=None)


@dataclass
class FakeContext:
    function_name: str
    timeout_seconds: float = 10.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def load_function(name: str, overrides: Overrides | None = None) -> ModuleType:
    """A fresh import of functions/<name>/app.py (module-level wiring runs again), built with
    `overrides` (the handler passes them to its bootstrap factory: `bootstrap.given(globals())`)."""
    module_name = f"function_{name}"
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    if overrides is not None:
        setattr(module, OVERRIDES, overrides)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def invoke(module: ModuleType, event: dict[str, Any], name: str, timeout: float | None = None) -> Any:
    """`name` is the function's logical id; its timeout defaults to the template's."""
    seconds = timeout if timeout is not None else function_timeout(name)
    token = running_function.set(name)
    try:
        return module.lambda_handler(event, FakeContext(function_name=name, timeout_seconds=seconds))
    finally:
        running_function.reset(token)
