"""GET /health of a live run: 200 while healthy, 503 with a reason when the chain stops."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import clean_env, main_cmd
from utils.devchain import DevChain


@pytest.fixture
def own_chain() -> Iterator[DevChain]:  # paused by the test: not the shared one
    with DevChain.start() as chain:
        yield chain


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def wait_status(port: int, code: int, timeout: float) -> dict[str, object]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, body = health(port)
        if status == code:
            return body
        time.sleep(0.25)
    raise AssertionError(f"/health never answered {code}; last {health(port)}")


def test_health_turns_503_when_the_chain_stops_answering(own_chain: DevChain, tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", str(port), "--out", str(tmp_path),
                 "--rpc-url", own_chain.url, "--rate", "payment=5", "--drain-timeout", "5"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(PRIVATE_KEY=own_chain.funder_key.hex()),
    )
    try:
        body = wait_status(port, 200, 60)
        assert body["status"] == "ok"
        wait_until_load = time.monotonic() + 30
        while health(port)[1].get("phase") != "load" and time.monotonic() < wait_until_load:
            time.sleep(0.2)
        own_chain.pause()
        try:
            body = wait_status(port, 503, 20)
        finally:
            own_chain.resume()
        assert body["status"] == "unhealthy"
        assert "chain not answering" in str(body["reason"])
        assert wait_status(port, 200, 20)["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1)
