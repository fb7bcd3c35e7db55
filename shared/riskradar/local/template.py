"""Typed, read-only views of a SAM template: the single source of truth for the local stack.

Everything the local stack wires up (code locations, layers, HTTP routes, parameters) is read
from here or from what moto deployed from it; nothing is listed a second time by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

JsonDict = dict[str, Any]

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
#: The logical id SAM gives the HTTP API it creates for `HttpApi` events without an `ApiId`.
IMPLICIT_HTTP_API = "ServerlessHttpApi"


class SamTemplateError(ValueError):
    """The template cannot be used as given (unknown parameter, missing code directory, ...)."""


@dataclass(frozen=True)
class HttpApiEvent:
    """One `HttpApi` event of a function: a route of the HTTP API."""

    function_logical_id: str
    event_name: str
    #: Upper-case method, `ANY`, or None for SAM's catch-all `$default` route.
    method: str | None
    path: str | None
    api_logical_id: str
    payload_format_version: str


@dataclass(frozen=True)
class SamFunction:
    logical_id: str
    #: Where the handler's module lives on this machine: CodeUri for zip functions, the build
    #: context for image functions. None when the code is only remote (s3://...).
    code_dir: Path | None
    #: For image functions, the handler comes from ImageConfig.Command, not from Lambda's Handler.
    image_handler: str | None
    layer_logical_ids: tuple[str, ...]
    http_events: tuple[HttpApiEvent, ...]


class SamTemplate:
    """A loaded SAM template and the directory its relative paths are resolved against."""

    def __init__(self, path: Path, document: JsonDict) -> None:
        self.path = path
        self.base_dir = path.parent
        self._document = document

    @classmethod
    def load(cls, path: Path) -> SamTemplate:
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"SAM template not found: {path}")
        document = yaml_parse(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
            raise SamTemplateError(f"{path} is not a SAM template: it has no Resources mapping")
        return cls(path, document)

    @property
    def document(self) -> JsonDict:
        """A deep copy, so that packaging and translation never alter the loaded template."""
        return copy.deepcopy(self._document)

    @property
    def resources(self) -> Mapping[str, JsonDict]:
        resources: dict[str, JsonDict] = self._document["Resources"]
        return resources

    def function_globals(self) -> JsonDict:
        globals_: JsonDict = self._document.get("Globals", {}).get("Function", {})
        return globals_

    def parameter_values(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every template parameter's value as CloudFormation receives it: a string.

        Defaults come from the template; `overrides` win. All values are passed explicitly to
        CreateStack because moto applies its CommaDelimitedList splitting only to passed values,
        not to defaults (a default "a,b" would reach `!Join` as the characters of the string).
        """
        declared: Mapping[str, JsonDict] = self._document.get("Parameters", {})
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise SamTemplateError(f"parameters not declared in {self.path.name}: {', '.join(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            raw = overrides.get(name, spec.get("Default"))
            if raw is None:
                raise SamTemplateError(f"template parameter {name} has no Default and no value was given")
            value = _parameter_string(raw)
            if spec.get("Type") == "CommaDelimitedList":
                # CloudFormation trims the members of a CommaDelimitedList; moto does not.
                value = ",".join(member.strip() for member in value.split(","))
            values[name] = value
        return values

    def functions(self) -> dict[str, SamFunction]:
        return {
            logical_id: self._function(logical_id, resource)
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == SERVERLESS_FUNCTION
        }

    def layer_dir(self, layer_logical_id: str) -> Path | None:
        """The directory a local layer puts on sys.path, as Lambda would after `sam build`."""
        resource = self.resources.get(layer_logical_id, {})
        if resource.get("Type") != SERVERLESS_LAYER:
            return None
        content_uri = resource.get("Properties", {}).get("ContentUri")
        if not isinstance(content_uri, str) or content_uri.startswith("s3://"):
            return None
        content_dir = self.base_dir / content_uri
        # With a BuildMethod, `sam build` installs ContentUri under python/; without one, the
        # directory is shipped as is and Lambda only puts its python/ folder on the path.
        if resource.get("Metadata", {}).get("BuildMethod"):
            return content_dir
        return content_dir / "python"

    def _function(self, logical_id: str, resource: JsonDict) -> SamFunction:
        properties: JsonDict = resource.get("Properties", {})
        globals_ = self.function_globals()
        package_type = properties.get("PackageType", globals_.get("PackageType", "Zip"))
        code_dir: Path | None = None
        image_handler: str | None = None
        if package_type == "Image":
            code_dir, image_handler = self._image_source(logical_id, resource)
        else:
            code_uri = properties.get("CodeUri", globals_.get("CodeUri"))
            if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
                code_dir = self.base_dir / code_uri
        # SAM Globals concatenate lists: global layers come first.
        layers = [*globals_.get("Layers", []), *properties.get("Layers", [])]
        layer_ids = tuple(layer["Ref"] for layer in layers if isinstance(layer, dict) and "Ref" in layer)
        events: Mapping[str, JsonDict] = properties.get("Events", {}) or {}
        http_events = tuple(
            _http_api_event(logical_id, name, event.get("Properties", {}) or {})
            for name, event in events.items()
            if event.get("Type") == "HttpApi"
        )
        return SamFunction(logical_id, code_dir, image_handler, layer_ids, http_events)

    def _image_source(self, logical_id: str, resource: JsonDict) -> tuple[Path, str]:
        metadata: JsonDict = resource.get("Metadata", {})
        command = resource.get("Properties", {}).get("ImageConfig", {}).get("Command") or []
        if "DockerContext" not in metadata or not command:
            raise SamTemplateError(
                f"image function {logical_id} needs Metadata.DockerContext and ImageConfig.Command "
                "to run locally"
            )
        handler = str(command[0])
        context = self.base_dir / str(metadata["DockerContext"])
        dockerfile_dir = (context / str(metadata.get("Dockerfile", "Dockerfile"))).parent
        module_file = handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
        # The image copies the handler into LAMBDA_TASK_ROOT; locally the handler is found
        # beside its Dockerfile or at the root of the build context.
        for candidate in (dockerfile_dir, context):
            if (candidate / module_file).is_file():
                return candidate, handler
        raise SamTemplateError(
            f"image function {logical_id}: {module_file} is neither in {dockerfile_dir} nor in {context}"
        )


def _parameter_string(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list):
        return ",".join(str(item) for item in raw)
    return str(raw)


def _http_api_event(function_logical_id: str, event_name: str, properties: JsonDict) -> HttpApiEvent:
    api = properties.get("ApiId")
    api_logical_id = api["Ref"] if isinstance(api, dict) and "Ref" in api else IMPLICIT_HTTP_API
    method = properties.get("Method")
    path = properties.get("Path")
    return HttpApiEvent(
        function_logical_id=function_logical_id,
        event_name=event_name,
        method=str(method).upper() if method else None,
        path=str(path) if path else None,
        api_logical_id=api_logical_id,
        payload_format_version=str(properties.get("PayloadFormatVersion", "2.0")),
    )
