"""Where the local stack's own messages and the functions' output go.

The local stack logs as `riskradar-local`, deliberately *not* a child of `riskradar`: Powertools
names each function's logger after the service (`riskradar`), so a `riskradar.*` logger in this
process would have its records written out by the functions' JSON log handler.

What a function prints — Powertools' JSON log lines included — goes line by line to the logger
`aws.lambda.<function name>` at INFO, as Lambda sends it to the function's CloudWatch log group:
never to the terminal of whoever runs the stack, unless they configure logging to show it.
"""

from __future__ import annotations

import io
import logging
import threading

logger = logging.getLogger("riskradar-local")


class FunctionOutput(io.TextIOBase):
    """A text stream that logs each complete line to `aws.lambda.<function name>`."""

    def __init__(self, function_name: str) -> None:
        super().__init__()
        self._logger = logging.getLogger(f"aws.lambda.{function_name}")
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line.strip():
                self._logger.info(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._pending = self._pending, ""
        if line.strip():
            self._logger.info(line)
