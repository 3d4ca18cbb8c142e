"""The dashboard on the emulated pool built from template.yaml: the real handler signs in with
e-mail and password (InitiateAuth), verifies the pool's ID tokens against its published keys,
and an owner invites and removes users in the pool; every AWS call the function makes is
checked against its role in the template (the `aws` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from billing.adapters.cognito import CognitoUserPool
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers
from billing.domain.dashboard_users import Member
from billing.domain.errors import InvalidState
from billing.service.dashboard import DashboardUsers
from devtools.gateway import ApiGateway, HttpResponse
from devtools.lambda_runtime import invoke, load_function
from devtools.provision import Provisioned
from tests.fakes import FakeClock


class Browser:
    """Cookies kept the way a browser keeps them (the dashboard's path), forms posted with them."""

    def __init__(self, gateway: ApiGateway) -> None:
        self.gateway, self.jar = gateway, {}

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> HttpResponse:
        headers = {"Host": "localhost", "Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())}
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        response = self.gateway.request(method, path, headers, body)
        for cookie in response.cookies:
            name, value = cookie.split(";")[0].split("=", 1)
            if "Max-Age=0" in cookie:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def csrf(self, path: str) -> str:
        return self.go("GET", path).body.split('name="csrf" value="')[1].split('"')[0]

    def sign_in(self, email: str, password: str) -> HttpResponse:
        return self.go(
            "POST", "/dashboard/sign-in", {"email": email, "password": password, "csrf": self.csrf("/dashboard/sign-in")}
        )


@pytest.fixture
def dashboard(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ApiGateway, DashboardUsers]]:
    from billing import bootstrap

    monkeypatch.setenv("DASHBOARD_PASSWORD_SIGN_IN", "true")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://localhost")
    module = load_function("dashboard", bootstrap.Overrides(clock=FakeClock(None)))
    gateway = ApiGateway(
        authorizer=lambda e: {}, routes=[("/dashboard", lambda e: invoke(module, e, "DashboardFunction"), False)]
    )
    pool = CognitoUserPool(boto3.client("cognito-idp"), aws.user_pools["DashboardUserPool"])
    users = DashboardUsers(pool, DynamoDashboardMembers(boto3.client("dynamodb"), aws.tables["BillingTable"]), FakeClock(None))
    yield gateway, users


def attributes(aws: Provisioned, email: str) -> dict[str, Any]:
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=aws.user_pools["DashboardUserPool"], Username=email)
    return {a["Name"]: a["Value"] for a in user["UserAttributes"]}


def test_an_owner_signs_in_invites_a_viewer_who_can_only_look_and_removes_them(aws: Provisioned, dashboard: Any) -> None:
    gateway, users = dashboard
    # Given a merchant's owner in the pool (as POST /_local/merchants creates it)
    owner, password = users.create_owner("mch_abc", "owner@shop.example")
    browser = Browser(gateway)
    # When the owner signs in with the e-mail and password
    signed_in = browser.sign_in("owner@shop.example", password)
    assert signed_in.status == 303, signed_in.body
    assert "dashboard_session" in browser.jar
    page = browser.go("GET", "/dashboard/users")
    assert page.status == 200 and "owner@shop.example" in page.body and "(owner)" in page.body
    # And invites a viewer
    invited = browser.go(
        "POST", "/dashboard/users", {"email": "viewer@shop.example", "role": "viewer", "csrf": browser.csrf("/dashboard/users")}
    )
    assert invited.status == 303, invited.body
    # Then the pool holds the viewer with the merchant and role set by the administrator
    found = attributes(aws, "viewer@shop.example")
    assert (found["custom:merchant_id"], found["custom:role"]) == ("mch_abc", "viewer")
    [viewer] = [m for m in users.members.list("mch_abc") if m.email == "viewer@shop.example"]
    # And the viewer (password set as if they had chosen it on managed login) signs in and cannot act
    boto3.client("cognito-idp").admin_set_user_password(
        UserPoolId=aws.user_pools["DashboardUserPool"], Username="viewer@shop.example", Password="Viewer-pass-123", Permanent=True
    )
    other = Browser(gateway)
    assert other.sign_in("viewer@shop.example", "Viewer-pass-123").status == 303
    refused = other.go(
        "POST", "/dashboard/users", {"email": "x@shop.example", "role": "owner", "csrf": other.csrf("/dashboard/users")}
    )
    assert refused.status == 403
    # When the owner removes the viewer, the pool no longer has them
    removed = browser.go("POST", f"/dashboard/users/{viewer.user_id}/remove", {"csrf": browser.csrf("/dashboard/users")})
    assert removed.status == 303
    with pytest.raises(boto3.client("cognito-idp").exceptions.UserNotFoundException):
        attributes(aws, "viewer@shop.example")
    assert other.sign_in("viewer@shop.example", "Viewer-pass-123").status == 401


