"""Every report sentence is backed by its statistic: what a comparison could have detected stands beside
every "nothing found", seeds-needed only for an effect declared before the runs (with Holm), Table 3's
robust aggregates with their bootstrap intervals, and Table 5 when the runs were evaluated."""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.report import readings, sentences
from support.sweeps import add_evaluations, make_run

from resnext_bench.analysis import power, robust
from resnext_bench.analysis.report import write_report
from resnext_bench.analysis.space_report import SPACE_SAME, design_space_section
from resnext_bench.analysis.stats import difference
from resnext_bench.analysis.runs import load_runs, prepare_runs
from resnext_bench.analysis.collect import RUN_COLUMNS

CONFIGS = {1: 16, 2: 10, 4: 6, 8: 4}  # C -> d of a 50-layer equal-complexity sweep
SEEDS = 5
GUARDED = re.compile(r"within seed noise|not distinguishable|indistinguishable|\bno difference\b", re.IGNORECASE)
POOL = [20.1, 20.4, 20.7, 21.0, 21.3]


def no_effect_errors(seed: int = 0) -> dict:
    """The same distribution under every C."""
    rng = random.Random(seed)
    return {(c, s): rng.choice(POOL) for c in CONFIGS for s in range(SEEDS)}


def make_sweep(root: Path, errors: dict, dataset: str = "digits") -> Path:
    sweep = root / "sweep"
    for c, d in CONFIGS.items():
        for seed in range(SEEDS):
            make_run(sweep, f"t3-{c}x{d}d-s{seed}", cardinality=c, bottleneck_width=d, seed=seed,
                     err=errors[(c, seed)], dataset=dataset)
    return sweep


def table3_reading(text: str) -> str:
    return next(block for title, block in readings(text).items() if title.startswith("Table 3"))


def line_of(block: str, setting: str) -> str:
    return next(s for s in block.splitlines() if s.strip().startswith(f"- {setting}:"))


def space_frame(a, b) -> pd.DataFrame:
    """A prepared runs frame of two design spaces A and B (one model a row)."""
    rows = [dict(run_id=f"{space}-{i}", sweep="sweep", space=space, template="imagenet-50", dataset="digits",
                 recipe="short", epochs_planned=3, cardinality=1 if space == "A" else 4, bottleneck_width=8,
                 group_width=8, params=1e6, flops=2e7, seed=0, status="completed", final_val_top1_err=float(err))
            for space, errs in (("A", a), ("B", b)) for i, err in enumerate(errs)]
    frame = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = None
    return prepare_runs(frame)


# ---------------------------------------------------------------- nothing found: what could have been found

@pytest.mark.parametrize("dataset", ["digits", "imagenet"])
def test_no_sentence_says_nothing_was_found_without_the_detectable_size(tmp_path, dataset):
    text = write_report([make_sweep(tmp_path, no_effect_errors(), dataset)], tmp_path / "out").read_text()
    guarded = [s for s in sentences(text) if GUARDED.search(s)]
    assert all("was detectable" in s for s in guarded), [s for s in guarded if "was detectable" not in s]
    t3 = table3_reading(text)
    errors = no_effect_errors()
    base = [errors[(1, s)] for s in range(SEEDS)]
    for c, d in list(CONFIGS.items())[1:]:
        line = line_of(t3, f"{c}x{d}d")
        diff = difference([errors[(c, s)] for s in range(SEEDS)], base)
        mde = power.mde(SEEDS, SEEDS, diff.spread, alpha=power.holm_level(3))
        assert f"no difference larger than {mde:.2f} points was detectable at {SEEDS} seeds" in line, line
        assert line.index("95% CI") < line.index("no difference larger than"), "the estimate comes first"
    # the list's label names the criterion applied (Holm), not a raw Welch p
    assert "Beyond seed noise" not in text and "(Welch, p < 0.05)" not in text
    assert "Significant vs C=1 (Holm-adjusted Welch p < 0.05 over the table's 3 comparisons): none" in t3


def test_spaces_not_told_apart_come_with_the_smallest_detectable_ks_distance():
    rng = np.random.default_rng(7)
    a, b = 20.0 + rng.normal(0.0, 1.0, 32), 20.0 + rng.normal(0.0, 1.0, 32)
    text = "\n".join(design_space_section(space_frame(a, b)))
    same = [s for s in sentences(text) if SPACE_SAME in s]
    assert same, text
    mdd = power.ks_mdd(32, 32, power.holm_level(1))
    for s in same:
        assert f"no KS distance larger than {mdd:.2f} was detectable with 32 models" in s, s


def test_the_report_does_not_call_the_papers_numbers_absent_or_complexity_equal(tmp_path):
    text = write_report([make_sweep(tmp_path, no_effect_errors())], tmp_path / "out").read_text()
    assert "are not set beside ours" not in text, "Table 3 has a paper column"
    assert "slopes compare across panels" not in text and "not a FLOPs effect" not in text
    assert "gives different numbers" not in text and "may give different numbers" in text
    flops = load_runs(tmp_path / "out")["flops"].astype(float)
    span = 100 * (flops.max() / flops.min() - 1)
    assert f"FLOPs differ by {span:.2f}% across the configurations" in table3_reading(text)
    assert "was not tested" in table3_reading(text)


# ---------------------------------------------------------------- seeds needed: a declared effect, with Holm

