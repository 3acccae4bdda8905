"""What a model file holds, read without trusting it: ``ammcnet info MODEL``.

Unlike :func:`ammcnet.models.load_model_file`, which refuses a damaged file, this reads the file
as it is and reports whether its content digest checks out, so that an operator can see *what*
is wrong with a file before replacing it.

>>> import tempfile, pathlib
>>> from ammcnet.models import AMMCNet, ModelConfig, save_model_file
>>> p = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
>>> save_model_file(p, AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)))
>>> info = model_info(p)
>>> info["format"], info["digest_ok"], info["parameters"] > 0
('ammcnet-model/1', True, True)
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ammcnet.errors import CheckpointError
from ammcnet.models.checkpoint import _read, resolve_model_path
from ammcnet.utils.digest import DIGEST_KEY, check_digest, non_finite_tensors


def _calibration_summary(cal: Any) -> dict[str, Any] | None:
    if not isinstance(cal, dict):
        return None
    return {
        "videos": cal.get("num_videos"),
        "frames": cal.get("num_frames"),
        "records": sorted((cal.get("records") or {}).keys()),
        "thresholds": cal.get("thresholds"),
    }


def _scorer_summary(obj: dict[str, Any]) -> dict[str, Any]:
    """The fitted score components stored with the model, and how the region head chose its settings."""
    scorer = obj.get("scorer") if isinstance(obj.get("scorer"), dict) else {}
    comps = scorer.get("components") if isinstance(scorer.get("components"), dict) else {}
    if not comps and obj.get("motion_prior") is not None:  # files written before the scorer entry
        comps = {"motion_prior": obj["motion_prior"]}
    head = comps.get("region_head") if isinstance(comps.get("region_head"), dict) else None
    selection = (head or {}).get("selection") if isinstance((head or {}).get("selection"), dict) else None
    return {"components": sorted(comps), "region_head": None if head is None else _selection_line(selection)}


def _selection_line(selection: dict[str, Any] | None) -> str:
    """The head's chosen settings, and how many held-out rotations chose them when there were several."""
    chosen = (selection or {}).get("chosen")
    if not chosen:
        return "settings given, not chosen"
    rotations = selection.get("rotations", 1)
    return f"{chosen} (chosen on {rotations} held-out stretches in turn)" if isinstance(rotations, int) and rotations > 1 else chosen


def _scoring_summary(train: dict[str, Any]) -> dict[str, Any] | None:
    """Which honest score the file's settings make the default, and the fusion's non-zero weights."""
    scoring = train.get("scoring") if isinstance(train.get("scoring"), dict) else None
    if scoring is None:
        return None
    weights = scoring.get("weights") if isinstance(scoring.get("weights"), dict) else {}
    return {"honest": scoring.get("honest", "region"),
            "weights": {k: v for k, v in weights.items() if isinstance(v, (int, float)) and v != 0}}


