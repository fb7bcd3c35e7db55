"""What `sam build` ships must be what the code imports, from one list of pins.

`sam build` installs a zip function's `CodeUri/requirements.txt` into its zip and a layer's
`ContentUri/requirements.txt` into the layer; nothing else reaches AWS. These tests lay out what
those files would install (the distributions they name and their dependencies, read from the
installed metadata of the same pinned versions, so no network) in a folder of its own, and import
each zip function's handler in an interpreter that sees only that folder, the layer's source and
the standard library — as Lambda would. The root requirements.txt must include those files rather
than repeat their pins, so there is one list.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from riskradar.local.template import SamFunction, SamTemplate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = SamTemplate.load(ROOT / "template.yaml")
ZIP_FUNCTIONS = {
    logical_id: function
    for logical_id, function in TEMPLATE.functions().items()
    if function.image_handler is None and function.code_dir is not None
}


def _requirement_lines(path: Path) -> list[tuple[Path, str]]:
    """(file, line) for every requirement in `path`, following `-r` includes as pip does."""
    found: list[tuple[Path, str]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if include := re.match(r"^(?:-r|--requirement)\s+(\S+)$", line):
            found += _requirement_lines(path.parent / include.group(1))
        else:
            found.append((path, line))
    return found


def _shipped_requirement_files(function: SamFunction) -> list[Path]:
    assert function.code_dir is not None
    layer_dirs = [TEMPLATE.layer_dir(layer_id) for layer_id in function.layer_logical_ids]
    candidates = [*(d for d in layer_dirs if d is not None), function.code_dir]
    return [d / "requirements.txt" for d in candidates if (d / "requirements.txt").is_file()]


def _closure(requirements: list[Requirement]) -> set[str]:
    """The canonical names of the distributions these requirements install (installed metadata)."""
    seen: set[str] = set()
    pending = [(requirement, frozenset(requirement.extras)) for requirement in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if dependency.marker is None or any(dependency.marker.evaluate(env) for env in environments):
                pending.append((dependency, frozenset(dependency.extras)))
    return seen


def _lay_out(distributions: set[str], target: Path) -> None:
    """Link each distribution's top-level files into `target`, as a pip install there would put them."""
    target.mkdir()
    for name in sorted(distributions):
        distribution = importlib.metadata.distribution(name)
        tops = {
            Path(str(file)).parts[0]
            for file in distribution.files or []
            if not str(file).startswith("..") and not Path(str(file)).parts[0].endswith(".dist-info")
        }
        for top in tops - {"__pycache__", "bin"}:
            source = Path(str(distribution.locate_file(top)))
            if source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


def _import_handler(function: SamFunction, shipped: Path) -> subprocess.CompletedProcess[str]:
    """Import the handler with only the standard library, `shipped`, the layer source and CodeUri."""
    assert function.code_dir is not None
    layer_sources = [TEMPLATE.layer_dir(layer_id) for layer_id in function.layer_logical_ids]
    path = [str(function.code_dir), str(shipped), *(str(d) for d in layer_sources if d is not None)]
    properties = TEMPLATE.resources[function.logical_id]["Properties"]
    variables = properties.get("Environment", {}).get("Variables", {})
    # Literal values as the template sets them; references (queue URLs, table names) made plausible:
    # handlers read their settings at import and connect to nothing.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        **{
            name: value if isinstance(value, str) else "https://sqs.us-east-1.amazonaws.com/123456789012/q"
            for name, value in variables.items()
        },
        "ALLOWED_BUSINESSES": "shop",
        "ID_HASH_KEY_PARAMETER": "/riskradar/test/key",
    }
    # -S: no site-packages, so nothing the development venv holds can be imported by accident.
    code = f"import sys; sys.path[:0] = {path!r}; import app"
    return subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_the_template_has_zip_functions_with_the_shared_layer() -> None:
    assert {"IntakeFunction", "StrategistFunction"} <= set(ZIP_FUNCTIONS)
    for function in ZIP_FUNCTIONS.values():
        assert "SharedLayer" in function.layer_logical_ids


