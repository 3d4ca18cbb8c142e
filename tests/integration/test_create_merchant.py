"""The documented merchant command creates a merchant whose key works and is stored only hashed."""

from __future__ import annotations

import json

import boto3
import pytest

from scripts.create_merchant import main
from tests.support.system import System


def test_command_prints_a_working_key_once_and_stores_only_its_hash(system: System, capsys: pytest.CaptureFixture) -> None:
    # When `make merchant` creates a merchant
    assert main(["--name", "Acme Fitness", "--table", system.aws.tables["BillingTable"]]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["merchant_id"].startswith("mch_") and created["api_key"].startswith("rk_live_")
    # Then the key it printed works, and only its hash is stored
    assert system.client(key=created["api_key"])("GET", "/v1/plans").status == 200
    stored = json.dumps(boto3.client("dynamodb").scan(TableName=system.aws.tables["BillingTable"])["Items"])
    assert created["api_key"] not in stored and created["merchant_id"] in stored


def test_command_refuses_an_empty_name(system: System) -> None:
    # When the name is empty, Then the command refuses it
    with pytest.raises(SystemExit):
        main(["--name", "", "--table", system.aws.tables["BillingTable"]])


def test_operators_list_create_and_revoke_a_merchants_keys(system: System, capsys: pytest.CaptureFixture) -> None:
    from scripts.api_keys import main as keys

    table = ["--table", system.aws.tables["BillingTable"]]
    # When an operator creates a key for merchant A
    assert keys([*table, "create", "--merchant", system.a.id]) == 0
    created = json.loads(capsys.readouterr().out)
    # Then it works, and the list shows both keys without secrets
    assert system.client(key=created["secret"])("GET", "/v1/plans").status == 200
    assert keys([*table, "list", "--merchant", system.a.id]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2 and all("secret" not in k for k in listed)
    # When the operator revokes it, Then it is refused (after the authorizer's cache), and again is an error
    assert keys([*table, "revoke", "--merchant", system.a.id, "--key", created["id"]]) == 0
    system.gateway._cache.clear()
    assert system.client(key=created["secret"])("GET", "/v1/plans").status == 401
    assert keys([*table, "revoke", "--merchant", system.a.id, "--key", created["id"]]) == 1


def test_merchants_made_before_they_were_listed_are_listed_once_by_the_backfill(
    system: System, capsys: pytest.CaptureFixture
) -> None:
    from billing.adapters.merchants import MerchantStore
    from scripts.list_merchants import main as list_merchants

    # Given merchant A's profile as it was written before merchants were listed for the daily jobs
    client, table = boto3.client("dynamodb"), system.aws.tables["BillingTable"]
    client.update_item(
        TableName=table, Key={"pk": {"S": f"MERCHANT#{system.a.id}"}, "sk": {"S": "PROFILE"}}, UpdateExpression="REMOVE lpk, lsk"
    )
    store = MerchantStore(client, table)
    assert set(store.merchant_ids()) == {system.b.id}

    # When the operator runs the backfill, twice
    assert list_merchants(["--table", table]) == 0
    first = json.loads(capsys.readouterr().out)
    assert list_merchants(["--table", table]) == 0
    second = json.loads(capsys.readouterr().out)

    # Then A is listed (once), B was already
    assert (first, second) == ([system.a.id], [])
    assert sorted(store.merchant_ids()) == sorted([system.a.id, system.b.id])


@pytest.fixture
def outputs(system: System, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A deployed stack's outputs the operator's scripts read: the table, the dashboard's pool and
    its sign-in page."""
    import scripts.create_merchant as command

    named = {
        "BillingTableName": system.aws.tables["BillingTable"],
        "DashboardUserPoolId": system.aws.user_pools["DashboardUserPool"],
        "DashboardSignInUrl": "https://pay.example/dashboard/sign-in",
    }
    monkeypatch.setattr(command, "output_of", lambda stack, key: named[key])
    return named


def test_command_invites_the_merchants_dashboard_owner_in_the_stacks_pool(
    outputs: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    # Given a stack whose outputs name the table, the dashboard's pool and its sign-in page
    # When `make merchant OWNER=...` creates a merchant
    assert main(["--name", "Acme", "--stack", "rp", "--owner", "Ann@Acme.example"]) == 0
    created = json.loads(capsys.readouterr().out)
    # Then the owner is invited in the pool with the merchant and the owner's role (no password printed)
    assert created["owner_email"] == "ann@acme.example" and "password" not in json.dumps(created)
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=outputs["DashboardUserPoolId"], Username="ann@acme.example")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert (attributes["custom:merchant_id"], attributes["custom:role"]) == (created["merchant_id"], "owner")
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # the invitation's temporary password


def test_an_operator_invites_another_owner_to_an_existing_merchant(
    outputs: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    from scripts.invite_owner import main as invite_owner

    # Given a stack, and a merchant created there with its owner
    assert main(["--name", "Locked out", "--stack", "rp", "--owner", "first@shop.example"]) == 0
    merchant_id = json.loads(capsys.readouterr().out)["merchant_id"]
    # When the operator invites another owner (the first lost access to their e-mail)
    assert invite_owner(["--stack", "rp", "--merchant", merchant_id, "--owner", "Second@Shop.example"]) == 0
    answer = json.loads(capsys.readouterr().out)
    # Then the pool holds the new owner of that merchant, invited with a temporary password
    assert (answer["merchant_id"], answer["owner_email"]) == (merchant_id, "second@shop.example")
    pool = boto3.client("cognito-idp")
    user = pool.admin_get_user(UserPoolId=outputs["DashboardUserPoolId"], Username="second@shop.example")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert (attributes["custom:merchant_id"], attributes["custom:role"]) == (merchant_id, "owner")
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    # And the merchant's directory lists both owners
    from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers

    members = DynamoDashboardMembers(boto3.client("dynamodb"), outputs["BillingTableName"])
    assert sorted(m.email for m in members.list(merchant_id) if m.role == "owner") == [
        "first@shop.example",
        "second@shop.example",
    ]
    # And an unknown merchant is refused before anything is written
    with pytest.raises(SystemExit):
        invite_owner(["--stack", "rp", "--merchant", "mch_nobody", "--owner", "x@shop.example"])
