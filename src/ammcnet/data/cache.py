"""The prepared-data cache: decoded, resized frames and normalised flows as memory-mappable ``.npy``.

One cache entry is a folder ``<cache>/<dataset>-<key>`` where ``key`` hashes the sources (paths,
file counts, sizes, times), the grid size, the flow backend with its parameters and the
normalisation rule, so changing any of them gives a new entry instead of a stale one::

    manifest.json                      written last, once every video is done
    train/<video>/frames.npy           (N, H, W, 3) uint8
    train/<video>/flows.npy            (N - 1, H, W, 2) float16, normalise_flow applied
    train/<video>/done.json            per-video marker, written after its arrays
    test/<video>/labels.npy            (N,) uint8 0/1 (when the dataset has labels)
    test/<video>/pixel_masks.npy       (N, H, W) bool, nearest-resized (when it has masks)
    region-flows/<split>/<video>/      (with ``analysis=``, whose folder it is) the region head's
                                       analysis flows (:mod:`ammcnet.data.analysis_flows`)

Every file is written atomically; a video folder without ``done.json`` is redone on the next run.
Each source frame is decoded once: resized for the model grid and, when ``analysis`` asks for
them, fed to the region head's analysis flow at its own grid on the way.

>>> import tempfile, pathlib, numpy as np, cv2
>>> r = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(3):
...     (r / "train" / "v").mkdir(parents=True, exist_ok=True)
...     _ = cv2.imwrite(str(r / "train" / "v" / f"{i}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
>>> ds = prepare_dataset(r, size=(16, 16), cache_dir=r / "cache", splits=("train",), progress=False)
>>> ds.frames("train", "v").shape, ds.flows("train", "v").shape
((3, 16, 16, 3), (2, 16, 16, 2))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ammcnet.data.analysis_flows import AnalysisFlowSpec, CachingSink, FlowTarget
from ammcnet.data.layouts import DatasetLayout, VideoRef, discover_dataset
from ammcnet.data.masks import MaskRef
from ammcnet.data.video import open_video
from ammcnet.errors import AmmcError, ConfigError, DataError
from ammcnet.flow import FlowBackend, get_flow_backend, normalisation_info, normalise_flow
from ammcnet.utils.io import atomic_path, save_npy_atomic, write_json_atomic

log = logging.getLogger("ammcnet")

#: Cache format version; part of the key.
CACHE_FORMAT = "ammcnet-cache/1"
#: Resize rule for frames (the authors': bilinear, aspect ratio not kept).
RESIZE_RULE = "cv2.INTER_LINEAR, aspect ratio not kept"
SPLITS = ("train", "test")


def default_cache_dir() -> Path:
    """``$AMMCNET_CACHE``, else ``~/.cache/ammcnet``."""
    env = os.environ.get("AMMCNET_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ammcnet"


def _source_signature(ref: VideoRef) -> dict[str, Any]:
    p = ref.path
    if p.is_dir():
        stats = [e.stat() for e in os.scandir(p) if e.is_file() and not e.name.startswith(".")]
        return {"path": str(p), "files": len(stats), "bytes": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}
    s = p.stat()
    return {"path": str(p), "bytes": s.st_size, "mtime_ns": s.st_mtime_ns}


def _label_signature(layout: DatasetLayout) -> dict[str, Any] | None:
    f = layout.label_file
    if f is None:
        return None
    s = f.stat()
    return {"path": str(f), "mtime_ns": s.st_mtime_ns, "bytes": s.st_size}


@dataclass
class _Job:
    split: str
    name: str
    source: Path
    out: Path
    size: tuple[int, int]
    flow: str | FlowBackend
    flow_kwargs: dict[str, Any]
    labels: np.ndarray | None
    mask: MaskRef | None
    threads: int
    analysis: FlowTarget | None = None


def _decode(job: _Job) -> np.ndarray:
    """The model-grid frames of ``job``'s source; with an analysis target whose cache entry is not
    there yet, the same decoded frames also give the region head's analysis flows, cached."""
    source = open_video(job.source)
    entry = job.analysis.entry(job.source) if job.analysis is not None else None
    if entry is None or entry.ready():
        return source.read_all(job.size)
    sink = CachingSink(entry)
    try:
        frames = source.read_all(job.size, sink)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    return frames


