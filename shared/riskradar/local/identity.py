"""The local stack's identity provider: the issuer that its HTTP APIs' JWT authorizers trust locally.

On AWS a JWT authorizer trusts an OpenID Connect issuer (a Cognito user pool, Auth0, ...) and
verifies tokens with the public keys the issuer publishes. Locally there is no such issuer, so the
local stack is one: it generates an RSA key pair when it starts (nothing secret is ever stored in
the repository), trusts the public half for its JWT authorizers and signs tokens (RS256) with the
private half, for tests and for people trying the API with curl.

The issuer's URL is under `.invalid`, a top-level domain that never resolves (RFC 2606): a token
from here names an issuer no deployed API can trust by accident.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from riskradar.local.private_files import write_private_json

LOCAL_ISSUER_HOST = "local-idp.invalid"
SIGNING_ALGORITHM = "RS256"
_KEY_SIZE = 2048


def local_issuer_url(stack_name: str) -> str:
    """The issuer URL of the local stack `stack_name`: local-only by construction."""
    return f"https://{LOCAL_ISSUER_HOST}/{stack_name}"


class LocalIdentityProvider:
    """An OpenID Connect issuer in miniature: one RSA signing key, its JWKS, and tokens on demand."""

    def __init__(self, issuer: str, private_key: rsa.RSAPrivateKey) -> None:
        self.issuer = issuer
        self._private_key = private_key
        self._public_jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        self.key_id = _jwk_thumbprint(self._public_jwk)

    @classmethod
    def generate(cls, issuer: str) -> LocalIdentityProvider:
        """A provider with a fresh key: tokens of an earlier provider (another run) do not verify."""
        return cls(issuer, rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE))

    @property
    def jwks(self) -> dict[str, Any]:
        """The public keys as the issuer's `jwks_uri` would serve them."""
        key = {**self._public_jwk, "kid": self.key_id, "alg": SIGNING_ALGORITHM, "use": "sig"}
        return {"keys": [key]}

    def issue_token(
        self,
        subject: str,
        *,
        audience: str | Sequence[str],
        claims: Mapping[str, Any] | None = None,
        scopes: Sequence[str] = (),
        expires_in: int = 3600,
    ) -> str:
        """A signed access token for `subject`.

        It carries `iss`, `sub`, `aud`, `iat`, `exp` (`expires_in` seconds from now), a `jti`
        and, when `scopes` are given, the space-separated `scope` claim an OAuth server (Cognito
        too) issues. `claims` are added last and win, so a test can make a token expired
        (`{"exp": ...}`), not yet valid (`{"nbf": ...}`) or from another issuer (`{"iss": ...}`).
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience if isinstance(audience, str) else list(audience),
            "iat": now,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
        }
        if scopes:
            payload["scope"] = " ".join(scopes)
        payload.update(claims or {})
        payload = {name: value for name, value in payload.items() if value is not None}
        headers = {"kid": self.key_id}
        return jwt.encode(payload, self._private_key, algorithm=SIGNING_ALGORITHM, headers=headers)

    # ------------------------------------------------------------------ hand-off to `riskradar token`

    def write_issuer_file(self, path: Path, *, audiences: Sequence[str], api_url: str | None) -> Path:
        """Write the private key and what a token needs to `path`, readable by this user only.

        This is how a command in another process (`riskradar token`) signs tokens that a running
        local stack accepts. The file holds a private key: it is created 0600 in a 0700
        directory, replaced atomically, and meant to be deleted when the stack stops.
        """
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        content = {
            "issuer": self.issuer,
            "key_id": self.key_id,
            "audiences": list(audiences),
            "api_url": api_url,
            "pid": os.getpid(),
            "private_key": pem.decode("ascii"),
        }
        return write_private_json(path, content)

    @classmethod
    def from_issuer_file(cls, path: Path) -> LocalIssuer:
        """The provider (and its audiences and API URL) that `write_issuer_file` wrote."""
        content = json.loads(path.read_text(encoding="utf-8"))
        pem = str(content["private_key"]).encode("ascii")
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        provider = cls(str(content["issuer"]), private_key)
        return LocalIssuer(provider, tuple(content.get("audiences") or ()), content.get("api_url"))

    def delete_issuer_file(self, path: Path) -> None:
        """Delete `path` if it is still this provider's (another stack may have replaced it since)."""
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if content.get("key_id") == self.key_id:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class LocalIssuer:
    """What `riskradar token` reads: the running stack's provider, audiences and API URL."""

    provider: LocalIdentityProvider
    audiences: tuple[str, ...]
    api_url: str | None


def _jwk_thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of an RSA public key, a stable and unique key id."""
    canonical = json.dumps({name: public_jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
