"""The playground's web server: Starlette routes over the lab and Hopfield views, frames as server-sent events.

Each browser tab creates its own run (``POST /api/runs``) and reads its frames from
``GET /api/runs/{id}/events``; play, pause, step and reset are ``POST /api/runs/{id}/control``.
Runs share nothing but the process: their arrays, generators and clocks are their own, so
tabs never disturb each other's numbers.  Compiled work runs in a worker thread under one
lock (Numba's default threading layer must not be entered from two threads at once, and
two cores gain nothing from more), so the event loop keeps answering while a tab trains.

Every request is bounded: bodies (``MAX_BODY``), runs kept (``MAX_RUNS``, the least recently
used idle one goes first), epochs per frame, frames per second.  Bad input gets a 4xx with
a JSON body ``{"error": …, "problems": [[key path, message], …]}``; nothing a request
holds can stop the server.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 1 << 20  # 1 MiB: a scenario with a few thousand table rows; nothing the page sends comes near
MAX_RUNS = 32
MAX_SPEED = 1000  # epochs per frame
MAX_FPS = 30.0
KEEPALIVE_SECONDS = 15.0
IDLE_SECONDS = 30 * 60  # a run nobody has streamed or steered for this long is dropped
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]

COMPUTE = threading.Lock()  # one compiled computation at a time (see the module docstring)


class BadRequest(Exception):
    """A 4xx answer: status, message and the key paths at fault."""

    def __init__(self, status: int, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []


@dataclass
class LiveRun:
    """One tab's run and how it is being driven."""

    lab: Any  # LabRun
    playing: bool = False
    speed: int = 1
    pending: int = 0  # single steps asked for while paused
    reset: bool = False
    stream: int = 0  # the newest stream's number: an older stream of this run ends
    streaming: bool = False
    seen: float = field(default_factory=time.monotonic)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Runs:
    """The runs of every tab, bounded in number."""

    def __init__(self, limit: int = MAX_RUNS):
        self.limit = limit
        self.runs: dict[str, LiveRun] = {}

    def add(self, lab: Any) -> str:
        self._drop_idle()
        if len(self.runs) >= self.limit:
            idle = [(r.seen, key) for key, r in self.runs.items() if not r.streaming]
            if not idle:
                raise BadRequest(503, f"the playground is training {self.limit} runs already; close a tab")
            del self.runs[min(idle)[1]]
        key = secrets.token_urlsafe(12)
        self.runs[key] = LiveRun(lab)
        return key

    def get(self, key: str) -> LiveRun:
        run = self.runs.get(key)
        if run is None:
            raise BadRequest(404, f"no run {key[:40]!r} (it ended, or the server restarted): reload the page")
        run.seen = time.monotonic()
        return run

    def drop(self, key: str) -> None:
        run = self.runs.pop(key, None)
        if run is not None:
            run.stream += 1  # ends its stream
            run.wake.set()

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for key in [k for k, r in self.runs.items() if not r.streaming and now - r.seen > IDLE_SECONDS]:
            del self.runs[key]


