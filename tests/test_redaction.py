"""No secret of an RPC URL leaves the process: summary.json, run.log, the console, the CSVs,
the lcore database, /health, /kpis (issue 20.6).

The unit tests pin :mod:`utils.redact`; the run test starts ``python main.py`` with
``--rpc-url http://127.0.0.1:PORT/v2/KEY?apikey=KEY2`` against the embedded chain behind
the fault-injecting proxy (tests/rpc_proxy.py, any path) answering a share of requests with
HTTP 429 (aiohttp's error text quotes the URL), polls /health and /kpis while it runs, and
greps every file of the run folder, stdout and stderr for the keys.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from server import create_app
from tests.conftest import clean_env, main_cmd
from tests.rpc_proxy import Faults, RpcProxy
from tests.test_run_health import free_port
from utils.devchain import DevChain
from utils.observe.tx_rows import one_line
from utils.redact import RedactFilter, Redactor, redact_text, redact_url
from utils.run.log_setup import RunLog
from utils.settings import load_settings

KEY, KEY2 = "SECRETKEY123abc", "SECRET2xyz789"
KEYED = f"/v2/{KEY}?apikey={KEY2}"


@pytest.mark.parametrize(("url", "shown"), [
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("http://127.0.0.1:8545/", "http://127.0.0.1:8545/"),
    ("https://eth-mainnet.g.alchemy.com/v2/abcdef0123456789",
     "https://eth-mainnet.g.alchemy.com/<redacted>"),
    ("https://node.example:8443/?apikey=k1", "https://node.example:8443/<redacted>"),
    ("https://user:pass@Node.Example:8443", "https://node.example:8443/<redacted>"),
    ("http://[::1]:8545/rpc#frag", "http://[::1]:8545/<redacted>"),
    ("not a url", "<redacted>"),
])
def test_redact_url_keeps_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_and_the_given_secrets() -> None:
    url = f"http://127.0.0.1:9/v2/{KEY}?apikey={KEY2}"
    aiohttp_error = f"403, message='Forbidden', url='{url}'"
    assert redact_text(aiohttp_error) == \
        "403, message='Forbidden', url='http://127.0.0.1:9/<redacted>'"
    assert redact_text(f"see URL('{url}').") == "see URL('http://127.0.0.1:9/<redacted>')."
    # parts quoted without the scheme are found only with the configured URL
    quoted = f"POST /v2/{KEY}?apikey={KEY2} failed; key {KEY2}; %2Fv2%2F{KEY}"
    shown = Redactor([url]).text(quoted)
    assert KEY not in shown and KEY2 not in shown and "failed; key <redacted>" in shown
    assert Redactor([url]).value({"a": [quoted, 1], url: None}) == {
        "a": [shown, 1], "http://127.0.0.1:9/<redacted>": None}
    assert one_line(f"rejected:\n {aiohttp_error}") == \
        "rejected: 403, message='Forbidden', url='http://127.0.0.1:9/<redacted>'"


def test_summary_settings_show_urls_redacted() -> None:
    settings = load_settings({"rpc_url": f"https://h.example{KEYED}",
                              "lcore_node_url": "http://u:pw@127.0.0.1:3000/x"})
    public = settings.public_dict()
    assert public["rpc_url"] == "https://h.example/<redacted>"
    assert public["lcore_node_url"] == "http://127.0.0.1:3000/<redacted>"
    assert settings.rpc_url == f"https://h.example{KEYED}"  # the run itself uses the real one


def test_log_records_messages_args_and_tracebacks_are_redacted(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:9{KEYED}"
    run_log = RunLog("INFO")
    run_log.add_filter(RedactFilter(Redactor([url])))
    logger = logging.getLogger("tests.redaction")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(run_log.handler)  # held in memory, then written to run.log
    try:
        logger.info("connecting to %s", url)
        run_log.attach(tmp_path / "run.log")
        logger.removeHandler(run_log._memory)
        logger.addHandler(run_log.handler)
        try:
            raise RuntimeError(f"cannot reach {url}")
        except RuntimeError:
            logger.exception("failed (key %s)", KEY2)
    finally:
        logging.getLogger().removeHandler(run_log.handler)
        logger.removeHandler(run_log.handler)
        run_log.handler.close()
    text = (tmp_path / "run.log").read_text()
    assert "connecting to http://127.0.0.1:9/<redacted>" in text
    assert "RuntimeError: cannot reach http://127.0.0.1:9/<redacted>" in text
    assert KEY not in text and KEY2 not in text


def test_health_that_raises_shows_no_url() -> None:
    from prometheus_client import CollectorRegistry

    def health() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError(f"rpc at http://127.0.0.1:9{KEYED} failed")

    app = create_app(registry=CollectorRegistry(), health=health, kpis=dict)
    answer = app.test_client().get("/health")
    assert answer.status_code == 503
    assert answer.get_json()["reason"] == ("health check raised RuntimeError: rpc at "
                                           "http://127.0.0.1:9/<redacted> failed")


def _get(port: int, path: str) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return str(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())
    except OSError:
        return ""


def _file_texts(root: Path) -> dict[str, str]:
    texts = {}
    for path in root.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            texts[str(path)] = raw.decode("latin-1")
    return texts


@pytest.mark.slow
def test_a_run_through_a_keyed_url_writes_no_key(devchain: DevChain, tmp_path: Path) -> None:
    port, answers = free_port(), io.StringIO()
    with RpcProxy.start(devchain.url, Faults("http429", seed=3, http_429=0.03)) as proxy:
        proc = subprocess.Popen(
            main_cmd("--duration", "8", "--port", str(port), "--out", str(tmp_path / "out"),
                     "--rpc-url", proxy.url + KEYED, "--seed", "5", "--rate", "payment=6",
                     "--rate", "iot=2", "--rate", "iot_registration=4", "--drain-timeout",
                     "10", "--interval", "2"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=clean_env(PRIVATE_KEY=devchain.funder_key.hex()),
        )
        try:
            while proc.poll() is None:
                answers.write(_get(port, "/health") + _get(port, "/kpis"))
                time.sleep(0.5)
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode in (0, 1), err[-3000:]
    assert proxy.injected["http429"] > 0 and proxy.forwarded["eth_sendRawTransaction"] > 0
    assert '"status"' in answers.getvalue()  # /health answered while the run went on
    texts = {"stdout": out, "stderr": err, "endpoints": answers.getvalue(),
             **_file_texts(tmp_path / "out")}
    assert any(name.endswith("run.log") for name in texts)
    for name, text in texts.items():
        assert KEY not in text and KEY2 not in text, name
    run_dir = (tmp_path / "out" / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["settings"]["rpc_url"] == f"{proxy.url}/<redacted>"


@pytest.mark.slow
def test_a_refused_chain_names_its_url_without_the_key(devchain: DevChain,
                                                       tmp_path: Path) -> None:
    """The error a user reads (CHAIN_ID differs from the node's) quotes the endpoint."""
    with RpcProxy.start(devchain.url) as proxy:
        done = subprocess.run(
            main_cmd("--duration", "5", "--port", "0", "--out", str(tmp_path),
                     "--rpc-url", proxy.url + KEYED),
            capture_output=True, text=True, timeout=120,
            env=clean_env(PRIVATE_KEY=devchain.funder_key.hex(),
                          CHAIN_ID=str(devchain.chain_id + 1)))
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"but {proxy.url}/<redacted> is chain {devchain.chain_id}" in done.stderr
    for text in [done.stdout, done.stderr, *_file_texts(tmp_path).values()]:
        assert KEY not in text and KEY2 not in text
