"""`hrm serve`: a local web page on which a person gives a model a puzzle and watches it think, segment by segment.

Flask (on Werkzeug's threaded server) because the work per request is one synchronous torch call: an
async framework would buy nothing, and Flask is small, well kept and brings request-size limits and
JSON errors with no extra server package. The page (``hrmkit/static``) is served from the package and
the Content-Security-Policy forbids it to load anything from elsewhere.

    GET  /                the page
    GET  /api/info        the model, the task (its input hint, the controls its solver shows), the segment limits,
                          a few held-out examples
    POST /api/solve       {"puzzle": TEXT, "segments": N} -> every segment's grid, changed cells, Q values, validity
                          ARC (a task whose unit is a whole task file): {"puzzle": TASK JSON or a held-out task id,
                          "segments": N, "variants": V, "index": K or null} -> demonstrations, each test input's
                          per-segment predictions and voted answers (``tasks.arc.solver.payload``)
                          ("steps" is the old name of "segments", still read)
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from hrmkit import checkpoint, jsonio
from hrmkit.checkpoint import find_dataset
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError, check_at_least
from hrmkit.models import ACTModel, count_parameters
from hrmkit.solve import SolveTrace, solve
from hrmkit.tasks import Task, TaskSolver, get_task, task_names
from hrmkit.tasks.base import VariantsControl, control_json

MAX_BODY_BYTES = 64 * 1024  # a 30x30 maze is about 1 KB of text; anything far larger is not a puzzle (a task solver sets its own)
READ_TIMEOUT_SECONDS = 20.0  # a connection's whole request must arrive within this; then it is closed and its thread freed
STATIC_FILES = {"index.html": "text/html", "serve.js": "text/javascript", "serve.css": "text/css"}
# The page may talk to this server only: no CDN, no fonts, no analytics, nothing fetched from elsewhere.
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"


def default_segments_limit(halt_max_steps: int) -> int:
    """The most segments one request may ask for: room to think well past training, not to pin the CPU for minutes."""
    return max(64, 8 * halt_max_steps)


@dataclass
class Session:
    """What the server holds: one model, its task, and the examples it offers."""

    model: ACTModel
    meta: DatasetMetadata
    description: str
    max_segments: int
    examples: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one solve at a time: solve() switches model state
    dataset: Path | None = None  # the model's dataset (a task solver looks tasks up in it)

    @property
    def solver(self) -> TaskSolver | None:
        return self.task.task_solver()

    @property
    def max_body_bytes(self) -> int:
        solver = self.solver
        return MAX_BODY_BYTES if solver is None else solver.max_request_bytes

    @property
    def task(self) -> Task:
        return get_task(self.meta.task)


def grid_text(task: Task, tokens: np.ndarray, meta: DatasetMetadata) -> str:
    """Tokens as text the task's parser reads back: one line per row, one character per cell."""
    cells = task.cells(tokens, meta)
    w = meta.grid_shape[1]
    return "\n".join("".join(cells[r:r + w]) for r in range(0, len(cells), w))


def load_examples(dataset: Path, meta: DatasetMetadata, n: int) -> list[dict[str, str]]:
    """``n`` held-out (test split) puzzles spread over the split, as text."""
    from hrmkit.data.format import load_dataset
    from hrmkit.evaluate import check_compatible

    ds = load_dataset(dataset, verify_hash=False)
    check_compatible(meta, ds.metadata, str(dataset))
    split = "test" if "test" in ds.metadata.splits else next(iter(ds.metadata.splits))
    arrays = ds[split]
    task = get_task(meta.task)
    picks = np.unique(np.linspace(0, arrays.num_examples - 1, min(n, arrays.num_examples)).astype(int)) if n else []
    return [{"name": f"{split} #{i}", "text": grid_text(task, np.asarray(arrays.inputs[i]), meta)} for i in picks]


