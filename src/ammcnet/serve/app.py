"""The review app: Starlette routes over one output folder, pages from Jinja2 templates.

Routes (every one behind :class:`~ammcnet.serve.security.GuardMiddleware`):

====================================  ==========================================================
``GET /``                             cameras: state, fps, frames, events, last event, reconnects,
                                      and a live score line polled from ``/api/live``
``GET /events``                       the events, filtered by ``camera``, ``zone``, ``since``, ``until``
``GET /event?camera=C&id=ID``         one event: snapshot, clip in a ``<video>``, reviews, actions
``GET /media/PATH``                   a snapshot or clip under the folder (HTTP Range for seeking)
``GET /api/live``                     JSON: each camera's state and last scores
``GET /api/events``                   JSON: the filtered events
``POST /actions/acknowledge|normal``  record a review (form fields ``camera``, ``id``, ``csrf``)
``GET|POST /login``                   the form that asks for the token (when one is set)
====================================  ==========================================================

Pages are rendered with autoescaping on, and sent with a Content-Security-Policy that lets only
the page's own inline script (by nonce) run, so a value from an event file can never run as code.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ammcnet.errors import AmmcError, OutputError
from ammcnet.serve import actions, views
from ammcnet.serve.folder import Camera, EventRecord, ServeFolder, as_number
from ammcnet.serve.options import ServeOptions
from ammcnet.serve.security import COOKIE, LOGIN_PATH, Guard, GuardMiddleware, Refused, safe_file, same
from ammcnet.utils.optional import require

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The files the media route sends, and their Content-Type.
MEDIA_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".png": "image/png"}
#: Frames in each camera's live score line.
LIVE_POINTS = 150
#: How often the cameras page asks for new scores (milliseconds).
POLL_MS = 2000
#: The largest action form read (bytes).
MAX_FORM_BYTES = 8 * 1024
PURPOSE = "ammcnet serve"


def _csp(nonce: str) -> str:
    return (f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class ReviewApp:
    """The state the routes share: the folder, the options, the guard, the templates, the teach update."""

    def __init__(self, folder: ServeFolder, options: ServeOptions, guard: Guard, teach: actions.Teach | None) -> None:
        jinja2 = require("jinja2", extra="serve", purpose=PURPOSE)
        self.folder, self.options, self.guard, self.teach = folder, options, guard, teach
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined)
        self.env.filters["local_time"] = views.fmt_iso

    # helpers

    def page(self, name: str, status: int = 200, **context: Any) -> Any:
        """A rendered page with its security headers (a fresh script nonce each time)."""
        from starlette.responses import HTMLResponse

        nonce = secrets.token_urlsafe(16)
        html = self.env.get_template(name).render(
            nonce=nonce, kind=self.folder.kind, root_name=self.folder.root.name, csrf=self.guard.csrf,
            token_set=self.guard.token is not None, time_zone=views.time_zone(), **context)
        return HTMLResponse(html, status, headers={
            "Content-Security-Policy": _csp(nonce), "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY", "Cache-Control": "no-store"})

    def error(self, status: int, message: str) -> Any:
        return self.page("error.html", status, code=status, message=message)

    def _views(self, cams: list[Camera]) -> list[dict[str, Any]]:
        """Every event of ``cams`` as shown, with its review, newest first."""
        by_name = {c.name: c for c in cams}
        reviews = {c.name: self.folder.reviews(c) for c in cams}
        return [views.event_view(r, by_name[r.camera], reviews[r.camera].get(r.id)) for r in self.folder.events(cams)]

    def _find(self, camera: str, event_id: str) -> tuple[Camera, EventRecord] | None:
        cam = self.folder.camera(camera)
        if cam is None:
            return None
        record = next((r for r in self.folder.events([cam]) if r.id == event_id), None)
        return (cam, record) if record is not None else None

    def _model(self, cam: Camera) -> str | None:
        model = self.options.model or self.folder.start_line(cam).get("model")
        return str(model) if model else None

    # pages

    def cameras(self, request: Any) -> Any:
        cams = self.folder.cameras()
        events = self._views(cams)
        rows = [views.camera_view(c, [e for e in events if e["camera"] == c.name]) for c in cams]
        return self.page("cameras.html", cameras=rows, poll_ms=POLL_MS)

    def events(self, request: Any) -> Any:
        query = dict(request.query_params)
        chosen, problem = views.parse_filter(query)
        cams = self.folder.cameras()
        events = self._views(cams)
        kept = [e for e in events if chosen.keeps(e["camera"], e)]
        return self.page("events.html", events=kept[:views.MAX_LISTED], total=len(kept), problem=problem,
                         cameras=[c.name for c in cams], zones=sorted({z for e in events for z in e["zones"]}),
                         query={k: query.get(k, "") for k in ("camera", "zone", "since", "until")})

    def event(self, request: Any) -> Any:
        found = self._find(request.query_params.get("camera", ""), request.query_params.get("id", ""))
        if found is None:
            return self.error(404, "no such event (it may belong to another folder)")
        cam, record = found
        view = views.event_view(record, cam, self.folder.reviews(cam).get(record.id))
        model = self._model(cam)
        target, why = actions.model_target(model, self.folder.root)
        if target is not None and self.teach is None:
            why = "this ammcnet has no teach-normal update"
        writable = cam.folder is not None and os.access(cam.folder, os.W_OK)
        return self.page("event.html", e=view, can_teach=target is not None and self.teach is not None,
                         model=model or "", teach_note=why, writable=writable, note=cam.note)

    def media(self, request: Any) -> Any:
        from starlette.responses import FileResponse, PlainTextResponse

        try:
            path = safe_file(self.folder.root, request.path_params["path"], tuple(MEDIA_TYPES))
        except Refused as exc:
            return PlainTextResponse(str(exc), exc.status)
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix.lower()],
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    # JSON

    def live(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        rows = []
        for cam in self.folder.cameras():
            start, s = self.folder.start_line(cam), cam.status
            rows.append({"name": cam.name, "state": str(s.get("state") or "unknown"),
                         "fps": views.fmt_num(s.get("fps"), 1),
                         "threshold": as_number(start.get("threshold", s.get("threshold"))),
                         "points": self.folder.scores(cam, LIVE_POINTS)})
        return JSONResponse({"cameras": rows}, headers={"Cache-Control": "no-store"})

    def api_events(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        chosen, problem = views.parse_filter(dict(request.query_params))
        if problem:
            return JSONResponse({"error": problem}, 400)
        keys = ("id", "camera", "source_camera", "label", "kind", "open", "start_time", "end_time", "zones",
                "snapshot_url", "clip_url", "url")
        kept = [{**{k: e[k] for k in keys}, "top_score": e["peak"], "acknowledged": e["review"].acknowledged, "normal": e["review"].normal,
                 "taught": e["review"].taught} for e in self._views(self.folder.cameras()) if chosen.keeps(e["camera"], e)]
        return JSONResponse({"events": kept}, headers={"Cache-Control": "no-store"})

    # actions and the token form

    async def act(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse, RedirectResponse

        action = request.path_params["action"]
        if action not in ("acknowledge", "normal"):
            return self.error(404, f"no action {action!r}: acknowledge or normal")
        form = await read_form(request)
        if form is None:
            return self.error(413, "the form is too large")
        if not self.guard.action_ok(request.headers, form):
            return self.error(403, "this action did not come from a page of this app (reload the page and try again)")
        found = self._find(form.get("camera", ""), form.get("id", ""))
        if found is None:
            return self.error(404, "no such event")
        cam, record = found
        try:
            if action == "acknowledge":
                line = await run_in_threadpool(actions.acknowledge, cam, record)
            else:
                line = await run_in_threadpool(actions.mark_normal, cam, record, self._model(cam), self.folder.root,
                                               self.teach)
        except OutputError as exc:
            return self.error(503, str(exc))
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(line)
        return RedirectResponse(views.event_url(cam.name, record.id), 303)

    async def login(self, request: Any) -> Any:
        from starlette.responses import RedirectResponse

        if self.guard.token is None:
            return RedirectResponse("/", 303)
        if request.method == "GET":
            return self.page("login.html", 401 if request.cookies.get(COOKIE) else 200, problem="")
        form = await read_form(request) or {}
        if not same(form.get("token"), self.guard.token):
            return self.page("login.html", 401, problem="that is not the token")
        response = RedirectResponse("/", 303)
        response.set_cookie(COOKIE, self.guard.cookie, httponly=True, samesite="strict")
        return response

    def denied(self, request: Any) -> Any:
        """The answer to a request without the token: the token form for a browser, a plain 401 otherwise."""
        from starlette.responses import PlainTextResponse

        if "text/html" in request.headers.get("accept", ""):
            return self.page("login.html", 401, problem="")
        return PlainTextResponse("this app needs its token: Authorization: Bearer TOKEN", 401,
                                 headers={"WWW-Authenticate": "Bearer"})


async def read_form(request: Any) -> dict[str, str] | None:
    """The fields of a URL-encoded (or JSON) body, None when it is over :data:`MAX_FORM_BYTES`."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    text = body.decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(text, keep_blank_values=True))


