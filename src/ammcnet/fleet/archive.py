"""Scoring archives on a Ray cluster: each video one task on actors that load the model once.

* ``detect_many_ray`` (``ammcnet detect A B C --ray``): each source is detected by an actor into
  a private folder ``OUT/.partial/<name>.<pid>.<id>/`` and published by one rename to
  ``OUT/<name>/``, so a video folder is either complete or absent. ``OUT/detections.json`` (written
  atomically by the driver once every video is done) lists every source exactly once.
* ``score_prepared_ray`` (``ammcnet test --ray``): each test video is scored by an actor holding
  the model (sent once through the object store); the records are merged in the dataset's order
  and equal a single process's (every record is per clip: eval BatchNorm, frozen memory).

Faults: an actor whose process dies is restarted by Ray and the video it was on is run again
(``max_restarts`` / ``max_task_retries``); the killed attempt's private folder is never published
and is removed at the end. An error of the video itself (unreadable file) is not retried: it is
reported in the index.

Data and model paths must be visible under the same path on every node of a multi-machine cluster
(a shared filesystem), as for any batch job.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ammcnet.data.cache import PreparedDataset
from ammcnet.detect.detector import Detector
from ammcnet.detect.many import INDEX_FILE, output_names
from ammcnet.detect.run import DetectionSummary, DetectOptions, run_detection
from ammcnet.errors import AmmcError, ConfigError
from ammcnet.fleet.cluster import LOCAL, cluster_cpus, connect
from ammcnet.scoring.inference import ScoreResult, score_prepared
from ammcnet.scoring.sharded import PreparedSubset
from ammcnet.utils.io import write_json_atomic

#: Where unfinished video folders live until they are published (removed when the job ends).
PARTIAL_DIR = ".partial"
#: Times Ray restarts a dead actor, and re-runs the call it was serving, before giving up.
MAX_RESTARTS = 3


def publish(partial: Path, final: Path) -> None:
    """Move a finished folder into place by renames only: ``final`` is never half-written.

    A folder already at ``final`` (an earlier run of the same job) is replaced as a whole.
    """
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.replaced.{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(partial, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class DetectWorker:
    """A Ray actor (or a plain object) holding one loaded :class:`Detector` for many videos.

    Args:
        run: run folder or model file.
        options: how every source is detected; the detector's own settings
            (:meth:`~ammcnet.detect.run.DetectOptions.detector_options`, ``backend``, ``onnx``) build
            it once.
        threads: torch CPU threads of this worker (0: torch's default).
    """

    def __init__(self, run: str, options: DetectOptions, threads: int = 1) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.detector = Detector.from_run(run, options.detector_options(), backend=options.backend, onnx=options.onnx)
        self.options = replace(options, progress=False, threads=0)

    def pid(self) -> int:
        """This worker's process id (what a fault test kills)."""
        return os.getpid()

    def detect(self, source: Any, final: str) -> tuple[DetectionSummary, int]:
        """Detect ``source`` into a private folder, then publish it as ``final``.

        Returns:
            The summary and this worker's process id.
        """
        final_path = Path(final)
        partial = final_path.parent / PARTIAL_DIR / f"{final_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self.detector.reset()
        summary = run_detection(source, self.detector, self.options, out=partial)
        publish(partial, final_path)
        return summary, os.getpid()


class ScoreWorker:
    """A Ray actor (or a plain object) holding one model that scores prepared test videos.

    Args:
        model: the ``AMMCNet`` (sent once; moved to CPU and eval mode).
        threads: torch CPU threads of this worker (0: torch's default).
    """

    def __init__(self, model: Any, threads: int = 1) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model = model.eval()

    def pid(self) -> int:
        """This worker's process id."""
        return os.getpid()

    def score(self, root: str, split: str, name: str, kwargs: dict[str, Any]) -> ScoreResult:
        """Records of the one video ``name`` of ``split``."""
        return score_prepared(self.model, PreparedSubset(root, split, [name]), split, **{**kwargs, "progress": False})


@dataclass
class _Outcome:
    value: Any = None
    error: str | None = None


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]


def _run_on_actors(ray: Any, actors: list[Any], jobs: Sequence[tuple], call: Callable, progress: Callable | None) -> list[_Outcome]:
    """Run ``call(actor, *job)`` for every job, one job at a time per actor, biggest first as given.

    An application error is kept for its job; an actor that stays dead after its restarts is
    dropped (its job is reported failed) and the others go on.
    """
    outcomes = [_Outcome() for _ in jobs]
    pending = list(range(len(jobs)))[::-1]
    idle, running = list(actors), {}
    while pending or running:
        while idle and pending:
            actor, i = idle.pop(), pending.pop()
            running[call(actor, *jobs[i])] = (i, actor)
        done, _ = ray.wait(list(running), num_returns=1)
        i, actor = running.pop(done[0])
        try:
            outcomes[i].value = ray.get(done[0])
            idle.append(actor)
        except ray.exceptions.RayActorError as exc:  # died beyond its restarts: leave it out
            outcomes[i].error = f"worker lost: {_one_line(exc)}"
            if not idle and not running and pending:
                raise AmmcError(f"every Ray worker died; last: {_one_line(exc)}") from None
        except ray.exceptions.RayTaskError as exc:
            outcomes[i].error = _one_line(exc)
            idle.append(actor)
        if progress is not None:
            progress(i, outcomes[i])
    return outcomes


