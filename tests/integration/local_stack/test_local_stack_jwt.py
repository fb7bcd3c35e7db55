"""JWT authorizers of the local HTTP API, over a real socket: what API Gateway lets through, and in
which shape the function sees the token's claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from riskradar import cli
from riskradar.local import LocalStack
from riskradar.local.identity import LocalIdentityProvider
from riskradar.local.jwt_authorizer import api_gateway_claims
from tests.integration.local_stack.probe_stack import Probe

HOUR = 3600


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> str:
    return stack.serve_http()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(signature)}"


def valid_payload(stack: LocalStack, **overrides: Any) -> dict[str, Any]:
    """The claims of a token the stack would accept (taken from one it issued)."""
    return unverified_claims(stack.issue_token("mallory")) | overrides


# ------------------------------------------------------------------ rejected: 401, handler not run


def test_a_request_without_a_token_is_401_and_never_reaches_the_function(api: str, probe: Probe) -> None:
    before = probe.calls("whoami")

    response = requests.get(f"{api}/whoami", timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"] == 'Bearer scope=""'
    assert probe.calls("whoami") == before


def test_tokens_that_fail_a_check_are_401_with_the_reason_in_www_authenticate(
    api: str, stack: LocalStack, probe: Probe
) -> None:
    now = int(time.time())
    provider = stack.identity_provider
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = provider_public_pem(provider)

    def token(**claims: Any) -> str:
        return stack.issue_token("bob", claims=claims)

    cases = {
        "expired": (token(iat=now - 2 * HOUR, exp=now - HOUR), "has expired"),
        "not valid yet": (token(nbf=now + HOUR), "is not valid yet"),
        "issued in the future": (token(iat=now + HOUR), "issued in the future"),
        "without exp": (token(exp=None), "has no exp claim"),
        "wrong issuer": (token(iss="https://issuer.example.invalid/probe"), "does not have a valid issuer"),
        "wrong audience": (token(aud="someone-else"), "does not have a valid audience"),
        # API Gateway looks at client_id only when there is no aud.
        "wrong aud beside a valid client_id": (
            token(aud="someone-else", client_id="probe-client"),
            "does not have a valid audience",
        ),
        "neither aud nor client_id": (token(aud=None), "does not have a valid audience"),
        "signed by another key under the issuer's kid": (
            jwt.encode(valid_payload(stack), other_key, algorithm="RS256", headers={"kid": provider.key_id}),
            "signature is invalid",
        ),
        "claims changed after signing": (
            tampered(stack.issue_token("bob"), sub="admin"),
            "signature is invalid",
        ),
        # A key of another run of the stack: same issuer, different key.
        "from an earlier run": (
            LocalIdentityProvider.generate(provider.issuer).issue_token("bob", audience="probe-client"),
            "kid does not match any key",
        ),
        "alg none": (unsigned_token({"alg": "none", "kid": provider.key_id}, valid_payload(stack)), "RSA"),
        # The classic confusion: HMAC "signed" with the issuer's public key as the shared secret.
        "HS256 with the public key as secret": (
            hs256_token(valid_payload(stack), public_pem, provider.key_id),
            "not signed with an RSA algorithm",
        ),
        "not a JWT": ("opaque-token", "invalid number of segments"),
    }
    before = probe.calls("whoami")

    for case, (refused, reason) in cases.items():
        response = requests.get(f"{api}/whoami", headers=bearer(refused), timeout=10)

        assert response.status_code == 401, case
        assert response.json() == {"message": "Unauthorized"}, case
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer scope="" error="invalid_token" error_description="'), case
        assert reason in challenge, case
    assert probe.calls("whoami") == before


def provider_public_pem(provider: LocalIdentityProvider) -> bytes:
    public_key = jwt.PyJWK(provider.jwks["keys"][0]).key
    return bytes(
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def tampered(token: str, **changes: Any) -> str:
    header, _, signature = token.split(".")
    payload = unverified_claims(token) | changes
    return f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"


def hs256_token(payload: dict[str, Any], secret: bytes, key_id: str) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id}
    unsigned = unsigned_token(header, payload).rsplit(".", 1)[0]
    signature = hmac.new(secret, unsigned.encode("ascii"), hashlib.sha256).digest()
    return f"{unsigned}.{b64url(signature)}"


# ------------------------------------------------------------------ accepted: the event's authorizer


def test_a_valid_token_reaches_the_function_with_its_claims_rendered_as_api_gateway_does(
    api: str, stack: LocalStack, probe: Probe
) -> None:
    token = stack.issue_token(
        "alice",
        claims={
            "custom:role": "strategist",
            "cognito:groups": ["viewer", "strategist"],
            "level": 3,
            "ratio": 0.5,
            "email_verified": True,
            "mixed": ["a", 1, False],
            "address": {"country": "NL"},
        },
        scopes=["probe/read"],
    )
    issued = unverified_claims(token)
    before = probe.calls("whoami")

    response = requests.get(f"{api}/whoami", headers=bearer(token), timeout=10)

    assert response.status_code == 200
    assert probe.calls("whoami") == before + 1
    assert response.json() == {
        "route_key": "GET /whoami",
        "authorizer": {
            "jwt": {
                "claims": {
                    "iss": stack.identity_provider.issuer,
                    "sub": "alice",
                    "aud": "probe-client",
                    "iat": str(issued["iat"]),
                    "exp": str(issued["exp"]),
                    "jti": issued["jti"],
                    "scope": "probe/read",
                    "custom:role": "strategist",
                    "cognito:groups": "[viewer strategist]",
                    "level": "3",
                    "ratio": "0.5",
                    "email_verified": "true",
                    "mixed": "[a 1 false]",
                    "address": '{"country":"NL"}',
                },
                # The route requires no scopes: API Gateway then passes none on.
                "scopes": None,
            }
        },
    }


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ("{token}", {}),  # without the Bearer prefix
        ("Bearer {token}", {"aud": ["someone-else", "probe-other-client"]}),  # any of several audiences
        ("Bearer {token}", {"aud": None, "client_id": "probe-client"}),  # a Cognito access token
    ],
)
def test_tokens_api_gateway_accepts_are_accepted(
    api: str, stack: LocalStack, header: str, claims: dict[str, Any]
) -> None:
    token = stack.issue_token("carol", claims=claims)

    response = requests.get(
        f"{api}/whoami", headers={"Authorization": header.format(token=token)}, timeout=10
    )

    assert response.status_code == 200
    assert response.json()["authorizer"]["jwt"]["claims"]["sub"] == "carol"


def test_a_null_claim_is_left_out() -> None:
    assert api_gateway_claims({"sub": "alice", "nickname": None}) == {"sub": "alice"}


# ------------------------------------------------------------------ scopes: 403


def test_a_route_with_scopes_refuses_a_token_without_one_of_them_with_403(
    api: str, stack: LocalStack, probe: Probe
) -> None:
    before = probe.calls("act")

    no_scopes = requests.post(f"{api}/act", headers=bearer(stack.issue_token("dan")), timeout=10)
    other_scopes = requests.post(
        f"{api}/act", headers=bearer(stack.issue_token("dan", scopes=["probe/read"])), timeout=10
    )

    for response in (no_scopes, other_scopes):
        assert response.status_code == 403
        assert response.json() == {"message": "Forbidden"}
        assert response.headers["www-authenticate"].startswith(
            'Bearer scope="probe/act probe/admin" error="insufficient_scope"'
        )
    assert probe.calls("act") == before


def test_one_of_the_routes_scopes_is_enough_and_the_function_sees_all_of_the_tokens_scopes(
    api: str, stack: LocalStack
) -> None:
    from_scope = stack.issue_token("erin", scopes=["probe/read", "probe/admin"])
    from_scp = stack.issue_token("erin", claims={"scp": ["probe/act"]})

    by_scope = requests.post(f"{api}/act", headers=bearer(from_scope), timeout=10)
    by_scp = requests.post(f"{api}/act", headers=bearer(from_scp), timeout=10)

    assert by_scope.status_code == 200
    assert by_scope.json()["authorizer"]["jwt"]["scopes"] == ["probe/read", "probe/admin"]
    assert by_scp.status_code == 200
    assert by_scp.json()["authorizer"]["jwt"]["scopes"] == ["probe/act"]
    assert by_scp.json()["authorizer"]["jwt"]["claims"]["scp"] == "[probe/act]"


# ------------------------------------------------------------------ default authorizer, NONE, query string


def test_a_default_authorizer_guards_routes_that_name_none_with_its_own_scopes(
    api: str, stack: LocalStack, probe: Probe
) -> None:
    guarded = stack.issue_token("frank", scopes=["probe/guarded"])
    unscoped = stack.issue_token("frank")
    before = probe.calls("guarded-default")

    missing = requests.get(f"{api}/guarded/default", timeout=10)
    # This API reads the token from the query string, not from the Authorization header.
    in_header = requests.get(f"{api}/guarded/default", headers=bearer(guarded), timeout=10)
    without_scope = requests.get(f"{api}/guarded/default", params={"access_token": unscoped}, timeout=10)
    accepted = requests.get(f"{api}/guarded/default", params={"access_token": guarded}, timeout=10)

    assert missing.status_code == 401
    assert in_header.status_code == 401
    assert without_scope.status_code == 403
    assert probe.calls("guarded-default") == before + 1
    assert accepted.status_code == 200
    assert accepted.json()["authorizer"]["jwt"]["scopes"] == ["probe/guarded"]


def test_a_routes_own_scopes_replace_the_authorizers_scopes(api: str, stack: LocalStack) -> None:
    authorizer_scope = stack.issue_token("gina", scopes=["probe/guarded"])
    route_scope = stack.issue_token("gina", scopes=["probe/own"])

    refused = requests.get(f"{api}/guarded/own-scopes", params={"access_token": authorizer_scope}, timeout=10)
    accepted = requests.get(f"{api}/guarded/own-scopes", params={"access_token": route_scope}, timeout=10)

    assert refused.status_code == 403
    assert accepted.status_code == 200


def test_open_routes_take_no_token_and_pass_no_authorizer(api: str) -> None:
    opted_out = requests.get(f"{api}/guarded/open", timeout=10)
    # An open route does not look at a token, not even a broken one.
    never_guarded = requests.get(f"{api}/items/special", headers=bearer("not-a-token"), timeout=10)

    assert opted_out.status_code == 200
    assert opted_out.json() == {"route_key": "GET /guarded/open", "authorizer": None}
    assert never_guarded.status_code == 200
    assert never_guarded.json() == {"route_key": "GET /items/special"}


# ------------------------------------------------------------------ in process, and the CLI


def test_invoke_http_enforces_the_authorizer_in_process(stack: LocalStack) -> None:
    refused = stack.invoke_http("GET", "/whoami")
    accepted = stack.invoke_http("GET", "/whoami", headers=bearer(stack.issue_token("hana")))

    assert refused["statusCode"] == 401
    assert refused["headers"]["www-authenticate"] == 'Bearer scope=""'
    assert accepted["statusCode"] == 200
    assert json.loads(accepted["body"])["authorizer"]["jwt"]["claims"]["sub"] == "hana"


def test_the_token_command_mints_a_token_the_running_stack_accepts(
    api: str, stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer_file = stack.write_issuer_file(tmp_path / "riskradar" / "local-issuer.json")
    arguments = ["token", "--issuer-file", str(issuer_file), "--subject", "alice", "--role", "strategist"]

    status = cli.main([*arguments, "--business", "shop", "--business", "live", "--scope", "probe/act"])
    token = capsys.readouterr().out.strip()
    response = requests.post(f"{api}/act", headers=bearer(token), timeout=10)

    assert status == 0
    assert stat.S_IMODE(issuer_file.stat().st_mode) == 0o600
    assert response.status_code == 200
    claims = response.json()["authorizer"]["jwt"]["claims"]
    assert (claims["sub"], claims["aud"]) == ("alice", "probe-client")
    # The claim names are the template's JwtRolesClaim / JwtBusinessesClaim defaults.
    assert (claims["roles"], claims["businesses"]) == ("strategist", "shop live")


def test_the_token_command_explains_when_no_stack_is_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "local-issuer.json"

    status = cli.main(["token", "--issuer-file", str(missing), "--subject", "alice"])

    assert status == 2
    assert f"{missing} does not exist" in capsys.readouterr().err
