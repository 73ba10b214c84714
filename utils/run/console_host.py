"""The console's side of a run (docs/console.md): what ``/api/state`` shows, the steering
calls made on the running load, and, in console mode, starting runs one at a time.

Calls arrive in the HTTP server's threads; every change is made in the run's event loop
(:meth:`ConsoleHost._in_loop`), so the scheduler and the controls are touched by one thread
only. A refused call raises :class:`~utils.run.console_api.ApiError` before anything changed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from utils.errors import ConfigError
from utils.load.rate_control import AlreadyInState, SteeringError
from utils.observe.console_feed import totals
from utils.observe.console_stream import Broadcast
from utils.report.summary import strip_secrets
from utils.run.console_api import ApiError
from utils.run.run_index import list_runs, run_file

if TYPE_CHECKING:
    from utils.run.run import Run

log = logging.getLogger(__name__)

T = TypeVar("T")
#: console mode: (kind, argv) -> a Run ready to execute (ConfigError when the args are bad)
Starter = Callable[[str, list[str]], "Run"]
KINDS = ("benchmark", "capacity")
LOOP_CALL_TIMEOUT = 10.0


class ConsoleHost:
    """``mode`` "run": the host of one run, made by it; "console": of ``python main.py
    console``, whose runs ``starter`` makes."""

    def __init__(self, *, mode: str, out: Path, token_required: bool,
                 starter: Starter | None = None, broadcast: Broadcast | None = None) -> None:
        self.mode = mode
        self.out = out
        self.token_required = token_required
        self.starter = starter
        self.broadcast = broadcast or Broadcast()
        self.run: Run | None = None
        self.kind = "benchmark"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.last_report: str | None = None
        self.url = ""  # the server's, once it serves (console mode)
        self.after_run: Callable[[Run], None] | None = None  # console mode: run.log closed
        self._starting = threading.Lock()
        self._task: concurrent.futures.Future[int] | None = None
        self._started: Run | None = None

    # -- a run comes and goes ----------------------------------------------------------------
    def attach(self, run: Run, kind: str = "benchmark") -> None:
        """``run`` is the one steered from now (called in its event loop)."""
        self.run, self.kind, self.loop = run, kind, asyncio.get_running_loop()
        self.last_report = None
        run.base.timeline.listeners.append(lambda m: self.broadcast.publish("marker", m))
        self.broadcast.reset(self.state())

    def detach(self, run: Run, code: int) -> None:
        """``run`` ended with exit ``code``: the ``end`` event; nothing is steered now."""
        if self.run is not run:
            return
        report = run.base.run_dir / "report.html"
        self.last_report = f"/runs/{run.base.run_id}/report.html" if report.is_file() else None
        verdict = run.verdict
        self.broadcast.publish("end", {
            "run_id": run.base.run_id, "exit_code": code,
            "headline": verdict.headline() if verdict is not None else None,
            "report": self.last_report})  # fmt: skip
        self.run = None

    # -- reads -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        run = self.run
        return {
            "mode": self.mode, "token_required": self.token_required,
            "links": {"metrics": "/metrics", "kpis": "/kpis", "events": "/api/events",
                      "report": self.last_report},
            "run": self._run_state(run) if run is not None else None,
        }  # fmt: skip

    def _run_state(self, run: Run) -> dict[str, Any]:
        base = run.base
        agg, settings = base.aggregate, base.settings
        started = agg.started_at > agg.opened_at
        return {
            "id": base.run_id, "kind": self.kind, "phase": base.outputs.health.phase,
            "dir": str(base.run_dir),
            "elapsed": round(agg.load_elapsed(base.clock.now()), 3) if started else 0.0,
            "planned": settings.duration or None, "workers": settings.workers,
            "steerable": self._refusal(run) is None,
            "workloads": base.control.describe(), "totals": totals(agg),
            "settings": base.outputs.redactor.value(strip_secrets(settings.public_dict())),
        }  # fmt: skip

    def runs(self) -> list[dict[str, Any]]:
        return list_runs(self.out, self.run.base.run_id if self.run is not None else None)

    def run_file(self, run_id: str, name: str) -> Path | None:
        return run_file(self.out, run_id, name)

    # -- steering ----------------------------------------------------------------------------
    def _refusal(self, run: Run) -> str | None:
        base = run.base
        if base.stop.is_set():
            return f"run {base.run_id} is stopping"
        if self.kind == "capacity":
            return "a capacity search sets its own rates (POST /api/stop ends it)"
        if base.outputs.health.phase != "load" or not base.control.controls:
            return (f"run {base.run_id} is in its {base.outputs.health.phase} phase: changes "
                    "are taken during the load")
        return None

    def _in_loop(self, call: Callable[[Run], T], *, load_only: bool = True) -> T:
        """``call(run)`` in the run's event loop; its SteeringError as a 400."""
        run, loop = self.run, self.loop
        if run is None or loop is None:
            hint = " (start one: POST /api/runs)" if self.mode == "console" else ""
            raise ApiError(409, "no run is going" + hint)
        refusal = self._refusal(run) if load_only else None
        if refusal is not None:
            raise ApiError(409, refusal)
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def in_loop() -> None:
            try:
                done.set_result(call(run))
            except Exception as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(in_loop)
        try:
            return done.result(LOOP_CALL_TIMEOUT)
        except AlreadyInState as exc:
            raise ApiError(409, str(exc)) from None
        except SteeringError as exc:
            raise ApiError(400, str(exc)) from None
        except concurrent.futures.TimeoutError:
            raise ApiError(503, "the run did not answer in time") from None

    def set_rates(self, body: dict[str, Any]) -> dict[str, Any]:
        def apply(run: Run) -> dict[str, Any]:
            control = run.base.control
            changes = control.set_rates(control.check_rates(body))
            markers = [run.base.timeline.add("api", "rate", detail, name)
                       for name, detail in changes.items()]
            now = run.base.clock.now()
            return {"applied": {n: control.controls[n].describe(now) for n in changes},
                    "markers": markers}

        return self._in_loop(apply)

    def set_paused(self, workload: Any, paused: bool) -> dict[str, Any]:
        def apply(run: Run) -> dict[str, Any]:
            control = run.base.control.set_paused(workload, paused)
            what = "pause" if paused else "resume"
            marker = run.base.timeline.add("api", what, control.profile.describe(), control.name)
            return {"workload": control.name, "paused": control.paused, "marker": marker}

        return self._in_loop(apply)

    def stop(self) -> dict[str, Any]:
        def apply(run: Run) -> dict[str, Any]:
            if run.base.stop.is_set():
                raise ApiError(409, f"run {run.base.run_id} is already stopping")
            run.request_stop("POST /api/stop", who="api")
            return {"stopping": True, "drain_timeout": run.settings.drain_timeout}

        return self._in_loop(apply, load_only=False)

    # -- console mode ------------------------------------------------------------------------
    def start_run(self, kind: str, args: Any) -> dict[str, Any]:
        if self.mode != "console" or self.starter is None or self.loop is None:
            raise ApiError(409, "runs are started in console mode (python main.py console); "
                           "this server belongs to one run")
        if kind not in KINDS:
            raise ApiError(400, f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        argv = command_line(args)
        with self._starting:
            if self._task is not None and not self._task.done():
                going = self.run or self._started
                name = going.base.run_id if going is not None else "?"
                raise ApiError(409, f"run {name} is running; stop it first (POST /api/stop)")
            try:
                run = self.starter(kind, argv)
            except ConfigError as exc:
                raise ApiError(400, str(exc)) from None
            self._started = run  # named in a 409 until it attaches
            self._task = asyncio.run_coroutine_threadsafe(self.execute(run, kind), self.loop)
        return {"run_id": run.base.run_id, "dir": str(run.base.run_dir), "kind": kind}

    async def execute(self, run: Run, kind: str) -> int:
        """Console mode: run ``run`` to its end on this host."""
        self.kind = kind
        try:
            return await run.execute()
        except Exception as exc:
            log.error("run %s failed: %s", run.base.run_id, exc)
            self.detach(run, 2)
            return 2
        finally:
            if self.after_run is not None:
                self.after_run(run)

    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def close(self) -> None:
        self.broadcast.close()


def command_line(args: Any) -> list[str]:
    """``args`` as an argv: a list of strings as it is, or a dict of option -> value
    (``{"duration": 30, "rate": ["payment=50"]}``; a true boolean is a bare flag)."""
    if args is None:
        return []
    if isinstance(args, list) and all(isinstance(a, str) for a in args):
        return list(args)
    if not isinstance(args, dict):
        raise ApiError(400, "args: expected a list of strings or an object of options")
    argv: list[str] = []
    for key, value in args.items():
        flag = "--" + str(key).removeprefix("--").replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                argv.append(flag)
            elif item not in (None, False):
                argv += [flag, str(item)]
    return argv
