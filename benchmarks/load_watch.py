"""Load held, nothing lost: ``ammcnet watch`` with cameras, a webhook and MQTT for an hour.

``watch`` runs N looped-clip cameras (``tree.avi``: a hand enters every 6.8 s, so every loop
raises an event) at their own frame rate, each with a head-only model (``ammcnet fit`` on the
clip's first 46 frames), snapshots, H.264 clips, a webhook to a local HTTP receiver and MQTT to a
real mosquitto broker. The receiver is stopped for ``--outage`` seconds in the middle. Reported:

* events raised (the cameras' ``events.jsonl``) against messages received on each sink;
* the latency from the event's first alarmed frame to the webhook, p50 and p99 (``new`` messages,
  outside the outage);
* each camera's frames read against the frames its pace asks for (how far it fell behind);
* the resident memory of the camera processes, sampled every 30 s, and its slope after warm-up.

Usage (the committed result)::

    python benchmarks/load_watch.py --cameras 4 --fps 10 --minutes 60 --json benchmarks/results/load-watch-60min.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import psutil
import yaml
from provenance import provenance, save_result  # the sibling module

SHARED = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CLIP = SHARED / "data" / "real" / "tree.avi"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
RSS_EVERY_S, WARMUP_S = 30.0, 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook receiver that records (arrival time, message) and can go down and come back."""

    def __init__(self) -> None:
        self.port, self.got, self.server = free_port(), [], None
        self.lock = threading.Lock()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with receiver.lock:
                    receiver.got.append((time.time(), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MqttCounter:
    """A persistent QoS 1 subscriber to ``ammcnet/+/events``."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.got, self.lock = [], threading.Lock()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="load-counter",
                                  clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("ammcnet/+/events", qos=1)
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on(self, client, userdata, msg) -> None:
        with self.lock:
            self.got.append((time.time(), json.loads(msg.payload)))


def ammcnet(*args: str) -> list[str]:
    cmd = [sys.executable, "-m", "ammcnet", *args]
    subprocess.run(cmd, check=True, capture_output=True)
    return ["ammcnet", *args]


def setup(work: Path, cameras: int, fps: float, receiver: Receiver, broker: int) -> tuple[Path, list[str]]:
    model = work / "tree-head.pt"
    commands = [ammcnet("fit", str(CLIP), "--end", "46", "--out", str(model), "--overwrite")]
    cams = [{"name": f"cam{i}", "source": str(CLIP), "model": str(model), "loop": True, "fps": fps,
             "webhook": f"http://127.0.0.1:{receiver.port}/hook", "mqtt": f"127.0.0.1:{broker}",
             "keep_mb": 200} for i in range(cameras)]
    config = work / "cameras.yaml"
    config.write_text(yaml.safe_dump({"out": str(work / "watch"), "status_every_s": 2, "cameras": cams}))
    return config, commands


def rss_of(proc: psutil.Process) -> float:
    """MB resident of the watch process and its camera processes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6


def run(work: Path, args: argparse.Namespace) -> dict:
    broker_port = free_port()
    (work / "mosquitto.conf").write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(work / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    receiver, counter = Receiver(), MqttCounter(broker_port)
    receiver.start()
    config, commands = setup(work, args.cameras, args.fps, receiver, broker_port)
    seconds = args.minutes * 60.0
    cmd = [sys.executable, "-m", "ammcnet", "watch", str(config), "--seconds", str(seconds), "--no-status"]
    commands.append(" ".join(["ammcnet", *cmd[3:]]))
    t0 = time.time()
    watch = subprocess.Popen(cmd)
    proc, rss, outage = psutil.Process(watch.pid), [], (seconds / 2 - args.outage / 2, seconds / 2 + args.outage / 2)
    down = False
    while watch.poll() is None:
        now = time.time() - t0
        if not down and outage[0] <= now < outage[1]:
            receiver.stop()
            down = True
        if down and now >= outage[1]:
            receiver.start()
            down = False
        if not rss or now - rss[-1][0] >= RSS_EVERY_S:
            rss.append((now, rss_of(proc)))
        time.sleep(1.0)
    elapsed = time.time() - t0
    time.sleep(args.drain)  # the broker's last deliveries to the counter
    raw = {"webhook": receiver.got, "mqtt": counter.got, "rss": rss, "elapsed": elapsed, "t0": t0, "outage": outage}
    (work / "raw.json").write_text(json.dumps(raw))  # kept whatever the summary does
    result = summarise(work, args, receiver, counter, rss, elapsed, (t0 + outage[0], t0 + outage[1]))
    broker.send_signal(signal.SIGTERM)
    return {"commands": commands, **result}


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def summarise(work: Path, args: argparse.Namespace, receiver: Receiver, counter: MqttCounter, rss: list,
              elapsed: float, outage: tuple[float, float]) -> dict:
    cams = {}
    raised = 0
    for i in range(args.cameras):
        folder = work / "watch" / f"cam{i}"
        msgs = [x for x in _lines(folder / "events.jsonl") if x["kind"] in ("new", "update", "end")]
        status = json.loads((folder / "status.json").read_text())
        running = (datetime.fromisoformat(status["updated"]) - datetime.fromisoformat(status["since"])).total_seconds()
        asked = int(running * args.fps)  # from the camera's start (its process and model loaded) to its last status
        cams[f"cam{i}"] = {"messages": len(msgs), "events": sum(x["kind"] == "new" for x in msgs),
                           "frames_read": status["frames_total"], "frames_asked": asked,
                           "behind_frames": max(asked - status["frames_total"], 0), "starts": status["starts"]}
        raised += len(msgs)
    hook = [m for _, m in receiver.got]
    key = {(m["type"], m["after"]["id"]) for m in hook}
    mqtt_key = {(m["type"], m["after"]["id"]) for _, m in counter.got}
    lat = [t - m["after"]["start_time"] for t, m in receiver.got
           if m["type"] == "new" and not (outage[0] - 5 <= t <= outage[1] + 60)]
    xs = np.array([t for t, _ in rss if t >= WARMUP_S])
    ys = np.array([m for t, m in rss if t >= WARMUP_S])
    slope = float(np.polyfit(xs / 3600.0, ys, 1)[0]) if len(xs) > 2 else None
    return {"seconds": round(elapsed, 1), "cameras": cams, "messages_raised": raised,
            "webhook": {"received": len(hook), "unique": len(key)},
            "mqtt": {"received": len(counter.got), "unique": len(mqtt_key)},
            "latency_s": {"p50": float(np.percentile(lat, 50)) if lat else None,
                          "p99": float(np.percentile(lat, 99)) if lat else None, "n": len(lat)},
            "rss_mb": {"first": rss[0][1] if rss else None, "last": rss[-1][1] if rss else None,
                       "max": max(m for _, m in rss) if rss else None, "slope_mb_per_h_after_warmup": slope,
                       "samples": [(round(t, 1), round(m, 1)) for t, m in rss]}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--outage", type=float, default=120.0, help="seconds the webhook receiver is down")
    ap.add_argument("--drain", type=float, default=5.0)
    ap.add_argument("--work", default="runs/bench/load-watch")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    result = run(work, args)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb"}, indent=1))
    save_result(args.json, {"commands": [provenance()["command"], *result.pop("commands")], "seed": 0,
                            "settings": {"cameras": args.cameras, "fps": args.fps, "minutes": args.minutes,
                                         "outage_s": args.outage, "clip": str(CLIP), "fit_frames": [0, 46],
                                         "sinks": ["webhook", "mqtt"], "snapshots": True, "clips": True},
                            **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
