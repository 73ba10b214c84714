"""A process of its own that draws a run's figures for report.html.

matplotlib costs a run about 0.45 s of import and 0.6 s of drawing. Imported in the run's
process during its set-up, the import held the GIL the set-up's event loop needed (deploy
and funding took 0.1-0.2 s longer); drawn there at the end, the figures came after the
verification and the summary, one after another. :meth:`FigureProcess.spawn` starts
``python -m utils.report.figure_process``, which imports matplotlib at once and waits on its
stdin; :meth:`FigureProcess.request` hands it the run directory once its CSV files are closed
(the run then verifies its books and records meanwhile), and it draws the figures from those
files as ``main.py report`` would (two processes at once: :mod:`utils.report.figures`) and
writes them to its stdout as one JSON object; :meth:`FigureProcess.result` reads them. It
ends at EOF on its stdin (the run ended without asking), and a result that does not come
(an error, ``RESULT_TIMEOUT_S``) leaves the figures to :func:`utils.report.html.build_report`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DrawnFigures:
    """Figures drawn from a run directory's files, with the latency target they show."""

    max_latency: float | None
    pngs: dict[str, str]  # figure key -> base64 PNG


class FigureProcess:
    """One run's figure process: :meth:`spawn`, :meth:`request` once, :meth:`result`."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.max_latency: float | None = None
        self.requested = False

    @classmethod
    def spawn(cls) -> FigureProcess | None:
        env = dict(os.environ)
        env.pop("PRIVATE_KEY", None)  # it needs no key
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "utils.report.figure_process"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=PROJECT_ROOT,
                start_new_session=True, close_fds=True)  # a Ctrl-C is the run's to handle
        except OSError as exc:
            log.warning("no figure process (%s): the report draws its figures itself", exc)
            return None
        return cls(process)

    def request(self, run_dir: Path, max_latency: float | None) -> None:
        """Draw the figures of ``run_dir`` (its CSV files are complete) now."""
        assert self.process.stdin is not None
        self.requested, self.max_latency = True, max_latency
        line = json.dumps({"run_dir": str(run_dir), "max_latency": max_latency})
        try:
            self.process.stdin.write(line.encode() + b"\n")
            self.process.stdin.close()
        except OSError as exc:  # it died: result() says so
            log.warning("figure process gone before its request: %s", exc)

    def result(self, timeout: float = RESULT_TIMEOUT_S) -> DrawnFigures | None:
        """The figures it drew, or None (not requested, failed, or late: then it is killed)."""
        if not self.requested:
            self.stop()
            return None
        out = self._read(timeout)
        if out is None:
            self._kill()
            return None
        code = self.process.wait()
        errors = self._stderr()  # it has ended: its stderr is complete
        self._close()
        if code != 0:
            log.warning("the figure process failed (exit %d): %s", code, errors)
            return None
        try:
            pngs = json.loads(out)
        except ValueError:
            pngs = None
        if not isinstance(pngs, dict) or not all(isinstance(v, str) for v in pngs.values()):
            log.warning("the figure process sent no figures: %r", out[:200])
            return None
        return DrawnFigures(self.max_latency, pngs)

    def stop(self) -> None:
        """End it (not needed, or the run is over) and reap it. Idempotent."""
        self._kill()

    def _read(self, timeout: float) -> bytes | None:
        assert self.process.stdout is not None
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    continue
                chunk = os.read(self.process.stdout.fileno(), 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        log.warning("the figure process did not answer within %g s", timeout)
        return None

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        self._close()

    def _close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _stderr(self) -> str:
        if self.process.stderr is None:
            return "(no stderr)"
        try:
            return self.process.stderr.read()[-2000:].decode(errors="replace").strip()
        except (OSError, ValueError):
            return "(no stderr)"


def lowest_priority() -> None:
    """SCHED_IDLE where there is one (Linux: any other task preempts it at once, so the
    run's request/response ping-pong with its chain never waits on it), else nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):
            os.nice(19)


def serve(stdin: int, stdout: int) -> int:
    """The process' body: import, wait for the request, draw, answer; at the lowest
    priority: it takes only the CPU the run leaves (its set-up and verification go first)."""
    lowest_priority()
    from utils.report import plots  # noqa: F401  the import it was started early for
    from utils.report.data import load_run
    from utils.report.figures import render_figures

    with os.fdopen(stdin, "rb") as requests:
        line = requests.readline()
    if not line:  # the run ended without asking
        return 0
    request = json.loads(line)
    data = load_run(Path(request["run_dir"]))
    pngs = render_figures(data, max_latency=request["max_latency"])
    with os.fdopen(stdout, "wb") as answer:
        answer.write(json.dumps(pngs).encode("ascii"))
    return 0


if __name__ == "__main__":
    code = serve(sys.stdin.fileno(), sys.stdout.fileno())
    sys.stderr.flush()
    os._exit(code)  # answered: the interpreter's teardown of matplotlib's heap took 0.15 s
