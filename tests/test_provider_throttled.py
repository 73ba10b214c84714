"""A run held back by its provider (HTTP 429 + Retry-After on a share of requests, through the
fault-injecting proxy) ends cleanly and says so: summary.json counts the throttled answers,
the verdict names "provider-throttled" (not the chain), and the report shows the failures."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import clean_env, main_cmd
from tests.rpc_proxy import Faults, RpcProxy
from utils.devchain import DevChain


def test_a_throttled_run_says_provider_throttled(devchain: DevChain,
                                                  tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    out = tmp_path_factory.mktemp("throttled")
    faults = Faults("http429", seed=3, http_429=0.2, retry_after=1)
    with RpcProxy.start(devchain.url, faults) as proxy:
        proc = subprocess.run(
            main_cmd("--duration", "4", "--port", "0", "--out", str(out), "--seed", "3",
                     "--rpc-url", proxy.url, "--rate", "payment=5", "--rate", "merchant=0",
                     "--rate", "lending=0", "--rate", "iot=0", "--rate", "iot_registration=0"),
            capture_output=True, text=True, timeout=300,
            env=clean_env(PRIVATE_KEY=devchain.funder_key.hex()))
        injected = proxy.injected["http429"]
    run_dir = (out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    rpc = summary["rpc"]
    # the 429s the proxy sent were seen by the run and retried (one whose request was
    # cancelled at shutdown before its answer was read is not a failure the run saw)
    assert injected > 0 and injected - 2 <= rpc["throttled"] <= injected
    assert rpc["retries"].get("throttled", 0) >= 1 and rpc["held_seconds"] > 0
    reasons = {c["reason"]: c["detail"] for c in summary["verdict"]["conditions"]}
    assert "provider-throttled" in reasons, summary["verdict"]
    assert proc.returncode == summary["verdict"]["exit_code"] == 1
    assert "provider-throttled" in proc.stdout.splitlines()[-2]  # the final line
    # the transactions themselves all made it: the provider, not the chain, held the run back
    assert summary["totals"]["outcomes"]["success"] == summary["totals"]["finished"] > 0
    page = (run_dir / "report.html").read_text()
    assert "<h2>JSON-RPC</h2>" in page and "<td>throttled</td>" in page
