"""riskradar's settings for the embedded local stack (what `sam deploy` users provide on AWS).

On AWS the HMAC key for pseudonymising ids is an SSM SecureString that the operator creates; the
local stack creates it with a fixed, public, local-only value so that runs are reproducible.
Never use this value anywhere else.

On AWS the strategist API trusts an identity provider's tokens (the `JwtIssuer` parameter, e.g. a
Cognito user pool); locally the local stack is the issuer, with a key it generates at start.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from riskradar.local.template import SamTemplate

LOCAL_ID_HASH_KEY = "riskradar-local-stack-only-not-a-secret"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = PROJECT_ROOT / "template.yaml"
#: The template parameter that holds the issuer URL the JWT authorizers trust.
JWT_ISSUER_PARAMETER = "JwtIssuer"
#: The template parameters naming the claims of a strategist API token: the caller's roles
#: (`viewer`, `strategist`) and, when the caller is limited to some businesses, those businesses.
#: Local tokens carry them as space-separated strings, which API Gateway hands to the function
#: unchanged (a list claim would arrive as "[a b]"; the function reads both).
ROLES_CLAIM_PARAMETER = "JwtRolesClaim"
BUSINESSES_CLAIM_PARAMETER = "JwtBusinessesClaim"


def template_parameter_default(name: str, template: Path = TEMPLATE) -> str:
    return SamTemplate.load(template).parameter_values()[name]


def local_stack_options(template: Path = TEMPLATE) -> dict[str, Any]:
    """Keyword arguments for LocalStack.start(template, ...) that make riskradar run locally."""
    declared = SamTemplate.load(template).parameter_values()
    return {
        # The local stack is the issuer of the tokens its JWT authorizers accept.
        "jwt_issuer_parameters": [JWT_ISSUER_PARAMETER] if JWT_ISSUER_PARAMETER in declared else [],
        "ssm_secure_parameters": {
            template_parameter_default("IdHashKeyParameterName", template): LOCAL_ID_HASH_KEY,
        },
        "extra_env": {
            # EMF metrics would otherwise print to stdout on every invocation.
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # In one process Powertools' Logger would otherwise capture every `riskradar.*` logger
            # (including the local stack's own) and keep its records from the root handlers.
            "POWERTOOLS_LOG_DEDUPLICATION_DISABLED": "true",
        },
    }


def strategist_claims(
    role: str | None, businesses: Sequence[str] = (), template: Path = TEMPLATE
) -> dict[str, str]:
    """The claims that give a token `role`, limited to `businesses` (all businesses when empty),
    under the claim names the template's parameters configure."""
    names = SamTemplate.load(template).parameter_values()
    claims: dict[str, str] = {}
    if role is not None:
        claims[names[ROLES_CLAIM_PARAMETER]] = role
    if businesses:
        claims[names[BUSINESSES_CLAIM_PARAMETER]] = " ".join(businesses)
    return claims


def local_issuer_file() -> Path:
    """Where `riskradar serve` leaves its identity provider's key for `riskradar token` (0600)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "riskradar" / "local-issuer.json"


def local_serve_file() -> Path:
    """Where `riskradar serve` tells `riskradar recluster` and `digest` how to reach it (0600)."""
    return local_issuer_file().with_name("local-serve.json")
