"""Which routes the template guards, read as SAM reads it, and what the local stack refuses to serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from riskradar.local import LocalStack, SamTemplateError
from riskradar.local.defaults import JWT_ISSUER_PARAMETER, TEMPLATE, local_stack_options
from riskradar.local.sam import translate
from riskradar.local.template import JwtAuthorizer, SamTemplate
from tests.integration.local_stack.probe_stack import PROBE_ISSUER_PARAMETER, PROBE_TEMPLATE


def route_auth(template: SamTemplate) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """(authorizer, scopes) of every route, by "METHOD path"."""
    return {
        f"{event.method} {event.path}": (event.authorizer, event.authorization_scopes)
        for function in template.functions().values()
        for event in function.http_events
    }


def test_each_route_is_guarded_by_its_own_authorizer_its_apis_default_or_none() -> None:
    routes = route_auth(SamTemplate.load(PROBE_TEMPLATE))

    assert routes["GET /whoami"] == ("ProbeJwt", ())
    assert routes["POST /act"] == ("ProbeJwt", ("probe/act", "probe/admin"))
    assert routes["GET /guarded/default"] == ("GuardedJwt", ("probe/guarded",))
    assert routes["GET /guarded/own-scopes"] == ("GuardedJwt", ("probe/own",))
    assert routes["GET /guarded/open"] == (None, ())
    assert routes["POST /echo"] == (None, ())


def test_the_view_agrees_with_the_security_sam_writes_into_each_apis_openapi() -> None:
    """SAM's translator is the authority on route security; the local view must not drift from it."""
    template = SamTemplate.load(PROBE_TEMPLATE)
    translated = translate(
        packaged(template), template.parameter_values(), region="us-east-1", stack_name="t"
    )
    sam_security: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for resource in translated["Resources"].values():
        if resource["Type"] != "AWS::ApiGatewayV2::Api":
            continue
        for path, operations in resource["Properties"]["Body"]["paths"].items():
            for method, operation in operations.items():
                method_name = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                ((name, scopes),) = (operation.get("security") or [{"NONE": []}])[0].items()
                sam_security[f"{method_name} {path}"] = (None if name == "NONE" else name, tuple(scopes))

    assert route_auth(template) == sam_security


def packaged(template: SamTemplate) -> dict[str, Any]:
    """The template as `sam package` leaves it: code in S3, images in ECR (nothing uploaded)."""
    document = template.document
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://bucket/code.zip"
        if properties.get("PackageType") == "Image":
            properties["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/probe:test"
    return document


def test_issuer_and_audiences_are_resolved_from_the_stacks_parameters() -> None:
    template = SamTemplate.load(PROBE_TEMPLATE)

    authorizers = template.jwt_authorizers(
        {"ProbeIssuer": "https://idp.example/", "ProbeAudiences": " a , b"}
    )

    assert authorizers == {
        ("ProbeApi", "ProbeJwt"): JwtAuthorizer(
            "ProbeApi", "ProbeJwt", "https://idp.example/", ("a", "b"), "$request.header.Authorization"
        ),
        ("GuardedApi", "GuardedJwt"): JwtAuthorizer(
            "GuardedApi",
            "GuardedJwt",
            "https://idp.example/",
            ("probe-client",),
            "$request.querystring.access_token",
        ),
    }


def write_template(
    tmp_path: Path, api_properties: str, route_auth_line: str = "", globals_: str = ""
) -> Path:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Parameters:\n"
        "  Issuer: {Type: String, Default: 'https://idp.example/'}\n"
        f"{globals_}"
        "Resources:\n"
        "  Api:\n"
        "    Type: AWS::Serverless::HttpApi\n"
        "    Properties:\n"
        f"{api_properties}"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: fn/\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.12\n"
        "      Events:\n"
        "        Get:\n"
        "          Type: HttpApi\n"
        "          Properties:\n"
        "            ApiId: !Ref Api\n"
        "            Path: /thing\n"
        "            Method: GET\n"
        f"{route_auth_line}"
    )
    return template


JWT_AUTHORIZER = (
    "      Auth:\n"
    "        Authorizers:\n"
    "          Jwt:\n"
    "            IdentitySource: $request.header.Authorization\n"
    "            JwtConfiguration: {issuer: !Ref Issuer, audience: [client]}\n"
)


