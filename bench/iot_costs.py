"""Benchmark: what an IoT record costs and how fast it commits, per strategy and per flavour.

    .venv/bin/python bench/iot_costs.py [--records 400] [--batch-records 4000]
        [--batch-size 1024] [--batch-wait 0.25] [--inputbox-records 400]
        [--inputbox-batch 32] [--l1-base-fee-gwei 50]

One embedded chain (Stylus host, Nitro L1 pricing at ``--l1-base-fee-gwei``) is driven as if it
were a remote node (``--rpc-url``): MVPIoTProcessor is deployed per flavour by the run's own
path (the Stylus program deployed and activated through ArbWasm, paying the data fee it
simulated first; the EVM twin by a creation). Then, side by side in one process, for each
flavour x strategy (``record``: one submitResult per record; ``batch``: one commitBatch of a
Merkle root per up to ``--batch-size`` records), pre-signed records go into an in-process
lcore node as fast as it accepts them, and the clock stops when the last one is committed.
Milestone 2 beside them (issue 24; the InputBox has no flavour, so once): ``inputbox`` (one
``addInput`` of Cartesi's real InputBox per record) and ``inputbox-N`` (N records a
payload), with the in-process application reading every input: its clock stops when the
application has processed the last one, and the row adds the input lag and end-to-end p50.
Printed per row: committed records/s, L2 gas, L1 gas and fee per record (from the receipts:
gasUsed - gasUsedForL1, gasUsedForL1, gasUsed x effectiveGasPrice). Goals (issue 12): batch
mode >= 1,000 records/s and <= 5,000 L2 gas per record. Bounded: a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lcore_node.batch_chain import EngineBatchCommitter
from lcore_node.chain import EngineCommitter
from lcore_node.config import NodeConfig
from lcore_node.inputbox_chain import EngineInputBoxCommitter
from lcore_node.inputbox_host import CartesiSide
from lcore_node.node import LcoreNode
from utils.chain.inputbox_deploy import InputBoxDeployment, ensure_inputbox
from utils.chain.processor import Processor, ensure_processor
from utils.chain.rpc import hex_int
from utils.chain.session import ChainSession, open_session
from utils.chain.tx_engine import TxRequest
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.iot.devices import DeviceFleet, Submission
from utils.observe.events import Event, InputEvent, Outcome, TxEvent
from utils.observe.histogram import Histogram
from utils.observe.stats import StatsHub
from utils.settings import load_settings

DEADLINE_S = 120.0  # per row: the commit must finish within this


@dataclass
class Row:
    flavour: str
    strategy: str
    records: int
    seconds: float
    l2_gas: int
    l1_gas: int
    fee_wei: int
    txs: int
    input_lag: Histogram | None = None  # inputbox rows: the application's figures
    end_to_end: Histogram | None = None

    def line(self) -> str:
        n = max(1, self.records)
        lags = "" if self.input_lag is None or self.end_to_end is None else (
            f" {self.input_lag.percentile(0.5):9.2f} {self.end_to_end.percentile(0.5):9.2f}")
        return (f"{self.flavour:7} {self.strategy:11} {self.records:7} {self.txs:5} "
                f"{self.records / self.seconds:11.0f} {self.l2_gas / n:11.0f} "
                f"{self.l1_gas / n:11.0f} {self.fee_wei / n / 1e9:14.1f}{lags}")


HEADER = (f"{'flavour':7} {'mode':11} {'records':>7} {'txs':>5} {'records/s':>11} "
          f"{'L2 gas/rec':>11} {'L1 gas/rec':>11} {'fee/rec gwei':>14} {'lag p50':>9} "
          f"{'e2e p50':>9}")


def presign(n: int, seed: int) -> tuple[DeviceFleet, list[Submission]]:
    """``n`` signed readings with distinct timestamps (signing stays out of the timing)."""
    fleet = DeviceFleet(16, seed)
    now = time.time()
    return fleet, [fleet.pick().make_submission(now - n / 1000 + i / 1000) for i in range(n)]


async def feed(node: LcoreNode, fleet: DeviceFleet, subs: list[Submission]) -> float:
    """Register the fleet, then submit every signed record at once; when the submits began."""
    for device in fleet:
        await node.register_device(device.device_id, device.public_key_hex, device.device_type)
    started = time.perf_counter()
    await asyncio.gather(*(node.submit_data(s.device_id, s.data, s.timestamp, s.signature)
                           for s in subs))
    return started


async def run_row(
    session: ChainSession, processor: Processor, wallets: WalletPool, strategy: str,
    records: int, args: argparse.Namespace, workdir: Path, seed: int,
) -> Row:
    events: list[TxEvent] = []

    def keep(event: Event) -> None:
        if isinstance(event, TxEvent) and event.workload == "data_pipeline":
            events.append(event)

    session.hub.tap(keep)
    committers = wallets.role("committer")
    committer = EngineCommitter(session.engine, session.rpc, processor.address, processor.abi,
                                committers)
    await committer.calibrate()
    batches = None
    if strategy == "batch":
        batches = EngineBatchCommitter(session.engine, session.rpc, processor.address, committers)
        await batches.calibrate()
    config = NodeConfig(db_path=workdir / f"{processor.flavour}-{strategy}.db",
                        key_dir=workdir / "keys", batch_size=args.batch_size,
                        batch_wait=args.batch_wait, drain_timeout=DEADLINE_S)
    fleet, subs = presign(records, seed)
    node = LcoreNode(config, hub=session.hub, committer=committer, batch_committer=batches)
    await node.start()
    try:
        started = await feed(node, fleet, subs)
        left = await node.close(drain_timeout=DEADLINE_S)
        seconds = time.perf_counter() - started
    finally:
        await node.close(drain_timeout=0)
    if left:
        raise SystemExit(f"{processor.flavour}/{strategy}: {left} records not committed in time")
    ok = [e for e in events if e.outcome is Outcome.SUCCESS]
    return Row(processor.flavour, strategy, records, seconds, sum(e.l2_gas_used for e in ok),
               sum(e.l1_gas_used for e in ok), sum(e.fee_wei for e in ok), len(ok))


async def inputbox_row(
    session: ChainSession, inputbox: InputBoxDeployment, wallets: WalletPool, batch: int,
    records: int, workdir: Path, seed: int,
) -> Row:
    """``records`` records through the InputBox, ``batch`` a payload, read back by the
    application; the clock stops when it has processed the last input."""
    events: list[TxEvent] = []
    lag, e2e = Histogram(), Histogram()

    def keep(event: Event) -> None:
        if isinstance(event, TxEvent) and event.workload == "data_pipeline":
            events.append(event)
        elif isinstance(event, InputEvent):
            lag.observe(event.input_lag)
            for latency in event.latencies:
                e2e.observe(latency)

    session.hub.tap(keep)
    app = f"0x{seed:040x}"  # an application of its own per row
    committer = EngineInputBoxCommitter(session.engine, session.rpc, inputbox.address, app,
                                        wallets.role("committer"), inputbox.deployment_block)
    await committer.calibrate()
    name = "inputbox" if batch == 1 else f"inputbox-{batch}"
    config = NodeConfig(db_path=workdir / f"{name}.db", key_dir=workdir / "keys",
                        inputbox_batch=batch, batch_wait=0.25, drain_timeout=DEADLINE_S)
    fleet, subs = presign(records, seed)
    node = LcoreNode(config, hub=session.hub, inputbox=committer)
    await node.start()
    side = CartesiSide(node, committer, workdir / f"{name}-app.db", hub=session.hub,
                       clock=time.time)
    await side.start()
    try:
        started = await feed(node, fleet, subs)
        left = await node.outbox.drain(DEADLINE_S) if node.outbox else records
        caught_up = await side.finish(DEADLINE_S)
        seconds = time.perf_counter() - started
    finally:
        await node.close(drain_timeout=0)
    if left or not caught_up:
        raise SystemExit(f"{name}: {left} records not committed, application caught up: "
                         f"{caught_up}")
    session.hub.flush()
    ok = [e for e in events if e.outcome is Outcome.SUCCESS]
    return Row("-", name, records, seconds, sum(e.l2_gas_used for e in ok),
               sum(e.l1_gas_used for e in ok), sum(e.fee_wei for e in ok), len(ok), lag, e2e)


async def fund(session: ChainSession, wallets: WalletPool) -> None:
    """Top the committers up; the transfer's gas comes from an estimate, since with L1 pricing
    a 21,000-gas transfer is refused (as on Nitro)."""
    funder = wallets.funder
    estimate = hex_int(await session.rpc.call(
        "eth_estimateGas", {"from": funder.address, "to": funder.address, "value": "0x1"}))
    done = await asyncio.gather(*(session.engine.submit(TxRequest(
        "setup", "top_up", funder, w.address, 10**21, gas=estimate * 12 // 10))
        for w in wallets.role("committer")))
    if not all(e.outcome is Outcome.SUCCESS for e in done):
        raise SystemExit(f"funding the committers failed: {done}")


async def reset_l1_price(session: ChainSession, args: argparse.Namespace) -> None:
    """Every row starts at the same L1 price (the chain moves it at each batch it posts, as
    Nitro does): rows side by side then compare."""
    await session.rpc.call("kcdev_setL1BaseFee", hex(round(args.l1_base_fee_gwei * 10**9)))


async def bench(args: argparse.Namespace, chain: DevChain, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    for index, flavour in enumerate(("stylus", "evm")):
        settings = load_settings({"rpc_url": chain.url, "private_key": chain.funder_key.hex(),
                                  "contract": flavour, "seed": index})
        async with AsyncExitStack() as stack:
            session = await open_session(settings, StatsHub(), Clock(), stack)
            processor = await ensure_processor(session, settings)
            wallets = WalletPool.derive(chain.funder_key, 100 + index, {"committer": 8})
            await fund(session, wallets)
            for strategy, records in (("record", args.records), ("batch", args.batch_records)):
                await reset_l1_price(session, args)
                row = await run_row(session, processor, wallets, strategy, records, args,
                                    workdir, seed=10 * index + len(rows))
                print(row.line(), flush=True)
                rows.append(row)
            if flavour != "stylus":
                continue
            inputbox = await ensure_inputbox(session, None, None)
            for batch in (1, args.inputbox_batch):
                await reset_l1_price(session, args)
                row = await inputbox_row(session, inputbox, wallets, batch,
                                         args.inputbox_records * (1 if batch == 1 else 4),
                                         workdir, seed=10 * index + len(rows))
                print(row.line(), flush=True)
                rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=400, help="records per record-mode row")
    parser.add_argument("--batch-records", type=int, default=4000,
                        help="records per batch-mode row")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batch-wait", type=float, default=0.25)
    parser.add_argument("--inputbox-records", type=int, default=400,
                        help="records of the one-record-an-input row (4x in the batched row)")
    parser.add_argument("--inputbox-batch", type=int, default=32,
                        help="records a payload in the batched InputBox row")
    parser.add_argument("--l1-base-fee-gwei", type=float, default=50.0,
                        help="the embedded chain's L1 base fee estimate it starts from "
                        "(Nitro pricing; 50 gwei: Nitro's initial price per unit)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DevChain.start(
        stylus=True, l1_base_fee_wei=round(args.l1_base_fee_gwei * 10**9)
    ) as chain:
        print(f"embedded chain, L1 base fee estimate {args.l1_base_fee_gwei:g} gwei at the start "
              "of each row (then moved by the chain at each batch it posts, as Nitro), batches of "
              f"up to {args.batch_size} (wait {args.batch_wait:g} s); the machine is shared, "
              "rates may be disturbed")
        print(HEADER)
        rows = asyncio.run(bench(args, chain, Path(tmp)))
    batch = [r for r in rows if r.strategy == "batch"]
    fast = all(r.records / r.seconds >= 1000 for r in batch)
    lean = all(r.l2_gas / r.records <= 5000 for r in batch)
    print(f"goals: batch >= 1,000 records/s {'met' if fast else 'NOT met'}; "
          f"<= 5,000 L2 gas per record {'met' if lean else 'NOT met'}")
    return 0 if fast and lean else 1


if __name__ == "__main__":
    sys.exit(main())
