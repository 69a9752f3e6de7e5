"""Design-space studies: error EDFs per design space, normalised for complexity, compared by KS.

The standard of Radosavovic et al. 2019, "On Network Design Spaces for Visual Recognition"
(pycls): a design space (`resnet`: C = 1 and d free; `resnext`: C and d free) is judged by the
distribution of the errors of models sampled from it, not by one hand-picked model. Every
completed run with a non-empty `space` column is one sampled model.

- Groups: runs are compared within one (template, dataset, recipe, planned epochs) group only
  (`runs.group`), as everywhere in the analysis: numbers of different data are never pooled.
- Complexity normalisation (`complexity_weights`): the complexity (FLOPs unless told otherwise)
  of all the group's models is cut into `BINS` quantile bins; a model of space s in bin k weighs
  share_k / n_s,k, normalised to sum 1 over the space, where share_k is bin k's share of all the
  group's models and n_s,k the space's models in bin k. Every space's complexity histogram then
  equals the pooled one, so a space is not favoured for sampling larger models. With quantile
  bins share_k is 1/BINS (up to ties), which is the paper's weighting (1 / n_s,k, normalised);
  using the pooled share keeps the weights uniform whenever a space's histogram already is the
  pooled one, ties or not. A space with no model in a bin cannot be matched there: its
  uncovered share is reported. Models of unknown complexity share a bin of their own.
- EDF (`weighted_edf`, `edf_at`): F(x) = sum of the weights of the models with error <= x; with
  uniform weights the ordinary empirical CDF.
- KS (`ks_distance`): sup_x |F_a(x) - F_b(x)| of the two (weighted) EDFs, evaluated at every
  error of either space; with uniform weights the statistic of scipy.stats.ks_2samp.
  Its p-value (`ks_test`) is a permutation p on the weighted statistic: the space labels are
  permuted within each complexity bin (which keeps every weight), PERMUTATIONS times with a
  fixed seed, p = (1 + #{D_perm >= D}) / (1 + PERMUTATIONS). The unweighted scipy.stats.ks_2samp
  statistic and p are reported beside it. Holm's correction runs over every pair tested.
- Direction (`KSTest.better`): a space is called better only when the test is significant
  (Holm p < ALPHA) and the direction is clear: its EDF lies above the other's where they differ
  most (it lies to the left), its weighted median error is lower, and the other's EDF nowhere
  lies above it by more than noise (the one-sided permutation p of the reverse gap >= ALPHA; EDFs
  that cross, as with equal medians and different spreads, rank nothing). Otherwise nothing is
  ranked.
- Bands (`bootstrap_band`): BAND (90 %) pointwise percentile bands of the weighted EDF from
  RESAMPLES resamples of the space's models (with replacement, each keeping its weight), SEED.
- Best models (`best_models`): the lowest-error models of each space (configuration, C, d,
  group width, params, FLOPs, activations, images/s, error), with the paper's Table 3 error at
  the same depth and C beside them when the data are the paper's (ImageNet).

Figures (`Plot`s as in plots.py; not drawn, with the reason, unless 2 or more spaces of one group
have MIN_RUNS or more completed runs): `fig_edf` (weighted EDF per space with its bootstrap band),
`fig_space_params` (error against C, d, group width), `fig_space_cost` (error against FLOPs,
params, activations, measured images/s).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..record import schema
from .paper import PAPER_DATA, nearest_depth
from .plots import Plot, _new_figure, _skip, sns  # noqa: F401  (sns: seaborn, Agg backend set by plots)
from .runs import depth_of, group_label, sorted_groups
from .stats import ALPHA, holm

ERR = "final_val_top1_err"
SPACE = "space"
COMPLEXITY = "flops"  # the complexity the EDFs are normalised for (a runs.csv column, or flops | params | acts)
BINS = 4  # quantile bins of complexity
MIN_RUNS = 5  # completed runs a space needs to be tested and drawn
BAND = 0.90  # pointwise bootstrap band of an EDF
RESAMPLES = 1000  # bootstrap resamples per space
PERMUTATIONS = 2000  # label permutations of the KS test
SEED = 0

# column -> words, for the complexity and the cost and parameter panels
COLUMN_WORDS = {"flops": "FLOPs", "params": "parameters", "complexity.acts": "activations",
                "images_per_sec": "measured training images/s", "cardinality": "cardinality C",
                "bottleneck_width": "bottleneck width d", "group_width": "group width C·d"}
ALIASES = {"acts": "complexity.acts"}
COST_COLUMNS = ("flops", "params", "complexity.acts", "images_per_sec")
PARAM_COLUMNS = ("cardinality", "bottleneck_width", "group_width")
NUMERIC = ("cardinality", "bottleneck_width", "group_width", "params", "flops", "complexity.acts",
           "images_per_sec", "seed", ERR)


# ---------------------------------------------------------------- the runs of design spaces

def space_name(value) -> str | None:
    """A `space` cell as a name; None when empty (NaN, None, '')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def space_names(runs: pd.DataFrame) -> list[str]:
    """The non-empty spaces of runs.csv (any status), sorted; [] when it has no `space` column."""
    if SPACE not in runs:
        return []
    return sorted({s for s in (space_name(v) for v in runs[SPACE]) if s})


