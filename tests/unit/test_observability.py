"""Every function keeps the AWS SDK's wire logs (request and response bodies: report texts, ids)
out of its logs, whatever LOG_LEVEL a debugging session sets."""

from __future__ import annotations

import ast
import logging

import pytest

from riskradar.observability import SDK_WIRE_LOGGERS, keep_sdk_wire_logs_quiet
from tests.helpers import ROOT

FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_quiets_the_sdk_wire_logs_when_it_loads(function: str) -> None:
    module = ast.parse((ROOT / "functions" / function / "app.py").read_text(encoding="utf-8"))
    at_load = [
        statement.value.func.id
        for statement in module.body
        if isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
    ]
    assert "keep_sdk_wire_logs_quiet" in at_load


def test_there_are_functions_to_check() -> None:
    assert len(FUNCTIONS) >= 5


def test_the_sdk_loggers_stay_at_info_when_everything_else_goes_to_debug() -> None:
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in SDK_WIRE_LOGGERS}
    try:
        root.setLevel(logging.DEBUG)
        for name in SDK_WIRE_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        keep_sdk_wire_logs_quiet()
        assert {
            name: logging.getLogger(name).getEffectiveLevel() for name in SDK_WIRE_LOGGERS
        } == dict.fromkeys(SDK_WIRE_LOGGERS, logging.INFO)
    finally:
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
