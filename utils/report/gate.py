"""A run as a release gate: the ``--threshold``, ``--baseline`` and ``--junit`` options of a
run and a capacity search, their checks before anything starts (a bad threshold must not
cost a run), and the JUnit file written from the run's summary.json at its end."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from utils.errors import ConfigError
from utils.observe.thresholds import Threshold, parse_all
from utils.report.junit import run_suite, write_junit
from utils.report.summary import FILENAME, read_summary, summary_verdict

THRESHOLD_HELP = (
    "a threshold on any figure, k6 style, repeatable, added to a scenario's [thresholds]: "
    "absolute ('payment_app.p95<1.5s', 'totals.success>=99.5%%', 'missed<=0.5%%', "
    "'payment_app.l1_gas_per_op<=900000', 'capacity.knee>=200') or relative to --baseline "
    "('p95<=+10%%', 'goodput>=-5%%'); a crossed threshold fails the run (exit 1). Figures: "
    "see docs/compare.md")


def add_gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                        help=THRESHOLD_HELP)
    parser.add_argument("--baseline", type=Path, metavar="RUN_DIR",
                        help="a finished run folder the relative thresholds compare with")
    parser.add_argument("--junit", type=Path, metavar="FILE",
                        help="write one JUnit XML test case per threshold to FILE (for CI)")


def gated_settings(settings: Any, args: argparse.Namespace) -> Any:
    """``settings`` with the command line's thresholds after the scenario's, checked:
    ConfigError naming a bad threshold (and where it was written), a relative threshold
    without a baseline, a baseline that is not a finished run folder, an unwritable --junit."""
    texts = [*settings.thresholds, *args.threshold]
    given = settings.given_as("thresholds") if settings.thresholds else "--threshold"
    where = [given] * len(settings.thresholds) + ["--threshold"] * len(args.threshold)
    baseline = args.baseline if args.baseline is not None else settings.baseline
    check_thresholds(parse_all(zip(texts, where, strict=True)), baseline)
    if args.junit is not None and not args.junit.resolve().parent.is_dir():
        raise ConfigError("--junit", f"{args.junit.parent} is not a directory")
    return settings.model_copy(update={"thresholds": texts, "baseline": baseline})


def check_thresholds(thresholds: list[Threshold], baseline: Path | None) -> None:
    relative = [t.text for t in thresholds if t.relative]
    if relative and baseline is None:
        raise ConfigError("--baseline", "needed by the relative thresholds "
                          + ", ".join(repr(t) for t in relative))
    if baseline is not None:
        read_summary(baseline)


def finish_junit(path: Path | None, run_dir: Path | None, code: int) -> None:
    """Write ``path`` (if given) from ``run_dir``'s verdict; a run that left no summary is
    one failing test case."""
    if path is None:
        return
    summary = None
    if run_dir is not None and (run_dir / FILENAME).is_file():
        summary = read_summary(run_dir, "--junit")
    verdict = summary_verdict(summary) if summary is not None else None
    name = str(summary.get("run_id")) if summary else "(no summary)"
    write_junit(path, [run_suite(name, verdict, code)])
