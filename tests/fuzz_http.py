"""HTTP fuzzing of a real ``python -m lcore_node serve`` process (shared by the test and
``scripts/fuzz_lcore.py``).

Every request goes over a real socket (``http.client``, one kept-alive connection,
reopened when the server closes it). Hypothesis draws the requests: every route and
method, arbitrary paths and headers, raw bytes, deep nesting, huge integers, lone
surrogates, NUL, and valid bodies with one field broken; mixed in are valid signed
submissions (each must be stored once and committed) and replays of them (409).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st

from lcore_node.signing import signing_message

REPO = Path(__file__).resolve().parent.parent
ROUTES = ("/device/register", "/device/data", "/status")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
REQUEST_TIMEOUT = 15.0


@dataclass
class ServeProcess:
    """A running ``lcore_node serve``; ``chain_url``/``contract`` parsed from its log."""

    process: subprocess.Popen[bytes]
    url: str
    db: Path
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log_value(self, pattern: str) -> str:
        found = re.search(pattern, self.log.read_text(errors="replace"))
        if found is None:
            raise AssertionError(f"{pattern!r} not in the node log")
        return found.group(1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return int(self.process.returncode)


def start_serve(workdir: Path, *extra: str, env: dict[str, str] | None = None) -> ServeProcess:
    """``python -m lcore_node serve --port 0`` with its embedded chain, ready to answer."""
    db, log = workdir / "lcore.db", workdir / "serve.log"
    workdir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "lcore_node", "serve", "--port", "0", "--db", str(db),
             "--key-dir", str(workdir / "keys"), *extra],
            cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, env=env,
        )  # fmt: skip
    try:
        url = _await_url(process, log, 60.0)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return ServeProcess(process, url, db, log)


def _await_url(process: subprocess.Popen[bytes], log: Path, within: float) -> str:
    return first_line(process, log, within).split()[4]


def first_line(process: subprocess.Popen[bytes], log: Path, within: float) -> str:
    """The first line ``serve`` prints (its URL and database), or AssertionError with its log
    when it ends or stays silent for ``within`` seconds."""
    assert process.stdout is not None
    deadline, buffer = time.monotonic() + within, b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"serve not ready ({process.poll()}):\n"
                                     f"{log.read_text()[-3000:]}")
            if selector.select(0.2):
                buffer += os.read(process.stdout.fileno(), 4096)
    return buffer.split(b"\n", 1)[0].decode()


class Sender:
    """Sends one request at a time on a kept-alive connection; reconnects when closed."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._conn: http.client.HTTPConnection | None = None

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, str]:
        for attempt in range(2):
            conn = self._conn or http.client.HTTPConnection(
                "127.0.0.1", self._port, timeout=REQUEST_TIMEOUT)
            self._conn = conn
            try:
                try:
                    conn.request(method, path, body=body, headers=headers)
                except ConnectionError:  # answered and closed before the body was all sent
                    if attempt == 0 and not body:
                        raise
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                self.close()
                if attempt:
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return resp.status, data, resp.getheader("Content-Type", "")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Device:
    device_id: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_hex(self) -> str:
        return self.key.public_key().public_bytes_raw().hex()

    def submission(self, data: str, timestamp: int | None = None) -> dict[str, Any]:
        ts = int(time.time()) if timestamp is None else timestamp
        sig = self.key.sign(signing_message(self.device_id, ts, data)).hex()
        return {"device_id": self.device_id, "data": data, "timestamp": ts, "signature": sig}


@dataclass
class Tally:
    """Counts by status, and what the valid submissions got back."""

    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    accepted: dict[int, str] = field(default_factory=dict)  # record id -> task id
    bodies: list[bytes] = field(default_factory=list)  # accepted signed bodies (to replay)
    serial: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


# ---- strategies -------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from([
    "\ud800", "\udfff", "a\x00b", "\x00", "é" * 70, "x" * 70, "x" * 70_000, "", " ", "0x",
    "0x" + "zz" * 32, "\u202e\u0000", "ev_sensor", "{}", "[]", "null", "\n", "é\ud83d",
])  # fmt: skip
NASTY_INT = st.sampled_from([10**400, -(10**400), 2**63, 2**64, -1, 0, 2**31, 10**20])
SCALARS = (st.none() | st.booleans() | st.integers() | NASTY_INT | st.text(max_size=20)
           | NASTY_TEXT | st.floats(allow_nan=False, allow_infinity=False))
JSON_VALUE = st.recursive(SCALARS, lambda c: st.lists(c, max_size=4)
                          | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)
READING_VALUE = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
                 | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
HEX = st.text("0123456789abcdef", min_size=1, max_size=130)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {  # well formed, but wrong
    "signature": st.binary(min_size=64, max_size=64).map(bytes.hex) | HEX,
    "public_key": st.binary(min_size=32, max_size=32).map(bytes.hex) | HEX,
    "timestamp": st.integers(0, 2**40) | st.builds(lambda d: int(time.time()) + d,
                                                    st.integers(-10**6, 10**6)),
    "device_id": st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
    "data": st.sampled_from(['{"t": 2}', "[1]", "1", '{"t": NaN}', "{", '{"a": 1e999}']),
    "device_type": st.text(max_size=70),
}
DEPTH = st.sampled_from([33, 100, 1000, 100_000]) | st.integers(1, 40)


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth  # unclosed


