"""The short mixed run on anvil (1 s blocks) through tests/rpc_proxy.py, one run per fault a
provider shows (429 + Retry-After, -32005, -32603, a dropped connection before and after a
send, latency spikes, a stale head, late receipts by seconds and by blocks, each "not
supported" dialect, two reorgs during the load): each run ends cleanly (exit 0, or under 429
and -32005 exit 1 with the verdict naming only the provider as throttling; summary.json and
report.html written) and, checked against anvil directly, has 0 wrong outcomes and 0
unrecorded transactions. All marked slow (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chain_truth import assert_clean, mixed_run
from tests.nodes import require_node, start_node
from tests.rpc_proxy import FAULT_MODES

MODES = [name for name in FAULT_MODES if name != "none"]
SEED = 20


@pytest.mark.parametrize("mode", MODES)
def test_a_run_through_a_faulty_provider_records_what_the_chain_did(mode: str,
                                                                     tmp_path: Path) -> None:
    require_node("anvil")
    faults = FAULT_MODES[mode].with_seed(SEED)
    with start_node("anvil", block_time=1.0) as node:
        result = mixed_run(node, faults, tmp_path, duration=8)
    assert not node.is_alive()
    assert result.injected, f"the fault was never injected\n{result.explain()}"
    assert not result.proxy_errors, result.explain()
    if faults.reorg_at:
        assert len(result.reorgs) == len(faults.reorg_at), result.explain()
        assert any(r.removed for r in result.reorgs), "no reorg removed a transaction"
    assert_clean(result)
