"""The page's routes on a run's Flask app: ``/`` (the live console) and ``/assets/<name>``.

Only the files named in :data:`utils.web.assets.ASSETS` are served; the page holds no
secret (a token given as ``?token=`` stays in the browser's address bar and is sent back
only as a header on control calls).
"""

from __future__ import annotations

from flask import Flask, Response, abort

from utils.web.assets import asset, content_type

PAGE = "console.html"


def register_page(app: Flask) -> None:
    """Add ``GET /`` and ``GET /assets/<name>`` to ``app``."""

    @app.get("/")
    def _page() -> Response:
        return _answer(PAGE)

    @app.get("/assets/<name>")
    def _asset(name: str) -> Response:
        if name == PAGE:
            abort(404)
        return _answer(name)


def _answer(name: str) -> Response:
    try:
        text = asset(name)
    except KeyError:
        abort(404)
    response = Response(text, status=200, content_type=content_type(name))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
