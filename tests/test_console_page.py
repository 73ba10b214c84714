"""The live console page ``/``: served from utils/web by the run's own HTTP server, with its
assets and nothing else of the folder."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from server import ServerThread, create_app
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
    for name in ("uPlot.iife.min.js", "charts.js", "console.js", "uPlot.min.css"):
        assert f"/assets/{name}" in body
        status, kind, text = get(f"{server.url}/assets/{name}")
        assert status == 200 and kind == assets.content_type(name) and text == assets.asset(name)
    assert "token" not in body.lower().replace("?token=", "")  # the page holds no secret


@pytest.mark.parametrize("name", ["assets.py", "routes.py", "__init__.py", "console.html",
                                  "..%2Fserver.py", "nothing.js"])
def test_nothing_else_is_served(server: ServerThread, name: str) -> None:
    status, _, body = get(f"{server.url}/assets/{name}")
    assert status == 404 and "import" not in body
