"""Property-based fuzzing of a real ``python -m lcore_node serve`` (with its embedded chain).

At least 2,000 hypothesis-drawn requests over HTTP, across every route and method, mixed
with valid signed submissions and replays of them: never a 5xx, always a JSON answer
naming the problem, the process alive throughout; afterwards every valid submission is
stored exactly once, committed, and the same envelope is on chain under its task id.
``scripts/fuzz_lcore.py`` runs the same for 10,000+ requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.conftest import clean_env
from tests.fuzz_http import (
    Device,
    Sender,
    ServeProcess,
    Tally,
    check_malformed_http,
    check_stored_once_and_committed,
    plan,
    register,
    run_step,
    start_serve,
)

EXAMPLES = 2200


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    node = start_serve(tmp_path_factory.mktemp("fuzz"), env=clean_env())
    try:
        yield node
    finally:
        node.stop()


def test_no_request_crashes_or_fails_the_node(serve: ServeProcess) -> None:
    device = Device("fuzz_dev-1")
    sender = Sender(serve.port)
    register(sender, device)
    tally = Tally()
    base_submit = device.submission('{"t": 1}')
    base_register = {"device_id": "fuzz_reg", "public_key": device.public_hex,
                     "device_type": "ev_sensor"}
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(plan(base_register, base_submit))
    def one_request(step: object) -> None:
        run_step(step, sender, device, tally)
        if tally.requests % 200 == 0:
            assert serve.process.poll() is None, "the node died"

    one_request()
    sender.close()
    elapsed = time.monotonic() - started
    malformed = check_malformed_http(serve.port)
    assert serve.process.poll() is None, "the node died"
    assert tally.requests >= 2000, tally
    assert tally.kinds["valid"] >= 100 and tally.kinds["fuzz"] >= 1200, tally.kinds
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert len({s for s in tally.statuses if 400 <= s < 500}) >= 5, tally.statuses
    assert check_stored_once_and_committed(serve, tally.accepted) == len(tally.accepted)
    print(f"\n{tally.requests} requests in {elapsed:.1f} s: {dict(sorted(tally.statuses.items()))}"
          f" kinds {dict(tally.kinds)} malformed-HTTP {dict(malformed)}")


def test_the_issue_reproducers_get_4xx(serve: ServeProcess) -> None:
    """The three requests of issue 9: deep nesting (SIGSEGV), a lone surrogate (500), a
    400-digit timestamp (500)."""
    sender = Sender(serve.port)
    device = Device("fuzz_dev-2")
    register(sender, device)
    ok = device.submission('{"t": 2}')
    cases = {
        b"[" * 100_000 + b"]" * 100_000: 400,
        b'{"device_id":"s1","public_key":"' + device.public_hex.encode()
        + b'","device_type":"\\ud800"}': 422,
        (b'{"device_id":"fuzz_dev-2","data":"{}","timestamp":' + b"9" * 400
         + b',"signature":"' + ok["signature"].encode() + b'"}'): 400,
    }  # fmt: skip
    for body, expected in cases.items():
        path = "/device/register" if b"public_key" in body else "/device/data"
        status, data, ctype = sender.send("POST", path, body, {"Content-Type": "application/json"})
        assert (status, "application/json") == (expected, ctype.split(";")[0]), data
        assert serve.process.poll() is None
    sender.close()
