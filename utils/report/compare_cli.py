"""``python main.py compare BASE NEW [NEW...]``: each NEW run folder against BASE (runs, merged
shard runs, capacity searches), thresholds judged on each NEW, a table, compare.json,
compare.html and, with ``--junit``, a JUnit file. Exit 0: no regression and no threshold
crossed; 1: some; 2: bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.errors import ConfigError
from utils.observe.run_figures import run_figures
from utils.observe.thresholds import judge, parse_all
from utils.report.compare import RELATIVE_FLOOR, compare_runs
from utils.report.compare_data import load_run
from utils.report.compare_html import build_html
from utils.report.compare_output import Comparison, junit_suite, table, write_json
from utils.report.gate import THRESHOLD_HELP
from utils.report.junit import write_junit
from utils.report.summary import read_summary

EXIT_SAME, EXIT_WORSE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python main.py compare",
        description="Compare each NEW run folder with BASE: per workload, business operation, "
        "IoT pipeline and capacity search, every figure's change with a 99%% confidence "
        "interval (a block bootstrap over the runs' intervals and exact histograms) and a "
        "verdict: regressed, improved or no significant change (never regressed under the "
        "practical floor). Writes compare.json and compare.html (one offline file, the "
        "runs' curves overlaid). Method: docs/compare.md. Exit status: 0 no regression and "
        "no threshold crossed, 1 some, 2 bad input.")
    p.add_argument("base", type=Path, metavar="BASE", help="the base run folder")
    p.add_argument("new", type=Path, nargs="+", metavar="NEW", help="run folders to judge")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder of compare.json and compare.html (default: the last NEW)")
    p.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                   help=THRESHOLD_HELP.replace("fails the run", "fails the comparison")
                   + "; judged on each NEW run, relative ones against --baseline or BASE")
    p.add_argument("--baseline", type=Path, metavar="RUN_DIR",
                   help="the run the relative thresholds compare with (default: BASE)")
    p.add_argument("--junit", type=Path, metavar="FILE",
                   help="write a JUnit XML test case per compared figure and per threshold")
    p.add_argument("--floor", type=float, default=RELATIVE_FLOOR * 100, metavar="PERCENT",
                   help="smallest relative change that can be a regression or an "
                   "improvement (default %(default)g; shares: half a percentage point; fees: "
                   "at least 25; transaction latencies: also at least one block interval)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the bootstrap's draws (default 0: repeatable)")
    return p


def compare_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.floor < 0:
            raise ConfigError("--floor", f"must be >= 0, got {args.floor:g}")
        if args.junit is not None and not args.junit.resolve().parent.is_dir():
            raise ConfigError("--junit", f"{args.junit.parent} is not a directory")
        thresholds = parse_all((t, "--threshold") for t in args.threshold)
        base = load_run(args.base)
        news = [load_run(d) for d in args.new]
        baseline = run_figures(read_summary(args.baseline)) if args.baseline else base.figures
        out = args.out if args.out is not None else args.new[-1]
        out.mkdir(parents=True, exist_ok=True)
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    comparisons = [
        Comparison(base, new, compare_runs(base, new, seed=args.seed, floor=args.floor / 100),
                   judge(thresholds, new.figures, baseline))
        for new in news
    ]  # fmt: skip
    code = EXIT_WORSE if any(c.failed for c in comparisons) else EXIT_SAME
    for comparison in comparisons:
        print(table(comparison))
        print()
    print(write_json(out, comparisons, code))
    print(build_html(comparisons, out))
    if args.junit is not None:
        print(write_junit(args.junit, [junit_suite(c) for c in comparisons]))
    return code
