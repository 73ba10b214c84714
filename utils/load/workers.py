"""The parent's side of ``--workers N``: start worker processes, relay their events, end.

Each worker is ``python -m utils.run.worker``: its configuration (a JSON line, secrets
included, so it goes through the pipe and never into argv or the environment) and later ``go
START_AT`` and ``stop`` lines arrive on its stdin (and ``rate NAME SPEC`` lines when the run
is steered: the worker fires NAME at SPEC from then on); its events come back as frames on
its stdout as tallies (:mod:`utils.load.event_stream`) and are handed to the parent's stats
hub, so every sink of the run takes them as its own. Its log goes to ``worker-K.log`` in the
run directory. A worker whose stream ends before its ``done`` frame has died: the pool
records the reason and calls ``on_failure`` once, so the run stops and ends cleanly. The
stdin pipe doubles as a lifeline: a worker whose parent is gone sees end of file and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import KcStressError
from utils.load.event_stream import StreamError, read_frame, tally_of
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

WORKER_MODULE = "utils.run.worker"


class WorkerFailed(KcStressError):
    """A worker process died or reported an error."""


@dataclass
class WorkerProc:
    index: int
    proc: asyncio.subprocess.Process
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: dict[str, Any] | None = None
    events: int = 0
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return int(self.proc.pid)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit status {code}"


def relay(hub: StatsHub, body: Any) -> int:
    """Hand a worker's ``"tally"`` frame to ``hub``; how many events it tallied."""
    tally = tally_of(body)
    hub.emit_tally(tally)
    return tally.events


class WorkerPool:
    """``await start(configs)``, ``await go(start_at)``, ``await stop(timeout)``."""

    def __init__(self, hub: StatsHub, log_dir: Path,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.hub = hub
        self.log_dir = log_dir
        self.on_failure = on_failure
        self.workers: list[WorkerProc] = []
        self.failure: str | None = None

    async def start(self, configs: list[dict[str, Any]], timeout: float = 60.0) -> None:
        """Spawn one worker per config and wait until each is ready (or one fails)."""
        for index, config in enumerate(configs):
            with (self.log_dir / f"worker-{index}.log").open("ab") as log_file:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", WORKER_MODULE, stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE, stderr=log_file,
                    limit=2**20,
                )  # fmt: skip
            worker = WorkerProc(index, proc)
            self.workers.append(worker)
            self._write(worker, json.dumps(config) + "\n")
            worker.reader = asyncio.create_task(self._read(worker), name=f"worker-{index}")
            log.info("worker %d started (pid %d)", index, proc.pid)
        waits = [asyncio.create_task(w.ready.wait()) for w in self.workers]
        try:
            async with asyncio.timeout(timeout):
                while not all(w.ready.is_set() for w in self.workers):
                    if self.failure:
                        raise WorkerFailed(self.failure)
                    await asyncio.wait(waits, timeout=0.1)
        except TimeoutError:
            raise WorkerFailed(f"workers not ready within {timeout:g} s") from None
        finally:
            for wait in waits:
                wait.cancel()
        if self.failure:
            raise WorkerFailed(self.failure)
        log.info("%d workers ready", len(self.workers))

    async def go(self, start_at: float) -> None:
        for worker in self.workers:
            self._write(worker, f"go {start_at!r}\n")

    def steer(self, workload: str, spec: str) -> None:
        """Every worker fires ``workload`` at ``spec`` (its share: a rate or a profile string)
        from the moment the line reaches it."""
        for worker in self.workers:
            self._write(worker, f"rate {workload} {spec}\n")

    def _write(self, worker: WorkerProc, line: str) -> None:
        stdin = worker.proc.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(ConnectionError, RuntimeError):
                stdin.write(line.encode())

    async def _read(self, worker: WorkerProc) -> None:
        assert worker.proc.stdout is not None
        try:
            while (message := await read_frame(worker.proc.stdout)) is not None:
                kind, body = message
                if kind == "tally":
                    worker.events += relay(self.hub, body)
                elif kind == "ready":
                    worker.ready.set()
                elif kind == "done":
                    worker.done = dict(body)
                elif kind == "error":
                    self._fail(f"worker {worker.index} failed: {body}")
        except StreamError as exc:
            self._fail(f"worker {worker.index}: {exc}")
        code = await worker.proc.wait()
        if worker.done is None:
            self._fail(f"worker {worker.index} (pid {worker.pid}) died: {describe_exit(code)}")

    def _fail(self, reason: str) -> None:
        if self.failure is not None:
            return
        self.failure = reason
        log.error("%s; stopping the run", reason)
        if self.on_failure is not None:
            self.on_failure(reason)

    async def stop(self, timeout: float) -> None:
        """Ask every worker to stop and drain; kill those not done after ``timeout`` s."""
        for worker in self.workers:
            self._write(worker, "stop\n")
        readers = [w.reader for w in self.workers if w.reader is not None]
        if not readers:
            return
        _, late = await asyncio.wait(readers, timeout=timeout)
        for worker in self.workers:
            if worker.reader in late and worker.proc.returncode is None:
                log.warning("worker %d not done after %g s: killing it", worker.index, timeout)
                worker.proc.kill()
        if late:
            await asyncio.wait(late, timeout=5.0)

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"index": w.index, "pid": w.pid, "events": w.events,
             "exit": describe_exit(w.proc.returncode), **(w.done or {})}
            for w in self.workers
        ]  # fmt: skip
