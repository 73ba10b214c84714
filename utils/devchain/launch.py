"""Start the local chain a run asked for (no ``--rpc-url``): the embedded py-evm chain.

A run, ``lcore_node serve`` and ``verify`` hand :func:`launch_embedded` to
:func:`utils.chain.session.open_session`, so the chain room never imports this one.
"""

from __future__ import annotations

from utils.devchain.chain import DevChain
from utils.settings import Settings


def launch_embedded(settings: Settings) -> DevChain:
    """Started from the calling (main) thread on purpose: the child's PR_SET_PDEATHSIG is tied
    to the thread that starts it."""
    return DevChain.start(block_time=settings.block_time, stylus=settings.contract == "stylus")