def test_a_wrong_password_is_refused_and_counted(aws: Provisioned, dashboard: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.observability import metrics

    counted: list[str] = []
    monkeypatch.setattr(metrics, "add_metric", lambda name, **_: counted.append(name))
    gateway, users = dashboard
    users.create_owner("mch_abc", "owner@shop.example")
    response = Browser(gateway).sign_in("owner@shop.example", "Wrong-password-1")
    assert response.status == 401
    assert counted == ["DashboardSignInFailed"]  # the metric the alarm watches


def test_a_token_of_another_pool_or_client_is_refused(aws: Provisioned, dashboard: Any) -> None:
    gateway, users = dashboard
    cognito = boto3.client("cognito-idp")
    # Given a second pool (moto signs every pool's tokens with the same key: only the issuer differs)
    # and a second client of the dashboard's own pool, each with a user of the same merchant
    other_pool = cognito.create_user_pool(
        PoolName="other",
        UsernameAttributes=["email"],
        Schema=[{"Name": "merchant_id", "AttributeDataType": "String"}, {"Name": "role", "AttributeDataType": "String"}],
    )["UserPool"]["Id"]
    own_pool = aws.user_pools["DashboardUserPool"]
    tokens = []
    for pool_id in (other_pool, own_pool):
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="other",
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
            ReadAttributes=["email", "custom:merchant_id", "custom:role"],
        )["UserPoolClient"]["ClientId"]
        sub = CognitoUserPool(cognito, pool_id).create_user("owner@shop.example", "mch_abc", "owner", password="Owner-pass-123")
        users.members.put(
            "mch_abc", Member(sub, "owner@shop.example", "owner", FakeClock(None).now())
        )  # listed: only the token is wrong
        answer = cognito.initiate_auth(
            ClientId=client,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "owner@shop.example", "PASSWORD": "Owner-pass-123"},
        )
        tokens.append(answer["AuthenticationResult"]["IdToken"])
    for token in tokens:
        # When a browser brings that token as its session
        response = gateway.request("GET", "/dashboard/users", {"Host": "localhost", "Cookie": f"dashboard_session={token}"})
        # Then it is sent to sign in
        assert response.status == 303 and response.headers["Location"].endswith("/dashboard/sign-in")


