"""riskradar's settings for the embedded local stack (what `sam deploy` users provide on AWS).

On AWS the HMAC key for pseudonymising ids is an SSM SecureString that the operator creates; the
local stack creates it with a fixed, public, local-only value so that runs are reproducible.
Never use this value anywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskradar.local.template import SamTemplate

LOCAL_ID_HASH_KEY = "riskradar-local-stack-only-not-a-secret"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = PROJECT_ROOT / "template.yaml"


def template_parameter_default(name: str, template: Path = TEMPLATE) -> str:
    return SamTemplate.load(template).parameter_values()[name]


def local_stack_options(template: Path = TEMPLATE) -> dict[str, Any]:
    """Keyword arguments for LocalStack.start(template, ...) that make riskradar run locally."""
    return {
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
