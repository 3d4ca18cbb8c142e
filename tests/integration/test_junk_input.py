"""Junk over every route of docs/openapi.json and the customer page: bodies, query strings,
headers, path ids, links. Every answer is a 4xx (the API's with the error object), never a 5xx,
and nothing is stored (deterministic; schemathesis explores further in tests/local/test_fuzz.py)."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.template import ROOT
from tests.support.system import System, make_mandate, make_plan
from tests.support.values import GOLD

DOC = json.loads(Path(ROOT / "docs" / "openapi.json").read_text())
JUNK_BODIES = [
    "null",
    "[]",
    "{",
    '"text"',
    "1e999",
    "NaN",
    '{"a": ' * 40 + "1" + "}" * 40,
    "[" * 5000 + "]" * 5000,
    '{"amount": ' + "9" * 5000 + "}",
    '{"\\u0000": "\\ud800"}',
    json.dumps({"name": 123, "amount": "x", "customer": [], "resume_at": "9999-12-31T23:59:59-01:00"}),
    json.dumps({"expires_in_seconds": -1, "gateway": "stripe", "token": "4242424242424242"}),
    json.dumps({"k": "v" * 70_000}),
]
JUNK_QUERY = ["", "-1", "0", "101", "9" * 40, "%00", "a" * 2000, "[]", "null", "%F0%9F%92%B8", "status=x&status=y"]
JUNK_IDS = ["x", "..%2F..", "%00", "pln_" + "a" * 100, "%F0%9F%98%80", "mdt_1", "key_%3Cscript%3E", "A" * 3000]
JUNK_HEADERS = [
    {"Idempotency-Key": ""},
    {"Idempotency-Key": "k" * 300},
    {"Content-Type": "text/plain"},
    {"Content-Type": "application/jsonp"},
    {"Authorization": "Bearer rk_live_" + "A" * 500},
    {"Authorization": "Bearer rk_live_eA.x"},
    {"Authorization": "Basic " + "A" * 100},
]


def stored(system: System) -> list[dict]:
    return sorted((json.dumps(i, sort_keys=True, default=str) for i in system.table_items()), key=str)


def is_contract_error(response) -> bool:
    body = response.json()
    return isinstance(body.get("error"), dict) and body["error"]["type"] and body["error"]["message"]


def test_junk_over_every_api_route_is_a_4xx_with_the_error_object_and_stores_nothing(system: System) -> None:
    # Given a plan, a mandate, a key and a webhook endpoint to aim at, and the table as it is
    call = system.client(system.a)
    plan = make_plan(call)
    mandate = make_mandate(call, plan["id"])
    [key] = call("GET", "/v1/api_keys").json()["data"]
    endpoint = call("POST", "/v1/webhook_endpoints", {"url": "https://hooks.shop.test/in"}).json()
    assert call("PATCH", "/v1/account", {"vat_id": "LT100001919017"}).status == 200  # a tax rate needs it
    ids = {
        "plan_id": plan["id"],
        "mandate_id": mandate["id"],
        "charge_id": "chg_x",
        "event_id": "evt_x",
        "key_id": key["id"],
        "endpoint_id": endpoint["id"],
        "delivery_id": "wd_x",
        "item_id": "itm_x",
        "refund_id": "rfd_x",
        "dispute_id": "dsp_x",
        "notification_id": "ntf_x",
        "tax_rate_id": call("POST", "/v1/tax_rates", {"display_name": "PVM", "percentage": "21", "country": "LT"}).json()["id"],
        "export_id": "exp_x",
        "date": "2026-12-01",  # a day not reconciled
        "invoice_id": "inv_x",
    }
    before = stored(system)
    sent = 0
    for template, operations in DOC["paths"].items():
        for method, operation in operations.items():
            real = template.format(**ids)
            # When junk comes as bodies, query values, headers and path ids
            requests = [(real, None, body, {}) for body in JUNK_BODIES if "requestBody" in operation]
            params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            requests += [(f"{real}?{name}={value}", None, None, {}) for name in params for value in JUNK_QUERY]
            requests += [(real, GOLD, None, headers) for headers in JUNK_HEADERS if method == "post"]
            if "{" in template:
                requests += [(template.format(**{k: junk for k in ids}), None, None, {}) for junk in JUNK_IDS]
            for path, body, raw, headers in requests:
                auth = headers.get("Authorization")
                caller = system.client(key=auth.partition(" ")[2]) if auth else call  # the client sets the header itself
                response = caller(method.upper(), path, body, headers=headers, raw=raw)
                sent += 1
                # Then each answer is a 4xx with the error object (a 2xx only for a valid query the junk left valid)
                if response.status < 400:
                    assert method == "get" and "?" in path, (method, path, raw, headers, response.status)
                    continue
                assert 400 <= response.status < 500 and is_contract_error(response), (method, path, raw, headers, response)
    # And nothing was stored by any of it
    assert sent > 500
    assert stored(system) == before


def test_junk_links_and_forms_on_the_customer_page_are_4xx_and_change_nothing(system: System) -> None:
    # Given a mandate awaiting approval (so approval and revocation would change it)
    call = system.client(system.a)
    pending = make_mandate(call, make_plan(call)["id"], reference="p", active=False)
    token = pending["approval_url"].rsplit("/", 1)[1]
    before = stored(system)
    links = [
        "nonsense",
        "x.y.z",
        "bWNoX3gubWR0X3kuOTk5OTk5OTk5OTk5OTk5OTk5OTk.AAAA",  # a huge expiry, forged
        token[:-3] + "AAA",
        "%00",
        "A" * 5000,
        token + ".extra",
    ]
    forms = ["", "csrf=x", "csrf=&terms_sha256=zz&payment_token=4242424242424242&consent=yes", "%%%", "a=" + "b" * 20_000]
    headers = {"Host": "localapi01.execute-api.eu-west-1.amazonaws.com", "Content-Type": "application/x-www-form-urlencoded"}
    # When the page, its approval, its revocation and its business form are asked for with junk links and junk forms
    for link in [*links, token]:
        for suffix in ("", "/approve", "/revoke", "/business"):
            answers = [system.gateway.request("GET", f"/customer/mandates/{link}{suffix}", headers)]
            answers += [system.gateway.request("POST", f"/customer/mandates/{link}{suffix}", headers, form) for form in forms]
            # Then every answer to junk is a 4xx (the genuine link's page itself is a 200)
            for answer in answers:
                genuine_page = link == token and answer.status == 200
                assert genuine_page or 400 <= answer.status < 500, (link, suffix, answer.status)
    # And the mandate still awaits approval: nothing was stored
    assert stored(system) == before
