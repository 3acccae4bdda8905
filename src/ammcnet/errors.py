"""User-facing errors.

Everything a user can cause (a missing folder, a corrupt checkpoint, mismatched labels) raises
:class:`AmmcError` with one line that names the file and the fix. The CLI prints that line and
exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations


class AmmcError(Exception):
    """A problem with the user's input, reported as one clear line."""


class DataError(AmmcError):
    """Unreadable, missing or inconsistent video, frame, flow or label data."""


class CheckpointError(AmmcError):
    """A checkpoint or run folder that is missing, corrupt or from another architecture."""


class ConfigError(AmmcError):
    """An unknown preset, key or value in a configuration."""


class ModelOutputError(AmmcError):
    """The model produced NaN or inf for too many frames in a row."""


class OutputError(AmmcError):
    """An output that cannot be written: a read-only, missing or full folder."""
