"""What a capacity search leaves: ``capacity.csv`` (one row per step), the ``capacity``
block of summary.json, and the step table printed at the end."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

FILENAME = "capacity.csv"
COLUMNS: tuple[str, ...] = (
    "step", "phase", "offered", "offered_actual", "achieved", "p50", "p95", "p99",
    "success", "missed_share", "backlog_slope", "basefee_growth", "fired", "finished",
    "gen_process_cpu", "gen_loop_cpu", "gen_loop_lag_p99", "gen_send_wait_p99",
    "firing_lag_p99", "rpc_requests", "rpc_throttled", "rpc_held_sec", "rpc_gave_up",
    "verdict", "why",
)  # fmt: skip


def why(step: dict[str, Any]) -> str:
    """The SLOs a step missed, then what held it back (provider, generator)."""
    return "; ".join(step["failures"] + step.get("provider_throttled_reasons", [])
                     + step["generator_bound_reasons"])


def csv_row(step: dict[str, Any]) -> list[Any]:
    """One row from a step's dict (``utils.load.capacity.StepResult.as_dict``)."""
    f = step

    def num(key: str, digits: int = 6) -> str:
        value = f.get(key)
        return "" if value is None else f"{value:.{digits}f}"

    return [
        f["step"], f["phase"], f"{f['offered']:.3f}", num("offered_actual", 3),
        num("achieved", 3), num("p50"), num("p95"), num("p99"), num("success"),
        num("missed_share"), num("backlog_slope", 3), num("basefee"), f.get("fired", 0),
        f.get("finished", 0), num("gen_process_cpu", 4), num("gen_loop_cpu", 4),
        num("gen_loop_lag_p99"), num("gen_send_wait_p99"), num("firing_lag_p99"),
        f.get("rpc_requests", ""), f.get("rpc_throttled", ""), num("rpc_held", 3),
        f.get("rpc_gave_up", ""), f["verdict"], why(f),
    ]  # fmt: skip


class CapacityCsv:
    """``capacity.csv`` in the run directory: header now, a flushed row per step."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / FILENAME
        self._fh: IO[str] | None = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(COLUMNS)
        self._fh.flush()

    def write(self, step: dict[str, Any]) -> None:
        if self._fh is None:
            return
        self._writer.writerow(csv_row(step))
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


_TABLE = (("step", 4), ("phase", 7), ("offered/s", 9), ("achieved/s", 10), ("p95(s)", 7),
          ("p99(s)", 7), ("success", 7), ("backlog", 7), ("cpu", 5), ("lag99", 6),
          ("throttled", 9), ("verdict", 18))


def step_table(steps: list[dict[str, Any]]) -> str:
    """A fixed-width table of the steps (their dicts), in the order they ran."""
    rows = [[name for name, _ in _TABLE]]
    for f in steps:
        rows.append([
            str(f["step"]), f["phase"], f"{f['offered']:.1f}", f"{f['achieved']:.1f}",
            f"{f['p95']:.3f}", f"{f['p99']:.3f}", f"{f['success']:.2%}",
            f"{f['backlog']:+.1%}", f"{f.get('gen_loop_cpu', 0.0):.0%}",
            f"{f.get('gen_loop_lag_p99', 0.0) * 1000:.0f}ms",
            f"{f.get('rpc_throttled', 0)}/{f.get('rpc_requests', 0)}", f["verdict"],
        ])  # fmt: skip
    widths = [max(w, *(len(r[i]) for r in rows)) for i, (_, w) in enumerate(_TABLE)]
    lines = ["  ".join(c.rjust(w) if 0 < i < len(widths) - 1 else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
