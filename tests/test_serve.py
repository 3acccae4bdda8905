"""The review app (``ammcnet serve``) over detect and watch folders made as the event model describes.

Pages render for both kinds of folder; events are the latest line of each id, whatever else the
log holds; the list filters by camera, zone and time; clips are sent as ``video/mp4`` with HTTP
Range; no path leaves the folder; with a token every route needs it; actions are POST only, need
the page's form field and persist in ``reviews.jsonl``; nothing from a file is rendered unescaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason='the serve extra is not installed: pip install -e ".[serve]"')
pytest.importorskip("av", reason='PyAV makes the test clips: pip install -e ".[media]"')

from starlette.testclient import TestClient  # noqa: E402 - needs httpx2 (the dev extra)

from ammcnet.cli import main  # noqa: E402
from ammcnet.errors import ConfigError, DataError  # noqa: E402
from ammcnet.serve import ServeOptions, create_app  # noqa: E402
from ammcnet.serve.folder import EventLog  # noqa: E402
from ammcnet.serve.security import check_bind, mask_token  # noqa: E402
from serve_folders import T0, camera_status, make_detect_folder, make_watch_folder, write_camera  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8765"
TOKEN = "t0ken-for-the-tests-0123456789"


def client(folder: Path, **kwargs) -> TestClient:
    teach = kwargs.pop("teach", None)
    return TestClient(create_app(folder, ServeOptions(**kwargs), teach=teach), base_url=BASE, follow_redirects=False)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def api_events(c: TestClient, **query: str) -> list[dict]:
    r = c.get("/api/events", params=query)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def raw_status(app, path: str) -> int:
    """GET ``path`` exactly as written (no client normalises ``..``), straight through the ASGI app."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8765")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8765)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


@pytest.fixture(scope="module")
def watch_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    return make_watch_folder(tmp_path_factory.mktemp("watch"))


