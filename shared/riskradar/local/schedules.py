"""EventBridge schedules: moto stores the rules of `Schedule` events but never fires them.

Rules are read back from the deployed stack; `fire` builds the real "Scheduled Event" and calls
the target in-process, `tick` fires `rate(...)` rules that are due, with time compressed.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from riskradar.local.logs import logger
from riskradar.local.runtime import LocalFunction

_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_SECONDS_PER_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


class Schedule(NamedTuple):
    rule_name: str
    expression: str
    function_logical_id: str


@dataclass(frozen=True)
class ScheduledTarget:
    rule_name: str
    rule_arn: str
    expression: str
    enabled: bool
    function: LocalFunction
    #: The target's constant Input (JSON text), which Lambda receives instead of the event.
    input: str | None
    input_path: str | None
    has_input_transformer: bool

    def as_schedule(self) -> Schedule:
        return Schedule(self.rule_name, self.expression, self.function.logical_id)


def read_scheduled_targets(
    events_client: Any, *, rule_names: Iterable[str], functions_by_name: Mapping[str, LocalFunction]
) -> list[ScheduledTarget]:
    """The Lambda targets of the stack's rules that have a ScheduleExpression."""
    targets: list[ScheduledTarget] = []
    for rule_name in rule_names:
        rule = events_client.describe_rule(Name=rule_name)
        expression = rule.get("ScheduleExpression")
        if not expression:
            continue  # an event-pattern rule: triggered by events, not by time
        for target in events_client.list_targets_by_rule(Rule=rule_name)["Targets"]:
            arn = str(target["Arn"])
            function_name = arn.split(":function:", 1)[-1].split(":", 1)[0]
            if ":function:" not in arn or function_name not in functions_by_name:
                logger.warning("schedule %s targets %s, which is not a local function", rule_name, arn)
                continue
            targets.append(
                ScheduledTarget(
                    rule_name=rule_name,
                    rule_arn=str(rule["Arn"]),
                    expression=str(expression),
                    enabled=rule.get("State") == "ENABLED",
                    function=functions_by_name[function_name],
                    input=target.get("Input"),
                    input_path=target.get("InputPath"),
                    has_input_transformer="InputTransformer" in target,
                )
            )
    return targets


class Scheduler:
    """Fires the stack's schedules on demand or by (compressed) time."""

    def __init__(self, targets: Iterable[ScheduledTarget], *, account_id: str, region: str) -> None:
        self._targets = list(targets)
        self._account_id = account_id
        self._region = region
        started = time.monotonic()
        self._last_fired = {target.rule_name: started for target in self._targets}
        self._lock = threading.Lock()
        for target in self._targets:
            if target.enabled and _rate_seconds(target.expression) is None:
                logger.info(
                    "%s (%s) fires only on demand locally: only rate() is ticked",
                    target.rule_name,
                    target.expression,
                )

    def schedules(self) -> list[Schedule]:
        return [target.as_schedule() for target in self._targets]

    def fire(self, function_logical_id: str, *, rule_name: str | None = None) -> Any:
        """Invoke the function as its schedule would, now; return the function's result."""
        candidates = [
            target
            for target in self._targets
            if target.function.logical_id == function_logical_id and rule_name in (None, target.rule_name)
        ]
        if not candidates:
            raise KeyError(
                f"no schedule targets {function_logical_id}"
                + (f" from rule {rule_name}" if rule_name else "")
            )
        if len(candidates) > 1:
            names = ", ".join(target.rule_name for target in candidates)
            raise ValueError(f"{function_logical_id} has several schedules ({names}); pass rule_name")
        return self._fire(candidates[0])

    def tick(self, speedup: float) -> list[str]:
        """Fire every enabled rate() rule whose period, divided by `speedup`, has passed since it
        last fired (or since the stack started). Returns the names of the rules fired."""
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        fired: list[str] = []
        with self._lock:
            now = time.monotonic()
            for target in self._targets:
                period = _rate_seconds(target.expression)
                if not target.enabled or period is None:
                    continue
                if now - self._last_fired[target.rule_name] >= period / speedup:
                    # Like EventBridge, a late tick fires once; missed periods are not made up.
                    self._last_fired[target.rule_name] = now
                    fired.append(target.rule_name)
                    try:
                        self._fire(target)
                    except Exception:
                        logger.exception("scheduled invocation of %s failed", target.function.logical_id)
        return fired

    def _fire(self, target: ScheduledTarget) -> Any:
        logger.info("schedule %s -> %s", target.rule_name, target.function.logical_id)
        return target.function.invoke(self._payload(target))

    def _payload(self, target: ScheduledTarget) -> Any:
        if target.has_input_transformer:
            raise NotImplementedError(f"{target.rule_name}: InputTransformer is not supported locally")
        if target.input is not None:
            return json.loads(target.input)
        event = scheduled_event(target.rule_arn, account_id=self._account_id, region=self._region)
        if target.input_path:
            return _select(event, target.input_path)
        return event


def scheduled_event(rule_arn: str, *, account_id: str, region: str) -> dict[str, Any]:
    """The event EventBridge sends a target when a schedule fires."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def _rate_seconds(expression: str) -> int | None:
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        return None
    return int(match[1]) * _SECONDS_PER_UNIT[match[2].rstrip("s")]


def _select(event: Mapping[str, Any], input_path: str) -> Any:
    """A simple JSONPath ($ or $.a.b) as EventBridge's InputPath."""
    if input_path == "$":
        return event
    selected: Any = event
    for key in input_path.removeprefix("$.").split("."):
        selected = selected[key]
    return selected
