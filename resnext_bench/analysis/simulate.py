"""Does the statistics module say what it means? Simulated sweeps from known distributions, checked.

    python -m resnext_bench.analysis.simulate --sweeps 10000 --out results/stats-validation.md

Each check draws `sweeps` independent sweeps (seeded) for every distribution (normal; skewed:
lognormal, sigma 0.5, standardised) and seed count (3, 5, 6, 10) and compares a rate with its
target: 95% Welch interval coverage, Holm's family-wise error, detection at the stated MDE, detection
at the stated KS MDD, and bootstrap interval coverage. A rate passes when it is within the check's
tolerance of the target or within 4 Monte Carlo standard errors (so a short run has loose bounds).
The Welch arithmetic is vectorised here and checked against `stats.difference` on the first sweeps.
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..fsutil import write_text
from . import power, robust, stats

SEEDS = (3, 5, 6, 10)
DISTRIBUTIONS = ("normal", "skewed")
SKEW_SIGMA = 0.5  # lognormal sigma of the skewed distribution (skewness 1.75)
FAMILY = 4  # comparisons a family: four configurations against one shared baseline, as in a Table 3 group
KS_MODELS = (8, 16, 32)  # models a design space
KS_FAMILY = 3  # pairs of three spaces
SHIFT = 0.5  # true difference (in stds) behind the probability-of-improvement intervals
BOOT_RESAMPLES = 1000  # bootstrap resamples per simulated interval
CHECKED = 20  # sweeps of each Welch cell recomputed with stats.difference


@dataclass(frozen=True)
class Row:
    """One checked rate: what, in which cell, its target and tolerance, the observed rate."""

    check: str
    distribution: str
    n: int
    target: float
    observed: float
    tolerance: float
    sweeps: int
    one_sided: bool = False  # only an excess over the target fails (an error rate)
    detail: str = ""  # the cell's stated quantity, e.g. the MDE it was drawn at

    @property
    def mc_error(self) -> float:
        return math.sqrt(max(self.target * (1 - self.target), 1e-12) / self.sweeps)

    @property
    def bound(self) -> float:
        return max(self.tolerance, 4 * self.mc_error)

    @property
    def ok(self) -> bool:
        gap = self.observed - self.target
        return gap <= self.bound if self.one_sided else abs(gap) <= self.bound


def draw(distribution: str, rng: np.random.Generator, shape) -> np.ndarray:
    """Values with mean 0 and std 1: standard normal, or a standardised lognormal (right-skewed)."""
    z = rng.standard_normal(shape)
    if distribution == "normal":
        return z
    s2 = SKEW_SIGMA ** 2
    return (np.exp(SKEW_SIGMA * z) - math.exp(s2 / 2)) / math.sqrt((math.exp(s2) - 1) * math.exp(s2))


def welch_rows(a: np.ndarray, b: np.ndarray, confidence: float = stats.CONFIDENCE):
    """(diff, ci_low, ci_high, p) of Welch's test for each row pair: `stats.contrast` vectorised."""
    from scipy import stats as st

    na, nb = a.shape[1], b.shape[1]
    ta, tb = a.var(axis=1, ddof=1) / na, b.var(axis=1, ddof=1) / nb
    se = np.sqrt(ta + tb)
    df = (ta + tb) ** 2 / (ta ** 2 / (na - 1) + tb ** 2 / (nb - 1))
    diff = a.mean(axis=1) - b.mean(axis=1)
    p = np.minimum(1.0, 2 * st.t.sf(np.abs(diff / se), df))
    half = st.t.ppf(0.5 + confidence / 2, df) * se
    return diff, diff - half, diff + half, p


def check_welch(rng, distribution: str, n: int, sweeps: int) -> Row:
    """95% Welch intervals of a difference of means cover the true difference (spreads 1 and 2)."""
    a, b = draw(distribution, rng, (sweeps, n)), 2 * draw(distribution, rng, (sweeps, n))
    diff, low, high, _ = welch_rows(a, b)
    for i in range(min(CHECKED, sweeps)):  # the vectorised arithmetic is the module's
        d = stats.difference(a[i], b[i])
        if not np.allclose([d.diff, d.ci_low, d.ci_high], [diff[i], low[i], high[i]], rtol=1e-9, atol=1e-9):
            raise AssertionError(f"welch_rows differs from stats.difference at sweep {i}")
    return Row("Welch 95% interval coverage", distribution, n, 0.95, float(np.mean((low <= 0) & (0 <= high))),
               0.01, sweeps)