def _bar(total: int, desc: str, progress: bool | None) -> Any:
    """Videos done out of ``total`` on stderr (default: only on a terminal)."""
    return tqdm(total=total, unit="video", desc=desc, file=sys.stderr,
                disable=(not sys.stderr.isatty()) if progress is None else not progress)


def _actors(ray: Any, cls: type, n: int, *args: Any) -> list[Any]:
    remote = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(cls)
    return [remote.remote(*args) for _ in range(n)]


def _n_workers(ray: Any, workers: int | None, jobs: int) -> int:
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    return max(1, min(workers or cluster_cpus(ray), jobs))


def detect_many_ray(
    sources: Sequence[Any],
    run: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: DetectOptions = DetectOptions(),  # noqa: B008 - frozen, never mutated
    *,
    address: str | None = LOCAL,
    workers: int | None = None,
) -> list[DetectionSummary | None]:
    """:func:`~ammcnet.detect.many.detect_many` on a Ray cluster: every source a task.

    Args:
        sources: video files, frame folders, stream URLs (or picklable capture objects).
        run: run folder or model file (the same path on every node).
        out: output folder; each source gets ``OUT/<name>/`` (published whole) and
            ``OUT/detections.json`` lists them all once.
        options: how every source is detected (:class:`~ammcnet.detect.run.DetectOptions`);
            ``options.threads`` is the torch threads inside each actor (default 0: 1) and
            ``options.progress`` a bar of videos done (default: only on a terminal).
        address: ``""``/None start a local Ray instance, ``"auto"`` or an address joins a cluster.
        workers: actors (default: one per CPU of the cluster, at most one per source).

    Returns:
        One summary per source in the order given (None where that source failed; the error is
        in the index). Raises :class:`AmmcError` when every source failed.
    """
    if not sources:
        raise ConfigError("no source given")
    ray = connect(address, purpose="ammcnet detect --ray")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names([str(s) for s in sources])
    jobs = [(s, str(out / n)) for s, n in zip(sources, names, strict=True)]
    actors = _actors(ray, DetectWorker, _n_workers(ray, workers, len(jobs)), str(run), options, options.threads or 1)
    with _bar(len(jobs), "detect (ray)", options.progress) as bar:
        outcomes = _run_on_actors(ray, actors, jobs, lambda a, s, f: a.detect.remote(s, f), lambda *_: bar.update(1))
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)  # attempts of killed workers, never published
    results = [o.value[0] if o.value is not None else None for o in outcomes]
    index = []
    for (src, folder), o in zip(jobs, outcomes, strict=True):
        row: dict[str, Any] = {"source": str(src), "folder": folder, "error": o.error}
        if o.value is not None:
            s, pid = o.value
            row.update(frames_scored=s.frames_scored, alarmed_frames=s.alarmed_frames, events=len(s.events),
                       stop_reason=s.stop_reason, worker_pid=pid)
        index.append(row)
    write_json_atomic(out / INDEX_FILE, {"model": str(run), "engine": "ray", "workers": len(actors), "sources": index})
    if all(o.error is not None for o in outcomes):
        raise AmmcError(f"detection failed on every source; first: {outcomes[0].error}")
    return results


def score_prepared_ray(
    model: Any,
    prepared: PreparedDataset,
    split: str = "test",
    *,
    address: str | None = LOCAL,
    workers: int | None = None,
    threads_per_worker: int = 1,
    progress: bool | None = None,
    **kwargs: Any,
) -> ScoreResult:
    """:func:`~ammcnet.scoring.inference.score_prepared` with every video a task on Ray actors.

    Args:
        model: an ``AMMCNet``; put in the object store once and loaded by each actor once.
        prepared: the prepared dataset (its folder visible under the same path on every node).
        split: the split to score.
        address: ``""``/None start a local Ray instance, ``"auto"`` or an address joins a cluster.
        workers: actors (default: one per CPU of the cluster, at most one per video).
        threads_per_worker: torch threads inside each actor.
        progress: a bar of videos done (default: only on a terminal).
        **kwargs: ``score_prepared`` options (``batch_size``, ``error_maps``, ...; CPU only).

    Returns:
        The :class:`ScoreResult` a single process gives, videos in the dataset's order.
    """
    ray = connect(address, purpose="ammcnet test --ray")
    names = list(prepared.videos(split))
    counts = list(prepared.num_frames(split))
    if not names:
        raise ConfigError(f"{prepared.root}: no {split} videos to score")
    order = sorted(range(len(names)), key=lambda i: (-int(counts[i]), i))  # longest first
    jobs = [(str(Path(prepared.root)), split, names[i], kwargs) for i in order]
    model_ref = ray.put(model.cpu().eval())
    actors = _actors(ray, ScoreWorker, _n_workers(ray, workers, len(jobs)), model_ref, threads_per_worker)
    with _bar(len(jobs), "score (ray)", progress) as bar:
        outcomes = _run_on_actors(ray, actors, jobs, lambda a, *job: a.score.remote(*job), lambda *_: bar.update(1))
    failed = [(names[i], o.error) for i, o in zip(order, outcomes, strict=True) if o.error is not None]
    if failed:
        raise AmmcError(f"scoring {failed[0][0]} failed on Ray: {failed[0][1]}")
    by_name = {names[i]: o.value for i, o in zip(order, outcomes, strict=True)}
    first = by_name[names[0]]
    records = {k: [by_name[n].records[k][0] for n in names] for k in first.records}
    maps = [by_name[n].maps[0] for n in names] if first.maps is not None else None
    return ScoreResult(records, np.asarray(counts, np.int64), names, first.frames_in, maps)
