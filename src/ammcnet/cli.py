"""The `ammcnet` command: a skin over the Python API (:mod:`ammcnet.api`).

:data:`COMMANDS` lists every sub-command and the module in ``ammcnet.commands`` that defines it.
Each module exposes ``register(subparsers)``, which adds its parser and sets ``func`` to a
function ``(args) -> int`` that builds the API function's options object from the flags, calls
that function and prints its result. User errors (:class:`ammcnet.AmmcError`) are printed as one line on
stderr with exit status 2.

The command modules import neither torch nor OpenCV nor numpy at the top (each imports its
library code when it runs), so ``ammcnet --help`` answers at once; ``tests/test_api.py`` holds that.

>>> build_parser().prog
'ammcnet'
>>> list(COMMANDS)[:3]
['demo', 'prepare', 'verify']
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from ammcnet.commands import (
    bench,
    calibrate,
    demo,
    detect,
    evaluate,
    export,
    fit,
    import_official,
    info,
    prepare,
    serve,
    synthesize,
    teach,
    test,
    train,
    verify,
    watch,
)
from ammcnet.errors import AmmcError
from ammcnet.version import __version__

#: Every sub-command, in the order ``--help`` lists them: its name -> the module that registers it.
COMMANDS: dict[str, ModuleType] = {
    "demo": demo,
    "prepare": prepare,
    "verify": verify,
    "synthesize": synthesize,
    "train": train,
    "test": test,
    "calibrate": calibrate,
    "fit": fit,
    "teach": teach,
    "evaluate": evaluate,
    "detect": detect,
    "watch": watch,
    "serve": serve,
    "import-official": import_official,
    "export": export,
    "info": info,
    "bench": bench,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ammcnet",
        description="AMMC-Net video anomaly detection: prepare data, train, test, evaluate, detect.",
    )
    parser.add_argument("--version", action="version", version=f"ammcnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.register(sub)
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
