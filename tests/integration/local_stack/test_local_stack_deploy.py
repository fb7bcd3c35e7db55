"""Deploying a SAM template into moto: parameters, outputs, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskradar.local import LocalStack, SamTemplateError, StackDeploymentError, StackNameInUseError
from riskradar.local.template import SamTemplate
from tests.integration.local_stack.probe_stack import PROBE_ISSUER_PARAMETER, PROBE_TEMPLATE


def test_parameters_take_template_defaults_and_overrides() -> None:
    template = SamTemplate.load(PROBE_TEMPLATE)

    assert template.parameter_values() == {
        "Stage": "probe",
        "Colors": "red,green",
        "SecretParameterName": "/probe/secret",
        "ProbeIssuer": "https://issuer.example.invalid/probe",
        "ProbeAudiences": "probe-client,probe-other-client",
    }
    assert template.parameter_values({"Colors": " blue , cyan"})["Colors"] == "blue,cyan"
    with pytest.raises(SamTemplateError, match="Colour"):
        template.parameter_values({"Colour": "red"})


def test_a_missing_template_is_reported_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "template.yaml"

    with pytest.raises(FileNotFoundError, match=str(missing)):
        LocalStack.start(missing)


def test_outputs_that_name_resources_moto_cannot_create_are_dropped(stack: LocalStack) -> None:
    (described,) = stack.client("cloudformation").describe_stacks(StackName=stack.stack_name)["Stacks"]

    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert [output["OutputKey"] for output in described["Outputs"]] == ["WorkQueueUrl"]
    assert described["Outputs"][0]["OutputValue"].endswith("/probe-work-it")  # the Stage override
    with pytest.raises(KeyError, match="not created by moto"):
        stack.physical_id("ProbeApi")


def test_a_stack_moto_cannot_create_fails_with_the_reason(stack: LocalStack, tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  BadQueue:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      QueueName: not a valid name!\n"
    )

    with pytest.raises(StackDeploymentError, match="alphanumeric") as failure:
        LocalStack.start(template, stack_name="broken-probe")

    assert failure.value.stack_name == "broken-probe"
    # The session's probe stack, sharing moto's process-global state, is untouched.
    assert stack.invoke_http("GET", "/items/special")["statusCode"] == 200


def test_a_second_stack_of_the_same_name_is_refused_and_the_first_survives(stack: LocalStack) -> None:
    with pytest.raises(StackNameInUseError):
        LocalStack.start(
            PROBE_TEMPLATE,
            stack_name=stack.stack_name,
            parameters={"Stage": "twin"},
            jwt_issuer_parameters=[PROBE_ISSUER_PARAMETER],
        )

    (described,) = stack.client("cloudformation").describe_stacks(StackName=stack.stack_name)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert stack.invoke_http("GET", "/items/special")["statusCode"] == 200
