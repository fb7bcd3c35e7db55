"""The `riskradar` command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from riskradar.replay import DatasetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="riskradar", description="User-feedback risk triage, on AWS or locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="replay the shipped Banking77 data through the local stack")
    demo.add_argument("--dataset", type=Path, help="CSV file with a 'text' column (default: Banking77)")
    demo.add_argument("--limit", type=int, help="replay only the first N rows")
    demo.add_argument("--batch-size", type=int, default=100, help="reports per batch request (1-100)")
    demo.add_argument(
        "--label-column", default="category", help="label column ('' for none; default: category)"
    )
    demo.add_argument(
        "--emerging-label",
        default="compromised_card",
        help="label held back until the last days of the replay, to emerge ('' for none)",
    )

    serve = commands.add_parser("serve", help="run the local stack and its HTTP API until Ctrl-C")
    serve.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (default: a free one)")

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        return _serve(args.port)
    except DatasetError as error:
        print(f"riskradar: {error}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    from riskradar.demo import DemoOptions, run_demo

    options = DemoOptions(
        limit=args.limit,
        batch_size=args.batch_size,
        label_column=args.label_column or None,
        emerging_label=(args.emerging_label or None) if args.label_column else None,
    )
    if args.dataset:
        options = dataclasses.replace(options, dataset=args.dataset)
    run_demo(options)
    return 0


def _serve(port: int) -> int:
    from riskradar.local import LocalStack
    from riskradar.local.defaults import TEMPLATE, local_stack_options

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with LocalStack.start(TEMPLATE, **local_stack_options()) as stack:
        api_url = stack.serve_http(port)
        stack.start_background()
        print(f"riskradar local stack\n  API:  {api_url}\n  AWS:  {stack.endpoint_url}\n")
        print(f"  try:  curl -s -X POST {api_url}/v1/reports -H 'content-type: application/json' \\")
        print(
            '          -d \'{"business":"shop","reporter":{"id":"u1","role":"user"},"text":"never shipped"}\''
        )
        print("\nCtrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
        stack.stop_background()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
