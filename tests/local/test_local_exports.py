"""Exports in `make local`: asked for over the API, built on a tick, and the link the API gives
downloads the file from the local server itself (its /_local/s3 route checks the link's
signature and expiry like S3)."""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from billing.domain.exports import MANDATE_COLUMNS
from tests.local.conftest import Http, running_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    yield from running_local()


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (the local server)
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_an_export_link_downloads_from_the_local_server_and_a_changed_link_is_refused(local: str) -> None:
    # Given a merchant with a mandate created now
    _, merchant = Http(local)("POST", "/_local/merchants", {"name": "Shop"})
    api = Http(local, merchant["api_key"])
    _, now = Http(local)("GET", "/_local/clock")
    status, plan = api("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    assert status == 201
    status, mandate = api(
        "POST",
        "/v1/mandates",
        {"plan_id": plan["id"], "customer": {"reference": "=SUM(A1)", "name": "Ona"}},
    )
    assert status == 201, mandate
    # When this month's mandates are exported and a tick runs
    status, export = api("POST", "/v1/exports", {"kind": "mandates", "month": now["now"][:7], "format": "csv"})
    assert status == 202 and export["status"] == "pending"
    # (built by this tick, or already by the background loop: after the tick it is built either way)
    assert Http(local)("POST", "/_local/tick")[1]["exports_built"] in (0, 1)
    status, ready = api("GET", f"/v1/exports/{export['id']}")
    # Then its link is on the local server and downloads the file
    assert ready["status"] == "ready" and ready["url"].startswith(f"{local}/_local/s3/"), ready
    status, data, headers = fetch(ready["url"])
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert 'filename="mandates-' in headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert header == list(MANDATE_COLUMNS)
    assert dict(zip(header, row, strict=True))["customer_reference"] == "'=SUM(A1)"
    # And a link changed in any way is refused
    assert fetch(ready["url"].replace(".csv?", ".csvx?"))[0] in (403, 404)
    assert fetch(ready["url"].replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"))[0] == 403
    assert fetch(ready["url"].split("?")[0])[0] == 403
