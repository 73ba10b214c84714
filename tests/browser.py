"""Debian's chromium through Playwright, as the browser tests drive it.

``offline_page`` opens a file page and records its console errors and the requests it made,
for the tests that check a page opens offline without an error (report.html, compare.html).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def keep(path: Path) -> None:
    """A screenshot kept beside the test and, with KCSTRESS_ARTIFACTS set, there too."""
    where = os.environ.get("KCSTRESS_ARTIFACTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(where) / path.name)


@dataclass
class Seen:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def offline_page(playwright: Any, url: str, ready: str) -> Iterator[tuple[Any, Seen]]:
    """The page at ``url`` in a 1400x900 chromium window once ``ready`` (a JS expression)
    holds, and what it has logged and requested so far (it goes on recording)."""
    seen = Seen()
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error"
                    else None)
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(url)
            page.wait_for_function(ready)
            yield page, seen
        finally:
            browser.close()
