"""Fault injection for the local stack: a seeded, declarative plan of what goes wrong (dev tooling).

Lambda code never imports this module. The local runtime, the SQS poller and botocore event hooks
on the clients the handlers build apply a `FaultPlan` around the real handlers:

* **crash before** — the invocation fails before the handler runs (an init or runtime error);
* **crash after** — the handler ran to completion, then the invocation failed (the runtime died
  before Lambda saw the response): all the work is done and the event is delivered again;
* **timeout** — the invocation stops after its k-th AWS call, as a Lambda timeout stops it part-way:
  the (k+1)-th call raises `InvocationTimedOut`, a BaseException that handler code catching
  `Exception` cannot swallow, and so does every later call (`finally` blocks cannot write either);
* **throttle** — an AWS request attempt is answered with the service's throttling error before it
  reaches moto. botocore's own retries (standard mode: 3 attempts, jittered backoff) absorb most of
  these; the handler sees one only when every attempt of a call was throttled;
* **throttle exhausted** — an AWS call fails with a throttling error as if botocore had used up its
  retries: what reaches the handler when throttling outlasts the SDK's patience;
* **denied** — named operations (`sqs:SendMessageBatch`) are refused with AccessDenied, as a
  missing IAM permission refuses them: an outage that lasts until it is "fixed" (the plan changed);
* **redeliver** — an SQS message the function processed successfully is not deleted but delivered
  again (SQS is at-least-once);
* **poison** — before the poller gathers a batch from a poisoned queue, it may put a message there
  that no consumer can parse.

Every decision draws from one seeded random generator, so a sequential run is reproducible; the
ledger counts what was injected. Faults apply only while a targeted function is being invoked:
the clients of tests and tools in the same process are left alone.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import botocore.session
from botocore.awsrequest import AWSResponse

__all__ = [
    "ALL_FUNCTIONS",
    "FaultInjector",
    "FaultLedger",
    "FaultPlan",
    "FunctionFaults",
    "FunctionTimedOut",
    "InjectedCrash",
    "InvocationTimedOut",
    "function_scope",
    "install_client_hooks",
]

#: The key of `FaultPlan.functions` that applies to every function not named on its own.
ALL_FUNCTIONS: Final = "*"
_DEFAULT_THROTTLED_SERVICES = frozenset({"dynamodb", "s3", "sqs"})


class InjectedCrash(RuntimeError):
    """The invocation failed by plan (before its handler ran, or after it returned)."""


class InvocationTimedOut(BaseException):
    """Raised inside a handler's AWS call when its invocation's call budget is spent.

    A BaseException, as a real timeout is not an exception the handler could catch at all."""


class FunctionTimedOut(RuntimeError):
    """What the runtime reports for an invocation stopped by `InvocationTimedOut`."""


def _share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share in [0, 1], got {value}")


@dataclass(frozen=True)
class FunctionFaults:
    """Faults of one function's invocations; every field is a probability."""

    crash_before: float = 0.0
    crash_after: float = 0.0
    #: Share of invocations stopped after their k-th AWS call (k from `FaultPlan.timeout_after_calls`).
    timeout: float = 0.0
    #: Share of AWS request attempts answered with a throttling error (botocore retries them).
    throttle: float = 0.0
    #: Share of AWS calls that fail with a throttling error after botocore's retries.
    throttle_exhausted: float = 0.0
    #: Operations ("service:Operation", e.g. "sqs:SendMessageBatch") refused with AccessDenied.
    denied: frozenset[str] = frozenset()
    #: Every invocation stops (times out) right after its n-th call of this operation, e.g.
    #: ("sqs:SendMessageBatch", 2): a timeout placed exactly, for tests of one window.
    stop_after: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        for name in ("crash_before", "crash_after", "timeout", "throttle", "throttle_exhausted"):
            _share(name, getattr(self, name))
        if self.crash_before + self.crash_after + self.timeout > 1.0:
            raise ValueError("crash_before + crash_after + timeout must not exceed 1")


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong, declaratively. `functions` maps function logical ids (or `ALL_FUNCTIONS`)
    to their faults; SQS-level faults apply to every polled queue (poison: to `poisoned_queues`)."""

    seed: int = 0
    functions: Mapping[str, FunctionFaults] = field(default_factory=dict)
    #: Share of successfully processed SQS messages that are delivered again instead of deleted.
    redeliver: float = 0.0
    #: Share of batches gathered from a poisoned queue that a poison message is put in front of.
    poison: float = 0.0
    #: Logical ids of the queues poison messages are put on.
    poisoned_queues: frozenset[str] = frozenset({"IntakeQueue"})
    #: An invocation that times out does so after k AWS calls, k drawn uniformly from this range.
    timeout_after_calls: tuple[int, int] = (1, 30)
    #: Services (botocore service names) whose calls may be throttled.
    throttled_services: frozenset[str] = _DEFAULT_THROTTLED_SERVICES

    def __post_init__(self) -> None:
        _share("redeliver", self.redeliver)
        _share("poison", self.poison)
        low, high = self.timeout_after_calls
        if not 0 <= low <= high:
            raise ValueError(f"timeout_after_calls must be a range 0 <= low <= high, got {low, high}")

    def for_function(self, logical_id: str) -> FunctionFaults | None:
        return self.functions.get(logical_id, self.functions.get(ALL_FUNCTIONS))


@dataclass
class FaultLedger:
    """What was injected, by kind (and the poison messages, by message id)."""

    #: Invocations of functions the plan has faults for, by logical id.
    invocations: dict[str, int] = field(default_factory=dict)
    crashes_before: int = 0
    crashes_after: int = 0
    timeouts: int = 0
    throttled_attempts: int = 0
    throttles_exhausted: int = 0
    denied_calls: int = 0
    redeliveries: int = 0
    #: Poison messages put on queues: body by message id.
    poison_messages: dict[str, str] = field(default_factory=dict)

    @property
    def failed_invocations(self) -> int:
        return self.crashes_before + self.crashes_after + self.timeouts

    def as_dict(self) -> dict[str, int]:
        return {
            "invocations": sum(self.invocations.values()),
            "crashes_before": self.crashes_before,
            "crashes_after": self.crashes_after,
            "timeouts": self.timeouts,
            "throttled_attempts": self.throttled_attempts,
            "throttles_exhausted": self.throttles_exhausted,
            "denied_calls": self.denied_calls,
            "redeliveries": self.redeliveries,
            "poison_messages": len(self.poison_messages),
        }


#: Bodies of poison messages: not JSON, JSON of the wrong shape, a contract version nobody reads.
_POISON_BODIES: Final = (
    "not json at all #{n}",
    '{{"schema_version": "1", "report_id": "poison-{n}"}}',
    '{{"schema_version": "9", "report_id": "poison-{n}", "text": "from a future intake"}}',
    "[{n}, {n}]",
    '{{"schema_version": "1", "report_id": "poison-{n}", "business": 42, "text": null}}',
)


class FaultInjector:
    """Applies a FaultPlan: the runtime, the poller and the client hooks ask it what to do."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.ledger = FaultLedger()
        #: Faults are injected only while enabled (e.g. off again to check a run's outcome).
        self.enabled = True
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._poisoned_names: frozenset[str] = frozenset()

    def _draw(self, share: float) -> bool:
        if share <= 0.0:
            return False
        with self._lock:
            return self._random.random() < share

    # ---------------------------------------------------------------- invocations

    @contextlib.contextmanager
    def invocation(self, logical_id: str) -> Iterator[None]:
        """Around one invocation: may raise InjectedCrash before the body runs or after it returned,
        and arms the call budget and throttling for the AWS calls the body makes."""
        faults = self.plan.for_function(logical_id) if self.enabled else None
        if faults is None:
            yield
            return
        with self._lock:
            self.ledger.invocations[logical_id] = self.ledger.invocations.get(logical_id, 0) + 1
        if self._draw(faults.crash_before):
            with self._lock:
                self.ledger.crashes_before += 1
            raise InjectedCrash(f"{logical_id}: invocation failed before the handler ran (injected)")
        budget = None
        if self._draw(faults.timeout):
            with self._lock:
                budget = self._random.randint(*self.plan.timeout_after_calls)
        active = _Invocation(self, logical_id, faults, budget)
        previous = _hooks.active
        _hooks.active = active
        try:
            yield
        except InvocationTimedOut:
            with self._lock:
                self.ledger.timeouts += 1
            raise FunctionTimedOut(
                f"{logical_id}: stopped after {active.budget} AWS calls (injected timeout)"
            ) from None
        finally:
            _hooks.active = previous
        if active.budget is not None and active.calls > active.budget:
            # The budget ran out on the handler's last call, which it swallowed (it cannot on AWS).
            with self._lock:
                self.ledger.timeouts += 1
            raise FunctionTimedOut(
                f"{logical_id}: stopped after {active.budget} AWS calls (injected timeout)"
            )
        if self._draw(faults.crash_after):
            with self._lock:
                self.ledger.crashes_after += 1
            raise InjectedCrash(f"{logical_id}: the invocation failed after the handler returned (injected)")

    # ---------------------------------------------------------------- SQS

    def poison_queues(self, queue_names: frozenset[str]) -> None:
        """The names of the queues `plan.poisoned_queues` names by logical id (the stack resolves them)."""
        self._poisoned_names = queue_names

    def poison_for(self, queue_name: str) -> str | None:
        """A poison message body to put on the queue called `queue_name` now, or None."""
        if not self.enabled or queue_name not in self._poisoned_names or not self._draw(self.plan.poison):
            return None
        with self._lock:
            number = len(self.ledger.poison_messages) + self._random.randrange(1000) * 1000
            template = self._random.choice(_POISON_BODIES)
        return template.format(n=number)

    def record_poison(self, message_id: str, body: str) -> None:
        with self._lock:
            self.ledger.poison_messages[message_id] = body

    def redeliver(self) -> bool:
        """Whether a message that was processed successfully is delivered again instead of deleted."""
        if not self.enabled or not self._draw(self.plan.redeliver):
            return False
        with self._lock:
            self.ledger.redeliveries += 1
        return True

    # ---------------------------------------------------------------- AWS calls (client hooks)

    def _throttled(self, service: str) -> bool:
        return service in self.plan.throttled_services