def test_the_overview_reads_the_figures_kept_on_moto_with_the_dashboards_own_role(
    aws: Provisioned, system: Any, engine: Any, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing import bootstrap
    from devtools.sqs_source import SqsEventSource
    from tests.support.system import active, plan, stream_records

    # Given a merchant with two mandates charged (monthly 19.99 EUR, yearly 120.00 EUR), the events
    # published and kept by the figures function (built from the template on moto)
    monthly, yearly = plan(call), plan(call, amount=12000, interval="year")
    active(call, monthly)
    active(call, yearly)
    engine.tick()
    figures_module = load_function("figures", bootstrap.Overrides(clock=engine.clock))
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    source = SqsEventSource(
        boto3.client("sqs"), aws.queues["FiguresQueue"], lambda e: invoke(figures_module, e, "FiguresFunction")
    )
    assert source.drain().failed == 0
    # And its owner signed in to the dashboard function (the same clock)
    monkeypatch.setenv("DASHBOARD_PASSWORD_SIGN_IN", "true")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://localhost")
    module = load_function("dashboard", bootstrap.Overrides(clock=engine.clock))
    gateway = ApiGateway(
        authorizer=lambda e: {}, routes=[("/dashboard", lambda e: invoke(module, e, "DashboardFunction"), False)]
    )
    pool = CognitoUserPool(boto3.client("cognito-idp"), aws.user_pools["DashboardUserPool"])
    users = DashboardUsers(pool, DynamoDashboardMembers(boto3.client("dynamodb"), aws.tables["BillingTable"]), engine.clock)
    _, password = users.create_owner(system.a.id, "owner@a.example")
    browser = Browser(gateway)
    assert browser.sign_in("owner@a.example", password).status == 303
    # When the owner opens the overview
    page = browser.go("GET", "/dashboard/overview")
    # Then it shows the figures kept: 19.99 + 120.00 / 12 a month, 139.99 collected, 2 active, 2 new
    # (every call the dashboard function made was allowed by its role: the `aws` fixture checks)
    assert page.status == 200, page.body
    for shown in ("<dd>€29.99</dd>", "<dd>€139.99</dd>", "<dt>Active mandates</dt>\n<dd>2</dd>"):
        assert shown in page.body, shown
    assert '<svg viewBox="0 0 720 250" role="img"' in page.body


def test_an_owner_changes_a_role_in_the_directory_and_the_pool_and_the_last_owner_stays(aws: Provisioned, dashboard: Any) -> None:
    from billing.domain.dashboard_users import DashboardUser, Forbidden

    gateway, users = dashboard
    owner, password = users.create_owner("mch_abc", "owner@shop.example")
    viewer, viewer_password = users.create_owner("mch_abc", "viewer@shop.example", role="viewer")
    browser, other = Browser(gateway), Browser(gateway)
    assert browser.sign_in("owner@shop.example", password).status == 303
    assert other.sign_in("viewer@shop.example", viewer_password).status == 303
    # When the owner makes the viewer an owner (the function's own role, on the pool and the table)
    made = browser.go(
        "POST", f"/dashboard/users/{viewer.user_id}/role", {"role": "owner", "csrf": browser.csrf("/dashboard/users")}
    )
    assert made.status == 303, made.body
    # Then the directory and the pool agree, and the viewer's session (its token says viewer) acts as an owner
    assert users.members.get("mch_abc", viewer.user_id).role == "owner"  # type: ignore[union-attr]
    assert attributes(aws, "viewer@shop.example")["custom:role"] == "owner"
    assert "/role" in other.go("GET", "/dashboard/users").body
    # And the second demoted by the first can no longer demote the first (at once: the next test)
    first = DashboardUser(owner.user_id, owner.email, "mch_abc", "owner")
    second = DashboardUser(viewer.user_id, viewer.email, "mch_abc", "owner")
    users.change_role(first, viewer.user_id, "viewer")
    with pytest.raises(Forbidden):
        users.change_role(second, owner.user_id, "viewer")
    assert [m.role for m in sorted(users.members.list("mch_abc"), key=lambda m: m.email)] == ["owner", "viewer"]
    # And the last owner cannot demote themselves
    last = browser.go(
        "POST", f"/dashboard/users/{owner.user_id}/role", {"role": "viewer", "csrf": browser.csrf("/dashboard/users")}
    )
    assert last.status == 409 and attributes(aws, "owner@shop.example")["custom:role"] == "owner"


def test_signing_out_ends_a_copy_of_the_session_and_the_pools_refresh_tokens(aws: Provisioned, dashboard: Any) -> None:
    gateway, users = dashboard
    cognito, client_id = boto3.client("cognito-idp"), aws.user_pool_clients["DashboardUserPoolClient"]
    # Given an owner signed in, whose session cookie someone copied, and a refresh token of the pool's
    _, password = users.create_owner("mch_abc", "owner@shop.example")
    browser = Browser(gateway)
    assert browser.sign_in("owner@shop.example", password).status == 303
    copied = browser.jar["dashboard_session"]
    refresh = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "owner@shop.example", "PASSWORD": password},
    )["AuthenticationResult"]["RefreshToken"]
    # When the owner signs out (the function's role allows what it takes: the `aws` fixture checks)
    out = browser.go("POST", "/dashboard/sign-out", {"csrf": browser.csrf("/dashboard/users")})
    assert out.status == 303
    # Then the copied session opens nothing
    response = gateway.request("GET", "/dashboard/users", {"Host": "localhost", "Cookie": f"dashboard_session={copied}"})
    assert response.status == 303 and response.headers["Location"].endswith("/dashboard/sign-in")
    # And the pool's refresh token no longer gives a new one
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh})


