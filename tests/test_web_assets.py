"""The web room's files: the vendored uPlot is the pinned package's, byte for byte (the sha256
sums scripts/vendor_uplot.sh records and checks), and assets are served by name only."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from utils.web import assets

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "vendor_uplot.sh"


def recorded() -> dict[str, str]:
    """file in utils/web -> sha256, as the vendoring script records them."""
    text = SCRIPT.read_text()
    return {name: digest for name, digest in
            re.findall(r'"package/[^|"]+\|([^|"]+)\|([0-9a-f]{64})"', text)}


def test_the_vendored_files_are_the_pinned_package_files() -> None:
    sums = recorded()
    assert set(sums) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    assert f"VERSION={assets.UPLOT_VERSION}\n" in SCRIPT.read_text()
    for name, digest in sums.items():
        assert hashlib.sha256((assets.HERE / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in assets.asset("uPlot.LICENSE")


def test_every_asset_exists_and_nothing_else_is_served() -> None:
    for name in assets.ASSETS:
        assert assets.asset(name), name
    for name in ("assets.py", "__init__.py", "../server.py"):
        with pytest.raises(KeyError):
            assets.asset(name)


def test_inlined_text_cannot_end_its_tag() -> None:
    text = assets._escaped('x = "</SCRIPT>"; y = "</scripts"; z = a</b', "script")
    assert "</script" not in text.lower()
    assert text == 'x = "<\\/SCRIPT>"; y = "<\\/scripts"; z = a</b'
    script = assets.inline_script("uPlot.iife.min.js")
    assert script.startswith("<script>") and script.lower().count("</script") == 1
