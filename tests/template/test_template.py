"""The template is sound: linted as written and as expanded, and it keeps its promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import ROOT, expand, load_template, resources


@pytest.fixture(scope="module")
def expanded() -> dict:
    return expand()


def cfn_lint(*args: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run([str(executable), *args], capture_output=True, text=True, cwd=ROOT)


def test_cfn_lint_with_serverless_rules_passes() -> None:
    result = cfn_lint("--append-rules", "cfn_lint_serverless.rules", "--", "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_passes_on_the_sam_expanded_template(expanded: dict, tmp_path: Path) -> None:
    # cfn-lint 1.x only schema-checks SAM resources; the expansion exposes every !Ref / !GetAtt.
    path = tmp_path / "expanded.json"
    path.write_text(json.dumps(expanded))
    # W2001: SAM resolves some parameters (ReauthorizeEvery) into the expansion at transform time,
    # with the values CloudFormation passes; the expanded copy then no longer "uses" them.
    result = cfn_lint("--ignore-checks", "W2001", "--", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_reference_would_be_caught_by_the_expanded_lint(tmp_path: Path) -> None:
    # Guard against a lint that cannot fail: break a !GetAtt inside a SAM function.
    template = load_template()
    template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]["TABLE_NAME"] = {"Ref": "NoSuchTable"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(expand(template)))
    result = cfn_lint("--", str(path))
    assert result.returncode != 0 and "NoSuchTable" in result.stdout


def _statements(expanded: dict) -> list[tuple[str, dict]]:
    out = []
    for name, resource in expanded["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            if "Fn::If" in policy:  # a conditional policy: check the branch that grants something
                policy = policy["Fn::If"][1]
            for statement in policy["PolicyDocument"]["Statement"]:
                out.append((name, statement))
    return out


def test_no_function_may_scan_or_use_wildcard_actions(expanded: dict) -> None:
    for role, statement in _statements(expanded):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "dynamodb:Scan" not in actions, role
        assert all(not a.endswith("*") for a in actions), (role, actions)


def _grants(expanded: dict, actions: tuple[str, ...], resource: str) -> set[str]:
    return {
        role
        for role, statement in _statements(expanded)
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if action in actions and resource in json.dumps(statement["Resource"])
    }


def test_only_the_api_the_customer_page_the_billing_engine_webhooks_receipts_and_exports_write_the_table(expanded: dict) -> None:
    writers = _grants(expanded, ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"), "BillingTable")
    assert writers == {
        "ApiFunctionRole",
        "CustomerPageFunctionRole",
        "DispatcherFunctionRole",
        "ChargerFunctionRole",
        "AuthorizerFunctionRole",
        "WebhookFanOutFunctionRole",
        "WebhookDeliveryFunctionRole",
        "ReceiptsFunctionRole",
        "ExporterFunctionRole",  # an export marked ready or failed, with its event
        "NotifierFunctionRole",
        "GatewayEventsFunctionRole",
        "GatewayEventApplierFunctionRole",
        "ReconciliationFunctionRole",
        "FiguresFunctionRole",  # what it kept of an object and the figures' buckets
        "DashboardFunctionRole",  # the merchant's directory of dashboard users
    }
    # The merchant-facing functions, webhooks, receipts and e-mails write merchant data only (pk M#<merchant>#...).
    merchant_data_only = (
        "ApiFunctionRole",
        "CustomerPageFunctionRole",
        "DashboardFunctionRole",
        "WebhookFanOutFunctionRole",
        "WebhookDeliveryFunctionRole",
        "FiguresFunctionRole",
    )
    for role in (
        *merchant_data_only,
        "ReceiptsFunctionRole",
        "NotifierFunctionRole",
        "GatewayEventApplierFunctionRole",
        "ReconciliationFunctionRole",
    ):
        for statement in _statements(expanded):
            if (
                statement[0] == role
                and "dynamodb:PutItem" in statement[1]["Action"]
                and "BillingTable" in json.dumps(statement[1])
            ):
                assert statement[1]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["M#*"]}}, role
    # The inbound gateway-events endpoint writes its log only (pk GWEVENT#<gateway>#<event id>), never merchant data.
    [receiver] = [s for r, s in _statements(expanded) if r == "GatewayEventsFunctionRole" and "BillingTable" in json.dumps(s)]
    assert receiver["Action"] == ["dynamodb:PutItem", "dynamodb:GetItem"]
    assert receiver["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["GWEVENT#*"]}}
    # The authorizer only marks a key's last use: UpdateItem, on merchant data only.
    [write] = [s for r, s in _statements(expanded) if r == "AuthorizerFunctionRole" and s["Action"] != "dynamodb:GetItem"]
    assert write["Action"] == "dynamodb:UpdateItem"
    assert write["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["M#*"]}}


def test_the_dispatcher_queries_only_the_due_index_and_the_parent_index_and_the_charger_never_queries(expanded: dict) -> None:
    dispatcher = [
        s for r, s in _statements(expanded) if r == "DispatcherFunctionRole" and "dynamodb:Query" in json.dumps(s["Action"])
    ]
    # The due index; and the parent index, for an ended mandate's charges when its credit is given back
    assert [json.dumps(s["Resource"]) for s in dispatcher] == [
        '[{"Fn::Sub": "${BillingTable.Arn}/index/DueIndex"}, {"Fn::Sub": "${BillingTable.Arn}/index/ParentIndex"}]'
    ]
    assert "ChargerFunctionRole" not in _grants(expanded, ("dynamodb:Query",), "BillingTable")
    # Only the charger writes the simulated gateway's ledger, by key; its clock reads due changes through
    # the sparse index `Due` and marks them reported (UpdateItem); nothing else touches it.
    assert _grants(expanded, ("dynamodb:PutItem",), "SimulatedGatewayLedgerTable") == {"ChargerFunctionRole"}
    assert _grants(expanded, ("dynamodb:GetItem",), "SimulatedGatewayLedgerTable") == {
        "ChargerFunctionRole",
        "SimulatedGatewayClockFunctionRole",
    }
    assert _grants(expanded, ("dynamodb:UpdateItem",), "SimulatedGatewayLedgerTable") == {"SimulatedGatewayClockFunctionRole"}
    clock_queries = [
        json.dumps(s["Resource"])
        for r, s in _statements(expanded)
        if r == "SimulatedGatewayClockFunctionRole" and "dynamodb:Query" in json.dumps(s["Action"])
    ]
    assert clock_queries == ['{"Fn::Sub": "${SimulatedGatewayLedgerTable.Arn}/index/Due"}']


def test_charge_queue_redrives_to_a_dlq_and_outlasts_the_charger() -> None:
    queue = resources("AWS::SQS::Queue")["ChargeQueue"]["Properties"]
    charger = resources("AWS::Serverless::Function")["ChargerFunction"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ChargeDLQ", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * charger["Timeout"]
    for props in resources("AWS::SQS::Queue").values():
        assert props["Properties"]["SqsManagedSseEnabled"] is True
    source = charger["Events"]["Charges"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ChargerMaxConcurrency"}


def test_dispatch_schedule_is_scheduler_v2_with_retries_a_dlq_and_its_own_time() -> None:
    tick = resources("AWS::Serverless::Function")["DispatcherFunction"]["Properties"]["Events"]["Tick"]
    assert tick["Type"] == "ScheduleV2"
    props = tick["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "DispatchScheduleExpression"}
    assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert props["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DispatchScheduleDLQ", "Arn"]}
    assert json.loads(props["Input"])["scheduled_time"] == "<aws.scheduler.scheduled-time>"


def test_every_function_has_a_log_group_with_retention() -> None:
    functions = resources("AWS::Serverless::Function")
    groups = [g["Properties"] for g in resources("AWS::Logs::LogGroup").values()]
    for name in functions:
        matching = [g for g in groups if name in json.dumps(g.get("LogGroupName", ""))]
        assert matching and all("RetentionInDays" in g for g in matching), name


def test_every_queue_is_watched_by_an_alarm() -> None:
    alarms = json.dumps(resources("AWS::CloudWatch::Alarm"))
    for name in resources("AWS::SQS::Queue"):
        assert name in alarms, f"{name} has no alarm"


def _sections() -> dict[str, str]:
    """Logical id -> the banner section of template.yaml's Resources it is written in."""
    text = (ROOT / "template.yaml").read_text()
    body = text[text.index("\nResources:\n") : text.index("\nOutputs:\n")]
    sections, banner, lines = {}, "", body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  # ====") and i + 1 < len(lines) and not lines[i + 1].startswith("  # ===="):
            if not lines[i - 1].startswith("  # "):  # the opening rule of a banner
                banner = lines[i + 1].removeprefix("  # ").split(":")[0]
        elif match := re.fullmatch(r"  (\w+):", line):
            sections[match.group(1)] = banner
    return sections


