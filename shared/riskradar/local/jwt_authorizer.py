"""API Gateway's JWT authorizer for HTTP APIs, in front of the local functions.

What API Gateway does (developer guide, "Control access to HTTP APIs with JWT authorizers"):
it reads the token from the authorizer's identity source, with or without a `Bearer ` prefix;
checks the signature with the issuer's public keys (RSA algorithms only; the header's `kid` must
name one of the keys); then `iss` (the configured issuer), `aud` (one of the configured
audiences; `client_id` only when the token has no `aud`), `exp` (after now), `nbf` and `iat`
(before now); and, when the route has authorization scopes, that the token's `scope` or `scp`
holds at least one of them. Any failure but the last is `401 {"message":"Unauthorized"}` with a
`www-authenticate` header that says why; missing scopes are `403 {"message":"Forbidden"}`. The
function never runs for a rejected request.

A verified token reaches the function as `requestContext.authorizer.jwt`, with every claim
rendered as a string (see `api_gateway_claims`) and `scopes` the token's scopes on a route that
requires scopes, null on one that does not.

How sure each detail is. From AWS's documentation: the checks and their order, the 401 body and
the challenge's form, `Bearer scope="<route scopes>" error="invalid_token" error_description=
"the token has expired"` (also "the token does not have a valid audience"). Seen in responses of
deployed APIs that people published: "token contains an invalid number of segments" for a
token that is not a JWT; list claims as "[a b]" (e.g. `cognito:groups`); numbers and booleans as
their text. Reported as measured on AWS by another emulator's authors (floci, 2026): null
claims left out, `scopes` null on a route without scopes and the token's full scope list on one
with scopes. Our own choice, unconfirmed: the other error descriptions, the bare `Bearer
scope=""` challenge for a missing token, the `insufficient_scope` challenge with the 403, a
nested object as its JSON text, and refusing a token without `exp`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from riskradar.local.template import JwtAuthorizer

#: "Currently, only RSA-based algorithms are supported" (API Gateway).
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_BEARER_PREFIX = "Bearer "


@dataclass(frozen=True)
class RouteAuthorization:
    """The JWT authorizer of a route and the scopes the route requires (any one of them)."""

    authorizer: JwtAuthorizer
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Authorized:
    claims: dict[str, str]
    #: The token's scopes on a route with authorization scopes; None on a route without.
    scopes: list[str] | None

    @property
    def context(self) -> dict[str, Any]:
        """`requestContext.authorizer` of the payload format 2.0 event."""
        return {"jwt": {"claims": self.claims, "scopes": self.scopes}}


@dataclass(frozen=True)
class Rejected:
    status: int
    #: The response body's message: "Unauthorized" (401) or "Forbidden" (403).
    message: str
    www_authenticate: str
    #: Why, for the log (the client learns it from www-authenticate, as from API Gateway).
    reason: str


class InvalidToken(Exception):
    """The token fails one of the authorizer's checks; the message is the error_description."""


