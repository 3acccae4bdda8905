"""The leaderboards of BENCHMARKS.md and the results summary of the README and the docs, from
``benchmarks/results/leaderboard/*.json`` (written by ``benchmarks/leaderboard.py``).

Every number in those blocks is read from a result file that carries its provenance
(:func:`provenance.check_provenance` refuses one that does not); nothing is typed by hand.
``tests/test_leaderboard.py`` rebuilds the blocks and fails when a file disagrees.

Usage (rewrites the blocks between their markers)::

    python benchmarks/make_leaderboard_md.py            # write
    python benchmarks/make_leaderboard_md.py --check    # exit 1 when a block is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from md_section import replace_section  # the sibling script that writes marked sections
from provenance import REPO, check_provenance

RESULTS = REPO / "benchmarks" / "results" / "leaderboard"
#: Row order and names of the scoring modes.
MODE_NAMES = {
    "region": "region head",
    "motion-head": "region head without its look parts",
    "fusion": "calibrated fusion",
    "records": "AMMC-Net's records alone",
    "max-speed": "baseline: max local speed",
    "per-position": "baseline: per-position speed ratio",
}
BASELINES = ("max-speed", "per-position")
#: Where each generated block goes: (file, marker name, builder).
TARGETS = ("BENCHMARKS.md", "README.md", "docs/honest-scoring.md")


def load(pattern: str) -> list[dict[str, Any]]:
    """The result files matching ``pattern``, each checked for provenance."""
    return [check_provenance(p.name, {**json.loads(p.read_text()), "_file": p.name}) for p in sorted(RESULTS.glob(pattern))]


def portable(command: str) -> str:
    """A stored command as anyone runs it from the repository: this machine's folders shortened
    (``.../shared/`` to ``../shared/``, ``.../runs/`` to ``runs/``).

    >>> portable("ammcnet test /work/main/runs/x /work/shared/benchmarks/ped2 --score {mode}")
    'ammcnet test runs/x ../shared/benchmarks/ped2 --score MODE'
    """
    command = re.sub(r"\S*/shared/", "../shared/", command.replace("'{mode}'", "{mode}").replace("-{mode}'", "'-{mode}"))
    command = re.sub(r"'(\S*?/runs/\S*?)'", r"\1", command)
    return re.sub(r"\S*?/runs/", "runs/", command).replace("{mode}", "MODE")


def each_seed(command: str, seed: int) -> str:
    """``command`` of scene ``seed`` written for any scene S."""
    return re.sub(rf"(/s|--seed ){seed}\b", r"\1S", portable(command))


def _pct(values: list[float | None]) -> str:
    v = np.asarray([x for x in values if x is not None], float) * 100
    if not len(v):
        return "–"
    if len(v) == 1 or np.ptp(v) == 0:
        return f"{v.mean():.2f}"
    sd = v.std(ddof=1)
    return f"{v.mean():.2f} ± {sd:.2f}" if sd >= 0.005 else f"{v.mean():.2f} ± <0.01"


def _distinct(results: list[dict], mode: str) -> int:
    """How many different results the files give for ``mode`` (n counts what really differs)."""
    return len({json.dumps(r["scoring_modes"]["modes"][mode], sort_keys=True) for r in results})


def _caught(ops: list[dict], pooled: bool) -> str:
    """Events caught: summed over ``ops`` when they are different data (scenes), else per run
    (heads of one dataset: the same events each time)."""
    caught, events = [o["events_caught"] for o in ops], [o["events"] for o in ops]
    if pooled:
        return f"{sum(caught)}/{sum(events)}"
    return f"{caught[0]}/{events[0]}" if len(set(caught)) == 1 else f"{np.mean(caught):.1f}/{events[0]} (mean)"


#: Row names when the choice tried the look parts (``leaderboard.py --appearance``): ``region``
#: is then the head with it where it joined, ``motion-head`` the head the defaults fit.
TRIED_NAMES = {"region": "region head, look parts tried (`--appearance`)",
               "motion-head": "region head, the default (motion parts)"}


def tried(results: list[dict]) -> bool:
    """Whether these results' heads were chosen with the look parts among the candidates."""
    return all("try_appearance=true" in " ".join(r["commands"]) for r in results)


def names_for(results: list[dict]) -> dict[str, str]:
    """Each mode's row name for ``results``."""
    return {**MODE_NAMES, **(TRIED_NAMES if tried(results) else {})}


def default_head(results: list[dict]) -> str:
    """The mode that is the head the defaults fit: ``motion-head`` when the part was tried, else ``region``."""
    return "motion-head" if tried(results) else "region"


