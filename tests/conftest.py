"""Shared test setup: fake AWS credentials (never a real account) and the embedded local stack."""

from __future__ import annotations

import faulthandler
import os
import sys

import pytest

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


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """On a crash in native code (a segmentation fault), print only the crashing thread's Python
    stack. pytest's faulthandler prints every thread's, and the local stacks' idle server threads
    come first: a CI log that keeps only the head of the output lost the frame that crashed."""
    if faulthandler.is_enabled():
        # A copy of stderr as it is now: while a test runs, fd 2 is pytest's capture file, which a
        # crashing process never prints. Kept open for the whole session, as pytest does with its own.
        faulthandler.enable(file=os.dup(sys.stderr.fileno()), all_threads=False)
