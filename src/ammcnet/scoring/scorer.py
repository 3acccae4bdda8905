"""The one scoring path: a batch of clips and the model's outputs in, per-frame records out.

``ammcnet test`` (:func:`ammcnet.scoring.inference.score_prepared`), ``ammcnet calibrate``, the
online detector (and so ``ammcnet bench``) and the exported ONNX graph
(:class:`ammcnet.export.heads.ScoringGraph`) all call :class:`Scorer`. A record is a function
registered once with :func:`register_record`; every path then produces it. Records of frame ``t``:

* ``rgb_psnr``: both images mapped from [-1, 1] to [0, 1], ``10 log10(1 / max(MSE, 1e-10))``,
  MSE over 3 x H x W (high = normal);
* ``rgb_commit``: appearance commitment error of the clip;
* ``flow_error``: MSE over 2 x H x W between the predicted flow and the true flow t-1 -> t;
* ``flow_commit``: motion commitment error of the clip;
* ``motion_prior``: how unusual the true flow is for where it is (a fitted component,
  :class:`~ammcnet.scoring.motion_prior.MotionPrior`, present only when the model file has one);
* ``rgb_error_local``, ``flow_error_local``, ``rgb_commit_local``, ``flow_commit_local``: the
  same errors taken over local windows instead of the whole frame (:func:`local_max`): the mean
  of the error map in the window where it is largest. A frame mean dilutes a small anomaly among
  many normal pixels, and a crowded frame's many small errors add up to a large mean; the
  window maximum keeps the first and not the second.

A record may need more than the clip and the model output: fitted *components* of the scorer
(saved in the model file) and *extras*, clip inputs computed beside each clip by the data layer:
registered once (:func:`register_clip_input`, e.g. a flow field at another resolution) or declared
by a component (:data:`COMPONENT_INPUTS`: the region head's view of the source frames,
:mod:`ammcnet.scoring.region_input`). :meth:`Scorer.clip_inputs` hands them all to the clip
dataset or the online builder, so every path computes every record the same way and none of them
adds a record by hand.

Records are float64 for ``test`` and ``detect``; the exported graph computes the same functions in
float32 (the difference is below 1e-4 dB / 1e-7).

>>> import torch
>>> p = torch.zeros(2, 3, 8, 8); t = p.clone(); t[1] += 0.2   # 0.1 in [0, 1] units
>>> [round(v, 3) for v in psnr(p, t).tolist()]
[100.0, 20.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ammcnet.data.clips import ClipBatch, ClipInputFn
from ammcnet.errors import CheckpointError, ConfigError
from ammcnet.metrics.records import ANOMALOUS, NORMAL, register_direction
from ammcnet.models import AMMCOutput, LoadedModel
from ammcnet.regions import RegionHeadConfig
from ammcnet.scoring.motion_prior import MotionPrior, MotionPriorConfig, fit_for_training_clips
from ammcnet.scoring.region_head import MODE_RECORDS, RegionHeadComponent, fit_region_head
from ammcnet.scoring.region_input import INPUT as REGION_INPUT
from ammcnet.scoring.region_input import RegionInput

#: Smallest MSE in the PSNR (caps a perfect prediction at 100 dB instead of inf).
PSNR_EPS = 1e-10
#: Format tag of the scorer's entry in the model file.
SCORER_FORMAT = "ammcnet-scorer/1"


def psnr(pred: Tensor, target: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """PSNR in dB of images in [-1, 1] after mapping to [0, 1]; (B, C, H, W) -> (B,) in ``dtype``."""
    diff = (pred.to(dtype) - target.to(dtype)) * 0.5
    mse = diff.pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(PSNR_EPS))


def mse(pred: Tensor, target: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """Mean squared error over all but the batch axis; (B, ...) -> (B,) in ``dtype``."""
    return (pred.to(dtype) - target.to(dtype)).pow(2).flatten(1).mean(1)


def squared_error_map(pred: Tensor, target: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """(B, C, H, W) pair -> (B, H, W) squared error, mean over channels."""
    return (pred.to(dtype) - target.to(dtype)).pow(2).mean(1)


def error_map(frame_pred: Tensor, target: Tensor, flow_pred: Tensor | None = None,
              flow_target: Tensor | None = None, flow_weight: float = 0.0) -> Tensor:
    """Per-pixel anomaly map (B, H, W): squared error in [0, 1] units, mean over RGB channels.

    With ``flow_weight > 0`` the motion stream's per-pixel squared flow error (mean over u, v),
    resized to the frame grid if needed, is added with that weight.
    """
    amap = squared_error_map(frame_pred, target, torch.float32) * 0.25  # [-1, 1] -> [0, 1] units
    if flow_weight and flow_pred is not None and flow_target is not None:
        fmap = squared_error_map(flow_pred, flow_target, torch.float32).unsqueeze(1)
        if fmap.shape[-2:] != amap.shape[-2:]:
            fmap = F.interpolate(fmap, size=amap.shape[-2:], mode="bilinear", align_corners=False)
        amap = amap + flow_weight * fmap[:, 0]
    return amap


#: Side of the local windows of the ``*_local`` records, as a fraction of the map's height: a
#: person's height in the footage the project measures (the object-sized analysis windows of the
#: region head were 0.14 of the height on Ped2's training videos and 0.16-0.19 on the demo's).
LOCAL_WINDOW = 1 / 6


def local_max(amap: Tensor, dtype: torch.dtype = torch.float64, fraction: float = LOCAL_WINDOW) -> Tensor:
    """(B, H, W) map -> (B,): the largest mean over square windows of side ``fraction * H``.

    Windows step by half a side; a map smaller than a window is one window.

    >>> m = torch.zeros(2, 12, 12); m[1, :2, :2] = 1.0
    >>> local_max(m).tolist()
    [0.0, 1.0]
    """
    h, w = int(amap.shape[-2]), int(amap.shape[-1])  # plain ints: the window is fixed in an exported graph
    side = max(1, min(int(round(fraction * h)), h, w))
    pooled = F.avg_pool2d(amap.to(dtype).unsqueeze(1), side, max(1, side // 2))
    return pooled.flatten(1).amax(1)


@dataclass
class RecordInputs:
    """What a record function sees.

    Attributes:
        batch: the clips (model inputs, targets and registered extras).
        out: the model's output on them.
        components: the scorer's fitted components by name.
        dtype: the precision records are computed in (float64; float32 in an exported graph).
    """

    batch: ClipBatch
    out: AMMCOutput
    components: Mapping[str, nn.Module]
    dtype: torch.dtype


@dataclass(frozen=True)
class RecordSpec:
    """A registered record.

    Attributes:
        name: the record's name in score files, calibrations and fusion weights.
        compute: ``RecordInputs -> (B,)`` tensor in ``inputs.dtype``.
        motion: needs the motion stream (skipped for appearance-only models).
        component: needs this fitted scorer component (skipped when the scorer has none).
        extras: needs these clip inputs (:func:`register_clip_input`, or a component's).
        high_is_normal: a high value means normal (its z-score is negated before fusion).
        onnx: computed inside the exported graph too.
        needs: fields of the model output it reads that a backend may not return (e.g. the
            commitment maps, absent from graphs exported before they were outputs); the record
            is skipped where one is None.
    """

    name: str
    compute: Callable[[RecordInputs], Tensor]
    motion: bool = False
    component: str | None = None
    extras: tuple[str, ...] = ()
    high_is_normal: bool = False
    onnx: bool = True
    needs: tuple[str, ...] = ()


_REGISTRY: dict[str, RecordSpec] = {}
_CLIP_INPUTS: dict[str, ClipInputFn] = {}


def register_clip_input(name: str, fn: ClipInputFn, *, replace: bool = False) -> None:
    """Compute ``fn(frames, flows, source)`` for every clip (:data:`ammcnet.data.clips.ClipInputFn`),
    in the dataset and the online builder alike; the array appears as ``batch.extras[name]``.

    Raises:
        ConfigError: the name is taken (pass ``replace=True`` to change an input on purpose).
    """
    if name in _CLIP_INPUTS and not replace:
        raise ConfigError(f"clip input {name!r} is already registered; pass replace=True to change it")
    _CLIP_INPUTS[name] = fn


def unregister_clip_input(name: str) -> None:
    """Forget a clip input (tests register toy ones)."""
    _CLIP_INPUTS.pop(name, None)


def register_record(name: str, compute: Callable[[RecordInputs], Tensor], *, motion: bool = False,
                    component: str | None = None, extras: tuple[str, ...] = (), high_is_normal: bool = False,
                    onnx: bool = True, needs: tuple[str, ...] = (), replace: bool = False) -> RecordSpec:
    """Add a record to every scoring path (test, calibrate, detect, bench, export) in one call.

    Raises:
        ConfigError: the name is taken (pass ``replace=True`` to change a record on purpose).
    """
    if name in _REGISTRY and not replace:
        raise ConfigError(f"score record {name!r} is already registered; pass replace=True to change it")
    spec = RecordSpec(name, compute, motion, component, tuple(extras), high_is_normal, onnx, tuple(needs))
    _REGISTRY[name] = spec
    register_direction(name, NORMAL if high_is_normal else ANOMALOUS)
    return spec


def unregister_record(name: str) -> None:
    """Remove a record (tests register toy ones)."""
    _REGISTRY.pop(name, None)


def registered_records() -> tuple[str, ...]:
    """Names of the registered records, in registration (= file) order."""
    return tuple(_REGISTRY)


def record_spec(name: str) -> RecordSpec | None:
    """The spec of a registered record, or None."""
    return _REGISTRY.get(name)


register_record("rgb_psnr", lambda r: psnr(r.out.frame_pred, r.batch.target, r.dtype), high_is_normal=True)
register_record("rgb_commit", lambda r: r.out.frame_commit_per_sample.to(r.dtype))
register_record("flow_error", lambda r: mse(r.out.flow_pred, r.batch.flow_target, r.dtype), motion=True)
register_record("flow_commit", lambda r: r.out.flow_commit_per_sample.to(r.dtype), motion=True)
register_record("motion_prior", lambda r: r.components["motion_prior"](r.batch.flow_target.float()).to(r.dtype),
                motion=True, component=MotionPrior.component)
register_record("rgb_error_local", lambda r: local_max(squared_error_map(r.out.frame_pred, r.batch.target, r.dtype) * 0.25, r.dtype))
register_record("rgb_commit_local", lambda r: local_max(r.out.frame_commit_map, r.dtype), needs=("frame_commit_map",))
register_record("flow_error_local", lambda r: local_max(squared_error_map(r.out.flow_pred, r.batch.flow_target, r.dtype), r.dtype),
                motion=True)
register_record("flow_commit_local", lambda r: local_max(r.out.flow_commit_map, r.dtype), motion=True,
                needs=("flow_commit_map",))


def _region_column(mode: str) -> Callable[[RecordInputs], Tensor]:
    """The record of scoring mode ``mode`` of the region component: its column of the ``region`` input."""
    return lambda r: r.batch.extras[REGION_INPUT][:, r.components[RegionHeadComponent.component].column(mode)].to(r.dtype)


for _mode, _record in MODE_RECORDS.items():  # the head's score, then each training-free baseline's
    register_record(_record, _region_column(_mode), component=RegionHeadComponent.component, extras=(REGION_INPUT,),
                    onnx=False)

#: Component classes the model file may hold, by name (each has ``to_dict`` / ``from_dict``).
COMPONENT_TYPES: dict[str, Any] = {MotionPrior.component: MotionPrior, RegionHeadComponent.component: RegionHeadComponent}
#: Clip inputs a component brings: component name -> (input name, factory taking the fitted component).
COMPONENT_INPUTS: dict[str, tuple[str, Callable[[Any], ClipInputFn]]] = {
    RegionHeadComponent.component: (REGION_INPUT, RegionInput)}


class Scorer(nn.Module):
    """Turns a :class:`~ammcnet.data.clips.ClipBatch` and the model's output into records and maps.

    Args:
        components: fitted components by name (e.g. ``{"motion_prior": MotionPrior}``).
        dtype: precision of the records (float64; float32 for an exported graph).
    """

    def __init__(self, components: Mapping[str, nn.Module] | None = None, *, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.components = nn.ModuleDict(dict(components or {}))
        self.dtype = dtype

    def specs(self, motion: bool, extras: tuple[str, ...] | None = None, onnx: bool = False) -> list[RecordSpec]:
        """The records this scorer produces for a model with (``motion``) or without a motion stream.

        ``extras`` = the clip inputs available (None: assume all registered ones are).
        """
        return [s for s in _REGISTRY.values()
                if (motion or not s.motion)
                and (s.component is None or self._provides(s))
                and (extras is None or all(e in extras for e in s.extras))
                and (s.onnx or not onnx)]

    def specs_names(self) -> set[str]:
        """Names of every record this scorer can give (for any model and clip input)."""
        return {s.name for s in self.specs(True)}

    def _provides(self, spec: RecordSpec) -> bool:
        """Whether the component a record needs is here and gives that record (a component may
        list the records it gives, e.g. only the baselines it was fitted with)."""
        if spec.component not in self.components:
            return False
        provides = getattr(self.components[spec.component], "records", None)
        return provides is None or spec.name in provides

    def clip_inputs(self) -> dict[str, ClipInputFn]:
        """Every clip input the records of this scorer may need: the registered ones and those its
        components bring. Hand them to :meth:`ammcnet.data.ClipDataset.with_inputs` or
        :class:`ammcnet.data.clips.ClipBuilder`."""
        inputs = dict(_CLIP_INPUTS)
        for name, component in self.components.items():
            if name in COMPONENT_INPUTS:
                key, factory = COMPONENT_INPUTS[name]
                inputs[key] = factory(component)
        return inputs

    def record_threshold(self, record: str, fpr: float, smooth: Callable[[Any], Any]) -> float | None:
        """The alarm threshold of ``record`` alone at false-alarm rate ``fpr`` (its scores smoothed by
        ``smooth``), from the normal scores of the component that gives it; None when none does."""
        for component in self.components.values():
            if record in (getattr(component, "records", None) or ()):
                return component.record_threshold(record, fpr, smooth)
        return None

    def record_normal_scores(self, record: str) -> list[Any] | None:
        """The held-out normal scores of ``record`` (one array per video, unsmoothed) from the
        component that gives it, when it keeps them; None otherwise (the calibrated fusion)."""
        for component in self.components.values():
            if record in (getattr(component, "records", None) or ()) and hasattr(component, "normal_scores"):
                return component.normal_scores(record)
        return None

    def keeping(self, records: Any) -> Scorer:
        """This scorer without the components none of whose records is in ``records`` (a component
        that does not list its records is kept): what a live detector runs for the records it uses."""
        kept = {k: c for k, c in self.components.items()
                if getattr(c, "records", None) is None or set(c.records) & set(records)}
        return Scorer(kept or None, dtype=self.dtype)

    def boxes(self, batch: ClipBatch) -> Tensor | None:
        """(B, 4) where in each frame its score comes from (x0, y0, x1, y1, source pixels; NaN
        where unknown), when a component locates it; None otherwise."""
        for component in self.components.values():
            locate = getattr(component, "box_of", None)
            box = locate(batch.extras) if locate is not None else None
            if box is not None:
                return box
        return None

    def records(self, batch: ClipBatch, out: AMMCOutput, names: list[str] | None = None) -> dict[str, Tensor]:
        """(B,) record tensors by name, in registration order (only ``names`` when given)."""
        inputs = RecordInputs(batch, out, self.components, self.dtype)
        specs = self.specs(out.flow_pred is not None, tuple(batch.extras))
        return {s.name: s.compute(inputs) for s in specs
                if (names is None or s.name in names) and all(getattr(out, f, None) is not None for f in s.needs)}

    def error_maps(self, batch: ClipBatch, out: AMMCOutput, flow_weight: float = 0.0) -> Tensor:
        """(B, H, W) per-pixel error maps (see :func:`error_map`)."""
        return error_map(out.frame_pred, batch.target, out.flow_pred, batch.flow_target, flow_weight)

    def score(self, model: Any, batch: ClipBatch) -> tuple[AMMCOutput, dict[str, Tensor]]:
        """Run ``model`` on the batch under inference mode; (output, records)."""
        with torch.inference_mode():
            out = model(batch.frames, batch.flows)
            return out, self.records(batch, out)

    def state(self) -> dict[str, Any] | None:
        """Plain values for the model file (None when the scorer has no fitted component)."""
        if not len(self.components):
            return None
        return {"format": SCORER_FORMAT, "components": {k: c.to_dict() for k, c in self.components.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, *, dtype: torch.dtype = torch.float64) -> Scorer:
        """Rebuild from :meth:`state` (None = the plain records, no component).

        Raises:
            ConfigError: an unknown format or component name.
        """
        if not state:
            return cls(dtype=dtype)
        if state.get("format") != SCORER_FORMAT:
            raise ConfigError(f"scorer: unknown format {state.get('format')!r} in the model file; re-run ammcnet calibrate")
        comps = {}
        for name, data in dict(state.get("components") or {}).items():
            if name not in COMPONENT_TYPES:
                raise ConfigError(f"scorer: unknown component {name!r}; known: {sorted(COMPONENT_TYPES)}")
            comps[name] = COMPONENT_TYPES[name].from_dict(data)
        return cls(comps, dtype=dtype)

    def with_dtype(self, dtype: torch.dtype) -> Scorer:
        """The same components, records in another precision (float32 for an exported graph)."""
        return Scorer(dict(self.components), dtype=dtype)


def load_scorer(loaded: LoadedModel, *, dtype: torch.dtype = torch.float64) -> Scorer:
    """The scorer stored in a model file (:class:`~ammcnet.models.LoadedModel`), on the model's device.

    Raises:
        CheckpointError: the stored components are unreadable.
    """
    try:
        scorer = Scorer.from_state(loaded.scorer_state, dtype=dtype)
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{loaded.path}: its score components are unreadable ({exc}); "
                              "re-run ammcnet calibrate RUN TRAINING_DATA") from None
    device = next(iter(loaded.model.parameters())).device
    return scorer.to(device)


def fit_scorer(model: Any, train_set: Any, prior: MotionPriorConfig | None = None,
               regions: RegionHeadConfig | None = None, *, choose_regions: bool = True,
               progress: bool | None = False, head: nn.Module | None = None) -> Scorer:
    """Fit the scorer's components on a training clip set (the held-out clips stay out).

    The motion prior (models with a motion stream) is fitted on the training clips; the region
    head (``regions``; None = none) on the source videos of the training split, its settings
    chosen there first unless ``choose_regions`` is False; a ready ``head`` (a fitted
    :class:`RegionHeadComponent`, e.g. a taught one) is kept as it is instead.
    """
    comps: dict[str, nn.Module] = {}
    fitted = fit_for_training_clips(train_set, prior, motion=getattr(model, "motion", None) is not None)
    if fitted is not None:
        comps[fitted.component] = fitted
    if head is not None:
        comps[RegionHeadComponent.component] = head
    elif regions is not None:
        comps[RegionHeadComponent.component] = fit_region_head(train_set.prepared, config=regions,
                                                              choose=choose_regions, progress=progress)
    return Scorer(comps or None)
