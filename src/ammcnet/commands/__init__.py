"""CLI sub-commands: each module has ``register(subparsers)`` and calls one API function."""
