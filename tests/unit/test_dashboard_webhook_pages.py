"""The dashboard's webhooks page through its real routes, sessions and the API's webhook use cases
on the in-memory billing world: an owner adds an endpoint (its signing secret shown on that
response only, never on the list), rotates its secret (the new one shown once), lists its
deliveries and retries a failed one. The API's limits are form errors (422), a state the use case
refuses is 409, never a 500. A viewer's action is 403 and changes nothing, an action without the
session's CSRF token is refused, another merchant's endpoint or delivery is 404; English and
Lithuanian."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from billing.domain.webhooks import MAX_ENDPOINTS, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from billing.service.ports import Changes, PageRequest
from tests.unit.test_dashboard_owner_pages import OWNER, owner_b, post, text_of, viewer
from tests.unit.test_dashboard_security import World
from tests.world import MERCHANT

HOOK = {"url": "https://shop.example/hooks", "events": "charge.succeeded, charge.failed", "description": "Shop"}


@pytest.fixture
def world() -> World:
    return World()


def endpoints_of(world: World, merchant: str = MERCHANT) -> list[WebhookEndpoint]:
    return [e for e in world.billing.repo.page(WebhookEndpoint, merchant, PageRequest(100)).data if not e.deleted]


def secret_on(body: str) -> str:
    return re.search(r'value="([^"]+)" id="new-secret"', body).group(1)  # type: ignore[union-attr]


def endpoint(world: World, merchant: str = MERCHANT) -> str:
    made = post(world, "/dashboard/webhooks", OWNER if merchant == MERCHANT else owner_b(world), HOOK)
    assert made.status == 201, made.body
    return re.search(r'data-endpoint-id="(we_[A-Za-z0-9_]+)"', made.body).group(1)  # type: ignore[union-attr]


def delivery(world: World, endpoint_id: str, status: str = "failed", merchant: str = MERCHANT) -> WebhookDelivery:
    now = world.billing.clock.now()
    attempt = WebhookAttempt(at=now, response_status=500 if status == "failed" else 200, duration_ms=40)
    made = WebhookDelivery(
        id=world.billing.ids.new("wd"),
        merchant_id=merchant,
        endpoint_id=endpoint_id,
        event_id="evt_1",
        event_type="charge.succeeded",
        status=status,
        attempts=[attempt] * 3,
        created_at=now - timedelta(hours=1),
        updated_at=now,
    )
    world.billing.repo.commit(Changes(put=[made]))
    return made


def test_an_owner_adds_an_endpoint_and_its_secret_is_shown_once_never_on_the_list(world: World) -> None:
    # When the owner adds an endpoint for two event types
    made = post(world, "/dashboard/webhooks", OWNER, HOOK)
    # Then it is the API's endpoint, and its secret is on this no-store response only
    assert made.status == 201 and made.headers["Cache-Control"] == "no-store"
    [hook] = endpoints_of(world)
    assert (hook.url, hook.enabled_events, hook.description) == (HOOK["url"], ["charge.succeeded", "charge.failed"], "Shop")
    secret = secret_on(made.body)
    assert secret.startswith("whsec_") and "shown this once" in made.body
    assert world.secret_box.open(hook.sealed_secret, MERCHANT, hook.id) == secret
    listed = world.request("GET", "/dashboard/webhooks", OWNER)
    assert listed.status == 200 and f'data-endpoint-id="{hook.id}"' in listed.body
    assert secret not in listed.body and "charge.succeeded, charge.failed" in listed.body and "enabled" in listed.body


def test_an_empty_event_list_is_every_event(world: World) -> None:
    assert post(world, "/dashboard/webhooks", OWNER, HOOK | {"events": ""}).status == 201
    assert endpoints_of(world)[0].enabled_events == ["*"]
    assert "every event" in world.request("GET", "/dashboard/webhooks", OWNER).body


def test_an_owner_rotates_a_secret_and_the_new_one_is_shown_once(world: World) -> None:
    endpoint_id = endpoint(world)
    old = world.secret_box.open(endpoints_of(world)[0].sealed_secret, MERCHANT, endpoint_id)
    rotated = post(world, f"/dashboard/webhooks/{endpoint_id}/rotate", OWNER)
    assert rotated.status == 200 and rotated.headers["Cache-Control"] == "no-store"
    new = secret_on(rotated.body)
    [hook] = endpoints_of(world)
    assert new != old and world.secret_box.open(hook.sealed_secret, MERCHANT, endpoint_id) == new
    assert "24 hours" in rotated.body
    assert new not in world.request("GET", "/dashboard/webhooks", OWNER).body


@pytest.mark.parametrize(
    "change,lang,message",
    [
        ({"url": ""}, "en", "The URL must be one line"),
        ({"url": "https://shop.example/" + "a" * 2048}, "en", "The URL must be one line of 1 to 2048"),
        ({"url": "http://shop.example/hooks"}, "en", "must be an absolute https:// URL"),  # the use case's 422
        ({"url": "https://rebound.example/hooks"}, "en", "non-public address"),
        ({"url": "https://user:pw@shop.example/hooks"}, "en", "user name or password"),
        ({"url": "https://shop.example/a\nb"}, "en", "The URL must be one line"),
        ({"events": "charge.nope"}, "en", "Unknown event types: charge.nope"),
        ({"events": "* charge.succeeded"}, "en", "Unknown event types: *"),
        ({"events": " ".join(["charge.succeeded"] * 65)}, "en", "at most 64 event types"),
        ({"description": "d" * 501}, "en", "at most 500 characters"),
        ({"events": "charge.nope"}, "lt", "Nežinomi įvykių tipai: charge.nope"),
    ],
)
def test_an_endpoint_past_the_apis_limits_is_a_form_error_not_a_500(
    world: World, change: dict[str, str], lang: str, message: str
) -> None:
    response = post(world, f"/dashboard/webhooks?lang={lang}", OWNER, HOOK | change)
    assert response.status == 422 and 'role="alert"' in response.body, response.body
    assert message in text_of(response.body)
    assert endpoints_of(world) == [] and 'id="new-secret"' not in response.body
    assert 'name="url"' in response.body  # the form again, with what was typed


def test_the_seventeenth_endpoint_is_409(world: World) -> None:
    for _ in range(MAX_ENDPOINTS):
        endpoint(world)
    refused = post(world, "/dashboard/webhooks", OWNER, HOOK)
    assert refused.status == 409 and "at most 16" in refused.body and len(endpoints_of(world)) == MAX_ENDPOINTS


def test_an_owner_lists_an_endpoints_deliveries_and_retries_a_failed_one(world: World) -> None:
    endpoint_id = endpoint(world)
    failed, succeeded = delivery(world, endpoint_id), delivery(world, endpoint_id, "succeeded")
    page = world.request("GET", f"/dashboard/webhooks/{endpoint_id}/deliveries", OWNER)
    assert (
        page.status == 200
        and f'data-delivery-id="{failed.id}"' in page.body
        and f'data-delivery-id="{succeeded.id}"' in page.body
    )
    assert "charge.succeeded" in page.body and "failed" in page.body and "500" in page.body
    assert f"/deliveries/{failed.id}/retry" in page.body and f"/deliveries/{succeeded.id}/retry" not in page.body
    # When the owner retries the failed one, Then it is pending again and woken at once
    done = post(world, f"/dashboard/webhooks/{endpoint_id}/deliveries/{failed.id}/retry", OWNER)
    assert done.status == 303 and done.headers["Location"] == f"/dashboard/webhooks/{endpoint_id}/deliveries?done=retried"
    assert world.billing.repo.get(WebhookDelivery, MERCHANT, failed.id).status == "pending"  # type: ignore[union-attr]
    assert world.webhook_queue.woken == [(MERCHANT, failed.id)]
    assert "attempted again" in world.request("GET", done.headers["Location"], OWNER).body
    # And a succeeded one is the use case's 409, not a 500
    again = post(world, f"/dashboard/webhooks/{endpoint_id}/deliveries/{succeeded.id}/retry", OWNER)
    assert again.status == 409 and 'role="alert"' in again.body


def _state(world: World) -> object:
    return [(e.id, e.sealed_secret, e.url, e.status) for e in endpoints_of(world)], world.webhook_queue.woken[:]


def _actions(world: World) -> list[tuple[str, dict[str, str]]]:
    endpoint_id = endpoint(world)
    failed = delivery(world, endpoint_id)
    world.webhook_queue.woken.clear()
    return [
        ("/dashboard/webhooks", HOOK),
        (f"/dashboard/webhooks/{endpoint_id}/rotate", {}),
        (f"/dashboard/webhooks/{endpoint_id}/deliveries/{failed.id}/retry", {}),
        (f"/dashboard/webhooks/{endpoint_id}/status", {"status": "disabled"}),
        (f"/dashboard/webhooks/{endpoint_id}/delete", {}),
    ]


def test_a_viewers_every_action_is_403_and_changes_nothing(world: World) -> None:
    for path, form in _actions(world):
        before = _state(world)
        response = post(world, path, viewer(world), form)
        assert response.status == 403 and "Only an owner" in response.body, path
        assert _state(world) == before
    endpoint_id = endpoints_of(world)[0].id
    # The delete's confirmation step is an owner's too
    confirm = world.request("GET", f"/dashboard/webhooks/{endpoint_id}/delete", viewer(world))
    assert confirm.status == 403 and "Only an owner" in confirm.body
    for page in ("webhooks", f"webhooks/{endpoint_id}/deliveries"):
        body = world.request("GET", f"/dashboard/{page}", viewer(world)).body
        assert 'method="post" action="/dashboard/webhooks' not in body, page


def test_an_action_without_the_sessions_csrf_token_is_refused(world: World) -> None:
    for path, form in _actions(world):
        before = _state(world)
        assert post(world, path, OWNER, form, csrf=False).status == 403, path
        assert post(world, path, OWNER, form | {"csrf": "forged"}, csrf=False).status == 403, path
        assert _state(world) == before


def test_another_merchants_endpoint_and_delivery_are_404_and_unchanged(world: World) -> None:
    actions = _actions(world)
    endpoint_id = endpoints_of(world)[0].id
    delivery_id = actions[2][0].split("/")[-2]
    other = owner_b(world)
    before = _state(world)
    for path, form in actions[1:]:
        assert post(world, path, other, form).status == 404, path
    assert world.request("GET", f"/dashboard/webhooks/{endpoint_id}/deliveries", other).status == 404
    assert world.request("GET", f"/dashboard/webhooks/{endpoint_id}/delete", other).status == 404
    assert endpoint_id not in world.request("GET", "/dashboard/webhooks", other).body
    assert _state(world) == before
    # Another of the owner's own endpoints does not reach this one's delivery either
    mine = endpoint(world)
    assert post(world, f"/dashboard/webhooks/{mine}/deliveries/{delivery_id}/retry", OWNER).status == 404
    assert post(world, "/dashboard/webhooks/we_nope/rotate", OWNER).status == 404


def test_the_pages_speak_lithuanian_and_are_in_the_navigation(world: World) -> None:
    endpoint_id = endpoint(world)
    body = world.request("GET", "/dashboard/webhooks?lang=lt", OWNER).body
    assert "Webhook'ai" in text_of(body) and "Pakeisti slaptą raktą" in body and "įjungtas" in body
    assert 'href="/dashboard/webhooks" aria-current="page"' in body
    deliveries = world.request("GET", f"/dashboard/webhooks/{endpoint_id}/deliveries?lang=lt", OWNER).body
    assert "Pristatymų dar nėra." in deliveries
    assert 'href="/dashboard/webhooks"' in world.request("GET", "/dashboard/overview", OWNER).body


# ----------------------------------------------------------------------------- disable, enable, delete


def test_an_owner_disables_an_endpoint_and_enables_it_again(world: World) -> None:
    endpoint_id = endpoint(world)
    # When the owner disables it
    done = post(world, f"/dashboard/webhooks/{endpoint_id}/status", OWNER, {"status": "disabled"})
    # Then it is the use case's disabled endpoint, said on the page
    assert done.status == 303 and done.headers["Location"] == "/dashboard/webhooks?done=disabled"
    assert endpoints_of(world)[0].status == "disabled"
    page = world.request("GET", done.headers["Location"], OWNER)
    assert "The endpoint is disabled" in page.body and "Enable again" in page.body
    # Given it had been failing, When the owner enables it again, Then it starts afresh
    [hook] = endpoints_of(world)
    hook.failing_since = world.billing.clock.now()
    world.billing.repo.commit(Changes(put=[hook]))
    again = post(world, f"/dashboard/webhooks/{endpoint_id}/status?lang=lt", OWNER, {"status": "enabled"})
    assert again.status == 303 and endpoints_of(world)[0].status == "enabled"
    assert endpoints_of(world)[0].failing_since is None
    assert "Galinis taškas vėl įjungtas." in world.request("GET", again.headers["Location"] + "&lang=lt", OWNER).body


@pytest.mark.parametrize("status", ["", "deleted", "enabled " * 40])
def test_an_unknown_status_is_a_form_error_not_a_500(world: World, status: str) -> None:
    endpoint_id = endpoint(world)
    refused = post(world, f"/dashboard/webhooks/{endpoint_id}/status", OWNER, {"status": status})
    assert refused.status == 422 and "must be enabled or disabled" in refused.body
    assert endpoints_of(world)[0].status == "enabled"


def test_deleting_an_endpoint_asks_first_without_script_then_deletes_it(world: World) -> None:
    endpoint_id = endpoint(world)
    listed = world.request("GET", "/dashboard/webhooks", OWNER).body
    # The list links to the confirmation step; it deletes nothing by itself
    assert f'href="/dashboard/webhooks/{endpoint_id}/delete"' in listed
    # When the owner opens it, Then it names the endpoint and holds the POST form, no script
    confirm = world.request("GET", f"/dashboard/webhooks/{endpoint_id}/delete", OWNER)
    assert confirm.status == 200 and HOOK["url"] in confirm.body and "cannot be undone" in confirm.body
    assert f'method="post" action="/dashboard/webhooks/{endpoint_id}/delete"' in confirm.body
    assert f'name="csrf" value="{world.csrf(OWNER)}"' in confirm.body and 'href="/dashboard/webhooks"' in confirm.body
    assert "<script" not in confirm.body and "onclick" not in confirm.body and "style=" not in confirm.body
    assert len(endpoints_of(world)) == 1
    # When the owner confirms, Then the use case deletes it (pending deliveries stop)
    done = post(world, f"/dashboard/webhooks/{endpoint_id}/delete", OWNER)
    assert done.status == 303 and done.headers["Location"] == "/dashboard/webhooks?done=deleted"
    assert endpoints_of(world) == []
    stored = world.billing.repo.get(WebhookEndpoint, MERCHANT, endpoint_id)
    assert stored is not None and stored.deleted
    page = world.request("GET", done.headers["Location"], OWNER).body
    assert "The endpoint was deleted." in page and f'data-endpoint-id="{endpoint_id}"' not in page
    # And again (a second click, back and resubmit) is the 404 page, not a 500
    assert post(world, f"/dashboard/webhooks/{endpoint_id}/delete", OWNER).status == 404
    assert world.request("GET", f"/dashboard/webhooks/{endpoint_id}/delete", OWNER).status == 404


def test_the_confirmation_speaks_lithuanian(world: World) -> None:
    endpoint_id = endpoint(world)
    confirm = world.request("GET", f"/dashboard/webhooks/{endpoint_id}/delete?lang=lt", OWNER)
    assert confirm.status == 200 and "Ištrinti šį webhook galinį tašką?" in confirm.body and "Palikti ir grįžti" in confirm.body


# ----------------------------------------------------------------------------- the form sent twice


def form_key_on(body: str) -> str:
    """The last form key on the page: the new endpoint's form's (the rows' rotate forms come first)."""
    return re.findall(r'name="form_key" value="([A-Za-z0-9_-]+)"', body)[-1]


def test_the_form_sent_twice_adds_one_endpoint(world: World) -> None:
    # Given the page's form, whose key is this rendering's own
    page = world.request("GET", "/dashboard/webhooks", OWNER).body
    key = form_key_on(page)
    assert key != form_key_on(world.request("GET", "/dashboard/webhooks", OWNER).body)
    # When it is sent twice (a double click; back and send again)
    first = post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key})
    again = post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key})
    # Then one endpoint, its secret shown on the first answer only; the second says it was added
    assert first.status == 201 and len(endpoints_of(world)) == 1
    assert again.status == 303 and again.headers["Location"] == "/dashboard/webhooks?done=already_created"
    notice = world.request("GET", again.headers["Location"], OWNER).body
    assert "This form was sent already" in notice and secret_on(first.body) not in notice
    # And the same key in another merchant is another form
    other = post(world, "/dashboard/webhooks", owner_b(world), HOOK | {"form_key": key})
    assert other.status == 201 and len(endpoints_of(world, "mch_b")) == 1 and len(endpoints_of(world)) == 1