def test_detect_folder_pages_clip_and_live_scores(tmp_path: Path) -> None:
    root, events = make_detect_folder(tmp_path / "detect")
    c = client(root)
    home = c.get("/")
    assert home.status_code == 200 and "street" in home.text and "24.0" in home.text  # fps from summary.json
    assert 'data-camera="street"' in home.text and "Content-Security-Policy" in home.headers
    listed = c.get("/events")
    assert listed.status_code == 200 and listed.text.count('class="event"') == 2
    page = c.get(f"/event?camera=street&id={events[0]['id']}")
    assert page.status_code == 200 and "<video" in page.text and f"clips/{events[0]['id']}.mp4" in page.text
    clip = c.get(f"/media/clips/{events[0]['id']}.mp4", headers={"Range": "bytes=0-99"})
    size = (root / events[0]["clip"]).stat().st_size
    assert clip.status_code == 206 and clip.headers["content-type"] == "video/mp4" and len(clip.content) == 100
    assert clip.headers["content-range"] == f"bytes 0-99/{size}" and clip.headers["accept-ranges"] == "bytes"
    tail = c.get(f"/media/clips/{events[0]['id']}.mp4", headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and tail.content == (root / events[0]["clip"]).read_bytes()[-10:]
    head = c.head(f"/media/clips/{events[0]['id']}.mp4")
    assert head.status_code == 200 and head.headers["content-length"] == str(size) and not head.content
    snap = c.get(f"/media/{events[0]['snapshot']}")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg" and snap.content[:2] == b"\xff\xd8"
    (live,) = c.get("/api/live").json()["cameras"]
    assert live["name"] == "street" and live["threshold"] == 2.0 and len(live["points"]) == 60
    assert live["points"][30][1] is None and live["points"][-1][0] == 59  # an invalid frame is a gap


def test_watch_folder_pages_and_filters(watch_dir: tuple[Path, dict]) -> None:
    root, events = watch_dir
    c = client(root)
    home = c.get("/").text
    for name in ("front", "back"):
        assert f'data-camera="{name}"' in home
    assert home.count('class="camera"') == 2 and "9.5" in home
    assert {e["camera"] for e in api_events(c)} == {"front", "back"} and len(api_events(c)) == 3
    assert [e["camera"] for e in api_events(c, camera="back")] == ["back"]
    assert [e["id"] for e in api_events(c, zone="road")] == [events["front"][1]["id"]]
    assert {e["id"] for e in api_events(c, since=str(T0 + 3000))} == {events["front"][1]["id"]}
    assert {e["camera"] for e in api_events(c, until=str(T0 + 2000))} == {"front", "back"}
    picker = datetime.fromtimestamp(T0 + 3000).strftime("%Y-%m-%dT%H:%M")  # what a browser's date picker sends
    html = c.get("/events", params={"since": picker, "camera": "front"}).text
    assert html.count('class="event"') == 1 and events["front"][1]["id"] in html
    assert "not a time" in c.get("/events", params={"since": "yesterday"}).text
    for name, evs in events.items():
        page = c.get(f"/event?camera={name}&id={evs[0]['id']}")
        assert page.status_code == 200 and f"/media/{name}/clips/{evs[0]['id']}.mp4" in page.text
        assert c.get(f"/media/{name}/clips/{evs[0]['id']}.mp4").headers["content-type"] == "video/mp4"
    assert c.get("/event?camera=front&id=nope").status_code == 404


def test_event_log_latest_line_wins_and_tolerates_partial_and_unknown_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    ev = {"id": "e1", "camera": "c", "top_score": 1.0, "start_time": T0}
    path.write_text(json.dumps({"kind": "start", "model": "m.pt"}) + "\n" + json.dumps({"kind": "new", "event": ev}) + "\n"
                    + json.dumps({"kind": "mystery", "event": {**ev, "top_score": 99}}) + "\n" + "not json\n"
                    + '{"kind": "update", "event": {"id": "e1", "top_')
    log = EventLog(path)
    (rec,) = log.records("c", False)
    assert rec.kind == "new" and rec.data["top_score"] == 1.0 and rec.open and log.start("c")["model"] == "m.pt"
    with open(path, "a") as f:  # the writer finishes the line, then ends the event
        f.write('score": 3.0, "camera": "c"}}\n' + json.dumps({"kind": "end", "event": {**ev, "top_score": 3.0}}) + "\n")
    (rec,) = log.records("c", False)
    assert rec.kind == "end" and rec.data["top_score"] == 3.0 and not rec.open
    path.write_text(json.dumps({"kind": "new", "event": {**ev, "id": "e2"}}) + "\n")  # replaced: read again
    assert [r.id for r in log.records("c", False)] == ["e2"]


def test_paths_never_leave_the_folder(watch_dir: tuple[Path, dict], tmp_path: Path) -> None:
    root, events = watch_dir
    c = client(root)
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"secret")
    for url in ("/media/..%2f..%2fsecret.mp4", "/media/front/..%2F..%2F..%2Fetc%2Fpasswd", "/media//etc/passwd",
                f"/media/{outside}", "/media/%2Fetc%2Fpasswd", f"/media/front/..%2F..%2F{tmp_path.name}%2Fsecret.mp4"):
        r = c.get(url)
        assert r.status_code in (403, 404) and b"secret" not in r.content and b"root:" not in r.content, url
    app = c.app
    rel = os.path.relpath(outside, root / "front")
    for path in (f"/media/../{outside.name}", f"/media/front/{rel}", "/media/front/../../../../etc/passwd"):
        assert raw_status(app, path) in (403, 404), path
    (root / "front" / "clips" / "link.mp4").symlink_to(outside)
    assert c.get("/media/front/clips/link.mp4").status_code == 403
    assert c.get("/media/front/events.jsonl").status_code == 403  # only snapshots and clips are sent
    assert c.get(f"/media/front/clips/{events['front'][0]['id']}.mp4").status_code == 200


def test_token_is_required_on_every_route(watch_dir: tuple[Path, dict]) -> None:
    root, events = watch_dir
    c = client(root, token=TOKEN, host="0.0.0.0")
    ev = events["front"][0]
    urls = {"/": "/", "/events": "/events", "/event": f"/event?camera=front&id={ev['id']}",
            "/media/{path:path}": f"/media/front/{ev['clip']}", "/api/live": "/api/live", "/api/events": "/api/events",
            "/actions/{action:str}": "/actions/acknowledge", "/login": "/login"}
    assert {r.path for r in c.app.routes} == set(urls)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for route, url in urls.items():
        method = c.post if route.startswith("/actions") else c.get
        if route != "/login":
            assert method(url).status_code == 401, url
            assert method(url, headers={"Authorization": "Bearer wrong-token-123"}).status_code == 401, url
        ok = method(url, headers=bearer)
        assert ok.status_code != 401 and TOKEN not in ok.text, url
    assert c.get("/login").status_code == 200 and TOKEN not in c.get("/login").text  # the form asking for it
    assert c.get("/", headers={"Accept": "text/html"}).status_code == 401
    # ?token= once: a cookie (not the token itself) and a redirect to the same page without it
    r = c.get("/events", params={"token": TOKEN, "camera": "front"})
    assert r.status_code == 303 and r.headers["location"] == "/events?camera=front"
    cookie = r.cookies["ammcnet_serve"]
    assert TOKEN not in cookie and "httponly" in r.headers["set-cookie"].lower()
    browser = client(root, token=TOKEN, host="0.0.0.0")
    browser.cookies.set("ammcnet_serve", cookie)
    assert browser.get("/events").status_code == 200
    fresh = client(root, token=TOKEN, host="0.0.0.0")
    assert fresh.get("/events", params={"token": "wrong-token-123"}).status_code == 401
    assert fresh.post("/login", data={"token": "nope-nope-nope"}).status_code == 401
    r = fresh.post("/login", data={"token": TOKEN})
    assert r.status_code == 303 and r.cookies["ammcnet_serve"] == cookie and fresh.get("/").status_code == 200
    assert not [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]  # never on disk


