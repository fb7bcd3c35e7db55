"""The disk check before a venv is built: fails early, naming the folder, free and needed space."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "check_disk.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # As the Makefile runs it: a plain interpreter, no project imports.
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_room_enough_passes_silently(tmp_path: Path) -> None:
    result = run("--need-mb", "1", str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_too_little_room_fails_naming_the_folder_and_both_sizes(tmp_path: Path) -> None:
    free_mb = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    need_mb = free_mb + 1_000_000
    result = run("--need-mb", str(need_mb), "--what", "the venv", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    # One message per filesystem: tmp_path's, and the temporary folder's if it is another one.
    filesystems = {os.stat(tmp_path).st_dev, os.stat(tempfile.gettempdir()).st_dev}
    assert len(lines) == len(filesystems)
    assert lines[0].startswith(f"not enough disk for the venv: {tmp_path.resolve()}: ")
    assert f"{need_mb:,} MB needed" in lines[0]


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run("--need-mb", "1", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "absent" in result.stderr


def test_a_folder_it_cannot_stat_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    # A name too long to stat: an OSError that is not "no such folder", whoever runs the test.
    result = run("--need-mb", "1", str(tmp_path / ("x" * 300)))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