@dataclass
class _Invocation:
    injector: FaultInjector
    logical_id: str
    faults: FunctionFaults
    #: Calls allowed before the invocation "times out" (None: no timeout in this invocation).
    budget: int | None
    calls: int = 0
    #: Calls so far of `faults.stop_after`'s operation.
    stop_after_seen: int = 0


class _HookState(threading.local):
    #: The logical id of the function whose code is running in this thread (import or invocation).
    building_for: str | None = None


class _Hooks:
    def __init__(self) -> None:
        #: The invocation in progress. The runtime runs one invocation at a time in the whole process
        #: (its INVOCATION_LOCK), so one slot serves every thread the handler may start.
        self.active: _Invocation | None = None
        self.local = _HookState()
        self.installed = False
        self.lock = threading.Lock()


_hooks = _Hooks()


@contextlib.contextmanager
def function_scope(logical_id: str) -> Iterator[None]:
    """Marks the thread as running a function's code: clients created now get the fault hooks."""
    previous = _hooks.local.building_for
    _hooks.local.building_for = logical_id
    try:
        yield
    finally:
        _hooks.local.building_for = previous


def install_client_hooks() -> None:
    """Wrap botocore's Session.create_client (once per process) so that every client created inside
    `function_scope` — by a handler at import or during an invocation, Powertools' own clients
    included — carries the fault hooks. Hooks do nothing unless an invocation with faults runs."""
    with _hooks.lock:
        if _hooks.installed:
            return
        original = botocore.session.Session.create_client

        @functools.wraps(original)
        def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            if _hooks.local.building_for is not None:
                _register(client)
            return client

        botocore.session.Session.create_client = create_client
        _hooks.installed = True


