"""Every committed schema in schemas/ is its model's schema, and real instances validate against it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs published

from riskradar.adapters.s3 import ReportFacts
from riskradar.contracts import CONTRACTS, SCHEMAS_DIR, main
from riskradar.models import ThemeAlert
from riskradar.theme_stats import compute_theme_stats
from riskradar.themes import SnapshotManifest, ThemeInfo

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda contract: contract.file)
def test_the_committed_file_is_the_models_schema(contract: Any) -> None:
    committed = json.loads((SCHEMAS_DIR / contract.file).read_text(encoding="utf-8"))
    assert committed == contract.schema(), (
        f"regenerate: .venv/bin/python -m riskradar.contracts ({contract.file})"
    )
    Draft202012Validator.check_schema(committed)
    assert committed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert committed["$id"] == f"urn:riskradar:schema:{contract.file.removesuffix('.v1.json')}:v1"
    assert committed["title"] == contract.model().__name__


def test_every_file_in_schemas_is_a_registered_contract() -> None:
    files = {path.name for path in SCHEMAS_DIR.glob("*.json")}
    assert files == {contract.file for contract in CONTRACTS}
    assert main(["--check"]) == 0


def validator(file: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / file).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_instances_validate_and_broken_ones_do_not() -> None:
    report = {
        "business": "shop",
        "reporter": {"id": "u1", "role": "user"},
        "text": "never shipped",
        "amount": {"value": "12.50", "currency": "EUR"},
    }
    assert not list(validator("report.v1.json").iter_errors(report))
    assert list(validator("report.v1.json").iter_errors({**report, "colour": "red"}))

    alert = ThemeAlert(
        alert_id="a1",
        source="batch",
        theme_id="thm-0a1b2c3d",
        theme_label="support, code",
        surprise=20.5,
        observed=40,
        expected=0.8,
        size=40,
        snapshot_version=2,
        detected_at=NOW,
    )
    assert not list(validator("alert.v1.json").iter_errors(json.loads(alert.model_dump_json())))
    assert list(
        validator("alert.v1.json").iter_errors({**json.loads(alert.model_dump_json()), "source": "x"})
    )

    manifest = SnapshotManifest(
        version=3,
        created_at=NOW,
        dimension=384,
        themes=(ThemeInfo(theme_id="thm-0a1b2c3d", label="x"),),
        centroids_key="themes/v0000000003/centroids.npy",
    )
    assert not list(validator("snapshot.v1.json").iter_errors(json.loads(manifest.model_dump_json())))

    stats = compute_theme_stats(
        ["thm-0a1b2c3d"],
        [NOW.timestamp() - 3600],
        ReportFacts(("shop",), ("user",), ("r",), ("",), ("",), np.array([np.nan])),
        theme_ids=["thm-0a1b2c3d"],
        end=NOW,
        window_days=3,
        snapshot_version=3,
    )
    assert not list(validator("theme-stats.v1.json").iter_errors(json.loads(stats.model_dump_json())))
