"""The committed digest schema is the model's schema, and a built digest validates against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs published
from pydantic import ValidationError

from riskradar.digest import Digest, build_digest
from tests.digest_samples import sample_inputs

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "digest.v1.json"
REGENERATE = (
    ".venv/bin/python -c 'import json; from riskradar.digest import digest_json_schema; "
    "print(json.dumps(digest_json_schema(), indent=2, ensure_ascii=False))' > schemas/digest.v1.json"
)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def validator(committed: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(committed, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def digest_json() -> dict[str, Any]:
    inputs = sample_inputs()
    digest = build_digest(
        inputs.snapshot,
        inputs.stats,
        curation=inputs.curation,
        interventions=inputs.interventions,
        generated_at=inputs.generated_at,
    )
    document: dict[str, Any] = json.loads(digest.model_dump_json())
    return document


def test_a_built_digest_validates_and_parses_back_unchanged(
    validator: Draft202012Validator, digest_json: dict[str, Any]
) -> None:
    assert list(validator.iter_errors(digest_json)) == []
    assert digest_json["schema_version"] == "1"
    assert Digest.model_validate_json(json.dumps(digest_json)).model_dump(mode="json") == digest_json


INVALID = {
    "unknown field": lambda d: d | {"secret": "x"},
    "other schema version": lambda d: d | {"schema_version": "2"},
    "negative count": lambda d: d | {"totals": d["totals"] | {"reports": -1}},
    "unknown verdict": lambda d: (
        d | {"themes": [d["themes"][0] | {"verdict": {"verdict": "evil", "note": ""}}, *d["themes"][1:]]}
    ),
    "effect with an unknown status": lambda d: (
        d
        | {
            "other_interventions": [
                {
                    "intervention_id": "i",
                    "theme_id": "t",
                    "business": "shop",
                    "action_type": "block",
                    "action": "a",
                    "start": "2026-11-01T00:00:00Z",
                    "status": "active",
                    "created_by": "x",
                    "effect": {"status": "great", "summary": "s"},
                }
            ]
        }
    ),
}


@pytest.mark.parametrize("mutate", INVALID.values(), ids=INVALID.keys())
def test_invalid_digests_are_refused_by_schema_and_model_alike(
    validator: Draft202012Validator, digest_json: dict[str, Any], mutate: Any
) -> None:
    document = mutate(json.loads(json.dumps(digest_json)))
    assert list(validator.iter_errors(document)) != []
    with pytest.raises(ValidationError):
        Digest.model_validate_json(json.dumps(document))
