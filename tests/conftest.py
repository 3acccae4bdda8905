"""Shared test fixtures: where ../shared is, and skips with a reason when it is absent.

Plain helper functions (tiny datasets, ``shared_path``) live in ``helpers.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from helpers import SHARED

# The tests run tiny models: one torch thread is fastest for them, and on a machine whose cores
# are busy with other work, several spin-waiting threads per process run many times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Datasets the commands prepare go to a temporary cache, not the user's ``~/.cache/ammcnet``."""
    before = os.environ.get("AMMCNET_CACHE")
    os.environ["AMMCNET_CACHE"] = str(tmp_path_factory.mktemp("ammcnet-cache"))
    yield
    if before is None:
        os.environ.pop("AMMCNET_CACHE", None)
    else:
        os.environ["AMMCNET_CACHE"] = before


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder (benchmarks, official scores, real clips)."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED} (set AMMCNET_SHARED to its path)")
    return SHARED
