"""template.yaml is the single source of truth: it must lint clean, scan clean and keep its promises."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from riskradar.local.sam import translate
from riskradar.local.template import SamTemplate

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


def test_iam_policies_name_no_wildcard_actions_or_resources(cloudformation: dict[str, Any]) -> None:
    offending = []
    for logical_id, resource in cloudformation["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = _as_list(statement.get("Action", []))
                resources = _as_list(statement.get("Resource", []))
                # A bounded pattern such as sqs:SendMessage* is fine; "*" or "service:*" is not.
                offending += [
                    (logical_id, action) for action in actions if action == "*" or action.endswith(":*")
                ]
                offending += [(logical_id, resource) for resource in resources if resource == "*"]
    assert offending == []


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
