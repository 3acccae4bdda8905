"""``ammcnet detect``: live anomaly detection on a video file, frame folder, stream or camera.

Example::

    ammcnet detect street.mp4 --model runs/ped2 --out alarms/ --video alarms/street.mp4
    ammcnet detect rtsp://cam.local/stream --model runs/ped2 --threshold auto --fpr 0.001 --out live/

The flags become the :class:`~ammcnet.api.DetectOptions` (:func:`options`) that
:func:`ammcnet.api.detect` takes for one source and :func:`ammcnet.api.detect_many` for several
(or with ``--ray``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ammcnet.commands.common import add_device, renamed, resolve_device
from ammcnet.errors import ConfigError

if TYPE_CHECKING:
    from ammcnet.api import AlarmOptions, DetectOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detect",
        help="score a video, frame folder, RTSP/HTTP stream or camera online and raise alarms",
        description="Score every frame of SOURCE as it arrives (after F warm-up frames) with a trained model, "
                    "normalised by the calibration stored at training; write per-frame JSON Lines, alarm events "
                    "and optionally an annotated MP4.",
    )
    p.add_argument("source", nargs="+",
                   help="video file, frame folder, rtsp:// or http:// URL, or camera index (0, 1, ...); several "
                        "sources are each detected into OUT/<name>/")
    p.add_argument("--model", required=True, metavar="RUN", help="run folder (RUN/model.pt) or model file")
    p.add_argument("--threshold", default="auto",
                   help="alarm threshold on the score: 'auto' (calibrated for --fpr, default) or a number")
    p.add_argument("--fpr", type=float, default=0.01,
                   help="target false-alarm rate per normal frame for --threshold auto (default 0.01)")
    p.add_argument("--out", default=None, metavar="DIR", help="write frames.jsonl, events.json, summary.json here")
    p.add_argument("--video", default=None, metavar="OUT.mp4", help="write an annotated MP4 (heatmap, score strip, banner)")
    add_device(p, "with --ray, auto is cpu: Ray actors are given no GPU")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="frames per model call (default 8 for files and folders, 1 for live sources)")
    renamed(p, "--batch", "--batch-size")
    p.add_argument("--min-gap", type=int, default=None,
                   help="quiet frames allowed inside one event, so a flicker stays one event (default: one second)")
    p.add_argument("--min-frames", type=int, default=1, help="alarmed frames an event needs (default 1)")
    p.add_argument("--max-failures", type=int, default=30,
                   help="consecutive failed reads that end a live source (default 30)")
    p.add_argument("--read-timeout", type=float, default=10.0,
                   help="seconds without a frame before a source counts as stalled (default 10)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default: torch's choice; 1 is often fastest for small models on a busy CPU)")
    p.add_argument("--backend", default="eager", choices=("eager", "torch", "onnx"),
                   help="eager = the model as trained; torch = BatchNorm folded into the convs; "
                        "onnx = ONNX Runtime on the graph of --onnx (default eager)")
    p.add_argument("--onnx", default=None, metavar="FILE", help="graph written by `ammcnet export` (with --backend onnx)")
    p.add_argument("--workers", type=int, default=1,
                   help="with several sources: processes that share them out (default 1); every score equals a "
                        "single process's")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run every source as a task on a Ray cluster (needs the ray extra): no ADDRESS starts a "
                        "local instance, 'auto' joins this machine's cluster; --workers then counts actors "
                        "(default: one per CPU of the cluster)")
    p.add_argument("--reconnect", dest="reconnect", action="store_true", default=None,
                   help="reopen a dropped or stalled source with exponential backoff (default for URLs and cameras)")
    p.add_argument("--no-reconnect", dest="reconnect", action="store_false",
                   help="end at the first drop of a URL or camera")
    p.add_argument("--reconnect-attempts", type=int, default=10,
                   help="failed reopen attempts in a row before a source is given up (default 10; waits 0.5 s, "
                        "doubling up to 30 s)")
    p.add_argument("--video-segment", type=float, default=None, metavar="SECONDS",
                   help="write --video in closed segments of this length (NAME-00000.mp4, ...), so an abrupt stop "
                        "loses at most one (default 60 for URLs and cameras, one file for video files; 0 = one file)")
    p.add_argument("--max-invalid", type=int, default=25,
                   help="frames in a row whose model output is NaN/inf that stop the run (default 25)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _alarm_flags(p)
    p.set_defaults(func=run)


def _alarm_flags(p: argparse.ArgumentParser) -> None:
    """Where alarms go and what they carry (the :class:`~ammcnet.alarms.pipeline.AlarmOptions`)."""
    g = p.add_argument_group("alarms", "events, their media and where they are pushed (docs/alarms.md)")
    g.add_argument("--alarms-per-hour", type=float, default=None, metavar="N",
                   help="set the threshold so held-out normal footage opens at most N events an hour (instead of --fpr)")
    g.add_argument("--camera", default=None, help="the name events carry (default: the source's name)")
    g.add_argument("--webhook", default=None, metavar="URL",
                   help="POST every event message (new, update, end) here as JSON; bearer token from "
                        "$AMMCNET_WEBHOOK_TOKEN; undelivered messages wait in OUT/spool/webhook")
    g.add_argument("--webhook-token-env", default=None, metavar="VAR",
                   help="environment variable holding the webhook's bearer token (default AMMCNET_WEBHOOK_TOKEN)")
    g.add_argument("--mqtt", default=None, metavar="HOST[:PORT]",
                   help="publish events on ammcnet/<camera>/events (QoS 1) and availability on ammcnet/available")
    g.add_argument("--mqtt-user", default=None, help="broker user; the password is read from $AMMCNET_MQTT_PASSWORD")
    g.add_argument("--mqtt-prefix", default="ammcnet", help="first level of the MQTT topics (default ammcnet)")
    g.add_argument("--zones", default=None, metavar="FILE.yaml",
                   help="masks, zones and required_zones (polygons in pixels or fractions; docs/alarms.md)")
    g.add_argument("--show-zones", action="store_true", help="draw the masks and zones on --video")
    g.add_argument("--no-snapshots", dest="snapshots", action="store_false",
                   help="no JPEG of each event's peak (default: OUT/snapshots/<id>.jpg)")
    g.add_argument("--no-clips", dest="clips", action="store_false",
                   help="no H.264 clip of each event (default: OUT/clips/<id>.mp4)")
    g.add_argument("--pre-capture", type=float, default=3.0, metavar="SECONDS", help="clip seconds before an event (default 3)")
    g.add_argument("--post-capture", type=float, default=5.0, metavar="SECONDS", help="clip seconds after it ends (default 5)")
    g.add_argument("--update-every", type=float, default=5.0, metavar="SECONDS",
                   help="least seconds between two update messages of one event (default 5)")
    g.add_argument("--keep-mb", type=float, default=None, help="keep at most this many MB of snapshots and clips")
    g.add_argument("--keep-days", type=float, default=None, help="delete snapshots and clips older than this")


def alarm_options(args: argparse.Namespace) -> AlarmOptions:
    """The alarm flags as the :class:`~ammcnet.api.AlarmOptions` of :class:`~ammcnet.api.DetectOptions`."""
    from ammcnet.api import AlarmOptions, SinkOptions, load_zones

    return AlarmOptions(camera=args.camera, update_every_s=args.update_every,
                        zones=load_zones(args.zones) if args.zones else None, snapshots=args.snapshots,
                        clips=args.clips, pre_s=args.pre_capture, post_s=args.post_capture,
                        sinks=SinkOptions(webhook=args.webhook, webhook_token_env=args.webhook_token_env,
                                          mqtt=args.mqtt, mqtt_user=args.mqtt_user, mqtt_prefix=args.mqtt_prefix),
                        keep_mb=args.keep_mb, keep_days=args.keep_days)


def options(args: argparse.Namespace) -> DetectOptions:
    """The flags as the :class:`~ammcnet.api.DetectOptions` that :func:`ammcnet.api.detect` and
    :func:`ammcnet.api.detect_many` take (``--device auto`` resolved here; with ``--ray`` it is the CPU)."""
    from ammcnet.api import DetectOptions, ReconnectPolicy

    reconnect: bool | ReconnectPolicy = False
    if args.reconnect is not False:  # URLs and cameras only: files and folders are never reopened
        if args.reconnect_attempts < 1:
            raise ConfigError(f"--reconnect-attempts {args.reconnect_attempts}: give 1 or more")
        reconnect = ReconnectPolicy(max_attempts=args.reconnect_attempts, stall_s=args.read_timeout)
    return DetectOptions(
        threshold=_threshold(args.threshold),
        fpr=args.fpr,
        device=resolve_device(args.device, remote=args.ray is not None),
        batch_size=args.batch_size,
        min_gap=args.min_gap,
        min_frames=args.min_frames,
        max_failures=args.max_failures,
        read_timeout=args.read_timeout,
        max_frames=args.max_frames,
        progress=False if args.no_progress else None,
        backend=args.backend,
        onnx=args.onnx,
        reconnect=reconnect,
        max_invalid=args.max_invalid,
        video_segment_s=args.video_segment,
        threads=args.threads,
        alarms=alarm_options(args),
        alarms_per_hour=args.alarms_per_hour,
        show_zones=args.show_zones,
    )


def _threshold(text: str) -> str | float:
    """``--threshold``: ``auto`` or a number (anything else is refused when the detector is built)."""
    try:
        return float(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    opts = options(args)
    if len(args.source) > 1 or args.ray is not None:
        many, need = ("--ray", "needs") if args.ray is not None else ("several sources", "need")
        if args.out is None:
            raise ConfigError(f"{many} {need} --out DIR (each source is written to DIR/<name>/)")
        if args.video is not None:
            raise ConfigError(f"--video names one file: with {many}, run detect once per source for annotated videos")
        summaries = api.detect_many(args.source, args.model, args.out, opts, workers=args.workers, ray=args.ray)
        for src, summary in zip(args.source, summaries, strict=True):
            print(summary.report() if summary is not None else f"{src}: failed (see {args.out}/{api.DETECT_INDEX_FILE})")
        print(f"index: {args.out}/{api.DETECT_INDEX_FILE}")
        return 0
    if args.workers > 1:
        print("ammcnet detect: --workers shares several sources out; with one source it changes nothing", file=sys.stderr)
    if args.out is None and args.video is None:
        print("ammcnet detect: no --out or --video given; only the summary is printed", file=sys.stderr)
    summary = api.detect(args.source[0], args.model, opts, out=args.out, video=args.video)
    print(summary.report())
    return 0
