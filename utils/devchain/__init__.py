"""The devchain room: the embedded dev chain, eth-tester/py-evm in a child process serving
JSON-RPC, with the Stylus WASM host inside it (`utils.devchain.stylus`). It may use the basics
and `utils.chain.stylus_code` (the Stylus format it implements); nothing in `utils.chain` imports
it: a run hands `utils.devchain.launch.launch_embedded` to the chain session.

:class:`DevChain` (in :mod:`utils.devchain.chain`) starts and stops it;
``python -m utils.devchain --help`` runs it alone. ``DevChain`` is imported on first use, so
that importing a light module of the room (:mod:`utils.devchain.prestart`) does not import
eth-account (about 0.5-1 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from utils.devchain.chain import DevChain

__all__ = ["DevChain"]


def __getattr__(name: str) -> Any:
    if name == "DevChain":
        from utils.devchain.chain import DevChain

        return DevChain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