def test_each_alarm_stands_beside_the_queue_or_function_it_watches() -> None:
    # Given where each resource is written (one banner section per pipeline)
    sections = _sections()
    assert set(sections) == set(load_template()["Resources"])
    # Then an alarm on a queue or a function is in that queue's or function's section
    for name, alarm in resources("AWS::CloudWatch::Alarm").items():
        for dimension in alarm["Properties"].get("Dimensions", []):
            value = dimension["Value"]
            if not isinstance(value, dict):
                continue
            watched = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
            if watched in sections:
                assert sections[name] == sections[watched], (name, watched, sections[name], sections[watched])


def test_every_function_has_an_error_alarm() -> None:
    alarms = json.dumps(resources("AWS::CloudWatch::Alarm"))
    for name in resources("AWS::Serverless::Function"):
        assert f'"Ref": "{name}"' in alarms, f"{name} has no error alarm"


def test_stream_publisher_has_a_failure_destination_and_partial_failures() -> None:
    stream = resources("AWS::Serverless::Function")["EventPublisherFunction"]["Properties"]["Events"]["Stream"]["Properties"]
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["EventPublisherDLQ", "Arn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_tables_are_encrypted_recoverable_and_on_demand() -> None:
    for name, table in resources("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name
        sse = props["SSESpecification"]
        assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "DataKey"}}, name


