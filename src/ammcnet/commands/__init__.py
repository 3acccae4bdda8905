"""CLI sub-commands: each module has ``register(subparsers)`` and runs one API function.

:data:`ammcnet.cli.COMMANDS` lists them. The command line is a skin over :mod:`ammcnet.api`: a
module's ``run(args)`` imports ``ammcnet.api``, turns the flags into the options object the API
function takes (``options(args)``, e.g. :class:`ammcnet.api.TestOptions`), calls that function
and prints what it returns; no command imports a library module (``tests/test_cli_over_api.py``
checks both). A module imports only ``argparse`` and light modules (``ammcnet.choices``,
``ammcnet.errors``, :mod:`ammcnet.commands.common`) at the top; ``ammcnet.api`` is imported inside
``run(args)`` and ``options(args)`` (and torch inside :func:`ammcnet.commands.common.resolve_device`).
Those are the only imports kept inside functions in the package, and only for start-up time:
``ammcnet --help`` registers every command without loading torch, OpenCV or numpy.
"""
