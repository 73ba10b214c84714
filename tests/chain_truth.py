"""What the chain did, against what a run recorded: the conformance suite's checker, and the
short mixed run it checks.

    result = mixed_run(node, FAULT_MODES["drop"], tmp_path)   # main.py via the proxy
    result.exit_status, result.truth.wrong, result.truth.unrecorded, result.requests

:func:`check_run` reads a finished run folder (``summary.json``, ``tx_metrics.csv``: hash,
outcome, block, gas, sender, nonce) and asks the node directly (never through the proxy):

- every recorded hash: ``success`` / ``reverted`` must have the node's receipt with that status
  (1 / 0), that block number and that gas used, in a block of the node's canonical chain that
  holds the transaction; every other outcome (rejected, dropped, timeout, reorged, ...) means
  "not on the chain": the node must have no receipt (one that is only still in the node's pool
  is counted apart as ``pending``). A hash recorded twice is wrong once more.
- every transaction in the node's blocks sent from one of the run's wallets (the funder and
  the wallets derived from the run's seed and funder key, :mod:`utils.chain.wallets`, and every
  recorded sender) must be recorded, except the set-up's (given as the hashes the run sent
  before its load started: set-up transactions are not measured by design); the others are
  ``unrecorded``.

Nothing here changes the code under test; it imports the wallet derivation to know the run's
addresses.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tests.nodes import Node
from tests.rpc_proxy import Faults, RpcProxy

REPO = Path(__file__).resolve().parent.parent

#: outcomes that say "in a block" (the receipt's status); any other says "not on the chain"
LANDED = {"success": 1, "reverted": 0}

#: the short mixed run: every workload at a modest rate, IoT on
MIXED_RATES = {"payment": "4", "merchant": "2", "lending": "2", "iot": "2", "registration": "0.5"}
WALLETS_PER_ROLE = 64  # derived per role to recognise the run's wallets (a run uses fewer)


def _rpc_batch(url: str, calls: Sequence[tuple[str, Sequence[Any]]],
               timeout: float = 30.0) -> list[Any]:
    """Results of ``calls`` in one JSON-RPC batch per 100 calls (errors raise)."""
    results: list[Any] = []
    for start in range(0, len(calls), 100):
        chunk = calls[start:start + 100]
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in enumerate(chunk)]
        request = urllib.request.Request(url, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            replies = json.loads(response.read())
        if isinstance(replies, dict):  # a node answering a batch with one error
            raise RuntimeError(f"batch refused by {url}: {replies}")
        by_id = {r.get("id"): r for r in replies}
        for i, (method, _) in enumerate(chunk):
            reply = by_id.get(i, {})
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            results.append(reply.get("result"))
    return results


def _call(url: str, method: str, *params: Any) -> Any:
    return _rpc_batch(url, [(method, params)])[0]


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 16) if text.startswith("0x") else int(text)


def _csv_rows(run_dir: Path, name: str) -> list[dict[str, str]]:
    """Every row of a run CSV, its rotated parts first (plain or gzipped)."""
    stem = name.removesuffix(".csv")
    parts = sorted(run_dir.glob(f"{stem}.*.csv*"))
    rows: list[dict[str, str]] = []
    for path in [*parts, run_dir / name]:
        if not path.exists():
            continue
        text = (gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz"
                else path.read_text())
        rows += list(csv.DictReader(io.StringIO(text, newline="")))
    return rows


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    """Every row of tx_metrics.csv, with the run's own corrections applied (tx_corrections.csv:
    a late receipt, a reorg that moved or removed a transaction; the last one per hash wins),
    as the run's aggregate and summary.json apply them."""
    rows = _csv_rows(run_dir, "tx_metrics.csv")
    latest = {c["tx_hash"].lower(): c for c in _csv_rows(run_dir, "tx_corrections.csv")}
    for row in rows:
        fix = latest.get(row.get("tx_hash", "").lower())
        if fix is not None:
            row.update(status=fix["new_status"], block_number=fix["new_block_number"],
                       gas_used=fix["new_gas_used"])
    return rows


def run_wallets(funder_key: str, seed: int, recorded_senders: Iterable[str]) -> set[str]:
    """The run's addresses, lower-case: the funder, the derived wallets, the recorded senders."""
    from utils.chain.signer import Signer
    from utils.chain.wallets import ROLES, WalletPool

    key = bytes.fromhex(funder_key.removeprefix("0x"))
    pool = WalletPool.derive(key, seed, dict.fromkeys(ROLES, WALLETS_PER_ROLE))
    found = {Signer(key).address.lower()} | {w.address.lower() for w in pool}
    return found | {s.lower() for s in recorded_senders if s}


