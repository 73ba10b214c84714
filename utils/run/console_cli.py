"""``python main.py console``: the live console without a run (docs/console.md).

The server starts alone, on ``--host``/``--port``; runs and capacity searches are started
through its API (``POST /api/runs``, ``POST /api/capacity``), one at a time, each with the
options its command line takes (parsed by main.py's :data:`Starter`), each writing its run
folder (and its run.log) under ``--out``. ``/metrics``, ``/health`` and ``/kpis`` show the run
going, if any. Ctrl-C stops the run going (it drains, as in a run alone); with none going,
or a second time, the console ends.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from server import ControlGuard, ServerThread, create_app
from utils.errors import ConfigError
from utils.redact import RedactFilter
from utils.run.console_api import api_blueprint
from utils.run.console_host import ConsoleHost
from utils.run.console_wiring import announce, hide_in_logs
from utils.run.log_setup import FORMAT
from utils.run.run_dir import check_out_dir

if TYPE_CHECKING:
    from utils.run.run import Run

log = logging.getLogger(__name__)

#: (kind, argv, console) -> a Run of the console; ConfigError naming a bad option
Starter = Callable[[str, list[str], ConsoleHost], "Run"]
#: options of a run that are the console's own
CONSOLE_OPTIONS = ("--host", "--port", "--out")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python main.py console",
        description="Serve the live console (the page at /, its event stream and JSON API) "
        "without a run: start benchmarks and capacity searches from the page or with POST "
        "/api/runs {\"kind\": \"benchmark\", \"args\": [\"--duration\", \"30\"]}, one at a "
        "time; the out folder's runs are listed with their verdicts and reports. See "
        "docs/console.md.",
        epilog="Bound to any address but 127.0.0.1/::1/localhost, control calls need the "
        "token printed once at start. Ctrl-C stops the run going (drain), else ends.",
    )
    p.add_argument("--host", default="127.0.0.1", metavar="HOST",
                   help="address to serve on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, metavar="PORT",
                   help="port (default 8000; 0 = any free port)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where runs are written and listed from (env LOG_DIR; default logs)")
    p.add_argument("--log-level", default="INFO",
                   choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def console_options(argv: list[str]) -> None:
    """ConfigError when a run's ``argv`` gives an option the console owns."""
    for arg in argv:
        if arg.split("=")[0] in CONSOLE_OPTIONS:
            raise ConfigError(arg.split("=")[0], "set by the console (python main.py console "
                              "--host/--port/--out), not per run")


def main(argv: list[str], starter: Starter, out_default: Path) -> int:
    args = build_parser().parse_args(argv)
    out = args.out or out_default
    logging.basicConfig(level=args.log_level, format=FORMAT, force=True,
                        handlers=[_handler(logging.StreamHandler(sys.stderr))])
    for noisy in ("werkzeug", "urllib3", "web3", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        check_out_dir(out, "--out")
        return asyncio.run(serve(args.host, args.port, out, starter))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _handler(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactFilter())
    return handler


async def serve(host: str, port: int, out: Path, starter: Starter) -> int:
    guard = ControlGuard.for_host(host)
    console = ConsoleHost(mode="console", out=out, token_required=guard.token is not None)
    console.starter = lambda kind, argv: _start(starter, kind, argv, console)
    console.loop = asyncio.get_running_loop()
    done = asyncio.Event()  # set when the console ends (a signal with no run going)
    console.after_run = lambda run: _after_run(run, console, done)
    app = create_app(registry=lambda: _registry(console), health=lambda: _health(console),
                     kpis=lambda: _kpis(console), api=api_blueprint(console), guard=guard)
    server = ServerThread(app, host=host, port=port).start()
    console.url = server.url
    if guard.token is not None:
        hide_in_logs(guard.token)
    announce(sys.stdout, server.url, guard.token)
    print(f"runs are written to {out}; start one: POST {server.url}/api/runs", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, console, done, sig)
    try:
        await done.wait()
        if console.busy():  # a signal while a run drains: let it finish its outputs
            await asyncio.wrap_future(console._task)  # type: ignore[arg-type]
    finally:
        console.close()
        server.stop()
    return 0


def _on_signal(console: ConsoleHost, done: asyncio.Event, sig: signal.Signals) -> None:
    run = console.run
    if run is not None and not run.base.stop.is_set():
        log.info("%s received: stopping run %s", sig.name, run.base.run_id)
        run.request_stop(sig.name, said="Ctrl-C" if sig is signal.SIGINT else sig.name)
        return
    log.info("%s received: the console ends", sig.name)
    done.set()


def _start(starter: Starter, kind: str, argv: list[str], console: ConsoleHost) -> Run:
    console_options(argv)
    run = starter(kind, argv, console)
    run.base.outputs.where = [f"console {console.url}/  run folder {run.base.run_dir}"]

    def attach_log(run_dir: Path) -> None:
        handler = _handler(logging.FileHandler(run_dir / "run.log"))
        handler.setLevel(logging.getLogger().level)
        logging.getLogger().addHandler(handler)
        run.log_handler = handler  # type: ignore[attr-defined]

    run.on_run_dir = attach_log
    return run


def _after_run(run: Run, console: ConsoleHost, done: asyncio.Event) -> None:
    """A run ended: its run.log closed; unless the console ends too, the terminal says it
    still serves (a Ctrl-C that stopped the run left it waiting, silent, for the next)."""
    handler = getattr(run, "log_handler", None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()
    if not done.is_set():
        print(f"console still serving at {console.url}/ (start the next run there; Ctrl-C "
              "ends the console)", flush=True)


def _registry(console: ConsoleHost) -> CollectorRegistry | None:
    return console.run.base.outputs.exposed if console.run is not None else None


def _health(console: ConsoleHost) -> tuple[bool, dict[str, Any]]:
    if console.run is None:
        return True, {"phase": "idle", "mode": "console"}
    return console.run.base.outputs.health_check()


def _kpis(console: ConsoleHost) -> dict[str, Any]:
    return console.run.base.outputs.public_kpis() if console.run is not None else {}
