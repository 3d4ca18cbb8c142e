"""Webhook attempts over HTTP(S) with urllib3, to public addresses only.

A name is resolved once, every address it resolves to is checked (`domain.webhooks.address_allowed`),
and the connection goes to the checked address (TLS still verifies the certificate against the
name): a name that resolves to a public address when checked and a private one when connected
(DNS rebinding) cannot slip through. Redirects are never followed; the answer's body is not read
beyond its status line and headers, and never stored."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from ..domain.webhooks import address_allowed
from ..service.ports import SendResult

Resolve = Callable[[str, int], list[str]]
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})


def resolve(host: str, port: int) -> list[str]:
    """Every address the name resolves to, IPv4 first (Lambda has no IPv6 egress outside a VPC)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return sorted(addresses, key=lambda a: ":" in a)


class PublicDestinations:
    """Which addresses an attempt may connect to. `allow_loopback_http`: the local runtime only,
    where `http://127.0.0.1:<port>` and `http://localhost:<port>` are the merchant's receiver."""

    def __init__(self, resolver: Resolve = resolve, allow_loopback_http: bool = False) -> None:
        self.resolver, self.allow_loopback_http = resolver, allow_loopback_http

    def loopback_allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return self.allow_loopback_http and parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_NAMES

    def addresses(self, url: str) -> list[str] | None:
        """The addresses to connect to, or None when the destination is not allowed. Raises
        OSError when the name does not resolve."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        if self.loopback_allowed(url):
            return ["127.0.0.1"]
        if parts.scheme != "https":
            return None
        found = self.resolver(host, port)
        if not found or not all(address_allowed(ipaddress.ip_address(a.split("%")[0])) for a in found):
            return None
        return found

    def blocked(self, url: str) -> bool:
        try:
            return self.addresses(url) is None
        except (OSError, UnicodeError):  # does not resolve (yet): attempts will say connection_error
            return False


class UrllibSender:
    def __init__(self, destinations: PublicDestinations) -> None:
        self.destinations = destinations
        self._tls = ssl.create_default_context()

    def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        """At most `timeout` (+ a second), whatever the server does: socket timeouts bound each
        read, not their sum, so a server answering a byte at a time is cut off here (its thread
        is left to its socket timeout; nothing waits for it)."""
        started = time.monotonic()
        done: list[SendResult] = []
        worker = threading.Thread(target=lambda: done.append(self._post(url, headers, body, timeout)), daemon=True)
        worker.start()
        worker.join(timeout + 1.0)
        if done:
            return done[0]
        return SendResult(None, "timeout", int((time.monotonic() - started) * 1000))

    def _post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        started = time.monotonic()

        def result(status: int | None, error: str | None) -> SendResult:
            elapsed = int((time.monotonic() - started) * 1000)
            if error is None and elapsed > timeout * 1000:  # an answer after the time allowed is a timeout
                status, error = None, "timeout"
            return SendResult(status, error, elapsed)  # type: ignore[arg-type]

        try:
            addresses = self.destinations.addresses(url)
        except (OSError, UnicodeError):
            return result(None, "connection_error")
        if addresses is None:
            return result(None, "blocked_destination")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        address = addresses[0]
        pool: urllib3.HTTPConnectionPool
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address, port, server_hostname=host, assert_hostname=host, ssl_context=self._tls, retries=False, maxsize=1
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, retries=False, maxsize=1)
        request_headers = {**headers, "host": parts.netloc.rsplit("@", 1)[-1]}
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=request_headers,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout, total=timeout),
                preload_content=False,
                assert_same_host=False,
            )
            status = int(response.status)
            response.release_conn()
        except NewConnectionError:  # refused or unreachable (urllib3 files it under connect timeouts)
            return result(None, "connection_error")
        except TimeoutError:
            return result(None, "timeout")
        except (HTTPError, OSError):
            return result(None, "connection_error")
        finally:
            pool.close()
        return result(status, None if 200 <= status < 300 else "http_status")
