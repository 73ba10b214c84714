"""The devchain room: the embedded dev chain, py-evm in a child process serving
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

from utils.devchain.lazy_precompiles import install as _lazy_precompiles

# before any module of the room imports py-evm: its BLS12-381 and alt_bn128 precompiles are
# imported on their first call (py_ecc's tables cost the chain child's start about 0.25 s)
_lazy_precompiles()

if TYPE_CHECKING:
    from utils.devchain.chain import DevChain

__all__ = ["DevChain"]


def __getattr__(name: str) -> Any:
    if name == "DevChain":
        from utils.devchain.chain import DevChain

        return DevChain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
