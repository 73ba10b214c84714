"""The IoT half of a run: the lcore node (in process or over HTTP) and its workloads."""

from __future__ import annotations

import logging
import random
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from contracts.data_pipeline import RegistrationWorkload, SubmissionWorkload
from lcore_node.chain import EngineCommitter
from lcore_node.client import LcoreHttpClient
from lcore_node.config import NodeConfig
from lcore_node.node import LcoreNode
from lcore_node.types import NodeApi
from utils.chain.processor import Processor, ensure_processor
from utils.chain.session import ChainSession
from utils.chain.wallets import WalletPool
from utils.iot.devices import DeviceFleet
from utils.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IotParts:
    api: NodeApi
    node: LcoreNode | None  # None when the node is remote (LCORE_NODE_URL)
    committer: EngineCommitter | None
    processor: Processor | None
    registration: RegistrationWorkload
    submission: SubmissionWorkload


def iot_enabled(settings: Settings) -> bool:
    return settings.iot_device_count > 0 and (
        settings.iot_registration_rate > 0 or settings.iot_data_submission_rate > 0
    )


async def open_iot(
    settings: Settings, session: ChainSession, wallets: WalletPool, run_dir: Path,
    seed: int, stack: AsyncExitStack,
) -> IotParts:
    """Start the node (closed with ``stack``) and build the two IoT workloads."""
    fleet = DeviceFleet(settings.iot_device_count, seed, settings.iot_data_dir)
    node: LcoreNode | None = None
    committer: EngineCommitter | None = None
    processor: Processor | None = None
    api: NodeApi
    if settings.lcore_node_url:
        api = await stack.enter_async_context(
            LcoreHttpClient(settings.lcore_node_url, hub=session.hub)
        )
        log.info("IoT data goes to the lcore node at %s", settings.lcore_node_url)
    else:
        processor = await ensure_processor(session, settings)
        committer = EngineCommitter(session.engine, session.rpc, processor.address,
                                    processor.abi, wallets.role("committer"),
                                    settings.default_gas_limit)
        await committer.calibrate()
        config = NodeConfig.from_env(
            settings.lcore_db_path or run_dir / "lcore.db",
            settings.lcore_key_dir or settings.out / "keys",
            drain_timeout=settings.drain_timeout,
        )
        node = LcoreNode(config, hub=session.hub, committer=committer, clock=session.clock.now)
        await node.start()
        stack.push_async_callback(node.close, 0.0)
        api = node
    registration = RegistrationWorkload(api, fleet)
    submission = SubmissionWorkload(api, registration, session.clock,
                                    random.Random(seed ^ 0x10C0DE))
    return IotParts(api, node, committer, processor, registration, submission)
