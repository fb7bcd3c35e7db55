"""Before a venv is built: is there room for it? Fails in a second, naming the folder, instead of
pip failing halfway through torch with "No space left on device".

    python3 tools/check_disk.py --need-mb 4000 --what "the venv" .

Each folder given, and the temporary folder (where pip downloads and builds before it installs into
the venv), must have `--need-mb` free; folders on one filesystem are checked once.

Exit status: 0 when there is room, 1 when a folder lacks it (the message says how much is free).
Standard library only: it runs with the system Python, before any venv exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

_MB = 1024 * 1024


def shortfalls(folders: Sequence[Path], need_mb: int) -> list[str]:
    """One message per filesystem with less than `need_mb` free."""
    messages = []
    seen_devices: set[int] = set()
    for folder in folders:
        device = os.stat(folder).st_dev
        if device in seen_devices:
            continue
        seen_devices.add(device)
        free_mb = shutil.disk_usage(folder).free // _MB
        if free_mb < need_mb:
            messages.append(f"{folder.resolve()}: {free_mb:,} MB free, {need_mb:,} MB needed")
    return messages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("folders", nargs="+", type=Path, help="folders that must have the room")
    parser.add_argument("--need-mb", type=int, required=True, help="free megabytes each must have")
    parser.add_argument("--what", default="this step", help="what needs the room, for the message")
    args = parser.parse_args(argv)
    try:
        missing = [folder for folder in args.folders if not folder.is_dir()]
        if missing:
            parser.error(f"not a folder: {', '.join(map(str, missing))}")
        messages = shortfalls([*args.folders, Path(tempfile.gettempdir())], args.need_mb)
    except OSError as error:
        parser.error(f"cannot read the free space: {error}")
    for message in messages:
        print(f"not enough disk for {args.what}: {message}", file=sys.stderr)
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