def test_without_a_token_only_loopback_names_are_answered(watch_dir: tuple[Path, dict]) -> None:
    root, _ = watch_dir
    c = client(root)
    assert c.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert c.get("/", headers={"Host": "[::1]:8765"}).status_code == 200
    for host in ("evil.example", "evil.example:8765", "[bad"):  # DNS rebinding: another name for 127.0.0.1
        assert c.get("/", headers={"Host": host}).status_code == 403, host


def test_actions_are_post_only_checked_and_persist(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    root, events = make_detect_folder(tmp_path / "detect", model=str(model))  # the start line names the model
    calls = []
    c = client(root, teach=lambda m, normal_events: calls.append((m, normal_events)))
    first, second = events
    page = c.get(f"/event?camera=street&id={first['id']}").text
    token = csrf_of(page)
    assert "also updates the model" in page
    assert c.get("/actions/acknowledge").status_code == 405
    form = {"camera": "street", "id": first["id"]}
    assert c.post("/actions/acknowledge", data=form).status_code == 403  # no form field: not from a page
    assert c.post("/actions/acknowledge", data={**form, "csrf": token},
                  headers={"Origin": "http://evil.example"}).status_code == 403
    assert not (root / "reviews.jsonl").exists()
    r = c.post("/actions/acknowledge", data={**form, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/event?camera=street&id={first['id']}"
    r = c.post("/actions/normal", data={**form, "csrf": token}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["taught"] is True
    assert calls == [(str(model), [f"{root / 'events.jsonl'}:{first['id']}"])]
    lines = [json.loads(x) for x in (root / "reviews.jsonl").read_text().splitlines()]
    assert [(x["action"], x["event_id"], x["camera"], x["taught"]) for x in lines] == [
        ("acknowledge", first["id"], "street", False), ("normal", first["id"], "street", True)]
    assert set(lines[0]) == {"time", "event_id", "camera", "action", "taught", "detail"}
    # a new app over the same folder (a restart, a reload) reads the marks back
    again = client(root)
    page = again.get(f"/event?camera=street&id={first['id']}").text
    assert 'id="marked-normal"' in page and 'id="acknowledged"' in page and page.count('class="review"') == 2
    marks = {e["id"]: e for e in api_events(again)}
    assert marks[first["id"]]["normal"] and marks[first["id"]]["taught"] and not marks[second["id"]]["normal"]
    # without a teach-normal update the mark is recorded only, and says why
    r = again.post("/actions/normal", data={"camera": "street", "id": second["id"], "csrf": csrf_of(page)},
                   headers={"Accept": "application/json"})
    assert r.json()["taught"] is False and "no teach-normal update" in r.json()["detail"]


def test_mark_normal_without_a_usable_model_records_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, events = make_detect_folder(tmp_path / "detect")
    teach = []
    c = client(root, teach=lambda m, normal_events: teach.append(m))
    csrf = csrf_of(c.get(f"/event?camera=street&id={events[0]['id']}").text)
    post = {"camera": "street", "id": events[0]["id"], "csrf": csrf}
    detail = c.post("/actions/normal", data=post, headers={"Accept": "application/json"}).json()["detail"]
    assert "--model" in detail
    model = tmp_path / "ro" / "m.pt"
    model.parent.mkdir()
    model.write_bytes(b"w")
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).endswith("ro"))  # as if read-only (tests run as root)
    c = client(root, model=str(model), teach=lambda m, normal_events: teach.append(m))
    page = c.get(f"/event?camera=street&id={events[0]['id']}").text
    assert "read-only" in page
    post["csrf"] = csrf_of(page)  # each app without a token has its own
    line = c.post("/actions/normal", data=post, headers={"Accept": "application/json"}).json()
    assert line["taught"] is False and "read-only" in line["detail"] and teach == []


def test_a_refused_or_failing_update_keeps_the_mark(tmp_path: Path) -> None:
    class Refused:
        model = None

        def report(self) -> str:
            return "validation AUC would drop"

    def broken(model, normal_events):
        raise RuntimeError("boom")

    model = tmp_path / "model.pt"
    model.write_bytes(b"w")
    root, events = make_detect_folder(tmp_path / "detect", model=str(model))
    for teach, taught, words in ((lambda m, normal_events: Refused(), False, "refused: validation AUC"),
                                 (broken, False, "RuntimeError: boom")):
        c = client(root, teach=teach)
        csrf = csrf_of(c.get(f"/event?camera=street&id={events[0]['id']}").text)
        line = c.post("/actions/normal", data={"camera": "street", "id": events[0]["id"], "csrf": csrf},
                      headers={"Accept": "application/json"}).json()
        assert line["taught"] is taught and words in line["detail"], line
    assert (root / "reviews.jsonl").read_text().count('"normal"') == 2


def test_the_api_passes_its_teach_update_in_the_shape_called() -> None:
    import inspect

    import ammcnet.api as api

    if not hasattr(api, "teach"):
        pytest.skip("this ammcnet has no teach-normal update")
    inspect.signature(api.teach).bind("model.pt", normal_events=["events.jsonl:ID"])
    assert "serve" in api.__all__ and api.ServeOptions is ServeOptions


def test_nothing_from_a_file_is_rendered_unescaped(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    zone = "<img src=x onerror=alert(1)>"
    root = tmp_path / "watch"
    events = write_camera(root / "cam1", evil, [T0], [[zone]], watch=True)
    status = camera_status(evil, events, "cam1")
    status["error"] = evil
    (root / "status.json").write_text(json.dumps({"cameras": {evil: status}}))
    c = client(root)
    ev = events[0]
    pages = [c.get("/"), c.get("/events"), c.get("/event", params={"camera": evil, "id": ev["id"]}),
             c.get("/events", params={"camera": evil, "zone": zone, "since": evil})]
    for r in pages:
        assert r.status_code == 200, r.text
        assert evil not in r.text and zone not in r.text
        assert "&lt;script&gt;alert(" in r.text
        nonces = re.findall(r"<script nonce=\"([^\"]+)\">", r.text)
        assert r.text.count("<script") == len(nonces) and all(f"'nonce-{n}'" in r.headers["content-security-policy"]
                                                               for n in nonces)
    assert "&lt;img src=x" in pages[2].text


def test_bind_rules_and_token_masking() -> None:
    with pytest.raises(ConfigError, match="--token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match="shorter"):
        check_bind("127.0.0.1", "short")
    check_bind("0.0.0.0", TOKEN)
    check_bind("::1", None)
    assert TOKEN not in mask_token(TOKEN) and TOKEN not in repr(ServeOptions(token=TOKEN))


def test_not_an_output_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a detect folder"):
        create_app(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        create_app(tmp_path / "missing")


def test_command_refuses_remote_without_token_and_a_busy_port(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = make_detect_folder(tmp_path / "detect")
    assert main(["serve", str(root), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--token" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("AMMCNET_SERVE_TOKEN", TOKEN)
        assert main(["serve", str(root), "--port", str(busy.getsockname()[1])]) == 2
    out = capsys.readouterr()
    assert "choose another --port" in out.err and TOKEN not in out.err + out.out


def test_command_serves_until_interrupted(tmp_path: Path) -> None:
    """``ammcnet serve`` end to end: the announced address answers, the token is masked, Ctrl-C stops it."""
    import httpx2 as httpx

    root, _ = make_detect_folder(tmp_path / "detect")
    env = {**os.environ, "AMMCNET_SERVE_TOKEN": TOKEN, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "ammcnet", "serve", str(root), "--port", "0"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert TOKEN not in line and "Ctrl-C" in line, line
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        assert httpx.get(url + "api/live").status_code == 401
        r = httpx.get(url + "api/live", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json()["cameras"][0]["name"] == "street"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode in (0, 130) and TOKEN not in out + err, err


def test_help_does_not_import_the_web_stack() -> None:
    code = ("import sys, contextlib, io\nfrom ammcnet.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    try: main(['serve', '--help'])\n    except SystemExit: pass\n"
            "print(sorted(m for m in ('starlette', 'uvicorn', 'torch', 'ammcnet.serve') if m in sys.modules))")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    assert time.perf_counter() - t < 20