def test_the_same_form_with_other_values_is_409_and_a_new_rendering_adds_another(world: World) -> None:
    key = form_key_on(world.request("GET", "/dashboard/webhooks", OWNER).body)
    assert post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key}).status == 201
    changed = post(world, "/dashboard/webhooks?lang=lt", OWNER, HOOK | {"form_key": key, "url": "https://shop.example/other"})
    assert changed.status == 409 and "Ši forma jau išsiųsta" in changed.body and len(endpoints_of(world)) == 1
    fresh = form_key_on(changed.body)  # the page again: a new rendering, a new key
    assert (
        post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": fresh, "url": "https://shop.example/other"}).status == 201
    )
    assert len(endpoints_of(world)) == 2


def test_a_refused_form_corrected_is_sent_again_with_its_key(world: World) -> None:
    key = form_key_on(world.request("GET", "/dashboard/webhooks", OWNER).body)
    refused = post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key, "url": "https://rebound.example/hooks"})
    assert refused.status == 422 and endpoints_of(world) == []
    assert post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key}).status == 201 and len(endpoints_of(world)) == 1


def test_a_form_sent_again_while_the_first_still_runs_is_409(world: World) -> None:
    key = form_key_on(world.request("GET", "/dashboard/webhooks", OWNER).body)
    request = [
        "dashboard.create_webhook_endpoint",
        {"url": HOOK["url"], "enabled_events": ["charge.succeeded", "charge.failed"], "description": "Shop"},
    ]
    world.idempotency.records[(MERCHANT, f"dashboard:u-owner:{key}")] = (request, None)  # not done yet
    busy = post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key})
    assert busy.status == 409 and "This form was sent already" in busy.body and endpoints_of(world) == []


