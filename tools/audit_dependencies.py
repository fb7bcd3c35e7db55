"""`make audit`: known vulnerabilities in every pinned requirement and in the environments they resolve to.

Collects exact pins from the requirements files (following `-r`) and, with `--environment PYTHON`,
from what a venv really installed (its transitive dependencies included), then runs pip-audit
(pinned in requirements-audit.txt) on them without a resolution of its own (`--no-deps
--disable-pip`: every pin is exact). Its answer is read strictly, because pip-audit itself passes
when it could not look a dependency up: a package its service did not find is reported as
"skipped" with exit status 0 and "No known vulnerabilities found".

Exit status: 0 when every dependency was audited and none has a known vulnerability (other than
one passed with `--ignore-vuln`, each justified in the README); 1 when some have; 2 when the audit
is incomplete (the service unreachable, a dependency not audited, a requirement not pinned).

When the service cannot answer, a partial check runs instead, and says so: PyPI's project-level
JSON (`/pypi/<name>/json`) lists the known vulnerabilities of a project's *latest* release only, so
it covers exactly the pins that are the latest release; every other pin is listed as not checked.
The exit status stays 2: a partial check is never a pass.

Standard library only: it runs with the audit venv's Python, next to pip-audit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYPI_PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
#: Our own package (installed editable into .venv): not on PyPI, nothing to look up.
OWN_PROJECTS = frozenset({"riskradar"})
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)")
EXIT_CLEAN, EXIT_VULNERABLE, EXIT_INCOMPLETE = 0, 1, 2


def normalize(name: str) -> str:
    """PEP 503 name: the form PyPI and pip-audit compare on."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    name: str
    version: str
    #: Where the pin came from: requirement files and environments.
    sources: set[str] = field(default_factory=set)

    @property
    def public_version(self) -> str:
        """The version without a local label: torch 2.13.0+cpu is PyPI's torch 2.13.0, built for CPU
        (the local label is the build's, the advisories are the release's)."""
        return self.version.split("+", 1)[0]


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    vulnerability: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]


class Pins:
    """Every (package, version) to audit. One package may come in several versions: the checkov
    venv pins an older boto3 than the project's, and both are installed somewhere."""

    def __init__(self) -> None:
        self.by_release: dict[tuple[str, str], Pin] = {}
        #: Requirement lines that are not an exact pin (the audit needs exact versions).
        self.unpinned: list[str] = []

    def add(self, name: str, version: str, source: str) -> None:
        key = normalize(name)
        if key in OWN_PROJECTS:
            return
        pin = self.by_release.setdefault((key, version.split("+", 1)[0]), Pin(key, version))
        pin.sources.add(source)

    def all(self) -> list[Pin]:
        return sorted(self.by_release.values(), key=lambda pin: (pin.name, pin.public_version))

    def read_requirements(self, path: Path, seen: set[Path] | None = None) -> None:
        seen = seen if seen is not None else set()
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement ")):
                self.read_requirements(path.parent / line.split(maxsplit=1)[1], seen)
            elif line.startswith("-"):
                continue  # index and install options: nothing to audit
            elif found := _PIN.match(line):
                self.add(found[1], found[3], path.name)
            else:
                self.unpinned.append(f"{path.name}: {line}")

    def read_environment(self, python: Path) -> None:
        """Every distribution a venv has installed (pip and setuptools too: they have had advisories)."""
        listing = subprocess.run(  # noqa: S603 (the venv's own pip, named on our command line)
            [str(python), "-m", "pip", "list", "--format", "json", "--exclude-editable"],
            capture_output=True,
            text=True,
            check=True,
        )
        for item in json.loads(listing.stdout):
            self.add(item["name"], item["version"], f"{python.parent.parent.name} (installed)")


# ---------------------------------------------------------------- pip-audit


@dataclass
class AuditResult:
    findings: list[Finding] = field(default_factory=list)
    #: Dependencies the service did not audit, with pip-audit's reason.
    skipped: list[str] = field(default_factory=list)
    #: Set when the service could not be asked at all.
    failure: str | None = None


