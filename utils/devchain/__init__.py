"""The devchain room: the embedded dev chain, eth-tester/py-evm in a child process serving
JSON-RPC, with the Stylus WASM host inside it (`utils.devchain.stylus`). It may use the basics
and `utils.chain.stylus_code` (the Stylus format it implements); nothing in `utils.chain` imports
it: a run hands `utils.devchain.launch.launch_embedded` to the chain session.

:class:`DevChain` (in :mod:`utils.devchain.chain`) starts and stops it;
``python -m utils.devchain --help`` runs it alone.
"""

from utils.devchain.chain import DevChain

__all__ = ["DevChain"]