def test_customer_managed_keys_rotate_and_encrypt_the_secret_and_every_log_group() -> None:
    keys = resources("AWS::KMS::Key")
    assert all(key["Properties"]["EnableKeyRotation"] for key in keys.values())
    assert resources("AWS::SecretsManager::Secret")["LinkSigningSecret"]["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    for name, group in resources("AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}, name
    # CloudWatch Logs may use the logs key for this account's log groups only.
    [logs] = [s for s in keys["LogsKey"]["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    # CloudWatch alarms may use the alarm topic's key for this account's alarms only.
    [alarms] = [s for s in keys["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_every_function_using_the_table_or_the_secret_may_use_the_data_key_through_those_services_only(expanded: dict) -> None:
    policy = expanded["Resources"]["DataKeyUsePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [use] = policy
    services = [s["Fn::Sub"].split(".")[0] for s in use["Condition"]["StringEquals"]["kms:ViaService"]]
    assert services == ["dynamodb", "secretsmanager"] and use["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    for name in resources("AWS::Serverless::Function"):
        assert {"Ref": "DataKeyUsePolicy"} in expanded["Resources"][f"{name}Role"]["Properties"]["ManagedPolicyArns"], name


def test_every_function_has_a_reserved_concurrency_parameter_empty_by_default() -> None:
    template = load_template()
    for name, function in resources("AWS::Serverless::Function").items():
        reserved = function["Properties"]["ReservedConcurrentExecutions"]
        condition, value, otherwise = reserved["Fn::If"]
        parameter = template["Parameters"][value["Ref"]]
        assert parameter["Default"] == "" and otherwise == {"Ref": "AWS::NoValue"}, name
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [value, ""]}]}, name


def test_every_checkov_skip_has_a_reason() -> None:
    for name, resource in load_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 40, (name, skip)


def _config_skips() -> dict[str, str]:
    """The checks .checkov.yaml skips for every resource, each with the comment written above it."""
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    skips, reason = {}, []
    for line in lines[lines.index("skip-check:") + 1 :]:
        if line.strip().startswith("#"):
            reason.append(line.strip().lstrip("# "))
        elif line.strip().startswith("- "):
            skips[line.strip()[2:]] = " ".join(reason)
            reason = []
    return skips


def test_every_check_the_checkov_config_skips_has_its_reason_and_is_not_also_skipped_per_resource() -> None:
    # Given the checks skipped for every resource in .checkov.yaml (what `make lint` runs checkov with)
    skips = _config_skips()
    assert skips and "--config-file .checkov.yaml" in (ROOT / "Makefile").read_text()
    # Then each names itself and says why, and no resource repeats it in its Metadata
    for check, reason in skips.items():
        assert check.startswith("CKV_") and reason.startswith(check) and len(reason) > 80, (check, reason)
    for name, resource in load_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"] not in skips, (name, skip["id"])


def test_what_the_checkov_config_skips_rely_on_stays_true() -> None:
    skips = _config_skips()
    # CKV_AWS_27: every queue is encrypted at rest with SQS-managed keys
    assert "CKV_AWS_27" in skips
    for name, queue in resources("AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    # CKV_AWS_117: no function is in a VPC (nothing it reaches lives in one)
    assert "CKV_AWS_117" in skips
    functions = resources("AWS::Serverless::Function")
    assert all("VpcConfig" not in f["Properties"] for f in functions.values())
    # CKV_AWS_173: no literal in any function's environment (names, ARNs and URLs come from
    # parameters and resources), apart from the shared settings in Globals
    assert "CKV_AWS_173" in skips
    for name, function in functions.items():
        for variable, value in function["Properties"].get("Environment", {}).get("Variables", {}).items():
            assert isinstance(value, dict), (name, variable)


def test_topics_are_encrypted() -> None:
    for name, topic in resources("AWS::SNS::Topic").items():
        assert topic["Properties"].get("KmsMasterKeyId"), name


def test_every_v1_route_goes_through_the_key_authorizer_and_stage_is_throttled() -> None:
    api = resources("AWS::Serverless::Api")["Api"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "MerchantKeyAuthorizer"
    assert api["MethodSettings"][0]["ThrottlingRateLimit"] and api["MethodSettings"][0]["ThrottlingBurstLimit"]
    unauthenticated = []
    for name, function in resources("AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            if "Auth" in event["Properties"]:
                unauthenticated.append((name, event["Properties"]["Path"], event["Properties"]["Auth"]))
            else:
                assert event["Properties"]["Path"].startswith("/v1/"), name
    # The only routes without the merchant key: the customer's page, guarded by its signed link, the
    # dashboard, guarded by its sessions (the Cognito pool's tokens), and the gateway's events,
    # guarded by the gateway's signature.
    assert unauthenticated == [
        ("CustomerPageFunction", "/customer/{proxy+}", {"Authorizer": "NONE"}),
        ("DashboardFunction", "/dashboard", {"Authorizer": "NONE"}),
        ("DashboardFunction", "/dashboard/{proxy+}", {"Authorizer": "NONE"}),
        ("GatewayEventsFunction", "/gateway/stripe/events", {"Authorizer": "NONE"}),
    ]


def test_a_revoked_key_is_refused_within_the_contracts_300_seconds_whatever_the_parameter() -> None:
    # Given the authorizer's cache time to live, a parameter of the stack
    api = resources("AWS::Serverless::Api")["Api"]["Properties"]
    ttl = api["Auth"]["Authorizers"]["MerchantKeyAuthorizer"]["Identity"]["ReauthorizeEvery"]
    parameter = load_template()["Parameters"][ttl["Ref"]]
    # Then no value the stack accepts keeps a revoked key working past the contract's 300 s
    assert parameter["MinValue"] == 0 and parameter["MaxValue"] == 300 and parameter["Default"] <= 300


def test_the_api_stage_is_traced_on_the_resource_itself(expanded: dict) -> None:
    # The API's own properties enable X-Ray tracing (what checkov's CKV_AWS_73 reads, without
    # SAM's Globals), and the deployed stage has it
    assert resources("AWS::Serverless::Api")["Api"]["Properties"].get("TracingEnabled") is True
    [stage] = [r for r in expanded["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert stage["Properties"]["TracingEnabled"] is True


def test_runtime_and_architecture() -> None:
    function_globals = load_template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13" and function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"


# Metrics an on-call engineer needs to see a charge left in limbo (issue 9): each has an alarm,
# a graph on the one dashboard, and a runbook entry naming the alarm.
WATCHED = {
    "DispatchErrors": "DispatchClaimErrorsAlarm",
    "AttemptsResent": "AttemptsResentAlarm",
    "OldestUnsettledAttemptSeconds": "UnsettledAttemptAlarm",
    "GatewayTimeouts": "GatewayTimeoutsAlarm",
    "IteratorAge": "EventPublisherIteratorAgeAlarm",
}


@pytest.mark.parametrize(("metric", "alarm"), WATCHED.items())
def test_each_money_safety_metric_has_an_alarm_a_graph_and_a_runbook_entry(metric: str, alarm: str) -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    assert alarms[alarm]["Properties"]["MetricName"] == metric
    assert alarms[alarm]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    [dashboard] = resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert f'"{metric}"' in body
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    assert f"`{alarm}`" in runbook


@pytest.mark.parametrize(
    ("metric", "alarm", "threshold"),
    [
        ("DashboardSignInFailed", "DashboardSignInFailuresAlarm", "DashboardSignInFailuresAlarmThreshold"),
        ("DashboardSignOutFailed", "DashboardSignOutFailuresAlarm", "DashboardSignOutFailuresAlarmThreshold"),
    ],
)
def test_the_dashboards_sign_in_and_sign_out_failures_raise_an_alarm_drawn_on_their_graph(
    metric: str, alarm: str, threshold: str
) -> None:
    # Given the alarm on the dashboard's failure metric
    properties = resources("AWS::CloudWatch::Alarm")[alarm]["Properties"]
    # Then it watches the metric the dashboard emits, at the threshold a parameter sets, on the alarm topic
    assert (properties["Namespace"], properties["MetricName"]) == ("RecurringPayments", metric)
    assert properties["Dimensions"] == [{"Name": "service", "Value": "recurring-payments"}]
    assert properties["Threshold"] == {"Ref": threshold} and properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["TreatMissingData"] == "notBreaching" and properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # And the dashboard's graph of the metric draws that threshold
    [dashboard] = resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert f'"{metric}"' in body and f'"value": ${{{threshold}}}' in body


def test_every_alarm_is_in_the_runbook() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    missing = [name for name in resources("AWS::CloudWatch::Alarm") if f"`{name}`" not in runbook]
    assert not missing, missing


def test_the_charger_may_write_its_start_marker_and_its_time_budget_fits_the_queue() -> None:
    charger = resources("AWS::Serverless::Function")["ChargerFunction"]["Properties"]
    actions = json.dumps(charger["Policies"])
    assert "dynamodb:UpdateItem" in actions
    lease = load_template()["Parameters"]["ClaimLeaseSeconds"]
    assert lease["MinValue"] > resources("AWS::SQS::Queue")["ChargeQueue"]["Properties"]["VisibilityTimeout"]
    assert load_template()["Parameters"]["AllowSimulatedGateway"]["AllowedValues"] == ["true", "false"]


def test_every_function_that_reads_the_stripe_key_may_read_it() -> None:
    # Given the functions whose code reads the Stripe key (the API checks that a token is the merchant's)
    functions = resources("AWS::Serverless::Function")
    for name in ("ApiFunction", "CustomerPageFunction", "ChargerFunction"):
        props = functions[name]["Properties"]
        # Then each is told the secret's name and may read it wherever it lives
        assert "STRIPE_SECRET_NAME" in props["Environment"]["Variables"], name
        conditions = [p["Fn::If"][0] for p in props["Policies"] if isinstance(p, dict) and "Fn::If" in p]
        assert {"StripeKeyInSecretsManager", "StripeKeyInSsm"} <= set(conditions), name


def test_export_files_expire_when_the_api_stops_giving_their_links() -> None:
    from billing.domain.exports import RETENTION_DAYS

    bucket = resources("AWS::S3::Bucket")["ExportBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireExports"]["ExpirationInDays"] == RETENTION_DAYS and rules["ExpireExports"]["Prefix"] == "exports/"
    assert rules["AbortUnfinishedUploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )


def test_the_exporter_marks_an_export_failed_on_the_queues_last_delivery() -> None:
    import ast

    queue = resources("AWS::SQS::Queue")["ExportQueue"]["Properties"]
    source = (ROOT / "functions" / "exporter" / "app.py").read_text()
    [value] = [
        node.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MAX_RECEIVES"
        and isinstance(node.value, ast.Constant)
    ]  # fmt: skip
    assert queue["RedrivePolicy"]["maxReceiveCount"] == value


def test_every_metric_the_code_emits_is_graphed_on_the_dashboard() -> None:
    # Given every metric name the functions and the shared layer emit by name
    emitted: set[str] = set()
    for folder in (ROOT / "functions", ROOT / "layers" / "billing" / "billing"):
        for source in folder.rglob("*.py"):
            emitted |= set(re.findall(r'add_metric\(\s*name="([A-Za-z]+)"', source.read_text()))
    emitted |= {"ExportsReady", "ExportsFailed"}  # named by outcome in functions/exporter
    # Then the one dashboard graphs each of them, so an operator sees what the code reports
    [dashboard] = resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert len(emitted) > 40
    assert not sorted(name for name in emitted if f'"{name}"' not in body)


def test_the_dashboards_pool_keeps_merchant_and_role_out_of_the_users_hands() -> None:
    # Given the dashboard's user pool and app client as the template defines them
    [pool] = resources("AWS::Cognito::UserPool").values()
    [client] = resources("AWS::Cognito::UserPoolClient").values()
    props, app = pool["Properties"], client["Properties"]
    # Then users sign in with their e-mail, are invited (no self sign-up), may add TOTP, are protected
    assert props["UsernameAttributes"] == ["email"] and props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["MfaConfiguration"] == "OPTIONAL" and props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert props["UserPoolAddOns"]["AdvancedSecurityMode"]["Fn::If"][1] == {"Ref": "DashboardThreatProtection"}
    assert load_template()["Parameters"]["DashboardThreatProtection"]["Default"] == "ENFORCED"
    # And the merchant and role are custom attributes the app client reads and cannot write
    assert {a["Name"] for a in props["Schema"]} == {"merchant_id", "role"}
    assert {"custom:merchant_id", "custom:role"} <= set(app["ReadAttributes"])
    assert not any(a.startswith("custom:") for a in app["WriteAttributes"])
    # And the client is public with the code flow and PKCE: no secret, no password typed outside managed login
    assert app["GenerateSecret"] is False and app["AllowedOAuthFlows"] == ["code"]
    assert (
        "ALLOW_USER_PASSWORD_AUTH" not in app["ExplicitAuthFlows"]
        and "ALLOW_ADMIN_USER_PASSWORD_AUTH" not in app["ExplicitAuthFlows"]
    )
    # And the dashboard's function may only invite, look up and remove users of this pool and set their role
    statements = resources("AWS::Serverless::Function")["DashboardFunction"]["Properties"]["Policies"][1]["Statement"]
    cognito = [s for s in statements if any(str(a).startswith("cognito-idp:") for a in s["Action"])]
    assert cognito == [
        {
            "Effect": "Allow",
            "Action": [
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminDeleteUser",
                "cognito-idp:AdminUserGlobalSignOut",
                "cognito-idp:AdminUpdateUserAttributes",
                "cognito-idp:AdminGetUser",
            ],
            "Resource": {"Fn::GetAtt": ["DashboardUserPool", "Arn"]},
        }
    ]
