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
- Bands (`bootstrap_band`): BAND (95 %) pointwise percentile bands of the weighted EDF from
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

import numpy as np
import pandas as pd

from ..record import schema

ERR = "final_val_top1_err"
SPACE = "space"
COMPLEXITY = "flops"  # the complexity the EDFs are normalised for (a runs.csv column, or flops | params | acts)
BINS = 4  # quantile bins of complexity
MIN_RUNS = 5  # completed runs a space needs to be tested and drawn
BAND = 0.95  # pointwise bootstrap band of an EDF
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


def perm_gaps(errors, is_a, weights_of, bin_index, permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
