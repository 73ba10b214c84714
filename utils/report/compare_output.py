"""What ``main.py compare`` leaves: the terminal table, ``compare.json`` and the JUnit
suite of a comparison (compare.html: :mod:`utils.report.compare_html`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.observe.verdict import Check, Status, format_value
from utils.report.compare import (
    FEE_FLOOR,
    IMPROVED,
    NOT_COMPARED,
    POINTS_FLOOR,
    REGRESSED,
    RELATIVE_FLOOR,
    Compared,
)
from utils.report.compare_data import RunData
from utils.report.compare_stats import CONFIDENCE, RESAMPLES
from utils.report.junit import Case, Suite, check_case

FILENAME = "compare.json"


@dataclass
class Comparison:
    """One new run against the base: every figure, and the thresholds judged on it."""

    base: RunData
    new: RunData
    figures: list[Compared]
    thresholds: list[Check] = field(default_factory=list)

    @property
    def regressed(self) -> list[Compared]:
        return [c for c in self.figures if c.verdict == REGRESSED]

    @property
    def crossed(self) -> list[Check]:
        return [c for c in self.thresholds if c.status is Status.MISSED]

    @property
    def failed(self) -> bool:
        return bool(self.regressed or self.crossed)


def fmt_change(c: Compared, value: float | None) -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return "from 0" if value > 0 else "to 0"
    return f"{value * 100:+.2f} pp" if c.points else f"{value:+.1%}"


def row_cells(c: Compared) -> list[str]:
    ci = "n/a" if c.low is None or c.high is None else \
        f"[{fmt_change(c, c.low)}, {fmt_change(c, c.high)}]"
    verdict = c.verdict.upper() if c.verdict in (REGRESSED, IMPROVED) else c.verdict
    return [c.name, format_value(c.unit, c.base), format_value(c.unit, c.new),
            fmt_change(c, c.change), ci, verdict]


def table(comparison: Comparison) -> str:
    """A fixed-width table of the figures, then the thresholds and the comparison's line."""
    head = ["figure", "base", "new", "change", f"{CONFIDENCE:.0%} interval", "verdict"]
    rows = [head, *(row_cells(c) for c in comparison.figures if c.verdict != NOT_COMPARED)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) if 0 < i < 5 else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    title = f"{comparison.new.label} against {comparison.base.label}"
    blocks = [r.block_seconds for r in (comparison.base, comparison.new)]
    if any(blocks):
        title += " (latency floor: one block, " + " / ".join(
            "n/a" if b is None else f"{b:.2f} s" for b in blocks) + ")"
    lines = [title, *lines]
    lines += [c.line() for c in comparison.thresholds]
    lines.append(headline(comparison))
    return "\n".join(lines)


def headline(comparison: Comparison) -> str:
    bad = [f"{c.name} regressed ({fmt_change(c, c.change)})" for c in comparison.regressed]
    bad += [c.line() for c in comparison.crossed]
    if bad:
        return f"{comparison.new.label} against {comparison.base.label}: FAILED: " \
            + "; ".join(bad)
    better = sum(c.verdict == IMPROVED for c in comparison.figures)
    return f"{comparison.new.label}: no regression against {comparison.base.label}" + \
        (f" ({better} figures improved)" if better else "")


def _run(run: RunData) -> dict[str, Any]:
    return {"dir": str(run.run_dir), "run_id": run.label,
            "seed": run.summary.get("seed"), "git_commit": run.summary.get("git_commit"),
            "block_seconds": run.block_seconds, "blocks_resampled": len(run.starts)}


def as_json(comparisons: list[Comparison], code: int) -> dict[str, Any]:
    return {
        "base": _run(comparisons[0].base) if comparisons else None,
        "method": {"confidence": CONFIDENCE, "resamples": RESAMPLES,
                   "relative_floor": RELATIVE_FLOOR, "points_floor": POINTS_FLOOR,
                   "fee_floor": FEE_FLOOR, "latency_floor": "one block interval",
                   "docs": "docs/compare.md"},
        "exit_code": code,
        "comparisons": [{
            "run": _run(c.new), "headline": headline(c),
            "regressed": [f.name for f in c.regressed],
            "improved": [f.name for f in c.figures if f.verdict == IMPROVED],
            "figures": [f.as_dict() for f in c.figures],
            "thresholds": [t.as_dict() for t in c.thresholds],
        } for c in comparisons],
    }


def write_json(out: Path, comparisons: list[Comparison], code: int) -> Path:
    path = out / FILENAME
    tmp = path.with_name(FILENAME + ".tmp")
    tmp.write_text(json.dumps(as_json(comparisons, code), indent=2) + "\n")
    tmp.replace(path)
    return path


def junit_suite(comparison: Comparison) -> Suite:
    """A case per compared figure (failed when regressed) and per threshold."""
    suite = Suite(f"kcstress compare {comparison.new.label} vs {comparison.base.label}")
    for c in comparison.figures:
        if c.verdict == NOT_COMPARED:
            suite.cases.append(Case("kcstress.compare", c.name, skipped="not measured in "
                                    "both runs"))
            continue
        _, base, new, change, ci, verdict = row_cells(c)
        line = f"{base} -> {new} ({change}, {CONFIDENCE:.0%} interval {ci})"
        suite.cases.append(Case("kcstress.compare", c.name, kind="regression",
                                failure=f"{c.name} regressed: {line}"
                                if c.verdict == REGRESSED else None,
                                details=f"{line}: {verdict}"))
    suite.cases += [check_case(t) for t in comparison.thresholds]
    return suite
