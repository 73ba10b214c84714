"""The embedded dev chain: eth-tester/py-evm in a child process serving JSON-RPC.

:class:`DevChain` (in :mod:`utils.devchain.chain`) starts and stops it;
``python -m utils.devchain --help`` runs it alone.
"""

from utils.devchain.chain import DevChain

__all__ = ["DevChain"]
