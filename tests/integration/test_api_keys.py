"""/v1/api_keys through the real authorizer and handler: several keys per merchant, the secret
shown once, revoked at once or rolled with an expiry, at most 10 active, isolated per merchant."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from tests.support.system import Client, ConflictingTransactions, System


def keys_of(call: Client) -> list[dict]:
    response = call("GET", "/v1/api_keys?limit=100")
    assert response.status == 200, response.body
    return response.json()["data"]


def test_a_new_key_works_its_secret_is_shown_once_and_never_stored(system: System, call: Client) -> None:
    # Given a merchant with its first key
    [first] = keys_of(call)
    assert first["object"] == "api_key" and first["status"] == "active" and first["id"].startswith("key_")
    assert "secret" not in first
    # When it creates a second key
    response = call("POST", "/v1/api_keys")
    assert response.status == 201, response.body
    created = response.json()
    secret = created["secret"]
    # Then the secret works at once, is shown in that answer only, and is stored nowhere
    assert secret.startswith("rk_live_") and created["last4"] == secret[-4:]
    assert system.client(key=secret)("GET", "/v1/plans").status == 200
    assert [k["id"] for k in keys_of(call)] == [created["id"], first["id"]]
    assert all("secret" not in k for k in keys_of(call))
    for table in system.aws.tables.values():
        assert secret.split(".")[-1] not in json.dumps(boto3.client("dynamodb").scan(TableName=table)["Items"])
    # And it is recorded as an event (without the secret)
    [event] = call("GET", "/v1/events?type=api_key.created").json()["data"]
    assert event["data"]["object"]["id"] == created["id"] and secret not in json.dumps(event)


def test_a_replayed_create_never_shows_the_secret_again(call: Client) -> None:
    # Given a key created with an Idempotency-Key
    first = call("POST", "/v1/api_keys", headers={"Idempotency-Key": "new-key"})
    # When the same request is sent again
    again = call("POST", "/v1/api_keys", headers={"Idempotency-Key": "new-key"})
    # Then it answers the same key, without its secret, and no second key exists
    assert first.status == again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"] and again.json().get("secret") is None and first.json()["secret"]
    assert len(keys_of(call)) == 2


def test_a_revoked_key_is_refused_once_the_authorizer_cache_expires(system: System, call: Client) -> None:
    # Given a second key in use
    secret = call("POST", "/v1/api_keys").json()["secret"]
    other = system.client(key=secret)
    [new, first] = keys_of(call)
    assert other("GET", "/v1/plans").status == 200
    # When the merchant revokes it (with the first key)
    revoked = call("POST", f"/v1/api_keys/{new['id']}/revoke")
    assert revoked.status == 200 and revoked.json()["status"] == "revoked"
    # Then, once the authorizer's cached answer expires, it is refused; the first key still works
    system.gateway._cache.clear()  # what the TTL does after ReauthorizeEvery seconds
    assert other("GET", "/v1/plans").status == 401
    assert call("GET", "/v1/plans").status == 200
    # And revoking it again is a 409; the event was recorded
    assert call("POST", f"/v1/api_keys/{new['id']}/revoke").status == 409
    assert [e["data"]["object"]["id"] for e in call("GET", "/v1/events?type=api_key.revoked").json()["data"]] == [new["id"]]


def test_a_rolled_key_keeps_working_until_its_expiry(system: System, call: Client) -> None:
    # Given the merchant's first key, rolled with a one-hour grace period
    [first] = keys_of(call)
    rolled = call("POST", f"/v1/api_keys/{first['id']}/revoke", {"expires_in_seconds": 3600})
    assert rolled.status == 200 and rolled.json()["expires_at"] is not None
    # When it is used within the hour, Then it still works
    system.gateway._cache.clear()
    assert call("GET", "/v1/plans").status == 200
    # When the hour has passed, Then it is refused
    system.clock.current = system.clock.now() + timedelta(hours=1, seconds=1)
    system.gateway._cache.clear()
    assert call("GET", "/v1/plans").status == 401


def test_a_grace_period_over_seven_days_is_a_422(call: Client) -> None:
    [first] = keys_of(call)
    # When a key is rolled for longer than 7 days, Then it is refused naming the field, and the key is unchanged
    response = call("POST", f"/v1/api_keys/{first['id']}/revoke", {"expires_in_seconds": 604_801})
    assert response.status == 422 and response.json()["error"]["param"] == "expires_in_seconds"
    assert keys_of(call)[0]["status"] == "active"


def test_at_most_ten_active_keys(call: Client) -> None:
    # Given a merchant with ten active keys (its first and nine more)
    for _ in range(9):
        assert call("POST", "/v1/api_keys").status == 201
    # When it asks for an eleventh, Then it is refused until one is revoked
    refused = call("POST", "/v1/api_keys")
    assert refused.status == 409 and refused.json()["error"]["type"] == "invalid_state"
    call("POST", f"/v1/api_keys/{keys_of(call)[0]['id']}/revoke")
    assert call("POST", "/v1/api_keys").status == 201


def test_a_merchant_never_sees_or_revokes_another_merchants_keys(system: System) -> None:
    # Given merchant A's key
    a, b = system.client(system.a), system.client(system.b)
    [a_key] = keys_of(a)
    # When merchant B lists keys or revokes A's, Then B sees only its own and A's key is not found
    assert a_key["id"] not in [k["id"] for k in keys_of(b)]
    assert b("POST", f"/v1/api_keys/{a_key['id']}/revoke").status == 404
    system.gateway._cache.clear()
    assert a("GET", "/v1/plans").status == 200


def test_a_key_records_when_it_was_last_used(system: System, call: Client) -> None:
    # When a key is used, Then its last use is recorded (at most hourly)
    call("GET", "/v1/plans")
    [first] = keys_of(call)
    assert first["last_used_at"] is not None


def test_a_forged_locator_or_secret_is_refused(system: System) -> None:
    # Given merchant A's real key
    real = system.a.key
    locator, secret = real.removeprefix("rk_live_").split(".")
    import base64

    other_locator = base64.urlsafe_b64encode(f"{system.b.id}.key_nope".encode()).rstrip(b"=").decode()
    # When the secret is changed, or put behind another merchant's locator, Then both are refused
    for forged in (f"rk_live_{locator}.{secret[:-1]}x", f"rk_live_{other_locator}.{secret}", "rk_live_!!.x"):
        assert system.client(key=forged)("GET", "/v1/plans").status == 401, forged


def test_racing_creations_never_pass_ten_active_keys(call: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a merchant with nine active keys (its first and eight more), and creations racing so
    # that each one's early check (the list it read) still saw room: that check is out of the way
    for _ in range(8):
        assert call("POST", "/v1/api_keys").status == 201
    from billing.domain import api_keys

    monkeypatch.setattr(api_keys, "ensure_room_for_one_more", lambda active: None)
    # When three more are created, Then the count written with each lets one through
    assert [call("POST", "/v1/api_keys").status for _ in range(3)] == [201, 409, 409]
    # And a revocation frees exactly one place (a rolling key too: it is revoked at once)
    call("POST", f"/v1/api_keys/{keys_of(call)[0]['id']}/revoke", {"expires_in_seconds": 3600})
    assert [call("POST", "/v1/api_keys").status for _ in range(2)] == [201, 409]


# ------------------------------------------------------------------ keys made before locators
def put_first_format_key(system: System, key: str, created_at: str = "2026-01-05T10:00:00.000000Z") -> None:
    """A key of the first format (`rk_live_<secret>`, no locator), stored as it was: by its digest only."""
    from billing.adapters.dynamodb import keys
    from billing.adapters.dynamodb.codec import to_attributes
    from billing.adapters.merchants import hash_key

    item = {**keys.api_key_key(hash_key(key)), "entity": "api_key", "merchant_id": system.a.id, "status": "active"}
    item["created_at"] = created_at
    boto3.client("dynamodb").put_item(TableName=system.aws.tables["BillingTable"], Item=to_attributes(item))


def migrate(system: System, capsys: pytest.CaptureFixture) -> list[dict]:
    from scripts.api_keys import main as operator

    assert operator(["--table", system.aws.tables["BillingTable"], "migrate-legacy"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_key_made_before_locators_is_listed_revoked_and_then_refused(
    system: System, call: Client, capsys: pytest.CaptureFixture
) -> None:
    # Given a key of the first format, in use
    legacy = "rk_live_" + "L" * 39 + "Wxyz"
    put_first_format_key(system, legacy)
    old = system.client(key=legacy)
    assert old("GET", "/v1/plans").status == 200
    # When the operator migrates the keys of the first format (once, after deploying)
    [adopted] = migrate(system, capsys)
    # Then the merchant lists it among its keys, as made then; its last four are not known yet
    [first] = [k for k in keys_of(call) if k["id"] != adopted["id"]]
    listed = {k["id"]: k for k in keys_of(call)}[adopted["id"]]
    assert adopted["merchant_id"] == system.a.id and listed["id"].startswith("key_")
    assert listed["status"] == "active" and listed["created_at"] == "2026-01-05T10:00:00Z"
    assert listed["last4"] is None and listed["last_used_at"] is None and "secret" not in listed
    # And the key still works; its next use shows its last four and when it was used
    system.gateway._cache.clear()
    assert old("GET", "/v1/plans").status == 200
    listed = {k["id"]: k for k in keys_of(call)}[adopted["id"]]
    assert listed["last4"] == "Wxyz" and listed["last_used_at"] is not None
    # When the merchant revokes it, like any other key
    revoked = call("POST", f"/v1/api_keys/{adopted['id']}/revoke")
    assert revoked.status == 200 and revoked.json()["status"] == "revoked"
    # Then the authorizer refuses it once its cached answer expires; the merchant's other key works
    system.gateway._cache.clear()
    assert old("GET", "/v1/plans").status == 401
    assert call("GET", "/v1/plans").status == 200 and first["status"] == "active"
    # And the revocation is an event; migrating again adopts nothing and revives nothing
    assert [e["data"]["object"]["id"] for e in call("GET", "/v1/events?type=api_key.revoked").json()["data"]] == [adopted["id"]]
    assert migrate(system, capsys) == []
    system.gateway._cache.clear()
    assert old("GET", "/v1/plans").status == 401


def test_an_adopted_key_counts_among_the_ten_active_keys(system: System, call: Client, capsys: pytest.CaptureFixture) -> None:
    # Given a merchant whose active-key count is already kept (its first key and one more)
    assert call("POST", "/v1/api_keys").status == 201
    # When its key of the first format is adopted
    put_first_format_key(system, "rk_live_" + "M" * 43)
    assert len(migrate(system, capsys)) == 1
    # Then it holds one of the ten places: seven more fit, the eighth is refused
    assert [call("POST", "/v1/api_keys").status for _ in range(8)] == [201] * 7 + [409]
    assert len([k for k in keys_of(call) if k["status"] == "active"]) == 10


def test_creations_conflicting_on_the_merchants_count_both_succeed(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given another creation holding the merchant's count in its transaction when this one commits
    # (DynamoDB cancels this one with TransactionConflict)

    billing = system.api_module.deps
    other = billing.use_cases(billing.approval_links(f"https://{system.a.id}.test")).api_keys
    writer = billing.repository.writer
    faulty = ConflictingTransactions(writer.client, times=1, race=lambda: other.create(system.a.id))
    monkeypatch.setattr(writer, "client", faulty)
    # When the merchant creates a key
    response = call("POST", "/v1/api_keys")
    # Then the creation is redone on fresh state: 201 (not a 500), and both keys exist and work
    assert response.status == 201, response.body
    assert len(keys_of(call)) == 3 and system.client(key=response.json()["secret"])("GET", "/v1/plans").status == 200
    assert len(call("GET", "/v1/events?type=api_key.created").json()["data"]) == 2


def test_a_conflicting_creation_that_took_the_last_place_leaves_a_409(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given nine active keys, and another creation taking the tenth place while this one commits
    for _ in range(8):
        assert call("POST", "/v1/api_keys").status == 201

    billing = system.api_module.deps
    other = billing.use_cases(billing.approval_links(f"https://{system.a.id}.test")).api_keys
    writer = billing.repository.writer
    monkeypatch.setattr(writer, "client", ConflictingTransactions(writer.client, times=1, race=lambda: other.create(system.a.id)))
    # When the merchant creates a key, Then it is decided again on fresh state: the limit's 409, not a 500
    response = call("POST", "/v1/api_keys")
    assert response.status == 409 and response.json()["error"]["type"] == "invalid_state", response.body
    assert len(keys_of(call)) == 10