def space_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs with a space and a final error, numeric columns typed.

    One row per (space, run id): a run listed by two sweeps counts once in its space, and one model
    sampled in two spaces (one run id, a row per membership) is a model of each.
    """
    if SPACE not in runs or runs.empty:
        return runs.iloc[0:0].assign(**{SPACE: pd.Series(dtype=object)})
    frame = runs.copy()
    frame[SPACE] = pd.Series([space_name(v) for v in frame[SPACE]], index=frame.index, dtype=object)
    for column in NUMERIC:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    done = frame[frame[SPACE].notna() & (frame["status"] == schema.COMPLETED) & frame[ERR].notna()]
    if "run_id" not in done:
        return done
    done = done.sort_values("sweep", kind="stable") if "sweep" in done else done
    return done[~done.duplicated(subset=[SPACE, "run_id"]) | done["run_id"].isna()].sort_index()


def complexity_column(complexity: str) -> str:
    return ALIASES.get(complexity, complexity)


# ---------------------------------------------------------------- weights, EDF, KS

def complexity_bins(values, bins: int = BINS) -> np.ndarray:
    """Quantile bin (0 .. bins-1) of each value over all of them; -1 for an unknown (NaN) value.

    Edges are the 0, 1/bins, ..., 1 quantiles of the known values; tied edges leave bins empty.
    """
    v = np.asarray(values, dtype=float)
    out = np.full(len(v), -1, dtype=int)
    known = np.isfinite(v)
    if known.any() and bins > 1:
        edges = np.quantile(v[known], np.linspace(0.0, 1.0, bins + 1))
        out[known] = np.searchsorted(edges[1:-1], v[known], side="right")
    elif known.any():
        out[known] = 0
    return out


def bin_edges(values, bins: int = BINS) -> np.ndarray:
    """The quantile edges `complexity_bins` cuts at (empty when no value is known)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return np.quantile(v, np.linspace(0.0, 1.0, bins + 1)) if len(v) else np.array([])


def weight_table(spaces, bin_index) -> dict:
    """{(space, bin): weight of one model of that space in that bin} (see `complexity_weights`)."""
    spaces, bin_index = np.asarray(spaces, dtype=object), np.asarray(bin_index)
    total = len(spaces)
    share = {b: float(np.mean(bin_index == b)) for b in np.unique(bin_index)}
    table = {}
    for s in dict.fromkeys(spaces.tolist()):
        mine = bin_index[spaces == s]
        raw = {b: share[b] / int(np.sum(mine == b)) for b in np.unique(mine)}
        norm = sum(raw[b] * int(np.sum(mine == b)) for b in raw)
        for b, w in raw.items():
            table[(s, b)] = w / norm if norm > 0 and total else 0.0
    return table


def complexity_weights(spaces, complexity, bins: int = BINS) -> np.ndarray:
    """Each model's weight: its bin's share of all models / its space's count in that bin, summing to 1 per space.

    `spaces` names the space of each model, `complexity` its complexity (NaN: unknown, a bin of its
    own). With the same complexity histogram in every space the weights are uniform (1 / n_space).
    """
    spaces = np.asarray(spaces, dtype=object)
    b = complexity_bins(complexity, bins)
    table = weight_table(spaces, b)
    return np.array([table[(s, k)] for s, k in zip(spaces, b)], dtype=float)


