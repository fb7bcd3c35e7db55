"""One probe stack for the tests of riskradar.local, shared by the whole session (~2 s to start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from riskradar.local import LocalStack
from tests.integration.local_stack.probe_stack import (
    PROBE_ISSUER_PARAMETER,
    PROBE_SECRET,
    PROBE_TEMPLATE,
    Probe,
)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start(
        PROBE_TEMPLATE,
        stack_name="local-stack-probe",
        parameters={"Stage": "it"},
        ssm_secure_parameters={"/probe/secret": PROBE_SECRET},
        jwt_issuer_parameters=[PROBE_ISSUER_PARAMETER],
    ) as started:
        yield started


@pytest.fixture
def probe(stack: LocalStack) -> Probe:
    """The probe with both queues empty, so that tests sharing the stack do not see each other."""
    found = Probe(stack)
    found.drain(found.work_queue_url)
    found.drain(found.dead_letter_queue_url)
    return found
