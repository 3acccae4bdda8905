"""``ammcnet serve``: review a detect or watch output folder in a browser.

Example::

    ammcnet serve runs/watch                         # http://127.0.0.1:8765/, this machine only
    AMMCNET_SERVE_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe())') \\
        ammcnet serve runs/watch --host 0.0.0.0      # from other machines, with the token

The flags become the :class:`~ammcnet.api.ServeOptions` that :func:`ammcnet.api.serve` takes.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ammcnet.api import ServeOptions

#: The environment variable read for the token when ``--token`` is not given.
TOKEN_ENV = "AMMCNET_SERVE_TOKEN"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="review a detect or watch output folder in a browser: cameras, live scores, events, clips",
        description="Serve a small web app over DIR (the --out folder of `ammcnet detect`, or a watch folder): "
                    "cameras with their state and a live score line, the events filtered by camera, zone and time, "
                    "each event's snapshot and clip; acknowledge an event or mark it normal (recorded in "
                    "reviews.jsonl). Needs the serve extra.",
    )
    p.add_argument("dir", metavar="DIR", help="the output folder of `ammcnet detect --out` or of `ammcnet watch`")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other needs --token)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    p.add_argument("--token", default=None,
                   help=f"a secret every request must carry (default: ${TOKEN_ENV}, else none); prefer the "
                        "environment variable, which other users cannot see in the process list")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="the model file or run folder that 'mark normal' updates (default: the model named "
                        "in the folder's events.jsonl)")
    p.add_argument("--open", action="store_true", help="open the cameras page in the default browser")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> ServeOptions:
    """The :class:`~ammcnet.api.ServeOptions` of the flags (the token from the environment when not given)."""
    from ammcnet import api

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    return api.ServeOptions(host=args.host, port=args.port, token=token, model=args.model, open_browser=args.open)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    api.serve(args.dir, options(args))
    return 0