def check_holm(rng, distribution: str, n: int, sweeps: int) -> list[Row]:
    """Family-wise error under the null: four configurations vs one baseline, Holm vs unadjusted."""
    base = draw(distribution, rng, (sweeps, n))
    ps = np.stack([welch_rows(draw(distribution, rng, (sweeps, n)), base)[3] for _ in range(FAMILY)], axis=1)
    holm_any = np.array([min(stats.holm(row.tolist())) < stats.ALPHA for row in ps])
    raw_any = (ps < stats.ALPHA).any(axis=1)
    return [Row(f"Holm family-wise error ({FAMILY} vs 1 baseline)", distribution, n, stats.ALPHA,
                float(holm_any.mean()), 0.0, sweeps, one_sided=True),
            Row("unadjusted family-wise error (for contrast; not a check)", distribution, n, stats.ALPHA,
                float(raw_any.mean()), 1.0, sweeps, one_sided=True)]


def check_mde(rng, distribution: str, n: int, sweeps: int) -> Row:
    """A true difference equal to the stated MDE (spread 1, Holm level of the family) is detected ~80%."""
    level = power.holm_level(FAMILY)
    effect = power.mde(n, n, 1.0, alpha=level)
    a, b = draw(distribution, rng, (sweeps, n)), draw(distribution, rng, (sweeps, n)) + effect
    detected = welch_rows(a, b)[3] < level
    return Row(f"detection at the stated MDE (Holm level {level:.4g})", distribution, n, power.POWER,
               float(detected.mean()), 0.03, sweeps, detail=f"MDE {effect:.2f} sd")


def check_ks(rng, n: int, sweeps: int) -> list[Row]:
    """Normal shifts with population KS distance = the stated MDD are detected ~80%; none falsely beyond level."""
    from scipy import special
    from scipy.stats import ks_2samp

    level = power.holm_level(KS_FAMILY)
    mdd = power.ks_mdd(n, n, level)
    delta = 2 * math.sqrt(2) * float(special.erfinv(mdd))
    a, b = rng.standard_normal((sweeps, n)), rng.standard_normal((sweeps, n))
    hit = [ks_2samp(a[i], b[i] + delta, method="exact").pvalue < level for i in range(sweeps)]
    null = [ks_2samp(a[i], b[i], method="exact").pvalue < level for i in range(sweeps)]
    return [Row(f"KS detection at the stated MDD (Holm level {level:.4g}; models a space)", "normal", n,
                power.POWER, float(np.mean(hit)), 0.03, sweeps, detail=f"MDD {mdd:.2f}"),
            Row(f"KS false detections under the null (level {level:.4g}; models a space)", "normal", n, level,
                float(np.mean(null)), 0.0, sweeps, one_sided=True)]


def population_iqm(distribution: str) -> float:
    """The interquartile mean of `draw`'s distribution (0 for the symmetric normal)."""
    if distribution == "normal":
        return 0.0
    from scipy.stats import norm

    s, s2 = SKEW_SIGMA, SKEW_SIGMA ** 2
    z_lo, z_hi = norm.ppf(0.25), norm.ppf(0.75)
    # E[exp(sZ); z_lo < Z < z_hi] = exp(s^2/2) (Phi(z_hi - s) - Phi(z_lo - s))
    raw = math.exp(s2 / 2) * (norm.cdf(z_hi - s) - norm.cdf(z_lo - s)) / 0.5
    return (raw - math.exp(s2 / 2)) / math.sqrt((math.exp(s2) - 1) * math.exp(s2))


def population_poi(distribution: str, rng) -> float:
    """P(X < Y + SHIFT) for X, Y independent from `draw` (closed form for normal, 2e6 pairs otherwise)."""
    if distribution == "normal":
        return 0.5 * (1 + math.erf(SHIFT / 2))  # Phi(SHIFT / sqrt 2)
    x, y = draw(distribution, rng, 2_000_000), draw(distribution, rng, 2_000_000)
    return float(np.mean(x < y + SHIFT))


def check_bootstrap(rng, distribution: str, n: int, sweeps: int) -> list[Row]:
    """Coverage of the stratified bootstrap 95% intervals of the IQM and of P(X improves on Y)."""
    iqm_true, poi_true = population_iqm(distribution), population_poi(distribution, rng)
    iqm_hit, poi_hit = [], []
    for i in range(sweeps):
        x, y = draw(distribution, rng, n), draw(distribution, rng, n) + SHIFT
        e = robust.iqm_interval(x, resamples=BOOT_RESAMPLES, seed=i)
        iqm_hit.append(e.ci_low <= iqm_true <= e.ci_high)
        e = robust.poi_interval(x, y, resamples=BOOT_RESAMPLES, seed=i)
        poi_hit.append(e.ci_low <= poi_true <= e.ci_high)
    return [Row("bootstrap 95% interval coverage, IQM", distribution, n, 0.95, float(np.mean(iqm_hit)), 0.01, sweeps),
            Row(f"bootstrap 95% interval coverage, P(improvement), shift {SHIFT} sd", distribution, n, 0.95,
                float(np.mean(poi_hit)), 0.01, sweeps)]


