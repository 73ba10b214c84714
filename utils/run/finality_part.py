"""The run's finality stages and L1 data costs, as summary.json and the final lines say them.

:func:`open_finality` makes the tracker (utils/chain/finality.py) on the run's transport
and stats hub, the tally of its stages (utils/observe/finality_stats.py) and finality.csv
(utils/observe/finality_csv.py); the run starts it before the load and finishes it after
the drain (up to ``finality_wait`` seconds more for the pending samples).
:func:`l1_costs` says where the run's L1 gas figures come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from utils.chain.connect import ChainInfo
from utils.chain.finality import FinalityTracker
from utils.chain.l1_price import l1_price_wei
from utils.chain.session import ChainSession
from utils.devchain.prestart import l1_base_fee_wei
from utils.observe.finality_csv import FinalityCsvSink
from utils.observe.finality_stats import FinalityStats, finality_block
from utils.settings import Settings

if TYPE_CHECKING:
    from utils.run.parts import RunBase

__all__ = ["NOT_MODELLED", "FinalityPart", "l1_costs", "open_finality"]

NOT_MODELLED = "L1 data cost not modelled"


@dataclass
class FinalityPart:
    tracker: FinalityTracker
    stats: FinalityStats
    #: the chain's L1 price per unit (wei) at the load's start and end (None: not answered)
    l1_prices: dict[str, int | None] = field(default_factory=dict)

    async def start(self) -> None:
        await self.tracker.start()
        self.l1_prices["start"] = await l1_price_wei(self.tracker.calls.rpc)

    async def finish(self, wait: float) -> None:
        """The samples followed up to ``wait`` s more; the L1 price read once, at the end."""
        await self.tracker.finish(wait)
        if "end" not in self.l1_prices:
            self.l1_prices["end"] = await l1_price_wei(self.tracker.calls.rpc)

    def summary(self, workers: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
        """summary.json's ``finality`` block: ``{"skipped": why}``, or the sample, the
        confirmations asked for and, per stage, count, pending and percentiles (this
        process's samples and its workers', whose stage events come in their tallies).
        ``workers``: the worker processes' ``done`` reports (their ``not_followed``)."""
        t = self.tracker
        if t.skipped is not None:
            return {"skipped": t.skipped}
        not_followed = t.not_followed + sum(int(w.get("finality_not_followed", 0))
                                            for w in workers)
        return finality_block(self.stats, sample=t.sample, confirmations=t.confirmations,
                              poll=t.poll, not_followed=not_followed)


def open_finality(base: RunBase, session: ChainSession) -> FinalityPart:
    """The tracker, its stats and finality.csv (the run directory exists)."""
    s = base.settings
    stats = FinalityStats()
    base.hub.listen(stats)
    base.outputs.finality = stats  # its histograms go in histograms.json, for `main.py merge`
    tracker = FinalityTracker(session.rpc, base.hub, base.clock.now, sample=s.finality_sample,
                              confirmations=s.finality_confirmations)
    if tracker.skipped is None:
        base.hub.add_sink(FinalityCsvSink(base.run_dir))
    return FinalityPart(tracker, stats)


def l1_costs(settings: Settings, info: ChainInfo,
             prices: dict[str, int | None] | None = None) -> dict[str, Any]:
    """summary.json's ``l1_data_cost``: where the L1 gas figures come from (``info``: the
    chain the run talked to; a local anvil is not ``embedded`` either), with the L1 price
    per unit the chain's ArbGasInfo answered at the load's start and end (``prices``)."""
    read = {f"l1_price_gwei_{k}": v / 1e9 for k, v in (prices or {}).items() if v is not None}
    if settings.rpc_url or (not info.embedded and settings.chain == "embedded"):
        return {"modelled": True, "source": "the receipts' gasUsedForL1 (0 on a chain "
                "without L1 pricing)", **read}
    if settings.chain != "embedded":
        return {"modelled": False, "source": f"{settings.chain} has no L1 pricing",
                "note": NOT_MODELLED}
    gwei = settings.l1_base_fee_gwei
    if gwei <= 0:
        return {"modelled": False, "source": "--l1-base-fee-gwei 0", "note": NOT_MODELLED}
    # a kept chain not given a price keeps its own: the setting's default says nothing of it
    start = {} if l1_base_fee_wei(settings) is None else {"l1_base_fee_gwei": gwei}
    return {"modelled": True, "source": "the embedded chain's Nitro L1 pricing", **start,
            **read}
