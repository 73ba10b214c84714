"""A dev chain with a data directory (``python -m utils.devchain --data-dir DIR``) keeps its
state, head, history window, chain id and funder key across restarts: killed with SIGKILL it
loses the open block only, stopped with SIGTERM nothing; a contradicting flag is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from utils.chain.signer import Signer
from utils.devchain.datadir import read_key_file
from utils.devchain.process import PROJECT_ROOT

SINK = bytes.fromhex("00000000000000000000000000000000000000aa")
GWEI = 10**9
GAS = 1_000_000  # the transfer's 21,000 and its L1 data charge (from 50 gwei per unit)


class ChainRpc:
    """JSON-RPC to a dev chain at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rpc(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(self.url, body.encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]

    def send(self, key: bytes, nonce: int, value: int) -> str:
        signed = Signer(key).sign_eip1559(chain_id=int(self.rpc("eth_chainId"), 16), nonce=nonce,
                                          max_priority_fee=GWEI, max_fee=100 * GWEI, gas=GAS,
                                          to=SINK, value=value, data=b"")
        return str(self.rpc("eth_sendRawTransaction", "0x" + signed.raw.hex()))

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        for _ in range(200):  # bounded: 20 s
            found = self.rpc("eth_getTransactionReceipt", tx_hash)
            if found is not None:
                return dict(found)
            time.sleep(0.1)
        raise AssertionError(f"no receipt for {tx_hash}")

    def head(self) -> dict[str, Any]:
        return dict(self.rpc("eth_getBlockByNumber", "latest", False))

    def sink_balance(self) -> int:
        return int(self.rpc("eth_getBalance", "0x" + SINK.hex(), "latest"), 16)


class Chain(ChainRpc):
    """One ``python -m utils.devchain`` process on a data dir."""

    def __init__(self, process: subprocess.Popen[str], url: str, lines: list[str]) -> None:
        super().__init__(url)
        self.process = process
        self.lines = lines


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PRIVATE_KEY"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def _run(data_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "utils.devchain", "--data-dir", str(data_dir), "--port", "0",
            *flags]
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)


@contextmanager
def running(data_dir: Path, *flags: str) -> Iterator[Chain]:
    """The chain on ``data_dir`` until the block ends (SIGKILL if the test did not stop it)."""
    argv = [sys.executable, "-m", "utils.devchain", "--data-dir", str(data_dir), "--port", "0",
            "--block-time", "0.1", *flags]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env())
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        if not lines[1].startswith("{"):
            process.kill()
            raise AssertionError(f"chain did not start: {lines} {process.communicate()[1]}")
        ready = json.loads(lines[1])
        yield Chain(process, f"http://127.0.0.1:{ready['port']}", lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def stop(chain: Chain, sig: signal.Signals) -> None:
    chain.process.send_signal(sig)
    chain.process.wait(timeout=30)


def test_sigkill_loses_only_the_open_block(tmp_path: Path) -> None:
    data_dir = tmp_path / "chain"
    flags = ("--no-stylus", "--history-blocks", "6", "--state-blocks", "3")
    with running(data_dir, *flags) as chain:
        key = read_key_file(data_dir / "funder.key")
        assert key.hex() not in "".join(chain.lines)
        assert f"key: generated, kept in {data_dir / 'funder.key'}" in chain.lines[2]
        assert chain.url in chain.lines[2] and "chain id 1337" in chain.lines[2]
        hashes = []
        for nonce in range(10):  # one block each: older blocks leave the windows
            hashes.append(chain.send(key, nonce, 1000 + nonce))
            receipt = chain.receipt(hashes[-1])
        assert int(receipt["gasUsedForL1"], 16) > 0
        head = chain.head()
        balance = chain.sink_balance()
        chain.rpc("kcdev_setBlockTime", 3600)  # the next transaction stays in the open block
        chain.send(key, 10, 1)
        stop(chain, signal.SIGKILL)
    with running(data_dir, *flags) as chain:
        assert chain.head()["hash"] == head["hash"]
        assert int(chain.rpc("eth_chainId"), 16) == 1337
        assert chain.sink_balance() == balance == sum(1000 + n for n in range(10))
        nonce = int(chain.rpc("eth_getTransactionCount", Signer(key).address, "latest"), 16)
        assert nonce == 10  # the open block's transaction is lost, nothing before it
        assert chain.rpc("eth_getTransactionReceipt", hashes[-1]) == receipt  # its L1 price too
        stats = chain.rpc("kcdev_chainStats")
        assert stats["oldestBlock"] == int(head["number"], 16) - 5
        old = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                          "params": ["0x1", False]}).encode()
        with urllib.request.urlopen(urllib.request.Request(
                chain.url, old, {"Content-Type": "application/json"}), timeout=10) as reply:
            assert json.loads(reply.read())["error"]["code"] == 4444  # pruned before the kill
        for more in range(10, 16):  # the pruner goes on from its kept window and counts
            chain.receipt(chain.send(key, more, 1))
        assert chain.sink_balance() == balance + 6
        assert chain.rpc("kcdev_chainStats")["oldestBlock"] == int(chain.head()["number"],
                                                                    16) - 5


