"""Multi-block queries of the dev chain: eth_getLogs and eth_feeHistory."""

from __future__ import annotations

from eth.abc import LogAPI
from eth_bloom import BloomFilter

from utils.devchain.backend import DevNode, SealedBlock
from utils.devchain.encode import Json, effective_gas_price, encode_log, q

MAX_LOG_BLOCK_RANGE = 50_000
MAX_FEE_HISTORY_BLOCKS = 1024

TopicFilter = list[set[bytes] | None]


def _bloom_may_match(bloom_value: int, addresses: set[bytes] | None, topics: TopicFilter) -> bool:
    if bloom_value == 0:
        return False
    bloom = BloomFilter(bloom_value)
    if addresses is not None and not any(a in bloom for a in addresses):
        return False
    return all(wanted is None or any(t in bloom for t in wanted) for wanted in topics)


def _log_matches(log: LogAPI, addresses: set[bytes] | None, topics: TopicFilter) -> bool:
    if addresses is not None and log.address not in addresses:
        return False
    if len(topics) > len(log.topics):
        return False
    return all(
        wanted is None or topic.to_bytes(32, "big") in wanted
        for wanted, topic in zip(topics, log.topics, strict=False)
    )


def block_logs(
    sealed: SealedBlock, addresses: set[bytes] | None, topics: TopicFilter
) -> list[Json]:
    out = []
    txs = sealed.block.transactions
    for i, receipt in enumerate(sealed.receipts):
        for j, log in enumerate(receipt.logs):
            if _log_matches(log, addresses, topics):
                out.append(encode_log(log, sealed, txs[i], i, sealed.log_offsets[i] + j))
    return out


def get_logs(
    node: DevNode, first: int, last: int, addresses: set[bytes] | None, topics: TopicFilter
) -> list[Json]:
    """Logs of canonical blocks ``first..last`` (inclusive) matching the filter, in order."""
    if last - first >= MAX_LOG_BLOCK_RANGE:
        raise ValueError(f"block range too large: {last - first + 1} > {MAX_LOG_BLOCK_RANGE}")
    out: list[Json] = []
    for number in range(first, last + 1):
        if _bloom_may_match(node.header_at(number).bloom, addresses, topics):
            out.extend(block_logs(node.sealed(number), addresses, topics))
    return out


def _rewards(sealed: SealedBlock, percentiles: list[float]) -> list[str]:
    """Effective priority fees at gas-weighted percentiles of one block (geth's method)."""
    block = sealed.block
    base_fee = getattr(block.header, "base_fee_per_gas", 0) or 0
    if not block.transactions or block.header.gas_used == 0:
        return [q(0) for _ in percentiles]
    previous = 0
    tips = []
    for tx, receipt in zip(block.transactions, sealed.receipts, strict=True):
        tips.append((effective_gas_price(tx, base_fee) - base_fee, receipt.gas_used - previous))
        previous = receipt.gas_used
    tips.sort()
    out, index, cumulative = [], 0, tips[0][1]
    for p in percentiles:
        threshold = block.header.gas_used * p / 100
        while cumulative < threshold and index < len(tips) - 1:
            index += 1
            cumulative += tips[index][1]
        out.append(q(tips[index][0]))
    return out


def fee_history(node: DevNode, count: int, newest: int, percentiles: list[float]) -> Json:
    """eth_feeHistory over the ``count`` blocks ending at ``newest`` (clamped to the blocks
    the chain still keeps)."""
    kept = node.pruner.oldest_block if node.pruner is not None else 0
    first = kept if kept > 1 else 0  # genesis is kept too, and 1 means nothing is pruned yet
    count = max(1, min(count, MAX_FEE_HISTORY_BLOCKS, newest + 1 - first))
    oldest = newest - count + 1
    headers = [node.header_at(n) for n in range(oldest, newest + 1)]
    head = node.head().block_number
    after = node.header_at(newest + 1) if newest < head else node.pending_view()[0]
    result: Json = {
        "oldestBlock": q(oldest),
        "baseFeePerGas": [q(getattr(h, "base_fee_per_gas", 0) or 0) for h in [*headers, after]],
        "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
    }
    if percentiles:
        result["reward"] = [
            _rewards(node.sealed(n), percentiles) for n in range(oldest, newest + 1)
        ]
    return result
