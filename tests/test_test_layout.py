"""Each test module stands alone: shared helpers come from tests/support, never from another test module or conftest."""
import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.glob("test_*.py")) + sorted((TESTS / "support").glob("*.py"))


def borrowed_modules(path: Path) -> list[str]:
    """Every import, at any depth of the file, of conftest or of a test module: 'line N: module'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names
                  if name.split(".")[0] == "conftest" or name.split(".")[0].startswith("test_")]
    return found


def test_the_layout_check_sees_every_test_module_and_the_support_package():
    names = {p.name for p in MODULES}
    assert {"test_launch.py", "test_train.py", "test_analysis.py", "__init__.py", "polling.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_module_imports_a_test_module_or_conftest(path):
    assert borrowed_modules(path) == []


def test_the_check_catches_each_way_of_borrowing_from_a_test_module(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("import conftest\nfrom conftest import wait_until\nfrom test_train import quiet\n"
                   "def test_x():\n    import test_analysis\n    from test_data import write_cifar\n")
    assert borrowed_modules(bad) == ["line 1: conftest", "line 2: conftest", "line 3: test_train",
                                     "line 5: test_analysis", "line 6: test_data"]


def test_conftest_holds_only_fixtures():
    """Nothing in conftest.py is there to be imported: every top-level function is a pytest fixture."""
    tree = ast.parse((TESTS / "conftest.py").read_text())
    defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign,
                                                               ast.AnnAssign))]
    not_fixtures = [getattr(node, "name", None) or ast.unparse(node).split("=")[0].strip() for node in defined
                    if not (isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d)
                                                                       for d in node.decorator_list))]
    assert not_fixtures == []
