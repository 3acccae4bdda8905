"""``kill -9`` at random moments of prepare, train, calibrate, test and export; results as JSON.

Each command is first run uninterrupted on a tiny synthetic dataset (the reference), then for
each of ``--points`` random moments (uniform in 30-97 % of the reference time, past the imports; seeded) it is
started again, killed with SIGKILL, its output checked for partial files, rerun (``train`` with
``--resume``) and the rerun's result compared with the reference (bit-equal weights for train).
See ``tests/reliability/killpoints.py`` for the checks.

Example (the figures in BENCHMARKS.md)::

    flock /tmp/ammcnet-cpu.lock python benchmarks/kill_points.py --points 3 --json benchmarks/results/kill-points.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.killpoints import COMMANDS, kill_series  # noqa: E402

from ammcnet.utils.io import write_json_atomic  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=3, help="kill points per command (default 3)")
    p.add_argument("--seed", type=int, default=16, help="seed of the kill moments (default 16)")
    p.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated subset")
    p.add_argument("--json", type=Path, default=None, help="write the result here")
    args = p.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        result = kill_series(Path(tmp), args.points, args.seed, tuple(args.commands.split(",")),
                             log=lambda s: print(s, flush=True))
    pts = result["points"]
    result.update({
        "what": "kill -9 at random moments, then rerun (train: --resume)",
        "command": f"python benchmarks/kill_points.py --points {args.points} --seed {args.seed}",
        "machine": {"cpu": platform.processor() or platform.machine()},
        "kill_points_tried": len(pts),
        "killed_before_end": sum(p["killed"] for p in pts),
        "passed": sum(p["passed"] for p in pts),
        "seconds": round(time.time() - t0, 1),
    })
    print(json.dumps({k: v for k, v in result.items() if k != "points"}, indent=2))
    if args.json:
        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
