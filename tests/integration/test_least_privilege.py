"""The roles in template.yaml, as the integration suite's call checker reads them: merchant-facing
functions touch merchant data only, and the checker refuses what a role does not grant (so its
silence over the rest of the suite means something)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.lambda_runtime import running_function
from devtools.provision import Provisioned
from tests.support.iam import LeastPrivilegeRecorder, Request, Resolver, allows, role_statements


@pytest.fixture
def roles(expanded_template: dict[str, Any], aws: Provisioned) -> Any:
    resolver = Resolver(expanded_template, aws, {"StripeSecretName": ""})

    def may(function: str, request: Request) -> bool:
        return allows(role_statements(expanded_template, resolver, f"{function}Role"), request)

    return may


def table(aws: Provisioned, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:eu-west-1:123456789012:table/{aws.tables['BillingTable']}"
    return f"{arn}/index/{index}" if index else arn


@pytest.mark.parametrize("function", ["ApiFunction", "CustomerPageFunction"])
def test_merchant_facing_functions_write_merchant_data_only(roles: Any, aws: Provisioned, function: str) -> None:
    # Given a merchant-facing function's role
    # When it writes a merchant's item, a merchant profile, an API key item
    # Then only the merchant's item is allowed
    assert roles(function, Request("dynamodb:PutItem", table(aws), ("M#mch_a#mdt_1",)))
    assert not roles(function, Request("dynamodb:PutItem", table(aws), ("MERCHANT#mch_a",)))
    assert not roles(function, Request("dynamodb:PutItem", table(aws), ("APIKEY#0123abcd",)))
    # A transaction or batch mixing one foreign key with merchant keys is refused as a whole.
    assert not roles(function, Request("dynamodb:BatchGetItem", table(aws), ("M#mch_a#mdt_1", "APIKEY#0123abcd")))


def test_a_merchant_profile_is_read_only_where_it_is_shown_and_no_one_but_the_authorizer_reads_keys(
    roles: Any, aws: Provisioned
) -> None:
    # The profile (name, creation time) is the account's default: read by the page, the API and receipts, written by none
    profile = Request("dynamodb:GetItem", table(aws), ("MERCHANT#mch_a",))
    legacy_key = Request("dynamodb:GetItem", table(aws), ("APIKEY#0123abcd",))
    for function in ("CustomerPageFunction", "ApiFunction", "ReceiptsFunction", "DashboardFunction"):
        assert roles(function, profile)
        assert not roles(function, Request("dynamodb:PutItem", table(aws), ("MERCHANT#mch_a",)))
        assert not roles(function, legacy_key)
    for function in ("WebhookFanOutFunction", "WebhookDeliveryFunction", "FiguresFunction"):
        assert not roles(function, profile)
    assert not roles("FiguresFunction", legacy_key)
    assert roles("AuthorizerFunction", legacy_key)


def test_indexes_each_function_may_query(roles: Any, aws: Provisioned) -> None:
    mine = ("M#mch_a#MANDATE#0",)
    assert roles("ApiFunction", Request("dynamodb:Query", table(aws, "ListIndex"), mine))
    assert not roles("ApiFunction", Request("dynamodb:Query", table(aws, "DueIndex"), ("DUE#3",)))
    assert not roles("CustomerPageFunction", Request("dynamodb:Query", table(aws, "ListIndex"), mine))
    assert roles("DispatcherFunction", Request("dynamodb:Query", table(aws, "DueIndex"), ("DUE#3",)))
    assert not any(
        roles(f, Request("dynamodb:Scan", table(aws))) for f in ("ApiFunction", "DispatcherFunction", "ChargerFunction")
    )


def test_a_call_the_role_refuses_is_reported(expanded_template: dict[str, Any], aws: Provisioned) -> None:
    # Given the checker on a session, and code running as the API function
    recorder = LeastPrivilegeRecorder(expanded_template, aws)
    session = boto3.Session()
    recorder.attach(session)
    client = session.client("dynamodb")
    token = running_function.set("ApiFunction")
    try:
        # When that code writes a merchant profile and then reads its own merchant's item
        client.put_item(TableName=aws.tables["BillingTable"], Item={"pk": {"S": "MERCHANT#mch_a"}, "sk": {"S": "PROFILE"}})
        client.get_item(TableName=aws.tables["BillingTable"], Key={"pk": {"S": "M#mch_a#pln_1"}, "sk": {"S": "PLAN"}})
    finally:
        running_function.reset(token)
    # Then exactly the write is reported
    assert recorder.checked == 2
    assert [(d.function, d.operation, d.request.leading_keys) for d in recorder.denied] == [
        ("ApiFunction", "dynamodb:PutItem", ("MERCHANT#mch_a",))
    ]


def test_only_the_notifier_sends_e_mail_and_only_from_the_sender(roles: Any, aws: Provisioned) -> None:
    identity = "arn:aws:ses:eu-west-1:123456789012:identity/billing@example.com"
    ours = Request("ses:SendEmail", identity, context=(("ses:FromAddress", "billing@example.com"),))
    spoofed = Request("ses:SendEmail", identity, context=(("ses:FromAddress", "ceo@example.com"),))
    assert roles("NotifierFunction", ours)
    assert not roles("NotifierFunction", spoofed)
    assert not roles("ApiFunction", ours) and not roles("ReceiptsFunction", ours)


def test_the_figures_function_reads_and_writes_merchant_items_of_the_table_only(roles: Any, aws: Provisioned) -> None:
    # What it keeps of an object, and the figures' totals and days: merchant keys
    for action in ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"):
        assert roles("FiguresFunction", Request(action, table(aws), ("M#mch_a#FIGURES",)))
    # Never an index, the due index's entries, a Scan, a delete
    assert not roles("FiguresFunction", Request("dynamodb:Query", table(aws, "ListIndex"), ("M#mch_a#MANDATE#0",)))
    assert not roles("FiguresFunction", Request("dynamodb:PutItem", table(aws), ("DUE#3",)))
    assert not roles("FiguresFunction", Request("dynamodb:Scan", table(aws)))
    assert not roles("FiguresFunction", Request("dynamodb:DeleteItem", table(aws), ("M#mch_a#FIGURES",)))


def test_the_dashboard_reads_the_figures_of_merchants_only(roles: Any, aws: Provisioned) -> None:
    # The overview: one Query of the totals and a few of a currency's days (merchant keys)
    for key in ("M#mch_a#FIGURES", "M#mch_a#FIGURES#EUR"):
        assert roles("DashboardFunction", Request("dynamodb:Query", table(aws), (key,)))
    # The lists (the mandates page) query the list indexes on merchant keys only; never a Scan, nor
    # anything outside merchant data. (It writes merchant objects through the API's use cases, so
    # IAM allows writes on merchant keys: the figures' items are not told apart by key conditions.)
    assert roles("DashboardFunction", Request("dynamodb:Query", table(aws, "ListIndex"), ("M#mch_a#MANDATE#0",)))
    assert not roles("DashboardFunction", Request("dynamodb:Query", table(aws, "ListIndex"), ("APIKEY#0123abcd",)))
    assert not roles("DashboardFunction", Request("dynamodb:Scan", table(aws)))
    assert not roles("DashboardFunction", Request("dynamodb:Query", table(aws), ("APIKEY#0123abcd",)))


def test_the_dashboard_seals_webhook_secrets_but_never_opens_them(roles: Any, aws: Provisioned) -> None:
    # An owner's new or rotated endpoint secret is sealed (kms:Encrypt), as the API does; only the
    # delivery function opens one. A manual retry wakes the delivery (the webhook queue).
    key = aws.keys["WebhookSecretsKey"]
    assert roles("DashboardFunction", Request("kms:Encrypt", key))
    assert not roles("DashboardFunction", Request("kms:Decrypt", key))
    assert roles("WebhookDeliveryFunction", Request("kms:Decrypt", key))
    queue = f"arn:aws:sqs:eu-west-1:123456789012:{aws.queues['WebhookQueue'].rsplit('/', 1)[-1]}"
    assert roles("DashboardFunction", Request("sqs:SendMessage", queue))
    assert not roles("DashboardFunction", Request("sqs:ReceiveMessage", queue))
