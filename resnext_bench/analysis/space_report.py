"""The report's "Design spaces" section: the statistics of spaces.py in fixed words, the best
models' table and the design-space figures."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import fsutil
from ..units import plural
from .cells import ABSENT, fmt_count
from .edf import BAND, BINS, COLUMN_WORDS, ERR, MIN_RUNS, PERMUTATIONS, RESAMPLES, SEED, complexity_column, space_names
from .render import Table, to_csv, to_markdown
from .space_plots import make_space_plots
from .spaces import best_models, design_spaces, paper_points
from .best_of_k import best_of_k_method, best_of_k_words
from .power import KS_MDD_METHOD, POWER, holm_level, ks_mdd
from .stats import ALPHA
from .style import save_figure
from .claims import DETECTABLE, level_words, p_is
from .words import NO_CLAIM, NO_TEST, SIGNIFICANT, count_words, listing, reading, sentence


# The section reads the design-space statistics with fixed words: a space is called better
# ("its EDF lies to the left") only when the KS test of the complexity-weighted EDFs is significant
# (Holm-adjusted permutation p < ALPHA) and the direction is clear (spaces.KSTest.better); otherwise
# "the error distributions of the spaces are not distinguishable at this size: no KS distance larger than
# X was detectable with n models (...)" (power.ks_mdd at the Holm level of the pairs).


SPACE_BETTER = "its EDF lies to the left"


SPACE_SAME = "the error distributions of the spaces are not distinguishable"  # always with the KS MDD


SPACE_FIGURE_TITLES = {"fig_edf": "Design spaces: error EDFs", "fig_space_params": "Design spaces: error against "
                       "the sampled parameters", "fig_space_cost": "Design spaces: error against cost"}


def ks_words(t, m: int = 1) -> str:
    """One pair of spaces (spaces.KSTest) in fixed words: better/worse only when significant and clear; otherwise
    the smallest KS distance the two spaces' model counts could detect at the Holm level of the m pairs."""
    holm_p = f", Holm {p_is(t.p_holm)}" if t.p_holm is not None else ""
    stat = f"KS D = {t.d:.2f}, permutation {p_is(t.p)}{holm_p}"
    plain = f"unweighted scipy ks_2samp: D = {t.d_unweighted:.2f}, {p_is(t.p_unweighted)}"
    medians = {t.a: t.median_a, t.b: t.median_b}
    if t.better is not None:
        good, bad = t.better, t.worse
        return (f"{good} is better than {bad}: {SPACE_BETTER} ({stat}; weighted median error {medians[good]:.2f} "
                f"against {medians[bad]:.2f}; {plain}); {bad} is worse ({SIGNIFICANT})")
    pair = f"{t.a} and {t.b}"
    if t.significant:
        return (f"{pair}: the error distributions differ ({stat}) but the EDFs cross (weighted median error "
                f"{t.median_a:.2f} and {t.median_b:.2f}), so no space is ranked and {NO_CLAIM} beyond that ({plain})")
    level = holm_level(m)
    models = f"{t.n_a} models" if t.n_a == t.n_b else f"{t.n_a} and {t.n_b} models"
    mdd = ks_mdd(t.n_a, t.n_b, level)
    size = (f"no KS distance larger than {mdd:.2f} {DETECTABLE} with {models} ({POWER:.0%} power, "
            f"{level_words(level, m)}; of the unweighted test: the weighted one may need a larger distance)" if mdd == mdd else
            f"{NO_TEST} at {models} at {level_words(level, m)}")
    return (f"{pair}: {SPACE_SAME} at this size: {size} ({stat}; {plain}; weighted median error "
            f"{t.median_a:.2f} and {t.median_b:.2f})")


