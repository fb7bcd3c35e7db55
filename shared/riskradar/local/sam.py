"""Offline `sam package` + `sam deploy` into moto: package, translate SAM to CloudFormation, create.

moto ignores `Transform:`, so the template is translated here with aws-sam-translator (the library
behind CloudFormation's AWS::Serverless transform) and the plain CloudFormation result is created.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from moto.cloudformation.parsing import NULL_MODELS, get_model_map
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

from riskradar.local.logs import logger
from riskradar.local.template import SERVERLESS_FUNCTION, SERVERLESS_LAYER, JsonDict, SamTemplate

#: moto's default account; every ARN and queue URL it returns carries it.
ACCOUNT_ID = "123456789012"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
_CREATE_TIMEOUT_S = 60.0
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_SUB_REFERENCE = re.compile(r"\$\{([^!}][^}]*)\}")


class StackDeploymentError(RuntimeError):
    """CloudFormation (moto) could not create the stack; `reasons` says which resources and why."""

    def __init__(self, stack_name: str, reasons: list[str]) -> None:
        self.stack_name = stack_name
        self.reasons = reasons
        super().__init__(f"stack {stack_name} was not created:\n  " + "\n  ".join(reasons))


class StackNameInUseError(StackDeploymentError):
    """A stack of this name already exists in moto, whose state the whole process shares."""

    def __init__(self, stack_name: str) -> None:
        super().__init__(stack_name, ["a stack of this name already exists in this process's moto"])


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    resource_type: str
    physical_id: str


@dataclass(frozen=True)
class DeployedStack:
    name: str
    resources: Mapping[str, StackResource]
    #: Logical ids of the event source mappings the template enables; they are created disabled
    #: in moto (see `disable_event_source_mappings`) and polled locally instead.
    enabled_event_source_mappings: frozenset[str]
    #: Resources moto's CloudFormation cannot create, by logical id: they do not exist locally.
    skipped_resources: Mapping[str, str]

    def physical_id(self, logical_id: str) -> str:
        if logical_id in self.resources:
            return self.resources[logical_id].physical_id
        if logical_id in self.skipped_resources:
            raise KeyError(
                f"{logical_id} ({self.skipped_resources[logical_id]}) is not created by moto's CloudFormation"
            )
        raise KeyError(f"stack {self.name} has no resource {logical_id}")

    def of_type(self, resource_type: str) -> Iterator[StackResource]:
        return (resource for resource in self.resources.values() if resource.resource_type == resource_type)


class _NoManagedPolicyLookup:
    """samtranslator resolves AWS managed policy names from the list it bundles; this loader is
    asked only for unknown names, and answering "none" keeps translation offline."""

    def load(self) -> dict[str, str]:
        return {}


def deploy(
    template: SamTemplate,
    parameters: Mapping[str, str],
    *,
    stack_name: str,
    region: str,
    cloudformation: Any,
    s3: Any,
) -> DeployedStack:
    """Package, translate and create `template` as `stack_name`; return what was created."""
    _require_unused_stack_name(cloudformation, stack_name)
    packaged = package(template, s3, bucket=f"{stack_name.lower()}-artifacts", region=region)
    resolved = translate(packaged, parameters, region=region, stack_name=stack_name)
    enabled_mappings = disable_event_source_mappings(resolved)
    skipped = unsupported_resources(resolved)
    dropped = drop_outputs_referencing(resolved, set(skipped))
    if skipped:
        logger.info(
            "moto cannot create %s; they are skipped locally",
            ", ".join(f"{logical_id} ({kind})" for logical_id, kind in sorted(skipped.items())),
        )
    if dropped:
        logger.info("outputs dropped because they reference skipped resources: %s", ", ".join(dropped))
    _create_stack(cloudformation, stack_name, resolved, parameters)
    return DeployedStack(stack_name, _stack_resources(cloudformation, stack_name), enabled_mappings, skipped)


def package(template: SamTemplate, s3: Any, *, bucket: str, region: str) -> JsonDict:
    """What `sam package` does: upload each local CodeUri/ContentUri as a zip, point it at S3."""
    document = template.document
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    global_code_uri = template.function_globals().get("CodeUri")
    for logical_id, resource in document["Resources"].items():
        kind = resource.get("Type")
        if kind not in (SERVERLESS_FUNCTION, SERVERLESS_LAYER):
            continue
        properties = resource.setdefault("Properties", {})
        if kind == SERVERLESS_FUNCTION and properties.get("PackageType") == "Image":
            # `sam package` would push the image to ECR; moto does not check the URI by default.
            image = f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{logical_id.lower()}:local"
            properties.setdefault("ImageUri", image)
            continue
        uri_key = "CodeUri" if kind == SERVERLESS_FUNCTION else "ContentUri"
        uri = properties.get(uri_key, global_code_uri if kind == SERVERLESS_FUNCTION else None)
        if not isinstance(uri, str) or uri.startswith("s3://"):
            continue
        source = template.base_dir / uri
        if not source.is_dir():
            raise FileNotFoundError(f"{logical_id}: {uri_key} directory not found: {source}")
        key = f"{logical_id}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=_zip_directory(source))
        properties[uri_key] = f"s3://{bucket}/{key}"
    return document


def translate(document: JsonDict, parameters: Mapping[str, str], *, region: str, stack_name: str) -> JsonDict:
    """SAM -> CloudFormation, offline (no credentials: managed policy names are bundled)."""
    values: dict[str, Any] = {
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
        **parameters,
    }
    try:
        translated: JsonDict = transform(document, values, _NoManagedPolicyLookup())
    except InvalidDocumentException as error:
        causes = "; ".join(str(cause) for cause in error.causes)
        raise StackDeploymentError(stack_name, [f"SAM translation failed: {causes}"]) from error
    return translated


def disable_event_source_mappings(document: JsonDict) -> frozenset[str]:
    """Create every event source mapping disabled; return the ids the template meant to enable.

    An enabled SQS mapping makes moto consume the queue itself on every SendMessage and invoke
    the function in Docker: without Docker the invoke fails and messages drift into the DLQ
    unprocessed; with Docker disabled they are silently deleted. The local poller reads the
    disabled mappings back and does the polling in Lambda's place.
    """
    enabled: set[str] = set()
    for logical_id, resource in document["Resources"].items():
        if resource.get("Type") != EVENT_SOURCE_MAPPING:
            continue
        properties = resource.setdefault("Properties", {})
        if properties.get("Enabled", True) is not False:
            enabled.add(logical_id)
        properties["Enabled"] = False
    return frozenset(enabled)


def unsupported_resources(document: JsonDict) -> dict[str, str]:
    """Resources moto's CloudFormation would skip with a warning (e.g. AWS::ApiGatewayV2::*)."""
    creatable = set(get_model_map()) | set(NULL_MODELS)
    return {
        logical_id: resource["Type"]
        for logical_id, resource in document["Resources"].items()
        if resource["Type"] not in creatable and not resource["Type"].startswith("Custom::")
    }