def _prepare_video(job: _Job) -> dict[str, Any]:
    """Decode, resize, compute flow and write one video's folder. Returns its manifest entry."""
    if job.threads:
        cv2.setNumThreads(job.threads)
    backend = job.flow if isinstance(job.flow, FlowBackend) else get_flow_backend(job.flow, **job.flow_kwargs)
    try:
        frames = _decode(job)
        n = len(frames)
        if job.labels is not None and len(job.labels) != n:
            raise DataError(f"labels give {len(job.labels)} frames but {job.source} has {n}; fix the label file")
        job.out.mkdir(parents=True, exist_ok=True)
        save_npy_atomic(job.out / "frames.npy", frames)
        with atomic_path(job.out / "flows.npy") as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(max(n - 1, 0), *job.size, 2))
            for j, flow in enumerate(backend.video_flows(frames, video=job.name, split=job.split)):
                mm[j] = normalise_flow(flow, job.size)
            mm.flush()
            del mm
        entry: dict[str, Any] = {"name": job.name, "source": str(job.source), "num_frames": n}
        if job.labels is not None:
            save_npy_atomic(job.out / "labels.npy", np.asarray(job.labels, np.uint8))
            entry["anomalous_frames"] = int(np.asarray(job.labels).sum())
        if job.mask is not None:
            masks = job.mask.load(job.size)
            if len(masks) != n:
                raise DataError(f"{job.mask.path} has {len(masks)} pixel masks but {job.source} has {n} frames; fix the masks")
            save_npy_atomic(job.out / "pixel_masks.npy", masks)
            entry["pixel_masks"] = True
        write_json_atomic(job.out / "done.json", entry)
        return entry
    except BaseException:
        shutil.rmtree(job.out, ignore_errors=True)  # never leave a half-written video behind
        raise