@st.composite
def broken_json_body(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """``base`` with some fields replaced, removed or added; JSON text with \\u escapes."""
    body = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(base)), max_size=3, unique=True)):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            body[name] = draw(JSON_VALUE)
        elif choice == 1:
            body[name] = draw(PLAUSIBLE.get(name, JSON_VALUE))
        else:
            del body[name]
    if draw(st.booleans()):
        body[draw(st.text(max_size=10))] = draw(JSON_VALUE)
    return json.dumps(body).encode()


def raw_bodies(base_register: dict[str, Any], base_submit: dict[str, Any]) -> st.SearchStrategy[
        bytes]:
    """Every kind of body: raw bytes, deep nesting, huge digits, broken valid bodies."""
    deep = st.builds(lambda d, k: nested(d, k).encode(), DEPTH,
                     st.sampled_from(["array", "object", "open"]))
    deep_data = st.builds(lambda d, k: json.dumps({**base_submit, "data": nested(d, k)}).encode(),
                          DEPTH, st.sampled_from(["array", "object", "open"]))
    digits = st.builds(
        lambda n, f: (f'{{"device_id":"{base_submit["device_id"]}","data":"{{}}",'
                      f'"{f}":{"9" * n},"signature":"{base_submit["signature"]}"}}').encode(),
        st.sampled_from([20, 400, 5000]), st.sampled_from(["timestamp", "data", "device_id"]))
    return st.one_of(
        st.binary(max_size=300), deep, deep_data, digits,
        broken_json_body(base_register), broken_json_body(base_submit),
        st.builds(lambda v: json.dumps(v).encode(), JSON_VALUE),
        st.just(b'{"device_id":"\xff\xfe","public_key":"00"}'), st.just(b""),
    )  # fmt: skip


HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
CONTENT_TYPES = st.sampled_from([
    "application/json", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/json; charset=latin-1", "",
]) | HEADER_VALUE  # fmt: skip
EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(["X-Fuzz", "Accept", "Content-Encoding", "Expect", "Accept-Encoding",
                     "Cookie", "Origin", "X-Forwarded-For", "Authorization"]),
    HEADER_VALUE, max_size=3)  # fmt: skip
PATHS = st.sampled_from(ROUTES) | st.builds(
    lambda route, tail: route + tail, st.sampled_from([*ROUTES, "/", "/device", "/x"]),
    st.sampled_from(["", "/", "?a=1", "/../status", "%00", "//", "?x=" + "a" * 3000]),
) | st.builds(lambda t: "/" + quote(t, safe="/?=&"), st.text(max_size=40))  # fmt: skip


def plan(base_register: dict[str, Any], base_submit: dict[str, Any]) -> st.SearchStrategy[Any]:
    """One step: a fuzzed request, a valid signed submission, or a replay of one."""
    methods = st.just("POST") | st.sampled_from(METHODS) | st.sampled_from(["post", "FOO"])
    paths = st.sampled_from(ROUTES[:2]) | PATHS
    fuzzed = st.tuples(st.just("fuzz"), methods, paths, raw_bodies(base_register, base_submit),
                       CONTENT_TYPES, EXTRA_HEADERS)
    valid = st.tuples(st.just("valid"), st.dictionaries(
        st.text(st.characters(codec="utf-8"), max_size=10), READING_VALUE.filter(_json_safe),
        max_size=5))  # fmt: skip
    return st.one_of(fuzzed, fuzzed, fuzzed, fuzzed, fuzzed, fuzzed, fuzzed, valid,
                     st.tuples(st.just("replay"), st.integers(0, 10**6)))


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value).encode("utf-8")
        return not (isinstance(value, str) and ("\x00" in value or _has_surrogate(value)))
    except (ValueError, UnicodeEncodeError):
        return False


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# ---- one step ---------------------------------------------------------------------------


def check_answer(method: str, status: int, body: bytes, ctype: str) -> None:
    """Never a 5xx; every answer but HEAD's is a JSON object saying success or the problem."""
    assert status < 500, (status, body[:300])
    if method.upper() == "HEAD":
        return
    assert "application/json" in ctype, (status, ctype, body[:300])
    answer = json.loads(body)
    assert isinstance(answer, dict), answer
    if status >= 400:
        assert answer.get("success") is False and answer.get("message"), answer
        assert isinstance(answer.get("error"), str), answer