def mode_rows(results: list[dict], label: str, pooled: bool) -> tuple[list[str], dict[str, float]]:
    """The table rows of every scoring mode over ``results`` (one file per head or scene), and
    each mode's mean causal micro AUC; ``pooled``: the results are of different data (scenes).
    The ``motion-head`` row is left out where it is the head itself in every result (the
    appearance part was not tried, or did not join)."""
    rows, means = [], {}
    names = names_for(results)
    for mode in MODE_NAMES:
        name = names[mode]
        figs = [r["scoring_modes"]["modes"].get(mode) for r in results]
        if not all(figs) or (mode == "motion-head" and all(
                f == r["scoring_modes"]["modes"]["region"] for f, r in zip(figs, results, strict=True))):
            continue
        ops = [f["operator"] for f in figs]
        means[mode] = float(np.mean([f["causal_micro"] for f in figs]))
        n = _distinct(results, mode)
        alarms = "–" if not all(ops) else _pct([o["false_alarm_rate"] for o in ops]) + " %"
        caught = "–" if not all(ops) else _caught(ops, pooled)
        delay = "–" if not all(ops) else f"{np.nanmean([o['median_delay'] for o in ops]):.1f}"
        count = f"{n} {label}" if n > 1 or len(results) == 1 else f"1 (the same for all {len(results)} {label})"
        rows.append(f"| {name} | **{_pct([f['causal_micro'] for f in figs])}** | {alarms} | {caught} | {delay} | "
                    f"{_pct([f['centred_micro'] for f in figs])} | {_pct([f['macro'] for f in figs])} | {count} "
                    f"| `--score {mode}` |")
    return rows, means


HEADER = ("| score (`--score`) | **causal micro AUC %** | false alarms at 1 % | events caught | median delay (frames) "
          "| centred micro AUC % (offline) | macro AUC % ({macro}) | n | mode |\n|---|---|---|---|---|---|---|---|---|")


def margin(means: dict[str, float], head: str = "region") -> tuple[float, str]:
    """The head's causal micro AUC minus the fairest baseline's: the stronger of the two, each
    with its window got the head's way (the stronger is picked on these test numbers, which only
    makes the comparison harder for the head)."""
    best = max(BASELINES, key=lambda m: means.get(m, -1))
    return 100 * (means[head] - means[best]), best


def appearance_line(results: list[dict], means: dict[str, float]) -> list[str]:
    """What the look parts add: the head against the head without them (``motion-head``), and
    how many of the heads chose it (none: the two rows are the same head)."""
    if "motion-head" not in means:
        return []
    def weighs(r: dict, part: str) -> bool:
        return bool((r["settings"].get("region_head") or {}).get("weights", {}).get(part))

    chose = {p: sum(weighs(r, p) for r in results) for p in LOOK_PARTS}
    delta = 100 * (means["region"] - means["motion-head"])
    return [f"**The look parts: the label-free choice weighed the appearance part in {chose['appearance']} and the "
            f"moving look in {chose['moving_look']} of {len(results)} heads; the head with them against the head "
            f"without: {delta:+.2f} points causal micro AUC.**", ""]


def ped2_block(results: list[dict]) -> tuple[str, dict[str, Any]]:
    """The Ped2 leaderboard."""
    first = results[0]["scoring_modes"]
    excluded = first["modes"]["region"]["macro_excluded"]
    rows, means = mode_rows(results, "heads", pooled=False)
    head = default_head(results)
    gain, best = margin({**means, "region": means.get(head, means["region"])})
    seeds = ", ".join(str(r["seed"]["head"]) for r in results)
    lines = [
        "## Ped2 (UCSD, 12 test videos)", "",
        f"One `cpu-lite` network (seed {results[0]['seed']['network']}), its region head refitted with head seeds "
        f"{seeds} (a head's seed draws its synthetic anomalies, its normal bank and its held-out training videos); "
        "every row is a scoring mode of the same `ammcnet test`, on the same frames. "
        f"{first['frames_note'].capitalize()}. The fusion and the records alone are AMMC-Net's (`cpu-lite` "
        "weighs no head record, so they are one score); n = distinct results.", "",
        HEADER.format(macro=f"two-class videos; {excluded} one-class left out"), *rows, "",
        f"**Region head (the default) against the fairest baseline ({MODE_NAMES[best]}): {gain:+.2f} points causal "
        "micro AUC.**", "",
        *appearance_line(results, means),
        "Runs (each row: the test command with `--score MODE`):", "",
    ]
    lines += [f"- head seed {r['seed']['head']}: `{portable(r['commands'][1])}`, then `{portable(r['row_command'])}`; chosen: "
              f"{r['settings'].get('region_head_chosen')}; commit `{r['commit'][:10]}`"
              f"{' (dirty tree)' if r['dirty'] else ''}; {r['machine']}; {r['date']}" for r in results]
    lines.append(f"- the network: `{portable(results[0]['commands'][0])}` (commit `{results[0]['training']['commit'][:10]}`"
                 f"{', dirty tree' if results[0]['training'].get('dirty') else ''})")
    return "\n".join(lines), {"head": means.get(head, means["region"]), "baseline": means[best], "best": best,
                              "gain": gain, "default": "region"}


