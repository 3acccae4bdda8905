"""Plain-text tables of evaluation results: one row per convention, the conventions spelled out.

>>> print(format_table([]))
(no results)
"""

from __future__ import annotations

from collections.abc import Sequence

from ammcnet.metrics.evaluate import EvalResult

COLUMNS = ("convention", "records", "normalise", "smooth", "warm-up", "micro AUC", "macro AUC", "EER", "AP")


def describe_records(result: EvalResult) -> str:
    """``0.99*rgb_psnr[N] + 0.01*rgb_commit[A]``; N = higher normal (flipped), A = higher anomalous."""
    parts = []
    for name, info in result.records.items():
        tag = "N" if info["direction"].endswith("normal") and "anomalous" not in info["direction"] else "A"
        weight = "" if len(result.records) == 1 else f"{info['weight']:g}*"
        parts.append(f"{weight}{name}[{tag}]")
    return " + ".join(parts)


def format_table(results: Sequence[EvalResult]) -> str:
    """Align every result as one row; AUCs as fractions to 4 decimals (micro to 6)."""
    if not results:
        return "(no results)"
    rows = []
    for r in results:
        d = r.options
        rows.append((r.name, describe_records(r), d["normalise_text"], d["smooth_text"], d["warmup_text"],
                     f"{r.auc_micro:.6f}", f"{r.auc_macro:.4f}", f"{r.eer:.4f}", f"{r.ap:.4f}"))
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in rows)) for i in range(len(COLUMNS))]
    right = set(range(5, len(COLUMNS)))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [line(COLUMNS), line(["-" * w for w in widths]), *(line(row) for row in rows)]
    out.append("scores: anomaly score (higher = more anomalous); [N] = record where higher means normal "
               "(flipped), [A] = higher means anomalous; macro = mean of per-video AUCs, each video padded "
               "with a normal frame scored 0 and an anomalous frame scored 1")
    return "\n".join(s.rstrip() for s in out)