def uncovered_share(spaces, bin_index) -> dict[str, float]:
    """{space: the pooled share of the bins it has no model in} (0 when its histogram can be matched)."""
    spaces, bin_index = np.asarray(spaces, dtype=object), np.asarray(bin_index)
    out = {}
    for s in dict.fromkeys(spaces.tolist()):
        mine = set(bin_index[spaces == s].tolist())
        out[s] = float(np.mean([b not in mine for b in bin_index]))
    return out


def _weights(values, weights) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=float)
    w = np.full(len(v), 1.0 / len(v)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(v):
        raise ValueError(f"{len(v)} values and {len(w)} weights")
    if len(v) == 0 or w.sum() <= 0:
        raise ValueError("an EDF needs at least one value of positive weight")
    return v, w / w.sum()


def edf_at(values, weights, x) -> np.ndarray:
    """The (weighted) EDF of `values` at each point of `x`: the weight of the values <= x."""
    v, w = _weights(values, weights)
    order = np.argsort(v, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(w[order])])
    return np.minimum(cum[np.searchsorted(v[order], np.asarray(x, dtype=float), side="right")], 1.0)


def weighted_edf(values, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(x, F): the distinct values, sorted, and the (weighted) EDF at each; uniform weights without `weights`."""
    v, w = _weights(values, weights)
    x = np.unique(v)
    return x, edf_at(v, w, x)


def weighted_quantile(values, weights, q: float) -> float:
    """The smallest value whose (weighted) EDF reaches q (numpy's 'inverted_cdf' quantile with uniform weights)."""
    x, f = weighted_edf(values, weights)
    return float(x[min(int(np.searchsorted(f, q - 1e-12, side="left")), len(x) - 1)])


def ks_gaps(a, b, wa=None, wb=None) -> tuple[float, float]:
    """(max of F_a - F_b, max of F_b - F_a), each >= 0, over every value of either sample.

    The first is how far a's EDF lies above b's (a to the left: lower errors), the second the reverse.
    """
    grid = np.union1d(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    diff = edf_at(a, wa, grid) - edf_at(b, wb, grid)
    return max(float(diff.max()), 0.0), max(float(-diff.min()), 0.0)


def ks_distance(a, b, wa=None, wb=None) -> float:
    """sup_x |F_a(x) - F_b(x)| of the two (weighted) EDFs; unweighted: scipy.stats.ks_2samp's statistic."""
    return max(ks_gaps(a, b, wa, wb))


def _perm_gaps(errors, is_a, weights_of, bin_index, permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(max F_a - F_b, max F_b - F_a) of the weighted EDFs under `permutations` relabellings within each bin."""
    rng = np.random.default_rng(seed)
    order = np.argsort(errors, kind="stable")
    errors, is_a, bin_index = errors[order], is_a[order], bin_index[order]
    labels = np.tile(is_a, (permutations, 1))
    for b in np.unique(bin_index):
        cols = np.nonzero(bin_index == b)[0]
        labels[:, cols] = rng.permuted(labels[:, cols], axis=1)
    wa = np.where(labels, weights_of[True][bin_index], 0.0)
    wb = np.where(labels, 0.0, weights_of[False][bin_index])
    gap = np.cumsum(wa, axis=1) - np.cumsum(wb, axis=1)
    last = np.r_[errors[1:] != errors[:-1], True]  # evaluate after the last of tied errors
    gap = gap[:, last]
    return np.maximum(gap.max(axis=1), 0.0), np.maximum(-gap.min(axis=1), 0.0)


def bootstrap_band(values, weights, grid, level: float = BAND, resamples: int = RESAMPLES,
                   seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band (`level`) of the weighted EDF at `grid`, resampling the models with replacement."""
    v, w = _weights(values, weights)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(v), np.full(len(v), 1.0 / len(v)), size=resamples).astype(float)
    mass = counts * w  # each resampled model keeps its weight
    below = (v[:, None] <= np.asarray(grid, dtype=float)[None, :]).astype(float)
    curves = (mass @ below) / mass.sum(axis=1, keepdims=True)
    tail = (1.0 - level) / 2
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1.0 - tail, axis=0)


# ---------------------------------------------------------------- the statistics of a study

@dataclass(frozen=True)
class SpaceStat:
    """One space of a study: its models' errors and complexity weights."""

    name: str
    errors: tuple[float, ...]
    weights: tuple[float, ...]
    uncovered: float = 0.0  # pooled share of the complexity bins it has no model in

    @property
    def n(self) -> int:
        return len(self.errors)

    @property
    def mean(self) -> float:
        return float(np.mean(self.errors)) if self.errors else math.nan

    @property
    def weighted_mean(self) -> float:
        return float(np.dot(self.errors, self.weights) / np.sum(self.weights)) if self.errors else math.nan

    @property
    def median(self) -> float:
        return float(np.median(self.errors)) if self.errors else math.nan

    @property
    def weighted_median(self) -> float:
        return weighted_quantile(self.errors, self.weights, 0.5) if self.errors else math.nan

    @property
    def min(self) -> float:
        return float(np.min(self.errors)) if self.errors else math.nan

    @property
    def testable(self) -> bool:
        return self.n >= MIN_RUNS


@dataclass(frozen=True)
class KSTest:
    """Two spaces' weighted EDFs compared: KS distance, permutation p (Holm over the pairs), direction."""

    a: str
    b: str
    d: float  # weighted KS distance
    a_above: float  # max(F_a - F_b): how far a's EDF lies above (left of) b's
    b_above: float
    p: float  # permutation p of the weighted distance
    permutations: int
    p_a_above: float  # one-sided permutation p of a_above
    p_b_above: float
    d_unweighted: float  # scipy.stats.ks_2samp on the raw errors
    p_unweighted: float
    median_a: float  # weighted medians
    median_b: float
    n_a: int
    n_b: int
    p_holm: float | None = None

    @property
    def p_adjusted(self) -> float:
        return self.p if self.p_holm is None else self.p_holm

    @property
    def significant(self) -> bool:
        return self.p_adjusted < ALPHA

    @property
    def leader(self) -> str | None:
        """The space whose EDF lies to the left: largest gap and weighted median agree, and the reverse gap is noise."""
        if self.a_above > self.b_above and self.median_a < self.median_b and self.p_b_above >= ALPHA:
            return self.a
        if self.b_above > self.a_above and self.median_b < self.median_a and self.p_a_above >= ALPHA:
            return self.b
        return None

    @property
    def better(self) -> str | None:
        """The space called better: only when significant and the direction is clear."""
        return self.leader if self.significant else None

    @property
    def worse(self) -> str | None:
        better = self.better
        return None if better is None else (self.b if better == self.a else self.a)


def ks_test(a: SpaceStat, b: SpaceStat, bin_a, bin_b, permutations: int = PERMUTATIONS,
            seed: int = SEED) -> KSTest:
    """Weighted KS distance of two spaces with its within-bin permutation p, and scipy's unweighted ks_2samp."""
    ea, eb = np.asarray(a.errors, float), np.asarray(b.errors, float)
    wa, wb = np.asarray(a.weights, float), np.asarray(b.weights, float)
    up, down = ks_gaps(ea, eb, wa, wb)
    d = max(up, down)
    # one weight per (space, bin): the labels are permuted within bins, so the weights follow the label
    bins = np.concatenate([np.asarray(bin_a), np.asarray(bin_b)])
    shift = -bins.min() if len(bins) else 0
    size = int(bins.max() + shift + 1) if len(bins) else 1
    weights_of = {True: np.zeros(size), False: np.zeros(size)}
    for flag, w, bb in ((True, wa / wa.sum(), bin_a), (False, wb / wb.sum(), bin_b)):
        for weight, k in zip(w, np.asarray(bb)):
            weights_of[flag][k + shift] = weight
    errors = np.concatenate([ea, eb])
    is_a = np.r_[np.ones(len(ea), bool), np.zeros(len(eb), bool)]
    perm_up, perm_down = _perm_gaps(errors, is_a, weights_of, bins + shift, permutations, seed)

    def p_of(null, observed) -> float:
        return float((1 + np.sum(null >= observed - 1e-12)) / (1 + permutations))

    p = p_of(np.maximum(perm_up, perm_down), d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scipy import stats  # ~1 s to import: only when a test is due

        plain = stats.ks_2samp(ea, eb)
    return KSTest(a.name, b.name, d, up, down, p, permutations, p_of(perm_up, up), p_of(perm_down, down),
                  float(plain.statistic), float(plain.pvalue),
                  a.weighted_median, b.weighted_median, a.n, b.n)


@dataclass
class SpaceStudy:
    """The design spaces of one (template, dataset, recipe, epochs) group."""

    group: tuple
    label: str
    dataset: str | None
    frame: pd.DataFrame  # the space runs, with `weight` and `complexity_bin` columns
    spaces: dict  # name -> SpaceStat, sorted by name
    tests: list = field(default_factory=list)  # KSTest per pair of testable spaces
    complexity: str = COMPLEXITY
    bins: int = BINS
    edges: tuple = ()
    unknown_complexity: int = 0  # models whose complexity is not recorded

    @property
    def same_data(self) -> bool:
        return self.dataset in PAPER_DATA["table3"]

    @property
    def testable(self) -> list[str]:
        return [s for s, st in self.spaces.items() if st.testable]

    @property
    def drawable(self) -> bool:
        return len(self.testable) >= 2

    @property
    def filled_bins(self) -> int:
        return int(len(set(self.frame["complexity_bin"].tolist()) - {-1}))


def study_of(frame: pd.DataFrame, group: tuple, complexity: str = COMPLEXITY, bins: int = BINS,
             permutations: int = PERMUTATIONS, seed: int = SEED) -> SpaceStudy:
    """The statistics of one group's space runs (`space_runs` rows of that group)."""
    column = complexity_column(complexity)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float) if column in frame \
        else np.full(len(frame), math.nan)
    b = complexity_bins(values, bins)
    names = frame[SPACE].to_numpy(object)
    frame = frame.assign(weight=complexity_weights(names, values, bins), complexity_bin=b)
    cover = uncovered_share(names, b)
    spaces = {}
    for name in sorted(set(names.tolist())):
        mine = frame[frame[SPACE] == name]
        spaces[name] = SpaceStat(name, tuple(float(e) for e in mine[ERR]), tuple(float(w) for w in mine["weight"]),
                                 cover[name])
    testable = [s for s in spaces if spaces[s].testable]
    tests = []
    for i, sa in enumerate(testable):
        for sb in testable[i + 1:]:
            tests.append(ks_test(spaces[sa], spaces[sb], frame.loc[frame[SPACE] == sa, "complexity_bin"].to_numpy(),
                                 frame.loc[frame[SPACE] == sb, "complexity_bin"].to_numpy(), permutations, seed))
    dataset = group[1] if len(group) > 1 else None
    return SpaceStudy(group, group_label(group) if len(group) == 4 else str(group), dataset, frame, spaces, tests,
                      complexity, bins, tuple(float(e) for e in bin_edges(values, bins)),
                      int(np.sum(~np.isfinite(values))))


def design_spaces(runs: pd.DataFrame, complexity: str = COMPLEXITY, bins: int = BINS,
                  permutations: int = PERMUTATIONS, seed: int = SEED) -> list[SpaceStudy]:
    """One SpaceStudy per group with completed space runs; Holm over every KS test of all of them."""
    done = space_runs(runs)
    if done.empty:
        return []
    if "group" not in done:
        done = done.assign(group=[("?", None, None, None)] * len(done))
    studies = []
    for g in sorted_groups(done):
        frame = done[[key == g for key in done["group"]]]
        studies.append(study_of(frame, g, complexity, bins, permutations, seed))
    tests = [t for s in studies for t in s.tests]
    if len(tests) > 1:
        adjusted = iter(holm([t.p for t in tests]))
        for s in studies:
            s.tests = [replace(t, p_holm=next(adjusted)) for t in s.tests]
    return studies


# ---------------------------------------------------------------- the models found

BEST_COLUMNS = ["group", "space", "rank", "configuration", "cardinality", "bottleneck_width", "group_width", "params",
                "flops", "complexity.acts", "images_per_sec", "final_val_top1_err", "seed", "run_id"]


def paper_points(study: SpaceStudy, reference: dict | None) -> pd.DataFrame:
    """The paper's Table 3 rows at the depth nearest the study's (its hand-picked models of that complexity).

    Empty unless the data are the paper's (ImageNet) and the reference holds Table 3.
    """
    table = (reference or {}).get("table3")
    if not study.same_data or table is None or table.empty:
        return pd.DataFrame()
    depth = nearest_depth(depth_of(study.group[0]), table["depth"])
    return table[table["depth"] == depth].sort_values("cardinality").reset_index(drop=True)


def best_models(study: SpaceStudy, top: int = 3, reference: dict | None = None) -> pd.DataFrame:
    """The `top` lowest-error models of each space (BEST_COLUMNS), with the paper's same-C Table 3 error (same data)."""
    rows = []
    paper = paper_points(study, reference)
    for name in study.spaces:
        mine = study.frame[study.frame[SPACE] == name].sort_values([ERR, "run_id"] if "run_id" in study.frame
                                                                    else [ERR], kind="stable").head(top)
        for rank, (_, r) in enumerate(mine.iterrows(), start=1):
            row = {"group": study.label, "space": name, "rank": rank}
            for column in BEST_COLUMNS[3:]:
                row[column] = r.get(column)
            setting = r.get("setting")
            if isinstance(setting, str) and setting:
                row["configuration"] = setting
            if not paper.empty:
                same_c = paper[paper["cardinality"] == r.get("cardinality")]
                row["paper_depth"] = int(paper["depth"].iloc[0])
                row["paper_setting_same_c"] = same_c["setting"].iloc[0] if len(same_c) else None
                row["paper_err_same_c"] = float(same_c["top1_err"].iloc[0]) if len(same_c) else None
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- figures

def _palette(studies: list[SpaceStudy]) -> dict:
    names = sorted({s for st in studies for s in st.spaces})
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1))))


