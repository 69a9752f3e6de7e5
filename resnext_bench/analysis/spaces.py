"""Design-space studies of one group each: per-space statistics, KS tests and the best models (edf.py)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .edf import (BINS, COMPLEXITY, ERR, MIN_RUNS, PERMUTATIONS, SEED, SPACE, bin_edges, complexity_bins,
                  complexity_column, complexity_weights, ks_gaps, perm_gaps, space_runs, uncovered_share, weighted_quantile)
from .paper import PAPER_DATA, nearest_depth
from .runs import depth_of, group_label, sorted_groups
from .stats import ALPHA, holm


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
    perm_up, perm_down = perm_gaps(errors, is_a, weights_of, bins + shift, permutations, seed)

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
                                                                    else [ERR], kind="stable")
        shown = mine[ERR].astype(float).round(2)  # errors equal as the tables print them share a rank
        ranks, tied = shown.rank(method="min").astype(int), shown.duplicated(keep=False)
        for _, r in mine.head(top).iterrows():
            row = {"group": study.label, "space": name, "rank": int(ranks[r.name]), "tied": bool(tied[r.name])}
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