def demo_block(results: list[dict]) -> tuple[str, dict[str, Any]]:
    """The demo leaderboard over the report scenes only."""
    seeds = [r["seed"]["scene"] for r in results]
    rows, means = mode_rows(results, "scenes", pooled=True)
    default = results[0]["score_mode"]
    mins = {m: 100 * min(r["scoring_modes"]["modes"][m]["causal_micro"] for r in results) for m in means}
    gain, best = margin(means)
    dgain = 100 * (means[default] - means[best])
    lines = [
        "## The demo's report scenes", "",
        f"Scene seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} scenes), which no decision has looked at (design scenes "
        "0-8 chose the demo's fusion weights and thresholds: [decisions log](docs/decisions.md)). Each scene is "
        "`ammcnet demo --seed S`: generated, trained and tested; the rows are the scoring modes of that test. "
        f"Default score: `{default}`. Means over the scenes; n = distinct results.", "",
        HEADER.format(macro="two-class videos"), *rows, "",
        "Minimum over the report scenes, causal micro AUC %: " + ", ".join(
            f"{MODE_NAMES[m]} {v:.2f}" for m, v in mins.items()) + ".", "",
        f"**Default score ({default}) against the fairest baseline ({MODE_NAMES[best]}): {dgain:+.2f} points; the "
        f"region head alone: {gain:+.2f} points.**", "",
        *appearance_line(results, means),
        f"Runs: `{each_seed(results[0]['commands'][0], seeds[0])}` for each seed S, then "
        f"`{each_seed(results[0]['row_command'], seeds[0])}`; commit "
        f"`{results[0]['commit'][:10]}`{' (dirty tree)' if any(r['dirty'] for r in results) else ''}; {results[0]['machine']}.",
    ]
    return "\n".join(lines), {"default": default, "default_mean": means[default], "min": mins[default],
                              "head": means["region"], "baseline": means[best], "best": best, "gain": dgain,
                              "head_gain": gain}


def real_block(result: dict) -> str:
    """The real clips: false alarms on unseen normal street footage, and the hand in ``tree.avi``."""
    vtest, tree = result["vtest"]["results"], result["tree"]["results"]
    lines = [
        "## Real clips (`../shared/data/real`)", "",
        "`vtest.avi` (795 frames of pedestrians, no labelled anomaly): fitted on frames 0-476, settings chosen there "
        f"alone ({result['settings']['vtest_chosen']}); reported: the share of frames 477-794 above the causal score's "
        "threshold for 1 % false alarms on held-out stretches of the fitting frames (lower is better). `tree.avi` "
        "(68 frames, a hand enters at frame 53): fitted on frames 0-45 with the default settings; reported: hand "
        "frames alarmed (higher is better) and other frames alarmed (lower). Both are design sets "
        "([decisions log](docs/decisions.md)).", "",
        "| score | vtest frames 477-794 alarmed (causal) | tree.avi hand frames alarmed | tree.avi other frames alarmed |",
        "|---|---|---|---|",
    ]
    names = {**MODE_NAMES, **(TRIED_NAMES if "try_appearance=true" in " ".join(result["commands"])
                              or "--appearance" in " ".join(result["commands"]) else {})}
    for mode in ("region", "motion-head", *BASELINES):
        if mode not in vtest:
            continue
        v, t = vtest[mode], tree.get(mode) or tree["region"]  # tree.avi's defaults weigh motion parts only
        lines.append(f"| {names[mode]} | {100 * v['held_out_false_alarm_rate']:.1f} % | "
                     f"{t['hand_frames_alarmed']}/{t['hand_frames']} | {t['other_frames_alarmed']}/{t['other_frames']} |")
    looks = tree.get("defaults + appearance part (edges, x1)")
    if looks:
        lines += ["", "`tree.avi` is too short to choose settings on, so its head weighs the default motion parts; "
                  f"with the appearance part added (edges, weight 1) it alarms on {looks['hand_frames_alarmed']}/"
                  f"{looks['hand_frames']} hand frames and {looks['other_frames_alarmed']}/{looks['other_frames']} others."]
    lines += ["", f"Run: `{portable(result['commands'][0])}`; commit `{result['commit'][:10]}`"
              f"{' (dirty tree)' if result['dirty'] else ''}; {result['machine']}; {result['date']}."]
    return "\n".join(lines)