def _not_drawable(name: str, studies: list[SpaceStudy]) -> Plot | None:
    """The skipped Plot when no group has 2 spaces with MIN_RUNS or more completed runs, else None."""
    if any(s.drawable for s in studies):
        return None
    if not studies:
        return _skip(name, "no completed run of a design space")
    counts = "; ".join(f"{s.label}: " + ", ".join(f"{n} ({st.n})" for n, st in s.spaces.items()) for s in studies)
    return _skip(name, f"fewer than 2 design spaces with {MIN_RUNS} or more completed runs in one group "
                       f"(completed runs per space: {counts})")


def _left_out(studies: list[SpaceStudy]) -> str:
    out = [f"{n} ({st.n} runs)" for s in studies if s.drawable for n, st in s.spaces.items() if not st.testable]
    return f" Left out (fewer than {MIN_RUNS} completed runs): {', '.join(out)}." if out else ""


def _axis(ax, values) -> None:
    """Log base 2 for counts (C, d, group width) spanning a factor of 4; log base 10 for others spanning a decade."""
    import matplotlib.ticker

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v) or v.min() <= 0:
        return
    if v.max() <= 4096 and np.allclose(v, np.round(v)) and v.max() >= 4 * v.min():
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    elif v.max() > 10 * v.min():
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())


