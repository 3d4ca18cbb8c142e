"""Least privilege, checked against what the code really does: every AWS call a function makes
while the integration suite runs is evaluated against that function's role in the SAM-expanded
template (actions, resources, `dynamodb:LeadingKeys` conditions). A policy too tight for the code
fails the suite here, before a deployment would fail in production.

An evaluator of the statements this template uses, not of IAM in general: Allow statements with
Action, Resource and the condition operators below. A statement with anything else counts as
not granting, so a policy it cannot read fails loudly instead of passing."""

from __future__ import annotations

import contextvars
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devtools.lambda_runtime import running_function
from devtools.provision import Provisioned

REGION, ACCOUNT, PARTITION = "eu-west-1", "123456789012", "aws"


@dataclass(frozen=True)
class Request:
    """One authorization request: an IAM action on a resource, with its DynamoDB leading keys."""

    action: str
    resource: str
    leading_keys: tuple[str, ...] = ()
    context: tuple[tuple[str, str], ...] = ()  # other condition keys the request carries (ses:FromAddress)


@dataclass(frozen=True)
class Denied:
    function: str
    operation: str
    request: Request


# ----------------------------------------------------------------- calls -> requests
def _table_arn(table: str, index: str | None = None) -> str:
    arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _pk(key: dict[str, Any]) -> str:
    value = key.get("pk") or next(iter(key.values()))
    return str(value.get("S", value.get("N", "")))


