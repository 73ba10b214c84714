"""A null JSON-RPC node: accepts raw transactions, seals them into blocks on a timer and
serves blocks and receipts at negligible cost, so a client under test is what is measured.

    .venv/bin/python bench/null_node.py [--port 0] [--block-time 0.25] [--chain-id 412346]

Prints ``listening http://127.0.0.1:PORT`` once it serves. Every transaction is included in
the next block with status 1 and 21,000 gas: nothing is decoded, executed or checked beyond
hex (no signature recovery, no nonces: ``eth_getTransactionCount`` is always 0 and a
resent nonce is simply included again). Receipts have the shape and size of a real node's
(logs bloom included) so the client's decoding cost stays honest. ``null_stats`` returns
{"included", "blocks", "pending"}. Single and batch requests; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from aiohttp import web

from utils.chain.signer import keccak256

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BLOOM = "0x" + "00" * 256
BASE_FEE = 10**8  # 0.1 gwei, as Nitro
decode = msgspec.json.Decoder().decode  # requests, 4x faster than json.loads
TRANSFER_GAS = 21_000
RECEIPT = (
    '{{"blockHash":"{block_hash}","blockNumber":"{number}","contractAddress":null,'
    '"cumulativeGasUsed":"{cumulative}","effectiveGasPrice":"' + hex(BASE_FEE) + '",'
    '"from":"' + ZERO_ADDRESS + '","gasUsed":"' + hex(TRANSFER_GAS) + '","logs":[],'
    '"logsBloom":"' + ZERO_BLOOM + '","status":"0x1","to":"' + ZERO_ADDRESS + '",'
    '"transactionHash":"{tx_hash}","transactionIndex":"{index}","type":"0x2"}}'
)


@dataclass(slots=True)
class Block:
    number: int
    hash: str
    timestamp: int
    tx_hashes: list[str]

    def header(self, parent: str) -> dict[str, Any]:
        return {
            "number": hex(self.number), "hash": self.hash, "parentHash": parent,
            "timestamp": hex(self.timestamp), "baseFeePerGas": hex(BASE_FEE),
            "gasLimit": hex(2**50), "gasUsed": hex(TRANSFER_GAS * len(self.tx_hashes)),
            "miner": ZERO_ADDRESS, "logsBloom": ZERO_BLOOM, "transactions": self.tx_hashes,
        }

    def receipts_json(self) -> str:
        """The block's receipts: the block's fields put in once, then three per receipt
        (``%`` on a prepared template: a third of ``str.format``'s cost per receipt)."""
        template = RECEIPT.format(block_hash=self.hash, number=hex(self.number),
                                  cumulative="%s", tx_hash="%s", index="%s")
        return "[" + ",".join(template % (hex(TRANSFER_GAS * (i + 1)), h, hex(i))
                              for i, h in enumerate(self.tx_hashes)) + "]"


class NullChain:
    """The chain state: pending hashes, sealed blocks, where each hash was included."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.pending: list[str] = []
        self.blocks = [Block(0, "0x" + keccak256(b"genesis").hex(), int(time.time()), [])]
        self.where: dict[str, tuple[int, int]] = {}  # tx hash -> (block, index)
        self.included = 0

    def seal(self) -> None:
        number = len(self.blocks)
        hashes, self.pending = self.pending, []
        parent = self.blocks[-1].hash.encode()
        block_hash = "0x" + keccak256(number.to_bytes(8, "big") + parent).hex()
        self.blocks.append(Block(number, block_hash, int(time.time()), hashes))
        for i, h in enumerate(hashes):
            self.where[h] = (number, i)
        self.included += len(hashes)

    def block(self, tag: Any) -> Block | None:
        if tag in ("latest", "pending", "safe", "finalized"):
            return self.blocks[-1]
        number = 0 if tag == "earliest" else int(str(tag), 16)
        return self.blocks[number] if 0 <= number < len(self.blocks) else None

    def call(self, method: str, params: list[Any]) -> str:
        """The JSON text of ``method``'s result; KeyError for an unknown method."""
        if method == "eth_sendRawTransaction":
            tx_hash = "0x" + keccak256(bytes.fromhex(params[0][2:])).hex()
            self.pending.append(tx_hash)
            return f'"{tx_hash}"'
        if method == "eth_getBlockReceipts":
            block = self.block(params[0])
            return "null" if block is None else block.receipts_json()
        if method == "eth_getTransactionReceipt":
            return self._receipt(params[0].lower())
        if method == "eth_getBlockByNumber":
            block = self.block(params[0])
            if block is None:
                return "null"
            return json.dumps(block.header(self.blocks[max(0, block.number - 1)].hash))
        return json.dumps(self._simple(method, params))

    def _receipt(self, tx_hash: str) -> str:
        if tx_hash not in self.where:
            return "null"
        number, index = self.where[tx_hash]
        block = self.blocks[number]
        return RECEIPT.format(block_hash=block.hash, number=hex(number), tx_hash=tx_hash,
                              index=hex(index), cumulative=hex(TRANSFER_GAS * (index + 1)))

    def _simple(self, method: str, params: list[Any]) -> Any:
        answers: dict[str, Any] = {
            "eth_chainId": hex(self.chain_id),
            "eth_blockNumber": hex(self.blocks[-1].number),
            "eth_getTransactionCount": "0x0",
            "eth_getBalance": hex(10**30),
            "eth_gasPrice": hex(BASE_FEE),
            "eth_estimateGas": hex(TRANSFER_GAS),  # every transaction costs a transfer here
            "eth_maxPriorityFeePerGas": "0x0",
            "web3_clientVersion": "kcstress-null-node/1",
            "net_version": str(self.chain_id),
            "null_stats": {"included": self.included, "blocks": len(self.blocks) - 1,
                           "pending": len(self.pending)},
        }
        return answers[method]


def reply(chain: NullChain, request: Any) -> str:
    """One JSON-RPC request object -> its response text."""
    req_id = request.get("id") if isinstance(request, dict) else None
    req_id = str(req_id) if type(req_id) is int else json.dumps(req_id)
    try:
        result = chain.call(request["method"], list(request.get("params") or []))
    except KeyError:
        return (f'{{"jsonrpc":"2.0","id":{req_id},"error":{{"code":-32601,'
                f'"message":"method not found"}}}}')
    except (ValueError, TypeError, IndexError) as exc:
        message = json.dumps(f"invalid params: {exc}")
        return f'{{"jsonrpc":"2.0","id":{req_id},"error":{{"code":-32602,"message":{message}}}}}'
    return f'{{"jsonrpc":"2.0","id":{req_id},"result":{result}}}'


def make_app(chain: NullChain) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        try:
            body = decode(await request.read())
        except msgspec.DecodeError:
            text = '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}'
            return web.Response(text=text, content_type="application/json")
        if isinstance(body, list):
            text = "[" + ",".join(reply(chain, r) for r in body) + "]"
        else:
            text = reply(chain, body)
        return web.Response(text=text, content_type="application/json")

    app = web.Application(client_max_size=256 * 1024**2)
    app.router.add_post("/", handle)
    return app


async def seal_forever(chain: NullChain, block_time: float) -> None:
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        next_at += block_time
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        chain.seal()


async def serve(port: int, block_time: float, chain_id: int) -> None:
    chain = NullChain(chain_id)
    runner = web.AppRunner(make_app(chain), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening http://127.0.0.1:{bound}", flush=True)
    try:
        await seal_forever(chain, block_time)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="127.0.0.1 port (0 = any free)")
    parser.add_argument("--block-time", type=float, default=0.25, help="seconds between blocks")
    parser.add_argument("--chain-id", type=int, default=412346)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.block_time, args.chain_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
