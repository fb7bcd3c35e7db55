"""Shared test setup: fake AWS credentials (never a real account) and the embedded local stack."""

from __future__ import annotations

import os

# Before anything creates a boto3 client: fake credentials and a region, never the developer's.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_DISABLED="true",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
)
