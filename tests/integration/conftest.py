"""Integration test setup: a moto server for the modules that test the local stack's moto itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from riskradar.local.moto_server import MotoServer


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """A moto server as the local stack runs it, wiped and stopped after the module."""
    running = MotoServer()
    yield running
    running.reset()
    running.stop()