def appearance_report_block(results: list[dict]) -> str:
    """The report scenes once more with the look parts tried: the head with them against the
    head the defaults fit, per scene, with their mean and minimum (the issue's yardstick)."""
    rows = sorted(results, key=lambda r: r["seed"]["scene"])
    pairs = [(r["scoring_modes"]["modes"]["region"]["causal_micro"], r["scoring_modes"]["modes"]["motion-head"]["causal_micro"])
             for r in rows]
    with_part, without = (np.array(x) * 100 for x in zip(*pairs, strict=True))
    lines = ["## The demo's report scenes with the look parts tried", "",
             "The same report scenes, each fitted once more with `--set scoring.regions.try_appearance=true`: causal micro "
             "AUC % of the head (`--score region`: with a look part where the label-free choice adopted one) and of the head "
             "the defaults fit (`--score motion-head`), from the same test.", "",
             "| scene | chosen | with the look parts tried | the default head |", "|---|---|---|---|"]
    for r, a, b in zip(rows, with_part, without, strict=True):
        lines.append(f"| {r['seed']['scene']} | {r['settings'].get('region_head_chosen')} | {a:.2f} | {b:.2f} |")
    lines += [f"| **mean** | | **{with_part.mean():.2f}** | **{without.mean():.2f}** |",
              f"| **minimum** | | **{with_part.min():.2f}** | **{without.min():.2f}** |", "",
              f"Runs: `python benchmarks/leaderboard.py demo --prefix demo-report-appearance --appearance`; commit "
              f"`{rows[0]['commit'][:10]}`{' (dirty tree)' if any(r['dirty'] for r in rows) else ''}."]
    return "\n".join(lines)


def design_block(results: list[dict]) -> str:
    """The demo's design scenes: what the label-free choice did with the look parts on each,
    and each scene's head with and without it (design scenes: shown, never averaged into a claim)."""
    lines = ["## The demo's design scenes: the look parts", "",
             "Design scenes 0-8 (looked at while designing; not a report). Per scene: the settings the label-free "
             "choice made, and the causal micro AUC % of the head (`--score region`) and of the head without its "
             "look parts (`--score motion-head`), from the same test.", "",
             "| scene | chosen | region head | without the look parts |", "|---|---|---|---|"]
    for r in sorted(results, key=lambda r: r["seed"]["scene"]):
        modes = r["scoring_modes"]["modes"]
        lines.append(f"| {r['seed']['scene']} | {r['settings'].get('region_head_chosen')} | "
                     f"{100 * modes['region']['causal_micro']:.2f} | {100 * modes['motion-head']['causal_micro']:.2f} |")
    lines += ["", f"Runs: `python benchmarks/leaderboard.py demo --seeds 0 1 2 3 4 5 6 7 8 --prefix demo-design --appearance`; commit "
              f"`{results[0]['commit'][:10]}`{' (dirty tree)' if any(r['dirty'] for r in results) else ''}."]
    return "\n".join(lines)


def cost_block(result: dict) -> str:
    """What the look parts add to a live frame: the heads timed in one run, interleaved."""
    ms, total = result["ms_per_frame"], result["total_ms"]
    a, b, c, d = "motion parts", "with the appearance part", "with the moving look", "with both look parts"
    others = [x for x in (c, d) if x in ms]
    stages = ", ".join(f"{k} {ms[a][k]:.2f} -> {ms[b][k]:.2f}" + "".join(f" / {ms[x][k]:.2f}" for x in others)
                       for k in ms[a])
    look = (f", {total[c]:.2f} ms with the moving look added instead ({result['ratio_with_moving_look']:.2f}x)"
            if c in total else "")
    look += f", and {total[d]:.2f} ms with both ({result['ratio_with_both']:.2f}x)" if d in total else ""
    return "\n".join([
        "## The look parts' cost per live frame", "",
        f"One run, the heads interleaved {result['rounds']} rounds over the same {result['frames']} live frames of "
        f"`{Path(result['video']).name}` ({result['source_size'][0]}x{result['source_size'][1]} to the "
        f"{result['analysis_grid'][0]}x{result['analysis_grid'][1]} analysis grid; window 34/240; speed, place and "
        f"direction): the head costs **{total[a]:.2f} ms a frame with the motion parts, {total[b]:.2f} ms with the "
        f"appearance part too ({result['ratio_with_appearance']:.2f}x){look}**; by stage, ms (motion -> appearance"
        f"{' / moving look' if c in ms else ''}{' / both' if d in ms else ''}): {stages}.", "",
        f"Run: `{portable(result['command'])}`; commit `{result['commit'][:10]}`"
        f"{' (dirty tree)' if result['dirty'] else ''}; {result['machine']}; {result['date']}."])


