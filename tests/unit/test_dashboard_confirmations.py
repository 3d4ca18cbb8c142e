"""The dashboard's owner actions made safe, through its real routes, sessions and the API's use cases
on the in-memory billing world:

- cancelling a mandate, archiving a plan, revoking an API key and removing a dashboard user go
  through a confirmation page (GET, no script) naming the object and what will happen, whose form
  (with the CSRF token) does it; the list and mandate pages link to it and hold no such POST form;
- a creation form (plan, API key, export) sent twice makes one object, the second send landing on
  the same result (an API key's secret is never shown again), bound to the signed-in user;
- a pause until a date: a date after today only (else 422 with the reason), shown on the page.

A viewer is 403 (page and action), another merchant's object is 404; English and Lithuanian."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest
from babel.dates import format_date

from billing.dashboard.views import LOCALES, moment
from tests.unit.test_dashboard_mandates import mandate
from tests.unit.test_dashboard_owner_pages import GOLD, keys_of, plans_of
from tests.unit.test_dashboard_security import OWNER, World, owner_b, token, viewer
from tests.world import MERCHANT


@pytest.fixture
def world() -> World:
    return World()


def text_of(body: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).replace("\u00a0", " ").split())


def the_form(body: str) -> tuple[str, dict[str, str]]:
    """The confirmation page's one POST form: its action and its fields."""
    [form] = re.findall(r'<form method="post" action="([^"]+)" class="confirm">(.*?)</form>', body, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[1]))
    return unescape(form[0]), fields


def form_key(body: str) -> str:
    return re.search(r'name="form_key" value="([0-9a-f]{32})"', body).group(1)  # type: ignore[union-attr]


