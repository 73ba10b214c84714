"""Benchmark: the dApp contracts as Stylus programs vs. their Solidity twins, per function.

    .venv/bin/python bench/dapp_gas.py [--calls 40] [--block-time 0.25] [--json OUT.json]

One embedded chain (JSON-RPC child, Stylus on, Nitro-style L1 pricing if
``--l1-base-fee-gwei`` > 0) holds both flavours of the stablecoin, the payment router and
the lending pool, set up as a run sets them up (mint, approve, deposit). For each contract
function and each flavour, ``--calls`` signed transactions are sent pipelined from several
wallets through the run's tx engine, in rounds the function's state allows (a settlement
after payments, a repay after a borrow, a liquidation after a loan at its limit has accrued
interest). The Stylus programs are measured twice: left out of ArbOS's program cache
(``stylus-uncached``: every call pays Nitro's full init gas) and cached by the funder (the chain
owner) as a chain team caches its programs. Printed side by side: gas per successful call
(L2 = gasUsed - gasUsedForL1, and L1), the Stylus/EVM gas ratios (cached, uncached), and
calls/s (successful calls over the time from the first send of the function's rounds to the
last receipt; bounded by block cadence and the embedded chain's py-evm speed, so compare the
columns, not with other machines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.pool_lending import borrow_limit
from stylus_contracts.dapps import call_data
from utils.chain.dapp_deploy import l1_allowance
from utils.chain.funding import top_up
from utils.chain.session import open_session
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain.launch import launch_embedded
from utils.observe.events import Outcome, TxEvent
from utils.observe.goodput import Goodput
from utils.observe.stats import StatsHub
from utils.run.dapp_half import DAppParts, open_dapps
from utils.settings import load_settings

GAS = 600_000
COUNTS = {"user": 8, "merchant": 4, "settlement": 1, "lender": 2, "borrower": 8}
Request = tuple[Wallet, str, bytes, int]  # sender, to, data, value


@dataclass
class Measure:
    events: list[TxEvent] = field(default_factory=list)
    seconds: float = 0.0

    def ok(self) -> list[TxEvent]:
        return [e for e in self.events if e.outcome is Outcome.SUCCESS]

    def row(self) -> dict[str, Any]:
        ok = self.ok()
        n = len(ok) or 1
        l1 = sum(e.l1_gas_used for e in ok)
        return {"calls": len(self.events), "ok": len(ok),
                "l2_gas_per_call": round((sum(e.gas_used for e in ok) - l1) / n),
                "l1_gas_per_call": round(l1 / n),
                "calls_per_sec": round(len(ok) / self.seconds, 1) if self.seconds else 0.0}


async def send(engine: TxEngine, requests: list[Request], operation: str,
               measure: Measure | None = None) -> list[TxEvent]:
    clock = engine.clock
    start = clock.now()
    events = await asyncio.gather(*(engine.submit(TxRequest(
        "bench", operation, w, to, value, data, GAS + l1_allowance(engine.fees)))
        for w, to, data, value in requests))
    if measure is not None:
        measure.events += events
        measure.seconds += clock.now() - start
    failed = [e for e in events if e.outcome is not Outcome.SUCCESS]
    if failed:
        print(f"  {operation}: {len(failed)} of {len(events)} failed ({failed[0].outcome} "
              f"{failed[0].error})", file=sys.stderr)
    return list(events)


def rounds(calls: int, width: int) -> int:
    return max(1, calls // width)


async def bench_flavour(engine: TxEngine, parts: DAppParts, calls: int,
                        rng: random.Random) -> dict[str, Measure]:
    c, w = parts.contracts, parts.wallets
    users, merchants = w.role("user"), w.role("merchant")
    lenders, borrowers = w.role("lender"), w.role("borrower")
    out: dict[str, Measure] = {}

    async def run(name: str, width: int, make: Callable[[int], list[Request]],
                  before: Callable[[int], list[Request]] | None = None,
                  wait: float = 0.0) -> None:
        out[name] = measure = Measure()
        for k in range(rounds(calls, width)):
            if before is not None:
                await send(engine, before(k), "prepare")
                await asyncio.sleep(wait)
            await send(engine, make(k), name, measure)

    await run("token.transfer", len(users), lambda k: [
        (u, c.token, call_data("transfer(address,uint256)", users[(i + 1) % len(users)]
                               .address, 1_000_000), 0) for i, u in enumerate(users)])
    await run("token.approve", len(users), lambda k: [
        (u, c.token, call_data("approve(address,uint256)", c.router, 10**30 + k), 0)
        for u in users])
    await send(engine, [(u, c.token, call_data("approve(address,uint256)", c.router,
                                                2**256 - 1), 0) for u in users], "prepare")
    await run("router.pay", len(users), lambda k: [
        (u, c.router, call_data("pay(address,uint256,bytes32)", merchants[i % len(merchants)]
                                .address, 5_000_000, rng.randbytes(32)), 0)
        for i, u in enumerate(users)])
    await run("router.settle", len(merchants), lambda k: [
        (m, c.router, call_data("settle(address)", m.address), 0) for m in merchants],
        before=lambda k: [(users[i], c.router, call_data(
            "pay(address,uint256,bytes32)", m.address, 3_000_000, rng.randbytes(32)), 0)
            for i, m in enumerate(merchants)])
    await run("pool.deposit", len(lenders), lambda k: [
        (lender, c.pool, call_data("deposit(uint256)", 1_000_000), 0) for lender in lenders])
    collateral = 2 * 10**16
    safe = borrow_limit(collateral) // 2
    await run("pool.borrow", len(borrowers), lambda k: [
        (b, c.pool, call_data("borrow(uint256)", safe), collateral) for b in borrowers],
        before=lambda k: [(b, c.pool, call_data("repay()"), 0) for b in borrowers] if k else [])
    await send(engine, [(b, c.pool, call_data("repay()"), 0) for b in borrowers], "prepare")
    await run("pool.repay", len(borrowers), lambda k: [
        (b, c.pool, call_data("repay()"), 0) for b in borrowers],
        before=lambda k: [(b, c.pool, call_data("borrow(uint256)", safe), collateral)
                          for b in borrowers], wait=1.2)
    await run("pool.liquidate", len(borrowers), lambda k: [
        (lenders[i % len(lenders)], c.pool, call_data("liquidate(address)", b.address), 0)
        for i, b in enumerate(borrowers)],
        before=lambda k: [(b, c.pool, call_data("borrow(uint256)", borrow_limit(collateral)),
                           collateral) for b in borrowers], wait=2.5)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    settings = load_settings({"dapp": "stylus", "block_time": args.block_time, "port": 0,
                              "l1_base_fee_gwei": args.l1_base_fee_gwei}, None)
    results: dict[str, dict[str, Any]] = {}
    async with AsyncExitStack() as stack:
        session = await open_session(settings, StatsHub(), Clock(), stack, launch_embedded)
        wallets = WalletPool.derive(session.info.funder_key, 13, COUNTS)
        await top_up(session.engine, session.rpc, wallets.funder,
                     {w.address: 20 * 10**18 for r in COUNTS for w in wallets.role(r)})
        # uncached first: caching is per code hash, and the cached deployment caches them
        uncached = settings.model_copy(update={"stylus_cache": False})
        for name, flavour, variant in (("stylus-uncached", "stylus", uncached),
                                       ("stylus", "stylus", settings), ("evm", "evm", settings)):
            parts = await open_dapps(variant, session, wallets, Goodput(), StatsHub(),
                                     random.Random(1), flavour)
            async with TxEngine(session.rpc, StatsHub(), session.clock, session.fees,
                                session.info.chain_id) as setup:  # wallets funded above
                await parts.set_up(session, setup, asyncio.sleep(0))
            # a fresh engine: the set-up engine moved these wallets' nonces
            async with TxEngine(session.rpc, StatsHub(), session.clock, session.fees,
                                session.info.chain_id) as engine:
                measured = await bench_flavour(engine, parts, args.calls, random.Random(2))
            results[name] = {fn: m.row() for fn, m in measured.items()}
    return results


def render(results: dict[str, dict[str, Any]]) -> str:
    head = (f"{'function':<16} {'stylus L2':>10} {'uncached':>9} {'evm L2':>10} {'ratio':>6} "
            f"{'unc.':>5} {'stylus L1':>9} {'evm L1':>7} {'stylus/s':>9} {'evm/s':>7} "
            f"{'ok (s/e)':>10}")
    lines = [head, "-" * len(head)]
    for name, s in results["stylus"].items():
        e, u = results["evm"][name], results["stylus-uncached"][name]
        evm = e["l2_gas_per_call"]
        ratio = s["l2_gas_per_call"] / evm if evm else 0
        uncached = u["l2_gas_per_call"] / evm if evm else 0
        lines.append(f"{name:<16} {s['l2_gas_per_call']:>10,} {u['l2_gas_per_call']:>9,} "
                     f"{evm:>10,} {ratio:>6.2f} {uncached:>5.2f} {s['l1_gas_per_call']:>9,} "
                     f"{e['l1_gas_per_call']:>7,} {s['calls_per_sec']:>9} "
                     f"{e['calls_per_sec']:>7} {s['ok']:>4}/{e['ok']:<4}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls per function and flavour")
    parser.add_argument("--block-time", type=float, default=0.25)
    parser.add_argument("--l1-base-fee-gwei", type=float, default=0.0,
                        help="embedded chain's L1 base fee estimate (0 = no L1 gas)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
