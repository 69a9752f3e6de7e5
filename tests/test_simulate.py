"""The statistics say what they mean on simulated sweeps (a short run with loose bounds; the long run's report is
results/stats-validation.md), and the checks fail where a method is wrong."""
import pytest

from resnext_bench.analysis import simulate

SWEEPS = 200


@pytest.fixture(scope="module")
def rows():
    return simulate.run_checks(SWEEPS, seed=1, bootstrap_sweeps=100)


def cells(rows, prefix):
    found = [r for r in rows if r.check.startswith(prefix)]
    assert found, prefix
    return found


def test_welch_intervals_cover_95_percent_for_normal_seeds(rows):
    for r in cells(rows, "Welch 95% interval coverage"):
        if r.distribution == "normal":
            assert r.ok, r


def test_holm_keeps_the_family_wise_error_at_alpha_and_no_correction_does_not(rows):
    holm = cells(rows, "Holm family-wise error")
    for r in holm:
        assert r.ok, r
    # pooled over the cells (8 x SWEEPS sweeps): Holm under alpha, unadjusted p-values well above it
    raw = cells(rows, "unadjusted family-wise error")
    assert sum(r.observed for r in holm) / len(holm) <= 0.05 + 0.015
    assert sum(r.observed for r in raw) / len(raw) > 0.09


def test_the_stated_mde_is_detected_about_80_percent_of_the_time(rows):
    for r in cells(rows, "detection at the stated MDE"):
        assert r.ok, r
        assert r.detail.startswith("MDE ")


def test_the_stated_ks_mdd_is_detected_about_80_percent_and_the_null_rarely(rows):
    for r in cells(rows, "KS detection at the stated MDD") + cells(rows, "KS false detections"):
        assert r.ok, r


def test_the_bootstrap_undercovers_at_three_seeds_and_the_report_says_so(rows):
    three = [r for r in cells(rows, "bootstrap 95% interval coverage, IQM") if r.n == 3]
    assert len(three) == 2 and all(r.observed < 0.87 for r in three)
    assert all(simulate.verdict(r) == "UNDERCOVERS" for r in three)
    text = simulate.render(rows, "cmd", 1.0, SWEEPS)
    assert "## Where the methods miss" in text
    assert "bootstrap 95% interval coverage, IQM, normal, 3 seeds/models" in text


def test_a_rate_off_target_fails_and_an_error_rate_fails_only_above():
    assert not simulate.Row("c", "normal", 3, 0.95, 0.80, 0.01, 10000).ok
    assert simulate.Row("c", "normal", 3, 0.95, 0.955, 0.01, 10000).ok
    assert simulate.Row("c", "normal", 3, 0.05, 0.01, 0.0, 10000, one_sided=True).ok
    assert not simulate.Row("c", "normal", 3, 0.05, 0.07, 0.0, 10000, one_sided=True).ok


def test_the_command_writes_its_report_with_command_machine_and_time(tmp_path, capsys):
    out = tmp_path / "v.md"
    assert simulate.main(["--sweeps", "20", "--bootstrap-sweeps", "5", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Statistics validation")
    assert "- command: `python -m resnext_bench.analysis.simulate --sweeps 20" in text
    assert "- machine: " in text and "- run time: " in text


def test_a_bad_sweep_count_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "v.md"
    assert simulate.main(["--sweeps", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--sweeps" in err
    assert not out.exists()
