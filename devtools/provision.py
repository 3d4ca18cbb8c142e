"""Create the template's stateful resources on an AWS emulation (moto), from template.yaml's own
definitions, so that tests, the local runtime and the cloud cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .template import load_template, resources

# The SES identity e-mails come from (the template's SenderEmail default), verified in the emulation.
SENDER = str(load_template()["Parameters"]["SenderEmail"]["Default"])

# CreateTable takes these properties as they are in the template; the rest are separate calls
# (TTL) or settings that an emulation does not need (PITR, SSE).
_CREATE_TABLE_PROPS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode", "StreamSpecification")


@dataclass
class Provisioned:
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> topic arn
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue url
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> secret arn
    keys: dict[str, str] = field(default_factory=dict)  # logical id -> KMS key arn
    configuration_sets: dict[str, str] = field(default_factory=dict)  # logical id -> SES configuration set name
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> S3 bucket name

    def env(self) -> dict[str, str]:
        """The environment variables the template gives the functions."""
        return {
            "TABLE_NAME": self.tables["BillingTable"],
            "IDEMPOTENCY_TABLE_NAME": self.tables["IdempotencyTable"],
            "EVENTS_TOPIC_ARN": self.topics["EventsTopic"],
            "LINK_SIGNING_SECRET_ARN": self.secrets["LinkSigningSecret"],
            "CHARGE_QUEUE_URL": self.queues["ChargeQueue"],
            "UNPUBLISHED_EVENTS_QUEUE_URL": self.queues["EventPublisherDLQ"],
            "GATEWAY_LEDGER_TABLE_NAME": self.tables["SimulatedGatewayLedgerTable"],
            "WEBHOOK_KEY_ARN": self.keys["WebhookSecretsKey"],
            "WEBHOOK_QUEUE_URL": self.queues["WebhookQueue"],
            "RECEIPT_QUEUE_URL": self.queues["ReceiptQueue"],
            "NOTIFY_QUEUE_URL": self.queues["NotifyQueue"],
            "GATEWAY_EVENTS_QUEUE_URL": self.queues["GatewayEventsQueue"],
            "RECONCILE_QUEUE_URL": self.queues["ReconcileQueue"],
            "STRIPE_WEBHOOK_SECRET_ARN": self.secrets["StripeWebhookSecret"],
            "SENDER_EMAIL": SENDER,
            "SES_CONFIGURATION_SET": self.configuration_sets["MailConfigurationSet"],
            "EXPORT_QUEUE_URL": self.queues["ExportQueue"],
            "EXPORT_BUCKET_NAME": self.buckets["ExportBucket"],
        }


def provision(session: Any, prefix: str = "rp") -> Provisioned:
    out = Provisioned()
    dynamodb = session.client("dynamodb")
    for logical_id, resource in resources("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        name = f"{prefix}-{logical_id}"
        request = {k: props[k] for k in _CREATE_TABLE_PROPS if k in props}
        if "StreamSpecification" in request:
            request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
        dynamodb.create_table(TableName=name, **request)
        if "TimeToLiveSpecification" in props:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
        out.tables[logical_id] = name
    sns = session.client("sns")
    for logical_id in resources("AWS::SNS::Topic"):
        out.topics[logical_id] = sns.create_topic(Name=f"{prefix}-{logical_id}")["TopicArn"]
    sqs = session.client("sqs")
    queues = resources("AWS::SQS::Queue")
    # Dead-letter queues first: a redrive policy names its DLQ's ARN.
    for logical_id, resource in sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {})):
        props = resource.get("Properties", {})
        attributes = {k: str(v) for k, v in props.items() if k in ("MessageRetentionPeriod", "VisibilityTimeout")}
        if "RedrivePolicy" in props:
            policy = props["RedrivePolicy"]
            dlq = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=out.queues[dlq], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": policy["maxReceiveCount"]}
            )
        name = f"{prefix}-{logical_id}"
        if props.get("FifoQueue"):  # as CloudFormation names a FIFO queue: it must end in .fifo
            name += ".fifo"
            attributes["FifoQueue"] = "true"
            attributes["ContentBasedDeduplication"] = str(props.get("ContentBasedDeduplication", False)).lower()
        out.queues[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    # Topic subscriptions to queues (SNS -> SQS, raw delivery as the template says).
    for resource in resources("AWS::SNS::Subscription").values():
        props = resource["Properties"]
        if props["Protocol"] != "sqs":
            continue
        topic = out.topics[props["TopicArn"]["Ref"]]
        queue = out.queues[props["Endpoint"]["Fn::GetAtt"][0]]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": str(props.get("RawMessageDelivery", False)).lower()}
        if "FilterPolicy" in props:
            attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    # Keys the code uses directly (the stack's other keys only encrypt at rest: nothing to emulate).
    kms = session.client("kms")
    for logical_id in resources("AWS::KMS::Key"):
        if logical_id == "WebhookSecretsKey":
            out.keys[logical_id] = kms.create_key(Description=logical_id)["KeyMetadata"]["Arn"]
    secretsmanager = session.client("secretsmanager")
    for logical_id, resource in resources("AWS::SecretsManager::Secret").items():
        generate = resource["Properties"]["GenerateSecretString"]
        if "Fn::If" in generate:  # generated unless a parameter gives the value: generated here (a test puts its own)
            generate = generate["Fn::If"][2]
        length = generate["PasswordLength"]
        value = secretsmanager.get_random_password(PasswordLength=length, ExcludePunctuation=True)["RandomPassword"]
        out.secrets[logical_id] = secretsmanager.create_secret(Name=f"{prefix}-{logical_id}", SecretString=value)["ARN"]
    # Buckets (their encryption, public access block and lifecycle are S3's own doing: not emulated).
    s3 = session.client("s3")
    for logical_id in resources("AWS::S3::Bucket"):
        name = f"{prefix}-{logical_id}".lower()
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name})
        out.buckets[logical_id] = name
    sesv2 = session.client("sesv2")
    sesv2.create_email_identity(EmailIdentity=SENDER)
    # The configuration set e-mails go through (its event destination, SES -> SNS, is SES's own
    # doing: tests publish SES's reports to the mail events topic themselves).
    for logical_id in resources("AWS::SES::ConfigurationSet"):
        name = f"{prefix}-{logical_id}"
        sesv2.create_configuration_set(ConfigurationSetName=name)
        out.configuration_sets[logical_id] = name
    return out
