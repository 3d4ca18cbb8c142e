"""moto is provisioned once per session (tests/support/emulation.py): what one test leaves behind
is gone for the next, which starts from the stack as just provisioned."""

from __future__ import annotations

from typing import Any

import boto3

from devtools.provision import SENDER, Provisioned
from devtools.streams import TableStream
from tests.support.emulation import Emulation


def _inventory(aws: Provisioned) -> dict[str, Any]:
    """Everything a test could leave, as the AWS APIs show it."""
    dynamodb, sqs, sns = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("sns")
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    return {
        "tables": dynamodb.list_tables()["TableNames"],
        "items": {t: dynamodb.scan(TableName=t)["Count"] for t in aws.tables.values()},
        "stream": len(TableStream(boto3.DEFAULT_SESSION, aws.tables["BillingTable"]).read()),
        "queues": {
            u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=counts)["Attributes"] for u in sqs.list_queues()["QueueUrls"]
        },
        "subscriptions": sorted(s["Endpoint"] for s in sns.list_subscriptions()["Subscriptions"]),
        "secrets": sorted(s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]),
        "parameters": boto3.client("ssm").describe_parameters()["Parameters"],
        "keys": sorted(k["KeyId"] for k in boto3.client("kms").list_keys()["Keys"]),
        "sent": boto3.client("ses").get_send_quota()["SentLast24Hours"],
    }


def test_what_a_test_leaves_is_gone_after_the_reset(emulation: tuple[Emulation, Any], aws: Provisioned) -> None:
    # Given the stack as a test receives it
    provisioned = _inventory(aws)
    assert set(provisioned["items"].values()) == {0} and provisioned["stream"] == 0 and provisioned["sent"] == 0
    # When a test writes to every table, queue and topic, sends an e-mail, and creates resources of its own
    dynamodb, sqs, sns = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("sns")
    for table in aws.tables.values():
        keys = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        dynamodb.put_item(TableName=table, Item={k["AttributeName"]: {"S": "x"} for k in keys})
    for url in aws.queues.values():
        extra = {"MessageGroupId": "g", "MessageDeduplicationId": "d"} if url.endswith(".fifo") else {}
        sqs.send_message(QueueUrl=url, MessageBody="{}", **extra)
    own = sqs.create_queue(QueueName="a-test-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=own, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=aws.topics["EventsTopic"], Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=aws.topics["EventsTopic"], Message="{}")
    boto3.client("secretsmanager").create_secret(Name="rp/stripe", SecretString="sk_test")
    boto3.client("ssm").put_parameter(Name="/rp/stripe", Value="sk_test", Type="SecureString")
    boto3.client("kms").create_key(Description="a test's own key")
    boto3.client("sesv2").send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["customer@example.com"]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
    )
    assert _inventory(aws) != provisioned
    # Then after the reset between tests, the stack is as provisioned again
    emulation[0].reset()
    assert _inventory(aws) == provisioned