def _register(client: Any) -> None:
    service_model = client.meta.service_model
    service = str(service_model.service_name)
    protocol = str(service_model.protocol)
    client.meta.events.register("before-call", functools.partial(_before_call, service, protocol))
    client.meta.events.register("before-send", functools.partial(_before_send, service, protocol))


def _before_call(
    service: str, protocol: str, model: Any = None, **_: Any
) -> tuple[AWSResponse, dict[str, Any]] | None:
    """Once per API call: the timeout budget, denied operations, and throttling that outlasts
    botocore's retries (answered here, as botocore would raise it after its last attempt)."""
    active = _hooks.active
    if active is None:
        return None
    active.calls += 1
    if active.budget is not None and active.calls > active.budget:
        raise InvocationTimedOut(f"{active.logical_id}: call {active.calls}, budget {active.budget}")
    injector = active.injector
    operation = f"{service}:{getattr(model, 'name', '')}"
    stop_after = active.faults.stop_after
    if stop_after is not None and active.stop_after_seen >= stop_after[1]:
        active.budget = active.calls - 1  # this call is one too many: time out here, and on
        raise InvocationTimedOut(f"{active.logical_id}: stopped after {stop_after[1]} x {stop_after[0]}")
    if stop_after is not None and operation == stop_after[0]:
        active.stop_after_seen += 1
    if operation in active.faults.denied:
        with injector._lock:
            injector.ledger.denied_calls += 1
        message = f"not authorized to perform {operation} (injected: a missing permission)"
        return _error_answer(400, "AccessDenied", message, attempts=0)
    if injector._throttled(service) and injector._draw(active.faults.throttle_exhausted):
        with injector._lock:
            injector.ledger.throttles_exhausted += 1
        status, code, message = _throttling_error(service, protocol)
        return _error_answer(status, code, f"{message} (injected; botocore's retries used up)", attempts=2)
    return None


