"""The report's PNG figures, rendered by two processes at once where the machine has the cores.

The bar figures of report.html (outcomes, gas, IoT stages; the time series and capacity
curves are interactive charts: :mod:`utils.report.charts_html`) cost CPU (matplotlib's tick
and text layout, then PNG encoding), single-threaded. :func:`render_figures` forks once
when more than one core is free to this process: the child renders about half of the
figures (balanced by their panels) and sends their PNGs back through a pipe, while this
process renders the other half. A figure the child does not deliver (it failed, or it was
not done by ``CHILD_DEADLINE_S``) is rendered here, so the figures are the same either way;
the child is always reaped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from utils.report.data import ReportData

log = logging.getLogger(__name__)

CHILD_DEADLINE_S = 120.0  # the child's whole share; its figures are redone here after it


@dataclass(frozen=True)
class Figure:
    key: str
    panels: int  # its share of the work: matplotlib's cost goes mostly by axes
    draw: Callable[[], str]  # base64 PNG


def _plots() -> Any:
    from utils.report import plots  # matplotlib only when a figure is drawn

    return plots


def report_max_latency(data: ReportData) -> float | None:
    """summary.json's latency target (recorded with the figures drawn during the run)."""
    value = (data.summary.get("targets") or {}).get("max_latency_sec")
    return float(value) if value is not None else None


def figures_of(data: ReportData, max_latency: float | None) -> list[Figure]:
    """The figures ``data`` has data for, in the report's order; nothing is drawn yet."""
    out: list[Figure] = []
    if data.tx:
        out.append(Figure("outcomes", 1, lambda: _plots().outcomes(data)))
        out.append(Figure("gas", 1, lambda: _plots().gas(data)))
    if data.iot_stages:
        out.append(Figure("iot", 1, lambda: _plots().iot_stages(data)))
    if any(h.count for h in data.finality.values()):
        out.append(Figure("finality", 1, lambda: _finality_plot().finality(data)))
    return out


def _finality_plot() -> Any:
    from utils.report import finality_plot  # matplotlib only when a figure is drawn

    return finality_plot


def split(figures: list[Figure]) -> tuple[list[Figure], list[Figure]]:
    """Two shares of about equal panels (largest first, each to the lighter share)."""
    shares: tuple[list[Figure], list[Figure]] = ([], [])
    loads = [0, 0]
    for figure in sorted(figures, key=lambda f: -f.panels):
        lighter = loads.index(min(loads))
        shares[lighter].append(figure)
        loads[lighter] += figure.panels
    return shares


def free_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def render_figures(data: ReportData, *, max_latency: float | None = None,
                   fork: bool | None = None) -> dict[str, str]:
    """Figure key -> base64 PNG for every figure of ``data`` (the latency target drawn:
    ``max_latency``, default summary.json's); ``fork`` (default: when more than one core is
    free, fork exists and this process runs one thread: a fork copies no other thread, nor
    what locks they hold) renders half of them in a forked child."""
    if max_latency is None:
        max_latency = report_max_latency(data)
    figures = figures_of(data, max_latency)
    if fork is None:
        fork = hasattr(os, "fork") and free_cores() > 1 and threading.active_count() == 1
    if not fork or len(figures) < 2:
        return {f.key: f.draw() for f in figures}
    theirs, ours = split(figures)
    child = _fork(theirs)
    out = {f.key: f.draw() for f in ours}
    delivered = _collect(*child) if child is not None else {}
    for figure in theirs:
        png = delivered.get(figure.key)
        out[figure.key] = png if isinstance(png, str) else figure.draw()
    return {f.key: out[f.key] for f in figures}


def _fork(figures: list[Figure]) -> tuple[int, int] | None:
    """(pid, read end of its pipe) of a child rendering ``figures``; None if fork failed."""
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        log.warning("figures rendered in one process: fork failed (%s)", exc)
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        os.close(read_fd)
        _child(figures, write_fd)
    os.close(write_fd)
    return pid, read_fd


def _child(figures: list[Figure], write_fd: int) -> NoReturn:
    """The forked child: render, write one JSON object, exit without any of the parent's
    exit work (atexit, buffered files, the event loop it was forked from)."""
    code = 0
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):  # the parent's handlers are not its own
            signal.signal(sig, signal.SIG_DFL)
        with contextlib.suppress(ValueError):  # (only from the main thread)
            signal.set_wakeup_fd(-1)  # the parent's event loop's wake-up pipe
        logging.disable(logging.CRITICAL)  # the run's log is the parent's
        out: dict[str, str] = {}
        for figure in figures:
            try:
                out[figure.key] = figure.draw()
            except Exception:  # the parent draws it again and reports what fails
                code = 1
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(json.dumps(out).encode("ascii"))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _collect(pid: int, read_fd: int) -> dict[str, object]:
    """What the child sent by the deadline (nothing if it failed); the child is reaped."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + CHILD_DEADLINE_S
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([read_fd], [], [], left)[0]:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            log.warning("figure process %d not done in %g s: its figures are drawn here",
                        pid, CHILD_DEADLINE_S)
            os.kill(pid, signal.SIGKILL)
            return {}
        sent = json.loads(b"".join(chunks) or b"{}")
        return sent if isinstance(sent, dict) else {}
    except (OSError, ValueError) as exc:
        log.warning("figure process %d: %s; its figures are drawn here", pid, exc)
        return {}
    finally:
        os.close(read_fd)
        _reap(pid)


def _reap(pid: int) -> None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return
    if status:
        log.warning("figure process %d ended with status %d", pid, status)