@pytest.mark.parametrize(
    ("api_properties", "route_auth_line", "message"),
    [
        (
            "      Auth:\n"
            "        DefaultAuthorizer: Lambda\n"
            "        Authorizers:\n"
            "          Lambda:\n"
            "            FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:authorize\n"
            "            AuthorizerPayloadFormatVersion: '2.0'\n",
            "",
            "a Lambda authorizer",
        ),
        (
            "      Auth: {EnableIamAuthorizer: true}\n",
            "            Auth: {Authorizer: AWS_IAM}\n",
            "AWS_IAM",
        ),
        (JWT_AUTHORIZER, "            Auth: {Authorizer: Missing}\n", "does not define"),
        (
            "      DefinitionBody:\n"
            "        openapi: '3.0.1'\n"
            "        info: {title: t, version: '1'}\n"
            "        security: [{Jwt: []}]\n"
            "        paths: {}\n",
            "",
            "OpenAPI definition",
        ),
    ],
)
def test_a_route_the_local_stack_cannot_guard_is_refused_not_served_open(
    tmp_path: Path, api_properties: str, route_auth_line: str, message: str
) -> None:
    template = SamTemplate.load(write_template(tmp_path, api_properties, route_auth_line))

    with pytest.raises(SamTemplateError, match=message):
        template.functions()


def test_an_issuer_the_local_stack_cannot_resolve_before_deploy_is_refused(tmp_path: Path) -> None:
    api = JWT_AUTHORIZER.replace("!Ref Issuer", '!Sub "https://cognito-idp.${AWS::Region}.amazonaws.com/x"')
    template = SamTemplate.load(write_template(tmp_path, api, "            Auth: {Authorizer: Jwt}\n"))

    with pytest.raises(SamTemplateError, match="neither a literal nor a !Ref"):
        template.jwt_authorizer("Api", "Jwt")


def test_an_identity_source_api_gateway_reads_elsewhere_is_refused(tmp_path: Path) -> None:
    api = JWT_AUTHORIZER.replace("$request.header.Authorization", "$context.identity.sourceIp")
    template = SamTemplate.load(write_template(tmp_path, api, "            Auth: {Authorizer: Jwt}\n"))

    with pytest.raises(SamTemplateError, match="IdentitySource"):
        template.jwt_authorizer("Api", "Jwt")


def test_globals_give_every_http_api_a_default_authorizer(tmp_path: Path) -> None:
    globals_ = (
        "Globals:\n"
        "  HttpApi:\n"
        "    Auth:\n"
        "      DefaultAuthorizer: Jwt\n"
        "      Authorizers:\n"
        "        Jwt:\n"
        "          IdentitySource: $request.header.Authorization\n"
        "          JwtConfiguration: {issuer: !Ref Issuer, audience: [client]}\n"
    )
    template = SamTemplate.load(write_template(tmp_path, "      StageName: $default\n", globals_=globals_))

    assert route_auth(template) == {"GET /thing": ("Jwt", ())}
    assert template.jwt_authorizer("Api", "Jwt").issuer == "https://idp.example/"


def test_a_stack_whose_authorizers_trust_another_issuer_is_refused_before_anything_starts() -> None:
    with pytest.raises(SamTemplateError, match="jwt_issuer_parameters"):
        LocalStack.start(PROBE_TEMPLATE, stack_name="probe-foreign-issuer")


def test_the_local_issuer_parameter_cannot_also_be_given_a_value() -> None:
    with pytest.raises(ValueError, match=PROBE_ISSUER_PARAMETER):
        LocalStack.start(
            PROBE_TEMPLATE,
            stack_name="probe-issuer-twice",
            parameters={PROBE_ISSUER_PARAMETER: "https://idp.example/"},
            jwt_issuer_parameters=[PROBE_ISSUER_PARAMETER],
        )


def test_riskradar_runs_locally_as_the_issuer_of_its_jwt_issuer_parameter(tmp_path: Path) -> None:
    # riskradar's template declares JwtIssuer: locally, the local stack is that issuer.
    assert local_stack_options(TEMPLATE)["jwt_issuer_parameters"] == [JWT_ISSUER_PARAMETER]
    # A template without such a parameter gets no issuer override.
    without = tmp_path / "template.yaml"
    without.write_text(
        TEMPLATE.read_text(encoding="utf-8").replace(
            f"  {JWT_ISSUER_PARAMETER}:\n", "  SomeOtherIssuer:\n", 1
        ),
        encoding="utf-8",
    )
    assert local_stack_options(without)["jwt_issuer_parameters"] == []
