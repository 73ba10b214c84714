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
from utils.devchain.anvil import AnvilChain
from utils.observe.stats import StatsHub

REPO = Path(__file__).resolve().parent.parent


#: Tests marked ``slow`` (`make test` runs them, `make test-fast` leaves them out): those that
#: start whole runs of main.py, a real node (anvil, prometheus), a toolchain build, or a long
#: differential or fuzz sequence. A file name marks every test in it; ``file::test`` one test
#: (with all its parameters). An entry that names no file or test stops the collection.
SLOW = (
    "tests/test_reorgs.py::test_reorgs_during_load_are_repaired_and_counted",
    "tests/test_receipt_lag.py",
    "tests/test_verdict_runs.py::test_checks_the_chain_cannot_answer_leave_the_outputs_and_say_so",
    "tests/test_provider_throttled.py",
    "tests/test_anvil.py",
    "tests/test_capacity.py",
    "tests/test_compare.py::test_a_merged_shard_run_compares_with_its_run",
    "tests/test_compare_browser.py",
    "tests/test_compare_capacity.py",
    "tests/test_capacity_throttled.py::test_the_step_probe_counts_the_round_trips_of_its_window",
    "tests/test_capacity_throttled.py::test_a_search_through_a_throttling_provider_is_provider_throttled",
    "tests/test_conformance.py::test_the_checker_finds_wrong_and_unrecorded_transactions",
    "tests/test_conformance.py::test_each_node_says_not_supported_in_its_dialect",
    "tests/test_console_api.py::test_a_change_reaches_the_worker_processes",
    "tests/test_console_page.py::test_console_mode_starts_a_run_from_the_page_and_lists_it",
    "tests/test_contract_artifact.py::test_rebuild_gives_identical_artifact",
    "tests/test_dapp_build.py::test_solidity_artifacts_rebuild_identically",
    "tests/test_dapp_build.py::test_stylus_programs_rebuild_identically",
    "tests/test_dapp_differential.py",
    "tests/test_dapp_run.py",
    "tests/test_db_binding.py",
    "tests/test_inputbox_kill.py",
    "tests/test_iot_chain_faults.py",
    "tests/test_iot_remote_node.py",
    "tests/test_lcore_fuzz.py",
    "tests/test_nitro_pricing.py::test_on_anvil_cost_columns_are_zero_and_stylus_is_refused",
    "tests/test_prometheus_dashboard.py",
    "tests/test_provider_faults.py",
    "tests/test_rpc_proxy.py",
    "tests/test_run_chain_loss.py",
    "tests/test_run_e2e.py",
    "tests/test_run_health.py",
    "tests/test_run_lifecycle.py::test_signal_stops_drains_and_ends_the_chain",
    "tests/test_run_lifecycle.py::test_signal_during_set_up_ends_cleanly",
    "tests/test_run_lifecycle.py::test_a_run_without_end_tops_its_wallets_up_again",
    "tests/test_run_preflight.py::test_taken_port",
    "tests/test_run_preflight.py::test_a_second_run_on_the_same_port_is_refused",
    "tests/test_run_refusals.py",
    "tests/test_scheduler_slots.py::test_the_engine_releases_the_slot_when_the_node_answered",
    "tests/test_shards.py",
    "tests/test_soak_short.py",
    "tests/test_stylus_build.py",
    "tests/test_stylus_differential.py",
    "tests/test_verdict_runs.py",
    "tests/test_workers.py",
)


def _slow_entry_exists(entry: str) -> bool:
    path, _, name = entry.partition("::")
    file = REPO / path
    return file.is_file() and (not name or f"def {name}(" in file.read_text())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    stale = [entry for entry in SLOW if not _slow_entry_exists(entry)]
    if stale:
        raise pytest.UsageError(f"tests/conftest.py SLOW names no file or test: {stale}")
    for item in items:
        path, _, name = item.nodeid.partition("::")
        if path in SLOW or f"{path}::{name.split('[')[0]}" in SLOW:
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(scope="module")
def anvil(request: pytest.FixtureRequest, anvil_installed: Path) -> Iterator[AnvilChain]:
    """anvil for a test module, at the module's ``ANVIL_BLOCK_TIME`` (default 1 s: its
    automine mode collapses under pipelined load), stopped with the module."""
    block_time = float(getattr(request.module, "ANVIL_BLOCK_TIME", 1.0))
    with AnvilChain.start(block_time=block_time) as chain:
        yield chain
    assert not chain.is_alive()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def anvil_rpc(anvil: AnvilChain) -> AsyncIterator[Rpc]:
    async with Rpc(anvil.url) as rpc:
        yield rpc


def main_cmd(*args: str) -> list[str]:
    """``python main.py ARGS`` with this interpreter."""
    return [sys.executable, str(REPO / "main.py"), *args]


#: a run under test is judged on what it did, not on how fast a loaded 2-core machine let it
#: go: the targets that are wall-clock figures are generous unless a test sets its own
WALL_CLOCK_TARGETS = {"TARGET_MAX_LATENCY_SEC": "600", "TARGET_MAX_MISSED_SHARE": "0.5"}
#: a run under test does not wait at its end for its sampled transactions' batches to be
#: posted (up to 10 s each): tests/test_finality.py gives its own --finality-wait
os.environ.setdefault("KCSTRESS_FINALITY_WAIT", "0")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without settings that would leak into a run under test."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"RPC_HTTP_URL", "PRIVATE_KEY", "LOG_DIR", "HEALTHCHECK_PORT",
                        "LCORE_NODE_URL", "MVP_IOT_PROCESSOR_ADDRESS", "CHAIN_ID"}}
    env.update(WALL_CLOCK_TARGETS)
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
