"""The house rule: rooms import downwards only, and each room says what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: lower ranks are below: a module may import its own room or any room of a lower rank
#: (the basics, rank 0, may import each other)
RANKS = {
    "utils.clock": 0, "utils.errors": 0, "utils.aio": 0, "utils.settings": 0,
    "utils.setting_sources": 0, "utils.workload_names": 0, "utils.redact": 0,
    "stylus_contracts": 0,
    "utils.observe": 1, "utils.web": 1,
    "utils.chain": 2, "utils.report": 2,
    "utils.devchain": 3,
    "lcore_node": 4,
    "utils.iot": 5, "utils.load": 5,
    "contracts": 6,
    "server": 7,
    "utils.run": 8,
}
PACKAGES = ("utils", "lcore_node", "contracts")
ROOMS = ("run", "load", "chain", "observe", "report", "iot", "devchain", "web")


def room_of(module: str) -> str | None:
    best = None
    for room in RANKS:
        if (module == room or module.startswith(room + ".")) and (
            best is None or len(room) > len(best)
        ):
            best = room
    return best


def project_modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "__main__.py":  # entry points may import anything
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_every_module_belongs_to_a_room() -> None:
    loose = [name for name, _ in project_modules()
             if name not in ("utils", "lcore_node", "contracts") and room_of(name) is None]
    assert loose == [], f"modules outside every room: {loose}"


def test_imports_go_downwards_only() -> None:
    upward = []
    for name, path in project_modules():
        own = room_of(name)
        if own is None:
            continue
        for target in imported_modules(path):
            other = room_of(target)
            if other is None or other == own:
                continue
            if RANKS[other] > RANKS[own] or (RANKS[other] == RANKS[own] > 0):
                upward.append(f"{name} imports {target} ({own} -> {other})")
    assert upward == [], "\n".join(upward)


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_says_what_it_is_for(room: str) -> None:
    doc = ast.get_docstring(ast.parse((REPO / "utils" / room / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 20, f"utils/{room}/__init__.py needs a docstring"


def test_no_flat_module_is_left_in_utils() -> None:
    flat = sorted(p.stem for p in (REPO / "utils").glob("*.py") if p.stem != "__init__")
    assert flat == ["aio", "clock", "errors", "redact", "setting_sources", "settings",
                    "workload_names"]
