"""The local runtime's HTTP server: /_local to the dev endpoints, everything else through the
API Gateway stand-in to the real handlers; and `main` (what `make local` runs)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devtools.gateway import HttpResponse
from devtools.local import s3_links, state
from devtools.local.endpoints import LocalEndpoints
from devtools.local.stripe_config import banner
from devtools.local.system import LocalSystem


def make_handler(system: LocalSystem) -> type[BaseHTTPRequestHandler]:
    endpoints = LocalEndpoints(system)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "recurring-payments-local"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not system.quiet:
                sys.stderr.write(f"http {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

        def _respond(self, status: int, headers: dict[str, str], body: str | bytes, cookies: list[str] | None = None) -> None:
            payload = body if isinstance(body, bytes) else body.encode()
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            for cookie in cookies or []:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _json(self, status: int, payload: Any) -> None:
            self._respond(status, {"Content-Type": "application/json"}, json.dumps(payload))

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if path.startswith(s3_links.PREFIX) and self.command in ("GET", "HEAD"):  # a signed export link
                status, headers, payload = s3_links.answer(system.plumbing, system.base_url, self.path)
                self._respond(status, headers, payload if self.command == "GET" else b"")
                return
            if path.startswith("/_local/"):
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._json(400, {"error": {"type": "invalid_request", "message": "body is not JSON", "param": None}})
                    return
                self._json(*endpoints(self.command, path, body))
                return
            headers = {key: value for key, value in self.headers.items()}
            with system.requests:
                response: HttpResponse = system.gateway.request(
                    self.command,
                    self.path,
                    headers,
                    raw.decode("utf-8", errors="replace") if raw else None,
                    source_ip=self.client_address[0],
                )
            self._respond(
                response.status, response.headers, response.raw if response.raw is not None else response.body, response.cookies
            )

        def __getattr__(self, name: str) -> Any:
            """Every method (TRACE, OPTIONS, made-up ones...) reaches the API as on API Gateway
            (its routes take ANY), never http.server's own 501 page."""
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the recurring payments system locally (no Docker).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--state", type=Path, help="load this file on start (if it exists) and save to it on exit")
    parser.add_argument("--quiet", action="store_true", help="do not print events and requests")
    args = parser.parse_args(argv)

    system = LocalSystem(args.port, quiet=args.quiet, state_file=args.state)
    dynamodb = system.plumbing.client("dynamodb")
    if args.state and args.state.exists():
        saved_clock = state.load(dynamodb, system.aws.tables, args.state)
        state.restore_users(system.aws.user_pools, args.state)
        if saved_clock is not None:
            system.clock.set(saved_clock)
        system.restarted_stream()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(system))
    server.daemon_threads = True
    worker = threading.Thread(target=system.background, name="aws-background", daemon=True)
    worker.start()
    system.ready = True
    print(
        f"recurring payments running at {system.base_url}  (API /v1, dev endpoints /_local; data lives "
        f"{'in ' + str(args.state) if args.state else 'while this process runs'}; Ctrl-C stops)",
        flush=True,
    )
    stripe_line = banner(system.stripe_env, system.base_url)
    if stripe_line:
        print(stripe_line, flush=True)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # Ctrl-C (also when started from a shell that ignores SIGINT)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        system.stopping.set()
        worker.join(timeout=5)
        if args.state:
            now = system.clock.now() if system.clock.is_test_clock else None
            state.save(dynamodb, system.aws.tables, now, args.state, system.aws.keys, system.aws.user_pools)
            print(f"state saved to {args.state}", flush=True)
        server.server_close()
        system.close()
        print("stopped", flush=True)
