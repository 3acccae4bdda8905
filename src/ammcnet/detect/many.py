"""Detection over many videos at once, optionally spread over worker processes.

Each source is an independent :func:`~ammcnet.detect.run_detection` into its own folder
``OUT/<name>/``; with ``workers > 1`` the sources are balanced over processes (largest first, by
frame count where it is known) that each load the model once. Every score equals what one
process computes for that source alone (a test checks it), and ``OUT/detections.json`` lists what
each source gave, written once every source has finished or failed.

Why processes and not threads: the model, OpenCV's flow and decoding each hold a core, and on a
small CPU one process per core with one torch thread each beats one process with many threads
(BENCHMARKS.md, Speed).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from dataclasses import replace
from pathlib import Path

import cv2
import torch

from ammcnet.detect.run import DetectionSummary, DetectOptions, run_detection
from ammcnet.errors import AmmcError, ConfigError
from ammcnet.utils.io import write_json_atomic
from ammcnet.utils.paths import safe_name
from ammcnet.utils.redact import mask_url

#: Index file written in the output folder.
INDEX_FILE = "detections.json"


def output_names(sources: list[str]) -> list[str]:
    """One folder name per source: the file or folder name, made unique with ``-2``, ``-3``..."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for src in sources:
        base = safe_name(Path(mask_url(src).rstrip("/")).stem, default="source")  # never "..", never a path
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def _frames_hint(source: str) -> int:
    """Frames in a file or folder (for balancing), 0 when unknown."""
    p = Path(source)
    if p.is_dir():
        return sum(1 for _ in p.iterdir())
    try:
        cap = cv2.VideoCapture(str(p))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        return max(n, 0)
    except Exception:  # an unreadable file fails properly inside its own detection
        return 0


def _detect_one(source: str, run: str, out: str, threads: int, options: DetectOptions) -> DetectionSummary:
    if threads:
        torch.set_num_threads(threads)
    return run_detection(source, run, options, out=out)


def detect_many(
    sources: list[str],
    run: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: DetectOptions = DetectOptions(),  # noqa: B008 - frozen, never mutated
    *,
    workers: int = 1,
) -> list[DetectionSummary | None]:
    """Run detection on every source into ``OUT/<name>/``.

    Args:
        sources: video files or frame folders (streams and cameras work too, one per worker).
        run: run folder or model file.
        out: output folder; each source gets a sub-folder (:func:`output_names`).
        options: how every source is detected (:class:`~ammcnet.detect.run.DetectOptions`);
            ``options.threads`` is the torch threads per process (default: CPU count // workers, >= 1).
        workers: processes (1 = one after the other, in this process).

    Returns:
        One summary per source, in the order given (None for a source whose detection failed;
        its error is in ``OUT/detections.json`` and re-raised after all others finished when
        every source failed).
    """
    if not sources:
        raise ConfigError("no source given")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    out = Path(out)
    names = output_names([str(s) for s in sources])
    jobs = [(str(s), str(run), str(out / n)) for s, n in zip(sources, names, strict=True)]
    results: list[DetectionSummary | None] = [None] * len(jobs)
    errors: dict[int, str] = {}
    n_proc = min(workers, len(jobs))
    if n_proc <= 1:
        for i, (src, r, o) in enumerate(jobs):
            try:
                results[i] = run_detection(src, r, options, out=o)
            except AmmcError as exc:
                errors[i] = str(exc)
    else:
        threads = options.threads or max(1, (os.cpu_count() or 1) // n_proc)
        order = sorted(range(len(jobs)), key=lambda i: -_frames_hint(jobs[i][0]))
        quiet = replace(options, progress=False)
        with cf.ProcessPoolExecutor(n_proc, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_detect_one, *jobs[i], threads, quiet): i for i in order}
            for fut in cf.as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except AmmcError as exc:
                    errors[i] = str(exc)
    index = [{"source": src, "folder": o, "error": errors.get(i),
              **({} if results[i] is None else {
                  "frames_scored": results[i].frames_scored, "alarmed_frames": results[i].alarmed_frames,
                  "events": len(results[i].events), "stop_reason": results[i].stop_reason})}
             for i, (src, _, o) in enumerate(jobs)]
    write_json_atomic(out / INDEX_FILE, {"model": str(run), "workers": n_proc, "sources": index})
    if len(errors) == len(jobs):
        raise AmmcError(f"detection failed on every source; first: {errors[min(errors)]}")
    return results