def normalisation_words(study) -> str:
    """How the EDFs of one group were normalised for complexity (edf.complexity_weights), in words."""
    what = COLUMN_WORDS.get(complexity_column(study.complexity), study.complexity)
    n = len(study.frame)
    if study.unknown_complexity == n:
        return f"Complexity normalisation: none ({what} not recorded for any model): the EDFs are unweighted."
    if study.filled_bins <= 1 and not study.unknown_complexity:
        return (f"Complexity normalisation: {what} fall in one quantile bin (no spread to match): the weights are "
                "uniform.")
    edges = ", ".join(count_words(e) for e in study.edges)
    words = (f"Complexity normalisation: {what} of all {plural(n, 'model')} of the group cut into {study.bins} "
             f"quantile bins (edges {edges}; {study.filled_bins} filled); each model weighs its bin's share of all "
             f"models divided by its space's count in that bin, normalised to 1 per space, so every space has the "
             f"pooled complexity histogram (Radosavovic et al. 2019; with equal quantile bins this is 1 / count).")
    if study.unknown_complexity:
        words += f" {plural(study.unknown_complexity, 'model')} without a recorded {what} form a bin of their own."
    gaps = [f"{s} ({100 * st.uncovered:.0f}% of the models lie in bins it has none in)"
            for s, st in study.spaces.items() if st.uncovered > 0]
    if gaps:
        words += f" Not matched everywhere: {listing(gaps)}; its histogram matches only on the bins it covers."
    return words


def _space_rows(study) -> list[str]:
    lines = ["| space | runs | mean error | median error | weighted median error | min error | model at the min "
             "error (C×d; params; FLOPs) |", "|:--|--:|--:|--:|--:|--:|:--|"]
    for name, st in study.spaces.items():
        frame = study.frame[study.frame["space"] == name].sort_values(ERR, kind="stable")
        top = frame.iloc[0]
        setting = top.get("setting") if isinstance(top.get("setting"), str) else top.get("configuration")
        model = f"{setting}; {count_words(top.get('params'))}; {count_words(top.get('flops'))}"
        lines.append(f"| {name} | {st.n} | {st.mean:.2f} | {st.median:.2f} | {st.weighted_median:.2f} | "
                     f"{st.min:.2f} | {model} |")
    return lines


def _best_table(studies, reference):
    """The best models of every space as a render.Table (design_spaces.md / .csv)."""
    frames = [best_models(s, 3, reference) for s in studies]
    data = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
        not f.empty for f in frames) else pd.DataFrame()
    columns = ["group", "space", "rank", "configuration", "C", "d", "group width", "params", "FLOPs", "activations",
               "images/s", "top-1 err (%)", "paper Table 3, same C (%)"]
    rows = []
    for r in data.to_dict("records"):
        paper = r.get("paper_err_same_c")
        rows.append([str(r["group"]), str(r["space"]), str(r["rank"]) + ("=" if r.get("tied") else ""), str(r.get("configuration") or ABSENT)]
                    + [fmt_count(r.get(c)) if c in ("params", "flops", "complexity.acts") else
                       (ABSENT if r.get(c) is None or pd.isna(r.get(c)) else f"{r.get(c):.0f}")
                       for c in ("cardinality", "bottleneck_width", "group_width", "params", "flops",
                                 "complexity.acts", "images_per_sec")]
                    + [f"{r[ERR]:.2f}", ABSENT if paper is None or pd.isna(paper)
                       else f"{r.get('paper_setting_same_c')} {paper:.1f}"])
    return Table("design_spaces", "Design spaces: the lowest-error models found (3 per space)", columns, rows,
                 notes=["The paper's Table 3 error of the same C at the nearest depth stands beside a model only "
                        "where the data are the paper's (ImageNet); its hand-picked models have the complexity of "
                        "that depth's ResNet.",
                        "rank: 1 = the lowest error of its space; '2=' marks a rank tied with another model of the "
                        "space (the same error to 2 decimals), which the ranking cannot separate.",
                        "images/s: measured while other runs may have shared the machine; a throughput, not a "
                        "property of the model."], data=data, n_label=4)


