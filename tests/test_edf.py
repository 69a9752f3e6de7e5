"""Design-space studies (analysis/edf.py, spaces.py, space_plots.py) and the report's "Design spaces"
section (analysis/space_report.py).

Runs are fabricated as runs.csv-like frames (prepared as load_runs prepares them), and once as run
folders collected by write_report.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from support.sweeps import make_run
from support.report import CLAIM, readings, sentences

from resnext_bench.analysis import edf, space_plots, spaces
from resnext_bench.analysis.collect import RUN_COLUMNS
from resnext_bench.analysis.paper import load_reference
from resnext_bench.analysis.report import write_report
from resnext_bench.analysis.space_report import SPACE_BETTER, SPACE_SAME, design_space_section
from resnext_bench.analysis.runs import load_runs, prepare_runs


def space_frame(errors: dict, flops: dict | None = None, dataset="digits", status="completed") -> pd.DataFrame:
    """A prepared runs frame: errors[space] = the errors of its models (flops[space] their FLOPs)."""
    rows = []
    for space, errs in errors.items():
        for i, err in enumerate(errs):
            c = 1 if space in ("A", "resnet") else [2, 4, 8, 16][i % 4]
            d = [4, 8, 16, 32, 64][i % 5]
            f = (flops or {}).get(space)
            rows.append(dict(run_id=f"{space}-{i}", sweep="sweep", space=space, template="imagenet-50",
                             dataset=dataset, recipe="short", epochs_planned=3, cardinality=c, bottleneck_width=d,
                             group_width=c * d, params=1e6 * (1 + i % 4),
                             flops=f[i] if f is not None else 2e7 * (1 + i % 4),
                             **{"complexity.acts": 3e5 * (1 + i % 3)}, images_per_sec=500.0 + i, seed=0,
                             status=status, final_val_top1_err=float(err)))
    frame = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = None
    return prepare_runs(frame)


def planted(shift=5.0, n=32, seed=0) -> dict:
    """Space B's errors are A's distribution shifted by `shift` (spread 1 in each)."""
    rng = np.random.default_rng(seed)
    return {"A": 20.0 + rng.normal(0.0, 1.0, n), "B": 20.0 + shift + rng.normal(0.0, 1.0, n)}


def section_reading(lines: list[str]) -> str:
    """The Reading of the (only) group of the section."""
    return next(block for title, block in readings("\n".join(lines)).items() if title.startswith("Design spaces: 50"))


def claims_in(block: str) -> list[str]:
    return [s for s in sentences(block) if CLAIM.search(s)]


# ---------------------------------------------------------------- EDF and KS against numpy / scipy

def test_unweighted_edf_is_the_empirical_cdf():
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(25.0, 2.0, 40), 1)  # ties included
    x, f = edf.weighted_edf(values)
    assert np.array_equal(x, np.unique(values))
    assert np.allclose(f, stats.ecdf(values).cdf.evaluate(x))
    points = np.linspace(18.0, 32.0, 57)
    numpy_edf = np.searchsorted(np.sort(values), points, side="right") / len(values)
    assert np.allclose(edf.edf_at(values, None, points), numpy_edf)
    assert np.allclose(edf.edf_at(values, np.ones(len(values)), points), numpy_edf)  # uniform weights
    for q in (0.1, 0.5, 0.9):
        assert edf.weighted_quantile(values, None, q) == np.quantile(values, q, method="inverted_cdf")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_statistic_is_scipys(seed):
    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(20.0, 1.0, 23), 1)
    b = np.round(rng.normal(20.5 + seed, 1.5, 31), 1)
    assert edf.ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert edf.ks_distance(a, b, np.ones(len(a)), np.ones(len(b))) == pytest.approx(stats.ks_2samp(a, b).statistic)


def test_weights_are_uniform_when_complexity_distributions_match():
    flops = [1, 1, 1, 1, 1, 2, 3, 5, 8, 13]  # skewed, with ties: the same histogram in both spaces
    spaces = ["A"] * 10 + ["B"] * 10
    w = edf.complexity_weights(spaces, flops + flops[::-1])
    assert np.allclose(w, 0.1)
    assert np.allclose(edf.complexity_weights(spaces, [np.nan] * 20), 0.1)  # unknown complexity: unweighted


def test_weights_match_the_complexity_histograms_of_the_spaces():
    rng = np.random.default_rng(3)
    flops_a, flops_b = rng.uniform(1.0, 2.0, 30), rng.uniform(1.5, 3.0, 20)  # B samples larger models
    spaces = np.array(["A"] * 30 + ["B"] * 20, dtype=object)
    flops = np.r_[flops_a, flops_b]
    w = edf.complexity_weights(spaces, flops)
    bins = edf.complexity_bins(flops)
    assert w[spaces == "A"].sum() == pytest.approx(1.0) and w[spaces == "B"].sum() == pytest.approx(1.0)
    for k in np.unique(bins):  # where both spaces have models, the same weight falls in each bin
        in_a, in_b = (spaces == "A") & (bins == k), (spaces == "B") & (bins == k)
        if in_a.any() and in_b.any():
            assert w[in_a].sum() == pytest.approx(w[in_b].sum())
    assert not np.allclose(w[spaces == "A"], 1 / 30)  # a space with a different histogram is reweighted


# ---------------------------------------------------------------- the verdicts

def test_a_planted_difference_is_found_and_b_called_worse():
    runs = space_frame(planted())
    (study,) = spaces.design_spaces(runs)
    (test,) = study.tests
    assert test.significant and test.p < 0.001
    assert test.better == "A" and test.worse == "B"
    reading = section_reading(design_space_section(runs))
    assert f"A is better than B: {SPACE_BETTER}" in reading
    assert "B is worse (significant)" in reading
    assert re.search(r"KS D = 1\.00, permutation p < 0\.001", reading)
    assert "ks_2samp: D = 1.00, p < 0.001" in reading


@pytest.mark.parametrize("identical", [True, False])
def test_an_identical_pair_is_not_distinguished(identical):
    rng = np.random.default_rng(7)
    a = 20.0 + rng.normal(0.0, 1.0, 32)
    b = a.copy() if identical else 20.0 + rng.normal(0.0, 1.0, 32)  # same values, or the same distribution
    runs = space_frame({"A": a, "B": b})
    (study,) = spaces.design_spaces(runs)
    (test,) = study.tests
    assert not test.significant and test.better is None
    if identical:
        assert test.d == 0.0 and test.p == 1.0
    reading = section_reading(design_space_section(runs))
    assert SPACE_SAME in reading
    assert claims_in(reading) == []


def test_crossing_edfs_rank_nothing():
    """Equal medians, different spreads: the KS test sees a difference, but neither EDF lies to the left."""
    rng = np.random.default_rng(5)
    runs = space_frame({"A": 20.0 + rng.normal(0.0, 0.2, 40), "B": 20.0 + rng.normal(0.0, 4.0, 40)})
    (test,) = spaces.design_spaces(runs)[0].tests
    assert test.significant and test.better is None
    reading = section_reading(design_space_section(runs))
    assert "the EDFs cross" in reading and claims_in(reading) == []


def test_too_few_runs_are_not_tested():
    runs = space_frame({"A": [20.0, 21.0, 22.0], "B": planted()["B"]})
    (study,) = spaces.design_spaces(runs)
    assert study.tests == []
    reading = section_reading(design_space_section(runs))
    assert "A: 3 completed runs, fewer than 5: no test is possible" in reading and claims_in(reading) == []


# ---------------------------------------------------------------- bands and figures

def test_bootstrap_bands_contain_the_edf():
    runs = space_frame(planted())
    plot = space_plots.plot_edf(spaces.design_spaces(runs))
    assert plot.figure is not None
    data = plot.data
    assert set(data["space"]) == {"A", "B"}
    assert (data["band_low"] <= data["edf"] + 1e-12).all() and (data["edf"] <= data["band_high"] + 1e-12).all()
    assert (data["band_low"] >= 0).all() and (data["band_high"] <= 1).all()
    assert (data["band_high"] - data["band_low"]).max() > 0.1  # a band, not a line
    lo, hi = edf.bootstrap_band([1.0, 2.0, 3.0], None, [2.0], resamples=500, seed=0)
    assert lo[0] <= 2 / 3 <= hi[0]
    assert "n = 32" in " ".join(t.get_text() for t in plot.figure.axes[0].get_legend().get_texts())


def test_figures_are_not_drawn_for_a_single_space():
    for runs in (space_frame({"A": planted()["A"]}), space_frame({"A": planted()["A"], "B": [30.0, 31.0]})):
        for plot in space_plots.make_space_plots(spaces.design_spaces(runs)):
            assert plot.figure is None and "fewer than 2 design spaces" in plot.reason
    plots = space_plots.make_space_plots([])
    assert all(p.figure is None and p.reason == "no completed run of a design space" for p in plots)


def test_figures_and_table_are_written(tmp_path):
    runs = space_frame(planted())
    lines = design_space_section(runs, tmp_path, load_reference())
    for name in ("fig_edf", "fig_space_params", "fig_space_cost"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0 and (tmp_path / f"{name}.pdf").stat().st_size > 0
        assert "![Design spaces" in "\n".join(lines) and f"({name}.png)" in "\n".join(lines)
    best = pd.read_csv(tmp_path / "design_spaces.csv")
    assert list(best.groupby("space")["rank"].max()) == [3, 3]
    top = best[(best["space"] == "A") & (best["rank"] == 1)].iloc[0]
    assert top["final_val_top1_err"] == pytest.approx(min(planted()["A"]))
    assert "paper_err_same_c" not in best  # not the paper's data
    assert "Design spaces: the lowest-error models" in (tmp_path / "design_spaces.md").read_text()


def test_the_papers_points_stand_beside_on_its_data():
    runs = space_frame(planted(), dataset="imagenet")
    (study,) = spaces.design_spaces(runs)
    best = spaces.best_models(study, 3, load_reference())
    a = best[best["space"] == "A"]
    assert (a["paper_setting_same_c"] == "1x64d").all() and (a["paper_err_same_c"] == 23.9).all()
    text = "\n".join(design_space_section(runs, None, load_reference()))
    assert "The paper's hand-picked models at this complexity (Table 3, 50-layer" in text and "32x4d 22.2" in text


def test_the_normalisation_is_stated():
    text = "\n".join(design_space_section(space_frame(planted())))
    assert "Complexity normalisation: FLOPs of all 64 models of the group cut into 4 quantile bins" in text
    flat = space_frame(planted(), flops={"A": [1e6] * 32, "B": [1e6] * 32})
    assert "fall in one quantile bin (no spread to match): the weights are uniform" in "\n".join(
        design_space_section(flat))


# ---------------------------------------------------------------- the report

def test_the_section_appears_only_with_two_spaces():
    assert design_space_section(space_frame(planted()).drop(columns="space")) == []
    assert design_space_section(space_frame({"A": planted()["A"]})) == []
    empty = space_frame(planted())
    empty["space"] = None
    assert design_space_section(empty) == []
    assert design_space_section(space_frame(planted()))[1] == "## Design spaces"
    pending = design_space_section(space_frame(planted(), status="pending"))  # spaces declared, nothing done
    assert pending[1] == "## Design spaces" and "No run of a design space has completed yet" in pending[-1]


def _set_space(run_dir: Path, space: str) -> None:
    """Give a fabricated run a design space: the top-level `space` key of its config.yaml."""
    path = run_dir / "config.yaml"
    text = path.read_text()
    if re.search(r"^space:.*$", text, flags=re.M):
        text = re.sub(r"^space:.*$", f"space: {space}", text, flags=re.M)
    else:
        text = text.rstrip("\n") + f"\nspace: {space}\n"
    path.write_text(text)


def test_report_has_the_design_space_section(tmp_path):
    sweep = tmp_path / "sweep"
    rng = np.random.default_rng(0)
    for i in range(6):
        for space, c, shift in (("resnet", 1, 0.0), ("resnext", 4, 5.0)):
            d = [8, 16, 24, 32, 40, 48][i]
            run = make_run(sweep, f"{space}-{i}", cardinality=c, bottleneck_width=d, seed=0,
                           err=round(30.0 + shift + rng.normal(0.0, 1.0), 2), flops=10 ** 6 * (i + 1))
            _set_space(run, space)
    make_run(sweep, "grid-run", cardinality=2, bottleneck_width=8, err=31.0)  # an ordinary run: no space
    out = tmp_path / "out"
    text = write_report([sweep], out).read_text()
    if "space" not in load_runs(out).columns:  # collect does not read `space` yet: the section must not appear
        assert "## Design spaces" not in text and not (out / "fig_edf.png").exists()
        return
    runs = load_runs(out)
    assert sorted(runs["space"].dropna().unique()) == ["resnet", "resnext"]
    assert "## Design spaces" in text and text.index("## Design spaces") < text.index("## Figures")
    reading = next(b for t, b in readings(text).items() if t.startswith("Design spaces: 50-layer"))
    assert f"resnet is better than resnext: {SPACE_BETTER}" in reading
    for name in ("fig_edf", "fig_space_params", "fig_space_cost", "design_spaces"):
        assert (out / f"{name}.{'csv' if name == 'design_spaces' else 'png'}").is_file()
    assert "| resnet | 6 |" in text  # the ordinary run is not a model of a space
