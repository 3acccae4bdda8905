"""Write the "Alarms: teach and fit" section of BENCHMARKS.md from ``benchmarks/results/teach-vtest.json``.

    python benchmarks/make_alarms_md.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from md_section import write_section  # the sibling script that writes BENCHMARKS.md sections

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def _pct(share: dict) -> str:
    return f"{100 * share['rate']:.1f} % ({share['alarmed']}/{share['frames']})"


def section(r: dict) -> str:
    v, t, d = r["vtest"], r["tree"], r["detect_rates"]
    full = d.get("full") or {}
    lines = [
        "## Alarms: teach and fit",
        "",
        f"Commit `{r['commit'][:7]}`{' (dirty)' if r['dirty'] else ''}, {r['machine']}; command: "
        f"`{r['commands'][0]}` (every step is the `ammcnet` command a user would run, listed in the result file "
        "`benchmarks/results/teach-vtest.json`). `vtest.avi` and `tree.avi` are design sets "
        "([D30](docs/decisions.md)).",
        "",
        "**Feedback without retraining** (`ammcnet fit` on `vtest.avi` frames 0-476; `detect` on frames 477-636; "
        f"its {v['events_taught']} alarm event(s) taught as normal with `ammcnet teach --normal-event`; frames "
        "637-794, used by nothing else, scored before and after; threshold `auto` at 1 % false alarms, causal):",
        "",
        "| | before teach | after teach |",
        "|---|---|---|",
        f"| `vtest.avi` frames 637-794 alarmed (all normal; target after: <= 3 %) | {_pct(v['later_before'])} | "
        f"{_pct(v['later_after'])} |",
        f"| `tree.avi` hand frames alarmed (head fitted on frames 0-45; frames 20-45 taught; target >= 14/15) | "
        f"{t['before']['hand_frames_alarmed']}/{t['before']['hand_frames']} | "
        f"{t['after']['hand_frames_alarmed']}/{t['after']['hand_frames']} |",
        f"| `tree.avi` other frames after 46 alarmed | {t['before']['other_frames_alarmed']} | "
        f"{t['after']['other_frames_alarmed']} |",
        "",
        f"The teach's guard (the head's validation on its own footage, label-free): "
        f"{re.search(r'synthetic AUC [0-9.]+ -> [0-9.]+', v['teach_report']).group(0)}, within its 0.02 margin; "
        f"the teach took {v['teach_seconds']:.1f} s with start-up.",
        "",
        "**A camera in a minute** (`ammcnet fit`, a cold cache: the analysis flows computed from the footage):",
        "",
        "| footage | fit (as printed) | wall time with start-up |",
        "|---|---|---|",
        f"| `vtest.avi` frames 0-476 (768x576; target < 90 s) | {v['fit_report'].split(': ', 1)[1]} | "
        f"{v['fit_seconds_with_startup']:.1f} s |",
        f"| UCSD Ped2 training split (16 videos, 238x158) | {d['ped2_fit_report'].split(': ', 1)[1]} | "
        f"{d['ped2_fit_seconds_with_startup']:.1f} s |",
        "",
        "**`detect`'s frame rate**, Ped2 test video 01 (180 frames, `--threads 2`, batch 8, frames/s of wall time):",
        "",
        "| model | frames/s | mean latency per frame (batched) |",
        "|---|---|---|",
        f"| head-only (`ammcnet fit`) | {d['head_only']['fps']} | {d['head_only']['latency_ms_mean']:.0f} ms |",
        f"| full (`cpu-lite` network at 96x96 + the head) | {full.get('fps', 'n/a')} | "
        f"{full['latency_ms_mean']:.0f} ms |" if full else "| full | not run (no trained Ped2 model) | |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    print(write_section("alarms", section(json.loads((RESULTS / "teach-vtest.json").read_text()))))


if __name__ == "__main__":
    main()