def model_info(path_or_run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Format, digest (and whether it matches), version, parameter count, training data, preset,
    calibration, the default honest score and the fitted score components.

    Raises:
        CheckpointError: the file is missing, unreadable or not an ammcnet model file.
    """
    path = resolve_model_path(path_or_run_dir)
    obj = _read(path, "cpu")
    if not isinstance(obj, dict) or "format" not in obj:
        raise CheckpointError(f"{path}: not an ammcnet model file (no format tag): pass RUN/model.pt written by ammcnet")
    state = obj.get("state_dict") if isinstance(obj.get("state_dict"), dict) else {}
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    train = obj.get("train_config") if isinstance(obj.get("train_config"), dict) else {}
    params = sum(int(v.numel()) for v in state.values() if isinstance(v, torch.Tensor) and v.is_floating_point())
    scorer = _scorer_summary(obj)
    return {
        "file": str(path),
        "bytes": path.stat().st_size,
        "format": obj.get("format"),
        "digest": obj.get(DIGEST_KEY),
        "digest_ok": check_digest(obj),
        "non_finite": non_finite_tensors(state),
        "ammcnet_version": meta.get("ammcnet_version"),
        "parameters": params,
        "model_config": obj.get("model_config"),
        "preset": meta.get("preset") or train.get("name"),
        "training_data": {
            "root": meta.get("dataset") or ", ".join(str(f.get("source")) for f in meta.get("footage") or []) or None,
            "videos": meta.get("train_videos") or (len(meta["footage"]) if meta.get("footage") else None),
            "frames": meta.get("train_frames") or meta.get("frames"),
            "clips": meta.get("train_clips"),
        },
        "stage": meta.get("stage"),
        "taught": meta.get("taught") or [],
        "calibration": _calibration_summary(obj.get("calibration")),
        "scoring": _scoring_summary(train),
        "scorer": scorer,
        "motion_prior": "motion_prior" in scorer["components"],
    }


def format_info(info: dict[str, Any]) -> str:
    """The human-readable lines ``ammcnet info`` prints."""
    ok = {True: "ok", False: "MISMATCH: damaged or changed outside ammcnet", None: "none stored (older file)"}
    data = info["training_data"]
    cal = info["calibration"]
    lines = [
        f"file          {info['file']} ({info['bytes']} bytes)",
        f"format        {info['format']}",
        f"digest        {info['digest'] or '-'}",
        f"digest check  {ok[info['digest_ok']]}",
        f"weights       {'finite' if not info['non_finite'] else 'NaN/inf in ' + ', '.join(info['non_finite'][:3])}",
        f"version       ammcnet {info['ammcnet_version'] or '?'}",
        f"parameters    {info['parameters']:,} (floating-point values of the state dict, buffers included)",
        f"preset        {info['preset'] or '-'}",
        f"training data {data['root'] or '-'} (videos {data['videos'] or '?'}, frames {data['frames'] or '?'}, "
        f"clips {data['clips'] or '?'})",
    ]
    if cal:
        thr = ", ".join(f"fpr {k}: {v:.4g}" for k, v in (cal["thresholds"] or {}).items())
        lines.append(f"calibration   {cal['videos']} videos, {cal['frames']} frames; records {', '.join(cal['records'])}")
        if thr:
            lines.append(f"thresholds    {thr}")
    elif info["format"] == "ammcnet-head-model/1":
        lines.append("calibration   not needed: a head-only model (ammcnet fit) alarms on the head's held-out footage")
    else:
        lines.append("calibration   none (run `ammcnet calibrate`)")
    if info.get("taught"):
        spans = sum(len(t.get("spans") or []) for t in info["taught"])
        lines.append(f"taught        {len(info['taught'])} teach(es), {spans} span(s) taught as normal (ammcnet teach)")
    scoring, scorer = info["scoring"], info["scorer"]
    if scoring:
        weights = ", ".join(f"{k} {v:g}" for k, v in scoring["weights"].items())
        lines.append(f"honest score  {scoring['honest']} (fusion weights: {weights or 'none'})")
    lines.append(f"scorer        {', '.join(scorer['components']) or 'plain records (no fitted component)'}")
    if scorer["region_head"]:
        lines.append(f"region head   {scorer['region_head']}")
    lines += _alarm_lines(info.get("alarms"))
    return "\n".join(lines)


def _alarm_lines(alarms: dict[str, Any] | None) -> list[str]:
    """The alarm figures (:func:`ammcnet.apps.alarm_figures.alarm_figures`), when the caller added them."""
    if not alarms:
        return []
    fps = f"{alarms['fps']:g} fps" + ("" if alarms["fps_known"] else " assumed")
    at = alarms["fpr_0.01"]
    lines = [f"alarms        on {alarms['held_out_minutes']:.1f} min of held-out normal footage ({fps}): "
             f"--fpr 0.01 -> {at['events_per_hour']:.1f} events/h (threshold {at['threshold']:.4g})"]
    for budget, b in alarms["budgets"].items():
        lines.append(f"              --alarms-per-hour {budget} -> threshold {b['threshold']:.4g}, "
                     f"{b['events_per_hour']:.2f} events/h reached")
    return lines
