"""A chain session: chain (embedded or given), RPC connection, fees, the tx engine and the
funder's lane for set-up transactions.

The benchmark run, ``python -m lcore_node serve`` and ``verify`` open the
chain the same way through :func:`open_session`.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from utils.chain.connect import ChainInfo, LocalLauncher, check_chain, open_chain
from utils.chain.fees import FeePolicy
from utils.chain.funder_lane import FunderLane
from utils.chain.rpc import Rpc
from utils.chain.tx_engine import TxEngine
from utils.clock import Clock
from utils.observe.stats import StatsHub
from utils.settings import Settings


@dataclass
class ChainSession:
    info: ChainInfo
    rpc: Rpc
    fees: FeePolicy
    engine: TxEngine
    clock: Clock
    hub: StatsHub
    #: the funder's deployments and other set-up calls, pipelined (shared by the deployers)
    funder: FunderLane = field(init=False)

    def __post_init__(self) -> None:
        self.funder = FunderLane(self.rpc, self.info.funder_key, self.info.chain_id, self.fees)


async def open_session(
    settings: Settings, hub: StatsHub, clock: Clock, stack: AsyncExitStack,
    launch: LocalLauncher | None = None,
) -> ChainSession:
    """Everything closes with ``stack`` (a local chain from ``launch`` last)."""
    info = await open_chain(settings, stack, launch)
    rpc = await stack.enter_async_context(Rpc(info.url, hub))
    await check_chain(rpc, info, settings.chain_id)
    fees = await FeePolicy.detect(rpc, settings.fixed_gas_price_wei)
    engine = await stack.enter_async_context(
        TxEngine(rpc, hub, clock, fees, info.chain_id, tx_timeout=settings.tx_timeout)
    )
    return ChainSession(info, rpc, fees, engine, clock, hub)
