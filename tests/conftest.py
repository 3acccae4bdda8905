"""Shared test fixtures: where ../shared is, and skips with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AMMCNET_SHARED", REPO.parent / "shared"))

# The tests run tiny models: one torch thread is fastest for them, and on a machine whose cores
# are busy with other work, several spin-waiting threads per process run many times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder (benchmarks, official scores, real clips)."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED} (set AMMCNET_SHARED to its path)")
    return SHARED


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, skipping the calling test if it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: this test needs the shared benchmark data beside the checkout")
    return path
