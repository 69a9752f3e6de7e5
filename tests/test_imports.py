"""Commands that need no model import none: planning and reading a sweep never load torch."""
import subprocess
import sys
from pathlib import Path

import pytest

from resnext_bench.cli import build_parser
from support.sweeps import make_table3_sweep

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "timm", "fvcore")

PROBE = """
import sys
from resnext_bench.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:  # --help leaves through argparse
    code = e.code or 0
sys.stderr.write("\\nLOADED=" + ",".join(m for m in %r if m in sys.modules) + "\\n")
sys.exit(code)
""" % (HEAVY,)


def loaded_by(*argv: str, says: str = "") -> list[str]:
    """The heavy modules a fresh interpreter holds after running the verb (which must succeed and
    print `says`)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0 and says in proc.stdout, proc.stderr[-2000:]
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED=")][-1]
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return make_table3_sweep(tmp_path_factory.mktemp("imports") / "sweep")


def test_grid_of_resnext_configurations_leaves_torch_out():
    assert loaded_by("grid", "ablations/table3_resnet50.yaml") == []


def test_a_dry_run_leaves_torch_out(tmp_path):
    assert loaded_by("launch", "ablations/table3_resnet50.yaml", "--cluster", "slurm/debug.yaml", "--dry-run",
                     "--sweep-dir", str(tmp_path / "s")) == []


@pytest.mark.parametrize("verb", ["status", "collect", "report"])
def test_reading_a_sweep_leaves_torch_out(sweep, tmp_path, verb):
    argv = [verb, str(sweep)] + ([] if verb == "status" else ["-o", str(tmp_path / "out")])
    assert loaded_by(*argv) == []


def test_tables_and_plots_leave_torch_out(sweep, tmp_path):
    out = tmp_path / "out"
    assert loaded_by("collect", str(sweep), "-o", str(out)) == []
    assert loaded_by("tables", str(out)) == []
    assert loaded_by("plots", str(out)) == []


def test_every_help_leaves_torch_out():
    verbs = build_parser()._subparsers._group_actions[0].choices
    assert "bench" in verbs and "train" in verbs
    assert loaded_by("--help", says="usage:") == []
    for verb in verbs:
        assert loaded_by(verb, "--help", says="usage:") == [], verb
