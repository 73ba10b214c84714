"""py-evm's elliptic-curve precompiles, imported on their first call.

``import eth`` imports every precompile module, and those of BLS12-381 (EIP-2537,
0x0b-0x11) and alt_bn128 (0x06-0x08) import py_ecc's curve tables on the way: about 0.25 s
of the chain child's start (py_ecc builds its pairing constants at import), for precompiles
a stress run seldom calls. :func:`install` (run by the package, before any module of the
room imports ``eth``) puts a stand-in for each of those four modules in ``sys.modules``:
each precompile in it is a :class:`LazyPrecompile`, which imports py-evm's own module on its
first call and calls py-evm's function, so outputs, gas and errors are py-evm's; only the
first call pays the import. Nothing is installed once ``eth.precompiles`` is imported.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

#: module -> (its precompiles, whether py-evm curries them with their gas costs)
LAZY: dict[str, tuple[tuple[str, ...], bool]] = {
    "eth.precompiles.bls12_381": (("bls12_g1_add", "bls12_g1_msm", "bls12_map_fp_to_g1",
                                   "bls12_g2_add", "bls12_g2_msm", "bls12_map_fp2_to_g2",
                                   "bls12_pairing_check"), False),
    "eth.precompiles.ecadd": (("ecadd",), True),
    "eth.precompiles.ecmul": (("ecmul",), True),
    "eth.precompiles.ecpairing": (("ecpairing",), True),
}
_LOCK = threading.Lock()


class LazyStandIn(types.ModuleType):
    """What ``sys.modules`` holds for a lazy module until its first precompile call."""


def real_module(name: str) -> types.ModuleType:
    """py-evm's module ``name``, imported now if only its stand-in is there."""
    with _LOCK:
        module = sys.modules.get(name)
        if module is not None and not isinstance(module, LazyStandIn):
            return module
        parent_name, _, short = name.rpartition(".")
        parent = importlib.import_module(parent_name)
        spec = importlib.machinery.PathFinder.find_spec(name, list(parent.__path__))
        if spec is None or spec.loader is None:
            raise ImportError(f"py-evm's module {name} is not found", name=name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        setattr(parent, short, module)
        return module


class LazyPrecompile:
    """py-evm's precompile ``name`` of ``module``, imported on the first call. A curried one
    (``ecadd(gas_cost=...)``, as py-evm's forks bind their gas costs) keeps the keywords."""

    def __init__(self, module: str, name: str, curried: bool, **bound: Any) -> None:
        self.module = module
        self.name = name
        self.curried = curried
        self.bound = bound
        self._function: Any = None

    def __call__(self, computation: Any = None, **kwargs: Any) -> Any:
        if computation is None and self.curried:
            return LazyPrecompile(self.module, self.name, True, **{**self.bound, **kwargs})
        if self._function is None:
            self._function = getattr(real_module(self.module), self.name)
        return self._function(computation, **self.bound, **kwargs)

    def __repr__(self) -> str:
        return f"LazyPrecompile({self.module}.{self.name}, {self.bound})"


def install() -> bool:
    """Put the stand-ins in ``sys.modules`` unless py-evm's precompiles are already imported
    (or py-evm is not installed); True when they are in place."""
    if "eth.precompiles" in sys.modules:
        return all(isinstance(sys.modules.get(name), LazyStandIn) for name in LAZY)
    eth = importlib.util.find_spec("eth")  # finds the package without importing it
    if eth is None or not eth.submodule_search_locations:
        return False
    for name, (functions, curried) in LAZY.items():
        if name in sys.modules:
            continue
        stand_in = LazyStandIn(name, f"stand-in for py-evm's {name} (utils.devchain."
                               "lazy_precompiles)")
        for function in functions:
            setattr(stand_in, function, LazyPrecompile(name, function, curried))
        package = Path(eth.submodule_search_locations[0], *name.split(".")[1:])
        if package.is_dir():  # its submodules stay importable by their own names
            stand_in.__path__ = [str(package)]
        sys.modules[name] = stand_in
    return True