def create_app(folder: str | os.PathLike[str], options: ServeOptions | None = None, *,
               teach: actions.Teach | None = None) -> Any:
    """The Starlette app serving ``folder`` (a detect or watch output folder).

    Args:
        folder: the output folder of ``ammcnet detect --out`` or of ``ammcnet watch``.
        options: host, token and model (default ``ServeOptions()``); only ``token``, ``host`` (the
            names answered without a token) and ``model`` matter here.
        teach: the teach-normal update "mark normal" calls, ``teach(model, normal_events=[...])``;
            None records marks only.

    Raises:
        DataError, ConfigError: ``folder`` is missing or is neither kind of folder.
        MissingDependencyError: the ``serve`` extra is not installed.
    """
    applications = require("starlette.applications", extra="serve", purpose=PURPOSE)
    from starlette.middleware import Middleware
    from starlette.routing import Route

    o = options or ServeOptions()
    guard = Guard(o.token, o.host)
    app = ReviewApp(ServeFolder(folder), o, guard, teach)
    routes = [
        Route("/", app.cameras), Route("/events", app.events), Route("/event", app.event),
        Route("/media/{path:path}", app.media, methods=["GET", "HEAD"]),
        Route("/api/live", app.live), Route("/api/events", app.api_events),
        Route("/actions/{action:str}", app.act, methods=["POST"]),
        Route(LOGIN_PATH, app.login, methods=["GET", "POST"]),
    ]
    star = applications.Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=guard, denied=app.denied)],
                                  exception_handlers={AmmcError: lambda request, exc: app.error(500, str(exc))})
    star.state.review = app
    return star
