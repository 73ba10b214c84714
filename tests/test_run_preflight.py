"""Bad configuration leaves nothing: every start-up check runs before the run directory is
made, the failure is printed once, the exit status is 2 and `latest` does not move."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import clean_env, main_cmd
from utils.devchain import DevChain


def run_main(out: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        main_cmd("--out", str(out), "--port", "0", "--duration", "5", "--dapp", "transfers",
                 *args),
        capture_output=True, text=True, timeout=90, env=clean_env(**env),
    )


def assert_clean_refusal(proc: subprocess.CompletedProcess[str], out: Path, says: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and errors[0].startswith("error:") and says in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    if out.exists():  # only the earlier run, and `latest` still points at it
        assert sorted(p.name for p in out.iterdir()) == ["latest", "previous"]
        assert (out / "latest").readlink() == Path("previous")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder holding an earlier run that `latest` points at."""
    root = tmp_path / "logs"
    (root / "previous").mkdir(parents=True)
    (root / "latest").symlink_to("previous")
    return root


def test_unreachable_chain(out: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_main(out, "--rpc-url", f"http://127.0.0.1:{port}", PRIVATE_KEY="22" * 32)
    assert_clean_refusal(proc, out, "cannot reach the chain")


def test_wrong_chain_id(out: Path, devchain: DevChain) -> None:
    proc = run_main(out, "--rpc-url", devchain.url, PRIVATE_KEY=devchain.funder_key.hex(),
                    CHAIN_ID="4242")
    assert_clean_refusal(proc, out, "CHAIN_ID")


def test_unfunded_funder(out: Path, devchain: DevChain) -> None:
    proc = run_main(out, "--rpc-url", devchain.url, PRIVATE_KEY="33" * 32)
    assert_clean_refusal(proc, out, "holds 0.000000 ETH")


def test_taken_port(out: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(main_cmd("--out", str(out), "--port", str(port)),
                              capture_output=True, text=True, timeout=60, env=clean_env())
    assert_clean_refusal(proc, out, "in use")


def test_bad_lcore_environment_value(out: Path) -> None:
    proc = run_main(out, LCORE_REQUIRE_SIGNATURES="maybe")
    assert_clean_refusal(proc, out, "LCORE_REQUIRE_SIGNATURES")


def test_output_folder_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    proc = run_main(blocker / "logs")
    assert_clean_refusal(proc, blocker / "logs", "is not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