def test_sigterm_seals_the_open_block_and_flags_must_agree(tmp_path: Path) -> None:
    data_dir = tmp_path / "chain"
    with running(data_dir, "--chain-id", "4242") as chain:
        assert "Stylus on" in chain.lines[2]  # the default
        key = read_key_file(data_dir / "funder.key")
        chain.rpc("kcdev_setBlockTime", 3600)
        tx_hash = chain.send(key, 0, 77)
        refused = _run(data_dir)  # one process per data dir
        assert refused.returncode == 2 and f"{data_dir} is in use" in refused.stderr
        stop(chain, signal.SIGTERM)
        assert chain.process.returncode == 0
    refused = _run(data_dir, "--chain-id", "1337")
    assert refused.returncode == 2
    assert f"{data_dir} holds a chain with --chain-id 4242; --chain-id 1337" in refused.stderr
    refused = _run(data_dir, "--no-stylus")
    assert refused.returncode == 2 and "--no-stylus" in refused.stderr
    with running(data_dir) as chain:  # chain id and funder from the directory
        assert int(chain.rpc("eth_chainId"), 16) == 4242
        assert Signer(key).address in chain.lines[0]
        assert chain.rpc("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
        assert chain.sink_balance() == 77
        stop(chain, signal.SIGTERM)


def test_a_bad_chain_record_is_named(tmp_path: Path) -> None:
    (tmp_path / "chain.json").write_text(json.dumps({"chain_id": 1}))
    refused = _run(tmp_path, "--no-stylus")
    assert refused.returncode == 2
    assert f"{tmp_path / 'chain.json'} is not a chain record" in refused.stderr


def test_a_runs_chain_is_kept_only_with_a_data_dir(tmp_path: Path) -> None:
    """main.py's path (the prestarted child, its options from the settings): ephemeral by
    default; with devchain_data_dir the second run's chain goes on from the first one's head
    at its own L1 price, unless the run gives one."""
    from utils.devchain.prestart import PrestartedChain, options
    from utils.settings import load_settings

    assert "--data-dir" not in options(load_settings({"out": tmp_path}))
    kept = load_settings({"out": tmp_path, "devchain_data_dir": tmp_path / "chain",
                          "contract": "evm", "dapp": "evm"})
    flags = options(kept)
    assert flags[flags.index("--data-dir") + 1] == str(tmp_path / "chain")
    assert "--l1-base-fee-wei" not in flags and "--no-stylus" not in flags
    given = load_settings({"out": tmp_path, "devchain_data_dir": tmp_path / "chain",
                           "l1_base_fee_gwei": 7})
    assert options(given)[options(given).index("--l1-base-fee-wei") + 1] == str(7 * GWEI)
    heads = []
    for _ in range(2):
        chain = PrestartedChain.spawn().start(kept)
        try:
            view = ChainRpc(chain.url)
            nonce = int(view.rpc("eth_getTransactionCount", chain.funder_address, "latest"), 16)
            view.receipt(view.send(chain.funder_key, nonce, 5))
            heads.append(int(view.head()["number"], 16))
        finally:
            chain.stop()
    assert heads[1] > heads[0] and chain.funder_key == read_key_file(tmp_path / "chain" /
                                                                     "funder.key")


def test_where_a_managed_chain_finds_its_funder_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from utils.devchain.datadir import ChainDir, ChainRecord
    from utils.devchain.funder import managed_funder_key
    from utils.errors import DevChainError

    monkeypatch.setenv("PRIVATE_KEY", "22" * 32)
    new = managed_funder_key(tmp_path / "new")  # a new dir: a new key, kept there
    assert new == read_key_file(tmp_path / "new" / "funder.key") != bytes.fromhex("22" * 32)
    assert managed_funder_key(tmp_path / "new") == new
    made = ChainDir(tmp_path / "made")  # made by python -m utils.devchain with PRIVATE_KEY
    made.path.mkdir()
    made.write_record(ChainRecord(1337, 10**9, Signer(bytes.fromhex("22" * 32)).address, 1, "0x",
                                  True))
    assert managed_funder_key(made.path) == bytes.fromhex("22" * 32)
    assert not made.key_file.exists()  # never written from PRIVATE_KEY
    monkeypatch.delenv("PRIVATE_KEY")
    with pytest.raises(DevChainError, match="funder key came from PRIVATE_KEY: set it again"):
        managed_funder_key(made.path)