def drop_outputs_referencing(document: JsonDict, logical_ids: set[str]) -> list[str]:
    """Remove Outputs that reference a resource moto will not create: moto fails the whole stack
    on such an output (KeyError) instead of leaving it unresolved."""
    outputs: JsonDict = document.get("Outputs", {})
    dropped = [name for name, output in outputs.items() if _references(output) & logical_ids]
    for name in dropped:
        del outputs[name]
    return dropped


def _references(node: object) -> set[str]:
    """Logical ids referenced by Ref, Fn::GetAtt or Fn::Sub anywhere under `node`."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {match.split(".", 1)[0] for match in _SUB_REFERENCE.findall(text)}
                found |= _references(value if isinstance(value, str) else value[1:])
            else:
                found |= _references(value)
    return found


@contextlib.contextmanager
def _quiet_about_skipped_resources() -> Iterator[None]:
    """moto warns about each resource it skips, on every call that parses the template (the
    server runs in this process); `deploy` has already logged them once, by name."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Tried to parse .* not supported by moto")
        yield


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _require_unused_stack_name(cloudformation: Any, stack_name: str) -> None:
    try:
        cloudformation.describe_stacks(StackName=stack_name)
    except ClientError:
        return  # the usual case: no such stack yet
    raise StackNameInUseError(stack_name)


def _create_stack(
    cloudformation: Any, stack_name: str, document: JsonDict, parameters: Mapping[str, str]
) -> None:
    try:
        with _quiet_about_skipped_resources():
            cloudformation.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(document),
                Parameters=[
                    {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
                ],
                Capabilities=_CAPABILITIES,
            )
    except (ClientError, BotoCoreError) as error:
        # moto creates resources inside the CreateStack call, so a resource failure surfaces here
        # (often as an unparsable JSON error body) rather than as a CREATE_FAILED event.
        raise StackDeploymentError(
            stack_name, [_moto_error_text(error), *_failed_events(cloudformation, stack_name)]
        ) from error
    _wait_for_create_complete(cloudformation, stack_name)


def _wait_for_create_complete(cloudformation: Any, stack_name: str) -> None:
    deadline = time.monotonic() + _CREATE_TIMEOUT_S
    while True:
        status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            return
        if not status.endswith("_IN_PROGRESS"):
            raise StackDeploymentError(
                stack_name, [f"status {status}", *_failed_events(cloudformation, stack_name)]
            )
        if time.monotonic() > deadline:
            raise StackDeploymentError(stack_name, [f"still {status} after {_CREATE_TIMEOUT_S:.0f} s"])
        time.sleep(0.05)


def _failed_events(cloudformation: Any, stack_name: str) -> list[str]:
    try:
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    except (ClientError, BotoCoreError):
        return []
    return [
        f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): "
        f"{event['ResourceStatus']} {event.get('ResourceStatusReason', '')}".rstrip()
        for event in events
        if event.get("ResourceStatus", "").endswith("_FAILED")
    ]


def _moto_error_text(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', error)}"
    # An error moto sends as JSON to the XML CloudFormation protocol reaches botocore as a
    # ResponseParserError whose text holds the body; the "message" in it is the useful part.
    match = re.search(r'"__type": "([^"]+)", "message": "((?:[^"\\]|\\.)*)"', str(error))
    return f"{match[1]}: {match[2]}" if match else str(error)


def _stack_resources(cloudformation: Any, stack_name: str) -> dict[str, StackResource]:
    with _quiet_about_skipped_resources():
        rows = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    # Resources moto skipped come back as rows without a logical id: leave them out.
    return {
        row["LogicalResourceId"]: StackResource(
            row["LogicalResourceId"], row["ResourceType"], str(row.get("PhysicalResourceId", ""))
        )
        for row in rows
        if row.get("LogicalResourceId")
    }
