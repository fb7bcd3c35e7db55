"""The README stays true to the code: its configuration lists every template parameter and every
environment variable a function gets, its command tables only name make targets and `riskradar`
commands that exist, and it starts with the two commands a newcomer runs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from riskradar import cli
from riskradar.local.defaults import TEMPLATE
from riskradar.local.template import SamTemplate

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load(TEMPLATE)


def test_the_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.strip().splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]


def test_every_template_parameter_is_documented(template: SamTemplate) -> None:
    missing = [name for name in template.document["Parameters"] if f"`{name}`" not in README]
    assert missing == []


def test_every_function_environment_variable_is_documented(template: SamTemplate) -> None:
    document = template.document
    names = set(document["Globals"]["Function"]["Environment"]["Variables"])
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    assert sorted(name for name in names if f"`{name}`" not in README) == []


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", README))
    assert sorted(named - targets) == []


def test_every_riskradar_command_the_readme_names_exists() -> None:
    parser = cli._parser()
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse has no public accessor
            commands |= set(action.choices)
    named = set(re.findall(r"`riskradar ([a-z][a-z-]*)", README))
    assert named
    assert sorted(named - commands) == []


def test_every_file_the_readme_links_to_exists() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [target for target in targets if "://" not in target]
    assert local
    assert sorted(target for target in local if not (ROOT / target).exists()) == []
