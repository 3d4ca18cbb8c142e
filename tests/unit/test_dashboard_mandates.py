"""The dashboard's mandates through its real routes, sessions and the API's use cases on the
in-memory billing world: the list (search by reference and by e-mail, filters, cursors), a
mandate's page (terms, customer, last four digits only, charges with refunds and disputes, items,
credit, the timeline newest first, the approval link), and the owner's actions (cancel, pause,
resume, refund with the API's limits shown as form errors). A viewer's action is 403, another
merchant's mandate or charge is 404, CSRF missing or wrong is refused, a refund form sent twice
refunds once; English and Lithuanian."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from billing.api.requests import ItemCreate, MandateCreate
from billing.dashboard.headers import CONTENT_SECURITY_POLICY
from billing.service.links import ApprovalLinks
from tests.support.values import CONSENT
from tests.unit.test_dashboard_security import OWNER, World, owner_b, viewer
from tests.world import MERCHANT


@pytest.fixture
def world() -> World:
    return World()


def csrf(world: World, session: str) -> str:
    return world.csrf(session)


def mandate(world: World, plan_id: str, reference: str = "cust-42", email: str | None = None, **extra: object) -> str:
    customer: dict[str, object] = {"reference": reference} | ({"email": email} if email else {})
    body = {
        "plan_id": plan_id,
        "customer": customer,
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
        **extra,
    }
    return world.billing.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id


def paid(world: World, reference: str = "cust-42", email: str | None = "ona@example.lt") -> tuple[str, str]:
    """A mandate whose first charge (19.99 EUR) succeeded: (mandate id, charge id)."""
    plan_id = world.billing.plan()
    mandate_id = mandate(world, plan_id, reference, email)
    world.billing.tick()
    [charge] = world.billing.charges(mandate_id)
    assert charge.status == "succeeded"
    return mandate_id, charge.id


def ids_listed(body: str) -> list[str]:
    return re.findall(r'data-mandate-id="(mdt_[A-Za-z0-9]+)"', body)


def text_of(body: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", body))


# ----------------------------------------------------------------------------- the list


def test_the_list_finds_mandates_by_customer_reference_and_by_email_any_case(world: World) -> None:
    # Given three mandates of two customers (one with an e-mail address) and one of another merchant
    plan_id = world.billing.plan()
    ona = [mandate(world, plan_id, "cust-ona", "Ona@Example.lt") for _ in range(2)]
    jonas = mandate(world, plan_id, "cust-jonas")
    world.billing.api.mandates.create(
        "mch_b",
        MandateCreate.model_validate(
            {
                "plan_id": world.billing.api.plans.create("mch_b", _plan()).id,
                "customer": {"reference": "cust-ona", "email": "ona@example.lt"},
                "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                "consent": CONSENT,
            }
        ),
    )
    # When the owner searches by reference, Then exactly that customer's, newest first
    by_reference = world.request("GET", "/dashboard/mandates?q=cust-ona", OWNER)
    assert by_reference.status == 200 and ids_listed(by_reference.body) == ona[::-1]
    # And by e-mail address, in any case, the same (and the search is said to be exact and bounded)
    by_email = world.request("GET", "/dashboard/mandates?q=ONA%40example.LT", OWNER)
    assert ids_listed(by_email.body) == ona[::-1] and "up to 200 mandates" in by_email.body
    # And no query lists all of the merchant's only
    assert set(ids_listed(world.request("GET", "/dashboard/mandates", OWNER).body)) == {*ona, jonas}
    assert ids_listed(world.request("GET", "/dashboard/mandates?q=nobody", OWNER).body) == []


def _plan() -> object:
    from billing.api.requests import PlanCreate

    return PlanCreate.model_validate({"name": "B", "amount": 500, "currency": "EUR", "interval": "month"})


def test_a_mandate_id_searched_opens_its_page_only_for_its_merchant(world: World) -> None:
    mandate_id = mandate(world, world.billing.plan())
    found = world.request("GET", f"/dashboard/mandates?q={mandate_id}", OWNER)
    assert found.status == 303 and found.headers["Location"] == f"/dashboard/mandates/{mandate_id}"
    elsewhere = world.request("GET", f"/dashboard/mandates?q={mandate_id}", owner_b(world))
    assert elsewhere.status == 200 and ids_listed(elsewhere.body) == []


def test_the_list_filters_by_status_and_plan(world: World) -> None:
    gold, silver = world.billing.plan(), world.billing.plan(name="Silver", amount=999)
    on_gold, on_silver = mandate(world, gold), mandate(world, silver)
    paused = mandate(world, gold)
    world.billing.api.mandates.pause(MERCHANT, paused, None)
    assert ids_listed(world.request("GET", f"/dashboard/mandates?plan_id={silver}", OWNER).body) == [on_silver]
    assert ids_listed(world.request("GET", "/dashboard/mandates?status=paused", OWNER).body) == [paused]
    both = world.request("GET", f"/dashboard/mandates?status=active&plan_id={gold}", OWNER).body
    assert ids_listed(both) == [on_gold]
    # An unknown status is no filter (never an error page)
    assert world.request("GET", "/dashboard/mandates?status=<x>", OWNER).status == 200


def test_the_list_pages_with_cursors_and_an_altered_cursor_is_a_400_page(world: World) -> None:
    plan_id = world.billing.plan()
    made = [mandate(world, plan_id, f"cust-{n}") for n in range(25)]
    first = world.request("GET", "/dashboard/mandates", OWNER)
    assert ids_listed(first.body) == made[::-1][:20]
    older = unescape(re.search(r'href="([^"]+)" rel="next"', first.body).group(1))  # type: ignore[union-attr]
    second = world.request("GET", older, OWNER)
    assert ids_listed(second.body) == made[::-1][20:] and 'rel="next"' not in second.body
    # And the newest rows' link is the list itself (no stray "?" when no filter is set)
    assert 'href="/dashboard/mandates">Newest' in second.body
    filtered = world.request("GET", "/dashboard/mandates?status=active", OWNER).body
    older = unescape(re.search(r'href="([^"]+)" rel="next"', filtered).group(1))  # type: ignore[union-attr]
    assert older.startswith("/dashboard/mandates?status=active&cursor=")
    assert 'href="/dashboard/mandates?status=active">Newest' in world.request("GET", older, OWNER).body
    broken = world.request("GET", "/dashboard/mandates?cursor=not-a-cursor", OWNER)
    assert broken.status == 400 and "cursor" in broken.body


def test_a_search_by_email_examines_a_bounded_number_of_mandates_a_page_and_searches_on(world: World) -> None:
    # Given the customer's only mandate is older than 250 others
    plan_id = world.billing.plan()
    wanted = mandate(world, plan_id, "cust-old", "old@example.lt")
    for n in range(250):
        mandate(world, plan_id, f"cust-{n}", f"c{n}@example.lt")
    # When searched by e-mail, Then the first page holds no match but offers to search older ones
    first = world.request("GET", "/dashboard/mandates?q=old%40example.lt", OWNER)
    assert ids_listed(first.body) == [] and 'rel="next"' in first.body
    older = unescape(re.search(r'href="([^"]+)" rel="next"', first.body).group(1))  # type: ignore[union-attr]
    # And the next page finds it
    assert ids_listed(world.request("GET", older, OWNER).body) == [wanted]


# ----------------------------------------------------------------------------- a mandate's page


def test_a_mandates_page_shows_its_terms_customer_last4_charges_refunds_disputes_items_and_timeline(world: World) -> None:
    # Given a paid mandate with an item, a refund and a dispute on its charge
    mandate_id, charge_id = paid(world)
    world.billing.api.items.create(MERCHANT, mandate_id, ItemCreate.model_validate({"amount": 250, "description": "Setup <fee>"}))
    refund = world.billing.api.refunds.create(MERCHANT, charge_id, _refund(500))
    world.billing.apply(world.billing.gateway.open_dispute(charge_id, amount=300))
    # When the owner opens it
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER)
    shown = text_of(page.body)
    # Then its terms, customer, payment method (last four digits only), status, credit
    assert page.status == 200 and page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "€19.99 every 1 month(s)" in shown and "cust-42" in shown and "ona@example.lt" in shown
    assert re.search(r"Card ending in \d{4}", shown) and "pm_sim" not in page.body
    assert "active" in shown and "Credit: €0.00" in shown
    # And its charge with the refund and the dispute, and the item (escaped)
    assert f'data-charge-id="{charge_id}"' in page.body and f'data-refund-id="{refund.id}"' in page.body
    assert "data-dispute-id=" in page.body and "Setup &lt;fee&gt;" in page.body
    # And its timeline, newest first: exactly the events about it or its objects
    timeline = re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', page.body)
    events = world.billing.repo.events(MERCHANT)
    about = sorted((e for e in events if e.mandate_id == mandate_id), key=lambda e: (e.created_at, e.id), reverse=True)
    assert timeline == [e.id for e in about][:20] and len(timeline) >= 4
    assert {"mandate.created", "charge.succeeded", "refund.created"} <= {e.type for e in about}


def _refund(amount: int | None) -> object:
    from billing.api.requests import RefundCreate

    return RefundCreate.model_validate({} if amount is None else {"amount": amount})


def test_the_timeline_is_newest_first_and_pages_on(world: World) -> None:
    # Given a mandate with many events (pauses and resumes)
    plan_id = world.billing.plan()
    mandate_id = mandate(world, plan_id)
    for _ in range(12):
        world.billing.clock.current = world.billing.clock.now() + timedelta(minutes=1)
        world.billing.api.mandates.pause(MERCHANT, mandate_id, None)
        world.billing.api.mandates.resume(MERCHANT, mandate_id)
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body
    first = re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', page)
    older = unescape(re.search(r'href="([^"]+)" rel="next"', page).group(1))  # type: ignore[union-attr]
    older = older.split("#")[0]  # a browser keeps the fragment to itself
    rest = re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', world.request("GET", older, OWNER).body)
    events = [e for e in world.billing.repo.events(MERCHANT) if e.mandate_id == mandate_id]
    newest_first = [e.id for e in sorted(events, key=lambda e: (e.created_at, e.id), reverse=True)]
    assert len(first) == 20 and first + rest == newest_first
    # And the older page links back to the newest events, at the timeline
    assert f'href="/dashboard/mandates/{mandate_id}#timeline"' in world.request("GET", older, OWNER).body


def links(body: str, label: str) -> list[str]:
    """The hrefs of the links reading `label`, as a browser follows them (no fragment)."""
    return [unescape(href).split("#")[0] for href in re.findall(rf'<a href="([^"]+)"[^>]*>{label}</a>', body)]


def cursors(path: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    return {name: values[0] for name, values in parse_qs(urlsplit(path).query).items()}


def test_the_charges_and_the_timeline_page_each_keeping_the_others_cursor(world: World) -> None:
    # Given a daily mandate with more than a page of charges and more than a page of events
    plan_id = world.billing.plan(interval="day")
    mandate_id = mandate(world, plan_id)
    for _ in range(24):
        world.billing.tick()
        world.billing.clock.current = world.billing.clock.now() + timedelta(days=1)
    world.billing.tick()
    charges = sorted(world.billing.charges(mandate_id), key=lambda c: (c.created_at, c.id), reverse=True)
    events = [e for e in world.billing.repo.events(MERCHANT) if e.mandate_id == mandate_id]
    assert len(charges) > 20 and len(events) > 20
    here = f"/dashboard/mandates/{mandate_id}"
    first = world.request("GET", here, OWNER).body
    assert "Newest charges" not in first and "Newest events" not in first

    # When the owner pages the charges, then the timeline
    [older_charges] = links(first, "Older charges")
    charges_page = world.request("GET", older_charges, OWNER)
    [older_events] = links(charges_page.body, "Older events")
    both = world.request("GET", older_events, OWNER)

    # Then the second page of events keeps the second page of charges: both cursors in the address
    assert charges_page.status == both.status == 200
    kept = cursors(older_events)
    assert set(kept) == {"charges", "events"} and kept["charges"] == cursors(older_charges)["charges"]
    shown_charges = re.findall(r'data-charge-id="([^"]+)"', both.body)
    assert shown_charges == [c.id for c in charges][20:40]
    assert re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', both.body)[0] not in first
    # And the other way round: paging the charges from there keeps the events' cursor
    [newest_charges] = links(both.body, "Newest charges")
    assert cursors(newest_charges) == {"events": kept["events"]}
    back = world.request("GET", newest_charges, OWNER).body
    assert re.findall(r'data-charge-id="([^"]+)"', back) == [c.id for c in charges][:20]
    assert re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', back) == re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', both.body)
    [older_again] = links(back, "Older charges")
    assert cursors(older_again) == {"events": kept["events"], "charges": kept["charges"]}
    # And the newest events keep the charges' cursor, at the timeline (and the newest charges at the charges)
    assert f'href="{here}?charges={kept["charges"]}#timeline">Newest events' in both.body.replace("&amp;", "&")
    assert f'href="{here}?events={kept["events"]}#charges">Newest charges' in both.body.replace("&amp;", "&")
    assert 'id="charges"' in both.body and 'id="timeline"' in both.body
    # And nothing inline: no script or style element or attribute
    assert not re.search(r"<script>|<style|\sstyle=|\son[a-z]+=", both.body)

    # And in Lithuanian the same links
    lt = world.request("GET", f"{older_events}&lang=lt", OWNER).body
    assert "Naujausi mokėjimai" in lt and "Naujausi įvykiai" in lt and "Newest" not in lt

    # And a bad cursor beside a good one is still a clear 400, never a 500
    for query in (f"charges={kept['charges']}&events=zzz", f"events={kept['events']}&charges=zzz", f"charges={kept['events']}"):
        refused = world.request("GET", f"{here}?{query}", OWNER)
        assert refused.status == 400 and "cursor" in refused.body, query
    # And another merchant's mandate is 404 with both cursors
    assert world.request("GET", older_events, owner_b(world)).status == 404


def test_a_pending_mandate_shows_the_apis_approval_link_to_an_owner_only(world: World) -> None:
    plan_id = world.billing.plan()
    body = {"plan_id": plan_id, "customer": {"reference": "cust-new"}}
    pending = world.billing.api.mandates.create(MERCHANT, MandateCreate.model_validate(body))
    assert pending.status == "pending_approval"
    link = ApprovalLinks(b"k" * 32, "https://localhost").approval_url(pending)
    assert link
    page = world.request("GET", f"/dashboard/mandates/{pending.id}", OWNER).body
    assert f'value="{link}"' in page and 'data-copy="approval-link"' in page
    assert link not in world.request("GET", f"/dashboard/mandates/{pending.id}", viewer(world)).body
    # And the copy button's script is the dashboard's own file (the CSP allows nothing inline)
    assert '<script src="/dashboard/static/mandates.js" defer></script>' in page and "<script>" not in page
    script = world.request("GET", "/dashboard/static/mandates.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "navigator.clipboard.writeText" in script.body


# ----------------------------------------------------------------------------- actions


def test_an_owner_pauses_resumes_and_cancels_a_mandate(world: World) -> None:
    plan_id = world.billing.plan()
    mandate_id = mandate(world, plan_id)
    for action, status in (("pause", "paused"), ("resume", "active"), ("cancel", "cancelled")):
        done = world.request("POST", f"/dashboard/mandates/{mandate_id}/{action}", OWNER, {"csrf": csrf(world, OWNER)})
        assert done.status == 303 and done.headers["Location"].startswith(f"/dashboard/mandates/{mandate_id}?done=")
        assert world.billing.get(mandate_id).status == status
    # And an action the mandate's status refuses is the use case's message on its page (409), never a 500
    again = world.request("POST", f"/dashboard/mandates/{mandate_id}/pause", OWNER, {"csrf": csrf(world, OWNER)})
    assert again.status == 409 and 'role="alert"' in again.body


def test_an_owner_refunds_part_of_a_charge_and_the_form_sent_twice_refunds_once(world: World) -> None:
    mandate_id, charge_id = paid(world)
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body
    left = re.search(r'name="left" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf(world, OWNER), "left": left, "amount": "5,50", "reason": "requested_by_customer"}
    first = world.request("POST", f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund", OWNER, form)
    assert first.status == 303 and first.headers["Location"].endswith("?done=refunded")
    # When the same form is posted again (a double click, a reload)
    second = world.request("POST", f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund", OWNER, form)
    # Then nothing more is refunded, and the page says why
    assert second.status == 409 and "nothing was refunded" in second.body
    assert [r.amount for r in world.billing.repo.refunds(MERCHANT)] == [550]


@pytest.mark.parametrize(
    "amount,lang,message",
    [
        ("20.00", "en", "The amount must be between €0.01 and €19.99."),
        ("0", "en", "The amount must be between €0.01 and €19.99."),
        ("1.005", "en", "at most 2 decimal places"),
        ("abc", "en", "at most 2 decimal places"),
        ("1e99999999", "en", "at most 2 decimal places"),  # Decimal's overflow was a 500
        ("1e999990", "en", "at most 2 decimal places"),  # a number of a million digits: seconds of CPU
        ("20,00", "lt", "Suma turi būti nuo 0,01 € iki 19,99 €."),
    ],
)
def test_a_refund_past_the_apis_limits_is_a_form_error_not_a_500(world: World, amount: str, lang: str, message: str) -> None:
    mandate_id, charge_id = paid(world)
    form = {"csrf": csrf(world, OWNER), "left": "1999", "amount": amount, "reason": "duplicate"}
    response = world.request("POST", f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund?lang={lang}", OWNER, form)
    assert response.status == 422 and message in unescape(response.body).replace("\u00a0", " ")
    assert world.billing.repo.refunds(MERCHANT) == []


def test_a_charge_not_succeeded_cannot_be_refunded_and_says_why(world: World) -> None:
    plan_id = world.billing.plan()
    mandate_id = mandate(world, plan_id)
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_insufficient_funds"},
    }
    failing = world.billing.api.mandates.create(MERCHANT, MandateCreate.model_validate(body | {"consent": CONSENT})).id
    world.billing.tick()
    [charge] = world.billing.charges(failing)
    assert charge.status != "succeeded" and mandate_id
    form = {"csrf": csrf(world, OWNER), "left": "0", "amount": "1", "reason": "other"}
    response = world.request("POST", f"/dashboard/mandates/{failing}/charges/{charge.id}/refund", OWNER, form)
    assert response.status == 409 and "Only a succeeded charge can be refunded" in response.body
    assert world.billing.repo.refunds(MERCHANT) == []


ACTIONS = ["cancel", "pause", "resume", "refund"]


def _post(world: World, session: str, action: str, mandate_id: str, charge_id: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    path = f"/dashboard/mandates/{mandate_id}/{action}"
    if action == "refund":
        path = f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund"
        form = form | {"left": "1999", "amount": "1", "reason": "other"}
    return world.request("POST", path, session, form)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_viewers_every_action_is_403_and_changes_nothing(world: World, action: str) -> None:
    mandate_id, charge_id = paid(world)
    if action == "resume":
        world.billing.api.mandates.pause(MERCHANT, mandate_id, None)
    before = world.billing.get(mandate_id).status
    session = viewer(world)
    response = _post(world, session, action, mandate_id, charge_id, {"csrf": csrf(world, session)})
    assert response.status == 403 and "Only an owner" in response.body
    assert world.billing.get(mandate_id).status == before and world.billing.repo.refunds(MERCHANT) == []
    # And the viewer's page offers no action
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}", session).body
    assert 'method="post" action="/dashboard/mandates' not in page and "Only an owner can change" in page


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("token_sent", [None, "", "0" * 48])
def test_an_action_without_the_sessions_csrf_token_is_refused(world: World, action: str, token_sent: str | None) -> None:
    mandate_id, charge_id = paid(world)
    form = {} if token_sent is None else {"csrf": token_sent}
    response = _post(world, OWNER, action, mandate_id, charge_id, form)
    assert response.status == 403 and "form expired" in response.body
    assert world.billing.get(mandate_id).status == "active" and world.billing.repo.refunds(MERCHANT) == []


@pytest.mark.parametrize("action", ACTIONS)
def test_another_merchants_mandate_and_charge_are_404(world: World, action: str) -> None:
    # Given merchant A's paid mandate, and the owner of merchant B
    mandate_id, charge_id = paid(world)
    other = owner_b(world)
    # Then B cannot see it, nor act on it, nor refund its charge
    assert world.request("GET", f"/dashboard/mandates/{mandate_id}", other).status == 404
    response = _post(world, other, action, mandate_id, charge_id, {"csrf": csrf(world, other)})
    assert response.status == 404
    assert world.billing.get(mandate_id).status == "active" and world.billing.repo.refunds(MERCHANT) == []
    assert mandate_id not in world.request("GET", "/dashboard/mandates", other).body


def test_a_charge_of_another_mandate_is_404(world: World) -> None:
    first, charge_id = paid(world, "cust-1")
    second, _ = paid(world, "cust-2")
    form = {"csrf": csrf(world, OWNER), "left": "1999", "amount": "1", "reason": "other"}
    response = world.request("POST", f"/dashboard/mandates/{second}/charges/{charge_id}/refund", OWNER, form)
    assert response.status == 404 and world.billing.repo.refunds(MERCHANT) == [] and first


def test_the_mandate_pages_speak_lithuanian(world: World) -> None:
    mandate_id, _ = paid(world)
    # The switch on a mandate's page stays on it
    english = world.request("GET", f"/dashboard/mandates/{mandate_id}", OWNER).body
    assert f'href="/dashboard/mandates/{mandate_id}?lang=lt"' in english
    page = world.request("GET", f"/dashboard/mandates/{mandate_id}?lang=lt", OWNER)
    shown = text_of(page.body).replace("\u00a0", " ")
    assert 'lang="lt"' in page.body and "Įvykių eiga" in shown and "19,99 € kas 1 mėn." in shown
    assert "Atšaukti sutikimą" in shown and "aktyvus" in shown
    listed = text_of(world.request("GET", "/dashboard/mandates?lang=lt", OWNER).body)
    assert "Sutikimai" in listed and "Kliento nuoroda arba el. paštas" in listed


# ----------------------------------------------------------------------------- the use case's guard


def test_the_refund_use_case_refunds_only_if_what_is_left_is_what_the_form_saw_and_of_the_mandate_named(world: World) -> None:
    from billing.domain.errors import InvalidState, NotFound

    mandate_id, charge_id = paid(world)
    refunds = world.billing.api.refunds
    # Given two copies of one form (both saw 19.99 left): the first refunds
    refunds.create(MERCHANT, charge_id, _refund(100), if_refundable=1999, mandate_id=mandate_id)  # type: ignore[arg-type]
    # When the second arrives, even past the dashboard's own check, Then it is refused, nothing more refunded
    with pytest.raises(InvalidState, match="nothing was refunded"):
        refunds.create(MERCHANT, charge_id, _refund(100), if_refundable=1999, mandate_id=mandate_id)  # type: ignore[arg-type]
    # And a charge named under another mandate is not found
    with pytest.raises(NotFound):
        refunds.create(MERCHANT, charge_id, _refund(100), mandate_id="mdt_other")  # type: ignore[arg-type]
    assert [r.amount for r in world.billing.repo.refunds(MERCHANT)] == [100]


def test_a_form_sent_twice_says_so_in_lithuanian(world: World) -> None:
    mandate_id, charge_id = paid(world)
    form = {"csrf": csrf(world, OWNER), "left": "1999", "amount": "1", "reason": "other"}
    path = f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund?lang=lt"
    assert world.request("POST", path, OWNER, form).status == 303
    again = world.request("POST", path, OWNER, form)
    assert again.status == 409 and "nieko negrąžinta" in again.body
