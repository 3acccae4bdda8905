"""``ammcnet watch``: one long-lived detector per camera, restarted when it drops or crashes.

Example::

    ammcnet watch cameras.yaml                 # local processes, until Ctrl-C
    ammcnet watch cameras.yaml --ray auto      # one Ray actor per camera on a running cluster
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "watch",
        help="watch several cameras at once: one supervised detector each, one event log, a status file",
        description="Run one detector per camera listed in CONFIG.yaml (source, model, threshold or false-alarm "
                    "rate, output folder); reconnect dropped cameras with backoff, restart crashed detectors; "
                    "write OUT/events.jsonl (all cameras), OUT/status.json and one folder per camera.",
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="the cameras (see docs/distributed.md)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="one Ray actor per camera (needs the ray extra): no ADDRESS starts a local instance, "
                        "'auto' joins this machine's cluster (default: local processes)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no status line on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    result = api.watch(args.config, ray=args.ray, seconds=args.seconds, print_status=False if args.no_status else None)
    for name, row in result.status["cameras"].items():
        print(f"{name}: {row['state']}, {row['frames_total']} frames, {row['events']} events, {row['restarts']} restarts")
    print(f"events: {result.out}/events.jsonl; status: {result.out}/status.json")
    return 0