def post(world: World, path: str, session: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return world.request("POST", path, session, {"csrf": world.csrf(session), **form})


# ----------------------------------------------------------------------------- confirmations


def test_cancelling_a_mandate_goes_through_a_page_that_names_the_customer_and_what_happens(world: World) -> None:
    # Given an active mandate of a named customer
    plan_id = world.billing.plan()
    mandate_id = mandate(world, plan_id, "cust-ona", "ona@example.lt")
    # When the owner opens the mandate's page, its cancel button is a link to the confirmation, not a POST form
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body
    assert f'action="/dashboard/mandates/{mandate_id}/cancel"' not in page
    assert f'href="/dashboard/mandates/{mandate_id}/cancel"' in page
    # And the confirmation names the customer, the terms and what cancelling does, and cancels nothing yet
    shown = world.request("GET", f"/dashboard/mandates/{mandate_id}/cancel", OWNER)
    assert shown.status == 200 and world.billing.get(mandate_id).status == "active"
    words = text_of(shown.body)
    assert "Cancel the mandate of cust-ona?" in words and "ona@example.lt" in words and "€19.99" in words
    assert "No payment starts after you confirm" in words and "cannot be resumed" in words
    assert "<script" not in shown.body and " style=" not in shown.body  # nothing inline (CSP default-src 'self')
    # When the owner sends the page's form
    action, fields = the_form(shown.body)
    assert action == f"/dashboard/mandates/{mandate_id}/cancel" and fields["csrf"] == world.csrf(OWNER)
    done = world.request("POST", action, OWNER, fields)
    # Then the mandate is cancelled and its page says so
    assert done.status == 303 and done.headers["Location"] == f"/dashboard/mandates/{mandate_id}?done=cancelled"
    assert world.billing.get(mandate_id).status == "cancelled"
    # And a cancelled mandate's confirmation is refused with the reason (409), never a form
    again = world.request("GET", f"/dashboard/mandates/{mandate_id}/cancel", OWNER)
    assert again.status == 409 and 'class="confirm"' not in again.body and "cannot be done now" in again.body


def test_archiving_a_plan_goes_through_a_page_that_names_the_plan_in_lithuanian_too(world: World) -> None:
    plan_id = world.billing.plan(name="Auksinis")
    listed = world.request("GET", "/dashboard/plans", OWNER).body
    assert f'action="/dashboard/plans/{plan_id}/archive"' not in listed
    assert f'href="/dashboard/plans/{plan_id}/archive"' in listed
    shown = world.request("GET", f"/dashboard/plans/{plan_id}/archive?lang=lt", OWNER)
    words = text_of(shown.body)
    assert shown.status == 200 and "Archyvuoti planą Auksinis?" in words and "nebepriima naujų sutikimų" in words
    assert "19,99 €" in words and plan_id in words
    assert plans_of(world)[0].status == "active"  # nothing archived by looking
    action, fields = the_form(shown.body)
    done = world.request("POST", action, OWNER, fields)
    assert done.status == 303 and done.headers["Location"] == "/dashboard/plans?done=archived"
    assert plans_of(world)[0].status == "archived"


def test_revoking_an_api_key_goes_through_a_page_that_names_its_last_four_characters(world: World) -> None:
    made = world.billing.api.api_keys.create(MERCHANT)
    listed = world.request("GET", "/dashboard/api-keys", OWNER).body
    assert f'action="/dashboard/api-keys/{made.key.id}/revoke"' not in listed
    shown = world.request("GET", f"/dashboard/api-keys/{made.key.id}/revoke", OWNER)
    words = text_of(shown.body)
    assert shown.status == 200 and f"Revoke the API key ending in …{made.key.last4}?" in words
    assert "Every request made with this key is refused" in words and made.secret not in shown.body
    action, fields = the_form(shown.body)
    assert world.request("POST", action, OWNER, fields).status == 303
    assert [k.status for k in keys_of(world)] == ["revoked"]
    lt = world.request("GET", f"/dashboard/api-keys/{made.key.id}/revoke?lang=lt", OWNER)
    assert lt.status == 409 and "Dabar to padaryti negalima" in text_of(lt.body)


@pytest.mark.parametrize("what", ["mandate", "plan", "key"])
def test_a_viewer_cannot_open_a_confirmation_and_another_merchants_object_is_404(world: World, what: str) -> None:
    plan_id = world.billing.plan()
    path = {
        "mandate": lambda: f"/dashboard/mandates/{mandate(world, plan_id)}/cancel",
        "plan": lambda: f"/dashboard/plans/{plan_id}/archive",
        "key": lambda: f"/dashboard/api-keys/{world.billing.api.api_keys.create(MERCHANT).key.id}/revoke",
    }[what]()
    assert world.request("GET", path, viewer(world)).status == 403
    assert world.request("POST", path, viewer(world), {"csrf": world.csrf(viewer(world))}).status == 403  # routes.act()
    assert world.request("GET", path, owner_b(world)).status == 404
    assert world.request("POST", path, owner_b(world), {"csrf": world.csrf(owner_b(world))}).status == 404
    assert world.request("GET", path).status == 303  # signed out: to the sign-in page
    # And nothing changed
    assert plans_of(world)[0].status == "active" and all(k.status == "active" for k in keys_of(world))


def test_removing_a_user_goes_through_a_page_that_names_them_and_their_role(world: World) -> None:
    # Given an owner on the users page, and a viewer of the same merchant
    owner = token(sub=world.owner_a.user_id)
    listed = world.request("GET", "/dashboard/users", owner).body
    # Then the list links to the confirmation and holds no removing form
    assert f'href="/dashboard/users/{world.viewer_a.user_id}/remove"' in listed
    assert f'action="/dashboard/users/{world.viewer_a.user_id}/remove"' not in listed
    # When the owner opens it
    shown = world.request("GET", f"/dashboard/users/{world.viewer_a.user_id}/remove", owner)
    words = text_of(shown.body)
    # Then it names the user by e-mail and role, says what happens, and removed nobody yet
    assert shown.status == 200 and "Remove the user viewer@a.example?" in words and "Role viewer" in words
    assert "can no longer sign in" in words
    assert world.members.get("mch_a", world.viewer_a.user_id) is not None and world.viewer_a.user_id in world.pool.users
    # And in Lithuanian too
    lt = text_of(world.request("GET", f"/dashboard/users/{world.viewer_a.user_id}/remove?lang=lt", owner).body)
    assert "Pašalinti naudotoją viewer@a.example?" in lt and "Taip, pašalinti naudotoją" in lt
    # When the owner confirms, Then the user is removed (the POST unchanged)
    action, fields = the_form(shown.body)
    removed = world.request("POST", action, owner, fields)
    assert removed.status == 303 and removed.headers["Location"] == "/dashboard/users?done=removed"
    assert world.members.get("mch_a", world.viewer_a.user_id) is None and world.viewer_a.user_id not in world.pool.users


def test_a_viewer_cannot_open_a_users_removal_another_merchants_user_is_404_and_an_owner_not_themselves(world: World) -> None:
    owner, viewing = token(sub=world.owner_a.user_id), token(role="viewer", sub=world.viewer_a.user_id)
    assert world.request("GET", f"/dashboard/users/{world.owner_a.user_id}/remove", viewing).status == 403
    assert world.request("GET", f"/dashboard/users/{world.owner_b.user_id}/remove", owner).status == 404
    assert world.request("GET", "/dashboard/users/no-such-user/remove", owner).status == 404
    themselves = world.request("GET", f"/dashboard/users/{world.owner_a.user_id}/remove", owner)
    assert themselves.status == 409 and "You cannot remove yourself." in themselves.body
    assert world.request("GET", f"/dashboard/users/{world.viewer_a.user_id}/remove").status == 303  # signed out
    # And nobody was removed
    assert {world.owner_a.user_id, world.viewer_a.user_id, world.owner_b.user_id} <= set(world.pool.users)
    assert [m.user_id for m in world.members.list("mch_b")] == [world.owner_b.user_id]


# ----------------------------------------------------------------------------- forms sent twice


def test_a_plan_form_sent_twice_makes_one_plan_and_both_land_on_the_list(world: World) -> None:
    key = form_key(world.request("GET", "/dashboard/plans", OWNER).body)
    first = post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": key})
    second = post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": key})  # a double click, a back and send
    assert first.status == second.status == 303
    assert first.headers["Location"] == second.headers["Location"] == "/dashboard/plans?done=created"
    assert [p.name for p in plans_of(world)] == ["Gold"]
    # And each render carries a fresh key: the next form makes the next plan
    other = form_key(world.request("GET", "/dashboard/plans", OWNER).body)
    assert other != key
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": other}).status == 303
    assert len(plans_of(world)) == 2


def test_the_same_form_key_with_other_values_makes_nothing_more_and_says_why(world: World) -> None:
    key = form_key(world.request("GET", "/dashboard/plans", OWNER).body)
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": key}).status == 303
    changed = post(world, "/dashboard/plans", OWNER, GOLD | {"name": "Silver", "form_key": key})
    assert changed.status == 409 and "already sent with other values" in text_of(changed.body)
    assert [p.name for p in plans_of(world)] == ["Gold"]
    assert form_key(changed.body) != key  # the page again, with a new form


def test_a_refused_form_can_be_corrected_and_sent_with_its_key(world: World) -> None:
    key = form_key(world.request("GET", "/dashboard/plans", OWNER).body)
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"amount": "0", "form_key": key}).status == 422
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": key}).status == 303
    assert len(plans_of(world)) == 1


def test_another_users_form_key_replays_nothing_of_theirs(world: World) -> None:
    # Given a form key used by one owner of merchant A
    key = form_key(world.request("GET", "/dashboard/plans", OWNER).body)
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": key}).status == 303
    # When another owner of A, and the owner of B, send a form with that key
    other_owner = token(sub=world.owner_a.user_id)
    assert post(world, "/dashboard/plans", other_owner, GOLD | {"form_key": key}).status == 303
    assert post(world, "/dashboard/plans", owner_b(world), GOLD | {"form_key": key}).status == 303
    # Then each made their own plan (the key is bound to its user): no replay of another's result
    assert len(plans_of(world)) == 2 and len(plans_of(world, "mch_b")) == 1


def test_an_api_key_form_sent_twice_makes_one_key_and_never_shows_its_secret_again(world: World) -> None:
    key = form_key(world.request("GET", "/dashboard/api-keys", OWNER).body)
    first = post(world, "/dashboard/api-keys", OWNER, {"form_key": key})
    assert first.status == 201
    secret = re.search(r'class="link secret" value="([^"]+)"', first.body).group(1)  # type: ignore[union-attr]
    [made] = keys_of(world)
    # When the same form is sent again (a reload of the POST's page, a double click)
    second = post(world, "/dashboard/api-keys", OWNER, {"form_key": key})
    # Then no other key is made, and the page says it was made already, by its last four characters only
    assert second.status == 200 and len(keys_of(world)) == 1
    assert secret not in second.body and "secret" not in re.sub(r"secret was shown once", "", second.body).lower()
    assert "already created" in text_of(second.body) and f"…{made.last4}" in text_of(second.body)
    # And the stored result holds no secret
    assert secret not in repr(world.idempotency.records)
    lt = post(world, "/dashboard/api-keys?lang=lt", OWNER, {"form_key": key})
    assert "API raktas jau sukurtas" in text_of(lt.body) and secret not in lt.body


def test_a_form_sent_while_its_first_send_is_still_running_makes_nothing_and_says_so(world: World) -> None:
    # Given a key form whose first send is still running (a double click: the record is in progress)
    key = form_key(world.request("GET", "/dashboard/api-keys", OWNER).body)
    world.idempotency.records[(MERCHANT, f"dashboard:u-owner:{key}")] = (["dashboard.create_api_key", {}], None)
    # When the second click's send arrives
    second = post(world, "/dashboard/api-keys", OWNER, {"form_key": key})
    # Then it makes no key and says the form is being sent (409), never a 500
    assert second.status == 409 and "still being sent" in text_of(second.body) and keys_of(world) == []


def test_an_export_form_sent_twice_requests_one_export(world: World) -> None:
    key = form_key(world.request("GET", "/dashboard/exports", OWNER).body)
    form = {"kind": "invoices", "month": "2026-01", "form_key": key}
    sent = [post(world, "/dashboard/exports", OWNER, form) for _ in range(2)]
    assert [r.status for r in sent] == [303, 303] and sent[1].headers["Location"] == "/dashboard/exports?done=requested"
    assert len(world.export_queue.sent) == 1


def test_a_form_without_a_key_still_works_unguarded(world: World) -> None:
    assert post(world, "/dashboard/plans", OWNER, GOLD).status == 303  # a page rendered before the key existed
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": "not-a-key"}).status == 303
    assert len(plans_of(world)) == 2 and world.idempotency.records == {}


# ----------------------------------------------------------------------------- a pause until a date


def _today() -> date:
    """The dashboard's today (its clock, the one the form is checked by)."""
    from tests.unit.test_dashboard_security import Clock

    return Clock().now().date()


def _starting_later(world: World) -> str:
    """An active mandate whose first charge is due in 5 days (a date no other line of its page shows)."""
    return mandate(world, world.billing.plan(), start_at=f"{(_today() + timedelta(days=5)).isoformat()}T10:30:00Z")