def run_step(step: Any, sender: Sender, device: Device, tally: Tally) -> None:
    kind = step[0]
    tally.kinds[kind] += 1
    if kind == "fuzz":
        _, method, path, body, ctype, extra = step
        headers = {**extra, "Content-Type": ctype} if ctype else dict(extra)
        status, data, got_type = sender.send(method, path, body, headers)
        tally.statuses[status] += 1
        check_answer(method, status, data, got_type)
        if status == 200 and method == "POST" and "record_id" in (answer := json.loads(data)):
            _accepted(tally, answer)  # e.g. the base submission with an extra field: valid
        return
    if kind == "replay":
        if not tally.bodies:
            return
        status, data, got_type = sender.send(
            "POST", "/device/data", tally.bodies[step[1] % len(tally.bodies)],
            {"Content-Type": "application/json"})
        tally.statuses[status] += 1
        check_answer("POST", status, data, got_type)
        assert status == 409, (status, data)
        return
    tally.serial += 1
    reading = json.dumps({**step[1], "serial": tally.serial})
    body = json.dumps(device.submission(reading)).encode()
    status, data, got_type = sender.send("POST", "/device/data", body,
                                         {"Content-Type": "application/json"})
    tally.statuses[status] += 1
    check_answer("POST", status, data, got_type)
    assert status == 200, (status, data)
    _accepted(tally, json.loads(data))
    tally.bodies.append(body)


def _accepted(tally: Tally, answer: dict[str, Any]) -> None:
    assert answer["record_id"] not in tally.accepted
    tally.accepted[int(answer["record_id"])] = str(answer["task_id"])


def register(sender: Sender, device: Device) -> None:
    body = json.dumps({"device_id": device.device_id, "public_key": device.public_hex,
                       "device_type": "ev_sensor"}).encode()
    status, data, _ = sender.send("POST", "/device/register", body,
                                  {"Content-Type": "application/json"})
    assert status in (200, 201), (status, data)


def raw_exchange(port: int, payload: bytes) -> bytes:
    """Send bytes that are not well-formed HTTP; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(payload)  # the server answers an error and closes the connection
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


MALFORMED_HTTP = (
    b"GARBAGE\r\n\r\n",
    b"POST /device/data HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /device/data HTTP/1.1\r\nHost: x\r\nX-Bad\x00: a\r\n\r\n",
    b"GET /status HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
    b"POST /device/data HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /status HTTP/9.9\r\n\r\n",
)


def check_malformed_http(port: int) -> Counter[int]:
    """Malformed HTTP (refused by aiohttp's parser) gets a 4xx with a JSON error too."""
    seen: Counter[int] = Counter()
    for payload in MALFORMED_HTTP:
        answer = raw_exchange(port, payload)
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
        assert 400 <= status < 500, (payload[:60], answer[:200])
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"application/json" in head, answer[:300]
        error = json.loads(body)
        assert error["success"] is False and error["error"] == "malformed", error
        seen[status] += 1
    return seen


# ---- after the run ----------------------------------------------------------------------


def wait_committed(serve: ServeProcess, within: float) -> dict[str, Any]:
    """/status once every record is committed (AssertionError after ``within`` s)."""
    deadline = time.monotonic() + within
    sender = Sender(serve.port)
    try:
        while True:
            _, data, _ = sender.send("GET", "/status", None, {})
            status: dict[str, Any] = json.loads(data)
            if status["committed"] == status["records"]:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"records not all committed: {status}")
            time.sleep(0.2)
    finally:
        sender.close()


def stored_rows(db: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT id, task_id, data, commit_status, transaction_hash, block_number"
            " FROM data_submissions ORDER BY id").fetchall()
    finally:
        conn.close()


async def on_chain_envelopes(chain_url: str, contract: str, task_ids: list[bytes]) -> list[bytes]:
    """``getResult(task_id)`` envelope of each task id on the node's chain (b"" if none)."""
    from lcore_node.chain import ProcessorReader
    from stylus_contracts import load_artifact
    from utils.chain.rpc import Rpc

    async with Rpc(chain_url) as rpc:
        reader = ProcessorReader(rpc, contract, load_artifact().abi)
        found = [await reader.get_result(t) for t in task_ids]
    return [r.envelope if r is not None else b"" for r in found]


def check_stored_once_and_committed(serve: ServeProcess, accepted: dict[int, str]) -> int:
    """Every accepted record is in the database once, committed, and the same bytes are on
    chain under its task id; nothing else was stored. Returns the records checked."""
    import asyncio

    wait_committed(serve, 60.0)
    rows = stored_rows(serve.db)
    assert sorted(r[0] for r in rows) == sorted(accepted), "stored records != accepted ones"
    for record_id, task_id, _, status, tx_hash, block in rows:
        assert "0x" + bytes(task_id).hex() == accepted[record_id]
        assert status == "committed" and tx_hash and block, (record_id, status)
    chain_url = serve.log_value(r"embedded chain \d+ \(pid \d+\) at (http://\S+)")
    contract = serve.log_value(r"deployed .*MVPIoTProcessor.* at (0x[0-9a-fA-F]{40})")
    envelopes = asyncio.run(on_chain_envelopes(chain_url, contract,
                                               [bytes(r[1]) for r in rows]))
    assert envelopes == [bytes(r[2]) for r in rows]
    return len(rows)