@dataclass
class Truth:
    """The check of one run against its node."""

    rows: int = 0  # tx_metrics.csv rows
    checked: int = 0  # rows with a hash, compared with the node
    outcomes: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)  # one line per wrong row
    unrecorded: list[str] = field(default_factory=list)  # hashes on chain, not recorded
    pending: list[str] = field(default_factory=list)  # recorded off-chain, still in the pool
    chain_txs: int = 0  # the run's load-phase transactions in the node's blocks
    setup_txs: int = 0  # the run's set-up transactions in the node's blocks
    blocks: int = 0  # blocks read

    def line(self) -> str:
        return (f"{self.rows} rows ({dict(self.outcomes)}), {self.checked} checked: "
                f"{len(self.wrong)} wrong, {len(self.unrecorded)} unrecorded, "
                f"{len(self.pending)} pending; chain {self.chain_txs} load + {self.setup_txs} "
                f"set-up txs in {self.blocks} blocks")


def settle(node_url: str, *, blocks: int = 2, timeout: float = 5.0) -> int:
    """Wait (at most ``timeout``) for ``blocks`` new blocks, so what the node still held in its
    pool when the run ended has had its chance to land; the head then."""
    head = _int(_call(node_url, "eth_blockNumber")) or 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _int(_call(node_url, "eth_blockNumber")) or 0
        if now >= head + blocks:
            return now
        time.sleep(0.1)
    return _int(_call(node_url, "eth_blockNumber")) or 0


