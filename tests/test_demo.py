"""The main job end to end, shrunk: `resnext-bench demo` launches, waits, reports, and reuses runs."""
from pathlib import Path

from resnext_bench.cli import main

SHRINK = ["--set", "cardinalities=[1, 2]", "--set", "seeds=[0, 1]", "--set", "recipe.epochs=1",
          "--set", "data.train_limit=128", "--set", "data.val_limit=64"]


def test_demo_runs_the_study_to_a_report_and_a_rerun_reuses_it(tmp_path, capsys):
    sweep, out = tmp_path / "sweep", tmp_path / "results"
    args = ["demo", "--executor", "local", "--sweep-dir", str(sweep), "-o", str(out), "--timeout-min", "10", *SHRINK]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "no Slurm here: runs execute as local subprocesses" in printed
    assert "4/4 runs completed" in printed
    report = (out / "report.md").read_text()
    assert "Table 3" in report and "± " in report and "(2)" in report  # mean ± std over 2 seeds
    assert "(fig_cardinality.png)" in report
    assert (out / "fig_cardinality.png").stat().st_size > 0 and (out / "fig_cardinality.pdf").stat().st_size > 0
    # one epoch of metrics: no curve to draw, and the report says why instead of drawing an empty plot
    assert "(fig_curves.png)" not in report and "every run has one epoch" in report
    assert "## How this was produced" in report and "wall time" in report
    assert "4 runs executed by this invocation" in report
    assert main(args) == 0
    assert "reusing 4 finished runs" in capsys.readouterr().out
    again = (out / "report.md").read_text()
    assert "no run was executed by this invocation" in again and "executed by this invocation: no Slurm" not in again


def test_demo_on_cifar_needs_a_data_root(capsys):
    assert main(["demo", "--data", "cifar10"]) == 2
    assert "--data cifar10 needs --data-root" in capsys.readouterr().err


def test_demo_on_a_missing_cifar_root_fails_before_launching(tmp_path, capsys):
    assert main(["demo", "--data", "cifar10", "--data-root", str(tmp_path / "nope"),
                 "--sweep-dir", str(tmp_path / "s")]) == 2
    assert "cifar-10-batches-py" in capsys.readouterr().err
    assert not Path(tmp_path / "s").exists()


def test_demo_runs_the_same_study_on_cifar10_when_the_user_has_it(tmp_path, capsys):
    from support.data import write_cifar

    root = tmp_path / "cifar"
    write_cifar(root, "cifar10", per_file=16)  # torchvision's on-disk layout, tiny
    out = tmp_path / "results"
    assert main(["demo", "--data", "cifar10", "--data-root", str(root), "--executor", "local",
                 "--sweep-dir", str(tmp_path / "sweep"), "-o", str(out), "--timeout-min", "10",
                 "--set", "cardinalities=[1, 2]", "--set", "seeds=[0]", "--set", "recipe.epochs=1",
                 "--set", "recipe.batch_size=16"]) == 0
    assert "2/2 runs completed" in capsys.readouterr().out
    import pandas as pd

    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["dataset"]) == ["cifar10", "cifar10"] and set(runs["status"]) == {"completed"}
    assert "Table 3" in (out / "report.md").read_text()