def run_checks(sweeps: int, seed: int = 0, bootstrap_sweeps: int | None = None) -> list[Row]:
    """Every check over every cell; `bootstrap_sweeps` (default `sweeps`) for the slower bootstrap cells."""
    if sweeps < 1:
        raise UserError(f"--sweeps: expected an integer >= 1, got {sweeps}")
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for distribution in DISTRIBUTIONS:
        for n in SEEDS:
            rows.append(check_welch(rng, distribution, n, sweeps))
            rows += check_holm(rng, distribution, n, sweeps)
            rows.append(check_mde(rng, distribution, n, sweeps))
            rows += check_bootstrap(rng, distribution, n, bootstrap_sweeps or sweeps)
    for n in KS_MODELS:
        rows += check_ks(rng, n, sweeps)
    return rows


def verdict(row: Row) -> str:
    """'ok', or how the rate misses: 'undercovers' / 'over' / 'under'."""
    if row.ok:
        return "ok"
    if "coverage" in row.check:
        return "UNDERCOVERS" if row.observed < row.target else "overcovers"
    return "ABOVE" if row.observed > row.target else "BELOW"


def render(rows: list[Row], command: str, seconds: float, sweeps: int, cpu_seconds: float | None = None) -> str:
    """The validation report: command, machine, run time, one table a check, and every miss named."""
    import os

    import scipy

    from ..engine.environment import cpu_model

    lines = ["# Statistics validation: simulated sweeps from known distributions", "",
             f"- command: `{command}`",
             f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs (shared), {platform.system()}, "
             f"{platform.python_implementation()} {platform.python_version()}, numpy {np.__version__}, "
             f"scipy {scipy.__version__}",
             f"- run time: {seconds:.0f} s wall" + (f", {cpu_seconds:.0f} s CPU" if cpu_seconds is not None else "")
             + f"; {sweeps} sweeps a cell (seeded)",
             f"- distributions: normal, and skewed (standardised lognormal, sigma {SKEW_SIGMA}); seeds a "
             f"configuration: {', '.join(map(str, SEEDS))}; KS: {', '.join(map(str, KS_MODELS))} models a space",
             "- a rate passes within its tolerance of the target or within 4 Monte Carlo standard errors; "
             "error rates fail only above it",
             f"- bootstrap cells: {BOOT_RESAMPLES} resamples an interval; MDE cells: spread 1, the family of "
             f"{FAMILY} comparisons with one shared baseline; KS cells: {KS_FAMILY} pairs of spaces", ""]
    for check in dict.fromkeys(r.check for r in rows):
        group = [r for r in rows if r.check == check]
        lines += [f"## {check}", "", "| distribution | seeds/models | stated | target | observed | bound | verdict |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r.distribution} | {r.n} | {r.detail or '—'} | {r.target:.3f} | {r.observed:.3f} | "
                  f"{'+' if r.one_sided else '±'}{r.bound:.3f} | {verdict(r) if 'not a check' not in check else '—'} |"
                  for r in group]
        lines.append("")
    misses = [r for r in rows if not r.ok and "not a check" not in r.check]
    lines += ["## Where the methods miss", ""]
    lines += [f"- {r.check}, {r.distribution}, {r.n} seeds/models: {r.observed:.3f} against {r.target:.3f} "
              f"({verdict(r).lower()})" for r in misses] or ["- nowhere: every rate is within its bound"]
    narrow = sorted({r.n for r in misses if r.check.startswith("bootstrap") and r.observed < r.target})
    if narrow:
        lines += ["", f"Bootstrap intervals undercover at {', '.join(map(str, narrow))} seeds: with so few runs the "
                  "resamples show less spread than the runs' population (n distinct values, spread shrunk by "
                  "(n-1)/n), so at those seeds they describe the runs and are not 95% intervals; quote the "
                  "Welch interval for a difference of means."]
    lines += ["", "Methods: " + "; ".join([power.MDE_METHOD, power.KS_MDD_METHOD, robust.BOOTSTRAP_METHOD]) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run every check and print (and with --out, write) the validation report."""
    p = argparse.ArgumentParser(prog="python -m resnext_bench.analysis.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--sweeps", type=int, default=10000, help="simulated sweeps a cell (default 10000)")
    p.add_argument("--bootstrap-sweeps", type=int, default=None, help="sweeps a bootstrap cell (default --sweeps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the report here (markdown) as well")
    args = p.parse_args(argv)
    command = "python -m resnext_bench.analysis.simulate " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        rows = run_checks(args.sweeps, args.seed, args.bootstrap_sweeps)
        text = render(rows, command.strip(), time.perf_counter() - start, args.sweeps, time.process_time() - cpu)
        print(text, end="")
        if args.out:
            write_text(args.out, text)
    except UserError as e:
        print(f"simulate: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