# ------------------------------------------------------------------ request bodies


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused past ``limit`` bytes while it arrives (never buffered whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise BadRequest(413, f"the body is {int(declared)} bytes; at most {limit} are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


async def read_json(request: Request) -> dict[str, Any]:
    body = await read_body(request)
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not UTF-8 text") from None
    except RecursionError:
        raise BadRequest(400, "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise BadRequest(400, f"expected a JSON object, got {type(value).__name__}")
    return value


def _scenario_of(body: dict[str, Any]) -> dict[str, Any]:
    scenario = body.get("scenario")
    if not isinstance(scenario, dict):
        raise BadRequest(400, "expected {\"scenario\": {…}}: a scenario as a JSON object",
                         [("scenario", "missing or not an object")])
    return scenario


def _opened(raw: dict[str, Any]):
    """Validate a scenario for the playground (in a worker thread: validation may build a dataset)."""
    from rulelab.playground.state import PlaygroundInputError, open_scenario

    try:
        return open_scenario(raw)
    except PlaygroundInputError as exc:
        raise BadRequest(400, "the scenario cannot be shown: " + str(exc)[:2000], exc.problems) from None
    except RecursionError:
        raise BadRequest(400, "the scenario is nested too deeply") from None


def _computed(function, *args):
    from rulelab.core.threads import single_threaded_blas

    with COMPUTE, single_threaded_blas():  # as rulelab run trains: BLAS at one thread, the outer loops parallel
        return function(*args)


async def compute(function, *args):
    """Run compiled work in a worker thread, one at a time, without blocking the event loop."""
    import anyio

    return await anyio.to_thread.run_sync(_computed, function, *args)


# ------------------------------------------------------------------ routes


def create_app(initial: dict[str, Any] | None = None, allowed_hosts: list[str] | None = None) -> Starlette:
    """The ASGI app; ``initial`` is the scenario the page opens with (the command's SCENARIO)."""
    from rulelab.playground import catalog

    runs = Runs()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def get_catalog(request: Request) -> Response:
        return JSONResponse(await compute(catalog.catalog, initial))

    async def open_yaml(request: Request) -> Response:
        """A YAML text (an opened file) → the scenario dict the page keeps, validated."""
        from rulelab.scenario.loading import yaml_problem
        from rulelab.scenario.yaml_reader import YAMLInputError, decode_scenario_bytes, parse_yaml

        body = await read_body(request)
        try:
            raw = parse_yaml(decode_scenario_bytes(body))
        except (YAMLInputError, UnicodeError, ValueError) as exc:
            message = yaml_problem(exc) if isinstance(exc, YAMLInputError) else str(exc)[:300]
            raise BadRequest(400, f"the file cannot be read: {message}", [("", message)]) from None
        except Exception as exc:  # yaml.YAMLError and its kin: the reader's own words, with the line
            raise BadRequest(400, f"the file cannot be read: {yaml_problem(exc)}", [("", yaml_problem(exc))]) from None
        opened = await compute(_opened, raw)
        return JSONResponse({"view": opened.view, "scenario": opened.raw, "notes": opened.notes})

    async def create_run(request: Request) -> Response:
        from rulelab.playground.lab import LabRun

        raw = _scenario_of(await read_json(request))
        opened = await compute(_opened, raw)
        if opened.view != "lab":
            raise BadRequest(400, "this scenario is an association task: open it in the Hopfield view",
                             [("task.kind", "association")])
        lab = await compute(LabRun, opened)
        key = runs.add(lab)
        info, frame = await compute(lambda: (lab.info(), lab.frame()))
        return JSONResponse({"id": key, "scenario": opened.raw, "info": info, "frame": frame})

    async def control(request: Request) -> Response:
        run = runs.get(request.path_params["key"])
        body = await read_json(request)
        action = body.get("action")
        if action not in ("play", "pause", "step", "reset"):
            raise BadRequest(400, f"action: got {str(action)[:40]!r}; expected play, pause, step or reset",
                             [("action", "expected play, pause, step or reset")])
        if "speed" in body:
            speed = body["speed"]
            if isinstance(speed, bool) or not isinstance(speed, int) or not 1 <= speed <= MAX_SPEED:
                raise BadRequest(400, f"speed: got {str(speed)[:40]}; expected whole epochs per frame, "
                                 f"1 … {MAX_SPEED}", [("speed", f"expected 1 … {MAX_SPEED}")])
            run.speed = speed
        if action == "play":
            run.playing = True
        elif action == "pause":
            run.playing = False
        elif action == "step":
            run.playing = False
            run.pending = min(run.pending + 1, 100)
        else:
            run.playing, run.pending, run.reset = False, 0, True
        run.wake.set()
        return JSONResponse({"playing": run.playing, "speed": run.speed, "clock": run.lab.clock})

    async def events(request: Request) -> Response:
        key = request.path_params["key"]
        run = runs.get(key)
        run.stream += 1
        return StreamingResponse(_frames(run, run.stream), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def export(request: Request) -> Response:
        from rulelab.playground.state import export_yaml

        run = runs.get(request.path_params["key"])
        async with run.lock:
            text = await compute(export_yaml, run.lab.opened, run.lab.exported_epochs())
        return PlainTextResponse(text, media_type="application/yaml",
                                 headers={"Content-Disposition": 'attachment; filename="playground.yaml"'})

    async def delete_run(request: Request) -> Response:
        runs.drop(request.path_params["key"])
        return JSONResponse({"deleted": True})

    async def hopfield(request: Request) -> Response:
        from rulelab.playground.hopfield import recall
        from rulelab.playground.state import export_yaml

        raw = _scenario_of(await read_json(request))
        opened = await compute(_opened, raw)
        if opened.view != "hopfield":
            raise BadRequest(400, "the Hopfield view recalls association tasks", [("task.kind", "expected association")])
        result = await compute(recall, opened)
        result["yaml"] = await compute(export_yaml, opened, None)
        result["scenario"] = opened.raw
        return JSONResponse(result)

    routes = [
        Route("/", index),
        Route("/api/catalog", get_catalog),
        Route("/api/open", open_yaml, methods=["POST"]),
        Route("/api/runs", create_run, methods=["POST"]),
        Route("/api/runs/{key}/control", control, methods=["POST"]),
        Route("/api/runs/{key}/events", events),
        Route("/api/runs/{key}/export", export),
        Route("/api/runs/{key}", delete_run, methods=["DELETE"]),
        Route("/api/hopfield", hopfield, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return JSONResponse({"error": exc.message, "problems": [list(p) for p in exc.problems]},
                            status_code=exc.status)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": str(exc.detail), "problems": []}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def internal_error(request: Request, exc: Exception) -> Response:
        text = " ".join(str(exc).split())[:300]
        return JSONResponse({"error": f"internal error ({type(exc).__name__}: {text}); this is a bug in rulelab",
                             "problems": []}, status_code=500)

    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={BadRequest: bad_request, HTTPException: http_error,
                                        Exception: internal_error})
    app.state.runs = runs
    return app


def _event(kind: str, payload: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def _frames(run: LiveRun, number: int) -> AsyncIterator[str]:
    """A run's frames as server-sent events: one per tick while playing (at most MAX_FPS a second),
    one per step or reset while paused, a comment every KEEPALIVE_SECONDS otherwise."""
    run.streaming = True
    try:
        async with run.lock:
            yield _event("frame", await compute(run.lab.frame))
        last = 0.0
        while run.stream == number:
            run.seen = time.monotonic()
            lab = run.lab
            if run.reset:
                run.reset = False
                async with run.lock:
                    await compute(lab.reset)
                    payload = await compute(lab.frame)
                yield _event("reset", payload)
                continue
            if run.pending or (run.playing and not lab.finished):
                wait = last + 1.0 / MAX_FPS - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                last = time.monotonic()
                epochs = 1 if run.pending else run.speed
                run.pending = max(run.pending - 1, 0)
                async with run.lock:
                    payload = await compute(_tick, lab, epochs)
                yield _event("frame", payload)
                if lab.finished:
                    run.playing = False
                continue
            run.wake.clear()
            try:
                await asyncio.wait_for(run.wake.wait(), KEEPALIVE_SECONDS)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        if run.stream == number:
            run.streaming = False


def _tick(lab: Any, epochs: int) -> dict[str, Any]:
    lab.advance(epochs)
    return lab.frame()


# ------------------------------------------------------------------ serving


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int):
    """A listening socket on (host, port); port 0 picks a free one."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def make_server(app: Starlette):
    """A uvicorn server with bounded connections, headers and keep-alive."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_keep_alive=5,
                            limit_concurrency=64, h11_max_incomplete_event_size=64 * 1024,
                            timeout_graceful_shutdown=1)
    return uvicorn.Server(config)


def app_for(host: str, initial: dict[str, Any] | None = None) -> Starlette:
    """The app as served on ``host``: on a loopback address, only requests naming a loopback host are
    answered (a web page elsewhere cannot reach it through a rebound DNS name)."""
    return create_app(initial, LOOPBACK_HOSTS if is_loopback(host) else None)


class BackgroundServer:
    """The playground served from a thread (tests, benchmarks): ``with BackgroundServer() as url: …``."""

    def __init__(self, initial: dict[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0):
        self.app = app_for(host, initial)
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = make_server(self.app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(10)
        self.sock.close()


def warm_up() -> None:
    """Load every kernel a first page needs (from Numba's cache, or compile it once) before the address
    is printed, so that the first page a user opens draws at once: the default rules, the perceptron,
    the delta rule and an evolution strategy on the default data, the grid and a Hopfield recall."""
    import copy

    from rulelab.playground import catalog
    from rulelab.playground.hopfield import default_patterns, hopfield_scenario, recall
    from rulelab.playground.lab import LabRun
    from rulelab.playground.state import DEFAULT_LAB, open_scenario

    raw = copy.deepcopy(DEFAULT_LAB)
    raw["rules"] = raw["rules"] + [{**catalog.PRESETS[name], "network": {"layers": [2, 1], "activation": act}}
                                   for name, act in (("perceptron", "step"), ("delta", "sigmoid"))]
    raw["rules"].append(copy.deepcopy(catalog.PRESETS["openai_es"]))
    lab = LabRun(open_scenario(raw))
    lab.advance(1)
    json.dumps(lab.frame())
    catalog.catalog()
    width, height, patterns = default_patterns()
    recall(open_scenario(hopfield_scenario(patterns, patterns[0], "hopfield_hebbian", "async", 0, 5, width, height)))