#: The parts that read the windows' looks (``ammcnet.regions.config.LOOK_PARTS``).
LOOK_PARTS = ("appearance", "moving_look")
#: The moving-look probe's row for the appearance part itself.
PLACE_BANK = "appearance part (place bank, edges)"
#: ... and for the moving-look part as the library builds it.
BUILT_PART = "moving_look part (the library's), added"
#: The synthetic kinds the motion parts are chosen on (``regions/selection/synthetic.py``).
MOTION_KINDS = ("patch", "fast", "backwards", "against")


def _validation_measures(candidate: dict) -> tuple[float, float, float, float]:
    """(mean AUC over all kinds, over the motion kinds, false alarms at 10 %, normal rank)."""
    motion = sum(candidate["auc"][k] for k in MOTION_KINDS) / len(MOTION_KINDS)
    return candidate["mean_auc"], motion, candidate["false_alarm_10"], candidate["normal_rank"]


def _test_figure(name: str, chosen: dict | None = None) -> str:
    """The leaderboard's test figure for one design set, without -> with the part: causal micro
    AUC %, or for ``vtest.avi`` the share of frames 477-794 alarmed. With the probe's ``chosen``
    configuration, a leaderboard run whose head was fitted with other settings (an older choice)
    is marked, since its figure is not the probe's head's."""
    kind, _, arg = name.partition(":")
    if kind == "vtest":
        v = json.loads((RESULTS / "real-clips.json").read_text())["vtest"]["results"]
        return f"{100 * v['motion-head']['held_out_false_alarm_rate']:.1f} % -> {100 * v['region']['held_out_false_alarm_rate']:.1f} % alarmed"
    file = RESULTS / (f"ped2-cpu-lite-net0-head{arg}.json" if kind == "ped2" else f"demo-design-seed{arg}.json")
    if not file.exists():
        return "not run"
    run = json.loads(file.read_text())
    modes = run["scoring_modes"]["modes"]
    fitted = run.get("settings", {}).get("region_head")
    other = bool(chosen and fitted and _head_settings(fitted) != _head_settings(chosen))
    return (f"{100 * modes['motion-head']['causal_micro']:.2f} -> {100 * modes['region']['causal_micro']:.2f}"
            + (" (another head: an older choice)" if other else ""))


def _head_settings(config: dict) -> tuple:
    """What makes two region heads' settings the same: the window, the moving threshold, the parts
    weighed (and the appearance descriptor when that part is)."""
    weights = tuple(sorted((k, v) for k, v in config["weights"].items() if v))
    look = config.get("appearance_descriptor") if config["weights"].get("appearance") else None
    return round(config["window"], 6), round(config["static"], 9), weights, look


def _kinds(result: dict) -> int:
    """How many synthetic kinds the probe's candidates were measured on."""
    first = next(iter(result["sets"].values()))["selection"]["candidates"][0]
    return len(first["auc"])


def validation_table(result: dict) -> list[str]:
    """Per design set: the choice's motion winner -> the variant that joined it, as the validation
    measured them (no test label), beside the test figure the leaderboard measured for the two."""
    rows = [f"| set | joined | mean AUC, {_kinds(result)} kinds | motion kinds | false alarms at 10 % | normal rank "
            "| test (leaderboard) |", "|---|---|---|---|---|---|---|"]
    for name, done in result["sets"].items():
        sel = done["selection"]
        by_label = {c["label"]: c for c in sel["candidates"]}
        motion, chosen = (_validation_measures(by_label[sel[k]]) for k in ("motion_chosen", "chosen"))
        joined = sel["chosen"][len(sel["motion_chosen"]) + 2:] or "no"
        cells = " | ".join(f"{a:.3f} -> {b:.3f}" for a, b in zip(motion, chosen, strict=True))
        rows.append(f"| {name} | {joined} | {cells} | {_test_figure(name, sel.get('config'))} |")
    return rows


#: The appearance kinds, and the look variants of each set's motion winner compared on them.
LOOK_KINDS = ("still", "lying", "texture", "alongside")
LOOK_ROWS = (("the motion winner", "{motion}"), ("the appearance variant chosen", "{chosen}"),
             ("moving look x0.5", "{motion}, moving look (added) x0.5"),
             ("moving look x1", "{motion}, moving look (added) x1"),
             ("both: the chosen appearance variant and moving look x0.5", "{chosen}, moving look (added) x0.5"))


