"""Fixtures for tests against `make local` running as a subprocess on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.template import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    def __init__(self, base: str, key: str | None = None) -> None:
        self.base, self.key = base, key

    def __call__(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    yield from running_local()


def running_local(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """`make local` on a free port until the generator is closed (then Ctrl-C, and it must stop cleanly)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | (extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.local", "--port", str(port), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if Http(base)("GET", "/_local/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("local runtime did not come up:\n" + (process.stdout.read() if process.stdout else ""))
    yield base
    process.send_signal(signal.SIGINT)  # Ctrl-C
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped" in output


def merchant(base: str, name: str = "Shop") -> Http:
    status, created = Http(base)("POST", "/_local/merchants", {"name": name})
    assert status == 201 and created["merchant_id"].startswith("mch_") and created["api_key"]
    return Http(base, created["api_key"])
