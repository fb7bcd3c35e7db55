"""`make audit`'s reading of the requirements: every pin exact, each release audited once."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
#: What `make audit` reads: the root files, the shared layer's and any function's own.
REQUIREMENT_FILES = sorted(
    [
        *ROOT.glob("requirements*.txt"),
        *ROOT.glob("shared/requirements.txt"),
        *ROOT.glob("functions/*/requirements.txt"),
    ]
)


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    """tools/ is not a package: load the script as `make audit` runs it."""
    return load_script(ROOT / "tools" / "audit_dependencies.py")


def test_every_requirement_of_the_project_is_an_exact_pin(audit: ModuleType) -> None:
    """The audit looks up exact versions; a range would be audited as nothing."""
    assert REQUIREMENT_FILES
    pins = audit.Pins()
    for path in REQUIREMENT_FILES:
        pins.read_requirements(path)
    assert pins.unpinned == []
    assert {"boto3", "checkov", "pip-audit", "torch"} <= {pin.name for pin in pins.all()}


def test_includes_are_followed_and_names_normalised(audit: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("# runtime\nPyYAML==6.0.3  # a comment\nboto3==1.44.8\n")
    (tmp_path / "dev.txt").write_text(
        "-r base.txt\n--index-url https://example.invalid\nzope.interface==8.0\nrequests>=2\n"
    )
    pins = audit.Pins()
    pins.read_requirements(tmp_path / "dev.txt")

    assert [(pin.name, pin.version) for pin in pins.all()] == [
        ("boto3", "1.44.8"),
        ("pyyaml", "6.0.3"),
        ("zope-interface", "8.0"),
    ]
    assert pins.unpinned == ["dev.txt: requests>=2"]


def test_a_release_seen_twice_is_audited_once_and_two_versions_both(audit: ModuleType) -> None:
    pins = audit.Pins()
    pins.add("torch", "2.13.0", "requirements.txt")
    pins.add("torch", "2.13.0+cpu", ".venv (installed)")  # the CPU build of the same release
    pins.add("boto3", "1.44.8", "requirements.txt")
    pins.add("boto3", "1.35.49", ".venv-lint (installed)")  # checkov's own, older boto3
    pins.add("riskradar", "0.1.0", ".venv (installed)")  # our own project: not on PyPI

    releases = [(pin.name, pin.public_version, sorted(pin.sources)) for pin in pins.all()]
    assert releases == [
        ("boto3", "1.35.49", [".venv-lint (installed)"]),
        ("boto3", "1.44.8", ["requirements.txt"]),
        ("torch", "2.13.0", [".venv (installed)", "requirements.txt"]),
    ]


def test_an_advisory_under_two_ids_is_reported_once(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    finding = audit.Finding
    audit.print_findings(
        [
            finding("ecdsa", "0.19.2", "GHSA-wj6h-64fc-37mp", ("CVE-2024-23342", "PYSEC-2026-1325"), ()),
            finding("ecdsa", "0.19.2", "PYSEC-2026-1325", ("CVE-2024-23342", "GHSA-wj6h-64fc-37mp"), ()),
            finding("jinja2", "3.0.0", "GHSA-h5c8-rqwp-cp95", (), ("3.1.3",)),
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "fixed in 3.1.3" in lines[1]
