"""Detect and watch output folders as the event model describes them, for the review app's tests.

Each camera folder holds ``events.jsonl`` (a start line, new/update/end lines, a gap, a line of a
kind nobody knows and a half-written last line), ``frames.jsonl`` or ``scores.jsonl``, a JPEG
snapshot and a real H.264 clip (PyAV, libx264, yuv420p, 64x48, 10 frames) per event.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

#: Start time of the first event (unix seconds): 2024-12-07 11:13:20 UTC.
T0 = 1733570000.0
W, H = 64, 48


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def write_clip(path: Path, frames: int = 10, codec: str = "libx264") -> Path:
    """A real clip: H.264 in MP4 (default) or VP9 in WebM (``codec="libvpx-vp9"``), a moving square."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="webm" if codec == "libvpx-vp9" else "mp4") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            img = np.full((H, W, 3), 40, np.uint8)
            img[10:30, 4 + 4 * i:24 + 4 * i] = (230, 60, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_snapshot(path: Path) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((H, W, 3), 90, np.uint8)
    cv2.rectangle(img, (10, 8), (40, 30), (0, 0, 255), 2)
    assert cv2.imwrite(str(path), img)
    return path


def event(camera: str, event_id: str, start: float, *, zones: list[str], top: float = 4.7, end: float | None = None,
          snapshot: str | None = None, clip: str | None = None) -> dict[str, Any]:
    """An event dict of the shared event model."""
    return {
        "id": event_id, "camera": camera, "label": "anomaly", "score": 3.1, "top_score": top,
        "start_frame": 120, "end_frame": 180 if end is not None else None, "peak_frame": 150,
        "start_time": start, "end_time": end, "stream_time": 12.0, "box": [4, 5, 40, 30],
        "zones": zones, "current_zones": zones[-1:], "snapshot": snapshot, "clip": clip,
        "has_snapshot": snapshot is not None, "has_clip": clip is not None, "alarmed_frames": 31,
        "false_positive": False,
    }


def _line(kind: str, t: float, **fields: Any) -> str:
    return json.dumps({"kind": kind, "time": iso(t), **fields}) + "\n"


def camera_lines(camera: str, events: list[dict[str, Any]], *, model: str | None, threshold: float) -> list[str]:
    """The event log of one camera: start, each event's new/update/end, a gap and an unknown kind."""
    lines = [_line("start", T0 - 60, camera=camera, source=f"rtsp://cam/{camera}", threshold=threshold, model=model)]
    for ev in events:
        opened = {**ev, "end_time": None, "end_frame": None, "top_score": ev["top_score"] - 1, "clip": None,
                  "has_clip": False}
        lines.append(_line("new", ev["start_time"], camera=camera, event=opened))
        lines.append(_line("update", ev["start_time"] + 1, camera=camera, event={**opened, "top_score": ev["top_score"]}))
        if ev["end_time"] is not None:
            lines.append(_line("end", ev["end_time"], camera=camera, event=ev))
    lines.append(_line("gap", T0 + 500, camera=camera, start=iso(T0 + 499), end=iso(T0 + 500)))
    lines.append(_line("heartbeat-from-the-future", T0 + 501, camera=camera, whatever=[1, 2]))
    return lines


def write_camera(folder: Path, camera: str, starts: list[float], zones: list[list[str]], *, model: str | None = None,
                 threshold: float = 2.0, watch: bool = False, open_last: bool = False) -> list[dict[str, Any]]:
    """One detector's folder with one event per start time; returns the events (as they end)."""
    folder.mkdir(parents=True, exist_ok=True)
    events = []
    for n, (start, zs) in enumerate(zip(starts, zones, strict=True)):
        event_id = f"{start:.6f}-{hashlib.sha1(f'{camera}/{n}'.encode()).hexdigest()[:6]}"
        snap = write_snapshot(folder / "snapshots" / f"{event_id}.jpg").relative_to(folder).as_posix()
        last = open_last and n == len(starts) - 1
        clip = None if last else write_clip(folder / "clips" / f"{event_id}.mp4").relative_to(folder).as_posix()
        events.append(event(camera, event_id, start, zones=zs, end=None if last else start + 6, snapshot=snap,
                            clip=clip, top=4.0 + n))
    lines = camera_lines(camera, events, model=model, threshold=threshold)
    (folder / "events.jsonl").write_text("".join(lines) + '{"kind": "update", "time": "2024-12-07T11:2')  # half-written
    scores = [{"index": i, "time": T0 + i / 10, "score": 1.0 + (i % 20) / 5, "alarm": (i % 20) > 10} for i in range(60)]
    scores[30]["score"] = None
    rows = scores if watch else [{"index": s["index"], "timestamp": s["time"], "score": s["score"], "fused": s["score"],
                                  "alarm": s["alarm"], "valid": s["score"] is not None, "records": {}, "box": None}
                                 for s in scores]
    (folder / ("scores.jsonl" if watch else "frames.jsonl")).write_text("".join(json.dumps(r) + "\n" for r in rows))
    ended = [e for e in events if e["end_time"] is not None]
    (folder / "events.json").write_text(json.dumps({"source": f"rtsp://cam/{camera}", "camera": camera,
                                                    "threshold": threshold, "complete": False, "stop_reason": None,
                                                    "events": ended}))
    return events


def camera_status(camera: str, events: list[dict[str, Any]], folder: str, *, reconnects: int = 1) -> dict[str, Any]:
    return {"camera": camera, "state": "running", "fps": 9.5, "frames": 600, "frames_total": 1200,
            "events": len(events), "last_event": {"kind": "end", "time": iso(T0 + 10), "event": events[-1]},
            "reconnects": reconnects, "error": None, "since": iso(T0 - 60), "updated": iso(T0 + 600), "starts": 2,
            "folder": folder}


def make_detect_folder(root: Path, *, model: str | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """``ammcnet detect --out DIR``: one camera, two events (zones door / door+yard), summary.json."""
    events = write_camera(root, "street", [T0, T0 + 3600], [["door"], ["door", "yard"]], model=model)
    (root / "summary.json").write_text(json.dumps({"source": "street.mp4", "frames_read": 1200, "fps": 24.0,
                                                   "stop_reason": "end of file", "reconnects": 0,
                                                   "events": events}))
    return root, events


def make_watch_folder(root: Path, cameras: dict[str, list[float]] | None = None, *, model: str | None = None,
                      zones: dict[str, list[list[str]]] | None = None) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    """A watch folder: status.json with ``cameras``, the shared events.jsonl and one folder per camera."""
    cameras = cameras or {"front": [T0, T0 + 7200], "back": [T0 + 1800]}
    all_events, lines, rows = {}, [], {}
    for name, starts in cameras.items():
        zs = (zones or {}).get(name) or [["gate"] if i % 2 == 0 else ["road"] for i in range(len(starts))]
        all_events[name] = write_camera(root / name, name, starts, zs, model=model, watch=True)
        lines += (root / name / "events.jsonl").read_text().splitlines(keepends=True)[:-1]  # complete lines
        status = camera_status(name, all_events[name], name)
        (root / name / "status.json").write_text(json.dumps(status))
        rows[name] = status
    (root / "events.jsonl").write_text("".join(lines))
    (root / "status.json").write_text(json.dumps({"cameras": rows, "updated": iso(T0 + 600)}))
    return root, all_events
