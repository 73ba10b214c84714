"""A run's targets, each judged once into a :class:`~utils.observe.verdict.Check` from the
figures of a KPI snapshot: success rate and p95 of every transaction and of each workload,
missed firings, and the IoT pipeline's success rate, p95 and daily volume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from utils.observe.verdict import Check, Targets, check


def workload_checks(prefix: str, label: str, wl: Mapping[str, Any], targets: Targets,
                    *, always: bool) -> list[Check]:
    """Success rate and p95 of a set of transactions (a workload's or all of them);
    ``always``: list them even when nothing finished (then not evaluated)."""
    if not wl.get("finished"):
        if not always:
            return []
        why = "no transactions"
        return [check(f"{prefix}.success_rate", f"{label} success rate", None, ">=",
                      targets.success_rate, "ratio", not_evaluated=why),
                check(f"{prefix}.p95", f"{label} p95 latency", None, "<=",
                      targets.max_latency_sec, "s", not_evaluated=why)]
    return [check(f"{prefix}.success_rate", f"{label} success rate", wl["success_rate"], ">=",
                  targets.success_rate, "ratio"),
            check(f"{prefix}.p95", f"{label} p95 latency", wl["p95"], "<=",
                  targets.max_latency_sec, "s")]


def missed_check(tx: Mapping[str, Any], targets: Targets) -> Check:
    asked = tx.get("fired", 0) + tx.get("missed", 0)
    share = tx.get("missed", 0) / asked if asked else None
    return check("firings.missed_share", "missed firings", share, "<=", targets.max_missed_share,
                 "ratio", not_evaluated="" if asked else "nothing fired")


def iot_checks(kpis: Mapping[str, Any], targets: Targets, iot: bool) -> list[Check]:
    """IoT success rate and p95 over whole operations, and the volume (successful
    submissions per day, extrapolated from the load window: 0 when none succeeded)."""
    why = "" if iot else "no IoT pipeline in this run"
    ops_why = why or ("" if kpis.get("total_operations") else "no IoT operation finished")
    return [
        check("iot.success_rate", "IoT success rate", kpis.get("success_rate"), ">=",
              targets.success_rate, "ratio", not_evaluated=ops_why),
        check("iot.p95", "IoT p95 latency", kpis.get("p95_latency_sec"), "<=",
              targets.max_latency_sec, "s", not_evaluated=ops_why),
        check("iot.volume", "IoT entries per day", kpis.get("daily_submission_rate"), ">=",
              float(targets.daily_entries), "per_day", not_evaluated=why),
    ]


def target_checks(kpis: Mapping[str, Any], targets: Targets, iot: bool) -> tuple[Check, ...]:
    """Every target of a run, from the figures of a KPI snapshot (its ``transactions``,
    ``workloads`` and IoT keys)."""
    tx = kpis.get("transactions") or {}
    checks = workload_checks("transactions", "transaction", tx, targets, always=True)
    checks.append(missed_check(tx, targets))
    for name, wl in sorted((kpis.get("workloads") or {}).items()):
        checks += workload_checks(f"workloads.{name}", name, wl, targets, always=False)
    checks += iot_checks(kpis, targets, iot)
    return tuple(checks)
