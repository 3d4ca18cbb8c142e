"""The dashboard's lists on moto, built from template.yaml: the merchant API makes a mandate, the
engine charges it, the API refunds part of it; the real dashboard handler lists the charges (by
status), refunds, disputes (by status) and invoices (by type) through the table's indexes, every
AWS call checked against the dashboard's role in the template (the `aws` fixture: its least
privilege); a viewer reads them and a charge's and a refund's page, the other merchant's owner sees
none of merchant A's (their pages: 404)."""

from __future__ import annotations

import re
from typing import Any

from tests.integration import test_dashboard_mandates_on_moto as on_moto
from tests.support.system import Client, EngineHarness, System, charges_of, make_mandate, plan

dashboard = on_moto.dashboard  # the real dashboard handler on moto (a fixture)
signed_in = on_moto.signed_in


def ids(body: str, kind: str) -> list[str]:
    return re.findall(rf'data-{kind}-id="([^"]+)"', body)


def test_the_lists_read_merchant_as_objects_through_the_indexes_the_role_allows(
    system: System, engine: EngineHarness, call: Client, dashboard: Any
) -> None:
    gateway, users = dashboard
    # Given merchant A's collected charge, refunded in part
    mandate = make_mandate(call, plan(call), reference="cust-lists")
    engine.tick()
    [charge] = charges_of(call, mandate["id"])
    refund = call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 300}).json()
    # When a viewer of A reads each list, with and without its filter
    viewer = signed_in(gateway, users, system.a.id, "viewer@a.example", role="viewer")
    charges = viewer.go("GET", "/dashboard/charges?status=succeeded")
    assert charges.status == 200 and ids(charges.body, "charge") == [charge["id"]]
    assert ids(viewer.go("GET", "/dashboard/charges?status=failed").body, "charge") == []
    assert ids(viewer.go("GET", "/dashboard/charges").body, "charge") == [charge["id"]]
    assert ids(viewer.go("GET", "/dashboard/refunds").body, "refund") == [refund["id"]]
    for path in ("/dashboard/disputes", "/dashboard/disputes?status=needs_response", "/dashboard/invoices?type=credit_note"):
        page = viewer.go("GET", path)
        assert page.status == 200, page.body  # read through the indexes the role allows
    # And the charge's and the refund's pages read them, and what belongs to them (by charge), as the role allows
    page = viewer.go("GET", f"/dashboard/charges/{charge['id']}")
    assert page.status == 200 and ids(page.body, "refund") == [refund["id"]] and "pm_sim" not in page.body, page.body
    page = viewer.go("GET", f"/dashboard/refunds/{refund['id']}")
    assert page.status == 200 and f"/dashboard/charges/{charge['id']}" in page.body, page.body
    # And an altered cursor is a 400 page
    assert viewer.go("GET", "/dashboard/refunds?cursor=bm90LWEtY3Vyc29y").status == 400
    # Then merchant B's owner sees none of A's
    other = signed_in(gateway, users, system.b.id, "owner@b.example")
    assert ids(other.go("GET", "/dashboard/charges").body, "charge") == []
    assert ids(other.go("GET", "/dashboard/refunds").body, "refund") == []
    assert other.go("GET", f"/dashboard/charges/{charge['id']}").status == 404
    assert other.go("GET", f"/dashboard/refunds/{refund['id']}").status == 404