def open_session(path: str | os.PathLike, *, dataset: str | os.PathLike | None = None, examples: int = 8,
                 max_segments: int | None = None) -> Session:
    check_at_least("max_segments", max_segments, 1)
    ckpt = checkpoint.resolve(path)
    cfg, _ = checkpoint.read_config(ckpt)
    model, meta = checkpoint.from_pretrained(ckpt)
    if dataset is not None:
        data = Path(dataset)
        if not (data / "metadata.json").is_file():
            raise HrmError(f"--dataset {data}: not a dataset folder (no metadata.json)")
    else:
        data = find_dataset(ckpt, cfg.data_path)
    session = Session(model=model, meta=meta, description=cfg.arch.describe(count_parameters(model)),
                      max_segments=max_segments or default_segments_limit(model.halt_max_steps), dataset=data)
    solver = session.solver
    if solver is not None:  # whole task files (ARC): the picker offers held-out tasks
        if data is not None:
            from hrmkit.data.format import read_metadata
            from hrmkit.evaluate import check_compatible

            check_compatible(meta, read_metadata(data), str(data))
        session.examples = solver.examples(data, meta, examples) if examples else []
    elif data is not None and examples:
        session.examples = load_examples(data, meta, examples)
    return session


# --------------------------------------------------------------------------- requests


def _other_task(text: str, meta: DatasetMetadata) -> str | None:
    """The registered task whose parser reads ``text`` as a puzzle, when this model's does not (a hint)."""
    for name in task_names():
        if name == meta.task:
            continue
        try:
            get_task(name).parse(text, meta)
        except HrmError as e:
            if str(e).startswith("bad puzzle"):  # the other parser rejects it too
                continue
        except Exception:
            continue
        return name
    return None


def _segments(body: dict[str, Any], session: Session) -> int:
    if "segments" in body and "steps" in body:
        raise HrmError('give "segments" (or its old name "steps"), not both')
    segments = body.get("segments", body.get("steps", session.model.halt_max_steps))
    if isinstance(segments, bool) or not isinstance(segments, int):
        raise HrmError(f"segments must be a whole number, got {jsonio.shown(segments)}")
    if segments < 1:
        raise HrmError(f"segments must be at least 1, got {segments}")
    if segments > session.max_segments:
        raise HrmError(f"segments must be at most {session.max_segments} on this server (hrm serve --max-segments), "
                       f"got {jsonio.shown(segments)}")
    return segments


def _parse(text: Any, session: Session) -> np.ndarray:
    if not isinstance(text, str) or not text.strip():
        raise HrmError("give the puzzle as text in \"puzzle\"")
    try:
        return session.task.parse(text, session.meta)
    except HrmError as e:
        other = _other_task(text, session.meta)
        if other is not None:
            raise HrmError(f"this model solves {session.meta.task} puzzles; that looks like a {other} puzzle") from None
        raise HrmError(str(e)) from None


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def request_body(limit: int) -> dict[str, Any]:
    """The request's JSON object, or a one-line HrmError (400); a body over ``limit`` bytes is a 413 however it is sent."""
    if not request.is_json:
        given = jsonio.shown(request.mimetype) if request.mimetype else "none"
        raise HrmError(f'send a JSON object {{"puzzle": TEXT, "segments": N}} with Content-Type: application/json (got {given})')
    # MAX_CONTENT_LENGTH (limit + 1) refuses a Content-Length over the limit unread, but a chunked body is cut at it
    # silently, so one byte past the limit is read to tell "too large" from "exactly the limit".
    data = request.get_data(cache=False)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    body = jsonio.loads(data, "request body")
    if not isinstance(body, dict):
        raise HrmError(f'send a JSON object {{"puzzle": TEXT, "segments": N}}, not a JSON {_JSON_KINDS.get(type(body), "value")}')
    return body