def plot_edf(studies: list[SpaceStudy], resamples: int = RESAMPLES, seed: int = SEED) -> Plot:
    """The complexity-weighted error EDF of each space with its BAND pointwise bootstrap band, one panel per group."""
    name = "fig_edf"
    skip = _not_drawable(name, studies)
    if skip is not None:
        return skip
    drawn = [s for s in studies if s.drawable]
    palette = _palette(drawn)
    fig, axes = _new_figure(1, len(drawn), width=5.5, height=4.2)
    parts = []
    for ax, study in zip(axes[0], drawn):
        errors = np.concatenate([study.spaces[n].errors for n in study.testable])
        pad = max(float(np.ptp(errors)) * 0.04, 0.05)
        grid = np.r_[errors.min() - pad, np.unique(errors), errors.max() + pad]
        for n in study.testable:
            st = study.spaces[n]
            f = edf_at(st.errors, st.weights, grid)
            lo, hi = bootstrap_band(st.errors, st.weights, grid, BAND, resamples, seed)
            colour = palette[n]
            ax.fill_between(grid, lo, hi, step="post", color=colour, alpha=0.2, linewidth=0)
            ax.step(grid, f, where="post", color=colour, linewidth=1.6, label=f"{n} (n = {st.n})")
            parts.append(pd.DataFrame({"group": study.label, "space": n, "error": grid, "edf": f, "band_low": lo,
                                       "band_high": hi}))
        what = COLUMN_WORDS.get(complexity_column(study.complexity), study.complexity)
        ax.set(title=study.label, xlabel="final top-1 error (%)",
               ylabel=f"cumulative fraction of models (weighted for {what})",
               ylim=(-0.02, 1.02), xlim=(grid[0], grid[-1]))
        ax.legend(title="space", loc="lower right", fontsize=8, title_fontsize=8)
    fig.suptitle("Error EDF per design space (complexity-normalised)", fontsize="medium")
    caption = (f"Lines: the fraction of a space's models with error at most x, each model weighted so that every "
               f"space has the same complexity histogram ({COLUMN_WORDS.get(complexity_column(drawn[0].complexity))}, "
               f"{drawn[0].bins} quantile bins). "
               f"Shaded: {BAND:.0%} pointwise bootstrap bands ({resamples} resamples of the space's models, seed "
               f"{seed}). A curve further left has more low-error models." + _left_out(studies))
    return Plot(name, fig, pd.concat(parts, ignore_index=True), caption=caption)