def _error_answer(
    status: int, code: str, message: str, *, attempts: int
) -> tuple[AWSResponse, dict[str, Any]]:
    http = AWSResponse("https://fault-injection.invalid/", status, {}, _Body(b""))
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": attempts},
    }
    return http, parsed


def _before_send(service: str, protocol: str, request: Any = None, **_: Any) -> AWSResponse | None:
    """Once per HTTP attempt: a throttling answer instead of sending (botocore retries it)."""
    active = _hooks.active
    if active is None:
        return None
    injector = active.injector
    if not injector._throttled(service) or not injector._draw(active.faults.throttle):
        return None
    with injector._lock:
        injector.ledger.throttled_attempts += 1
    status, code, message = _throttling_error(service, protocol)
    headers, body = _error_body(protocol, code, message)
    url = str(getattr(request, "url", "https://fault-injection.invalid/"))
    return AWSResponse(url, status, headers, _Body(body))


def _throttling_error(service: str, protocol: str) -> tuple[int, str, str]:
    if service == "s3":
        return 503, "SlowDown", "Please reduce your request rate."
    if protocol == "rest-json":
        return 429, "TooManyRequestsException", "Too many requests."
    return 400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."


def _error_body(protocol: str, code: str, message: str) -> tuple[dict[str, str], bytes]:
    request_id = {"x-amzn-RequestId": "fault-injection", "x-amz-request-id": "fault-injection"}
    if protocol == "json":
        body = json.dumps({"__type": f"com.amazonaws.fault#{code}", "message": message})
        return {**request_id, "Content-Type": "application/x-amz-json-1.0"}, body.encode()
    if protocol == "rest-json":
        return {**request_id, "x-amzn-ErrorType": code}, json.dumps({"message": message}).encode()
    if protocol == "query":
        xml = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>fault-injection</RequestId></ErrorResponse>"
        )
        return request_id, xml.encode()
    xml = (
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fault-injection</RequestId></Error>"
    )
    return request_id, xml.encode()


class _Body:
    """The raw body botocore reads an AWSResponse's content from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data