def look_kinds_table(result: dict) -> list[str]:
    """Per look variant, each synthetic appearance kind's AUC averaged over the probe's design sets
    (sets whose candidates lack a kind or a variant are left out of that cell)."""
    kinds = [k for k in LOOK_KINDS if any(k in c["auc"] for d in result["sets"].values()
                                        for c in d["selection"]["candidates"])]
    rows = [f"| variant | {' | '.join(kinds)} | mean, all kinds |", "|---|" + "---|" * (len(kinds) + 1)]
    for name, pattern in LOOK_ROWS:
        cells: list[list[float]] = [[] for _ in range(len(kinds) + 1)]
        for done in result["sets"].values():
            sel = done["selection"]
            by_label = {c["label"]: c for c in sel["candidates"]}
            found = by_label.get(pattern.format(motion=sel["motion_chosen"], chosen=sel["chosen"]))
            for i, kind in enumerate(kinds):
                if found and kind in found["auc"]:
                    cells[i].append(found["auc"][kind])
            if found:
                cells[-1].append(found["mean_auc"])
        rows.append(f"| {name} | " + " | ".join(f"{sum(c) / len(c):.3f}" if c else "-" for c in cells) + " |")
    return rows


def validation_block(result: dict, moving: dict | None) -> str:
    """What the label-free choice saw of the appearance part on each design set, and the probe of
    moving windows' looks on Ped2 (both from ``benchmarks/probes``)."""
    lines = ["## What the choice's validation saw of the appearance part (probe)", "",
             "Design sets only. For each, the choice ran with the part tried; per set, its motion winner -> the "
             f"variant that joined it: mean synthetic AUC over the {_kinds(result)} kinds and over the 4 motion kinds, the share of "
             "held-out normal frames above the 90th percentile of the fitting set's own held-out scores, and their "
             "mean percentile among those scores (`normal_rank`; 0.5: unseen normal footage scores like the "
             "fitting set's). No test label was read for them; the last column is the leaderboard's test figure "
             "for the same two heads. Where the part cost the test figure (Ped2, `vtest.avi`, demo scenes 6 and "
             "7), every validation measure stayed level or favoured it; the only measures that moved against it "
             "(the normal rank on demo scenes 0 and 1, the motion kinds on scene 1) did so where the test figure "
             "rose.", "", *validation_table(result), "",
             f"What each look part catches: each synthetic appearance kind's AUC, averaged over the {len(result['sets'])} "
             "sets above (the same validation runs). `texture` and `alongside` are the kinds made for the moving "
             "look (a foreign look that moves as the footage moves); the looks kept at each place (the appearance "
             "part) catch them too, and the choice adds a look part only for what the other does not already see "
             "(docs/decisions.md D35).", "", *look_kinds_table(result), "",
             f"Run: `{portable(result['command'])}`; commit `{result['commit'][:10]}`"
             f"{' (dirty tree)' if result['dirty'] else ''}; {result['machine']}; {result['date']}."]
    if moving:
        auc = dict(moving["causal_micro_auc"])
        head, place, built = auc.pop("motion head"), auc.pop(PLACE_BANK, None), auc.pop(BUILT_PART, None)

        def span(kind: str, rows: list[dict]) -> str:
            values = [r[k] for r in rows for k in r if k.startswith(kind)]
            return f"{min(values):.2f}-{max(values):.2f}"

        rows = list(auc.values())
        best = max(((k, v, r[v]) for k, r in auc.items() for v in r if v != "alone"), key=lambda x: x[2])
        lines += ["", "The look of *moving* windows in one kNN over (look, position), as the direction part compares "
                  f"directions (Ped2, test labels read; causal micro AUC %; {len(rows)} variants, each at 4 weights "
                  f"in the head's max and 4 added to its score): the motion head {head:.2f}; the look alone "
                  f"{span('alone', rows)}; in the max {span('max', rows)}; added {span('sum', rows)} (best: {best[0]}, "
                  f"{best[1]}: {best[2]:.2f})."
                  + (f" The appearance part itself (the looks kept at each place) alone {place['alone']:.2f}, in the "
                     f"max {span('max', [place])}, added {span('sum', [place])}." if place else "")
                  + (f" The moving-look part as built (`MovingLookPart`: the whole window, position weight 1) weighed "
                     f"in the head by hand, added at 0.1 / 0.25 / 0.5 / 1: "
                     f"{' / '.join(f'{v:.2f}' for v in built.values())}; the label-free choice did not adopt it on any "
                     "design set (docs/decisions.md D33-D35)." if built else
                     " Not built: the lead comes from Ped2's test labels (docs/decisions.md D33)."), "",
                  f"Run: `{portable(moving['command'])}`; commit `{moving['commit'][:10]}`"
                  f"{' (dirty tree)' if moving['dirty'] else ''}; {moving['machine']}; {moving['date']}."]
    return "\n".join(lines)


