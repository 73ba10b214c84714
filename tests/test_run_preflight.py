"""Bad configuration leaves nothing: every start-up check runs before the run directory is
made, the failure is printed once, the exit status is 2 and `latest` does not move."""

from __future__ import annotations

import shutil
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


def only_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start printed: exit 2, no traceback, nothing else on stderr (no
    chain was started: that would have logged 'embedded chain ... at URL')."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_taken_port(out: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(main_cmd("--out", str(out), "--port", str(port)),
                              capture_output=True, text=True, timeout=60, env=clean_env())
        by_env = subprocess.run(main_cmd("--out", str(out)), capture_output=True, text=True,
                                timeout=60, env=clean_env(HEALTHCHECK_PORT=str(port)))
    assert_clean_refusal(proc, out, "in use")
    assert only_line(proc) == (f"error: --port: port {port} on 127.0.0.1 is already in use "
                               "(another run? --port 0 takes any free port)")
    assert only_line(by_env) == (f"error: HEALTHCHECK_PORT: port {port} on 127.0.0.1 is "
                                 "already in use (another run? --port 0 takes any free port)")


def test_a_second_run_on_the_same_port_is_refused(out: Path, tmp_path: Path) -> None:
    """Two runs on one --port: the second one stops before its chain starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = subprocess.Popen(main_cmd("--out", str(tmp_path / "first"), "--port", str(port),
                                      "--duration", "0", "--dapp", "transfers"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=clean_env())
    try:
        assert first.stderr is not None
        for line in first.stderr:  # the first run serves on the port from here on
            if "serving /health" in line:
                break
        second = run_main(out, "--port", str(port))
    finally:
        first.terminate()
        first.communicate(timeout=60)
    # run_main puts "--port 0" first; the later --port wins (argparse: last one)
    assert only_line(second) == (f"error: --port: port {port} on 127.0.0.1 is already in use "
                                 "(another run? --port 0 takes any free port)")
    assert sorted(p.name for p in out.iterdir()) == ["latest", "previous"]
def test_bad_lcore_environment_value(out: Path) -> None:
    proc = run_main(out, LCORE_REQUIRE_SIGNATURES="maybe")
    assert_clean_refusal(proc, out, "LCORE_REQUIRE_SIGNATURES")


def test_output_folder_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    proc = run_main(blocker / "logs")
    assert_clean_refusal(proc, blocker / "logs", "is not a directory")
    assert only_line(proc) == f"error: --out: {blocker} is not a directory (for {blocker}/logs)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_unwritable_output_folder_fails_before_the_chain(tmp_path: Path) -> None:
    """/sys refuses a new folder even to root (os.access says yes): one line, exit 2, before
    any chain or contract (today: a PermissionError after 4 deployments)."""
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    proc = run_main(Path("/sys/x"))
    line = only_line(proc)
    assert line.startswith("error: --out: cannot write in /sys (for /sys/x): "), line
    by_env = subprocess.run(main_cmd("--port", "0", "--duration", "5"), capture_output=True,
                            text=True, timeout=90, env=clean_env(LOG_DIR="/sys/y"))
    assert only_line(by_env).startswith("error: LOG_DIR: cannot write in /sys (for /sys/y): ")


def test_immutable_output_folder_fails_before_the_chain(tmp_path: Path) -> None:
    """A folder made read-only by `chattr +i` (the only way to refuse root a write)."""
    folder = tmp_path / "frozen"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        proc = run_main(folder / "logs")
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert only_line(proc) == (f"error: --out: cannot write in {folder} (for {folder}/logs): "
                               "Operation not permitted")
    assert list(folder.iterdir()) == []  # no run directory, no probe left