class JwtAuthorizers:
    """Enforces JWT authorizers with the public keys (JWKS) of the issuers they trust.

    API Gateway fetches an issuer's keys from its discovery document; the local stack hands them
    over directly, since the only issuer it can reach is its own identity provider.
    """

    def __init__(self, jwks_by_issuer: Mapping[str, Mapping[str, Any]]) -> None:
        self._keys_by_issuer: dict[str, dict[str, jwt.PyJWK]] = {
            issuer: {str(key["kid"]): jwt.PyJWK(dict(key)) for key in jwks.get("keys", []) if "kid" in key}
            for issuer, jwks in jwks_by_issuer.items()
        }

    def trusts(self, issuer: str) -> bool:
        return issuer in self._keys_by_issuer

    def authorize(
        self, route: RouteAuthorization, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> Authorized | Rejected:
        """Check the request's token as API Gateway would for `route`.

        `headers` have lower-case names; both mappings hold repeated values comma-joined, as the
        payload format 2.0 event does.
        """
        required_scope = " ".join(route.scopes)
        token = _token_from_identity_source(route.authorizer, headers, query)
        if token is None:
            return Rejected(401, "Unauthorized", f'Bearer scope="{required_scope}"', "no token")
        try:
            payload = self._verified_payload(route.authorizer, token)
        except InvalidToken as invalid:
            challenge = f'Bearer scope="{required_scope}" error="invalid_token" error_description="{invalid}"'
            return Rejected(401, "Unauthorized", challenge, str(invalid))
        token_scopes = _token_scopes(payload)
        if route.scopes and not set(route.scopes) & set(token_scopes):
            challenge = (
                f'Bearer scope="{required_scope}" error="insufficient_scope" '
                'error_description="the token does not have the required scopes"'
            )
            reason = f"the token's scopes {token_scopes} hold none of {list(route.scopes)}"
            return Rejected(403, "Forbidden", challenge, reason)
        return Authorized(api_gateway_claims(payload), token_scopes if route.scopes else None)

    def _verified_payload(self, authorizer: JwtAuthorizer, token: str) -> dict[str, Any]:
        """The token's claims once the signature and every claim check pass."""
        if token.count(".") != 2:
            raise InvalidToken("token contains an invalid number of segments")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidToken("the token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in RSA_ALGORITHMS:
            # Also `none`, and HS256 signed with the issuer's public key as the secret.
            raise InvalidToken("the token is not signed with an RSA algorithm")
        key = self._keys_by_issuer.get(authorizer.issuer, {}).get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("the token's kid does not match any key of the issuer")
        try:
            # Only the signature here: the claims are checked below, in API Gateway's order and
            # with its rules (aud or client_id), which PyJWT's checks do not follow exactly.
            payload: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[str(algorithm)],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": False,
                    "verify_aud": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token signature is invalid") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("the token is malformed") from None
        _check_claims(authorizer, payload)
        return payload


def _check_claims(authorizer: JwtAuthorizer, payload: Mapping[str, Any]) -> None:
    if payload.get("iss") != authorizer.issuer:
        raise InvalidToken("the token does not have a valid issuer")
    if payload.get("aud") is not None:
        audience = payload["aud"]
        audiences = audience if isinstance(audience, list) else [audience]
        if not set(authorizer.audience) & {item for item in audiences if isinstance(item, str)}:
            raise InvalidToken("the token does not have a valid audience")
    elif payload.get("client_id") not in authorizer.audience:
        raise InvalidToken("the token does not have a valid audience")
    now = time.time()
    expires = _numeric_date(payload, "exp")
    if expires is None:
        raise InvalidToken("the token has no exp claim")
    if expires <= now:
        raise InvalidToken("the token has expired")
    not_before = _numeric_date(payload, "nbf")
    if not_before is not None and not_before > now:
        raise InvalidToken("the token is not valid yet")
    issued_at = _numeric_date(payload, "iat")
    if issued_at is not None and issued_at > now:
        raise InvalidToken("the token was issued in the future")


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the token's {claim} claim is not a number")
    return float(value)


def _token_from_identity_source(
    authorizer: JwtAuthorizer, headers: Mapping[str, str], query: Mapping[str, str]
) -> str | None:
    kind, name = authorizer.identity_source_location
    value = headers.get(name.lower()) if kind == "header" else query.get(name)
    if value is None:
        return None
    if value.startswith(_BEARER_PREFIX):
        value = value[len(_BEARER_PREFIX) :]
    return value.strip() or None


def _token_scopes(payload: Mapping[str, Any]) -> list[str]:
    """`scp` (a list, or a space-separated string) if the token has it, else `scope` (likewise)."""
    for claim in ("scp", "scope"):
        value = payload.get(claim)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in value]
    return []


def api_gateway_claims(payload: Mapping[str, Any]) -> dict[str, str]:
    """The claims as API Gateway renders them in a payload format 2.0 event: every value a string.

    Strings stay as they are; numbers and booleans become their JSON text ("1735689600",
    "true"); an array becomes its items inside brackets, separated by spaces, strings unquoted
    (["viewer", "strategist"] -> "[viewer strategist]"), not JSON; a null claim is left out. A
    nested object becomes its compact JSON text (observed behaviour for this case is unknown).
    """
    return {name: _claim_text(value) for name, value in payload.items() if value is not None}


def _claim_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(_array_item_text(item) for item in value) + "]"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _array_item_text(item: object) -> str:
    return item if isinstance(item, str) else json.dumps(item, separators=(",", ":"), ensure_ascii=False)
