"""The architecture as tests: the import-linter layers contract in pyproject.toml holds (and fails on
an upward import), no import cycle between modules, and no private (`_`) name crosses a folder."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "resnext_bench"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACT = "resnext_bench layers"

# Cycles not yet broken, each with why; a cycle no entry allows fails the test. The ablation loader
# (config.load) reads `sample:` through config.samplers, which
# needs the loader's specs and coercion: allowed while every module of the cycle is in config and
# samplers is one of them, until the sampler parsing and the loader stop importing each other.
KNOWN_CYCLES = [
    lambda cycle: "resnext_bench.config.samplers" in cycle
    and all(m.startswith("resnext_bench.config.") for m in cycle),
]


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the contract in pyproject.toml, for the resnext_bench in package_parent (it
    puts its working directory first on the path, so it runs there)."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(REPO / "pyproject.toml")],
                          cwd=package_parent, env=env, capture_output=True, text=True, timeout=300)


def test_the_layers_contract_is_kept():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "KEPT" in proc.stdout and "BROKEN" not in proc.stdout


@pytest.mark.parametrize("module, line", [
    # config is below cluster: an import at the top of a config module
    ("config/runs.py", "import resnext_bench.cluster\n"),
    # models is below engine: a lazy (function-level) import counts too
    ("models/resnext.py", "def _upward():\n    from resnext_bench.engine import train\n"),
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, line):
    copy = tmp_path / "resnext_bench"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + "\n\n" + line)
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert f"{CONTRACT}" in proc.stdout and "BROKEN" in proc.stdout, proc.stdout[-3000:]
    assert "resnext_bench." + module.removesuffix(".py").replace("/", ".") in proc.stdout


def _cycles(graph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return found


def test_no_import_cycles_between_modules():
    # Imports under `if TYPE_CHECKING:` do not run, so they make no cycle.
    graph = grimp.build_graph("resnext_bench", cache_dir=None, exclude_type_checking_imports=True)
    cycles = _cycles(graph)
    new = [sorted(c) for c in cycles if not any(known(c) for known in KNOWN_CYCLES)]
    assert not new, f"import cycles: {new}"


class _Package:
    """Module names, folders and files of one copy of resnext_bench (the repo's, or a test's copy)."""

    def __init__(self, root: Path):
        self.root = root

    def module_name(self, path: Path) -> str:
        parts = list(path.relative_to(self.root.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def is_package(self, module: str) -> bool:
        return (self.root.parent / module.replace(".", "/") / "__init__.py").exists()

    def is_module(self, module: str) -> bool:
        return self.is_package(module) or (self.root.parent / module.replace(".", "/")).with_suffix(".py").exists()

    def folder(self, module: str) -> str:
        """The folder a module lives in: resnext_bench.engine.data for engine/data/build.py and for
        engine/data/__init__.py."""
        return module if self.is_package(module) else module.rpartition(".")[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports_across_folders(root: Path = PACKAGE) -> list[str]:
    """`from X import _name`, `import X._mod` and `X._name` where X is a resnext_bench module of another
    folder: a private name is its folder's business (the folder's __init__ is its public face)."""
    pkg, found = _Package(root), []
    for path in sorted(root.rglob("*.py")):
        module = pkg.module_name(path)
        here = pkg.folder(module)
        tree = ast.parse(path.read_text(), str(path))
        aliases = {}  # local name -> the resnext_bench module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    source = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if not source.startswith("resnext_bench"):
                    continue
                for a in node.names:
                    if pkg.is_module(f"{source}.{a.name}"):
                        aliases[a.asname or a.name] = f"{source}.{a.name}"
                    if _private(a.name) and pkg.folder(source) != here:
                        found.append(f"{module}:{node.lineno} from {source} import {a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if not a.name.startswith("resnext_bench"):
                        continue
                    parts = a.name.split(".")
                    if any(_private(p) for p in parts) and pkg.folder(a.name) != here:
                        found.append(f"{module}:{node.lineno} import {a.name}")
                    if a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
                target = aliases.get(node.value.id)
                if target and pkg.folder(target) != here:
                    found.append(f"{module}:{node.lineno} {node.value.id}.{node.attr} ({target})")
    return found


def test_no_private_name_crosses_a_folder():
    assert private_imports_across_folders() == []


def test_the_private_name_scan_finds_one(tmp_path):
    copy = tmp_path / "resnext_bench"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    bench = copy / "bench" / "parity.py"
    bench.write_text(bench.read_text() + "\n\nfrom resnext_bench.engine.data.sources import _raw_arrays\n"
                     "from ..engine.data import layout\nlayout._root_path\n")
    found = private_imports_across_folders(copy)
    assert any("from resnext_bench.engine.data.sources import _raw_arrays" in f for f in found), found
    assert any("layout._root_path" in f for f in found), found
    assert all(f.startswith("resnext_bench.bench.parity:") for f in found), found
