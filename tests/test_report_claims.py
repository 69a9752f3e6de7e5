"""What report.md's readings may claim: only what the statistics support (analysis/words.py, the study modules, stats.py).

Each test fabricates a sweep (make_run), writes the report and reads its "**Reading.**" blocks.
A claim word (lower, higher, reproduced, falls, ...) may stand only in a sentence that says how large
a difference was detectable; with no real effect, no sentence claims anything.
"""
from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from support.report import CLAIM, readings, sentences
from support.sweeps import make_run

from resnext_bench.analysis.report import write_report
from resnext_bench.reference import REFERENCE_DIR

CONFIGS = {1: 16, 2: 10, 4: 6, 8: 4}  # C -> d of a 50-layer equal-complexity sweep
SEEDS = 5


def make_sweep(root: Path, errors, dataset="digits", seeds=SEEDS, **kwargs) -> Path:
    """A Table 3 sweep: errors(c, seed) -> final top-1 error of each configuration and seed."""
    sweep = root / "sweep"
    for c, d in CONFIGS.items():
        for seed in range(seeds):
            make_run(sweep, f"t3-{c}x{d}d-s{seed}", template="imagenet-50", cardinality=c, bottleneck_width=d,
                     seed=seed, err=errors(c, seed), dataset=dataset, **kwargs)
    return sweep


def report_of(tmp_path: Path, sweep: Path) -> str:
    return write_report([sweep], tmp_path / "out").read_text()


def claims(text: str) -> list[str]:
    """Sentences of any reading that use a claim word outside a statement of what was detectable."""
    return [s for block in readings(text).values() for s in sentences(block)
            if CLAIM.search(s) and "was detectable" not in s]


def table3_reading(text: str) -> str:
    return next(block for title, block in readings(text).items() if title.startswith("Table 3"))


def no_effect(seed: int = 0):
    """The same distribution under every C: draws (with replacement) from one small set of errors."""
    rng = random.Random(seed)
    pool = [20.1, 20.4, 20.7, 21.0, 21.3]
    values = {(c, s): rng.choice(pool) for c in CONFIGS for s in range(SEEDS)}
    return lambda c, s: values[(c, s)]


def planted(c: int, seed: int, _noise=random.Random(7)) -> float:
    """Error falls by 5 points per doubling of C, seed spread about 0.3."""
    return 30.0 - 5.0 * math.log2(c) + 0.3 * (-1.0 + 2.0 * ((seed * 37 + c * 11) % 5) / 4.0)


# ---------------------------------------------------------------- (a) no real effect

@pytest.mark.parametrize("dataset", ["digits", "imagenet"])
def test_no_effect_no_claim_and_what_the_seeds_could_detect(tmp_path, dataset):
    text = report_of(tmp_path, make_sweep(tmp_path, no_effect(), dataset=dataset))
    assert claims(text) == []
    t3 = table3_reading(text)
    assert "Significant vs C=1 (Holm-adjusted Welch p < 0.05 over the table's 3 comparisons): none" in t3
    assert "no trend is claimed" in t3
    for setting in ("2x10d", "4x6d", "8x4d"):
        line = next(s for s in t3.splitlines() if s.strip().startswith(f"- {setting}:"))
        assert "Welch p = " in line and "Holm p = " in line and "95% CI" in line, line
        assert line.index("95% CI") < line.index("Holm p") < line.index("no difference larger than"), line
        assert "was detectable at 5 seeds (80% power, Holm level 0.0167 = 0.05/3)" in line, line
    if dataset == "imagenet":  # the paper's data: its effect, declared before the runs, is the one to detect
        assert re.search(r"seeds needed to detect the paper's difference \(0\.90 points\) at 80% power, Holm level "
                         r"0\.0167 = 0\.05/3: (\d+|more than 1000) per configuration", t3), t3
    else:  # no effect declared: no seeds-needed for the observed one
        assert "seeds needed" not in t3


def test_identical_distributions_under_every_c_claim_nothing_anywhere(tmp_path):
    pool = [20.1, 20.4, 20.7, 21.0, 21.3]
    orders = {c: random.Random(c).sample(pool, len(pool)) for c in CONFIGS}
    text = report_of(tmp_path, make_sweep(tmp_path, lambda c, s: orders[c][s]))
    assert claims(text) == []
    assert "seeds needed" not in table3_reading(text), "digits, no min_effect: no effect was declared"
    assert "no difference larger than" in table3_reading(text)


# ---------------------------------------------------------------- (b) a large planted effect