def test_two_owners_removing_or_demoting_each_other_at_once_leave_one_owner(aws: Provisioned, dashboard: Any) -> None:
    from billing.domain.dashboard_users import DashboardUser, MembersChanged, owners_required

    _, users = dashboard
    members: DynamoDashboardMembers = users.members
    first, _ = users.create_owner("mch_abc", "first@shop.example")
    second, _ = users.create_owner("mch_abc", "second@shop.example")
    one = DashboardUser(first.user_id, first.email, "mch_abc", "owner")
    two = DashboardUser(second.user_id, second.email, "mch_abc", "owner")
    # Given both owners' changes decided on the same reading of the directory (two requests in flight)
    read = members.list("mch_abc")
    # When each removes the other
    members.change("mch_abc", second.user_id, None, owners_required(read, one, second.user_id, None))
    with pytest.raises(MembersChanged):
        members.change("mch_abc", first.user_id, None, owners_required(read, two, first.user_id, None))
    # Then one owner is left
    assert [m.user_id for m in members.list("mch_abc") if m.role == "owner"] == [first.user_id]
    # And given a second owner again, both demoting themselves at once: the second finds no other owner
    third, _ = users.create_owner("mch_abc", "third@shop.example")
    three = DashboardUser(third.user_id, third.email, "mch_abc", "owner")
    read = members.list("mch_abc")
    members.change("mch_abc", first.user_id, "viewer", owners_required(read, one, first.user_id, "viewer"))
    with pytest.raises(MembersChanged):
        members.change("mch_abc", third.user_id, "viewer", owners_required(read, three, third.user_id, "viewer"))
    assert [m.user_id for m in members.list("mch_abc") if m.role == "owner"] == [third.user_id]


def test_a_merchants_users_are_read_whole_across_query_pages_so_the_owner_rule_sees_every_owner(aws: Provisioned) -> None:
    from datetime import datetime, timezone

    from billing.domain.dashboard_users import DashboardUser, NoOwnerLeft, owners_required

    # Given a directory read two rows a Query page, and a merchant of five users whose second owner
    # sorts last (on the third page), and another merchant's user
    members = DynamoDashboardMembers(boto3.client("dynamodb"), aws.tables["BillingTable"], page_size=2)
    invited = datetime(2026, 1, 5, tzinfo=timezone.utc)
    roles = {"u-1": "owner", "u-2": "viewer", "u-3": "viewer", "u-4": "viewer", "u-9": "owner"}
    for user_id, role in roles.items():
        members.put("mch_many", Member(user_id, f"{user_id}@shop.example", role, invited))  # type: ignore[arg-type]
    members.put("mch_other", Member("u-5", "u-5@other.example", "owner", invited))
    # When the merchant's users are listed
    listed = members.list("mch_many")
    # Then every one of them is, and no other merchant's
    assert sorted((m.user_id, m.role) for m in listed) == sorted(roles.items())
    # And the first owner may give up their ownership, since the owner on the last page stays one
    actor = DashboardUser("u-1", "u-1@shop.example", "mch_many", "owner")
    assert owners_required(listed, actor, "u-1", "viewer") == ("u-1", "u-9")
    members.change("mch_many", "u-1", "viewer", owners_required(listed, actor, "u-1", "viewer"))
    # And then the last owner, on the last page, cannot give it up
    last = DashboardUser("u-9", "u-9@shop.example", "mch_many", "owner")
    with pytest.raises(NoOwnerLeft):
        owners_required(members.list("mch_many"), last, "u-9", "viewer")


