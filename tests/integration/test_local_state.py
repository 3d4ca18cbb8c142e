"""`make local STATE=file`: what the runtime saves on exit is what it loads on start."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import boto3

from billing.adapters.dynamodb.codec import from_attributes, to_attributes
from devtools.local import state
from devtools.provision import Provisioned


def test_the_state_file_brings_back_every_item_and_the_test_clock(aws: Provisioned, tmp_path: Path) -> None:
    # Given an item in the billing table and a test clock at a set time
    client = boto3.client("dynamodb")
    table = aws.tables["BillingTable"]
    item = {"pk": "M#mch_1#pln_1", "sk": "PLAN", "body": {"name": "Gold", "amount": 1999}, "version": 3}
    client.put_item(TableName=table, Item=to_attributes(item))
    now = datetime(2027, 2, 1, tzinfo=timezone.utc)
    path = tmp_path / "state.json"
    # When the state is saved, the item is lost, and the state is loaded again
    state.save(client, aws.tables, now, path)
    client.delete_item(TableName=table, Key=to_attributes({"pk": item["pk"], "sk": item["sk"]}))
    restored_clock = state.load(client, aws.tables, path)
    # Then the item is back exactly, and so is the clock
    stored = client.get_item(TableName=table, Key=to_attributes({"pk": item["pk"], "sk": item["sk"]}))["Item"]
    assert from_attributes(stored) == item
    assert restored_clock == now


def test_a_secret_sealed_before_a_restart_opens_after_it(aws: Provisioned, tmp_path: Path) -> None:
    # Given a webhook secret sealed with the emulated key, and the state saved
    from moto.kms.models import kms_backends

    from billing.adapters.kms import KmsSecretBox

    kms = boto3.client("kms")
    sealed = KmsSecretBox(kms, aws.keys["WebhookSecretsKey"]).seal("whsec_secret", "mch_a", "we_1")
    path = tmp_path / "state.json"
    state.save(boto3.client("dynamodb"), aws.tables, None, path, aws.keys)
    # When a new run starts with a new key (new id, new material) and restores the state
    kms_backends["123456789012"]["eu-west-1"].keys.clear()
    fresh = {"WebhookSecretsKey": kms.create_key(Description="a new run")["KeyMetadata"]["Arn"]}
    restored = state.restore_keys(fresh, path)
    # Then the run uses the saved key: the old secret opens, and new ones seal and open too
    assert restored == {"WebhookSecretsKey": aws.keys["WebhookSecretsKey"]}
    box = KmsSecretBox(kms, restored["WebhookSecretsKey"])
    assert box.open(sealed, "mch_a", "we_1") == "whsec_secret"
    assert box.open(box.seal("whsec_new", "mch_a", "we_2"), "mch_a", "we_2") == "whsec_new"


def test_the_dashboards_users_sign_in_with_the_same_password_after_a_restart(aws: Provisioned, tmp_path: Path) -> None:
    # Given a merchant's owner in the emulated pool, and the state saved
    from moto.cognitoidp.models import cognitoidp_backends

    from billing.adapters.cognito import CognitoPasswordSignIn, CognitoUserPool

    cognito = boto3.client("cognito-idp")
    pool_id, client_id = aws.user_pools["DashboardUserPool"], aws.user_pool_clients["DashboardUserPoolClient"]
    sub = CognitoUserPool(cognito, pool_id).create_user("owner@shop.example", "mch_a", "owner", password="Owner-pass-123")
    path = tmp_path / "state.json"
    state.save(boto3.client("dynamodb"), aws.tables, None, path, user_pools=aws.user_pools)
    # When a new run starts with an empty pool and restores the state
    cognitoidp_backends["123456789012"]["eu-west-1"].user_pools[pool_id].users.clear()
    state.restore_users(aws.user_pools, path)
    # Then the owner signs in with the same password, as the same user of the same merchant
    token = CognitoPasswordSignIn(cognito, lambda: client_id).sign_in("owner@shop.example", "Owner-pass-123")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert (claims["sub"], claims["custom:merchant_id"], claims["custom:role"]) == (sub, "mch_a", "owner")
