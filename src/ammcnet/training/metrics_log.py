"""The run's ``metrics.csv`` (one row per logged step) and optional TensorBoard scalars.

Columns are fixed, so stage-1 and stage-2 rows share one file; empty cells mean "not
computed at this step". On resume, rows after the checkpoint are dropped first, so the file
never holds two rows for one (stage, step).

>>> import tempfile, pathlib
>>> log = MetricsLog(pathlib.Path(tempfile.mkdtemp()) / "metrics.csv")
>>> log.write({"stage": 1, "step": 1, "g_loss": 0.5}); log.close()
>>> log.path.read_text().splitlines()[1].split(",")[:3]
['1', '1', '0.5']
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ammcnet.utils.io import write_text_atomic

COLUMNS: tuple[str, ...] = (
    "stage",
    "step",
    "g_loss",
    "int",
    "gd",
    "adv",
    "commit",
    "d_loss",
    "g_loss_flow",
    "int_flow",
    "adv_flow",
    "commit_flow",
    "d_loss_flow",
    "lr_g",
    "lr_d",
    "it_s",
    "val_loss",
    "time_s",
)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class MetricsLog:
    """Append-only CSV log with a fixed header; optional TensorBoard mirror.

    Args:
        path: the CSV file (created with a header when absent).
        resume_after: (stage, step): keep only rows at or before this point (resume).
        tensorboard_dir: write TensorBoard scalars here if ``torch.utils.tensorboard`` imports.
    """

    def __init__(
        self,
        path: str | Path,
        resume_after: tuple[int, int] | None = None,
        tensorboard_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and resume_after is not None:
            self._truncate(resume_after)
        elif not self.path.exists() or resume_after is None:
            write_text_atomic(self.path, ",".join(COLUMNS) + "\n")
        self._fh = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS, extrasaction="ignore")
        self._tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(tensorboard_dir))
            except Exception:  # tensorboard not installed: CSV only
                self._tb = None

    def _truncate(self, last: tuple[int, int]) -> None:
        rows = list(csv.DictReader(self.path.open(newline="")))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            try:
                key = (int(row["stage"]), int(row["step"]))
            except (KeyError, TypeError, ValueError):
                continue
            if key <= last:
                writer.writerow(row)
        write_text_atomic(self.path, out.getvalue())

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (unknown keys ignored) and flush it to disk."""
        self._writer.writerow({k: _fmt(v) for k, v in row.items()})
        self._fh.flush()
        if self._tb is not None:
            step = int(row.get("step", 0))
            stage = row.get("stage", 0)
            for key, value in row.items():
                if key not in ("stage", "step") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"stage{stage}/{key}", value, step)

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, str]]:
    """Rows of a ``metrics.csv`` as dicts of strings."""
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))
