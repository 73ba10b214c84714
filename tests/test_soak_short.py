"""A short bounded soak (scripts/soak.py, about 60 s of main.py on the embedded chain) whose
chain prunes: the blocks it keeps stay within its window and old blocks and states answer as
pruned; its store is on disk behind a bounded cache. Structural assertions only; the 10-minute
memory soak is scripts/soak.py itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 64


def test_short_soak_prunes_old_blocks(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    argv = [sys.executable, str(ROOT / "scripts" / "soak.py"), "--duration", "45", "--interval",
            "5", "--chain-history-blocks", str(WINDOW), "--rate", "payment_app=40", "--rate",
            "data_pipeline=1", "--json", str(out)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=400)
    result = json.loads(out.read_text())
    assert result["exit_code"] in (0, 1), done.stdout[-2000:]
    stats = [s["stats"] for s in result["samples"] if s.get("stats")]
    assert len(stats) >= 5
    for s in stats:
        assert s["headBlock"] - s["oldestBlock"] + 1 <= WINDOW or s["oldestBlock"] <= 1
    last = stats[-1]
    assert last["headBlock"] > 2 * WINDOW, last  # the window was passed, twice over
    assert last["oldestBlock"] == last["headBlock"] - WINDOW + 1
    assert last["prunedEntries"] > 0
    # the store is on disk behind main.py's default 16 MB cache: more entries than it holds
    assert 0 < last["cacheBytes"] <= 16 * 1024 * 1024 and last["cacheMisses"] > 0, last
    probe = result["probe"]
    assert probe["block_1"]["code"] == 4444, probe
    assert "missing trie node" in probe["state_1"]["message"], probe
