"""The embedded local stack, started once for the end-to-end tests, reached over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from riskradar.local import LocalStack
from riskradar.local.defaults import TEMPLATE, local_stack_options
from tests.helpers import drain


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start(TEMPLATE, stack_name="riskradar-e2e", **local_stack_options()) as local:
        local.serve_http()
        yield local


@pytest.fixture(scope="session")
def api_url(stack: LocalStack) -> str:
    return stack.api_url


@pytest.fixture
def intake_queue(stack: LocalStack) -> Iterator[None]:
    """Each test starts and ends with an empty intake queue (the stack is shared by the session)."""
    drain(stack, "IntakeQueue")
    yield
    drain(stack, "IntakeQueue")


@pytest.fixture(scope="module")
def isolated_stack() -> Iterator[LocalStack]:
    """A stack of the module's own (another Stage, so other resource names): for tests whose
    assertions depend on everything in the window — clustering quality, theme counts — which the
    session's stack shares with every other end-to-end test."""
    with LocalStack.start(
        TEMPLATE,
        parameters={"Stage": "isolated"},
        stack_name="riskradar-e2e-isolated",
        **local_stack_options(),
    ) as local:
        local.serve_http()
        yield local
