"""The Nitro emulation's settable parameters, their defaults and their command-line flags
(light: no py-evm, imported by the chain's command line and the managing parent too).

Defaults and their sources (docs/nitro.md):

* start price :data:`DEFAULT_L1_BASE_FEE_WEI`, 50 gwei per calldata unit: Nitro's
  ``arbos/arbostypes/incomingmessage.go`` ``DefaultInitialL1BaseFee``;
* the parent chain's base fee, what the batch poster pays: 1 gwei, go-ethereum's
  ``params.InitialBaseFee`` (EIP-1559's initial base fee);
* a batch at most 100,000 compressed bytes (``arbnode/batch_poster.go``
  ``DefaultBatchPosterConfig.MaxCalldataBatchSize``), posted at the latest after
  :data:`DEFAULT_MAX_DELAY_S` (Nitro: ``MaxDelay`` 1 h, dev-scaled here);
* a parent-chain block every :data:`DEFAULT_PARENT_BLOCK_TIME_S` (Ethereum: 12 s, dev-scaled).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from utils.devchain.nitro.parent_chain import DEFAULT_PARENT_BLOCK_TIME_S
from utils.devchain.nitro.pricer import PricerParams

__all__ = [
    "DEFAULT_L1_BASE_FEE_WEI",
    "DEFAULT_MAX_DELAY_S",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_PARENT_BASE_FEE_WEI",
    "BatchPolicy",
    "add_batch_arguments",
    "batch_policy",
    "run_batch_policy",
]

DEFAULT_L1_BASE_FEE_WEI = 50 * 10**9  # arbostypes.DefaultInitialL1BaseFee
DEFAULT_PARENT_BASE_FEE_WEI = 10**9  # go-ethereum params.InitialBaseFee
NITRO_MAX_DELAY_S = 3600.0  # DefaultBatchPosterConfig.MaxDelay
DEFAULT_MAX_DELAY_S = 3.0  # dev-scaled
DEFAULT_MAX_SIZE = 100_000  # DefaultBatchPosterConfig.MaxCalldataBatchSize


@dataclass(frozen=True)
class BatchPolicy:
    """When batches go, how fast the parent chain runs, and what it charges for a batch."""

    max_delay: float = DEFAULT_MAX_DELAY_S
    max_size: int = DEFAULT_MAX_SIZE
    parent_base_fee_wei: int = DEFAULT_PARENT_BASE_FEE_WEI
    parent_block_time: float = DEFAULT_PARENT_BLOCK_TIME_S
    pricer: PricerParams = field(default_factory=PricerParams)

    def __post_init__(self) -> None:
        if (self.max_delay < 0 or self.max_size <= 0 or self.parent_base_fee_wei < 0
                or self.parent_block_time <= 0):  # fmt: skip
            raise ValueError("batch delay >= 0 s, size > 0 bytes, parent base fee >= 0 wei, "
                             "parent block time > 0 s")  # fmt: skip

    def argv(self) -> list[str]:
        """The command-line flags that give this policy (for a managed child)."""
        return ["--batch-max-delay", str(self.max_delay), "--batch-max-size", str(self.max_size),
                "--parent-base-fee-wei", str(self.parent_base_fee_wei),
                "--parent-block-time", str(self.parent_block_time)]  # fmt: skip


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch poster's and the parent chain's flags."""
    parser.add_argument(
        "--batch-max-delay", type=float, default=DEFAULT_MAX_DELAY_S, metavar="SECONDS",
        help="the emulated batch poster posts a batch at the latest this long after its first "
        "block (Nitro: 1 h; default %(default)s)",
    )
    parser.add_argument(
        "--batch-max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="BYTES",
        help="...or as soon as it reaches this many brotli-compressed bytes (Nitro's "
        "MaxCalldataBatchSize; default %(default)s)",
    )
    parser.add_argument(
        "--parent-base-fee-wei", type=int, default=DEFAULT_PARENT_BASE_FEE_WEI,
        help="the emulated parent chain's base fee, what each batch costs the poster per L1 "
        "gas; the L1 price moves toward what posting costs per unit (default %(default)s: "
        "go-ethereum's InitialBaseFee, 1 gwei)",
    )
    parser.add_argument(
        "--parent-block-time", type=float, default=DEFAULT_PARENT_BLOCK_TIME_S,
        metavar="SECONDS",
        help="seconds per block of the emulated parent chain, for receipts' l1BlockNumber and "
        "NodeInterface's getL1Confirmations (Ethereum: 12; default %(default)s)",
    )


def batch_policy(args: argparse.Namespace) -> BatchPolicy:
    return BatchPolicy(args.batch_max_delay, args.batch_max_size, args.parent_base_fee_wei,
                       args.parent_block_time)  # fmt: skip


def run_batch_policy(settings: Any) -> BatchPolicy:
    """The policy a run's settings ask for (``parent_base_fee_gwei``, ``batch_max_delay``,
    ``batch_max_size``, ``parent_block_time``; None: the default here)."""
    given: dict[str, Any] = {}
    if settings.parent_base_fee_gwei is not None:
        given["parent_base_fee_wei"] = round(settings.parent_base_fee_gwei * 10**9)
    if settings.batch_max_delay is not None:
        given["max_delay"] = settings.batch_max_delay
    if settings.batch_max_size is not None:
        given["max_size"] = settings.batch_max_size
    if settings.parent_block_time is not None:
        given["parent_block_time"] = settings.parent_block_time
    return BatchPolicy(**given)
