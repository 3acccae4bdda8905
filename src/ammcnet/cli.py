"""The `ammcnet` command: a thin layer over the importable API.

Each sub-command lives in ``ammcnet.commands.<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a function ``(args) -> int``. User errors
(:class:`ammcnet.AmmcError`) are printed as one line on stderr with exit status 2.

Registering imports neither torch nor OpenCV (each command imports its library code when it
runs), so ``ammcnet --help`` answers at once; ``tests/test_api.py`` holds that.

>>> build_parser().prog
'ammcnet'
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ammcnet.errors import AmmcError
from ammcnet.version import __version__

#: Sub-command modules under ``ammcnet.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "prepare",
    "verify",
    "synthesize",
    "train",
    "test",
    "calibrate",
    "evaluate",
    "detect",
    "watch",
    "import_official",
    "export",
    "info",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ammcnet",
        description="AMMC-Net video anomaly detection: prepare data, train, test, evaluate, detect.",
    )
    parser.add_argument("--version", action="version", version=f"ammcnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ammcnet.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # library code reports through `logging`; the command line shows its warnings on stderr
    logging.basicConfig(level=logging.WARNING, format="ammcnet: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except AmmcError as exc:
        print(f"ammcnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only or full output folder: one line, not a traceback
        from ammcnet.utils.io import WRITE_ERRNOS, output_error

        if exc.errno not in WRITE_ERRNOS:
            raise
        print(f"ammcnet {args.command}: error: {output_error(exc.filename or 'an output file', exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ammcnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
