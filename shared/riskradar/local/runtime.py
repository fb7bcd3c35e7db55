"""An in-process stand-in for the Lambda Python runtime.

Each function's handler is imported from its own source directory with the environment moto
resolved for it (Ref/GetAtt already substituted), and is called with a Lambda-shaped context.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import json
import math
import os
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from riskradar.local.faults import FaultInjector, FunctionTimedOut, function_scope, install_client_hooks
from riskradar.local.logs import FunctionOutput, logger
from riskradar.local.moto_server import FAKE_CREDENTIALS

# Metrics are off locally (riskradar.local.defaults), and Powertools then warns on every invocation
# that it has none to flush. On Lambda that line would land in the function's log group; here it
# would land in the terminal of whoever runs the demo.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

Handler = Callable[[Any, Any], Any]

#: One invocation at a time across every function and stack in the process: os.environ,
#: sys.path and sys.modules are process-global, and each invocation rewrites part of them.
INVOCATION_LOCK = threading.RLock()


class FunctionInitError(RuntimeError):
    """The handler could not be imported (Lambda's Runtime.ImportModuleError / init failure)."""


class LambdaMarshalError(TypeError):
    """The handler returned something Lambda cannot serialise to JSON (Runtime.MarshalError)."""


@dataclass(frozen=True)
class CognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


@dataclass
class LambdaContext:
    """The context object of the Python runtime (awslambdaric), field for field."""

    function_name: str
    invoked_function_arn: str
    #: A string, as in the real runtime, which copies it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
    memory_limit_in_mb: str
    timeout_s: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    client_context: None = None
    identity: CognitoIdentity = field(default_factory=CognitoIdentity)
    tenant_id: str | None = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.time() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


@dataclass(frozen=True)
class FunctionConfiguration:
    """What the local runtime needs to know about one deployed function."""

    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    #: Code directory first, then layer directories: the order Lambda searches them in.
    search_path: tuple[Path, ...]
    #: The function's full environment at runtime (template variables + what Lambda sets).
    environment: Mapping[str, str]


def function_environment(
    configuration: Mapping[str, Any],
    *,
    region: str,
    endpoint_url: str,
    extra_env: Mapping[str, str],
) -> dict[str, str]:
    """The environment the function sees: its template variables, then what Lambda sets (which
    a template cannot override), then the local stack's own settings."""
    name = str(configuration["FunctionName"])
    return {
        # Lambda stores every variable as a string; moto keeps a Ref to a Number parameter an int.
        **{
            key: str(value)
            for key, value in configuration.get("Environment", {}).get("Variables", {}).items()
        },
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": str(configuration.get("Version", "$LATEST")),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration.get('Runtime', 'python3')}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # Lambda hands each function its role's credentials; locally they are moto's fake ones.
        **FAKE_CREDENTIALS,
        # Every SDK client the handler builds talks to moto, never to AWS.
        "AWS_ENDPOINT_URL": endpoint_url,
        # No X-Ray daemon here; Powertools' Tracer would otherwise patch botocore.
        "POWERTOOLS_TRACE_DISABLED": "true",
        **extra_env,
    }


class LocalFunction:
    """One Lambda function, imported once (its cold start) and invoked in-process."""

    def __init__(self, configuration: FunctionConfiguration) -> None:
        self.configuration = configuration
        #: Faults injected around this function's invocations (the local stack's FaultPlan), if any.
        self.faults: FaultInjector | None = None
        # Clients the handler builds (at import or later) get the fault hooks; without faults they
        # do nothing.
        install_client_hooks()
        #: The imported handler module (its cold-start state, e.g. a loaded model), for tests and tools.
        self.module: ModuleType
        self._modules = _FunctionModules(configuration.search_path)
        # Everything the function prints, from its imports on (a logging handler created at import
        # keeps the stream it saw then), goes to its own log, as on Lambda to CloudWatch.
        self._output = FunctionOutput(configuration.name)
        self.module, self._handler = self._import_handler()

    @property
    def logical_id(self) -> str:
        return self.configuration.logical_id

    @property
    def name(self) -> str:
        return self.configuration.name

    @property
    def arn(self) -> str:
        return self.configuration.arn

    @property
    def environment(self) -> Mapping[str, str]:
        return self.configuration.environment

    def invoke(self, event: Any) -> Any:
        """Call the handler as Lambda would: a fresh JSON copy of the event in, JSON out.

        A handler exception propagates unchanged, so that callers (and tests) see the real error.
        """
        payload = json.loads(json.dumps(event))
        config = self.configuration
        with (
            INVOCATION_LOCK,
            _applied_environment(config.environment),
            self._modules.active(),
            contextlib.redirect_stdout(self._output),
            function_scope(config.logical_id),
        ):
            # The function's clock starts with its handler, as on Lambda: the wait for the lock
            # stands for waiting for a free execution environment, which is not the function's
            # time. Started before the wait, a busy stack would hand a handler a context with no
            # time left and report timeouts that never happened.
            context = LambdaContext(config.name, config.arn, str(config.memory_mb), config.timeout_s)
            started = time.monotonic()
            try:
                if self.faults is None:
                    result = self._handler(payload, context)
                else:
                    with self.faults.invocation(config.logical_id):
                        result = self._handler(payload, context)
            finally:
                elapsed = time.monotonic() - started
                self._output.flush()
        if elapsed > config.timeout_s:
            # Lambda stops it there and reports an error: the SQS batch comes back, the API answers
            # 500. Its side effects happened here (Lambda would have cut them short somewhere).
            logger.warning(
                "%s ran %.1f s, past its %d s timeout: Lambda would have stopped it; failed",
                config.logical_id,
                elapsed,
                config.timeout_s,
            )
            raise FunctionTimedOut(
                f"{config.logical_id}: ran {elapsed:.1f} s, past its {config.timeout_s} s timeout"
            )
        return _marshal_response(config.logical_id, result)

    def _import_handler(self) -> tuple[ModuleType, Handler]:
        config = self.configuration
        module_path, _, attribute = config.handler.rpartition(".")
        module_name = module_path.replace("/", ".")
        try:
            with (
                INVOCATION_LOCK,
                _applied_environment(config.environment),
                self._modules.active(),
                contextlib.redirect_stdout(self._output),
                function_scope(config.logical_id),
            ):
                module = importlib.import_module(module_name)
        except Exception as error:
            raise FunctionInitError(
                f"{config.logical_id}: importing handler {config.handler!r} from {config.search_path[0]} "
                f"failed: {type(error).__name__}: {error}"
            ) from error
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise FunctionInitError(f"{config.logical_id}: {module_name} has no callable {attribute!r}")
        logger.debug("%s: imported %s from %s", config.logical_id, config.handler, config.search_path[0])
        return module, cast(Handler, handler)


class _FunctionModules:
    """Keeps one function's top-level modules apart from every other function's.

    Each function's code directory usually holds an `app` module, and may hold siblings with
    common names; on Lambda each function has its own interpreter. Here a function's modules
    are in sys.modules only while that function runs, and its directories lead sys.path.
    """

    def __init__(self, search_path: Sequence[Path]) -> None:
        self._search_path = [str(path) for path in search_path]
        self._local_names = _top_level_module_names(search_path[0]) if search_path else frozenset()
        self._loaded: dict[str, ModuleType] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        others = self._take_local_modules()
        sys.modules.update(self._loaded)
        sys.path[0:0] = self._search_path
        try:
            yield
        finally:
            for entry in self._search_path:
                with contextlib.suppress(ValueError):
                    sys.path.remove(entry)
            self._loaded = self._take_local_modules()
            sys.modules.update(others)

    def _take_local_modules(self) -> dict[str, ModuleType]:
        taken = {
            name: module
            for name, module in list(sys.modules.items())
            if name.partition(".")[0] in self._local_names
        }
        for name in taken:
            del sys.modules[name]
        return taken


def _top_level_module_names(directory: Path) -> frozenset[str]:
    if not directory.is_dir():
        return frozenset()
    names = {path.stem for path in directory.glob("*.py")}
    names |= {path.name for path in directory.iterdir() if path.is_dir() and path.name.isidentifier()}
    return frozenset(names)


@contextlib.contextmanager
def _applied_environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


#: Lambda's limit on a synchronous invocation's response (6 MB).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


def _marshal_response(logical_id: str, result: Any) -> Any:
    """Lambda serialises the handler's return value to JSON; what cannot be serialised is an
    error on AWS, so it is one here too. Decimals pass, as in the real runtime."""
    if isinstance(result, bytes):
        serialised = result
    else:
        try:
            serialised = json.dumps(result, default=_json_decimal).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise LambdaMarshalError(f"{logical_id}: unable to marshal response: {error}") from error
    if len(serialised) > MAX_RESPONSE_BYTES:  # a synchronous invocation's payload limit
        raise LambdaMarshalError(
            f"{logical_id}: response of {len(serialised):,} bytes is over Lambda's {MAX_RESPONSE_BYTES:,}"
        )
    return result if isinstance(result, bytes) else json.loads(serialised)


def _json_decimal(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