def test_seeds_needed_appears_only_for_a_declared_effect_at_the_holm_level(tmp_path):
    errors = no_effect_errors()
    plain = write_report([make_sweep(tmp_path / "plain", errors)], tmp_path / "plain-out").read_text()
    assert "seeds needed" not in plain, "digits and no min_effect: nothing was declared before the runs"

    sweep = make_sweep(tmp_path / "declared", errors)
    (sweep / "ablation.yaml").write_text("name: table3\nmin_effect: 0.5\n")
    out = tmp_path / "declared-out"
    text = write_report([sweep], out).read_text()
    runs = load_runs(out)
    assert set(pd.to_numeric(runs["min_effect"])) == {0.5}, "every run of the sweep carries its declared effect"
    t3 = table3_reading(text)
    base = [errors[(1, s)] for s in range(SEEDS)]
    for c, d in list(CONFIGS.items())[1:]:
        line = line_of(t3, f"{c}x{d}d")
        spread = difference([errors[(c, s)] for s in range(SEEDS)], base).spread
        expected = power.seeds_for_effect(0.5, spread, m=3)
        assert expected != power.seeds_for_effect(0.5, spread, m=1), "Holm must change the answer here"
        found = re.search(r"seeds needed to detect the declared min_effect \(0\.50 points\) at 80% power, "
                          r"Holm level 0\.0167 = 0\.05/3: (\d+) per configuration", line)
        assert found and int(found.group(1)) == expected, line


# ---------------------------------------------------------------- robust aggregates of Table 3

def test_table3_gives_iqm_and_probability_of_improvement_with_bootstrap_intervals(tmp_path):
    errors = {(c, s): 30.0 - 2.0 * np.log2(c) + 0.3 * ((s * 37 + c * 11) % 5) for c in CONFIGS for s in range(SEEDS)}
    out = tmp_path / "out"
    t3 = table3_reading(write_report([make_sweep(tmp_path, errors)], out).read_text())
    assert "descriptive only" in t3 and "cover less than 95%" in t3
    base = [errors[(1, s)] for s in range(SEEDS)]
    csv = pd.read_csv(out / "table3.csv")
    for c, d in CONFIGS.items():
        values = [errors[(c, s)] for s in range(SEEDS)]
        iqm = robust.iqm_interval(values)
        assert f"IQM error of {c}x{d}d: {iqm.value:.2f} (95% CI {iqm.ci_low:.2f} to {iqm.ci_high:.2f})" in t3
        row = csv[csv["cardinality"] == c].iloc[0]
        assert row["iqm"] == pytest.approx(iqm.value) and row["iqm_ci_low"] == pytest.approx(iqm.ci_low)
        if c == 1:
            continue
        poi = robust.poi_interval(values, base)
        assert (f"P(improvement) of {c}x{d}d vs C=1: {poi.value:.2f} (95% CI {poi.ci_low:.2f} to "
                f"{poi.ci_high:.2f})") in t3
        assert row["p_improve_vs_c1"] == pytest.approx(poi.value)


# ---------------------------------------------------------------- Table 5 when the runs were evaluated

def _evaluate(run_dir: Path, crop: int, err: float) -> None:
    add_evaluations(run_dir, {crop: err})


def _evaluated_sweep(root: Path, evaluated: bool) -> Path:
    sweep = root / "sweep"
    for seed in range(3):
        run = make_run(sweep, f"t3-2x10d-s{seed}", cardinality=2, bottleneck_width=10, seed=seed, err=20.0 + seed)
        if evaluated:
            _evaluate(run, 32, 20.0 + seed)
            _evaluate(run, 48, 19.0 + seed + 0.1 * seed)
    return sweep


def test_table5_is_in_the_report_exactly_when_runs_have_evaluations(tmp_path):
    out = tmp_path / "out"
    text = write_report([_evaluated_sweep(tmp_path, True)], out).read_text()
    assert "### Table 5: test error at several test crops" in text
    for ext in ("md", "tex", "csv"):
        assert (out / f"table5.{ext}").exists()
    reading = next(b for t, b in readings(text).items() if t.startswith("Table 5"))
    assert "crop48" in reading and "paired over 3 runs" in reading

    bare = tmp_path / "bare-out"
    text = write_report([_evaluated_sweep(tmp_path / "bare", False)], bare).read_text()
    assert "Table 5" not in text and not (bare / "table5.md").exists()


@pytest.mark.parametrize("text, why", [("min_effect: big\n", "is not a number of points > 0"),
                                       ("min_effect: [unclosed\n", "ablation file unreadable")])
def test_a_bad_min_effect_in_the_sweeps_ablation_file_is_skipped_with_a_reason_and_declares_nothing(
        tmp_path, text, why):
    sweep = make_sweep(tmp_path, no_effect_errors())
    (sweep / "ablation.yaml").write_text(text)
    out = tmp_path / "out"
    report = write_report([sweep], out).read_text()
    skipped = pd.read_csv(out / "skipped.csv")
    assert any(why in reason for reason in skipped["reason"]), skipped
    assert "min_effect" not in load_runs(out).columns
    assert "seeds needed" not in report and "ablation.yaml" in report  # the header lists the skipped file


def test_a_baseline_with_enough_seeds_gets_its_expected_best_of_k_with_a_band(tmp_path):
    sweep = tmp_path / "sweep"
    errors = [21.0, 19.5, 20.2, 22.4]
    for seed, err in enumerate(errors):
        make_run(sweep, f"r50-s{seed}", baseline="torchvision:resnet50", ablation="baselines", study=None,
                 seed=seed, err=err)
    text = write_report([sweep], tmp_path / "out").read_text()
    section = text.split("## Baselines", 1)[1].split("\n## ", 1)[0]
    assert "biased low" in section, "the selection-bias note stands beside the numbers"
    curve = robust.expected_best_of_k(errors, [1, 2, 4])
    for k, e in curve.items():
        assert f"k={k} {e.value:.2f} [{e.ci_low:.2f}, {e.ci_high:.2f}]" in section, section
    assert curve[4].value == pytest.approx(min(errors)) and curve[1].value == pytest.approx(np.mean(errors))
