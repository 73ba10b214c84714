"""Stylus prices, as Nitro sets them (ArbOS 32+ defaults, Stylus version 2).

Sources (OffchainLabs/nitro): ``arbitrator/arbutil/src/pricing.rs`` (hostio ink),
``arbitrator/prover/src/programs/meter.rs`` (read/write/keccak ink), ``arbos/programs/
params.go`` (ink price, free pages, page gas, init-gas scalars), ``arbos/programs/memory.go``
(the page cost model) and ``arbitrator/arbutil/src/evm/storage.rs`` (storage-cache gas).
"""

from __future__ import annotations

__all__ = [
    "INK_PRICE",
    "cached_gas",
    "evm_memory_cost",
    "gas_to_ink",
    "init_gas",
    "ink_to_gas",
    "keccak_ink",
    "memory_gas_cost",
    "program_init_gas",
    "read_ink",
    "write_ink",
]

INK_PRICE = 10_000  # ink per EVM gas
STYLUS_VERSION = 2
HOSTIO_INK = 8400
PTR_INK = 13440 - HOSTIO_INK
EVM_API_INK = 59673
DIV_INK = 20000
MUL_MOD_INK = 24100
ADD_MOD_INK = 21000

COLD_SLOAD_GAS = 2100
WARM_SLOAD_GAS = 100
COLD_ACCOUNT_GAS = 2600
SSTORE_SENTRY_GAS = 2300
TLOAD_GAS = TSTORE_GAS = 100
LOG_TOPIC_GAS = 375
LOG_DATA_GAS = 8
STORAGE_CACHE_ACCESS_GAS = 10  # StorageCache::REQUIRED_ACCESS_GAS

FREE_PAGES = 2
PAGE_GAS = 1000
MIN_INIT_GAS = 69  # x 128 gas (Stylus v2: v2MinInitGas)
MIN_INIT_GAS_UNITS = 128  # MinInitGasUnits
MIN_CACHED_INIT_GAS = 11  # x 32 gas (initialMinCachedGas)
MIN_CACHED_GAS_UNITS = 32  # MinCachedGasUnits
BLOCK_CACHE_SIZE = 32  # initialRecentCacheSize: programs a block remembers (ArbOS >= 60)
RECENT_WASMS_ARBOS = 60  # ArbOS version that enabled the fixed RecentWasms cache
INIT_COST_SCALAR = 50  # x 2 %
CACHED_COST_SCALAR = 50

_MEMORY_EXPONENTS = (
    1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9, 11, 12, 14, 17, 19, 22, 25, 29, 33, 38,
    43, 50, 57, 65, 75, 85, 98, 112, 128, 147, 168, 193, 221, 253, 289, 331, 379, 434, 497, 569,
    651, 745, 853, 976, 1117, 1279, 1463, 1675, 1917, 2194, 2511, 2874, 3290, 3765, 4309, 4932,
    5645, 6461, 7395, 8464, 9687, 11087, 12689, 14523, 16621, 19024, 21773, 24919, 28521, 32642,
    37359, 42758, 48938, 56010, 64104, 73368, 83971, 96106, 109994, 125890, 144082, 164904, 188735,
    216010, 247226, 282953, 323844, 370643, 424206, 485509, 555672, 635973, 727880, 833067, 953456,
    1091243, 1248941, 1429429, 1636000, 1872423, 2143012, 2452704, 2807151, 3212820, 3677113,
    4208502, 4816684, 5512756, 6309419, 7221210, 8264766, 9459129, 10826093, 12390601, 14181199,
    16230562, 18576084, 21260563, 24332984, 27849408, 31873999,
)
_U64_MAX = (1 << 64) - 1


def gas_to_ink(gas: int) -> int:
    return gas * INK_PRICE


def ink_to_gas(ink: int) -> int:
    return ink // INK_PRICE


def write_ink(size: int) -> int:
    """Ink to copy ``size`` bytes into the program (read_args, storage_load, ...)."""
    return 5040 + 30 * max(size - 32, 0)


def read_ink(size: int) -> int:
    """Ink to copy ``size`` bytes out of the program (write_result, emit_log, ...)."""
    return 16381 + 55 * max(size - 32, 0)


def keccak_ink(size: int) -> int:
    words = (size + 31) // 32
    return 121800 + 21000 * max(words - 2, 0)


def _page_exp(pages: int) -> int:
    return _MEMORY_EXPONENTS[pages] if pages < len(_MEMORY_EXPONENTS) else _U64_MAX


def memory_gas_cost(new: int, open_pages: int, ever: int) -> int:
    """Gas to open ``new`` pages when ``open_pages`` are open and ``ever`` have been."""
    new_open = min(open_pages + new, 0xFFFF)
    new_ever = max(ever, new_open)
    if new_ever <= FREE_PAGES:
        return 0
    adding = max(new_open - FREE_PAGES, 0) - max(open_pages - FREE_PAGES, 0)
    linear = max(adding, 0) * PAGE_GAS
    return min(linear + _page_exp(new_ever) - _page_exp(ever), _U64_MAX)


def init_gas(init_cost: int) -> int:
    """Nitro ``Program.initGas`` (``arbos/programs/programs.go``): what instantiating a
    program that is not cached costs, ``MinInitGas * 128 + ceil(initCost * scalar% )``."""
    return MIN_INIT_GAS * MIN_INIT_GAS_UNITS + -(-init_cost * INIT_COST_SCALAR * 2 // 100)


def cached_gas(cached_cost: int) -> int:
    """Nitro ``Program.cachedGas``: ``MinCachedInitGas * 32 + ceil(cachedCost * scalar%)``."""
    return (MIN_CACHED_INIT_GAS * MIN_CACHED_GAS_UNITS
            + -(-cached_cost * CACHED_COST_SCALAR * 2 // 100))


def program_init_gas(init_cost: int, cached_cost: int, version: int, cached: bool) -> int:
    """What a call pays to start a program, as Nitro's ``Programs.CallProgram`` charges it:
    the cached gas when the program is cached (ArbWasmCache, or a hit in the block's recent
    programs on ArbOS >= 60) or its Stylus version is above 1 (from v2 the cached cost is
    no longer part of the init cost), plus the init gas when it is not cached."""
    gas = cached_gas(cached_cost) if cached or version > 1 else 0
    return gas if cached else gas + init_gas(init_cost)


def evm_memory_cost(size: int) -> int:
    """What ``size`` bytes of EVM memory cost; Stylus return data costs at least this."""
    words = (size + 31) // 32
    return words * 3 + words * words // 512


def storage_read_gas(reads: int) -> int:
    """Storage-cache bookkeeping gas for the ``reads``-th load of a call."""
    return 0 if reads <= 32 else (2 if reads <= 128 else 10)


def storage_write_gas(writes: int) -> int:
    """Storage-cache bookkeeping gas for the ``writes``-th cached store of a call."""
    return 0 if writes <= 8 else (7 if writes <= 64 else 10)
