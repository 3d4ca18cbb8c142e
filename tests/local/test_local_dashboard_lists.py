"""The dashboard's lists of charges, refunds, disputes and invoices against `make local` over HTTP:
the owner signs in and reads each list, made by the local engine (a charge collected, refunded in
part, disputed; its invoice and credit note issued), each row as the API lists it; another
merchant's owner sees none of them; an altered cursor is a 400 page. The page of one charge,
refund and dispute opens from the lists' rows, shows what the API shows (never the token), and is
a 404 for another merchant's owner."""

from __future__ import annotations

import re
import urllib.request
from html import unescape

from tests.local.conftest import Http
from tests.local.test_dashboard_local import new_merchant, owner_in_browser
from tests.local.test_local_dashboard_mandates import charged_mandate, signed_in


def test_an_owner_reads_the_charges_refunds_disputes_and_invoices_over_http(local: str) -> None:
    # Given a merchant's collected charge, refunded in part (its credit note issued) and disputed
    created = new_merchant(local, "Lists over HTTP")
    call = Http(local, created["api_key"])
    mandate_id, charge_id = charged_mandate(local, created, "cust-lists", "ona@example.lt")
    status, refund = call("POST", f"/v1/charges/{charge_id}/refunds", {"amount": 250})
    assert status == 201, refund
    assert Http(local)("POST", "/_local/tick")[0] == 200  # the refund reaches the gateway, its credit note is issued
    status, opened = Http(local)("POST", "/_local/gateway/disputes", {"charge_id": charge_id, "reason": "duplicate"})
    assert status == 201, opened
    [dispute] = call("GET", f"/v1/disputes?charge_id={charge_id}")[1]["data"]
    documents = call("GET", f"/v1/invoices?mandate_id={mandate_id}")[1]["data"]
    assert sorted(d["type"] for d in documents) == ["credit_note", "invoice"], documents
    # When its owner signs in and reads the four lists
    owner = signed_in(local, created)
    expected = {
        "charges": ("charge", [charge_id]),
        "refunds": ("refund", [refund["id"]]),
        "disputes": ("dispute", [dispute["id"]]),
        "invoices": ("invoice", [d["id"] for d in documents]),
    }
    for name, (kind, ids) in expected.items():
        status, headers, _, page = owner.go("GET", f"/dashboard/{name}")
        # Then each shows the API's objects, linked to their mandate, with the CSP and no token
        assert status == 200, page
        assert sorted(re.findall(rf'data-{kind}-id="([^"]+)"', page)) == sorted(ids)
        assert f"/dashboard/mandates/{mandate_id}" in page and "pm_sim" not in page
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    # And each document's row links to the signed link the API gives: it opens
    _, _, _, page = owner.go("GET", "/dashboard/invoices?type=invoice")
    [invoice] = [d for d in documents if d["type"] == "invoice"]
    assert f'href="{invoice["url"]}"' in page and f'href="{invoice["url"]}?format=pdf"' in page
    with urllib.request.urlopen(f"{invoice['url']}?format=xml", timeout=60) as opened_xml:
        assert opened_xml.status == 200 and invoice["number"].encode() in opened_xml.read()
    # And the filters and Lithuanian work over HTTP
    _, _, _, page = owner.go("GET", "/dashboard/charges?status=failed&lang=lt")
    assert "Mokėjimai" in page and 'data-charge-id="' not in page
    # And an altered cursor is a 400 page, not a 500
    status, _, _, page = owner.go("GET", "/dashboard/refunds?cursor=eyJub3QiOiJhIGN1cnNvciJ9")
    assert status == 400 and "cursor" in unescape(page)
    # And a charge's, refund's and dispute's page opens from its list's row
    details = {"charges": charge_id, "refunds": refund["id"], "disputes": dispute["id"]}
    _, charge = call("GET", f"/v1/charges/{charge_id}")
    for name, object_id in details.items():
        _, _, _, listed = owner.go("GET", f"/dashboard/{name}")
        assert f'href="/dashboard/{name}/{object_id}"' in listed, listed
        status, headers, _, page = owner.go("GET", f"/dashboard/{name}/{object_id}")
        assert status == 200, page
        assert object_id in page and f"/dashboard/mandates/{mandate_id}" in page and "pm_sim" not in page
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    # And the charge's page shows its attempt's gateway reference and its documents' signed links,
    # the refund's its credit note
    _, _, _, page = owner.go("GET", f"/dashboard/charges/{charge_id}?lang=en")  # the list above chose Lithuanian
    reference = charge["attempts"][-1]["gateway_reference"]
    assert reference and reference in unescape(page) and "ending in" in page
    assert all(f'href="{d["url"]}"' in page for d in documents)
    [note] = [d for d in documents if d["type"] == "credit_note"]
    _, _, _, page = owner.go("GET", f"/dashboard/refunds/{refund['id']}")
    assert f'href="{note["url"]}"' in page and f"/dashboard/charges/{charge_id}" in page
    # And another merchant's owner sees none of them, and each of their pages is a 404
    stranger = signed_in(local, new_merchant(local, "Stranger"))
    for name, (kind, ids) in expected.items():
        status, _, _, page = stranger.go("GET", f"/dashboard/{name}")
        assert status == 200 and not set(re.findall(rf'data-{kind}-id="([^"]+)"', page)) & set(ids)
    for name, object_id in details.items():
        status, _, _, page = stranger.go("GET", f"/dashboard/{name}/{object_id}")
        assert status == 404 and object_id not in page


def test_an_owner_opens_a_charge_from_its_list_in_a_real_browser(local: str) -> None:
    """With SCREENSHOTS=1 the charge's page is saved as docs/screenshots/dashboard-charge-en.png."""
    from tests.local.test_dashboard_local import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    # Given a merchant's collected charge, refunded in part
    created = new_merchant(local, "Sporto klubas")
    _, charge_id = charged_mandate(local, created, "cust-browser", "ona@example.lt")
    status, refund = Http(local, created["api_key"])("POST", f"/v1/charges/{charge_id}/refunds", {"amount": 500})
    assert status == 201, refund
    assert Http(local)("POST", "/_local/tick")[0] == 200
    with owner_in_browser(local, created) as (page, violations):
        # When the owner opens Charges and clicks the charge's id
        page.click("nav >> text=Charges")
        page.click(f"tr[data-charge-id='{charge_id}'] >> text={charge_id}")
        page.wait_for_url(f"**/dashboard/charges/{charge_id}")
        # Then its page shows the attempt, the refund (which opens its own page) and the documents
        assert page.locator("tr[data-attempt]").count() == 1
        assert "€5.00" in page.locator("table.refunds").inner_text()
        assert page.locator("table.documents tr[data-invoice-id]").count() == 2
        assert "pm_sim" not in page.content()
        page.screenshot(path=str(SHOTS / "dashboard-charge-en.png"), full_page=True)
        page.click(f"a[href$='/dashboard/refunds/{refund['id']}']")
        page.wait_for_url(f"**/dashboard/refunds/{refund['id']}")
        assert "€5.00" in page.locator("main").inner_text()
    assert violations == []