def test_an_owner_pauses_until_a_date_and_the_page_shows_it_in_both_languages(world: World) -> None:
    mandate_id = _starting_later(world)
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body
    assert 'name="resume_on"' in page and f'min="{(_today() + timedelta(days=1)).isoformat()}"' in page
    day = _today() + timedelta(days=30)
    done = post(world, f"/dashboard/mandates/{mandate_id}/pause", OWNER, {"resume_on": day.isoformat()})
    assert done.status == 303 and done.headers["Location"] == f"/dashboard/mandates/{mandate_id}?done=paused"
    paused = world.billing.get(mandate_id)
    assert paused.status == "paused" and paused.resume_at == datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    en = text_of(world.request("GET", f"/dashboard/mandates/{mandate_id}?lang=en", OWNER).body)
    lt = text_of(world.request("GET", f"/dashboard/mandates/{mandate_id}?lang=lt", OWNER).body)
    assert f"Resumes on: {format_date(day, 'medium', locale=LOCALES['en'])}" in en
    assert f"Atnaujinama: {format_date(day, 'medium', locale=LOCALES['lt'])}" in lt
    # And instead of the next charge from before the pause (which the pause may skip)
    stale = paused.next_charge_at
    assert stale is not None
    assert "Next charge" not in en and moment(stale, "en") not in en
    assert "Kitas mokėjimas" not in lt and moment(stale, "lt") not in lt


def test_a_pause_without_a_date_lasts_until_resumed(world: World) -> None:
    mandate_id = _starting_later(world)
    assert post(world, f"/dashboard/mandates/{mandate_id}/pause", OWNER, {"resume_on": ""}).status == 303
    assert world.billing.get(mandate_id).resume_at is None
    before = world.billing.get(mandate_id).next_charge_at
    assert before is not None
    en = text_of(world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body)
    lt = text_of(world.request("GET", f"/dashboard/mandates/{mandate_id}?lang=lt", OWNER).body)
    # Then the page says there is no next charge while paused, not the date from before the pause
    assert "Resumes on" not in en and moment(before, "en") not in en
    assert "Next charge: none while paused: charges start again once the mandate is resumed" in en
    assert "Kitas mokėjimas: nėra, kol sustabdyta" in lt and moment(before, "lt") not in lt
    # And the list shows no next charge for it either
    [row] = re.findall(
        rf'<tr data-mandate-id="{mandate_id}">(.*?)</tr>', world.request("GET", "/dashboard/mandates", OWNER).body, re.S
    )
    assert format_date(before.date(), "medium", locale=LOCALES["en"]) not in row
    # When resumed, Then a next charge date is shown again
    assert post(world, f"/dashboard/mandates/{mandate_id}/resume", OWNER, {}).status == 303
    resumed = world.billing.get(mandate_id).next_charge_at
    assert resumed is not None
    assert f"Next charge: {moment(resumed, 'en')}" in text_of(
        world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body
    )


@pytest.mark.parametrize(
    "entered,lang,says",
    [
        ("today", "en", "must be a date after today"),
        ("yesterday", "en", "must be a date after today"),
        ("2026-02-30", "en", "must be a date after today"),
        ("15/01/2027", "en", "must be a date after today"),
        ("2200-01-01", "en", "must be a date after today"),
        ("'; drop", "en", "must be a date after today"),
        ("today", "lt", "Atnaujinimo data turi būti vėlesnė nei šiandien"),
    ],
)
def test_a_resume_date_not_after_today_is_a_422_and_nothing_is_paused(world: World, entered: str, lang: str, says: str) -> None:
    mandate_id = mandate(world, world.billing.plan())
    value = {"today": _today().isoformat(), "yesterday": (_today() - timedelta(days=1)).isoformat()}.get(entered, entered)
    refused = post(world, f"/dashboard/mandates/{mandate_id}/pause?lang={lang}", OWNER, {"resume_on": value})
    assert refused.status == 422 and says in text_of(refused.body) and 'role="alert"' in refused.body
    assert world.billing.get(mandate_id).status == "active"


def test_a_viewers_pause_is_403_and_another_merchants_mandate_404(world: World) -> None:
    mandate_id = mandate(world, world.billing.plan())
    day = {"resume_on": (_today() + timedelta(days=3)).isoformat()}
    assert post(world, f"/dashboard/mandates/{mandate_id}/pause", viewer(world), day).status == 403
    assert post(world, f"/dashboard/mandates/{mandate_id}/pause", owner_b(world), day).status == 404
    assert post(world, f"/dashboard/mandates/{mandate_id}/pause", owner_b(world), {"resume_on": "bad"}).status == 404
    assert world.billing.get(mandate_id).status == "active"