def variants_control(solver: TaskSolver) -> VariantsControl:
    """The solver's variants setting; one that shows none runs the task as given (1 variant)."""
    return next((c for c in solver.page_controls if isinstance(c, VariantsControl)), VariantsControl(maximum=1, default=1))


def _whole_task(body: dict[str, Any], session: Session, solver: TaskSolver, segments: int) -> dict[str, Any]:
    text = body.get("puzzle")
    if not isinstance(text, str) or not text.strip():
        raise HrmError("give the task as JSON text (or a held-out task id) in \"puzzle\"")
    control = variants_control(solver)
    variants = body.get("variants", control.default)
    if isinstance(variants, bool) or not isinstance(variants, int) or not 1 <= variants <= control.maximum:
        raise HrmError(f"variants must be a whole number from 1 to {control.maximum} on this server, got {jsonio.shown(variants)}")
    index = body.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise HrmError(f"index must be a test input number or null (every test input), got {jsonio.shown(index)}")
    started = time.perf_counter()
    with session.lock, torch.inference_mode():
        result = solver.solve_text(session.model, session.meta, text, name="pasted task", dataset=session.dataset, index=index,
                                   variants=variants, segments=segments)
    return {**solver.payload(result), "seconds": round(time.perf_counter() - started, 4)}


def trace_payload(trace: SolveTrace, session: Session) -> dict[str, Any]:
    task, meta = session.task, session.meta
    puzzle = task.cells(trace.puzzle, meta)
    segments, previous = [], puzzle
    for s in trace.segments:
        cells = task.cells(s.prediction, meta)
        segments.append({
            "segment": s.segment, "cells": cells, "changed": [i for i, (a, b) in enumerate(zip(cells, previous)) if a != b],
            "q_halt": s.q_halt_logit, "q_continue": s.q_continue_logit, "p_halt": s.q_halt_prob, "halts": s.halts, "valid": s.valid,
        })
        previous = cells
    return {"task": meta.task, "grid_shape": list(meta.grid_shape), "puzzle": puzzle, "segments": segments,
            "halt_rule": trace.halt_rule, "halt_max_steps": trace.halt_max_steps, "halt_step": trace.halt_step,
            "decision": trace.decision()}


def create_app(session: Session) -> Flask:
    app = Flask("hrmkit.serve", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = session.max_body_bytes + 1  # a larger Content-Length gets 413 before it is read (request_body)
    app.json.sort_keys = False
    static = resources.files("hrmkit") / "static"

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> tuple[Response, int]:
        messages = {413: f"request body too large (at most {session.max_body_bytes // 1024} KiB)"}
        if isinstance(e, ClientDisconnected):  # also a body that did not arrive within READ_TIMEOUT_SECONDS
            return jsonify(error="request body incomplete: the connection closed or sent it too slowly"), 400
        return jsonify(error=messages.get(e.code or 500, e.description)), e.code or 500

    @app.errorhandler(HrmError)
    def _user_error(e: HrmError) -> tuple[Response, int]:
        return jsonify(error=str(e)), 400

    @app.get("/")
    def _index() -> Response:
        return _static("index.html")

    @app.get("/favicon.ico")
    def _favicon() -> tuple[str, int]:
        return "", 204  # browsers ask for one; answering "none" keeps their consoles free of 404s

    @app.get("/static/<name>")
    def _static(name: str) -> Response:
        if name not in STATIC_FILES:
            return jsonify(error=f"no such file: {name}"), 404
        return Response((static / name).read_bytes(), mimetype=STATIC_FILES[name])

    @app.get("/api/info")
    def _info() -> Response:
        solver = session.solver
        return jsonify(task=session.meta.task, grid_shape=list(session.meta.grid_shape), model=session.description,
                       halt_rule=session.model.halt_rule, halt_max_steps=session.model.halt_max_steps, max_segments=session.max_segments,
                       examples=session.examples, whole_task=solver is not None, input_hint=session.task.input_hint,
                       controls=[] if solver is None else [control_json(c) for c in solver.page_controls])

    @app.post("/api/solve")
    def _solve() -> Response:
        body = request_body(session.max_body_bytes)
        segments = _segments(body, session)
        solver = session.solver
        if solver is not None:
            return jsonify(**_whole_task(body, session, solver, segments))
        tokens = _parse(body.get("puzzle"), session)
        started = time.perf_counter()
        with session.lock, torch.inference_mode():
            trace = solve(session.model, session.meta, tokens, segments=segments)
        return jsonify(**trace_payload(trace, session), seconds=round(time.perf_counter() - started, 4))

    return app


# --------------------------------------------------------------------------- the server


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address in brackets, as in a URL


class _DeadlineReader(io.RawIOBase):
    """A connection's bytes, read against one deadline for the whole request: a per-read timeout alone would let a
    client that sends a byte every few seconds (a slow-loris) hold its worker thread for ever."""

    def __init__(self, sock: socket.socket, seconds: float):
        self._sock, self._seconds, self._deadline = sock, seconds, time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"request not received within {self._seconds:g} s")
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._seconds)  # sending the answer keeps the plain per-send limit