def run_pip_audit(
    pins: Sequence[Pin], *, service: str, ignored: Sequence[str], timeout_s: int
) -> AuditResult:
    """pip-audit over every pin; one run per "layer", since a requirements file may name a package
    once only (the first layer has each package's first version, the second its second, ...)."""
    layers: list[list[Pin]] = []
    for pin in pins:
        layer = next((layer for layer in layers if all(p.name != pin.name for p in layer)), None)
        if layer is None:
            layers.append(layer := [])
        layer.append(pin)
    result = AuditResult()
    for layer in layers:
        part = _run_pip_audit_once(layer, service=service, ignored=ignored, timeout_s=timeout_s)
        result.findings += part.findings
        result.skipped += part.skipped
        result.failure = result.failure or part.failure
    return result


def _run_pip_audit_once(
    pins: Iterable[Pin], *, service: str, ignored: Sequence[str], timeout_s: int
) -> AuditResult:
    with tempfile.TemporaryDirectory(prefix="riskradar-audit-") as tmp:
        requirements = Path(tmp) / "pins.txt"
        requirements.write_text(
            "".join(f"{pin.name}=={pin.public_version}\n" for pin in pins), encoding="utf-8"
        )
        report = Path(tmp) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "--output",
            str(report),
            "--progress-spinner",
            "off",
            "--timeout",
            str(timeout_s),
        ]
        for vulnerability in ignored:
            command += ["--ignore-vuln", vulnerability]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if not report.is_file():
            return AuditResult(
                failure=_last_error_line(completed.stderr) or f"pip-audit exited {completed.returncode}"
            )
        body: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    result = AuditResult()
    for dependency in body.get("dependencies", []):
        if "skip_reason" in dependency:
            result.skipped.append(f"{dependency['name']}: {dependency['skip_reason']}")
            continue
        for vulnerability in dependency.get("vulns", []):
            result.findings.append(
                Finding(
                    dependency["name"],
                    dependency["version"],
                    vulnerability["id"],
                    tuple(vulnerability.get("aliases", [])),
                    tuple(vulnerability.get("fix_versions", [])),
                )
            )
    return result


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
    return lines[-1][:400] if lines else ""


# ---------------------------------------------------------------- the partial check


@dataclass
class LatestReleaseCheck:
    findings: list[Finding] = field(default_factory=list)
    #: Pins that are their project's latest release, checked against that release's list.
    checked: list[str] = field(default_factory=list)
    #: Pins older than the latest release (name, pinned, latest): nothing here tells about them.
    not_checked: list[tuple[str, str, str]] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def check_latest_releases(
    pins: Sequence[Pin], *, ignored: Sequence[str], timeout_s: int
) -> LatestReleaseCheck:
    """What PyPI's project-level JSON can tell: the vulnerabilities of each project's latest release."""
    check = LatestReleaseCheck()
    names = sorted({pin.name for pin in pins})
    with ThreadPoolExecutor(max_workers=8) as pool:
        projects = dict(zip(names, pool.map(lambda name: _project_json(name, timeout_s), names), strict=True))
    for pin in pins:
        answer = projects[pin.name]
        if isinstance(answer, str):
            check.unreachable.append(f"{pin.name}: {answer}")
            continue
        latest = str(answer["info"]["version"])
        if latest != pin.public_version:
            check.not_checked.append((pin.name, pin.version, latest))
            continue
        check.checked.append(pin.name)
        for vulnerability in answer.get("vulnerabilities") or []:
            ids = {vulnerability["id"], *(vulnerability.get("aliases") or [])}
            if vulnerability.get("withdrawn") or ids & set(ignored):
                continue
            check.findings.append(
                Finding(
                    pin.name,
                    pin.version,
                    vulnerability["id"],
                    tuple(vulnerability.get("aliases") or []),
                    tuple(vulnerability.get("fixed_in") or []),
                )
            )
    return check