def _scatter_grid(name: str, studies: list[SpaceStudy], columns, title: str, what: str) -> Plot:
    skip = _not_drawable(name, studies)
    if skip is not None:
        return skip
    drawn = [s for s in studies if s.drawable]
    palette = _palette(drawn)
    fig, axes = _new_figure(len(drawn), len(columns), width=4.0, height=3.6)
    parts, missing = [], []
    for row, study in zip(axes, drawn):
        frame = study.frame[study.frame[SPACE].isin(study.testable)]
        for ax, column in zip(row, columns):
            words = COLUMN_WORDS.get(column, column)
            values = pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(dtype=float)
            if values.notna().sum() == 0:
                ax.text(0.5, 0.5, f"{words}: not recorded", transform=ax.transAxes, ha="center", va="center",
                        fontsize=9, color="0.3")
                ax.set(title=f"error against {words}", xticks=[], yticks=[])
                missing.append(f"{study.label}: {words}")
                continue
            data = pd.DataFrame({"space": frame[SPACE].to_numpy(), "x": values.to_numpy(float),
                                 "error": frame[ERR].to_numpy(float)}).dropna()
            sns.scatterplot(data=data, x="x", y="error", hue="space", hue_order=study.testable, palette=palette,
                            ax=ax, s=28, alpha=0.75, legend=column == columns[-1])
            _axis(ax, data["x"])
            ax.set(title=f"{study.label}" if column == columns[0] else "", xlabel=words, ylabel="final top-1 error (%)")
            parts.append(data.assign(group=study.label, column=column))
        legend = row[-1].get_legend()
        if legend is not None:
            legend.set_title("space")
    fig.suptitle(title, fontsize="medium")
    caption = (f"One point per sampled model (completed run), colour = space; {what}. No relation is tested here."
               + (f" Not recorded: {'; '.join(missing)}." if missing else "") + _left_out(studies))
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return Plot(name, fig, data, caption=caption)


def plot_space_params(studies: list[SpaceStudy]) -> Plot:
    """Error against each sampled parameter (C, d, group width), hue = space, one row per group."""
    return _scatter_grid("fig_space_params", studies, PARAM_COLUMNS, "Error against the sampled parameters",
                         "x: cardinality C, bottleneck width d and group width C·d (log base 2 where they span a "
                         "factor of 4)")


def plot_space_cost(studies: list[SpaceStudy]) -> Plot:
    """Error against FLOPs, params, activations and measured images/s, hue = space, one row per group."""
    return _scatter_grid("fig_space_cost", studies, COST_COLUMNS, "Error against cost",
                         "x: FLOPs, parameters, activations (config complexity) and measured training images/s "
                         "(result.json)")


def make_space_plots(studies: list[SpaceStudy]) -> list[Plot]:
    """fig_edf, fig_space_params, fig_space_cost (each drawn, or skipped with its reason)."""
    return [plot_edf(studies), plot_space_params(studies), plot_space_cost(studies)]
