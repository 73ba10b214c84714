"""Shared fixtures: a real embedded chain per test module, fresh run directories."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import pytest_asyncio

from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc
from utils.chain.tx_engine import TxEngine
from utils.clock import Clock
from utils.devchain import DevChain
from utils.observe.stats import StatsHub

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def devchain() -> Iterator[DevChain]:
    with DevChain.start() as chain:
        yield chain


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rpc(devchain: DevChain) -> AsyncIterator[Rpc]:
    async with Rpc(devchain.url) as conn:
        yield conn


@pytest.fixture
def hub() -> StatsHub:
    return StatsHub()


@pytest_asyncio.fixture(loop_scope="module")
async def engine(devchain: DevChain, rpc: Rpc, hub: StatsHub) -> AsyncIterator[TxEngine]:
    fees = await FeePolicy.detect(rpc)
    async with TxEngine(rpc, hub, Clock(), fees, devchain.chain_id, tx_timeout=30) as eng:
        yield eng


def tool_missing(tool: str, what: str) -> NoReturn:
    """Fail a test whose tool `make tools` (scripts/setup_tools.sh) should have installed."""
    pytest.fail(f"{what} is not installed: run `make tools` (bash scripts/setup_tools.sh {tool})",
                pytrace=False)


def require_tool(tool: str, what: str) -> None:
    """Skip where ``tool`` cannot exist on this machine (its installer's ``--check`` exits 77);
    fail where it can but `make tools` has not installed it. Never installs anything."""
    script = REPO / "scripts" / f"install_{tool.replace('-', '_')}.sh"
    done = subprocess.run(["bash", str(script), "--check"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    if done.returncode == 77:
        pytest.skip(f"{what} cannot be installed on this machine: {done.stderr.strip()}")
    if done.returncode != 0:
        tool_missing(tool, what)


@pytest.fixture(scope="session")
def anvil_installed() -> Path:
    """The anvil binary that `make tools` installed (tests never install it)."""
    from utils.devchain.anvil import DEFAULT_BINARY

    if platform.system() != "Linux" or platform.machine() != "x86_64":
        pytest.skip("anvil's npm package exists for linux x86_64 only")
    if os.environ.get("KCSTRESS_ANVIL"):
        return Path(os.environ["KCSTRESS_ANVIL"])
    if not os.access(DEFAULT_BINARY, os.X_OK):
        tool_missing("anvil", f"anvil ({DEFAULT_BINARY.relative_to(REPO)})")
    return DEFAULT_BINARY


def main_cmd(*args: str) -> list[str]:
    """``python main.py ARGS`` with this interpreter."""
    return [sys.executable, str(REPO / "main.py"), *args]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without settings that would leak into a run under test."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"RPC_HTTP_URL", "PRIVATE_KEY", "LOG_DIR", "HEALTHCHECK_PORT",
                        "LCORE_NODE_URL", "MVP_IOT_PROCESSOR_ADDRESS", "CHAIN_ID"}}
    env.update(extra)
    return env


def table_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The final table printed by a run, as {workload: {column: cell}}."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    header = next(ln for ln in lines if ln.startswith("workload"))
    names = header.split()
    rows = {}
    for line in lines[lines.index(header) + 1:]:
        if line.startswith("-"):
            continue
        cells = line.split()
        if len(cells) != len(names):
            break
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows
