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
    user_pools: dict[str, str] = field(default_factory=dict)  # logical id -> Cognito user pool id
    user_pool_clients: dict[str, str] = field(default_factory=dict)  # logical id -> app client id

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
            "DASHBOARD_USER_POOL_ID": self.user_pools["DashboardUserPool"],
            "DASHBOARD_CLIENT_ID": self.user_pool_clients["DashboardUserPoolClient"],
        }


def _with_defaults(value: Any) -> Any:
    """A template value as a stack with every parameter at its default resolves it (Fn::If by its
    condition, Ref to a parameter by its default, AWS::NoValue dropped)."""
    template = load_template()
    parameters, conditions = template["Parameters"], template.get("Conditions", {})

    def holds(condition: Any) -> bool:
        if isinstance(condition, dict):
            if "Condition" in condition:
                return holds(conditions[condition["Condition"]])
            if "Fn::Not" in condition:
                return not holds(condition["Fn::Not"][0])
            if "Fn::And" in condition:
                return all(holds(c) for c in condition["Fn::And"])
            if "Fn::Or" in condition:
                return any(holds(c) for c in condition["Fn::Or"])
            if "Fn::Equals" in condition:
                left, right = (resolve(v) for v in condition["Fn::Equals"])
                return bool(left == right)
        raise ValueError(f"condition not understood: {condition}")

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [r for r in (resolve(v) for v in node) if r is not _DROP]
        if isinstance(node, dict):
            if "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return resolve(yes if holds(conditions[name]) else no)
            if "Ref" in node and len(node) == 1:
                if node["Ref"] == "AWS::NoValue":
                    return _DROP
                return parameters[node["Ref"]]["Default"]
            return {k: r for k, r in ((k, resolve(v)) for k, v in node.items()) if r is not _DROP}
        return node

    return resolve(value)


_DROP = object()
# What CreateUserPool / CreateUserPoolClient take of the template's properties (managed login's
# domain, OAuth flows and callback URLs are not emulated: the local runtime signs in with a form).
_POOL_PROPS = (
    "UsernameAttributes",
    "UsernameConfiguration",
    "AutoVerifiedAttributes",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "Policies",
    "MfaConfiguration",
    "UserPoolAddOns",
    "Schema",
)
_CLIENT_PROPS = (
    "ExplicitAuthFlows",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "IdTokenValidity",
    "AccessTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
)
# The local runtime's sign-in form (USER_PASSWORD_AUTH): offered by the emulated client only; the
# deployed client takes passwords on managed login alone.
LOCAL_AUTH_FLOWS = ["ALLOW_USER_PASSWORD_AUTH"]


def provision_user_pools(session: Any, out: Provisioned, prefix: str) -> None:
    """The template's Cognito user pools and their app clients, as the template defines them."""
    cognito = session.client("cognito-idp")
    for logical_id, resource in resources("AWS::Cognito::UserPool").items():
        request = _with_defaults({k: v for k, v in resource["Properties"].items() if k in _POOL_PROPS})
        for attribute in request.get("Schema", []):
            attribute["Mutable"] = bool(attribute.get("Mutable", True))
        pool = cognito.create_user_pool(PoolName=f"{prefix}-{logical_id}", **request)["UserPool"]
        out.user_pools[logical_id] = pool["Id"]
    for logical_id, resource in resources("AWS::Cognito::UserPoolClient").items():
        props = resource["Properties"]
        request = _with_defaults({k: v for k, v in props.items() if k in _CLIENT_PROPS})
        request["ExplicitAuthFlows"] = [*request.get("ExplicitAuthFlows", []), *LOCAL_AUTH_FLOWS]
        pool_id = out.user_pools[resource["Properties"]["UserPoolId"]["Ref"]]
        client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=props["ClientName"], **request)
        out.user_pool_clients[logical_id] = client["UserPoolClient"]["ClientId"]


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
    provision_user_pools(session, out, prefix)
    return out
