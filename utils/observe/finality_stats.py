"""Finality stages of the sampled transactions, tallied: one latency histogram per stage.

Fed by :class:`~utils.observe.events.FinalityEvent` (utils/chain/finality.py emits them);
summary.json's ``finality`` block, the final table's finality line and the report read
:meth:`FinalityStats.summary`. Every sampled transaction first reaches ``receipt``; those
that have not reached a later stage by the end of the run are its ``pending`` count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from utils.observe.events import FINALITY_STAGES, FinalityEvent
from utils.observe.histogram import Histogram

if TYPE_CHECKING:
    from utils.observe.tally import Tally

__all__ = ["FinalityStats", "finality_block", "finality_line"]


class FinalityStats:
    """``hub.listen(stats)``; :meth:`summary` at the end."""

    def __init__(self) -> None:
        self.latency: dict[str, Histogram] = {stage: Histogram() for stage in FINALITY_STAGES}

    def on_tally(self, tally: Tally) -> None:
        for event in tally.others:
            if isinstance(event, FinalityEvent):
                self.latency[event.stage].observe(event.latency)

    def to_dict(self) -> dict[str, Any]:
        """The stage histograms as histograms.json keeps them (``main.py merge`` reads them)."""
        return {stage: hist.to_dict() for stage, hist in self.latency.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalityStats:
        stats = cls()
        for stage, hist in data.items():
            stats.latency[stage] = Histogram.from_dict(hist)
        return stats

    def merge(self, other: FinalityStats) -> None:
        """Add ``other`` (another shard's): histograms merge bucket by bucket."""
        for stage, hist in other.latency.items():
            self.latency.setdefault(stage, Histogram()).merge(hist)

    @property
    def sampled(self) -> int:
        return self.latency[FINALITY_STAGES[0]].count

    def summary(self) -> dict[str, Any]:
        """Per stage: transactions that reached it, p50/p95/p99/max seconds from their
        intended send time, and how many sampled transactions had not reached it."""
        sampled = self.sampled
        stages: dict[str, Any] = {}
        for stage, hist in self.latency.items():
            stages[stage] = {
                "count": hist.count,
                "pending": max(0, sampled - hist.count),
                **{f"p{q}_sec": round(hist.percentile(q / 100), 4) if hist.count else None
                   for q in (50, 95, 99)},
                "max_sec": round(hist.max, 4) if hist.count else None,
            }
        return {"sampled": sampled, "stages": stages}


def finality_block(stats: FinalityStats, *, sample: float, confirmations: int, poll: float,
                   not_followed: int) -> dict[str, Any]:
    """summary.json's ``finality`` block of a run that followed its sample (a run's, or the
    shards' of ``main.py merge``, merged): the sample, the confirmations asked for, the poll
    interval and, per stage, count, pending and percentiles."""
    return {"sample": sample, "confirmations": confirmations, "poll_sec": poll,
            **stats.summary(), "not_followed": not_followed}


def finality_line(block: dict[str, Any]) -> str:
    """The line under the final table for summary.json's ``finality`` block."""
    if "skipped" in block:
        return f"finality stages: skipped ({block['skipped']})"
    parts = []
    for stage, s in block.get("stages", {}).items():
        if s["count"]:
            parts.append(f"{stage} p50 {s['p50_sec']:.2f} s / p95 {s['p95_sec']:.2f} s "
                         f"({s['count']}" + (f", {s['pending']} pending)" if s["pending"]
                                              else ")"))
        else:
            parts.append(f"{stage} none yet ({s['pending']} pending)")
    confirmations = block.get("confirmations")
    return (f"finality of {block.get('sampled', 0)} sampled transactions"
            + (f" (L1 confirmed = {confirmations} parent-chain confirmation(s))"
               if confirmations else "") + ": " + "; ".join(parts))
