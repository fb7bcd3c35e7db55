"""`riskradar invoke FUNCTION EVENT`: one handler, one event, on a local stack of its own.

What `sam local invoke` does with Docker, without it: the stack is template.yaml deployed to a
private moto server, the handler runs in this process with the environment the template gives it,
and its response is printed as JSON. The stack is gone when the command exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

INVOKE_EPILOG = """\
FUNCTION is a function of template.yaml, by its logical id (IntakeFunction) or short name (intake).
EVENT is a JSON file, e.g. one of events/, or '-' for standard input. The response goes to standard
output; --logs shows what the function logged (its Powertools JSON lines) on standard error.

Each run starts a fresh local stack, so an event that refers to stored data (a theme, an
intervention) gets the answer an empty stack gives, e.g. 404.

examples:
  riskradar invoke intake events/intake_post_report.json
  riskradar invoke TriageFunction events/triage_intake_queue_batch.json --logs
  riskradar invoke strategist events/strategist_list_themes.json
"""


class InvokeError(Exception):
    """The invocation cannot be made; the message says why."""


def add_parser(commands: Any) -> None:
    """Add `invoke` to the `riskradar` command's subparsers."""
    invoke = commands.add_parser(
        "invoke",
        help="run one function's handler on an event file, on a local stack of its own",
        description="Run one function of template.yaml on an event, as `sam local invoke` would, "
        "without Docker, and print its response.",
        epilog=INVOKE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("function", metavar="FUNCTION", help="e.g. IntakeFunction or intake")
    invoke.add_argument("event", metavar="EVENT", help="an event JSON file, '-' for standard input")
    invoke.add_argument("--logs", action="store_true", help="show the function's logs on standard error")


def run(args: argparse.Namespace) -> int:
    try:
        event = read_event(args.event)
        return _invoke(args.function, event, show_logs=args.logs)
    except InvokeError as error:
        print(f"riskradar: {error}", file=sys.stderr)
        return 2


def read_event(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvokeError(f"cannot read the event {source}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvokeError(f"the event {source} is not JSON: {error}") from None


def resolve_function(name: str, logical_ids: list[str]) -> str:
    """The logical id `name` means: itself, or `intake` for IntakeFunction (case-insensitive)."""
    wanted = name.lower().removesuffix("function")
    for logical_id in logical_ids:
        if logical_id.lower().removesuffix("function") == wanted:
            return logical_id
    raise InvokeError(f"no function {name!r} in template.yaml; functions: {', '.join(sorted(logical_ids))}")


def _invoke(function: str, event: Any, *, show_logs: bool) -> int:
    from riskradar.local.defaults import TEMPLATE
    from riskradar.local.template import SamTemplate

    logical_id = resolve_function(function, list(SamTemplate.load(TEMPLATE).functions()))
    if not show_logs:
        return _invoke_on_fresh_stack(logical_id, event)
    # The local stack sends what a function prints to `aws.lambda.<name>` (riskradar.local.logs).
    function_logs = logging.getLogger("aws.lambda")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = function_logs.level
    function_logs.addHandler(handler)
    function_logs.setLevel(logging.INFO)
    try:
        return _invoke_on_fresh_stack(logical_id, event)
    finally:
        function_logs.removeHandler(handler)
        function_logs.setLevel(level)


def _invoke_on_fresh_stack(logical_id: str, event: Any) -> int:
    from riskradar.local import LocalStack
    from riskradar.local.defaults import TEMPLATE, local_stack_options

    # A stage of its own: moto keeps what a stopped stack retained (the audit table) for the life of
    # the process, and a second invoke in one process must not collide with it.
    stage = f"invoke-{secrets.token_hex(3)}"
    with LocalStack.start(
        TEMPLATE, parameters={"Stage": stage}, stack_name=f"riskradar-{stage}", **local_stack_options()
    ) as stack:
        try:
            response = stack.invoke(logical_id, event)
        # A handler's error is the answer, reported as Lambda reports a function error.
        except Exception as error:
            print(
                json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}, indent=2),
                file=sys.stdout,
            )
            return 1
    print(json.dumps(response, indent=2, default=str))
    return 0
