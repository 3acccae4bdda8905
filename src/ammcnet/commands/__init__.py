"""CLI sub-commands: each module has ``register(subparsers)`` and calls one API function.

A module imports only ``argparse`` and light modules (``ammcnet.choices``, ``ammcnet.errors``) at
the top; the library code a command runs is imported inside its ``run(args)``. Those are the only
imports kept inside functions in the package, and only for start-up time: ``ammcnet --help``
registers every command without loading torch or OpenCV.
"""