@pytest.mark.parametrize("key", ["", "short", "x" * 65, "bad key with spaces!!"])
def test_without_a_well_formed_key_the_form_adds_as_the_api_without_one(world: World, key: str) -> None:
    assert post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key}).status == 201
    assert world.idempotency.records == {} and len(endpoints_of(world)) == 1


# ----------------------------------------------------------------------------- a rotation sent twice


def rotate_key_on(body: str, endpoint_id: str) -> str:
    form = re.search(rf'action="/dashboard/webhooks/{endpoint_id}/rotate".*?</form>', body, re.S).group(0)  # type: ignore[union-attr]
    return form_key_on(form)


def test_the_rotate_form_sent_twice_rotates_once_and_shows_no_secret_again(world: World) -> None:
    # Given two endpoints; each row's rotate form carries its own key
    endpoint_id, other_id = endpoint(world), endpoint(world)
    page = world.request("GET", "/dashboard/webhooks", OWNER).body
    key, other_key = rotate_key_on(page, endpoint_id), rotate_key_on(page, other_id)
    assert key != other_key
    # When the first row's form is sent twice (a double click)
    first = post(world, f"/dashboard/webhooks/{endpoint_id}/rotate", OWNER, {"form_key": key})
    again = post(world, f"/dashboard/webhooks/{endpoint_id}/rotate", OWNER, {"form_key": key})
    # Then the secret was rotated once: the first answer's secret signs, the one before it for 24 h
    assert first.status == 200 and again.status == 303
    assert again.headers["Location"] == "/dashboard/webhooks?done=already_rotated"
    [hook] = [e for e in endpoints_of(world) if e.id == endpoint_id]
    assert world.secret_box.open(hook.sealed_secret, MERCHANT, endpoint_id) == secret_on(first.body)
    assert hook.previous_sealed_secret is not None
    # And the second answer says so, showing no secret; the stored answer holds none either
    notice = text_of(world.request("GET", again.headers["Location"], OWNER).body)
    assert "already rotated" in notice and secret_on(first.body) not in notice
    assert secret_on(first.body) not in repr(world.idempotency.records)
    # And the other row's form rotates its own endpoint; a key sent for another endpoint is 409
    assert post(world, f"/dashboard/webhooks/{other_id}/rotate", OWNER, {"form_key": other_key}).status == 200
    assert post(world, f"/dashboard/webhooks/{other_id}/rotate", OWNER, {"form_key": key}).status == 409


def test_a_rotation_sent_again_in_lithuanian_says_so(world: World) -> None:
    endpoint_id = endpoint(world)
    key = rotate_key_on(world.request("GET", "/dashboard/webhooks", OWNER).body, endpoint_id)
    assert post(world, f"/dashboard/webhooks/{endpoint_id}/rotate", OWNER, {"form_key": key}).status == 200
    again = post(world, f"/dashboard/webhooks/{endpoint_id}/rotate?lang=lt", OWNER, {"form_key": key})
    notice = world.request("GET", f"{again.headers['Location']}&lang=lt", OWNER).body
    assert "slaptasis raktas tada jau buvo pakeistas" in notice
