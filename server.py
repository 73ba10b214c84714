"""HTTP endpoints of a run: /health, /metrics (Prometheus text), /kpis (JSON), and the live
console's API (docs/console.md) when one is given.

``create_app`` builds the Flask app from what it must serve (nothing global);
``ServerThread`` serves it with werkzeug's threaded WSGI server in a daemon
thread, on a socket bound up front so a taken port is a clear ``ConfigError``.
:class:`ControlGuard` is what every control call (a POST under /api/) passes first: JSON
only, same origin only, and the start's token when the server is bound beyond 127.0.0.1.
"""

from __future__ import annotations

import errno
import hmac
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Request, Response, jsonify, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from utils.errors import ConfigError
from utils.redact import redact_text
from utils.web.routes import register_page

log = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]
KpiSource = Callable[[], dict[str, Any]]
RegistrySource = CollectorRegistry | Callable[[], CollectorRegistry | None]
#: the addresses a server may be bound to without a token for control calls
TRUSTED_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
TOKEN_HEADER = "X-Kcstress-Token"


class ControlGuard:
    """The checks of a control call. ``token`` None: bound to a trusted loopback address."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    @classmethod
    def for_host(cls, host: str) -> ControlGuard:
        """A guard with a new token unless ``host`` is one of :data:`TRUSTED_HOSTS`."""
        return cls(None if host in TRUSTED_HOSTS else secrets.token_urlsafe(24))

    def refusal(self, req: Request) -> tuple[int, str] | None:
        """(status, reason) when ``req`` may not control anything, else None."""
        if req.mimetype != "application/json":
            return 415, "control calls take a JSON body (Content-Type: application/json)"
        site = req.headers.get("Sec-Fetch-Site", "")
        if site in ("cross-site", "same-site"):
            return 403, f"cross-origin control calls are refused (Sec-Fetch-Site: {site})"
        origin = req.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != req.host:
            return 403, "cross-origin control calls are refused (Origin is not this server)"
        if self.token is None and urlsplit(f"//{req.host}").hostname not in TRUSTED_HOSTS:
            # no token on loopback: a page of another site whose name was re-bound to
            # 127.0.0.1 (DNS rebinding) would pass the Origin check with its own Host
            return 403, (f"control calls without a token take a loopback Host "
                         f"({', '.join(sorted(TRUSTED_HOSTS))}), not {req.host!r}")
        if self.token is not None and not self._token_ok(req):
            return 401, ("this server is bound beyond loopback: control calls need its token "
                         f"(Authorization: Bearer TOKEN or {TOKEN_HEADER}: TOKEN)")
        return None

    def _token_ok(self, req: Request) -> bool:
        assert self.token is not None
        given = req.headers.get(TOKEN_HEADER, "")
        scheme, _, value = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        return hmac.compare_digest(given.encode(), self.token.encode())


def create_app(*, registry: RegistrySource, health: HealthCheck, kpis: KpiSource,
               api: Blueprint | None = None, guard: ControlGuard | None = None) -> Flask:
    """The app: ``health()`` -> (ok, details), ``kpis()`` -> JSON-able dict; ``registry`` a
    registry or a callable giving the current one (console mode: the running run's);
    ``api`` the console's routes, every POST under /api/ passing ``guard`` first."""
    app = Flask("kcstress")
    control = guard or ControlGuard(None)
    if api is not None:
        app.register_blueprint(api)

    @app.before_request
    def _guard() -> tuple[Response, int] | None:
        if request.method != "POST" or not request.path.startswith("/api/"):
            return None
        refused = control.refusal(request)
        if refused is None:
            return None
        status, reason = refused
        log.warning("control call %s refused (%d): %s", request.path, status, reason)
        return jsonify({"error": reason}), status

    @app.get("/health")
    def _health() -> tuple[Response, int]:
        try:
            ok, details = health()
        except Exception as exc:  # a failing check is an unhealthy run, not a 500
            log.exception("health check failed")
            reason = redact_text(f"health check raised {type(exc).__name__}: {exc}")
            ok, details = False, {"reason": reason}
        if ok:
            return jsonify({**details, "status": "ok"}), 200
        body = {**details, "status": "unhealthy"}
        body.setdefault("reason", "unhealthy")
        return jsonify(body), 503

    @app.get("/metrics")
    def _metrics() -> Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        current = registry if isinstance(registry, CollectorRegistry) else registry()
        body = encoder(current) if current is not None else b""
        return Response(body, status=200, content_type=content_type)

    @app.get("/kpis")
    def _kpis() -> Response:
        return jsonify(kpis())

    register_page(app)  # / (the live console page) and /assets/<name>
    return app


class _QuietHandler(WSGIRequestHandler):
    """Request lines at DEBUG: a 1 s scrape must not flood the run's log. The query string is
    left out (a page opened with ``?token=...`` must not put its token in a log)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        method, _, rest = self.requestline.partition(" ")
        target, _, version = rest.partition(" ")
        line = f"{method} {target.split('?', 1)[0]} {version}"
        log.debug("%s %s %s", self.address_string(), line, code)


class ServerThread:
    """Serve ``app`` on ``host:port`` (port 0 = any free one) in a daemon thread."""

    def __init__(self, app: Flask, *, host: str = "127.0.0.1", port: int = 0,
                 setting: str = "--port") -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.setting = setting  # what a bind error names: the option or variable of ``port``
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (meaningful once started)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ServerThread:
        if self._server is not None:
            return self
        sock = _bind(self.host, self.requested_port, self.setting)
        try:
            self._server = make_server(
                self.host, 0, self.app, threaded=True, request_handler=_QuietHandler,
                fd=sock.fileno(),
            )  # fmt: skip
        finally:
            sock.close()  # the server holds its own duplicate of the descriptor
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="kcstress-http", daemon=True,
        )  # fmt: skip
        self._thread.start()
        log.info("HTTP endpoints on %s (/health /metrics /kpis)", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout)
        server.server_close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_port(host: str, port: int, setting: str = "--port",
               host_setting: str = "--host") -> None:
    """ConfigError (naming ``setting``, or ``host_setting`` for a host that does not resolve)
    unless ``host:port`` can be listened on now; the socket is closed again (a run checks
    this before it starts its chain)."""
    _bind(host, port, setting, host_setting).close()


def _bind(host: str, port: int, setting: str = "--port",
          host_setting: str = "--host") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            raise ConfigError(host_setting, f"cannot listen on {host!r}: {exc.strerror}"
                              ) from exc
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(setting, f"port {port} on {host} is already in use (another "
                              "run? --port 0 takes any free port)") from exc
        reason = exc.strerror or str(exc)
        raise ConfigError(setting, f"cannot listen on {host}:{port}: {reason}") from exc
    return sock
