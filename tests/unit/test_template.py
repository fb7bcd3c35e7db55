"""template.yaml is the single source of truth: it must lint clean, scan clean and keep its promises."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskradar.adapters.s3 import (
    DIGEST_POINTER_KEY,
    SNAPSHOT_POINTER_KEY,
    compacted_shard_key,
    shard_key,
)
from riskradar.config import ConfigError, TriageSettings
from riskradar.local.sam import translate
from riskradar.local.template import SamTemplate
from riskradar.triage import RECORD_KEPT_AFTER_TRIAGE, SQS_MESSAGE_RETENTION

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def cloudformation(template: SamTemplate) -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform (policy templates expanded)."""
    document = template.document
    for resource in document["Resources"].values():  # translation wants packaged code locations
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://bucket/code.zip"
        if properties.get("PackageType") == "Image":
            properties["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/riskradar:test"
    return translate(document, template.parameter_values(), region="us-east-1", stack_name="test")


def test_cfn_lint_reports_no_errors() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_reports_no_failed_checks() -> None:
    checkov = (
        os.environ.get("RISKRADAR_CHECKOV") or shutil.which("checkov") or str(ROOT / ".venv-lint/bin/checkov")
    )
    if not Path(checkov).exists():
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed; `make test` installs it into .venv-lint")
        pytest.skip("checkov not installed (run through `make test`, which installs it into .venv-lint)")
    result = subprocess.run(
        [checkov, "-f", str(TEMPLATE_PATH), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20, (
            f"skip without a reason: {skipped}"
        )


# ---------------------------------------------------------------- security: who may do what

#: AWS managed policies that SAM attaches to function roles, each reviewed. Their statements are on
#: "*" (AWS writes them for any function); where that grants more than the function needs, the
#: function's own policy narrows it with a Deny (see test_sqs_event_source_roles_...).
REVIEWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole": "logs:CreateLogGroup/CreateLogStream/PutLogEvents: "
    "every function writes its logs; the log group itself is the template's, KMS-encrypted",
    "AWSXrayWriteOnlyAccess": "xray:PutTraceSegments and friends (Tracing: Active); X-Ray actions "
    "support no resource-level permissions",
    "service-role/AWSLambdaSQSQueueExecutionRole": "Receive/Delete/GetQueueAttributes for an SQS event "
    "source, on every queue: narrowed to the function's own source queues by a Deny",
}
SQS_EVENT_SOURCE_ACTIONS = frozenset({"sqs:receivemessage", "sqs:deletemessage", "sqs:getqueueattributes"})
#: The only routes open without a token: the marketplace backend files reports (see README, "Deploy").
INTAKE_ROUTES = frozenset({"POST /v1/reports", "POST /v1/reports/batch"})
AUDIT_TABLE = "AuditTable"
_SUBSTITUTION = re.compile(r"\$\{[^}]*\}")
#: What would change or remove an audit entry (BatchWriteItem can overwrite or delete one).
AUDIT_MUTATIONS = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


def test_iam_policies_name_no_wildcard_actions_or_resources(cloudformation: dict[str, Any]) -> None:
    """Every inline statement of every role names its actions and resources. (The KMS key policy's
    `Resource: "*"` is not an IAM policy: in a key policy it means "this key", see below.)"""
    offending = []
    for logical_id, statement in _role_statements(cloudformation):
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        # A bounded pattern such as sqs:SendMessage* is fine; "*" or "service:*" is not.
        offending += [(logical_id, action) for action in actions if action == "*" or action.endswith(":*")]
        offending += [(logical_id, resource) for resource in resources if _is_wildcard_resource(resource)]
        if statement["Effect"] == "Allow":
            # Allow + NotAction / NotResource grants everything but a list: a wildcard in disguise.
            offending += [(logical_id, key) for key in ("NotAction", "NotResource") if key in statement]
    assert offending == []


def test_function_roles_carry_only_reviewed_managed_policies(cloudformation: dict[str, Any]) -> None:
    for logical_id, role in _resources_of_type(cloudformation, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            name = _aws_managed_policy_name(arn)
            assert name in REVIEWED_MANAGED_POLICIES, f"{logical_id}: managed policy {arn} is not reviewed"


def test_sqs_event_source_roles_may_consume_only_their_own_queues(cloudformation: dict[str, Any]) -> None:
    """AWSLambdaSQSQueueExecutionRole allows receiving and deleting on every queue of the account:
    a function that consumes one queue must not be able to read or delete signals or DLQ entries."""
    sources = _event_source_queues(cloudformation)
    functions = _resources_of_type(cloudformation, "AWS::Lambda::Function")
    roles = _resources_of_type(cloudformation, "AWS::IAM::Role")
    checked = 0
    for function_id, function in functions.items():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        managed = {
            _aws_managed_policy_name(arn) for arn in roles[role_id]["Properties"].get("ManagedPolicyArns", [])
        }
        if "service-role/AWSLambdaSQSQueueExecutionRole" not in managed:
            continue
        checked += 1
        own_queues = sources.get(function_id, set())
        denies = [
            statement
            for statement in _statements_of_role(roles[role_id])
            if statement["Effect"] == "Deny"
            and {a.lower() for a in _as_list(statement["Action"])} >= SQS_EVENT_SOURCE_ACTIONS
        ]
        assert denies, f"{role_id}: the SQS managed policy on * is not narrowed to {sorted(own_queues)}"
        (deny,) = denies
        assert "Resource" not in deny
        allowed = {_get_att_logical_id(resource) for resource in _as_list(deny["NotResource"])}
        assert allowed == own_queues, (
            f"{role_id} may consume {sorted(allowed)}, its sources are {sorted(own_queues)}"
        )
    assert checked, "no function consumes an SQS queue: this test checks nothing"


def test_the_key_policy_grants_kms_star_only_to_the_account_and_conditions_the_services(
    cloudformation: dict[str, Any],
) -> None:
    """In a key policy `Resource: "*"` means the key itself (the standard form, the only one KMS
    documents); what matters is who gets what. The account root gets kms:* — which lets IAM policies
    (the functions' UseDataKey statements) grant use of the key; a service principal gets named
    actions only, for the resources named in its Condition."""
    keys = _resources_of_type(cloudformation, "AWS::KMS::Key")
    assert keys
    for logical_id, key in keys.items():
        properties = key["Properties"]
        assert properties["EnableKeyRotation"] is True, logical_id
        for statement in properties["KeyPolicy"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert _as_list(statement["Resource"]) == ["*"]
            principal = statement["Principal"]
            if "AWS" in principal:
                assert principal["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            else:
                assert "Service" in principal, statement
                assert "kms:*" not in _as_list(statement["Action"]), statement["Sid"]
                assert statement.get("Condition"), (
                    f"{statement['Sid']}: a service may use the key for anything"
                )


def test_every_http_route_but_intake_needs_a_strategist_token(template: SamTemplate) -> None:
    jwt_authorizers = template.jwt_authorizers()
    open_routes = set()
    guarded = 0
    for function in template.functions().values():
        for event in function.http_events:
            route = f"{event.method} {event.path}"
            if event.authorizer is None:
                open_routes.add(route)
                continue
            guarded += 1
            assert (event.api_logical_id, event.authorizer) in jwt_authorizers, route
    assert open_routes == INTAKE_ROUTES
    assert guarded >= 10


def test_http_apis_protect_new_routes_by_default_and_are_throttled(
    template: SamTemplate, cloudformation: dict[str, Any]
) -> None:
    api_ids = {event.api_logical_id for f in template.functions().values() for event in f.http_events}
    for api_id in api_ids:
        assert template.http_api_auth(api_id).get("DefaultAuthorizer"), f"{api_id}: new routes would be open"
    stages = _resources_of_type(cloudformation, "AWS::ApiGatewayV2::Stage")
    assert {stage["Properties"]["ApiId"]["Ref"] for stage in stages.values()} == api_ids
    for logical_id, stage in stages.items():
        settings = stage["Properties"].get("DefaultRouteSettings", {})
        assert settings.get("ThrottlingBurstLimit", 0) > 0, f"{logical_id} has no burst limit"
        assert settings.get("ThrottlingRateLimit", 0) > 0, f"{logical_id} has no rate limit"


def test_every_function_has_reserved_concurrency_and_sqs_pollers_stay_within_it(
    cloudformation: dict[str, Any],
) -> None:
    """A runaway (a retry storm, a flood of reports) must not take the account's whole concurrency;
    and an SQS event source must not scale past the function's reservation: every throttled
    delivery counts as a receive, so reports would reach the DLQ without ever being tried."""
    functions = _resources_of_type(cloudformation, "AWS::Lambda::Function")
    for logical_id, function in functions.items():
        assert function["Properties"].get("ReservedConcurrentExecutions", 0) >= 1, logical_id
    mappings = _resources_of_type(cloudformation, "AWS::Lambda::EventSourceMapping")
    for logical_id, mapping in mappings.items():
        reserved = functions[mapping["Properties"]["FunctionName"]["Ref"]]["Properties"][
            "ReservedConcurrentExecutions"
        ]
        maximum = mapping["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency")
        queue = cloudformation["Resources"][_get_att_logical_id(mapping["Properties"]["EventSourceArn"])]
        if maximum is None and queue["Properties"].get("FifoQueue") and reserved == 1:
            # MaximumConcurrency cannot go below 2, so it cannot bound a consumer reserved to one.
            # From a FIFO queue Lambda runs one batch per message group at a time: with the single
            # message group its producer uses, one batch is in flight and nothing is throttled.
            continue
        assert maximum is not None, f"{logical_id}: SQS pollers unbounded"
        assert 2 <= maximum <= reserved, f"{logical_id}: MaximumConcurrency {maximum}, reserved {reserved}"


# ---------------------------------------------------------------- security: encryption at rest


def test_every_table_is_encrypted_with_the_data_key(cloudformation: dict[str, Any]) -> None:
    tables = _resources_of_type(cloudformation, "AWS::DynamoDB::Table")
    assert tables
    for logical_id, table in tables.items():
        sse = table["Properties"].get("SSESpecification", {})
        assert (sse.get("SSEEnabled"), sse.get("SSEType")) == (True, "KMS"), logical_id
        assert sse.get("KMSMasterKeyId") == {"Ref": "DataKey"}, logical_id


def test_every_queue_is_encrypted_with_the_data_key(cloudformation: dict[str, Any]) -> None:
    for logical_id, queue in _resources_of_type(cloudformation, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("KmsMasterKeyId") == {"Ref": "DataKey"}, logical_id


def test_buckets_are_encrypted_with_the_data_key_except_the_access_log_destination(
    cloudformation: dict[str, Any],
) -> None:
    """S3 server access logs can only be delivered to an SSE-S3 bucket; every other bucket holds
    report data (shards, snapshots, digests) and uses the data key."""
    buckets = _resources_of_type(cloudformation, "AWS::S3::Bucket")
    log_destinations = {
        b["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
        for b in buckets.values()
        if "LoggingConfiguration" in b["Properties"]
    }
    for logical_id, bucket in buckets.items():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = rule["ServerSideEncryptionByDefault"]
        if logical_id in log_destinations:
            assert default == {"SSEAlgorithm": "AES256"}, logical_id
            continue
        assert default["SSEAlgorithm"] == "aws:kms", f"{logical_id} is not encrypted with the data key"
        assert default["KMSMasterKeyID"] == {"Fn::GetAtt": ["DataKey", "Arn"]}, logical_id
        assert rule.get("BucketKeyEnabled") is True, logical_id
        assert bucket["Properties"].get("LoggingConfiguration"), f"{logical_id} has no access log"


def test_every_function_logs_to_an_encrypted_log_group_with_retention(cloudformation: dict[str, Any]) -> None:
    """Lambda's implicit /aws/lambda/<name> groups keep logs forever, without the data key."""
    log_groups = _resources_of_type(cloudformation, "AWS::Logs::LogGroup")
    for logical_id, function in _resources_of_type(cloudformation, "AWS::Lambda::Function").items():
        log_group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert isinstance(log_group, dict), f"{logical_id} logs to Lambda's implicit log group"
        assert log_group.get("Ref") in log_groups, (
            f"{logical_id}: {log_group} is not a log group of the template"
        )
    for logical_id, log_group in log_groups.items():
        properties = log_group["Properties"]
        assert properties.get("KmsKeyId") == {"Fn::GetAtt": ["DataKey", "Arn"]}, logical_id
        assert 0 < properties.get("RetentionInDays", 0) <= 400, logical_id


def test_the_data_key_lets_cloudwatch_logs_encrypt_each_log_group(cloudformation: dict[str, Any]) -> None:
    """Creating a KMS-encrypted log group fails unless the key policy lets the logs service use the
    key for that group's ARN: each group's name must match the key policy's condition."""
    statements = cloudformation["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    patterns = [
        condition["Fn::Sub"].split(":log-group:", 1)[1]
        for statement in statements
        if "Service" in statement["Principal"]
        for condition in _as_list(
            statement.get("Condition", {}).get("ArnLike", {}).get("kms:EncryptionContext:aws:logs:arn", [])
        )
    ]
    assert patterns
    for logical_id, log_group in _resources_of_type(cloudformation, "AWS::Logs::LogGroup").items():
        name = log_group["Properties"]["LogGroupName"]["Fn::Sub"]
        assert any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns), f"{logical_id}: {name}"


def test_every_bucket_refuses_requests_without_tls(cloudformation: dict[str, Any]) -> None:
    policies = _resources_of_type(cloudformation, "AWS::S3::BucketPolicy")
    for logical_id in _resources_of_type(cloudformation, "AWS::S3::Bucket"):
        arn = {"Fn::GetAtt": [logical_id, "Arn"]}
        statements = [
            statement
            for policy in policies.values()
            if policy["Properties"]["Bucket"] == {"Ref": logical_id}
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            statement["Effect"] == "Deny"
            and statement["Principal"] == "*"
            and _as_list(statement["Action"]) == ["s3:*"]
            and arn in _as_list(statement["Resource"])
            and {"Fn::Sub": f"${{{logical_id}.Arn}}/*"} in _as_list(statement["Resource"])
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in statements
        ), f"{logical_id} accepts requests without TLS"


# ---------------------------------------------------------------- security: the audit trail


def test_no_role_may_change_or_remove_audit_entries(cloudformation: dict[str, Any]) -> None:
    offending = []
    for logical_id, statement in _role_statements(cloudformation):
        if statement["Effect"] != "Allow":
            continue
        resources = _as_list(statement.get("Resource", []))
        if not any(_may_be_audit_table(resource) for resource in resources):
            continue
        for action in _as_list(statement.get("Action", [])):
            offending += [
                (logical_id, statement.get("Sid"), mutation)
                for mutation in AUDIT_MUTATIONS
                if fnmatch.fnmatchcase(mutation.lower(), str(action).lower())
            ]
    assert offending == []


def test_the_audit_table_denies_every_principal_any_change_and_keeps_its_entries(
    cloudformation: dict[str, Any],
) -> None:
    """Whatever IAM policy someone holds (an administrator included), entries are never updated or
    removed: the table's own policy denies it to every principal, no TTL expires them, and the
    table outlives its stack."""
    table = cloudformation["Resources"][AUDIT_TABLE]
    properties = table["Properties"]
    denied: set[str] = set()
    for statement in properties["ResourcePolicy"]["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Deny" and statement["Principal"] == "*" and "Condition" not in statement:
            assert _may_be_audit_table(statement["Resource"]), statement
            denied.update(action.lower() for action in _as_list(statement["Action"]))
    assert {mutation.lower() for mutation in AUDIT_MUTATIONS} <= denied
    assert "TimeToLiveSpecification" not in properties
    assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def _resources_of_type(cloudformation: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in cloudformation["Resources"].items() if r["Type"] == kind}


def _statements_of_role(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
    ]


def _role_statements(cloudformation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, statement)
        for logical_id, role in _resources_of_type(cloudformation, "AWS::IAM::Role").items()
        for statement in _statements_of_role(role)
    ]


def _is_wildcard_resource(resource: Any) -> bool:
    """Whether a resource is `*` or an ARN with a wildcard service, region, account or resource
    (`arn:aws:sqs:*:*:*`)."""
    text = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
    if isinstance(text, list):  # Fn::Sub [template, variables]
        text = text[0]
    if not isinstance(text, str):
        return False
    if text == "*":
        return True
    # ${AWS::Region} and friends hold colons of their own: one placeholder each before splitting.
    parts = _SUBSTITUTION.sub("x", text).split(":", 5)
    return parts[0] == "arn" and any(part in ("*", "*/*") for part in parts[1:])


def _may_be_audit_table(resource: Any) -> bool:
    """Whether a statement's resource is (or may cover) the audit table."""
    if resource == "*":
        return True
    text = json.dumps(resource)
    if f'"{AUDIT_TABLE}"' in text or f"${{{AUDIT_TABLE}" in text:  # Ref / GetAtt, or in an Fn::Sub
        return True
    audit_table_name = "riskradar-audit-x"
    return any(
        fnmatch.fnmatchcase(audit_table_name, _SUBSTITUTION.sub("x", name))
        for name in re.findall(r"table/([^\"/]*)", text)
    )


def _aws_managed_policy_name(arn: Any) -> str:
    text = arn if isinstance(arn, str) else json.dumps(arn)
    prefix = "arn:aws:iam::aws:policy/"
    assert text.startswith(prefix), f"not an AWS managed policy: {text}"
    return text.removeprefix(prefix)


def _get_att_logical_id(value: Any) -> str:
    assert isinstance(value, dict), value
    assert "Fn::GetAtt" in value, value
    return str(value["Fn::GetAtt"][0])


def _event_source_queues(cloudformation: dict[str, Any]) -> dict[str, set[str]]:
    """The queues each function consumes through its SQS event source mappings."""
    queues: dict[str, set[str]] = {}
    for mapping in _resources_of_type(cloudformation, "AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        queues.setdefault(properties["FunctionName"]["Ref"], set()).add(
            _get_att_logical_id(properties["EventSourceArn"])
        )
    return queues


def test_functions_run_python_312_or_newer_on_arm64(cloudformation: dict[str, Any]) -> None:
    functions = [r for r in cloudformation["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions
    for function in functions:
        properties = function["Properties"]
        assert properties["Architectures"] == ["arm64"]
        if properties.get("PackageType") != "Image":
            major, minor = properties["Runtime"].removeprefix("python").split(".")
            assert (int(major), int(minor)) >= (3, 12)


def test_every_queue_is_encrypted_and_every_source_queue_has_a_dead_letter_queue(
    template: SamTemplate,
) -> None:
    queues = {k: r for k, r in template.resources.items() if r["Type"] == "AWS::SQS::Queue"}
    dead_letter_targets = {
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for r in queues.values()
        if "RedrivePolicy" in r.get("Properties", {})
    }
    for logical_id, queue in queues.items():
        properties = queue["Properties"]
        assert "KmsMasterKeyId" in properties, f"{logical_id} is not encrypted with the data key"
        if logical_id not in dead_letter_targets:
            assert properties["RedrivePolicy"]["maxReceiveCount"] == 5, logical_id


def test_every_function_has_a_sample_event(template: SamTemplate) -> None:
    for logical_id, function in template.functions().items():
        assert function.code_dir is not None
        prefix = function.code_dir.name
        assert list((ROOT / "events").glob(f"{prefix}_*.json")), f"no events/{prefix}_*.json for {logical_id}"


def test_every_http_route_has_a_sample_event(template: SamTemplate) -> None:
    route_keys = {
        f"{event.method} {event.path}"
        for function in template.functions().values()
        for event in function.http_events
    }
    sample_route_keys = {json.loads(p.read_text()).get("routeKey") for p in (ROOT / "events").glob("*.json")}
    assert route_keys <= sample_route_keys


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_each_route_is_served_by_the_function_whose_handler_declares_it(template: SamTemplate) -> None:
    """A route attached to the wrong function still deploys (and passed cfn-lint once, after a bad
    merge): compare the template's routes with the routes each handler's resolver declares."""
    declared: dict[str, set[str]] = {}
    for logical_id, function in template.functions().items():
        if function.code_dir is None or not (function.code_dir / "app.py").is_file():
            continue
        source = (function.code_dir / "app.py").read_text(encoding="utf-8")
        for method, path in re.findall(r'@app\.(get|post|put|patch|delete)\("([^"]+)"\)', source):
            template_path = re.sub(r"<([a-z_]+)>", r"{\1}", path)
            route = f"{method.upper()} {template_path}"
            declared.setdefault(route, set()).add(logical_id)
    for logical_id, function in template.functions().items():
        for event in function.http_events:
            route = f"{event.method} {event.path}"
            assert declared.get(route) == {logical_id}, f"{route} is attached to {logical_id}"
    served = {f"{e.method} {e.path}" for f in template.functions().values() for e in f.http_events}
    assert set(declared) == served, "a handler declares a route the template does not serve, or the reverse"


def test_the_recluster_job_reads_the_online_detectors_state_where_it_is_kept(template: SamTemplate) -> None:
    def environment(logical_id: str) -> dict[str, Any]:
        variables: dict[str, Any] = template.resources[logical_id]["Properties"]["Environment"]["Variables"]
        return variables

    key = environment("NoveltyFunction")["NOVELTY_STATE_KEY"]
    assert environment("ReclusterFunction")["NOVELTY_STATE_KEY"] == key
    statements = template.resources["ReclusterFunction"]["Properties"]["Policies"][1]["Statement"]
    reads = [s for s in statements if s["Sid"] == "ReadOnlineDetectorState"]
    assert [(s["Action"], s["Resource"]["Fn::Sub"]) for s in reads] == [
        ("s3:GetObject", "${ArtifactsBucket.Arn}/" + key)
    ]


def test_the_recluster_job_may_write_compacted_shards_and_no_other_shard(template: SamTemplate) -> None:
    statements = template.resources["ReclusterFunction"]["Properties"]["Policies"][1]["Statement"]
    writable = [
        statement["Resource"]["Fn::Sub"].removeprefix("${ArtifactsBucket.Arn}/")
        for statement in statements
        if "s3:PutObject" in json.dumps(statement["Action"])
    ]
    day = date(2026, 11, 20)
    # The keys the adapter writes: a compacted shard's fall under a grant, a triage shard's under none.
    assert any(fnmatch.fnmatchcase(compacted_shard_key(day, 1), pattern) for pattern in writable)
    assert not any(fnmatch.fnmatchcase(shard_key(day), pattern) for pattern in writable), writable
    deletable = [
        statement["Resource"]["Fn::Sub"].removeprefix("${ArtifactsBucket.Arn}/")
        for statement in statements
        if "s3:DeleteObject" in json.dumps(statement["Action"])
    ]
    assert any(fnmatch.fnmatchcase(compacted_shard_key(day, 1), pattern) for pattern in deletable)
    # No function may delete a triage shard (the online detector reads them by key for weeks).
    for logical_id in template.functions():
        for statement in _inline_statements(template, logical_id):
            actions = json.dumps(statement.get("Action"))
            if statement.get("Effect") != "Allow" or not ("s3:Delete" in actions or "s3:*" in actions):
                continue
            for pattern in _artifact_key_patterns(statement.get("Resource")):
                assert not fnmatch.fnmatchcase(shard_key(day), pattern), (logical_id, statement)
    # What it deletes does not linger as noncurrent versions (nor delete markers) of the versioned bucket.
    rules = template.resources["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(
        compacted_shard_key(day, 1).startswith(rule["Prefix"])
        and rule["NoncurrentVersionExpiration"]
        and rule.get("ExpiredObjectDeleteMarker") is True
        for rule in rules
        if rule["Status"] == "Enabled"
    )


def test_every_function_that_reads_artifacts_may_list_the_bucket(template: SamTemplate) -> None:
    """S3 answers a GetObject of a missing key with 403, not 404 (NoSuchKey), unless the caller may
    list the bucket; the adapters read "no snapshot / digest / state yet" from NoSuchKey."""
    for logical_id in template.functions():
        statements = [s for s in _inline_statements(template, logical_id) if s.get("Effect") == "Allow"]
        reads = any(
            "s3:GetObject" in json.dumps(s.get("Action")) and _artifact_key_patterns(s.get("Resource"))
            for s in statements
        )
        lists = any(
            "s3:ListBucket" in json.dumps(s.get("Action"))
            and s.get("Resource")
            in ({"Fn::GetAtt": "ArtifactsBucket.Arn"}, {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]})
            for s in statements
        )
        assert lists or not reads, f"{logical_id} reads the artifacts bucket but may not list it"


def _inline_statements(template: SamTemplate, logical_id: str) -> list[dict[str, Any]]:
    policies = template.resources[logical_id]["Properties"].get("Policies", [])
    return [
        statement
        for policy in policies
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
    ]


def _artifact_key_patterns(resource: Any) -> list[str]:
    """The object-key patterns in the artifacts bucket a statement's Resource names."""
    values = resource if isinstance(resource, list) else [resource]
    subs = [value["Fn::Sub"] if isinstance(value, dict) else value for value in values]
    prefix = "${ArtifactsBucket.Arn}/"
    return [sub.removeprefix(prefix) for sub in subs if isinstance(sub, str) and sub.startswith(prefix)]


# ---------------------------------------------------------------- data retention

RETENTION = {"Ref": "ReportRetentionDays"}


def test_reports_are_kept_longer_than_any_window_notice_or_redrive_that_reads_them(
    template: SamTemplate,
) -> None:
    """The shortest retention allowed still outlasts the longest recluster window plus the time SQS
    keeps a message (a shard notice waiting for the online detector, a report in a dead-letter
    queue), and the floor triage keeps a backdated report's record for."""
    parameters = template.document["Parameters"]
    shortest = parameters["ReportRetentionDays"]["MinValue"]
    queue_retention = {
        timedelta(seconds=int(resource["Properties"]["MessageRetentionPeriod"]))
        for resource in template.resources.values()
        if resource["Type"] == "AWS::SQS::Queue"
    }
    assert queue_retention == {SQS_MESSAGE_RETENTION}
    longest_window = timedelta(days=parameters["ReclusterWindowDays"]["MaxValue"])
    assert timedelta(days=shortest) > longest_window + SQS_MESSAGE_RETENTION
    assert timedelta(days=shortest) > RECORD_KEPT_AFTER_TRIAGE
    # The floor covers a message's time in IntakeQueue, in its dead-letter queue and once redriven.
    assert RECORD_KEPT_AFTER_TRIAGE >= 3 * SQS_MESSAGE_RETENTION


def test_triage_reads_the_retention_period_the_template_hands_it(template: SamTemplate) -> None:
    variables = template.resources["TriageFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["REPORT_RETENTION_DAYS"] == RETENTION
    spec = template.document["Parameters"]["ReportRetentionDays"]
    environment = {
        name.upper(): "x"
        for name, field in TriageSettings.model_fields.items()
        if field.is_required() and name != "report_retention_days"
    }
    # No default of its own to drift from the template's; exactly the parameter's range is accepted.
    with pytest.raises(ConfigError, match="REPORT_RETENTION_DAYS"):
        TriageSettings.from_env(environment)
    for days in (spec["MinValue"], spec["Default"], spec["MaxValue"]):
        settings = TriageSettings.from_env(environment | {"REPORT_RETENTION_DAYS": str(days)})
        assert settings.report_retention_days == days
    for days in (spec["MinValue"] - 1, spec["MaxValue"] + 1):
        with pytest.raises(ConfigError, match="REPORT_RETENTION_DAYS"):
            TriageSettings.from_env(environment | {"REPORT_RETENTION_DAYS": str(days)})


def test_report_records_expire_by_the_attribute_triage_sets(template: SamTemplate) -> None:
    properties = template.resources["ReportsTable"]["Properties"]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_report_data_in_the_bucket_expires_after_the_retention_period(template: SamTemplate) -> None:
    """Triage's shards, compacted shards, snapshots and digests; S3 counts from each object's
    creation. On the versioned bucket expiry leaves the data as a noncurrent version, which must
    expire as well. The pointers readers follow are rewritten every run, and must not expire."""
    day = date(2026, 11, 20)
    rules = [
        rule
        for rule in template.resources["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        if rule["Status"] == "Enabled"
    ]
    report_data = (
        shard_key(day),
        compacted_shard_key(day, 1),
        "themes/v0000000042/manifest.json",
        "themes/v0000000042/members.npz",
        "digests/v0000000042/20261120T100000Z/digest.html",
    )
    for key in report_data:
        assert any(key.startswith(r["Prefix"]) and r.get("ExpirationInDays") == RETENTION for r in rules), key
        assert any(key.startswith(r["Prefix"]) and r.get("NoncurrentVersionExpiration") for r in rules), key
    for pointer in (SNAPSHOT_POINTER_KEY, DIGEST_POINTER_KEY):
        assert not any(pointer.startswith(r["Prefix"]) and "ExpirationInDays" in r for r in rules), pointer
        assert any(pointer.startswith(r["Prefix"]) and r.get("NoncurrentVersionExpiration") for r in rules)
