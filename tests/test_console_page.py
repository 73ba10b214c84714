"""The live console page ``/``: served from utils/web by the run's own HTTP server, with its
assets and nothing else of the folder; and in headless chromium (Debian's, through
Playwright) during a real run: it draws, steers and stops the run."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from server import ServerThread, create_app
from tests.browser import ARGS, CHROMIUM, keep
from tests.conftest import clean_env, main_cmd, require_tool
from tests.console_client import wait_until
from utils.web import assets


@pytest.fixture(scope="module")
def server() -> ServerThread:
    app = create_app(registry=CollectorRegistry(), health=lambda: (True, {}), kpis=lambda: {})
    with ServerThread(app, host="127.0.0.1", port=0) as running:
        yield running


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_the_page_and_its_assets_are_served(server: ServerThread) -> None:
    status, kind, body = get(server.url + "/")
    assert status == 200 and kind.startswith("text/html")
    for name in ("uPlot.iife.min.js", "charts.js", "console_charts.js", "console.js",
                 "uPlot.min.css"):
        assert f"/assets/{name}" in body
        status, kind, text = get(f"{server.url}/assets/{name}")
        assert status == 200 and kind == assets.content_type(name) and text == assets.asset(name)
    assert "token" not in body.lower().replace("?token=", "")  # the page holds no secret


@pytest.mark.parametrize("name", ["assets.py", "routes.py", "__init__.py", "console.html",
                                  "..%2Fserver.py", "nothing.js"])
def test_nothing_else_is_served(server: ServerThread, name: str) -> None:
    status, _, body = get(f"{server.url}/assets/{name}")
    assert status == 404 and "import" not in body




@pytest.fixture
def chromium() -> None:
    """Debian's chromium, installed by `make tools` (skipped where it cannot be)."""
    require_tool("chromium", "Debian's chromium")


def payment(js: str) -> str:
    """A condition on the payment workload of the page's last tick."""
    return ("() => { const t = window.kcConsole && window.kcConsole.lastTick;"
            " const w = t && t.workloads && t.workloads.payment_app;"
            f" return !!w && ({js}); }}")


@pytest.mark.usefixtures("chromium")
def test_the_page_watches_and_steers_a_real_run(tmp_path: Path) -> None:
    """A short run on the embedded chain watched in headless chromium: the charts take new
    points, a rate set on the page is followed, a pause and resume, and stop ends the run."""
    sync_api = pytest.importorskip("playwright.sync_api")
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", "0", "--out", str(tmp_path), "--dapp",
                 "transfers", "--rate", "payment=10", "--rate", "merchant=0", "--rate",
                 "lending=0", "--rate", "iot=0", "--rate", "iot_registration=0",
                 "--interval", "1", "--seed", "12"),
        stdout=(tmp_path / "stdout.txt").open("w"), stderr=subprocess.STDOUT, env=clean_env())
    errors: list[str] = []
    try:  # its output goes to a file: a pipe nobody reads would stall it
        found = wait_until(lambda: re.search(r"(http://127\.0\.0\.1:\d+)/",
                                             (tmp_path / "stdout.txt").read_text()), 60,
                           "the run's first line, naming its page")
        url = found.group(1)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                        else None)
                page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
                page.goto(url + "/")
                steer_from_the_page(page, tmp_path)
                assert errors == []
                proc.wait(timeout=120)  # a hang guard; then the page finds its server gone
                page.wait_for_function("() => document.getElementById('conn').textContent"
                                       " === 'run over'", timeout=30_000)
                assert "report.html" in page.inner_text("#message")
            finally:
                browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # once the server is gone the browser logs its refused reconnections; no script failed
    assert [e for e in errors if e.startswith("pageerror")] == []
    rows = [r for r in csv.DictReader((next(tmp_path.glob("*/kpi_intervals.csv"))).open())
            if r["workload"] == "payment_app"]
    assert any(float(r["target_rate"]) == 40 and float(r["offered_rate"]) > 20 for r in rows)
    assert (next(tmp_path.glob("*/kpi_intervals.csv")).parent / "report.html").is_file()


def steer_from_the_page(page: Any, out: Path) -> None:
    page.wait_for_function("() => window.kcConsole && window.kcConsole.xs.length >= 2",
                           timeout=120_000)  # set-up done, the charts have points
    points = page.evaluate("() => window.kcConsole.charts['thr-payment_app'].plot.data[0].length")
    page.wait_for_function("n => window.kcConsole.charts['thr-payment_app'].plot.data[0]"
                           ".length > n", arg=points, timeout=20_000)  # new points arrive
    page.fill("#wl-payment_app .rate-input", "40")
    page.click("#wl-payment_app .rate-set")
    rate_set = "window.kcConsole.markers.filter(m => m.what === 'rate').slice(-1)[0].t"
    page.wait_for_function(payment(f"w.target === 40 && w.offered > 20 && t.t - t.dt > "
                                   f"{rate_set}"), timeout=20_000)  # a whole tick at 40
    offered_cell = "parseFloat(document.querySelector('#wl-payment_app .c-offered').textContent)"
    page.wait_for_function(f"() => {offered_cell} > 20", timeout=20_000)  # the table's mean
    shot(page, out / "console-1400.png")
    page.click("#wl-payment_app .pause")
    page.wait_for_function(payment("w.paused && w.offered === 0"), timeout=20_000)
    page.wait_for_function(f"() => {offered_cell} === 0", timeout=5_000)  # since the pause
    assert page.inner_text("#wl-payment_app .pause") == "Resume"
    page.click("#wl-payment_app .pause")
    page.wait_for_function(payment("!w.paused && w.offered > 20"), timeout=20_000)
    page.fill("#wl-payment_app .rate-input", "ramp:40-20:4")  # a profile string
    page.press("#wl-payment_app .rate-input", "Enter")
    page.wait_for_function(payment("w.target > 20 && w.target < 40"), timeout=20_000)
    assert page.eval_on_selector_all("#markers li", "els => els.length") >= 4
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, out / "console-1280.png")
    page.click("#stop")
    page.wait_for_function("() => /\\bstop\\b/.test(document.getElementById('markers')"
                           ".textContent)", timeout=30_000)  # its marker, at once


def shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path))
    keep(path)


@pytest.mark.usefixtures("chromium")
def test_console_mode_starts_a_run_from_the_page_and_lists_it(tmp_path: Path) -> None:
    """``main.py console``: a run started from the page's form is drawn, a second start while
    it runs is refused on the page, and the finished run is listed with its report."""
    sync_api = pytest.importorskip("playwright.sync_api")
    out = tmp_path / "runs"
    proc = subprocess.Popen(main_cmd("console", "--port", "0", "--out", str(out)),
                            stdout=(tmp_path / "stdout.txt").open("w"),
                            stderr=subprocess.STDOUT, env=clean_env())
    errors: list[str] = []
    try:
        url = wait_until(lambda: re.search(r"(http://127\.0\.0\.1:\d+)/",
                                           (tmp_path / "stdout.txt").read_text()), 60,
                         "the console's first line, naming its page").group(1)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                        and "409" not in m.text else None)  # the refused start, below
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url + "/")
                start_from_the_form(page, tmp_path)
            finally:
                browser.close()
    finally:
        proc.terminate()  # the console ends on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert errors == []
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    assert (run_dir / "report.html").is_file()


def start_from_the_form(page: Any, out: Path) -> None:
    page.wait_for_selector("#console-panel:not([hidden])", timeout=10_000)
    page.fill("#start-args", "--duration 5 --dapp transfers --rate payment=5 --rate merchant=0 "
              "--rate lending=0 --rate iot=0 --rate iot_registration=0 --interval 1")
    page.click("#start-form button")
    page.wait_for_function("() => /started benchmark/.test("
                           "document.getElementById('message').textContent)", timeout=20_000)
    page.click("#start-form button")  # one run at a time: refused, and said so
    page.wait_for_selector("#message.err", timeout=20_000)
    assert "running" in page.inner_text("#message")
    page.wait_for_function("() => window.kcConsole.xs.length >= 2", timeout=120_000)
    page.wait_for_selector("#link-report", timeout=120_000)  # the run's end event
    page.wait_for_selector("#runs a[href$='/report.html']", timeout=20_000)
    assert "targets met" in page.inner_text("#runs")
    shot(page, out / "console-mode-1280.png")
    page.click("#runs a[href$='/report.html']")
    page.wait_for_function("() => window.kcReport && window.kcReport.charts.length > 0",
                           timeout=20_000)  # its report, served by the console, draws


@pytest.mark.usefixtures("chromium")
def test_the_token_given_in_the_address_goes_only_into_control_headers(tmp_path: Path) -> None:
    """A server that needs a token (as one bound beyond loopback): the page opened with
    ``?token=`` sends it on a control call (the console answers 409: nothing to stop, not
    401), drops it from the address bar and holds it nowhere in the document; opened
    without it, the same call is refused with 401 and the page says so."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from server import ControlGuard
    from utils.run.console_api import api_blueprint
    from utils.run.console_host import ConsoleHost

    token = "page-test-token-" + os.urandom(6).hex()
    host = ConsoleHost(mode="console", out=tmp_path, token_required=True)
    app = create_app(registry=CollectorRegistry(), health=lambda: (True, {}), kpis=lambda: {},
                     api=api_blueprint(host), guard=ControlGuard(token))
    seen: list[str] = []
    try:
        with ServerThread(app, host="127.0.0.1", port=0) as running, \
                sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.on("request", lambda r: seen.append(" ".join(
                    (r.url, r.headers.get("referer", ""), r.headers.get("authorization", "")))))
                page.goto(f"{running.url}/?token={token}")
                page.wait_for_selector("#console-panel:not([hidden])")
                assert token not in page.evaluate("() => location.href")
                assert token not in page.content()
                page.click("#stop")
                page.wait_for_selector("#message.err")
                assert "401" not in page.inner_text("#message")  # the token was accepted
                page.goto(running.url + "/")
                page.wait_for_selector("#console-panel:not([hidden])")
                page.click("#stop")
                page.wait_for_function("() => /token/.test("
                                       "document.getElementById('message').textContent)")
            finally:
                browser.close()
    finally:
        host.close()
    carrying = [s for s in seen if token in s]
    assert len(carrying) == 2  # the address that gave it and the control call (no referer)
    assert "/api/stop " in carrying[1] and carrying[1].endswith(f" Bearer {token}")
