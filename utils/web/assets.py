"""The web room's files by name: their text and content type, and inline tags for them.

The server serves them at ``/assets/<name>``; ``report.html`` inlines them (one file that
opens offline). Only the names in :data:`ASSETS` are served: nothing else of the folder.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPLOT_VERSION = "1.6.32"  # scripts/vendor_uplot.sh's VERSION

#: name -> content type of every file a page may load
ASSETS = {
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "charts.css": "text/css; charset=utf-8",
    "console.html": "text/html; charset=utf-8",
    "console_charts.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
}


@cache
def asset(name: str) -> str:
    """The text of asset ``name``; KeyError for a name that is not an asset."""
    if name not in ASSETS:
        raise KeyError(name)
    return (HERE / name).read_text(encoding="utf-8")


def content_type(name: str) -> str:
    return ASSETS[name]


def _escaped(text: str, tag: str) -> str:
    """``text`` that cannot end its ``<tag>`` early: ``</tag`` written ``<\\/tag``."""
    return re.sub(f"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


def inline_script(name: str) -> str:
    """``<script>`` holding asset ``name``, for a page that must open offline."""
    return "<script>" + _escaped(asset(name), "script") + "</script>"


def inline_style(name: str) -> str:
    return "<style>" + _escaped(asset(name), "style") + "</style>"
