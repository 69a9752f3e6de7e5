"""A non-editable install works on its own: its reference CSVs ship, and `resnext-bench report` writes a report.

The package is built from a copy of the source (so the checkout is left untouched) and installed
with pip into a temporary folder, without dependencies, build isolation or an index: no network.
The report runs in a subprocess whose working directory is that temporary folder and whose
PYTHONPATH is the install, so the checkout cannot be what gets imported; torch and the other
dependencies come from this interpreter's environment.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.sweeps import make_run, make_table3_sweep

REPO = Path(__file__).resolve().parents[1]
SOURCE_REFERENCE = REPO / "resnext_bench" / "reference"


def build_source(dest: Path) -> Path:
    """The files a build reads: the top-level files (pyproject.toml, README.md, ...) and the package."""
    dest.mkdir()
    for path in REPO.iterdir():
        if path.is_file():
            shutil.copy2(path, dest / path.name)
    shutil.copytree(REPO / "resnext_bench", dest / "resnext_bench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dest


def pip_install(source: Path, site: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
           "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=source.parent)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"


def in_install(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python ARGS` that sees the install, not the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    env.update(PYTHONPATH=str(site), MPLBACKEND="Agg", MPLCONFIGDIR=str(cwd / ".mpl"))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.mark.slow
def test_a_non_editable_install_ships_its_reference_and_writes_a_report(tmp_path):
    site = tmp_path / "site"
    pip_install(build_source(tmp_path / "src"), site)

    shipped = sorted(p.name for p in (site / "resnext_bench" / "reference").glob("*.csv"))
    assert shipped == sorted(p.name for p in SOURCE_REFERENCE.glob("*.csv")), "every reference CSV ships"

    work = tmp_path / "work"  # not the checkout: nothing of it is importable from here
    work.mkdir()
    where = in_install(site, work, "-c", "import resnext_bench, resnext_bench.reference as r; "
                                         "print(resnext_bench.__file__); print(r.REFERENCE_DIR)")
    assert where.returncode == 0, where.stderr
    package_file, reference_dir = map(Path, where.stdout.split())
    assert package_file.is_relative_to(site), f"imported {package_file}, not the install"
    assert reference_dir.is_relative_to(site)

    sweep = make_table3_sweep(work / "sweep")
    for c, err in ((1, 5.0), (8, 4.0)):
        make_run(sweep, f"cifar-{c}x64d", ablation="cifar", study="fig7", template="cifar-29", cardinality=c,
                 bottleneck_width=64, dataset="cifar10", err=err)
    script = site / "bin" / "resnext-bench"
    assert script.is_file(), "the console script is installed"
    out = work / "results"
    done = in_install(site, work, str(script), "report", str(sweep), "-o", str(out))
    assert done.returncode == 0, f"report failed:\n{done.stdout}\n{done.stderr}"

    report = (out / "report.md").read_text()
    assert "## Tables" in report and "Table 3: cardinality vs width" in report
    table3 = (out / "table3.md").read_text()
    assert "31.00 ± 1.00 (3)" in table3
    assert "| 23.9 |" in table3, "the paper's Table 3 number, read from the installed CSV"
    table7 = (out / "table7.md").read_text()
    assert "3.65" in table7, "the paper's Table 7 number, read from the installed CSV"
    assert (out / "table3.tex").is_file() and (out / "table3.csv").is_file()