def test_an_invitation_is_written_under_the_owners_rule_and_a_left_over_address_is_invited_again(
    aws: Provisioned, dashboard: Any
) -> None:
    import time

    from billing.domain.dashboard_users import DashboardUser, MembersChanged

    _, users = dashboard
    cognito = boto3.client("cognito-idp")
    first, _ = users.create_owner("mch_abc", "first@shop.example")
    second, _ = users.create_owner("mch_abc", "second@shop.example")
    acting_first = DashboardUser(first.user_id, first.email, "mch_abc", "owner")
    # Given the first owner demoted while their invitation is in flight (the rule read before the change)
    users.change_role(DashboardUser(second.user_id, second.email, "mch_abc", "owner"), first.user_id, "viewer")
    users.members.list = lambda merchant_id: [first, second]  # the reading taken before the demotion
    # When their invitation is written: the transaction's check refuses it, and the pool's user is taken back
    with pytest.raises(MembersChanged):
        users.invite(acting_first, "backdoor@evil.example", "owner")
    del users.members.list
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        attributes(aws, "backdoor@evil.example")
    # And given an address the pool holds that no directory lists (a removal whose pool delete failed)
    owner = DashboardUser(second.user_id, second.email, "mch_abc", "owner")
    left_over = users.invite(owner, "ona@shop.example", "viewer")
    users.members.delete("mch_abc", left_over.user_id)
    # When invited again minutes later, it is replaced by a new pool user the directory lists
    later = DashboardUsers(users.pool, users.members, FakeClock(None), wall_clock=lambda: time.time() + 600)
    again = later.invite(owner, "ona@shop.example", "viewer")
    assert again.user_id != left_over.user_id and users.members.get("mch_abc", again.user_id) is not None
    assert attributes(aws, "ona@shop.example")["sub"] == again.user_id
    # But an address another merchant's directory lists stays refused, and their user untouched
    theirs, _ = users.create_owner("mch_other", "them@other.example")
    with pytest.raises(InvalidState):
        later.invite(owner, "them@other.example", "viewer")
    assert attributes(aws, "them@other.example")["custom:merchant_id"] == "mch_other"
    assert users.members.get("mch_other", theirs.user_id) is not None


def test_a_removal_sent_again_after_the_pools_delete_failed_finishes_it(aws: Provisioned, dashboard: Any) -> None:
    import time

    from billing.domain.dashboard_users import DashboardUser
    from billing.domain.errors import NotFound

    _, users = dashboard
    owner_member, _ = users.create_owner("mch_abc", "owner@shop.example")
    owner = DashboardUser(owner_member.user_id, owner_member.email, "mch_abc", "owner")
    viewer = users.invite(owner, "viewer@shop.example", "viewer")
    # Given a removal whose directory row went and whose pool delete did not (a throttle)
    users.members.delete("mch_abc", viewer.user_id)
    # When it is sent again within an invitation's window (as another owner's invitation in flight
    # looks): the page says the user is gone (404), and the pool's user stays
    with pytest.raises(NotFound):
        users.remove(owner, viewer.user_id)
    assert attributes(aws, "viewer@shop.example")["sub"] == viewer.user_id
    # When it is sent again minutes later: the pool's user is deleted, the page says the user is gone (404)
    later = DashboardUsers(users.pool, users.members, FakeClock(None), wall_clock=lambda: time.time() + 600)
    with pytest.raises(NotFound):
        later.remove(owner, viewer.user_id)
    with pytest.raises(boto3.client("cognito-idp").exceptions.UserNotFoundException):
        attributes(aws, "viewer@shop.example")
    # And an id the pool could never hold, or an e-mail address in the id's place, removes nothing
    with pytest.raises(NotFound):
        users.remove(owner, "x" * 128)
    with pytest.raises(NotFound):
        users.remove(owner, "owner@shop.example")
    assert attributes(aws, "owner@shop.example")["sub"] == owner.user_id