def _project_json(name: str, timeout_s: int) -> dict[str, Any] | str:
    url = PYPI_PROJECT_JSON.format(name=name)  # https, fixed host: never a file: or custom scheme
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            body: dict[str, Any] = json.load(response)
            return body
    except (urllib.error.URLError, TimeoutError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


# ---------------------------------------------------------------- report


def print_findings(findings: Sequence[Finding]) -> None:
    """One line per vulnerability: an advisory listed under two ids (GHSA, PYSEC) shows once."""
    shown: dict[tuple[str, str], set[str]] = {}
    for finding in sorted(findings, key=lambda f: (f.name, f.vulnerability)):
        known = shown.setdefault((finding.name, finding.version), set())
        if finding.vulnerability in known:
            continue
        known.update({finding.vulnerability, *finding.aliases})
        aliases = f" ({', '.join(finding.aliases)})" if finding.aliases else ""
        fixed = f"; fixed in {', '.join(finding.fixed_in)}" if finding.fixed_in else "; no fixed release"
        print(f"  {finding.name} {finding.version}: {finding.vulnerability}{aliases}{fixed}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("requirements", nargs="+", type=Path, help="requirements files (exact pins)")
    parser.add_argument(
        "--environment",
        action="append",
        default=[],
        type=Path,
        help="a venv's python: also audit everything that venv installed (repeatable)",
    )
    parser.add_argument(
        "--service", default="pypi", choices=["pypi", "osv", "esms"], help="pip-audit's service"
    )
    parser.add_argument(
        "--ignore-vuln", action="append", default=[], help="a vulnerability id justified in the README"
    )
    parser.add_argument("--timeout", type=int, default=20, help="seconds per request")
    args = parser.parse_args()

    pins = Pins()
    for path in args.requirements:
        pins.read_requirements(path)
    for python in args.environment:
        pins.read_environment(python)
    audited = pins.all()
    sources = sorted({source for pin in audited for source in pin.sources})
    print(f"{len(audited)} distinct pinned releases from {', '.join(sources)}")
    incomplete = [f"not an exact pin: {line}" for line in pins.unpinned]

    result = run_pip_audit(audited, service=args.service, ignored=args.ignore_vuln, timeout_s=args.timeout)
    if result.failure is not None:
        incomplete.append(f"pip-audit could not ask its {args.service!r} service: {result.failure}")
    elif result.skipped:
        incomplete.append(
            f"pip-audit's {args.service!r} service did not audit {len(result.skipped)} of {len(audited)}"
        )
        for line in result.skipped[:10]:
            print(f"  not audited: {line}")
        if len(result.skipped) > 10:
            print(f"  ... and {len(result.skipped) - 10} more")
    else:
        print(f"pip-audit ({args.service}): all {len(audited)} audited")

    findings = result.findings
    if result.failure is not None or result.skipped:
        print(
            "\nPARTIAL CHECK instead (PyPI project JSON: it lists the known vulnerabilities of each "
            "project's latest release only)"
        )
        latest = check_latest_releases(audited, ignored=args.ignore_vuln, timeout_s=args.timeout)
        findings = findings + latest.findings
        print(f"  checked (pin is the latest release): {len(latest.checked)}")
        print(f"  not checked (an older release is pinned): {len(latest.not_checked)}")
        for name, pinned, newest in latest.not_checked:
            print(f"    {name} {pinned} (latest {newest})")
        for line in latest.unreachable:
            print(f"  unreachable: {line}")
        if latest.unreachable:
            incomplete.append(f"{len(latest.unreachable)} projects unreachable for the partial check too")

    if findings:
        print("\nKNOWN VULNERABILITIES:")
        print_findings(findings)
    if incomplete:
        print("\nAUDIT INCOMPLETE - this is not a pass:")
        for line in incomplete:
            print(f"  {line}")
        print(
            "  (run `make audit` where pip-audit's service is reachable; AUDIT_SERVICE=osv asks api.osv.dev)"
        )
    if findings:
        return EXIT_VULNERABLE
    if incomplete:
        return EXIT_INCOMPLETE
    print("\nno known vulnerabilities")
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
