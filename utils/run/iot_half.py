"""The IoT half of a run: the lcore node (in process or over HTTP) and its workloads."""

from __future__ import annotations

import logging
import random
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from contracts.data_pipeline import RegistrationWorkload, SubmissionWorkload
from lcore_node.batch_chain import EngineBatchCommitter
from lcore_node.binding import bind
from lcore_node.chain import EngineCommitter
from lcore_node.client import LcoreHttpClient
from lcore_node.config import NodeConfig
from lcore_node.inputbox_binding import bound_inputbox
from lcore_node.inputbox_chain import EngineInputBoxCommitter
from lcore_node.inputbox_host import CartesiSide
from lcore_node.inputbox_verify import APP_DB_NAME
from lcore_node.node import LcoreNode
from lcore_node.types import NodeApi
from utils.chain.processor import Processor
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
    cartesi: CartesiSide | None = None  # --iot-commit inputbox: the application and reader


def iot_enabled(settings: Settings) -> bool:
    return settings.iot_device_count > 0 and (
        settings.iot_registration_rate > 0 or settings.iot_data_submission_rate > 0
    )


def node_config(settings: Settings, run_dir: Path) -> NodeConfig:
    """The in-process node's configuration (its environment values checked here, before the
    run directory exists)."""
    return NodeConfig.from_env(
        settings.lcore_db_path or run_dir / "lcore.db",
        settings.lcore_key_dir or settings.out / "keys",
        drain_timeout=settings.drain_timeout,
        batch_size=settings.iot_batch_size,
        batch_wait=settings.iot_batch_wait,
        inputbox_batch=settings.inputbox_batch,
        device_auth=settings.device_auth,
    )


async def open_iot(
    settings: Settings, session: ChainSession, wallets: WalletPool, config: NodeConfig,
    processor: Processor | None, seed: int, stack: AsyncExitStack,
) -> IotParts:
    """Start the node (closed with ``stack``) and build the two IoT workloads; ``processor``
    is :func:`lcore_node.binding.bound_processor`'s answer (None when the node is remote)."""
    fleet = DeviceFleet(settings.iot_device_count, seed, settings.iot_data_dir,
                        settings.device_auth)
    node: LcoreNode | None = None
    cartesi: CartesiSide | None = None
    committer: EngineCommitter | None = None
    api: NodeApi
    if settings.lcore_node_url:
        api = await stack.enter_async_context(
            LcoreHttpClient(settings.lcore_node_url, hub=session.hub)
        )
        log.info("IoT data goes to the lcore node at %s", settings.lcore_node_url)
    else:
        assert processor is not None
        committer = EngineCommitter(session.engine, session.rpc, processor.address,
                                    processor.abi, wallets.role("committer"),
                                    settings.default_gas_limit)
        await committer.calibrate()
        batches: EngineBatchCommitter | None = None
        if settings.iot_commit == "batch":
            batches = EngineBatchCommitter(session.engine, session.rpc, processor.address,
                                           wallets.role("committer"))
            await batches.calibrate()
            log.info("IoT records are committed in Merkle batches of up to %s (wait %s s)",
                     settings.iot_batch_size, settings.iot_batch_wait)
        inputbox = await _inputbox(settings, session, wallets, config)
        node = LcoreNode(config, hub=session.hub, committer=committer, clock=session.clock.now,
                         batch_committer=batches, inputbox=inputbox)
        await node.start(outbox=False)  # prepare starts it once the committers are funded
        stack.push_async_callback(node.close, 0.0)
        if inputbox is not None:
            cartesi = CartesiSide(node, inputbox, config.db_path.parent / APP_DB_NAME,
                                  hub=session.hub, clock=session.clock.now)
            await cartesi.start()
            stack.push_async_callback(cartesi.finish, 0.0)  # before the node closes
        listeners = session.engine.follower.reorg_listeners  # same loop: called in place
        listeners.append(node.on_reorg)
        stack.callback(listeners.remove, node.on_reorg)
        await bind(config.db_path, session.info.chain_id, processor, settings)
        api = node
    registration = RegistrationWorkload(api, fleet)
    submission = SubmissionWorkload(api, registration, session.clock,
                                    random.Random(seed ^ 0x10C0DE))
    return IotParts(api, node, committer, processor, registration, submission, cartesi)


async def _inputbox(
    settings: Settings, session: ChainSession, wallets: WalletPool, config: NodeConfig
) -> EngineInputBoxCommitter | None:
    """With ``--iot-commit inputbox``: the InputBox and application the database records,
    else the configured ones or a fresh deployment, and a committer to them."""
    if settings.iot_commit != "inputbox":
        return None
    deployment = await bound_inputbox(session, config.db_path,
                                      settings.cartesi_input_box_address,
                                      settings.cartesi_app_address)
    inputbox = EngineInputBoxCommitter(session.engine, session.rpc, deployment.address,
                                       deployment.app, wallets.role("committer"),
                                       deployment.deployment_block)
    await inputbox.calibrate()
    log.info("IoT records go to Cartesi's InputBox %s for application %s, up to %d per input",
             deployment.address, deployment.app, settings.inputbox_batch)
    return inputbox
