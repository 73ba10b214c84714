"""The live console's JSON API and event stream as a Flask blueprint (docs/console.md).

The routes only translate HTTP to calls on a :class:`ConsoleHost` (the run, or console
mode's runs) and back: a body that is not a JSON object, or anything the host refuses
(:class:`ApiError`), is answered with ``{"error": ...}`` and its 4xx status, and changes
nothing. The guard of every POST (JSON only, same origin, token) runs before these routes
(:class:`server.ControlGuard`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, request, send_file

from utils.observe.console_stream import Broadcast

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refused call: its HTTP status and what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConsoleHost(Protocol):
    broadcast: Broadcast

    def state(self) -> dict[str, Any]: ...

    def set_rates(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def set_paused(self, workload: Any, paused: bool) -> dict[str, Any]: ...

    def stop(self) -> dict[str, Any]: ...

    def start_run(self, kind: str, args: Any) -> dict[str, Any]: ...

    def runs(self) -> list[dict[str, Any]]: ...

    def run_file(self, run_id: str, name: str) -> Path | None: ...


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def api_blueprint(host: ConsoleHost) -> Blueprint:
    bp = Blueprint("console_api", __name__)

    @bp.errorhandler(ApiError)
    def _refused(exc: ApiError) -> tuple[Response, int]:
        log.info("console call %s %s refused (%d): %s", request.method, request.path,
                 exc.status, exc.message)
        return jsonify({"error": exc.message}), exc.status

    @bp.get("/api/state")
    def _state() -> Response:
        return jsonify(host.state())

    @bp.get("/api/events")
    def _events() -> Response:
        stream = host.broadcast.stream(host.state)
        response = Response(stream, mimetype="text/event-stream", direct_passthrough=True)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    _steering(bp, host)
    _runs(bp, host)
    return bp


def _steering(bp: Blueprint, host: ConsoleHost) -> None:
    """The calls that change the run going."""

    @bp.post("/api/rates")
    def _rates() -> Response:
        return jsonify(host.set_rates(_body()))

    @bp.post("/api/pause")
    def _pause() -> Response:
        return jsonify(host.set_paused(_body().get("workload"), True))

    @bp.post("/api/resume")
    def _resume() -> Response:
        return jsonify(host.set_paused(_body().get("workload"), False))

    @bp.post("/api/stop")
    def _stop() -> tuple[Response, int]:
        return jsonify(host.stop()), 202



def _runs(bp: Blueprint, host: ConsoleHost) -> None:
    """Console mode's runs: start one, list them, serve their outputs."""

    @bp.post("/api/runs")
    def _start() -> tuple[Response, int]:
        body = _body()
        return jsonify(host.start_run(str(body.get("kind", "benchmark")), body.get("args"))), 201

    @bp.post("/api/capacity")
    def _capacity() -> tuple[Response, int]:
        return jsonify(host.start_run("capacity", _body().get("args"))), 201

    @bp.get("/api/runs")
    def _runs() -> Response:
        return jsonify({"runs": host.runs()})

    @bp.get("/runs/<run_id>/<path:name>")
    def _run_file(run_id: str, name: str) -> Response:
        path = host.run_file(run_id, name)
        if path is None:
            raise ApiError(404, f"no file {name!r} in run {run_id!r}")
        return send_file(path, max_age=0)
