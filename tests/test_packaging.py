"""The package as a packager sees it: runtime dependencies are what runtime code imports, and
the wheel holds every module and data file of the runtime folders.

* every third-party module imported anywhere in the runtime code comes from a declared runtime
  dependency (or from an extra of one, e.g. ``eth-hash[pycryptodome]``), and every declared
  runtime dependency is imported by it;
* the wheel built from the tracked files holds exactly the runtime folders' tracked files:
  modules, the contracts' artifacts, programs and sources, the Nitro precompiles' ABIs.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
RUNTIME = ["main.py", "server.py", "utils", "lcore_node", "contracts", "stylus_contracts"]
OWN = {"main", "server", "utils", "lcore_node", "contracts", "stylus_contracts"}


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def runtime_sources() -> list[Path]:
    files = []
    for name in RUNTIME:
        path = REPO / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def is_type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:``: imports that only the type checker runs."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def third_party_imports() -> dict[str, set[str]]:
    """{top-level module: {files importing it}} over the runtime code, stdlib and own left out."""
    found: dict[str, set[str]] = {}
    for path in runtime_sources():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for block in ast.walk(tree) if is_type_checking_block(block)
                       for n in ast.walk(block)}  # fmt: skip
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def declared() -> dict[str, Requirement]:
    reqs = [Requirement(text) for text in project()["dependencies"]]
    return {canonicalize_name(req.name): req for req in reqs}


def brought_by_extras(req: Requirement) -> set[str]:
    """The distributions that a declared ``name[extra]`` adds through its extras."""
    out = set()
    for text in md.requires(req.name) or []:
        sub = Requirement(text)
        if sub.marker is not None and any(
            sub.marker.evaluate({"extra": extra}) for extra in req.extras
        ):
            out.add(canonicalize_name(sub.name))
    return out


def distributions_of(module: str) -> set[str]:
    return {canonicalize_name(d) for d in md.packages_distributions().get(module, [])}


def test_every_runtime_import_is_a_declared_runtime_dependency() -> None:
    runtime = declared()
    allowed = set(runtime)
    for req in runtime.values():
        allowed |= brought_by_extras(req)
    undeclared = {}
    for module, files in sorted(third_party_imports().items()):
        dists = distributions_of(module)
        assert dists, f"{module} (imported by {sorted(files)}) is not installed: make setup"
        if not dists & allowed:
            undeclared[module] = (sorted(dists), sorted(files))
    assert not undeclared, f"imported by runtime code, not a runtime dependency: {undeclared}"


def test_every_runtime_dependency_is_imported_by_runtime_code() -> None:
    imported = set()
    for module in third_party_imports():
        imported |= distributions_of(module)
    unused = sorted(set(declared()) - imported)
    assert not unused, f"runtime dependencies no runtime module imports: {unused}"


def test_test_tools_are_dev_dependencies_only() -> None:
    runtime = declared()
    dev_extra = project()["optional-dependencies"]["dev"]
    dev = {canonicalize_name(Requirement(text).name) for text in dev_extra}
    for name in ("pytest", "eth-tester", "web3", "eth-account"):
        assert name not in runtime and name in dev, name
    for name in ("py-evm", "eth-abi", "eth-utils", "rlp"):  # declared directly, bounded
        spec = runtime[name].specifier
        assert any(s.operator == "<" for s in spec) and any(s.operator == ">=" for s in spec), name


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z", "--", *RUNTIME], cwd=REPO,
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"git ls-files failed: {done.stderr.decode()}")
    return [name for name in done.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel built from a copy of the tracked files (as a clean clone has them)."""
    src = tmp_path_factory.mktemp("src")
    for name in [*tracked_files(), "pyproject.toml", "README.md"]:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("kcstress-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_every_runtime_file(wheel: zipfile.ZipFile) -> None:
    names = {n for n in wheel.namelist() if ".dist-info/" not in n}
    tracked = set(tracked_files())
    assert tracked - names == set(), "tracked runtime files missing from the wheel"
    assert names - tracked == set(), "files in the wheel that are not tracked runtime files"
    for data in ("stylus_contracts/wasm_dapps/router.wasm",
                 "stylus_contracts/wasm/mvp_iot_processor.wasm",
                 "stylus_contracts/artifacts/MVPIoTProcessor.json",
                 "utils/devchain/nitro/abi/ArbWasm.json"):  # fmt: skip
        assert data in names


def test_the_wheel_declares_the_runtime_dependencies(wheel: zipfile.ZipFile) -> None:
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [Requirement(line.split(":", 1)[1].strip())
                for line in wheel.read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]  # fmt: skip
    runtime = {str(r) for r in requires if r.marker is None}
    assert runtime == {str(r) for r in declared().values()}
