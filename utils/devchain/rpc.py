"""The dev chain's JSON-RPC method table (transport-free: see ``utils.devchain.server``).

Standard methods follow geth's result encoding. Dev-only admin methods for fault injection:

* ``kcdev_setAcceptingTransactions(bool)``: while false, ``eth_sendRawTransaction`` answers
  error -32000 "node is not accepting transactions" (reads keep working). Returns true.
* ``kcdev_mine()``: seal the open block now (an empty block if nothing is pending); returns the
  new block number as a quantity.
* ``kcdev_setBlockTime(seconds)``: the interval miner's block time from now on (a run's
  set-up uses a short one, then restores the configured one before its load); returns the
  previous one.
* ``kcdev_setL1BaseFee(quantity)``: the L1 base fee estimate (wei per calldata unit, what
  ArbGasInfo.getL1BaseFeeEstimate answers) from the next block without a transaction on;
  returns that block's number.
* ``kcdev_chainStats()``: the retention window (``utils.devchain.pruning``): head, oldest kept
  block and state, store entries and bytes; null on an archive chain (nothing pruned).

Errors: -32602 for bad params, -32601 for unknown methods, -32000 for refused transactions
(geth's wording: "nonce too low", "insufficient funds ...", ...) and failed calls, code 3 with
the revert bytes in ``data`` for a reverted eth_call/eth_estimateGas (as geth does).
A block older than the history window answers 4444 "pruned history unavailable" (blocks,
receipts, logs); a state older than the state window answers -32000 "missing trie node"; a
pruned transaction's receipt is null, as on geth with history expiry.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from utils.devchain import params as p
from utils.devchain.backend import BlockNotFoundError, DevNode
from utils.devchain.encode import Json, b, encode_block, encode_receipt, encode_tx, q, word
from utils.devchain.exec import CallFailed, estimate_gas, execute_call
from utils.devchain.params import JsonRpcError, arg
from utils.devchain.pruning import PrunedError
from utils.devchain.queries import fee_history, get_logs
from utils.devchain.txcheck import TxRefused

if TYPE_CHECKING:
    from utils.devchain.server import BlockTimer

logger = logging.getLogger(__name__)

PRIORITY_FEE_WEI = 10**9
PRUNED_HISTORY = 4444  # EIP-4444 history expiry, geth's code
CLIENT_VERSION = f"kcdev/v0.1.0/py-evm/python-{platform.python_version()}"

Handler = Callable[[list[Any]], Any]


class DevChainRpc:
    """Dispatches one JSON-RPC call (method name + params list) to the :class:`DevNode`."""

    def __init__(self, node: DevNode, *, automine: bool, timer: BlockTimer | None = None
                 ) -> None:
        self.node = node
        self.automine = automine
        self.timer = timer
        self.methods: dict[str, Handler] = {
            "web3_clientVersion": lambda _: CLIENT_VERSION,
            "net_version": lambda _: str(node.chain_id),
            "net_listening": lambda _: True,
            "eth_chainId": lambda _: q(node.chain_id),
            "eth_blockNumber": lambda _: q(node.head().block_number),
            "eth_accounts": lambda _: [],
            "eth_syncing": lambda _: False,
            "eth_gasPrice": lambda _: q(self._base_fee() + PRIORITY_FEE_WEI),
            "eth_maxPriorityFeePerGas": lambda _: q(PRIORITY_FEE_WEI),
            "eth_getBlockByNumber": self._block_by_number,
            "eth_getBlockByHash": self._block_by_hash,
            "eth_getBalance": lambda ps: q(self._state(ps, 1).get_balance(arg(ps, 0, p.address))),
            "eth_getTransactionCount": lambda ps: q(
                self._state(ps, 1).get_nonce(arg(ps, 0, p.address))
            ),
            "eth_getCode": lambda ps: b(self._state(ps, 1).get_code(arg(ps, 0, p.address))),
            "eth_getStorageAt": lambda ps: word(
                self._state(ps, 2).get_storage(arg(ps, 0, p.address), arg(ps, 1, p.slot))
            ),
            "eth_call": lambda ps: b(execute_call(node, *self._call_args(ps))),
            "eth_estimateGas": lambda ps: q(estimate_gas(node, *self._call_args(ps))),
            "eth_feeHistory": self._fee_history,
            "eth_sendRawTransaction": self._send_raw,
            "eth_getTransactionByHash": self._tx_by_hash,
            "eth_getTransactionReceipt": self._receipt,
            "eth_getBlockReceipts": self._block_receipts,
            "eth_getLogs": self._logs,
            "kcdev_setAcceptingTransactions": self._set_accepting,
            "kcdev_mine": lambda _: q(node.seal().block.number),
            "kcdev_setBlockTime": self._set_block_time,
            "kcdev_setL1BaseFee": lambda ps: q(node.set_l1_base_fee(arg(ps, 0, p.quantity))),
            "kcdev_chainStats": lambda _: node.pruner.stats() if node.pruner else None,
        }

    def call(self, method: str, params: list[Any]) -> Any:
        """Run one method; every failure comes out as :class:`JsonRpcError`."""
        handler = self.methods.get(method)
        if handler is None:
            raise JsonRpcError(
                p.METHOD_NOT_FOUND, f"the method {method} does not exist/is not available"
            )
        try:
            return handler(params)
        except (JsonRpcError, TxRefused, CallFailed, BlockNotFoundError, PrunedError) as exc:
            raise _as_rpc_error(exc) from exc
        except Exception as exc:
            logger.exception("internal error in %s", method)
            raise JsonRpcError(p.INTERNAL_ERROR, f"internal error: {exc}") from exc

    # -- helpers ------------------------------------------------------------------------------
    def _base_fee(self) -> int:
        return int(getattr(self.node.pending_view()[0], "base_fee_per_gas", 0) or 0)

    def _state(self, params: list[Any], index: int) -> Any:
        return self.node.state_at(arg(params, index, p.block_id(self.node), "latest"))

    def _call_args(self, params: list[Any]) -> tuple[p.CallRequest, int | None]:
        number = arg(params, 1, p.block_id(self.node), "latest")
        # The open block's state is not used for calls: "pending" runs on the latest block.
        return arg(params, 0, p.call_request), number

    # -- methods ------------------------------------------------------------------------------
    def _block_by_number(self, params: list[Any]) -> Json | None:
        full = arg(params, 1, p.boolean, False)
        try:
            number = arg(params, 0, p.block_id(self.node))
        except BlockNotFoundError:
            return None
        if number is None:
            header, txs = self.node.pending_view()
            return encode_block(header, txs, full=full, size=0, pending=True)
        sealed = self.node.sealed(number)
        return encode_block(sealed.block.header, sealed.block.transactions, full=full,
                            size=sealed.size, nitro=self.node.nitro is not None)  # fmt: skip

    def _block_by_hash(self, params: list[Any]) -> Json | None:
        full = arg(params, 1, p.boolean, False)
        try:
            sealed = self.node.sealed_by_hash(arg(params, 0, p.hash32))
        except BlockNotFoundError:
            return None
        return encode_block(sealed.block.header, sealed.block.transactions, full=full,
                            size=sealed.size, nitro=self.node.nitro is not None)  # fmt: skip

    def _fee_history(self, params: list[Any]) -> Json:
        count = arg(params, 0, p.quantity)
        newest = arg(params, 1, p.block_id(self.node))
        percentiles = arg(params, 2, _percentiles, [])
        head = self.node.head().block_number
        return fee_history(self.node, count, head if newest is None else newest, percentiles)

    def _send_raw(self, params: list[Any]) -> str:
        tx_hash = self.node.send_raw(arg(params, 0, p.data))
        if self.automine:
            self.node.seal()
        return b(tx_hash)

    def _tx_by_hash(self, params: list[Any]) -> Json | None:
        found = self.node.find_transaction(arg(params, 0, p.hash32))
        if found is None:
            return None
        if found.block is None:
            return encode_tx(found.tx, None, None, None, None)
        header = found.block.block.header
        base_fee = getattr(header, "base_fee_per_gas", None)
        return encode_tx(found.tx, header.hash, header.block_number, found.index, base_fee)

    def _receipt(self, params: list[Any]) -> Json | None:
        found = self.node.find_transaction(arg(params, 0, p.hash32))
        if found is None or found.block is None:
            return None
        return encode_receipt(found.block, found.index, self.node.nitro)

    def _block_receipts(self, params: list[Any]) -> list[Json] | None:
        try:
            number = arg(params, 0, p.block_id(self.node))
        except BlockNotFoundError:
            return None
        if number is None:
            return None
        sealed = self.node.sealed(number)
        return [encode_receipt(sealed, i, self.node.nitro) for i in range(len(sealed.receipts))]

    def _logs(self, params: list[Any]) -> list[Json]:
        query = arg(params, 0, _object)
        addresses = p.address_filter(query.get("address"))
        topics = p.topic_filter(query.get("topics") or [])
        first, last = self._log_range(query)
        try:
            return get_logs(self.node, first, last, addresses, topics)
        except ValueError as exc:
            raise p.invalid(str(exc)) from exc

    def _log_range(self, query: dict[str, Any]) -> tuple[int, int]:
        if query.get("blockHash") is not None:
            number = int(self.node.sealed_by_hash(p.hash32(query["blockHash"])).block.number)
            return number, number
        head = int(self.node.head().block_number)
        first = p.block_number(self.node, query.get("fromBlock") or "latest")
        last = p.block_number(self.node, query.get("toBlock") or "latest")
        return (head if first is None else first), (head if last is None else last)

    def _set_block_time(self, params: list[Any]) -> float:
        """``kcdev_setBlockTime(seconds)``: the interval miner's block time from now on
        (0.001 to 3600 s); returns the previous one. Not for a chain that mines a block per
        transaction (started with block time 0)."""
        seconds = params[0] if len(params) == 1 else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0.001 <= seconds <= 3600:
            raise JsonRpcError(p.INVALID_PARAMS, "invalid argument 0: block time in seconds,"
                               " 0.001 to 3600")
        if self.timer is None:
            raise JsonRpcError(p.INVALID_PARAMS, "this chain mines a block per transaction")
        return self.timer.set(float(seconds))

    def _set_accepting(self, params: list[Any]) -> bool:
        self.node.accepting = arg(params, 0, p.boolean)
        logger.info("dev chain accepting transactions: %s", self.node.accepting)
        return True


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise p.invalid(f"expected an object, got {value!r}")
    return value


def _percentiles(value: Any) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 100 for v in value
    ):
        raise p.invalid(f"reward percentiles must be numbers in [0, 100]: {value!r}")
    if value != sorted(value):
        raise p.invalid(f"reward percentiles must be increasing: {value!r}")
    return [float(v) for v in value]


def _as_rpc_error(exc: Exception) -> JsonRpcError:
    if isinstance(exc, JsonRpcError):
        return exc
    if isinstance(exc, CallFailed) and exc.output is not None:
        return JsonRpcError(p.EXECUTION_REVERTED, str(exc), b(exc.output))
    if isinstance(exc, BlockNotFoundError):
        return JsonRpcError(p.SERVER_ERROR, "header not found")
    if isinstance(exc, PrunedError):  # geth's answers for expired history / pruned state
        if exc.kind == "history":
            return JsonRpcError(PRUNED_HISTORY, f"pruned history unavailable: {exc}")
        return JsonRpcError(p.SERVER_ERROR, f"missing trie node: {exc}")
    return JsonRpcError(p.SERVER_ERROR, str(exc))