def design_space_section(runs: pd.DataFrame, out: Path | None = None, reference: dict | None = None) -> list[str]:
    """The "Design spaces" section (only when runs.csv has 2 or more non-empty spaces).

    With `out`, it also writes design_spaces.md/.csv and the figures fig_edf, fig_space_params and
    fig_space_cost (PNG and PDF) there; without, only the lines.
    """

    names = space_names(runs)
    if len(names) < 2:
        return []
    studies = design_spaces(runs)
    lines = ["", "## Design spaces", "",
             f"Sampled design spaces ({listing(names)}; Radosavovic et al. 2019): each completed run with a space is "
             "one model drawn from it, and a space is judged by the distribution of its models' errors, within one "
             "group (template, data, recipe, epochs). EDF: the fraction of a space's models with top-1 error at most "
             f"x, each model weighted for complexity (FLOPs, {BINS} quantile bins; see each group). KS D: the largest "
             "gap between two spaces' weighted EDFs; its p-value is a permutation p on the weighted D (the space "
             f"labels permuted within each complexity bin, {PERMUTATIONS} times, seed {SEED}), Holm-adjusted over the "
             "pairs when there are several; the unweighted scipy.stats.ks_2samp D and p stand beside it. A space is "
             f"called better ({SPACE_BETTER}) only when that p < {ALPHA} and the direction is clear (its EDF lies "
             "above the other's where they differ most, its weighted median error is the smaller, and the other's EDF "
             f"nowhere lies above it beyond permutation noise, one-sided p >= {ALPHA}: EDFs that cross rank nothing); "
             f"otherwise nothing is ranked. A space needs {MIN_RUNS} completed runs to be tested or drawn. Bands: "
             f"{BAND:.0%} pointwise bootstrap bands ({RESAMPLES} resamples of the space's models, seed {SEED}). "
             f"When a pair is not called different, the reading gives the {KS_MDD_METHOD}. Expected best-of-k: "
             f"{best_of_k_method()}."]
    if not studies:
        return lines + ["", "No run of a design space has completed yet: nothing to compare."]
    m = sum(len(s.tests) for s in studies)  # the Holm family: every pair of every group (spaces.design_spaces)
    table = _best_table(studies, reference)
    if out is not None:
        fsutil.write_text(Path(out) / "design_spaces.md", to_markdown(table))
        fsutil.write_text(Path(out) / "design_spaces.csv", to_csv(table))
        lines += ["", "Files: [design_spaces.md](design_spaces.md), [design_spaces.csv](design_spaces.csv) (the "
                  "lowest-error models of each space)."]
    for study in studies:
        lines += ["", f"### Design spaces: {study.label}", ""] + _space_rows(study) + ["", normalisation_words(study)]
        paper = paper_points(study, reference)
        if not paper.empty:
            points = ", ".join(f"{r.setting} {r.top1_err:.1f}" for r in paper.itertuples())
            lines += ["", f"The paper's hand-picked models at this complexity (Table 3, {int(paper['depth'].iloc[0])}"
                          f"-layer, ImageNet, the data of these runs): {points}."]
        else:
            lines += ["", f"The data differ from the paper's ({study.dataset}, not ImageNet): the paper's hand-picked "
                          "models are not set beside the models found."]
        items = [ks_words(t, m) for t in study.tests]
        items += [f"{s}: {plural(st.n, 'completed run')}, fewer than {MIN_RUNS}: {NO_TEST}, {NO_CLAIM}"
                  for s, st in study.spaces.items() if not st.testable]
        items += [best_of_k_words(s, study.frame.loc[study.frame["space"] == s, ERR])
                  for s, st in study.spaces.items() if st.testable]
        if len(study.spaces) < 2:
            items.append(f"Only one space ({listing(study.spaces)}) has completed runs in this group: nothing to "
                         f"compare, {NO_CLAIM}")
        lines += ["", reading("\n".join("- " + sentence(i) for i in items))]  # space names keep their case
    readers = {"fig_edf": "The curves of the tests above; the comparison of the spaces is the KS reading of each "
                          f"group, and {NO_CLAIM} from the figure beyond it.",
               "fig_space_params": f"One point per model; no relation of error with a parameter is tested, so "
                                   f"{NO_CLAIM} from this figure.",
               "fig_space_cost": f"One point per model; no relation of error with a cost is tested, so {NO_CLAIM} "
                                 "from this figure."}
    for plot in make_space_plots(studies):
        title = SPACE_FIGURE_TITLES[plot.name]
        if plot.figure is None:
            lines += ["", f"### {title}", "", f"Not drawn: {plot.reason}."]
            continue
        if out is not None:
            save_figure(plot.figure, out, plot.name)
            lines += ["", f"### {title}", "", f"![{title}]({plot.name}.png)", "", f"[PDF]({plot.name}.pdf)"]
        else:
            lines += ["", f"### {title}"]
        if plot.caption:
            lines += ["", f"*{plot.caption}*"]
        lines += ["", reading(readers[plot.name])]
    return lines