def check_run(run_dir: Path, node_url: str, funder_key: str, *,
              setup_hashes: set[str] | frozenset[str] = frozenset(),
              settle_blocks: int = 2) -> Truth:
    """Compare the run in ``run_dir`` with the node at ``node_url`` (see the module doc)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = read_rows(run_dir)
    truth = Truth(rows=len(rows))
    truth.outcomes.update(r.get("status", "") for r in rows)
    head = settle(node_url, blocks=settle_blocks)

    # the node's chain: every block's hash and its transactions (from, hash)
    numbers = list(range(0, head + 1))
    blocks = _rpc_batch(node_url, [("eth_getBlockByNumber", (hex(n), True)) for n in numbers])
    truth.blocks = len(blocks)
    canonical: dict[int, str] = {}
    in_block: dict[str, int] = {}
    chain: list[tuple[str, str, int]] = []  # (hash, from, block)
    for number, block in zip(numbers, blocks, strict=True):
        if block is None:
            continue
        canonical[number] = str(block["hash"]).lower()
        for tx in block.get("transactions") or []:
            tx_hash, sender = str(tx["hash"]).lower(), str(tx.get("from", "")).lower()
            in_block[tx_hash] = number
            chain.append((tx_hash, sender, number))

    # every recorded hash against the node's receipt
    with_hash = [r for r in rows if r.get("tx_hash")]
    truth.checked = len(with_hash)
    hashes = [r["tx_hash"].lower() for r in with_hash]
    receipts = _rpc_batch(node_url, [("eth_getTransactionReceipt", (h,)) for h in hashes])
    seen: Counter[str] = Counter()
    absent_rows: list[tuple[dict[str, str], str]] = []
    for row, tx_hash, receipt in zip(with_hash, hashes, receipts, strict=True):
        seen[tx_hash] += 1
        what = f"{row.get('module')} {tx_hash} recorded {row.get('status')}"
        if seen[tx_hash] > 1:
            truth.wrong.append(f"{what}: recorded {seen[tx_hash]} times")
            continue
        outcome = row.get("status", "")
        if outcome in LANDED:
            problem = _landed_problem(row, receipt, LANDED[outcome], canonical, in_block,
                                      tx_hash)
            if problem:
                truth.wrong.append(f"{what}: {problem}")
        elif receipt is not None:
            truth.wrong.append(f"{what}: the node has it in block "
                               f"{_int(receipt.get('blockNumber'))} with status "
                               f"{_int(receipt.get('status'))}")
        elif tx_hash in in_block:
            truth.wrong.append(f"{what}: in block {in_block[tx_hash]} (no receipt served)")
        else:
            absent_rows.append((row, tx_hash))
    if absent_rows:
        found = _rpc_batch(node_url, [("eth_getTransactionByHash", (h,)) for _, h in absent_rows])
        truth.pending = [h for (_, h), tx in zip(absent_rows, found, strict=True)
                         if tx is not None]

    # every transaction of the run's wallets on chain is recorded (set-up apart)
    wallets = run_wallets(funder_key, int(summary.get("seed") or 0),
                          (r.get("sender", "") for r in rows))
    recorded = set(hashes)
    setup = {h.lower() for h in setup_hashes}
    for tx_hash, sender, number in chain:
        if sender not in wallets:
            continue
        if tx_hash in setup and tx_hash not in recorded:
            truth.setup_txs += 1
            continue
        truth.chain_txs += 1
        if tx_hash not in recorded:
            truth.unrecorded.append(f"{tx_hash} from {sender} in block {number}")
    return truth


def _landed_problem(row: dict[str, str], receipt: dict[str, Any] | None, status: int,
                    canonical: dict[int, str], in_block: dict[str, int], tx_hash: str) -> str:
    """What is wrong with a row recorded as landed, or "" when the node agrees."""
    if receipt is None:
        return "the node has no receipt (not on the chain)"
    got_status = _int(receipt.get("status"))
    number = _int(receipt.get("blockNumber"))
    problems = []
    if got_status != status:
        problems.append(f"receipt status {got_status}")
    if number != _int(row.get("block_number")):
        problems.append(f"receipt block {number}, recorded {row.get('block_number') or '-'}")
    if _int(row.get("gas_used")) != _int(receipt.get("gasUsed")):
        problems.append(f"receipt gas {_int(receipt.get('gasUsed'))}, recorded "
                        f"{row.get('gas_used')}")
    if number is not None and canonical.get(number) != str(receipt.get("blockHash")).lower():
        problems.append(f"receipt block hash not the canonical block {number}")
    if in_block.get(tx_hash) != number:
        problems.append(f"not in the canonical block {number}")
    return "; ".join(problems)


# -- the short mixed run ------------------------------------------------------------------


@dataclass
class RunResult:
    """One mixed run through the proxy, and its check against the node."""

    node: str
    mode: str
    exit_status: int | str  # the exit code, or "killed" when it outlived its time
    run_dir: Path | None
    truth: Truth | None
    requests: int  # calls the proxy forwarded to the node (batch items one by one)
    per_method: dict[str, int]
    injected: dict[str, int]
    summary: dict[str, Any] | None
    stdout: str
    stderr: str
    proxy_errors: list[str]
    reorgs: list[Any]
    setup_hashes: set[str] = field(default_factory=set)  # sent before the load started
    sends: list[tuple[float, str]] = field(default_factory=list)  # every raw tx forwarded
    check_error: str = ""

    @property
    def report_written(self) -> bool:
        return self.run_dir is not None and (self.run_dir / "report.html").is_file()

    @property
    def wrong(self) -> int | None:
        return None if self.truth is None else len(self.truth.wrong)

    @property
    def unrecorded(self) -> int | None:
        return None if self.truth is None else len(self.truth.unrecorded)

    def explain(self) -> str:
        """What a failing assertion shows: the figures, the first wrong lines, the tails."""
        lines = [f"{self.node} / {self.mode}: exit {self.exit_status}, "
                 f"{self.requests} requests to the node, injected {self.injected}"]
        if self.truth is not None:
            lines.append(self.truth.line())
            lines += [f"  wrong: {w}" for w in self.truth.wrong[:8]]
            lines += [f"  unrecorded: {u}" for u in self.truth.unrecorded[:8]]
        if self.check_error:
            lines.append(f"check failed: {self.check_error}")
        if self.summary is not None:
            lines.append(f"verdict: {self.summary.get('verdict', {}).get('headline')}")
        if self.proxy_errors:
            lines.append(f"proxy errors: {self.proxy_errors[:3]}")
        lines.append("stderr tail:\n" + "\n".join(self.stderr.splitlines()[-25:]))
        return "\n".join(lines)


WORKLOADS = ("payment_app", "merchant_app", "lending_app", "data_pipeline")


#: the faults that throttle: by design the verdict then names the provider (exit 1)
THROTTLING = frozenset({"http429", "limit32005"})


def assert_clean(result: RunResult, *, flavour: str | None = None) -> None:
    """What the suite asks of every run: it ends cleanly (exit 0; under a throttling fault, exit
    1 with "provider-throttled" as its only condition and every target met, as the verdict is
    designed to say), summary.json and report.html written, every workload recorded
    transactions, the IoT records verified on chain, the dApp flavour the chain supports, and
    against the node: 0 wrong outcomes, 0 unrecorded transactions."""
    why = result.explain()
    assert result.summary is not None and result.report_written, why
    verdict = result.summary["verdict"]
    missed = [c["key"] for c in verdict["checks"] if c["status"] == "missed"]
    conditions = [c["reason"] for c in verdict["conditions"]]
    if result.mode in THROTTLING:
        assert (result.exit_status, missed, conditions) == (1, [], ["provider-throttled"]), why
    else:
        assert (result.exit_status, missed, conditions) == (0, [], []), why
    assert result.truth is not None, why
    assert result.truth.wrong == [], why
    assert result.truth.unrecorded == [], why
    modules = Counter(r.get("module") for r in read_rows(result.run_dir)) \
        if result.run_dir else Counter()
    assert all(modules[w] > 0 for w in WORKLOADS), (dict(modules), why)
    verify = result.summary["iot"]["verify"]
    assert verify["total"] > 0 and verify["ok"] == verify["total"], (verify, why)
    if flavour is not None:
        assert result.summary["dapp"]["flavour"] == flavour, why


def main_argv(proxy_url: str, out: Path, duration: float, seed: int,
              rates: dict[str, str]) -> list[str]:
    argv = [sys.executable, str(REPO / "main.py"), "--rpc-url", proxy_url,
            "--duration", f"{duration:g}", "--seed", str(seed), "--port", "0",
            "--out", str(out), "--drain-timeout", "30", "--log-level", "INFO"]
    for name, rate in rates.items():
        argv += ["--rate", f"{name}={rate}"]
    return argv


def run_env(node: Node, faults: Faults) -> dict[str, str]:
    """The run's environment: the node's funded key, nothing leaking from the caller's; the
    wall-clock targets generous (tests/conftest.py WALL_CLOCK_TARGETS): the runs are judged by
    their outcomes, never by how fast a loaded test machine (or a latency fault) let them go."""
    from tests.conftest import WALL_CLOCK_TARGETS

    drop = {"RPC_HTTP_URL", "PRIVATE_KEY", "LOG_DIR", "HEALTHCHECK_PORT", "LCORE_NODE_URL",
            "MVP_IOT_PROCESSOR_ADDRESS", "CHAIN_ID", "KCSTRESS_CHAIN", "KCSTRESS_DAPP",
            "KCSTRESS_WORKERS", "KCSTRESS_SEED"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PRIVATE_KEY"] = node.key
    env.update(WALL_CLOCK_TARGETS)
    return env


def mixed_run(node: Node, faults: Faults, out: Path, *, duration: float = 8.0, seed: int = 7,
              rates: dict[str, str] | None = None, timeout: float | None = None) -> RunResult:
    """``main.py`` for ``duration`` s of the mixed load against ``node`` through a proxy with
    ``faults``; then :func:`check_run` against the node itself."""
    out.mkdir(parents=True, exist_ok=True)
    limit = timeout if timeout is not None else duration + 240.0
    with RpcProxy.start(node.url, faults) as proxy:
        argv = main_argv(proxy.url, out, duration, seed, rates or MIXED_RATES)
        status, stdout, stderr = _run_main(argv, run_env(node, faults), limit,
                                           on_load_start=proxy.arm)
    run_dir = _run_dir(out)
    summary = None
    if run_dir is not None and (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    result = RunResult(node.label, faults.name, status, run_dir, None, proxy.requests_to_node,
                       dict(proxy.forwarded), dict(proxy.injected), summary, stdout, stderr,
                       list(proxy.errors), list(proxy.reorgs))
    if summary is None or run_dir is None:
        result.check_error = "no summary.json"
        return result
    started = _unix(str(summary.get("started_at", "")))
    setup = proxy.sent_hashes(before=started) if started is not None else set()
    result.setup_hashes = setup
    result.sends = list(proxy.sends)
    try:
        result.truth = check_run(run_dir, node.url, node.key, setup_hashes=setup)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        result.check_error = repr(exc)
    return result


def _run_main(argv: list[str], env: dict[str, str], limit: float,
              on_load_start: Callable[[], None]) -> tuple[int | str, str, str]:
    """Run ``argv`` (main.py) to its end, at most ``limit`` s (then SIGTERM, SIGKILL by its
    pid: status "killed"); call ``on_load_start`` when it logs that its load started."""
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    out_lines: list[str] = []
    err_lines: list[str] = []

    def read(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)
            if "load started" in line:
                on_load_start()

    readers = [threading.Thread(target=read, args=(process.stdout, out_lines), daemon=True),
               threading.Thread(target=read, args=(process.stderr, err_lines), daemon=True)]
    for reader in readers:
        reader.start()
    status: int | str
    try:
        status = process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        status = "killed"
    for reader in readers:
        reader.join(10)
    return status, "".join(out_lines), "".join(err_lines)


def _run_dir(out: Path) -> Path | None:
    latest = out / "latest"
    if latest.exists():
        return latest.resolve()
    dirs = sorted(p for p in out.iterdir() if p.is_dir())
    return dirs[-1] if dirs else None


def _unix(iso: str) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