def _cache_key(layout: DatasetLayout, selected: dict[str, list[VideoRef]], size: tuple[int, int],
               flow_params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = {
        "format": CACHE_FORMAT,
        "layout": layout.kind,
        "root": str(Path(layout.root).resolve()),  # the same data by a relative or absolute path: one entry
        "size": list(size),
        "resize": RESIZE_RULE,
        "flow": flow_params,
        "normalisation": normalisation_info(),
        "sources": {s: [_source_signature(v) for v in refs] for s, refs in selected.items()},
        "labels": _label_signature(layout),
    }
    blob = json.dumps(spec, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16], spec


class PreparedDataset:
    """One cache entry (a folder with ``manifest.json``): frames, flows, labels, pixel masks.

    Arrays come back memory-mapped, so opening is cheap and many processes can share them.

    Attributes:
        root: the entry's folder.
        manifest: the parsed manifest.
        size: (H, W) of the cached grid.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        mf = self.root / "manifest.json"
        if not mf.is_file():
            raise DataError(f"{self.root} is not a prepared dataset (no manifest.json); run `ammcnet prepare` first")
        try:
            self.manifest: dict[str, Any] = json.loads(mf.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read {mf} ({exc}); delete the folder and run `ammcnet prepare` again") from None
        if self.manifest.get("format") != CACHE_FORMAT:
            raise DataError(f"{mf} has format {self.manifest.get('format')!r}, expected {CACHE_FORMAT}; prepare again")
        self.size: tuple[int, int] = tuple(self.manifest["size"])  # type: ignore[assignment]
        self._entries = {s: {e["name"]: e for e in self.manifest["splits"].get(s, [])} for s in SPLITS}

    def __repr__(self) -> str:
        return f"PreparedDataset({str(self.root)!r}, size={self.size})"

    @property
    def name(self) -> str:
        return str(self.manifest.get("dataset", self.root.name))

    def _check(self, split: str, video: str) -> Path:
        if split not in self._entries:
            raise ConfigError(f"unknown split {split!r}; choose 'train' or 'test'")
        if video not in self._entries[split]:
            raise DataError(f"video {video!r} is not in the {split} split of {self.root}")
        return self.root / split / video

    def videos(self, split: str) -> list[str]:
        if split not in self._entries:
            raise ConfigError(f"unknown split {split!r}; choose 'train' or 'test'")
        return list(self._entries[split])

    def num_frames(self, split: str) -> list[int]:
        return [int(e["num_frames"]) for e in self._entries[split].values()] if split in self._entries else []

    def frames(self, split: str, video: str) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB, memory-mapped."""
        return np.load(self._check(split, video) / "frames.npy", mmap_mode="r")

    def flows(self, split: str, video: str) -> np.ndarray:
        """(N - 1, H, W, 2) float16 normalised flow, memory-mapped; flow j = frame j -> j + 1."""
        return np.load(self._check(split, video) / "flows.npy", mmap_mode="r")

    def source(self, split: str, video: str) -> Path:
        """The video file or frame folder a cached video was prepared from (the source resolution).

        Raises:
            DataError: the source is gone (a scorer that reads source frames needs it).
        """
        self._check(split, video)
        path = Path(self._entries[split][video].get("source", ""))
        if not path.exists():
            raise DataError(f"{path} (source of {split} video {video} in {self.root}) is gone; the region head reads the "
                            "source frames: pass the dataset root again, or move it back")
        return path

    def labels(self, video: str) -> np.ndarray | None:
        """(N,) uint8 0/1 frame labels of a test video, or None when unlabelled."""
        p = self._check("test", video) / "labels.npy"
        return np.load(p) if p.is_file() else None

    def pixel_masks(self, video: str) -> np.ndarray | None:
        """(N, H, W) bool pixel masks at the cache size, or None."""
        p = self._check("test", video) / "pixel_masks.npy"
        return np.load(p, mmap_mode="r") if p.is_file() else None


def open_prepared(path: str | os.PathLike[str]) -> PreparedDataset:
    """Open a cache entry folder written by :func:`prepare_dataset`."""
    return PreparedDataset(path)


def prepare_dataset(
    root: str | os.PathLike[str],
    *,
    size: tuple[int, int] | int = (256, 256),
    flow: str | FlowBackend = "dis",
    flow_preset: str = "medium",
    flow_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    splits: Sequence[str] = SPLITS,
    skip_bad: bool = False,
    progress: bool = True,
    layout: str = "auto",
    max_videos: int | None = None,
    analysis: AnalysisFlowSpec | None = None,
) -> PreparedDataset:
    """Decode, resize and compute flow for a dataset once; later steps read only the cache.

    Args:
        root: dataset root (any layout :func:`discover_dataset` knows).
        size: (H, W) of the model grid, or one int for a square grid.
        flow: backend name (``dis``, ``farneback``, ``flo``) or a ready :class:`FlowBackend`.
        flow_preset: DIS preset (ultrafast/fast/medium); ignored by other backends.
        flow_dir: folder of precomputed ``.flo`` files for ``flow="flo"``.
        cache_dir: where entries live; default ``$AMMCNET_CACHE`` or ``~/.cache/ammcnet``.
        workers: videos processed in parallel processes.
        splits: which splits to prepare.
        skip_bad: skip a video that fails (reported at the end) instead of stopping.
        progress: show a tqdm bar with ETA on stderr (only on a terminal).
        layout: dataset layout, ``auto`` to detect.
        max_videos: keep only the first N videos of each split (quick trials).
        analysis: also compute a region head's analysis flows (grid, preset, folder) from the frames
            decoded for each video prepared now, into the entry's cache of them, so the head
            does not read the source again. It does not change the entry's key; videos already
            prepared are left as they are (the head then computes their flows itself).

    Returns:
        The :class:`PreparedDataset`. A complete entry with the same key is reused as is.

    Raises:
        DataError: unreadable input (unless ``skip_bad``) or mismatched labels.
    """
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)  # type: ignore[assignment]
    if len(size) != 2 or min(size) < 16:
        raise ConfigError(f"size must be (H, W) with both >= 16 (DIS flow needs 12 px), got {size}")
    for s in splits:
        if s not in SPLITS:
            raise ConfigError(f"unknown split {s!r}; choose from {', '.join(SPLITS)}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if isinstance(flow, FlowBackend):
        if workers > 1:
            raise ConfigError("a FlowBackend object runs in one process; pass workers=1 or a backend name")
        backend, flow_kwargs = flow, {}
    else:
        flow_kwargs = {"preset": flow_preset} if flow == "dis" else ({"flow_dir": flow_dir} if flow == "flo" else {})
        backend = get_flow_backend(flow, **flow_kwargs)
    lay = discover_dataset(root, layout)
    selected = {s: lay.split(s)[:max_videos] for s in splits}
    key, spec = _cache_key(lay, selected, size, backend.params())
    entry = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    entry = entry.resolve() / f"{lay.name}-{key}"
    mf = entry / "manifest.json"
    if _complete(mf, key):
        return PreparedDataset(entry)
    # two processes preparing the same entry (two `ammcnet test` runs on one dataset) would each
    # take the other's half-written video for an interrupted one and delete it: one at a time
    with _entry_lock(entry):
        if _complete(mf, key):  # the other process finished it while this one waited
            return PreparedDataset(entry)
        return _prepare_entry(lay, selected, key, spec, entry, size, flow, flow_kwargs, backend, splits,
                              workers=workers, skip_bad=skip_bad, progress=progress, analysis=analysis)


def _complete(mf: Path, key: str) -> bool:
    """Whether ``mf`` is the manifest of a finished, intact entry with this key.

    A damaged manifest is removed. A video whose arrays are missing or truncated (a disk that
    lost them, a copy that was cut short) loses its ``done.json`` and the manifest, with a
    one-line warning, so that the caller prepares that video again: the entry heals.
    """
    if not mf.is_file():
        return False
    try:
        manifest = json.loads(mf.read_text())
    except (OSError, json.JSONDecodeError):
        mf.unlink(missing_ok=True)
        return False
    if manifest.get("key") != key:
        return False
    damaged = [(s, e) for s, es in manifest.get("splits", {}).items() for e in es
               if not _video_intact(mf.parent / s / e["name"], int(e["num_frames"]))]
    for s, e in damaged:
        log.warning("%s: cached arrays of %s/%s are missing or damaged; preparing that video again",
                    mf.parent, s, e["name"])
        (mf.parent / s / e["name"] / "done.json").unlink(missing_ok=True)
    if damaged:
        mf.unlink(missing_ok=True)
    return not damaged


def _video_intact(folder: Path, num_frames: int) -> bool:
    """Whether a cached video's frames and flows open with the lengths its record says (headers only)."""
    try:
        frames = np.load(folder / "frames.npy", mmap_mode="r")
        flows = np.load(folder / "flows.npy", mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return False
    return len(frames) == num_frames and len(flows) == max(num_frames - 1, 0)


@contextlib.contextmanager
def _entry_lock(entry: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<entry>.lock`` (POSIX ``flock``; a no-op where there is none)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent preparation is then the user's to avoid
        yield
        return
    with open(entry.parent / f"{entry.name}.lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process that is preparing %s ...", entry)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _prepare_entry(lay: DatasetLayout, selected: dict[str, list[VideoRef]], key: str, spec: dict[str, Any], entry: Path,
                   size: tuple[int, int], flow: str | FlowBackend, flow_kwargs: dict[str, Any], backend: FlowBackend,
                   splits: Sequence[str], *, workers: int, skip_bad: bool, progress: bool,
                   analysis: AnalysisFlowSpec | None = None) -> PreparedDataset:
    """Decode, resize and compute flows for every video not yet done, then write the manifest."""
    mf = entry / "manifest.json"

    labels: list[np.ndarray | None] = [None] * len(lay.test)
    if "test" in splits and lay.has_labels:
        labels = list(lay.test_labels or labels)
    masks = lay.pixel_mask_refs or [None] * len(lay.test)

    jobs: list[_Job] = []
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    threads = 1 if workers > 1 else 0
    for s in splits:
        for i, v in enumerate(selected[s]):
            out = entry / s / v.name
            marker = out / "done.json"
            if marker.is_file():
                try:
                    done = json.loads(marker.read_text())
                    if _video_intact(out, int(done["num_frames"])):
                        entries[(s, v.name)] = done
                        continue
                except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
                    pass
            if out.exists():
                shutil.rmtree(out)  # an interrupted video: redo it from scratch
            jobs.append(_Job(s, v.name, v.path, out, size, flow, flow_kwargs,
                             labels[i] if s == "test" else None, masks[i] if s == "test" else None, threads,
                             None if analysis is None else analysis.target(entry, s, v.name)))

    skipped = _run_jobs(jobs, entries, workers=workers, skip_bad=skip_bad, progress=progress)
    manifest = {
        **spec,
        "key": key,
        "dataset": lay.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "splits": {s: [entries[(s, v.name)] for v in selected[s] if (s, v.name) in entries] for s in splits},
        "skipped": skipped,
    }
    write_json_atomic(mf, manifest)
    return PreparedDataset(entry)


def _run_jobs(jobs: list[_Job], entries: dict, *, workers: int, skip_bad: bool, progress: bool) -> list[dict[str, str]]:
    from tqdm.auto import tqdm

    skipped: list[dict[str, str]] = []
    bar = tqdm(total=len(jobs), unit="video", desc="prepare", disable=None if progress else True)

    def record(job: _Job, result: dict[str, Any] | None, exc: BaseException | None) -> None:
        if exc is None:
            entries[(job.split, job.name)] = result
        elif isinstance(exc, AmmcError) and skip_bad:
            skipped.append({"split": job.split, "name": job.name, "error": str(exc)})
        else:
            raise exc
        bar.update(1)

    try:
        if workers == 1:
            for job in jobs:
                try:
                    res = _prepare_video(job)
                except AmmcError as exc:
                    record(job, None, exc)
                else:
                    record(job, res, None)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_prepare_video, j): j for j in jobs}
                try:
                    for fut in as_completed(futures):
                        exc = fut.exception()
                        record(futures[fut], None if exc else fut.result(), exc)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()
    return skipped
