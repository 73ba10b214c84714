"""The embedded chain's child spawned before the settings are read (utils.devchain.prestart):
it gets the options DevChain.start would give it, serves, and leaves nothing when cancelled."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

from utils.devchain.cli import build_parser
from utils.devchain.launch import launch_embedded
from utils.devchain.prestart import PrestartedChain, options
from utils.settings import load_settings


def _rpc(url: str, method: str, *params: object) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_options_are_those_devchain_start_passes(tmp_path: Path) -> None:
    settings = load_settings({"out": tmp_path, "block_time": 0.5, "l1_base_fee_gwei": 0.1,
                              "chain_history_blocks": 64, "chain_state_blocks": 32,
                              "chain_state_cache_mb": 4, "contract": "evm", "dapp": "evm"}, None)
    chain = launch_embedded(settings)
    try:
        argv = _cmdline(chain.pid)
    finally:
        chain.stop()
    started = vars(build_parser().parse_args(argv[argv.index("utils.devchain") + 1:]))
    prestarted = vars(build_parser().parse_args(["--managed", *options(settings)]))
    assert prestarted == started
    assert prestarted["state_cache_mb"] == 4 and prestarted["history_blocks"] == 64
    assert not prestarted["stylus"]
    assert "--stylus" in options(load_settings({"out": tmp_path}, None))  # the default


def test_prestarted_chain_serves_and_a_cancelled_one_leaves_nothing(tmp_path: Path) -> None:
    wanted, unwanted = PrestartedChain.spawn(), PrestartedChain.spawn()
    unwanted.cancel()
    assert unwanted.process.poll() is not None and not unwanted.log_path.exists()
    settings = load_settings({"out": tmp_path, "block_time": 0.5}, None)
    chain = wanted.start(settings)
    try:
        assert int(str(_rpc(chain.url, "eth_chainId")), 16) == chain.chain_id
        balance = int(str(_rpc(chain.url, "eth_getBalance", chain.funder_address, "latest")), 16)
        assert balance > 0
        assert "--prestarted" in _cmdline(chain.pid)
        wanted.cancel()  # taken: a no-op
        assert chain.is_alive()
    finally:
        chain.stop()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{chain.pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not chain.log_path.exists()  # a clean stop removes the log it owns
