"""Logging rules every function applies at import.

The AWS SDK's DEBUG logs carry whole request and response bodies: report texts, and the decrypted
HMAC key that SSM returns to intake. Setting a function's log level to DEBUG (POWERTOOLS_LOG_LEVEL,
or Lambda's own log-level control) must never put those in CloudWatch, so the SDK's loggers stay at
INFO whatever the root level is. Our own loggers may still go to DEBUG.
"""

from __future__ import annotations

import logging

#: Loggers that write request/response bodies at DEBUG.
SDK_WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def keep_sdk_wire_logs_quiet() -> None:
    for name in SDK_WIRE_LOGGERS:
        sdk_logger = logging.getLogger(name)
        if sdk_logger.getEffectiveLevel() < logging.INFO or sdk_logger.level == logging.NOTSET:
            sdk_logger.setLevel(logging.INFO)
