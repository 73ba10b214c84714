"""The end of a run (:class:`RunEnd`, a part of :class:`utils.run.run.Run`): the verdict and
exit code, summary.json's run-specific parts, and the lines printed under the final table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from contracts.lending import LendingWorkload
from utils.chain.session import ChainSession
from utils.iot.verify import VerifyCounts
from utils.load.workload import Workload
from utils.observe.aggregate import RunAggregate
from utils.observe.kpis import iot_costs_per_record
from utils.observe.selfwatch import SelfWatch
from utils.report.final_table import render, verdict
from utils.run.chain_watch import REASON as CHAIN_LOST
from utils.run.chain_watch import ChainLossWatch
from utils.run.dapp_half import DAppParts
from utils.run.distributed import Distribution
from utils.run.iot_half import IotParts
from utils.run.outputs import RunOutputs
from utils.settings import Settings

EXIT_MET, EXIT_MISSED, EXIT_CONFIG = 0, 1, 2


class RunEnd:
    """How :class:`~utils.run.run.Run` ends; the attributes below are the run's."""

    settings: Settings
    run_id: str
    run_dir: Path
    seed: int
    out: TextIO
    dist: Distribution
    outputs: RunOutputs
    aggregate: RunAggregate
    selfwatch: SelfWatch
    session: ChainSession | None
    chain_watch: ChainLossWatch | None
    workloads: list[Workload]
    iot: IotParts | None
    dapps: DAppParts | None
    verified: VerifyCounts | None

    def _finish(self) -> int:
        reasons = list(verdict(self.outputs.kpis()).reasons)
        if self.dist.failure:
            reasons.insert(0, self.dist.failure)
        if self._chain_lost():
            assert self.chain_watch is not None
            reasons.insert(0, f"{CHAIN_LOST} ({self.chain_watch.detail})")
        if self.verified is not None and not self.verified.passed:
            reasons.append(self.verified.line())
        if self.dapps is not None and self.dapps.discrepancies:
            reasons.append(f"books do not balance ({len(self.dapps.discrepancies)} "
                           "discrepancies)")
        self.outputs.health.phase = "done"
        extra = self._summary_extra()
        self.outputs.finish(
            chain_id=self.session.info.chain_id if self.session else None, seed=self.seed,
            extra=extra, exit_reason="; ".join(reasons) or "targets met",
        )
        print(render(self.aggregate), file=self.out)
        for line in self._extra_lines(extra):
            print(line, file=self.out)
        status = "met" if not reasons else "NOT met: " + "; ".join(reasons)
        print(f"run {self.run_id}: targets {status}", file=self.out)
        print(f"results in {self.run_dir}", file=self.out)
        return EXIT_MISSED if reasons else EXIT_MET

    def _chain_lost(self) -> bool:
        return self.chain_watch is not None and self.chain_watch.lost

    def _lending(self) -> LendingWorkload | None:
        return next((w for w in self.workloads if isinstance(w, LendingWorkload)), None)

    def _load_seconds(self) -> float:
        started, ended = self.aggregate.started_at, self.aggregate.load_ended_at
        return max(0.0, ended - started) if started is not None and ended is not None else 0.0

    def _summary_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"generator": self.selfwatch.summary(
            self.aggregate.totals().lag.percentile(0.99) if self.aggregate.totals().fired
            else None), **self.dist.summary()}
        if self.session is not None:
            extra["chain"] = {"embedded": self.session.info.embedded,
                              "client": self.session.info.client_version,
                              "nonce_resyncs": self.session.engine.nonce_resyncs}
        if (lending := self._lending()) is not None:
            extra["loan_book"] = lending.book.summary()
        if self.iot is not None:
            pipeline = self.aggregate.workloads.get("data_pipeline")
            commits = pipeline.successes if pipeline else 0
            if self.settings.iot_commit == "batch":  # records committed, not transactions
                commits = self.aggregate.iot_ops[("submit", "commit", True)]
            processor = self.iot.processor
            extra["contract"] = None if processor is None else {
                "address": processor.address, "flavour": processor.flavour,
                "deploy_gas": processor.deploy_gas,
            }
            extra["iot"] = {
                "gas_per_record": round(pipeline.gas_used / commits) if pipeline and commits
                else None,
                "commit_mode": self.settings.iot_commit,
                "costs_per_record": iot_costs_per_record(self.aggregate, pipeline),
                "submissions_skipped_no_device": self.iot.submission.skipped,
                "verify": self.verified.as_dict() if self.verified else None,
            }
        extra["dapp"] = (self.dapps.summary(self._load_seconds()) if self.dapps is not None
                         else {"flavour": "transfers"})
        return extra

    def _generator_lines(self) -> list[str]:
        """The final table's warning when the generator itself was saturated."""
        gen = self.selfwatch.summary(self.aggregate.totals().lag.percentile(0.99)
                                     if self.aggregate.totals().fired else None)
        if not gen["generator_bound"]:
            return []
        return [f"WARNING: the generator was saturated ({'; '.join(gen['reasons'])}): the "
                "rates above are what this orchestrator could drive, not the chain's limit; "
                "use more --workers or shards (--shard I/N)"]

    def _extra_lines(self, extra: dict[str, Any]) -> list[str]:
        lines = self._generator_lines()
        if (lending := self._lending()) is not None and lending.book.originated:
            book = lending.book.summary()
            lines.append(f"loan book: {book['originated']} originated, {book['repaid']} repaid, "
                         f"{book['open']} open; origination to repayment p50 "
                         f"{book['repay_time_p50_sec']:.2f} s")
        if self.iot is not None and extra.get("contract"):
            gas = extra["iot"]["gas_per_record"]
            lines.append(f"IoT contract: {extra['contract']['flavour']} at "
                         f"{extra['contract']['address']}; gas per record "
                         f"{gas if gas is not None else 'n/a'}")
        if self.verified is not None:
            lines.append(self.verified.line())
        if self.dapps is not None:
            lines += self.dapps.lines(self._load_seconds())
        return lines
