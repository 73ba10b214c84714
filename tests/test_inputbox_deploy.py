"""A run without CARTESI_* addresses deploys Cartesi's InputBox, Authority and Application
from the package's bytecode (issue 24.2), on the embedded chain through the run's own path:
the Application names the InputBox as its data availability and the Authority as its
consensus, as a Cartesi node reads them; a given InputBox gets an Application of its own."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from utils.chain.inputbox_deploy import EPOCH_LENGTH, TEMPLATE_HASH, ensure_inputbox
from utils.chain.session import ChainSession, open_session
from utils.clock import Clock
from utils.devchain import DevChain
from utils.observe.stats import StatsHub
from utils.settings import load_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def call(session: ChainSession, to: str, signature: str) -> bytes:
    raw = await session.rpc.call("eth_call", {
        "to": to, "data": "0x" + keccak(text=signature)[:4].hex()}, "latest")
    return bytes.fromhex(str(raw)[2:])


async def test_inputbox_authority_and_application(devchain: DevChain) -> None:
    settings = load_settings({"rpc_url": devchain.url,
                              "private_key": devchain.funder_key.hex()})
    async with AsyncExitStack() as stack:
        session = await open_session(settings, StatsHub(), Clock(), stack)
        fresh = await ensure_inputbox(session, None, None)
        assert fresh.deployed and fresh.deploy_gas > 0
        for box, app in ((fresh.address, fresh.app),
                         ((again := await ensure_inputbox(session, fresh.address, None)).address,
                          again.app)):
            (availability,) = decode(["bytes"], await call(session, app,
                                                           "getDataAvailability()"))
            assert availability == keccak(text="InputBox(address)")[:4] + bytes(12) + \
                bytes.fromhex(box[2:])
            assert await call(session, app, "getTemplateHash()") == TEMPLATE_HASH
            (consensus,) = decode(["address"], await call(session, app,
                                                          "getOutputsMerkleRootValidator()"))
            (epoch,) = decode(["uint256"], await call(session, consensus, "getEpochLength()"))
            assert epoch == EPOCH_LENGTH
        assert again.app != fresh.app and not again.deployed
        given = await ensure_inputbox(session, fresh.address, "0x" + "ab" * 20)
        assert given.app == to_checksum_address("0x" + "ab" * 20) and given.deploy_gas == 0
