"""Start the local chain a run asked for (no ``--rpc-url``): the embedded py-evm chain, or
anvil with ``--chain anvil``.

A run, ``lcore_node serve`` and ``verify`` hand :func:`launch_embedded` to
:func:`utils.chain.session.open_session`, so the chain room never imports this one.
"""

from __future__ import annotations

from utils.devchain.anvil import DEFAULT_BLOCK_TIME, AnvilChain
from utils.devchain.chain import DevChain
from utils.devchain.nitro.options import run_batch_policy
from utils.devchain.prestart import l1_base_fee_wei
from utils.settings import Settings


def launch_embedded(settings: Settings) -> DevChain | AnvilChain:
    """The local chain ``settings.chain`` names: the embedded chain (kept in
    ``settings.devchain_data_dir`` when set), or anvil (``--chain anvil``; block time 1 s
    unless ``--block-time`` is given). Started from the calling (main)
    thread on purpose: the child's PR_SET_PDEATHSIG is tied to the thread that starts it."""
    if settings.chain == "anvil":
        given = "block_time" in settings.model_fields_set
        return AnvilChain.start(block_time=settings.block_time if given else DEFAULT_BLOCK_TIME)
    stylus = "stylus" in (settings.contract, settings.dapp)
    return DevChain.start(block_time=settings.block_time, stylus=stylus,
                          l1_base_fee_wei=l1_base_fee_wei(settings),
                          history_blocks=settings.chain_history_blocks,
                          state_blocks=settings.chain_state_blocks,
                          state_cache_mb=settings.chain_state_cache_mb,
                          data_dir=settings.devchain_data_dir,
                          batches=run_batch_policy(settings))