class _Handler(WSGIRequestHandler):
    """Werkzeug's handler with a deadline on reading the request and a timeout on sending the answer. Werkzeug closes
    every connection after one request, so the deadline, counted from the connection's start, is per request."""

    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # StreamRequestHandler sets it on the socket: the per-send limit
        super().setup()
        self.rfile.close()  # the buffered socket file setup() opened, replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.server.read_timeout))


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server, failing to listen with one HrmError (Werkzeug prints lines and exits)."""

    def __init__(self, host: str, port: int, app: Any, read_timeout: float):
        self.read_timeout = read_timeout
        super().__init__(host, port, app, _Handler)

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as e:  # in use, no such address here, a name that does not resolve, a port < 1024 without the right
            self.socket.close()
            raise HrmError(f"cannot listen on {_host_port(self.host, self.port)} ({e.strerror or e})") from None


def check_port(port: int) -> None:
    # The OS would take 70000 as 70000 - 65536 and listen elsewhere than asked.
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise HrmError(f"port must be 0 (any free port) or 1..65535, got {jsonio.shown(port)}")


def listen(app: Flask | None, host: str = "127.0.0.1", port: int = 8000, *, read_timeout: float | None = None) -> _Server:
    """A threaded server bound and listening (port 0: a free one, ``server.server_port``) or a one-line HrmError;
    ``app`` may be set later, before ``serve_forever``. ``read_timeout`` defaults to READ_TIMEOUT_SECONDS."""
    check_port(port)
    return _Server(host, port, app, READ_TIMEOUT_SECONDS if read_timeout is None else read_timeout)


def serve(path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000, dataset: str | os.PathLike | None = None,
          examples: int = 8, max_segments: int | None = None, max_steps: int | None = None) -> None:
    """Serve the page until Ctrl-C. Port 0 takes a free port; the URL printed names the one taken. ``max_segments``: the
    most segments one request may ask for (default :func:`default_segments_limit`); ``max_steps`` is its old name."""
    if max_steps is not None:
        if max_segments is not None:
            raise HrmError("give max_segments (or its old name max_steps), not both")
        max_segments = max_steps
    check_at_least("max_segments", max_segments, 1)
    server = listen(None, host, port)  # before the model loads: a port in use is told at once, not after a minute
    try:
        session = open_session(path, dataset=dataset, examples=examples, max_segments=max_segments)
    except BaseException:
        server.server_close()
        raise
    server.app = create_app(session)
    print(f"{session.description}\n{len(session.examples)} examples to pick; up to {session.max_segments} segments per request", flush=True)
    if not is_loopback(host):
        print(f"note: listening on {host}: anyone who can reach this machine can use the page (there is no login)", flush=True)
    print(f"serving on http://{_host_port(host, server.server_port)}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
