"""Typed, read-only views of a SAM template: the single source of truth for the local stack.

Everything the local stack wires up (code locations, layers, HTTP routes, parameters) is read
from here or from what moto deployed from it; nothing is listed a second time by hand.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

JsonDict = dict[str, Any]

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
SERVERLESS_HTTP_API = "AWS::Serverless::HttpApi"
#: The logical id SAM gives the HTTP API it creates for `HttpApi` events without an `ApiId`.
IMPLICIT_HTTP_API = "ServerlessHttpApi"


class SamTemplateError(ValueError):
    """The template cannot be used as given (unknown parameter, missing code directory, ...)."""


#: The route `Auth.Authorizer` that opts a route out of its API's DefaultAuthorizer.
NO_AUTHORIZER = "NONE"
#: Where API Gateway can read a JWT authorizer's token from (header or query string parameter).
_IDENTITY_SOURCE = re.compile(r"^\$request\.(header|querystring)\.(.+)$")


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
    #: The name of the JWT authorizer that guards the route (see `SamTemplate.jwt_authorizers`):
    #: the route's `Auth.Authorizer`, else its API's `DefaultAuthorizer`; None for an open route.
    authorizer: str | None = None
    #: Scopes of which a token must carry at least one; empty: any valid token will do.
    authorization_scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JwtAuthorizer:
    """A JWT authorizer of an HTTP API, its `!Ref`s resolved against the stack's parameters."""

    api_logical_id: str
    name: str
    issuer: str
    audience: tuple[str, ...]
    #: `$request.header.<name>` or `$request.querystring.<name>`.
    identity_source: str

    @property
    def identity_source_location(self) -> tuple[str, str]:
        """("header" | "querystring", name) of the identity source."""
        found = _IDENTITY_SOURCE.match(self.identity_source)
        if found is None:  # refused when the view was built
            raise ValueError(f"unsupported identity source {self.identity_source}")
        return found[1], found[2]


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
        """Every function with its HTTP routes.

        Raises SamTemplateError for a route guarded by an authorizer the local stack cannot
        enforce (a Lambda or IAM authorizer): serving it open would be worse than not at all.
        """
        return {
            logical_id: self._function(logical_id, resource)
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == SERVERLESS_FUNCTION
        }

    def http_api_auth(self, api_logical_id: str) -> JsonDict:
        """The `Auth` of an HTTP API, with `Globals.HttpApi.Auth` merged in as SAM does.

        The implicit API that SAM creates for events without an `ApiId` has only the globals.
        """
        global_auth: JsonDict = self._document.get("Globals", {}).get("HttpApi", {}).get("Auth", {}) or {}
        resource = self.resources.get(api_logical_id, {})
        if resource.get("Type") == SERVERLESS_HTTP_API:
            own_auth: JsonDict = resource.get("Properties", {}).get("Auth", {}) or {}
        elif api_logical_id == IMPLICIT_HTTP_API:
            own_auth = {}
        else:
            raise SamTemplateError(f"{api_logical_id} is not an {SERVERLESS_HTTP_API} of {self.path.name}")
        return _merged(global_auth, own_auth)

    def jwt_authorizers(
        self, parameters: Mapping[str, str] | None = None
    ) -> dict[tuple[str, str], JwtAuthorizer]:
        """The JWT authorizers of every HTTP API, by (API logical id, authorizer name).

        Authorizers of other kinds (Lambda, IAM) are not listed; routes that use them are refused
        by `functions()`.
        """
        found: dict[tuple[str, str], JwtAuthorizer] = {}
        for api_id in self._http_api_ids():
            authorizers: Mapping[str, JsonDict] = self.http_api_auth(api_id).get("Authorizers", {}) or {}
            for name, spec in authorizers.items():
                if isinstance(spec, dict) and "JwtConfiguration" in spec:
                    found[(api_id, name)] = self.jwt_authorizer(api_id, name, parameters)
        return found

    def jwt_authorizer(
        self, api_logical_id: str, name: str, parameters: Mapping[str, str] | None = None
    ) -> JwtAuthorizer:
        """One JWT authorizer of an HTTP API (as a route's `HttpApiEvent.authorizer` names it).

        `parameters` are the stack's parameter overrides: `issuer` and `audience` may be `!Ref`s
        to template parameters, resolved as `parameter_values(parameters)` resolves them.
        """
        spec = (self.http_api_auth(api_logical_id).get("Authorizers", {}) or {}).get(name)
        if not isinstance(spec, dict) or "JwtConfiguration" not in spec:
            raise SamTemplateError(f"{api_logical_id} has no JWT authorizer {name}")
        return _jwt_authorizer(api_logical_id, name, spec, self.parameter_values(parameters), self.path.name)

    def _http_api_ids(self) -> list[str]:
        api_ids = [
            logical_id
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == SERVERLESS_HTTP_API
        ]
        return [*api_ids, IMPLICIT_HTTP_API] if IMPLICIT_HTTP_API not in api_ids else api_ids

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
            self._http_api_event(logical_id, name, event.get("Properties", {}) or {})
            for name, event in events.items()
            if event.get("Type") == "HttpApi"
        )
        return SamFunction(logical_id, code_dir, image_handler, layer_ids, http_events)

    def _http_api_event(
        self, function_logical_id: str, event_name: str, properties: JsonDict
    ) -> HttpApiEvent:
        api = properties.get("ApiId")
        api_logical_id = api["Ref"] if isinstance(api, dict) and "Ref" in api else IMPLICIT_HTTP_API
        method = properties.get("Method")
        path = properties.get("Path")
        authorizer, scopes = self._route_authorization(
            f"{function_logical_id}.{event_name}", api_logical_id, properties.get("Auth") or {}
        )
        return HttpApiEvent(
            function_logical_id=function_logical_id,
            event_name=event_name,
            method=str(method).upper() if method else None,
            path=str(path) if path else None,
            api_logical_id=api_logical_id,
            payload_format_version=str(properties.get("PayloadFormatVersion", "2.0")),
            authorizer=authorizer,
            authorization_scopes=scopes,
        )

    def _route_authorization(
        self, route_name: str, api_logical_id: str, route_auth: JsonDict
    ) -> tuple[str | None, tuple[str, ...]]:
        """(authorizer name or None, required scopes) as SAM's translator sets a route's security.

        SAM (samtranslator's OpenApiEditor): a route's own `Auth.Authorizer` wins; without one
        the API's `DefaultAuthorizer` applies (and the route's `AuthorizationScopes` are then
        ignored); `NONE` opts out. The route's `AuthorizationScopes`, when not empty, replace the
        authorizer's own `AuthorizationScopes`.
        """
        self._refuse_openapi_security(route_name, api_logical_id)
        api_auth = self.http_api_auth(api_logical_id)
        authorizers: Mapping[str, JsonDict] = api_auth.get("Authorizers", {}) or {}
        name = route_auth.get("Authorizer")
        route_scopes: list[str] = list(route_auth.get("AuthorizationScopes") or []) if name else []
        if not name:
            name = api_auth.get("DefaultAuthorizer")
        if not name or name == NO_AUTHORIZER:
            return None, ()
        if name == "AWS_IAM":
            raise SamTemplateError(
                f"{route_name} uses the AWS_IAM authorizer, which the local stack cannot enforce "
                "(it would serve the route open)"
            )
        spec = authorizers.get(name)
        if not isinstance(spec, dict):
            raise SamTemplateError(
                f"{route_name} names authorizer {name}, which {api_logical_id} does not define"
            )
        if "JwtConfiguration" not in spec:
            raise SamTemplateError(
                f"{route_name} uses {api_logical_id}'s authorizer {name}, a Lambda authorizer: only JWT "
                "authorizers are enforced locally, and the route would be served open"
            )
        scopes = route_scopes or list(spec.get("AuthorizationScopes") or [])
        return str(name), tuple(str(scope) for scope in scopes)

    def _refuse_openapi_security(self, route_name: str, api_logical_id: str) -> None:
        """Security in an API's own OpenAPI document would be lost locally: the route served open."""
        properties: JsonDict = self.resources.get(api_logical_id, {}).get("Properties", {}) or {}
        if "DefinitionUri" in properties or _has_key(properties.get("DefinitionBody"), "security"):
            raise SamTemplateError(
                f"{route_name}: {api_logical_id} has an OpenAPI definition that may guard its routes, and "
                "the local stack reads authorizers only from Auth: declare them there"
            )

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


