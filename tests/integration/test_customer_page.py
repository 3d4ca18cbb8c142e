"""The customer's hosted page through the API Gateway stand-in: approve with a test card,
follow, revoke; CSRF, escaping, CSP, languages, invalid and expired links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from billing.domain.model import Mandate
from tests.support.system import Client, ConflictingTransactions, System, approval_form, hidden, page, path_of, pending, post


def test_the_page_shows_what_will_be_charged_safely(system: System, call: Client) -> None:
    # Given a mandate awaiting approval, of a merchant whose name holds HTML
    mandate = pending(call)
    # When the customer opens the link
    response = page(system, path_of(mandate))
    # Then the page shows the terms and the test cards, escaped, with no script and a strict CSP
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
    body = response.body
    assert "Shop A &lt;&amp;&gt;" in body and "<&>" not in body  # escaped merchant name
    assert "€19.99" in body and "every month" in body and "7 days" in body
    assert all(token in body for token in ("pm_sim_ok", "pm_sim_insufficient_funds", "pm_sim_timeout"))
    assert "<script" not in body
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<style nonce="{nonce}">' in body
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"


def test_approve_with_a_test_card_records_the_evidence_and_activates(system: System, call: Client) -> None:
    # Given the page of a mandate awaiting approval
    mandate = pending(call)
    path = path_of(mandate)
    fields = approval_form(page(system, path).body, payment_token="pm_sim_fail_once")
    # When the customer chooses a test card, consents and approves
    response = post(system, path + "/approve", fields)
    # Then the mandate is active with that card, and the consent evidence (IP, browser, terms hash) is kept
    assert response.status == 303 and response.headers["Location"].endswith("done=approved")
    active = call("GET", f"/v1/mandates/{mandate['id']}").json()
    assert active["status"] == "active" and active["payment_method"] == {
        "gateway": "simulated",
        "token_last4": "once",
        "type": "card",
        "last4": "4242",
        "mandate_reference": None,
    }
    assert active["consent"]["ip"] == "198.51.100.7" and active["consent"]["user_agent"] == "Mozilla/5.0 (test)"
    stored = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"])
    assert stored.consent.terms_sha256 == fields["terms_sha256"]
    assert [e["type"] for e in call("GET", "/v1/events?type=mandate.activated").json()["data"]] == ["mandate.activated"]
    # The same link now shows the status and offers to revoke
    after = page(system, path + "?done=approved").body
    assert "Active" in after and "Thank you" in after and "/revoke" in after and "/approve" not in after
    assert "/payment_method" in after  # now it offers to put in another payment method instead


def test_forms_need_the_page_csrf_token_same_origin_and_consent(system: System, call: Client) -> None:
    # Given the approval form of a mandate's page
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, path).body
    good = approval_form(body, payment_token="pm_sim_ok")
    # When it is posted with a forged token, from another site, without consent or with a card number, Then it is refused
    assert post(system, path + "/approve", {**good, "csrf": "forged"}).status == 403
    assert post(system, path + "/approve", good, origin="https://evil.example").status == 403
    assert post(system, path + "/approve", {k: v for k, v in good.items() if k != "consent"}).status == 400
    assert post(system, path + "/approve", {**good, "payment_token": "4242424242424242"}).status == 400
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"
    # The CSRF token of one mandate's page does not work on another's
    other = path_of(pending(call))
    assert (
        post(system, other + "/approve", {**good, "terms_sha256": hidden(page(system, other).body, "terms_sha256")}).status == 403
    )


@pytest.mark.parametrize("csrf", ["żąsis", "🙂" * 40, "\u2028", "a\x00b", b"\xff\xfe", ""])
def test_a_csrf_token_of_any_text_is_refused_like_a_wrong_one(system: System, call: Client, csrf: str | bytes) -> None:
    # Given the approval form of a mandate's page
    mandate = pending(call)
    path = path_of(mandate)
    good = approval_form(page(system, path).body, payment_token="pm_sim_ok")
    # When it is posted with a CSRF field that is not ASCII (or not even UTF-8), to each form
    for action in ("approve", "payment_method", "revoke", "business"):
        response = post(system, f"{path}/{action}", {**good, "csrf": csrf})
        # Then it is refused as a wrong token is (403, the page again), never a 500
        assert response.status == 403 and "did not come from this page" in response.body, (action, response.status)
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"


def test_revoke_after_a_confirmation_step(system: System, call: Client) -> None:
    # Given a mandate the customer approved
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, path).body
    post(system, path + "/approve", approval_form(body, payment_token="pm_sim_ok"))
    # When the customer asks to revoke, Then a confirmation step comes first, with its own token
    confirm = page(system, path + "/revoke")
    assert confirm.status == 200 and "Stop all future payments" in confirm.body
    assert (
        post(system, path + "/revoke", {"csrf": hidden(body, "csrf")}).status == 403
    )  # the approve token is not the revoke token
    # When the customer confirms, Then the mandate is revoked, the merchant is told, and the page offers no revoke any more
    response = post(system, path + "/revoke", {"csrf": hidden(confirm.body, "csrf")})
    assert response.status == 303
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "revoked"
    assert call("GET", "/v1/events?type=mandate.revoked").json()["data"][0]["data"]["object"]["id"] == mandate["id"]
    assert "revoke" not in page(system, path).body.split("<main>")[1].split("Revoked")[1]


def test_a_mandate_awaiting_approval_is_not_revoked_from_the_page(system: System, call: Client) -> None:
    # Given a mandate the customer has not approved yet, and a revoke form forged with a valid token
    mandate = pending(call)
    path = path_of(mandate)
    from billing.customer_page.forms import csrf_token

    token = path.rsplit("/", 1)[1]
    csrf = csrf_token(system.api_module.deps.signing_key(), token, "revoke")
    # When the customer asks for the confirmation step, or posts the revoke form anyway
    confirm = page(system, path + "/revoke")
    response = post(system, path + "/revoke", {"csrf": csrf})
    # Then both are refused (the page offers approval instead) and the mandate still awaits approval
    assert confirm.status == 409 and response.status == 409
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"


def test_the_page_speaks_the_customers_language_unless_asked_otherwise(system: System, call: Client) -> None:
    path = path_of(pending(call))
    # When an English customer's page is asked for in Lithuanian by ?lang=, Then it is in Lithuanian
    by_query = page(system, path + "?lang=lt").body
    assert '<html lang="lt"' in by_query and "Patvirtinti" in by_query and "19,99\xa0€" in by_query
    # Otherwise it is in the customer's language (the account's default when the merchant named none), whatever the browser's
    assert '<html lang="en"' in page(system, path, **{"Accept-Language": "lt-LT,lt;q=0.9"}).body
    call("PATCH", "/v1/account", {"default_locale": "lt"})
    lithuanian = path_of(pending(call))
    assert '<html lang="lt"' in page(system, lithuanian, **{"Accept-Language": "de-DE"}).body
    assert '<html lang="en"' in page(system, lithuanian + "?lang=en").body


def test_invalid_tampered_and_expired_links(system: System, call: Client) -> None:
    # When a link is not ours or was altered, Then it is a 404
    assert page(system, "/customer/mandates/nonsense").status == 404
    mandate = pending(call)
    path = path_of(mandate)
    token = path.rsplit("/", 1)[1]
    tampered = path.replace(token, token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))
    assert page(system, tampered).status == 404
    # When a link is opened after its 7 days, Then it is a 410 saying so
    system.clock.current = system.clock.now() + timedelta(days=8)
    expired = page(system, path)
    assert expired.status == 410 and "7 days" in expired.body


def test_a_test_card_where_the_simulated_gateway_is_switched_off_is_a_clear_422(system: System, call: Client) -> None:
    # Given a deployment with AllowSimulatedGateway=false
    from billing import bootstrap
    from billing.settings import Settings
    from devtools.lambda_runtime import load_function

    settings = Settings.from_env().model_copy(update={"allow_simulated_gateway": False})
    system.customer_module = load_function("customer_page", bootstrap.Overrides(clock=system.clock, settings=settings))
    mandate = pending(call)
    path = path_of(mandate)
    # When the customer opens the link, Then no test card is offered: the page says no method can be used here
    shown = page(system, path).body
    assert "payment_token" not in shown and "cannot be used here" in shown
    # When a test card is posted anyway (a forged form with a valid token)
    from billing.customer_page.forms import csrf_token
    from billing.service.customer_portal import terms_digest

    token = path.rsplit("/", 1)[1]
    stored = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"])
    fields = {
        "csrf": csrf_token(system.api_module.deps.signing_key(), token, "approve"),
        "terms_sha256": terms_digest(stored),
        "payment_token": "pm_sim_ok",
        "consent": "yes",
    }
    response = post(system, path + "/approve", fields)
    # Then the page says the method cannot be used (never a 500), and nothing is activated
    assert response.status == 422 and "cannot be used here" in response.body
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"


def test_a_conflict_that_never_clears_is_a_page_to_try_again_not_a_500(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:

    # Given the page of a mandate awaiting approval, and DynamoDB cancelling every transaction
    mandate = pending(call)
    path = path_of(mandate)
    fields = approval_form(page(system, path).body, payment_token="pm_sim_ok")
    writer = system.customer_module.deps.repository.writer
    monkeypatch.setattr(writer, "client", ConflictingTransactions(writer.client, times=100))
    # When the customer approves
    response = post(system, path + "/approve", fields)
    # Then a page asks to try again in a moment, and nothing changed
    assert response.status == 409 and response.headers["Retry-After"] == "1"
    assert "Please try again in a moment" in response.body
    monkeypatch.undo()
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"
