"""The end of a run: the conditions that make it not clean, summary.json's run-specific
parts, the one verdict (:mod:`utils.observe.verdict`, built once by
:meth:`utils.run.outputs.RunOutputs.finish`) and the lines printed under the final table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.lending import LendingWorkload
from utils.chain.rpc_retry import throttled_reason
from utils.iot.verify import VerifyCounts
from utils.observe.events import Outcome
from utils.observe.finality_stats import finality_line
from utils.observe.kpis import iot_costs_per_record
from utils.observe.verdict import THRESHOLD, Condition, Reason, Verdict, reorg_condition
from utils.report.summary import rpc_summary
from utils.run.finality_part import NOT_MODELLED, l1_costs
from utils.run.inputbox_part import inputbox_line, inputbox_summary
from utils.run.load_phase import LoadPhase
from utils.run.parts import Prepared, RunBase

GENERATOR_ADVICE = ("the rates above are what this orchestrator could drive, not the chain's "
                    "limit; use more --workers or shards (--shard I/N)")


@dataclass
class Ending:
    """What the run learnt on its way to the end, beside its events."""

    prepared: Prepared | None = None
    verified: VerifyCounts | None = None
    stopped_by: str | None = None  # the signal (or API call) that stopped the load early
    unchecked: list[str] = field(default_factory=list)  # checks the chain could not answer


def conditions(base: RunBase, end: Ending, judged_by_phase: bool) -> list[Condition]:
    """Every reason the run is not clean, most telling first. ``judged_by_phase``: a
    capacity search, whose result already says whether it was interrupted or bound."""
    found: list[Condition] = []
    prepared = end.prepared
    if prepared is not None and prepared.chain_lost():
        found.append(Condition(Reason.CHAIN_LOST, prepared.chain_watch.detail))
    if base.dist.failure:
        found.append(Condition(Reason.WORKER_FAILED, base.dist.failure))
    throttled = throttled_reason(rpc_summary(base.aggregate))
    if throttled is not None:  # the figures are the provider's limit, not the chain's
        found.append(Condition(Reason.PROVIDER_THROTTLED,
                               throttled.removeprefix("provider-throttled: ")))
    reorged = reorg_condition(base.aggregate.reorg_depths,
                              base.aggregate.totals().outcomes[Outcome.REORGED])
    if reorged is not None:  # the success rate counts them: the chain's reorgs did it
        found.append(reorged)
    if not judged_by_phase:
        found += _load_conditions(base, end)
    if end.verified is not None and not end.verified.passed:
        found.append(Condition(Reason.NOT_VERIFIED, end.verified.line()))
    found += [Condition(Reason.NOT_CHECKED, what) for what in end.unchecked]
    if prepared is not None and prepared.dapps is not None and prepared.dapps.discrepancies:
        found.append(Condition(Reason.BOOKS_UNBALANCED,
                               f"{len(prepared.dapps.discrepancies)} discrepancies"))
    return found


def _load_conditions(base: RunBase, end: Ending) -> list[Condition]:
    found: list[Condition] = []
    planned = base.settings.duration
    if end.stopped_by and (planned > 0 or end.prepared is None):
        when = (f"after {base.load_seconds():.1f} of {planned:g} s" if end.prepared is not None
                else "during set-up")
        found.append(Condition(Reason.INTERRUPTED, f"{end.stopped_by} {when}"))
    totals = base.aggregate.totals()
    if not totals.finished and not base.aggregate.iot_count():
        found.append(Condition(Reason.NOTHING_MEASURED))
    gen = generator_summary(base)
    if gen["generator_bound"]:
        found.append(Condition(Reason.GENERATOR_BOUND, "; ".join(gen["reasons"])))
    return found


def generator_summary(base: RunBase) -> dict[str, Any]:
    totals = base.aggregate.totals()
    return base.selfwatch.summary(totals.lag.percentile(0.99) if totals.fired else None)


def _lending(prepared: Prepared | None) -> LendingWorkload | None:
    workloads = prepared.workloads if prepared is not None else []
    return next((w for w in workloads if isinstance(w, LendingWorkload)), None)


def summary_extra(base: RunBase, end: Ending) -> dict[str, Any]:
    extra: dict[str, Any] = {"generator": generator_summary(base), **base.dist.summary()}
    prepared = end.prepared
    if prepared is not None:
        info = prepared.session.info
        extra["chain"] = {"embedded": info.embedded, "client": info.client_version,
                          "nonce_resyncs": prepared.session.engine.nonce_resyncs}
        extra["l1_data_cost"] = l1_costs(base.settings, info, prepared.finality.l1_prices
                                         if prepared.finality is not None else None)
        if prepared.finality is not None:
            pool = base.dist.pool  # its workers follow their own transactions' finality
            extra["finality"] = prepared.finality.summary(pool.summary() if pool else ())
    if (lending := _lending(prepared)) is not None:
        extra["loan_book"] = lending.book.summary()
    if prepared is not None and prepared.iot is not None:
        extra.update(_iot_extra(base, prepared, end.verified))
    dapps = prepared.dapps if prepared is not None else None
    extra["dapp"] = (dapps.summary(base.load_seconds()) if dapps is not None
                     else {"flavour": "transfers"})
    return extra


def _iot_extra(base: RunBase, prepared: Prepared, verified: VerifyCounts | None
               ) -> dict[str, Any]:
    assert prepared.iot is not None
    aggregate = base.aggregate
    pipeline = aggregate.workloads.get("data_pipeline")
    commits = pipeline.successes if pipeline else 0
    if base.settings.iot_commit in ("batch", "inputbox"):  # records, not transactions
        commits = aggregate.iot_ops[("submit", "commit", True)]
    processor = prepared.iot.processor
    return {
        "contract": None if processor is None else {
            "address": processor.address, "flavour": processor.flavour,
            "deploy_gas": processor.deploy_gas,
        },
        "iot": {
            "gas_per_record": round(pipeline.gas_used / commits) if pipeline and commits
            else None,
            "commit_mode": base.settings.iot_commit,
            "records_committed": commits,
            "costs_per_record": iot_costs_per_record(aggregate, pipeline),
            "submissions_skipped_no_device": prepared.iot.submission.skipped,
            "verify": verified.as_dict() if verified else None,
            "inputbox": inputbox_summary(aggregate, prepared.iot.cartesi),
        },
    }


def extra_lines(base: RunBase, end: Ending, extra: dict[str, Any]) -> list[str]:
    """The lines under the final table: the generator's warning, the loan book, the IoT
    contract, the verification and the dApp books."""
    lines = []
    if "l1_data_cost" in extra and not extra["l1_data_cost"]["modelled"]:
        lines.append(f"note: {NOT_MODELLED} ({extra['l1_data_cost']['source']}): the l1_gas "
                     "column is 0")
    if "finality" in extra:
        lines.append(finality_line(extra["finality"]))
    gen = extra["generator"]
    if gen["generator_bound"]:
        lines.append(f"WARNING: the generator was saturated ({'; '.join(gen['reasons'])}): "
                     f"{GENERATOR_ADVICE}")
    if (lending := _lending(end.prepared)) is not None and lending.book.originated:
        book = lending.book.summary()
        lines.append(f"loan book: {book['originated']} originated, {book['repaid']} repaid, "
                     f"{book['open']} open; origination to repayment p50 "
                     f"{book['repay_time_p50_sec']:.2f} s")
    if (box := inputbox_line(extra)) is not None:
        lines.append(box)
    elif extra.get("contract"):
        iot = extra["iot"]
        gas = iot["gas_per_record"]
        lines.append(f"IoT contract: {extra['contract']['flavour']} at "
                     f"{extra['contract']['address']}; gas per record "
                     f"{f'{gas:,}' if gas is not None else 'n/a'}")
        if iot.get("commit_mode") == "batch":  # the table's data_pipeline row counts commitBatch
            seconds = base.load_seconds()
            rate = iot["records_committed"] / seconds if seconds > 0 else 0.0
            lines.append(f"IoT batch mode: data_pipeline's target is records/s, its sent and "
                         f"achieved count commitBatch transactions; records committed "
                         f"{iot['records_committed']:,} ({rate:.2f}/s)")
    if end.verified is not None:
        lines.append(end.verified.line())
    if end.prepared is not None and end.prepared.dapps is not None:
        lines += end.prepared.dapps.lines(base.load_seconds())
    return lines


def finish(base: RunBase, load: LoadPhase, end: Ending) -> Verdict:
    """summary.json and report.html with the run's one verdict; the final table and lines."""
    result = load.result()
    base.outputs.health.phase = "done"
    extra = summary_extra(base, end) | load.summary() | {"timeline": base.timeline.markers()}
    chain_id = end.prepared.session.info.chain_id if end.prepared is not None else None
    verdict = base.outputs.finish(chain_id=chain_id, seed=base.seed, extra=extra,
                                  conditions=conditions(base, end, result is not None),
                                  result=result)
    out = base.out
    print(load.table(base), file=out)
    for line in extra_lines(base, end, extra):
        print(line, file=out)
    for check in verdict.checks:  # every threshold, met or crossed, above the verdict
        if check.kind == THRESHOLD:
            print(check.line(), file=out)
    what = "capacity search" if result is not None else "run"
    print(f"{what} {base.run_id}: {verdict.headline()}", file=out)
    print(f"results in {base.run_dir}", file=out)
    return verdict