def place_and_moving_block(result: dict) -> str:
    """The probe of the place bank that leaves out what looks like a moving thing (Ped2, test labels)."""
    auc = result["causal_micro_auc"]
    head = auc["motion head"]
    rows = [(name, r) for name, r in auc.items() if name != "motion head"]
    cells = "; ".join(f"{name}: alone {r['alone']:.2f}, in the max at 0.5 / 1 {r['max x0.5']:.2f} / {r['max x1']:.2f}, "
                      f"added at 0.1 / 0.5 {r['sum x0.1']:.2f} / {r['sum x0.5']:.2f}" for name, r in rows)
    return "\n".join([
        "## The place bank, less what looks like a moving thing (probe)", "",
        "Ped2 (test labels read; causal micro AUC %). Per window, the smaller of the place bank's distance and the "
        "distance to the nearest look that moved in training, so that a walker where nobody walked scores as a "
        f"walker: the motion head {head:.2f}; {cells}. Not built (docs/decisions.md D36).", "",
        f"Run: `{portable(result['command'])}`; commit `{result['commit'][:10]}`"
        f"{' (dirty tree)' if result['dirty'] else ''}; {result['machine']}; {result['date']}."])


def memory_block(results: list[dict]) -> str:
    """The region head's fitting and settings choice: peak memory and time against footage length."""
    lines = ["## Memory of the region head's fitting", "",
             "`fit_region_head` (what `ammcnet train` and `ammcnet calibrate` run: flows, settings chosen on held-out "
             "footage and synthetic anomalies, fit) on `vtest.avi` looped and resized to 320x240 at 10 fps, in a child "
             "process; peak resident memory is the child's (`ru_maxrss`), about 0.34 GB of it the imported libraries. "
             "The target is at most 2 GB whatever the footage's length.", "",
             "| footage | code | frames | peak RSS (MB) | wall (s) | CPU (s) | chosen | run |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["footage"]["minutes"], r["code"] != "before")):
        f = r["footage"]
        lines.append(f"| {f['minutes']:g} min | {r['code']} | {f['frames']} | {r['peak_rss_mb']:.0f} | {r['wall_s']:.0f} | "
                     f"{r['cpu_s']:.0f} | {r['chosen']} | `{portable(r['commands'][0])}`; commit `{r['commit'][:10]}`"
                     f"{' (dirty tree)' if r['dirty'] else ''}, {r['date']} |")
    lines += ["", "`before` is the code that held every flow, feature and synthetic video in memory (about 1.4 MB per "
              "frame: an hour would need about 50 GB, more than the machine has, so it was not run); the streaming "
              "code chooses the same settings with the same numbers (tested bit for bit on real footage). Times are "
              "from a shared machine."]
    return "\n".join(lines)


def summary_block(ped2: dict[str, Any] | None, demo: dict[str, Any] | None, real: dict[str, Any] | None) -> str:
    """The short results table of the README and the docs (the same numbers as the leaderboards)."""
    lines = ["| data | default score | causal micro AUC % | fairest baseline (its causal micro) | margin |",
             "|---|---|---|---|---|"]
    if ped2:
        lines.append(f"| UCSD Ped2 | region head | {100 * ped2['head']:.2f} | {MODE_NAMES[ped2['best']].split(': ')[1]} "
                     f"({100 * ped2['baseline']:.2f}) | {ped2['gain']:+.2f} |")
    if demo:
        lines.append(f"| demo report scenes (mean; minimum {demo['min']:.2f}) | {demo['default']} | "
                     f"{100 * demo['default_mean']:.2f} | {MODE_NAMES[demo['best']].split(': ')[1]} "
                     f"({100 * demo['baseline']:.2f}) | {demo['gain']:+.2f} |")
    if demo:
        lines += ["", f"On the demo's report scenes the region head alone scores {100 * demo['head']:.2f} causal, "
                  f"{demo['head_gain']:+.2f} points over the fairest baseline; the default there is the calibrated fusion "
                  "of the head's record with AMMC-Net's records (`presets/demo.yaml`)."]
    if real:
        v = real["vtest"]["results"]
        head = "motion-head" if "motion-head" in v and "--appearance" in " ".join(real["commands"]) else "region"
        lines += ["", f"On unlabelled street footage (`vtest.avi`, fitted on its first 477 frames) the region head alarms on "
                  f"{100 * v[head]['held_out_false_alarm_rate']:.1f} % of the later normal frames at its 1 % threshold, "
                  f"the max-local-speed baseline on {100 * v['max-speed']['held_out_false_alarm_rate']:.1f} % (lower is better)."]
    lines += ["", "Causal: the score a camera gets (its smoothing never looks ahead). No test label and no "
              "statistic of a test video is used by any score; the baselines get their window the way the head "
              "does. From [BENCHMARKS.md](BENCHMARKS.md), generated from result files that record their commit, "
              "commands, machine, seeds and chosen settings."]
    return "\n".join(lines)


def blocks() -> dict[tuple[str, str], str]:
    """Every generated block, by (file, marker)."""
    ped2 = load("ped2-*.json")
    demo = load("demo-report-seed*.json")  # the defaults (the -appearance files are another block)
    board, p2, dm = ["# Leaderboards", "", "Generated by `python benchmarks/make_leaderboard_md.py` from "
                     "`benchmarks/results/leaderboard/*.json`. Headline: **causal micro AUC** (the smoothing looks "
                     "back only, as on a camera); operator figures at the threshold that gives 1 % false alarms on "
                     "held-out normal training footage, read from the causal score. Settings chosen after looking "
                     "at a test result are in the [decisions log](docs/decisions.md).", "",
                     "Rules every row keeps: it is a scoring mode of `ammcnet test` (`--score MODE`), run with the "
                     "printed commands; every mode of a table scores the same frames; no test label and no statistic "
                     "of a test video is used; the baselines get their window the way the head does (object-sized, "
                     "from the training flows); n counts results that really differ; every result file records its "
                     "commit, whether the code differed from it (dirty), the commands, the machine, the library "
                     "versions, the seeds and every chosen setting, and this generator refuses one that does not. To "
                     "rerun: `python benchmarks/leaderboard.py ped2 --run RUN --appearance` (a run trained by `python "
                     "benchmarks/ped2.py --train-only`), `python benchmarks/leaderboard.py demo`, `python "
                     "benchmarks/honest_head_real.py --appearance --json benchmarks/results/leaderboard/real-clips.json`, "
                     "the appearance part's demo runs (`benchmarks/leaderboard.py`'s docstring), then "
                     "`python benchmarks/make_leaderboard_md.py`."], None, None
    if ped2:
        text, p2 = ped2_block(ped2)
        board += ["", text]
    if demo:
        text, dm = demo_block(demo)
        board += ["", text]
    memory = [check_provenance(p.name, json.loads(p.read_text())) for p in sorted(RESULTS.parent.glob("head-memory-*.json"))]
    real = load("real-clips.json")
    for r in real:
        board += ["", real_block(r)]
    tried_report = load("demo-report-appearance-seed*.json")
    if tried_report:
        board += ["", appearance_report_block(tried_report)]
    design = load("demo-design-seed*.json")
    if design:
        board += ["", design_block(design)]
    cost = RESULTS.parent / "region-stream-cost-appearance.json"
    if cost.exists():
        board += ["", cost_block(check_provenance(cost.name, json.loads(cost.read_text())))]
    probe, moving = (RESULTS.parent / f for f in ("appearance-cost-probe.json", "moving-look-probe.json"))
    if probe.exists():
        board += ["", validation_block(check_provenance(probe.name, json.loads(probe.read_text())),
                                       check_provenance(moving.name, json.loads(moving.read_text()))
                                       if moving.exists() else None)]
    unlike = RESULTS.parent / "place-and-moving-probe.json"
    if unlike.exists():
        board += ["", place_and_moving_block(check_provenance(unlike.name, json.loads(unlike.read_text())))]
    if memory:
        board += ["", memory_block(memory)]
    summary = summary_block(p2, dm, real[0] if real else None)
    return {("BENCHMARKS.md", "leaderboards"): "\n".join(board),
            ("README.md", "results-summary"): summary.replace("](BENCHMARKS.md)", "](BENCHMARKS.md)"),
            ("docs/honest-scoring.md", "results-summary"): summary.replace("](BENCHMARKS.md)", "](benchmarks.md)")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block is out of date")
    args = ap.parse_args(argv)
    stale = []
    for (name, marker), body in blocks().items():
        if replace_section(REPO / name, marker, body, write=not args.check):
            stale.append(f"{name} ({marker})")
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + "; run python benchmarks/make_leaderboard_md.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