@pytest.mark.parametrize("logical_id", sorted(ZIP_FUNCTIONS))
def test_a_zip_function_imports_with_only_what_sam_build_ships(logical_id: str, tmp_path: Path) -> None:
    function = ZIP_FUNCTIONS[logical_id]
    files = _shipped_requirement_files(function)
    assert files, f"{logical_id}: neither its CodeUri nor its layers have a requirements.txt"
    shipped = _closure([Requirement(line) for path in files for _, line in _requirement_lines(path)])
    _lay_out(shipped, tmp_path / "shipped")
    result = _import_handler(function, tmp_path / "shipped")
    assert result.returncode == 0, f"{logical_id} cannot import with {sorted(shipped)}:\n{result.stderr}"


def test_the_isolated_import_finds_what_is_not_shipped(tmp_path: Path) -> None:
    """The check above can fail: the strategist without its own requirements.txt lacks numpy."""
    strategist = ZIP_FUNCTIONS["StrategistFunction"]
    layer_files = [p for p in _shipped_requirement_files(strategist) if p.parent != strategist.code_dir]
    shipped = _closure([Requirement(line) for path in layer_files for _, line in _requirement_lines(path)])
    _lay_out(shipped, tmp_path / "shipped")
    result = _import_handler(strategist, tmp_path / "shipped")
    assert result.returncode != 0
    assert "No module named 'numpy'" in result.stderr


def test_the_root_requirements_include_each_shipped_file_and_pin_each_package_once() -> None:
    lines = _requirement_lines(ROOT / "requirements.txt")
    included = {path.resolve() for path, _ in lines}
    for function in ZIP_FUNCTIONS.values():
        for path in _shipped_requirement_files(function):
            assert path.resolve() in included, f"requirements.txt does not include {path.relative_to(ROOT)}"
    names = [canonicalize_name(Requirement(line).name) for _, line in lines]
    assert sorted({n for n in names if names.count(n) > 1}) == []
    for path, line in lines:
        specifiers = list(Requirement(line).specifier)
        assert [s.operator for s in specifiers] == ["=="], f"{path.relative_to(ROOT)}: {line} is not pinned"


def test_the_installed_environment_has_the_pinned_versions() -> None:
    """The closure above reads installed metadata: it is only right if the venv holds these pins."""
    for path, line in _requirement_lines(ROOT / "requirements.txt"):
        requirement = Requirement(line)
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{path.relative_to(ROOT)} pins {line}, installed {installed}"
        )


def test_the_image_builds_copy_every_requirement_file_they_install() -> None:
    """The images install the root requirements.txt, which includes other files by relative path."""
    includes = sorted(
        str(path.relative_to(ROOT)) for path in {p for p, _ in _requirement_lines(ROOT / "requirements.txt")}
    )
    for dockerfile in sorted(ROOT.glob("functions/*/Dockerfile")):
        text = dockerfile.read_text(encoding="utf-8")
        for relative in includes:
            assert re.search(rf"^COPY\s+{re.escape(relative)}\s", text, re.MULTILINE), (
                f"{dockerfile.relative_to(ROOT)} installs requirements.txt but does not COPY {relative}"
            )


def test_the_docker_build_context_holds_what_the_dockerfiles_copy() -> None:
    """.dockerignore excludes everything but what the Dockerfiles COPY (the context is the root)."""
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].strip() for line in ignore if line.startswith("!")}
    assert "*" in ignore
    for dockerfile in sorted(ROOT.glob("functions/*/Dockerfile")):
        sources = re.findall(r"^COPY\s+(\S+)\s", dockerfile.read_text(encoding="utf-8"), re.MULTILINE)
        assert sources
        for source in sources:
            where = dockerfile.relative_to(ROOT)
            assert source in kept, f"{where} copies {source}, which .dockerignore drops"