def _has_key(node: object, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(_has_key(value, key) for value in node.values())
    if isinstance(node, list):
        return any(_has_key(item, key) for item in node)
    return False


def _merged(base: JsonDict, override: JsonDict) -> JsonDict:
    """SAM's Globals merge for maps: keys of both, the resource's value winning, maps merged."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _jwt_authorizer(
    api_id: str, name: str, spec: JsonDict, parameters: Mapping[str, str], template_name: str
) -> JwtAuthorizer:
    where = f"{api_id} authorizer {name}"
    # SAM lower-cases the JwtConfiguration keys before writing the OpenAPI document.
    configuration = {str(key).lower(): value for key, value in (spec.get("JwtConfiguration") or {}).items()}
    issuer = configuration.get("issuer")
    if issuer is None:
        raise SamTemplateError(f"{where}: JwtConfiguration has no issuer")
    audience = configuration.get("audience")
    if isinstance(audience, dict):  # `audience: !Ref SomeCommaDelimitedList`
        members = _resolve(audience, parameters, where, template_name).split(",")
    elif isinstance(audience, list):
        members = [
            member
            for item in audience
            for member in _resolve(item, parameters, where, template_name).split(",")
        ]
    else:
        raise SamTemplateError(f"{where}: JwtConfiguration.audience must be a list")
    members = [member.strip() for member in members if member.strip()]
    if not members:
        raise SamTemplateError(f"{where}: JwtConfiguration.audience is empty")
    identity_source = spec.get("IdentitySource")
    if not isinstance(identity_source, str) or not _IDENTITY_SOURCE.match(identity_source):
        raise SamTemplateError(
            f"{where}: IdentitySource {identity_source!r} is not supported locally "
            "(use $request.header.<name> or $request.querystring.<name>)"
        )
    return JwtAuthorizer(
        api_logical_id=api_id,
        name=name,
        issuer=_resolve(issuer, parameters, where, template_name),
        audience=tuple(members),
        identity_source=identity_source,
    )


def _resolve(value: object, parameters: Mapping[str, str], where: str, template_name: str) -> str:
    """A literal or a `!Ref` to a template parameter; anything else cannot be known before deploy."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[str(value["Ref"])]
    raise SamTemplateError(
        f"{where}: {value!r} is neither a literal nor a !Ref to a parameter of {template_name}; the "
        "local stack resolves only those (make the issuer a parameter so that it can be set locally)"
    )
