"""Files only their owner may read, for what the local stack hands its user's other commands (the
admin token, the local issuer's private key)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_private_json(path: Path, content: Any) -> Path:
    """Write `content` as JSON to `path`, 0600 in a 0700 directory, replacing it atomically: mkstemp
    creates the file 0600, and replacing the old file keeps a looser mode from surviving."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(content, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
