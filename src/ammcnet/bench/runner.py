"""``ammcnet bench``: end-to-end, model-only and training throughput, against a plain eager baseline.

Every optimised figure is printed beside the plain eager model (``model.eval()`` under
``torch.no_grad``, batch 1, sequential decode/flow) measured in the same run, because absolute
times on a shared machine drift while ratios hold. Model weights are random unless a run is
given (speed does not depend on them).

>>> cfg = BenchConfig(preset="tiny", frames=10, seconds=0.05, batches=(1, 2), train_steps=1, onnx=False)
>>> report = run_benchmark(cfg)
>>> report["model"]["eager_b1"]["fps"] > 0 and report["end_to_end"]["optimised"]["frames"] == 10
True
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ammcnet.bench.pipeline import score_stream
from ammcnet.bench.system import machine_info, peak_memory_mb, time_call
from ammcnet.data import open_video
from ammcnet.demo import SceneConfig, render_video
from ammcnet.errors import ConfigError
from ammcnet.export import OnnxBackend, TorchBackend, export_onnx, optimize_for_inference
from ammcnet.export.heads import ScoringGraph
from ammcnet.export.quantize import quantize_onnx, synthetic_feeds
from ammcnet.models import AMMCNet, ModelConfig, PatchDiscriminator, init_weights_normal
from ammcnet.regions import RegionHead, RegionHeadConfig, analysis_size
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.selection.validate import object_window
from ammcnet.scoring.model_file import read_model_file
from ammcnet.scoring.region_head import RegionHeadComponent
from ammcnet.scoring.scorer import Scorer
from ammcnet.training.presets import load_preset
from ammcnet.training.steps import GanPart, stage2_step


@dataclass
class BenchConfig:
    """What to measure.

    Args:
        preset: training preset giving the model sizes, input size and training batch.
        device: ``cpu`` or ``cuda``.
        video: a video file or frame folder for the end-to-end figure (default: a generated scene).
        model: a run folder or model file (default: random weights of the preset's sizes).
        frames: frames of the video used end to end.
        batches: batch sizes tried for the model-only figure.
        seconds: minimum seconds per timed measurement.
        train_steps: timed stage-2 training steps (0 = skip).
        onnx: also measure ONNX Runtime (CPU only).
        int8: also measure the int8 ONNX graph (``ammcnet export --int8``; CPU only; calibrated on
            random inputs here, which sets no accuracy but does not change the speed). Reported
            beside the float figures, never picked as "best": its scores differ slightly.
        channels_last: also measure channels-last weights.
        compile: also measure ``torch.compile`` (slow to warm up on CPU).
        threads: torch threads (default: leave as is).
        flow_workers: threads computing optical flow end to end (0 = 1 on a CPU, where the model
            needs the cores, and up to 8 on CUDA, where one flow thread cannot keep up).
        head_rounds: rounds of the region head's cost (without, then with it; the median ratio).
    """

    preset: str = "cpu-lite"
    device: str = "cpu"
    video: str | None = None
    model: str | None = None
    frames: int = 60
    batches: tuple[int, ...] = (1, 2, 4, 8, 16)
    seconds: float = 3.0
    train_steps: int = 3
    onnx: bool = True
    int8: bool = True
    channels_last: bool = True
    compile: bool = False
    flow_workers: int = 0
    threads: int | None = None
    head_rounds: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


def _load(cfg: BenchConfig) -> tuple[Any, Any, dict[str, Any]]:
    """The model, the preset's settings and what detect would score it with (scorer, calibration)."""
    train_cfg = load_preset(cfg.preset)
    if cfg.model:
        model_file = read_model_file(cfg.model)
        return model_file.model, train_cfg, {"scorer": model_file.scorer, "calibration": model_file.calibration}
    torch.manual_seed(0)
    return AMMCNet(ModelConfig(**asdict(train_cfg.model))).eval(), train_cfg, {}


def _scene_frames(size: tuple[int, int], n: int) -> list[np.ndarray]:
    h, w = size
    # render at a camera-like size (multiple of 8, aspect 3:2), the pipeline then resizes
    return list(render_video(SceneConfig(height=max(64, h), width=max(96, (w * 3 // 2) // 8 * 8)), n, seed=0).frames)


def _video_frames(cfg: BenchConfig, size: tuple[int, int], tmp: Path) -> tuple[Any, str]:
    if cfg.video:
        return open_video(cfg.video), str(cfg.video)
    frames = _scene_frames(size, cfg.frames)
    path = tmp / "scene.avi"  # written and decoded again, so decoding is part of the figure
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for fr in frames:
        writer.write(cv2.cvtColor(fr, cv2.COLOR_RGB2BGR))
    writer.release()
    return open_video(path), f"generated scene {w}x{h}, {len(frames)} frames (MJPG)"


def _inputs(model_cfg: Any, size: tuple[int, int], batch: int, device: str) -> tuple[torch.Tensor, ...]:
    h, w = size
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, 3 * model_cfg.frames_in, h, w, generator=g) * 2 - 1,
         torch.rand(batch, 3, h, w, generator=g) * 2 - 1,
         torch.randn(batch, 2 * model_cfg.flows_in, h, w, generator=g) * 0.05,
         torch.randn(batch, 2, h, w, generator=g) * 0.05)
    return tuple(t.to(device) for t in x)


def _model_fps(backend: Any, model_cfg: Any, size: tuple[int, int], batch: int, cfg: BenchConfig) -> dict[str, float]:
    fr, tg, fl, ft = _inputs(model_cfg, size, batch, cfg.device)
    motion = backend.motion is not None
    sync = torch.cuda.synchronize if cfg.device.startswith("cuda") else None
    sec = time_call(lambda: backend.score(fr, tg, fl if motion else None, ft if motion else None),
                    warmup=2, min_iters=3, min_seconds=cfg.seconds, sync=sync)
    return {"batch": batch, "seconds_per_call": sec, "fps": batch / sec}


class _Eager:
    """The baseline: the plain model under no_grad, scored with the same heads."""

    def __init__(self, model: Any) -> None:
        self.net = model.eval()
        self.graph = ScoringGraph(self.net)
        self.config, self.motion = model.config, getattr(model, "motion", None)
        self.device = next(model.parameters()).device

    def eval(self) -> _Eager:
        return self

    def to(self, device: Any) -> _Eager:
        return self

    def __call__(self, frames: Any, flows: Any = None) -> Any:
        with torch.no_grad():
            return self.net(frames.to(self.device), flows.to(self.device) if flows is not None else None)

    def score(self, fr: Any, tg: Any, fl: Any = None, ft: Any = None) -> dict[str, np.ndarray]:
        fr, tg, fl, ft = (t.to(self.device) if t is not None else None for t in (fr, tg, fl, ft))
        with torch.no_grad():
            outs = self.graph(fr, tg, fl, ft)
        return {k: v.cpu().numpy() for k, v in zip(self.graph.output_names, outs, strict=True)}


class _Compiled(_Eager):
    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.net = torch.compile(optimize_for_inference(model))
        self.graph = ScoringGraph(self.net)


def _train_speed(model: Any, train_cfg: Any, size: tuple[int, int], steps: int, device: str) -> dict[str, float]:
    import copy
    import time


    net = copy.deepcopy(model).to(device).train()
    disc = PatchDiscriminator(3, tuple(train_cfg.disc.widths)).to(device)
    init_weights_normal(disc)
    part = GanPart(torch.optim.Adam(net.parameters(), 1e-4), disc, torch.optim.Adam(disc.parameters(), 1e-5))
    b = int(train_cfg.stage2.batch_size)
    fr, tg, fl, ft = _inputs(net.config, size, b, device)
    batch = {"frames": fr, "target": tg, "flows": fl, "flow_target": ft}
    stage2_step(net, batch, part, train_cfg.loss)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        stage2_step(net, batch, part, train_cfg.loss)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / steps
    return {"batch": b, "seconds_per_step": sec, "samples_per_s": b / sec}


def _pick_threads(backend: Any, mcfg: Any, size: tuple[int, int], cfg: BenchConfig, default: int,
                  report: dict[str, Any]) -> int:
    """Torch threads for the optimised path, by measurement: 1 or the default.

    On a CPU shared with other busy processes, OpenMP worker threads that wait for a descheduled
    sibling can make 2 threads several times slower than 1, so the choice is measured, not assumed.
    """
    probe: dict[str, float] = {}
    for n in sorted({1, default}):
        torch.set_num_threads(n)
        probe[str(n)] = _model_fps(backend, mcfg, size, 1, cfg)["fps"]
    torch.set_num_threads(default)
    report["model"]["threads_probe_fps"] = probe
    return int(max(probe, key=lambda k: probe[k]))


def _why(exc: BaseException) -> str:
    """One line saying why a variant could not be built."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def run_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    """Measure and return a JSON-able report (see :func:`format_report`)."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda but no CUDA device is visible: use --device cpu")
    if cfg.head_rounds < 1:
        raise ConfigError(f"--head-rounds must be at least 1, got {cfg.head_rounds}")
    default_threads = torch.get_num_threads()
    model, train_cfg, scoring = _load(cfg)
    model = model.to(cfg.device).eval()
    size = tuple(int(v) for v in train_cfg.data.size)
    report: dict[str, Any] = {"config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
                              "machine": machine_info(cfg.device), "size": list(size),
                              "model_config": asdict(model.config), "model": {}, "end_to_end": {}, "skipped": {}}
    with tempfile.TemporaryDirectory(prefix="ammcnet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        backends, threads = _backends(model, size, cfg, default_threads, report, tmp)
        best_name, best_b = _model_figures(backends, model.config, size, cfg, report)
        _end_to_end(backends, best_name, best_b, train_cfg, size, cfg, (default_threads, threads), report, tmp, scoring)
        if cfg.train_steps > 0:
            report["training"] = _train_speed(model, train_cfg, size, cfg.train_steps, cfg.device)
    report["peak_memory_mb"] = peak_memory_mb(cfg.device)
    report["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    return report


def _backends(model: Any, size: tuple[int, int], cfg: BenchConfig, default_threads: int, report: dict[str, Any],
              tmp: Path) -> tuple[dict[str, Any], int]:
    """Every variant to measure (eager baseline first) and the torch threads chosen for them."""
    mcfg = model.config
    backends: dict[str, Any] = {"eager": _Eager(model), "fused": TorchBackend(model, device=cfg.device)}
    # the plain baseline runs with torch's default threads, as a user gets it
    report["model"]["eager_b1"] = _model_fps(backends["eager"], mcfg, size, 1, cfg)
    report["model"]["default_threads"] = default_threads
    on_gpu = cfg.device.startswith("cuda")
    threads = cfg.threads or (default_threads if on_gpu else
                              _pick_threads(backends["fused"], mcfg, size, cfg, default_threads, report))
    torch.set_num_threads(threads)
    report["machine"]["torch_threads"] = threads
    if threads != default_threads:  # the eager model at the chosen threads: what fusion etc. add on top
        report["model"]["eager_same_threads_b1"] = _model_fps(backends["eager"], mcfg, size, 1, cfg)
    if cfg.channels_last:
        backends["fused_channels_last"] = TorchBackend(model, channels_last=True, device=cfg.device)
    if on_gpu:  # tensor cores; on a CPU without AVX-512 bf16 is emulated and slow
        for precision in ("float16", "bfloat16"):
            backends[f"fused_channels_last_{precision}"] = TorchBackend(
                model, channels_last=True, device=cfg.device, precision=precision)
    if cfg.compile:
        backends["compiled"] = _Compiled(model)
    if cfg.onnx and cfg.device == "cpu":
        _onnx_backends(model, size, cfg, threads, backends, report, tmp)
    return backends, threads


def _onnx_backends(model: Any, size: tuple[int, int], cfg: BenchConfig, threads: int, backends: dict[str, Any],
                   report: dict[str, Any], tmp: Path) -> None:
    """The float32 and int8 ONNX graphs; a missing or incompatible onnxruntime is not an error here:
    the variant is not measured, and the report says why."""
    try:
        backends["onnx"] = OnnxBackend(export_onnx(model, tmp / "m.onnx", size=size), threads=threads)
    except Exception as exc:  # noqa: BLE001
        report["skipped"]["onnx"] = _why(exc)
    if cfg.int8 and "onnx" in backends:
        try:
            feeds = synthetic_feeds(model.config, size, 2, motion=getattr(model, "motion", None) is not None)
            backends["onnx_int8"] = OnnxBackend(quantize_onnx(tmp / "m.onnx", tmp / "m-int8.onnx", feeds),
                                                threads=threads)
        except Exception as exc:  # noqa: BLE001
            report["skipped"]["onnx_int8"] = _why(exc)


def _model_figures(backends: dict[str, Any], mcfg: Any, size: tuple[int, int], cfg: BenchConfig,
                   report: dict[str, Any]) -> tuple[str, int]:
    """Model-only frames per second of every variant; (best backend, best batch)."""
    for name, be in backends.items():
        if name != "eager":
            report["model"][f"{name}_b1"] = _model_fps(be, mcfg, size, 1, cfg)
    candidates = [n for n in backends if n not in ("eager", "onnx_int8")]
    best_name = max(candidates, key=lambda n: report["model"][f"{n}_b1"]["fps"])
    if cfg.device.startswith("cuda"):
        # at batch 1 a GPU waits on kernel launches, so half precision cannot show its worth
        # there: every backend is swept and the best (backend, batch) pair wins
        sweeps = {n: {b: report["model"][f"{n}_b1"] if b == 1 else _model_fps(backends[n], mcfg, size, b, cfg)
                      for b in cfg.batches} for n in candidates}
        report["model"]["batch_sweep_all"] = {n: {str(b): v["fps"] for b, v in sw.items()} for n, sw in sweeps.items()}
        best_name = max(candidates, key=lambda n: max(v["fps"] for v in sweeps[n].values()))
        sweep = sweeps[best_name]
    else:
        sweep = {b: report["model"][f"{best_name}_b1"] if b == 1 else _model_fps(backends[best_name], mcfg, size, b, cfg)
                 for b in cfg.batches}
    best_b = max(sweep, key=lambda b: sweep[b]["fps"])
    eager = report["model"]["eager_b1"]["fps"]
    report["model"].update({"best_backend": best_name, "batch_sweep": {str(b): v["fps"] for b, v in sweep.items()},
                            "best_batch": {**sweep[best_b], "backend": best_name},
                            "speedup_b1": report["model"][f"{best_name}_b1"]["fps"] / eager,
                            "speedup_best": sweep[best_b]["fps"] / eager})
    return best_name, best_b


def _end_to_end(backends: dict[str, Any], best_name: str, best_b: int, train_cfg: Any, size: tuple[int, int],
                cfg: BenchConfig, threads: tuple[int, int], report: dict[str, Any], tmp: Path,
                scoring: dict[str, Any]) -> None:
    """Whole-pipeline frames per second on a video: the eager sequential baseline, the best variant, int8.

    ``scoring`` holds the model file's scorer and calibration when a run is benchmarked, so the
    pipeline computes every record and the fusion ``ammcnet detect`` would.
    """
    video, desc = _video_frames(cfg, size, tmp)
    e2e = report["end_to_end"]
    e2e["video"] = desc
    flow = dict(flow=train_cfg.data.flow, flow_preset=train_cfg.data.flow_preset, **scoring)
    on_gpu = cfg.device.startswith("cuda")
    e2e_batch = min(16 if on_gpu else 4, best_b)  # latency: a batched frame waits for its batch
    flow_workers = cfg.flow_workers or (min(8, os.cpu_count() or 1) if on_gpu else 1)
    torch.set_num_threads(threads[0])
    _, base = score_stream(video, backends["eager"], size=size, batch_size=1, threaded=False,
                           max_frames=cfg.frames, **flow)
    torch.set_num_threads(threads[1])
    backends[best_name].score(*_inputs(backends[best_name].config, size, e2e_batch, cfg.device))  # warm-up: cuDNN tunes each new shape
    _, fast = score_stream(video, backends[best_name], size=size, batch_size=e2e_batch, threaded=True,
                           max_frames=cfg.frames, flow_workers=flow_workers, **flow)
    e2e["eager_sequential"] = base
    e2e["optimised"] = {**fast, "backend": best_name, "batch": e2e_batch, "threaded": True, "flow_workers": flow_workers}
    e2e["speedup"] = fast["fps"] / base["fps"]
    run = partial(score_stream, video, backends[best_name], size=size, batch_size=e2e_batch, threaded=True,
                  max_frames=cfg.frames, flow_workers=flow_workers)
    e2e.update(_region_head_cost(run, flow, video, cfg, {"backend": best_name, "batch": e2e_batch, "threaded": True}))
    if "onnx_int8" in backends:
        _, q = score_stream(video, backends["onnx_int8"], size=size, batch_size=e2e_batch, threaded=True,
                            max_frames=cfg.frames, **flow)
        e2e["int8"] = {**q, "backend": "onnx_int8", "batch": e2e_batch, "threaded": True}
        e2e["int8_speedup"] = q["fps"] / base["fps"]


def _region_head_cost(run: Callable[..., tuple[Any, dict[str, float]]], flow: dict[str, Any], video: Any,
                      cfg: BenchConfig, about: dict[str, Any]) -> dict[str, Any]:
    """The region head's cost: the same optimised run without and with it, alternated ``cfg.head_rounds`` times.

    One pair measured once swings with whatever else the machine does (on a shared 2-core VM
    single pairs ranged from 0.54x to 0.83x within an hour); alternating the two and taking the median of the
    per-round ratios gives a figure that repeats. The reported runs are those of the median round.
    """
    other, has_head = _region_counterpart(flow.get("scorer"), video, cfg.frames)
    rest = {k: v for k, v in flow.items() if k != "scorer"}
    scorers = (other, flow.get("scorer")) if has_head else (flow.get("scorer"), other)  # (without, with)
    rounds = []
    for _ in range(cfg.head_rounds):
        without, with_head = (run(scorer=s, **rest)[1] for s in scorers)
        rounds.append((with_head["fps"] / without["fps"], without, with_head))
    ratio, without, with_head = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    return {"with_region_head": {**with_head, **about}, "without_region_head": {**without, **about},
            "region_head_rate_ratio": ratio,
            "region_head_rounds": [{"without_fps": w["fps"], "with_fps": h["fps"], "ratio": r} for r, w, h in rounds]}


def _region_counterpart(scorer: Scorer | None, video: Any, frames: int) -> tuple[Scorer, bool]:
    """(the scorer to time beside ``scorer``, whether ``scorer`` has a region head).

    A scorer with a head is timed without it; one without gets a head fitted on the video's own
    first frames (the bench times, it does not judge), with the object-sized window that
    training would give it (:func:`ammcnet.regions.selection.validate.object_window`).
    """
    comps = dict(scorer.components) if scorer is not None else {}
    name = RegionHeadComponent.component
    if name in comps:
        return Scorer({k: c for k, c in comps.items() if k != name} or None), True
    clip = [f for _, f in zip(range(max(8, frames // 2)), video, strict=False)]
    config = RegionHeadConfig()
    size = analysis_size(clip[0].shape[:2], config.height)
    flows = flows_of_frames(clip, size, config.flow_preset).astype(np.float32)
    config = replace(config, window=object_window([flows], config.window))
    head = RegionHead.fit([flows], config)
    return Scorer({**comps, name: RegionHeadComponent(head)}), False


def format_report(r: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`run_benchmark`'s report."""
    m, e = r["machine"], r["end_to_end"]
    lines = [
        f"machine: {m['processor']} x{m['cpu_count']} | torch {m['torch']} | threads {m['torch_threads']} "
        f"(baseline {r['model'].get('default_threads', '?')}, probe {r['model'].get('threads_probe_fps', {})}) | "
        f"onnxruntime {m.get('onnxruntime')} | load avg {m.get('load_avg_1m')} -> {m.get('load_avg_1m_end')}"
        + (f" | {m['gpu']}" if m.get("gpu") else ""),
        f"preset {r['config']['preset']} at {r['size'][0]}x{r['size'][1]}, device {r['config']['device']}",
        "model only (fps, frames per second of model + score heads):",
    ]
    base = r["model"]["eager_b1"]["fps"]
    for k, v in r["model"].items():
        if k.endswith("_b1") and isinstance(v, dict):
            lines.append(f"  {k[:-3]:<22} batch 1: {v['fps']:8.2f} fps  ({v['fps'] / base:4.2f}x eager)")
    bb = r["model"]["best_batch"]
    sweep = ", ".join(f"b{b}: {f:.1f}" for b, f in r["model"]["batch_sweep"].items())
    lines.append(f"  best: {bb['backend']} batch {bb['batch']}: {bb['fps']:.2f} fps ({r['model']['speedup_best']:.2f}x eager b1)"
                 f"  [{sweep}]")
    b, o = e["eager_sequential"], e["optimised"]
    lines += [
        f"end to end ({e['video']}; decode + resize + flow + model + score):",
        "  (fps = scored frames per second once the history is full; warm-up frames not counted)",
        f"  eager, sequential, batch 1: {b['fps']:7.2f} fps  (decode {b['decode_resize']:.2f}s, flow {b['flow']:.2f}s, "
        f"model {b['model']:.2f}s over {b['frames']} frames)",
        f"  {o['backend']}, threaded, batch {o['batch']}, {o.get('flow_workers', 1)} flow thread(s): {o['fps']:7.2f} fps  "
        f"({e['speedup']:.2f}x)",
    ]
    if "with_region_head" in e:
        h = e["with_region_head"]
        rounds = ", ".join(f"{r['ratio']:.2f}" for r in e.get("region_head_rounds", []))
        lines.append(f"  with the region head: {h['fps']:7.2f} fps, without: {e['without_region_head']['fps']:7.2f} fps  "
                     f"({e['region_head_rate_ratio']:.2f}x, median of alternated rounds: {rounds})")
    if "int8" in e:
        q = e["int8"]
        lines.append(f"  onnx_int8, threaded, batch {q['batch']}: {q['fps']:7.2f} fps  ({e['int8_speedup']:.2f}x; "
                     "int8 scores differ slightly from float32)")
    if "training" in r:
        t = r["training"]
        lines.append(f"training (stage 2, batch {t['batch']}): {t['samples_per_s']:.2f} samples/s "
                     f"({t['seconds_per_step']:.2f} s/step)")
    for name, why in (r.get("skipped") or {}).items():
        lines.append(f"not measured: {name} ({why})")
    lines.append(f"peak memory: {r['peak_memory_mb']:.0f} MiB ({'RSS' if r['config']['device'] == 'cpu' else 'CUDA allocated'})")
    return "\n".join(lines)