def test_a_large_planted_effect_is_significant_after_holm_and_the_trend_is_too(tmp_path):
    text = report_of(tmp_path, make_sweep(tmp_path, planted))
    t3 = table3_reading(text)
    for setting in ("2x10d", "4x6d", "8x4d"):
        line = next(s for s in t3.splitlines() if s.strip().startswith(f"- {setting}:"))
        assert "points lower error than C=1" in line and "significant" in line, line
        holm_p = re.search(r"Holm p (?:= ([\d.]+)|< 0\.001)", line)
        assert holm_p and (holm_p.group(1) is None or float(holm_p.group(1)) < 0.05), line
    assert "Significant vs C=1 (Holm-adjusted Welch p < 0.05 over the table's 3 comparisons): 2x10d, 4x6d, 8x4d" in t3
    trend = next(s for s in t3.splitlines() if "Trend" in s)
    assert "error falls as C grows (significant)" in trend and "rho = -0.9" in trend
    assert "on other data" in trend, "digits: the paper's direction, not a reproduction of its numbers"
    curves = readings(text)["Training curves (cf. Fig. 5)"]
    assert "lower training error" in curves and "as in the paper's Fig. 5" in curves


def test_the_planted_effect_on_imagenet_reproduces_the_papers_ordering(tmp_path):
    text = report_of(tmp_path, make_sweep(tmp_path, planted, dataset="imagenet"))
    t3 = table3_reading(text)
    assert "the paper's ordering is reproduced" in t3
    assert "paper at C=2: 23.0" in t3, "ImageNet: the paper's number stands beside ours"


# ---------------------------------------------------------------- (c) one seed

def test_one_seed_per_configuration_says_no_test_is_possible_and_claims_nothing(tmp_path):
    text = report_of(tmp_path, make_sweep(tmp_path, planted, seeds=1))
    assert claims(text) == []
    t3 = table3_reading(text)
    assert "no test is possible" in t3 and "nothing is claimed" in t3
    assert "Trend" not in t3 and "seeds needed" not in t3
    assert "no test is possible" in readings(text)["Error against cardinality"]


# ---------------------------------------------------------------- (d) chance level

def test_chance_level_runs_are_called_chance_level_and_nothing_is_ranked(tmp_path):
    rng = random.Random(3)
    errors = {(c, s): round(89.0 + 2.0 * rng.random(), 2) for c in CONFIGS for s in range(SEEDS)}
    errors[(1, 0)] = 92.5  # C=1 a little worse by chance: still nothing to rank
    text = report_of(tmp_path, make_sweep(tmp_path, lambda c, s: errors[(c, s)], epochs=1))
    assert claims(text) == []
    t3 = table3_reading(text)
    assert "at chance level" in t3 and "90.0% for guessing among 10 classes" in t3
    assert "nothing is ranked" in t3
    assert "points below" not in text and "Lowest" not in text
    assert "at chance level" in readings(text)["Error against cardinality"]


# ---------------------------------------------------------------- (e) not the paper's data

def test_digits_runs_get_no_paper_number_beside_ours(tmp_path):
    text = report_of(tmp_path, make_sweep(tmp_path, planted))
    paper = pd.read_csv(REFERENCE_DIR / "paper_table3.csv")
    for block in readings(text).values():
        for value in paper["top1_err"]:
            assert not re.search(rf"(?<![\d.]){value:.1f}(?!\d)", block), (value, block)
        gains = {round(a - b, 1) for a in paper["top1_err"] for b in paper["top1_err"] if a > b}
        for gain in gains:
            assert f"gain at that C is {gain:.1f}" not in block
        assert "paper at C=" not in block and "the paper's difference" not in block
    assert "The data differ from the paper's (digits, not ImageNet)" in table3_reading(text)


# ---------------------------------------------------------------- provenance

def test_the_report_records_device_threads_precision_and_says_what_reproduces(tmp_path):
    sweep = make_sweep(tmp_path, planted, device="cpu (AMD EPYC 7B13)")
    for i, result in enumerate(sorted(sweep.glob("runs/*/result.json"))):
        data = json.loads(result.read_text())
        data["threads"] = 8 if i % 2 else 1
        if i % 3 == 0:
            data["device"] = "cpu (Intel Xeon Platinum 8480+)"
        result.write_text(json.dumps(data))
    text = report_of(tmp_path, sweep)
    env = text.split("## Environment", 1)[1].split("## How the readings", 1)[0]
    assert "cpu (AMD EPYC 7B13)" in env and "cpu (Intel Xeon Platinum 8480+)" in env
    assert re.search(r"- threads: .*1 \(\d+\).*8 \(\d+\)|- threads: .*8 \(\d+\).*1 \(\d+\)", env), env
    assert "- precision: fp32 (20)" in env
    assert "bit-exact only when rerun on the same CPU model with the same thread count" in env
    assert "on another CPU model" in env and "may give different numbers" in env
    assert "These runs mix devices" in env and "thread counts (1; 8)" in env
    assert "differ in device" in table3_reading(text), "the group pools two CPU models"


def test_a_single_cpu_model_and_thread_count_is_not_called_mixed(tmp_path):
    text = report_of(tmp_path, make_sweep(tmp_path, planted, device="cpu (AMD EPYC 7B13)"))
    env = text.split("## Environment", 1)[1].split("## How the readings", 1)[0]
    assert "bit-exact only" in env and "These runs mix" not in env
    assert "- device: cpu (AMD EPYC 7B13) (20)" in env