def _query_partition(params: dict[str, Any]) -> str:
    """The partition key value a Query addresses: the value bound by `<attr> = :v` in its key condition."""
    expression = params["KeyConditionExpression"]
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", expression):
        attribute = names.get(left, left)
        if attribute.endswith("pk") or attribute in ("id", "idempotency_key"):
            return str(values[placeholder].get("S", ""))
    raise AssertionError(f"cannot find the partition key in {expression!r}")


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def requests_for(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    if service == "dynamodb":
        if operation == "TransactWriteItems":  # IAM authorizes each item's own action
            out = []
            for item in params["TransactItems"]:
                [(kind, op)] = item.items()
                out.append(
                    Request(
                        f"dynamodb:{_TRANSACT_ACTIONS[kind]}",
                        _table_arn(op["TableName"]),
                        (_pk(op["Key"] if "Key" in op else op["Item"]),),
                    )
                )
            return out
        if operation == "TransactGetItems":
            return [
                Request("dynamodb:GetItem", _table_arn(i["Get"]["TableName"]), (_pk(i["Get"]["Key"]),))
                for i in params["TransactItems"]
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            out = []
            for table, batch in params["RequestItems"].items():
                if operation == "BatchGetItem":
                    pks = tuple(_pk(k) for k in batch["Keys"])
                else:
                    pks = tuple(_pk(w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"]) for w in batch)
                out.append(Request(f"dynamodb:{operation}", _table_arn(table), pks))
            return out
        if operation == "Query":
            return [
                Request("dynamodb:Query", _table_arn(params["TableName"], params.get("IndexName")), (_query_partition(params),))
            ]
        if operation == "Scan":
            return [Request("dynamodb:Scan", _table_arn(params["TableName"], params.get("IndexName")))]
        key = params.get("Key") or params.get("Item") or {}
        return [Request(f"dynamodb:{operation}", _table_arn(params["TableName"]), (_pk(key),) if key else ())]
    if service == "sqs":  # a batch needs the permission of its single action
        name = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [Request(f"sqs:{operation.removesuffix('Batch')}", f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "sns":
        return [Request(f"sns:{operation.removesuffix('Batch')}", params.get("TopicArn") or params.get("TargetArn", ""))]
    if service == "secretsmanager":
        secret = params["SecretId"]
        arn = secret if secret.startswith("arn:") else f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-AbCdEf"
        return [Request(f"secretsmanager:{operation}", arn)]
    if service == "kms":
        key = params.get("KeyId", "")
        return [
            Request(f"kms:{operation}", key if key.startswith("arn:") else f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{key}")
        ]
    if service == "sesv2" and operation == "SendEmail":  # authorized as ses:SendEmail on the sending identity
        sender = params["FromEmailAddress"]
        identity = f"arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:identity/{sender}"
        requests = [Request("ses:SendEmail", identity, context=(("ses:FromAddress", sender),))]
        if "ConfigurationSetName" in params:  # and on the configuration set it goes through
            arn = f"arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:configuration-set/{params['ConfigurationSetName']}"
            requests.append(Request("ses:SendEmail", arn, context=(("ses:FromAddress", sender),)))
        return requests
    if service == "s3":  # a multipart upload's steps are authorized as PutObject
        action = {"CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject"}
        return [Request(f"s3:{action.get(operation, operation)}", f"arn:{PARTITION}:s3:::{params['Bucket']}/{params['Key']}")]
    if service == "ssm":
        return [Request(f"ssm:{operation}", f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{params['Name']}")]
    if service == "cognito-idp":
        if operation in ("InitiateAuth", "RespondToAuthChallenge", "GetUser", "GlobalSignOut"):
            return []  # the app client's (unsigned) calls: no IAM at all
        return [
            Request(f"cognito-idp:{operation}", f"arn:{PARTITION}:cognito-idp:{REGION}:{ACCOUNT}:userpool/{params['UserPoolId']}")
        ]
    raise AssertionError(f"no IAM mapping for {service}:{operation}; teach tests/support/iam.py")


# ----------------------------------------------------------------- template -> statements
class Resolver:
    """Intrinsic functions of the expanded template, resolved against the emulation's resources."""

    def __init__(self, template: dict[str, Any], aws: Provisioned, parameters: dict[str, str]) -> None:
        self.template, self.parameters = template, parameters
        self.attributes: dict[str, dict[str, str]] = {}
        for logical_id, name in aws.tables.items():
            self.attributes[logical_id] = {"Arn": _table_arn(name), "Ref": name, "StreamArn": f"{_table_arn(name)}/stream/*"}
        for logical_id, url in aws.queues.items():
            name = url.rstrip("/").rsplit("/", 1)[-1]
            self.attributes[logical_id] = {"Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}", "Ref": url, "QueueName": name}
        for logical_id, arn in aws.topics.items():
            self.attributes[logical_id] = {"Ref": arn, "TopicName": arn.rsplit(":", 1)[-1]}
        for logical_id, arn in aws.secrets.items():
            self.attributes[logical_id] = {"Ref": arn}
        for logical_id, arn in aws.keys.items():
            self.attributes[logical_id] = {"Ref": arn.rsplit("/", 1)[-1], "Arn": arn}
        for logical_id, name in aws.configuration_sets.items():
            self.attributes[logical_id] = {"Ref": name}
        for logical_id, name in aws.buckets.items():
            self.attributes[logical_id] = {"Ref": name, "Arn": f"arn:{PARTITION}:s3:::{name}"}
        for logical_id, pool_id in aws.user_pools.items():
            self.attributes[logical_id] = {
                "Ref": pool_id,
                "Arn": f"arn:{PARTITION}:cognito-idp:{REGION}:{ACCOUNT}:userpool/{pool_id}",
            }
        for logical_id, client_id in aws.user_pool_clients.items():
            self.attributes[logical_id] = {"Ref": client_id}

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        [(fn, arg)] = node.items()
        if fn == "Ref":
            return self._ref(arg)
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.attributes.get(logical_id, {}).get(attribute, f"<{logical_id}.{attribute}>")
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self.value(v) for k, v in arg[1].items()})
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(variables.get(m.group(1)) or self._sub(m.group(1))), text)
        if fn == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if fn == "Fn::Equals":
            left, right = self.value(arg)
            return left == right
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.value(a) for a in arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Select":
            index, items = self.value(arg)
            return items[int(index)]
        if fn == "Fn::Split":
            separator, text = self.value(arg)
            return text.split(separator)
        return {k: self.value(v) for k, v in node.items()}

    def _ref(self, name: str) -> Any:
        pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::NoValue": None}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name].get("Default", ""))
        return self.attributes.get(name, {}).get("Ref", f"<{name}>")

    def _sub(self, expression: str) -> str:
        if "." in expression:
            logical_id, attribute = expression.split(".", 1)
            return str(self.attributes.get(logical_id, {}).get(attribute, f"<{expression}>"))
        return str(self._ref(expression))


def role_statements(template: dict[str, Any], resolver: Resolver, role: str) -> list[dict[str, Any]]:
    """The resolved Allow statements of a role's inline policies and of the stack's managed
    policies it attaches (AWS managed policies are left out: the code calls none of their APIs)."""
    properties = template["Resources"][role]["Properties"]
    documents = [p["PolicyDocument"] for p in resolver.value(properties.get("Policies", [])) if p]
    for arn in properties.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            documents.append(resolver.value(template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]))
    return [s for d in documents for s in d["Statement"]]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, Any], request: Request) -> bool:
    for operator, tests in condition.items():
        for key, allowed in tests.items():
            if operator == "ForAllValues:StringLike" and key == "dynamodb:LeadingKeys":
                if not all(any(fnmatch.fnmatchcase(k, p) for p in _listed(allowed)) for k in request.leading_keys):
                    return False
            elif operator == "StringEquals" and key in dict(request.context):
                if dict(request.context)[key] not in _listed(allowed):
                    return False
            else:  # an operator this evaluator does not know: the statement grants nothing here
                return False
    return True


def allows(statements: list[dict[str, Any]], request: Request) -> bool:
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(request.action, a) for a in _listed(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(request.resource, r) for r in _listed(statement["Resource"])):
            continue
        if _condition_holds(statement.get("Condition", {}), request):
            return True
    return False


# ----------------------------------------------------------------- the recorder
class LeastPrivilegeRecorder:
    """Attach to the boto3 session the functions use; `denied` lists every call a function made
    that its role would refuse."""

    def __init__(self, template: dict[str, Any], aws: Provisioned) -> None:
        self.template, self.aws = template, aws
        self.denied: list[Denied] = []
        self.checked = 0
        self._statements: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def attach(self, session: Any) -> None:
        session.events.register("before-parameter-build", self._before)

    def clear(self) -> None:
        """Forget the calls checked so far (a new test on the same session and resources)."""
        self.denied.clear()
        self.checked = 0

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        function = running_function.get()
        if function is None:  # the test's own setup and inspection, the runtime's plumbing
            return
        service = model.service_model.service_name
        # The parameters a deployed stack would pass, as the test has set them.
        stripe = os.environ.get("STRIPE_SECRET_NAME", "")
        if (function, stripe) not in self._statements:
            resolver = Resolver(self.template, self.aws, {"StripeSecretName": stripe})
            self._statements[function, stripe] = role_statements(self.template, resolver, f"{function}Role")
        statements = self._statements[function, stripe]
        for request in requests_for(service, model.name, params):
            self.checked += 1
            if not allows(statements, request):
                self.denied.append(Denied(function, f"{service}:{model.name}", request))

    def report(self) -> str:
        return json.dumps([d.__dict__ | {"request": d.request.__dict__} for d in self.denied[:20]], indent=1, default=str)


@contextmanager
def executor_threads_keep_context() -> Iterator[None]:
    """Work a function hands to a thread pool runs as that function (contextvars are not copied
    to pool threads by default)."""
    original: Callable[..., Any] = ThreadPoolExecutor.submit

    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
    try:
        yield
    finally:
        ThreadPoolExecutor.submit = original  # type: ignore[method-assign]
