"""resnext_bench.units: numbers and counts as people read them (3 significant figures, K/M/G/T, plurals)."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from resnext_bench.units import plural, si


@pytest.mark.parametrize("n, text", [
    (12_345_678, "12.3M"),            # FLOPs of a small CIFAR model
    (4_089_184_256, "4.09G"),         # torchvision resnet50's multiply-adds
    (25_557_032, "25.6M"),            # torchvision resnet50's parameters
    (25_028_904, "25.0M"),            # resnext50_32x4d: the trailing zero is a significant figure
    (950, "950"),
    (0, "0"),
    (1, "1"),
    (999, "999"),                     # the largest number without a prefix
    (1000, "1.00K"),                  # the smallest with one
    (1234, "1.23K"),
    (12_345, "12.3K"),
    (123_456, "123K"),
    (999_499, "999K"),
    (999_500, "1.00M"),               # rounding to 3 figures carries into the next prefix...
    (999_950, "1.00M"),
    (9_995, "10.0K"),                 # ... or into the next power of ten
    (99_950, "100K"),
    (124_500, "125K"),                # an exact half rounds up, not to even
    (1_225_000, "1.23M"),
    (10**12, "1.00T"),
    (1_500 * 10**12, "1500T"),        # T is the last prefix
    (-12_345_678, "-12.3M"),          # negatives keep their sign
    (-950, "-950"),
    (-999_950, "-1.00M"),
])
def test_si_integers(n, text):
    assert si(n) == text


@pytest.mark.parametrize("x, text", [
    (0.0, "0"),
    (-0.0, "0"),                      # no "-0"
    (12.0, "12"),                     # a whole float below 1000 prints like the int
    (1e6, "1.00M"),
    (1235946.0, "1.24M"),             # pandas hands counts over as floats
    (2.5, "2.50"),                    # not whole: 3 significant figures
    (0.5, "0.500"),
    (0.123456, "0.123"),
    (0.00123, "0.00123"),
    (0.9996, "1.00"),
    (999.96, "1.00K"),                # rounds across the prefix boundary
    (-999.6, "-1.00K"),
    (1.23e-5, "1.23e-5"),             # far below 1 or far beyond T: scientific, still 3 figures
    (1e300, "1.00e+300"),
])
def test_si_floats(x, text):
    assert si(x) == text


def test_si_numpy_scalars_and_huge_ints():
    assert si(np.int64(25_557_032)) == "25.6M"
    assert si(np.float64(4_089_184_256)) == "4.09G"
    assert si(np.float32(1_235_946)) == "1.24M"
    assert si(10**40) == "1.00e+40"  # exact int arithmetic: no float overflow for huge ints


def test_si_unit_is_appended_as_given():
    assert si(4_089_184_256, "FLOPs") == "4.09GFLOPs"
    assert si(950, " B") == "950 B"
    assert si(float("nan"), "B") == "nanB"


def test_si_non_finite_and_non_numbers():
    assert si(math.nan) == "nan" and si(math.inf) == "inf" and si(-math.inf) == "-inf"
    for bad in (None, "12", True, [1]):
        with pytest.raises(TypeError):
            si(bad)


@pytest.mark.parametrize("n", [1, 7, 999, 1000, 4_089_184_256, 999_950, 0.00123, 12.5, 123_456])
def test_si_keeps_three_significant_figures(n):
    text = si(n).rstrip("KMGT")
    if float(n).is_integer() and n < 1000:
        assert text == str(n)
    else:
        assert len(text.replace(".", "").lstrip("0")) == 3, text


@pytest.mark.parametrize("args, text", [
    ((1, "thread"), "1 thread"),
    ((2, "thread"), "2 threads"),
    ((0, "run"), "0 runs"),
    ((1, "run"), "1 run"),
    ((32, "GPU"), "32 GPUs"),
    ((10_000, "configuration"), "10,000 configurations"),  # thousands separator on whole numbers
    ((1, "data set", "data sets"), "1 data set"),
    ((3, "data set", "data sets"), "3 data sets"),
    ((2, "index", "indices"), "2 indices"),
    ((np.int64(1), "seed"), "1 seed"),
    ((np.int64(3), "seed"), "3 seeds"),
    ((-1, "point"), "-1 points"),
    ((1.5, "epoch"), "1.5 epochs"),
])
def test_plural(args, text):
    assert plural(*args) == text


def test_units_does_not_import_torch():
    """The grid prints its table before torch is imported; units must not pull it in."""
    code = "import sys, resnext_bench.units; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- where the units are used

def test_grid_table_reads_in_units_and_csv_stays_exact(capsys):
    from pathlib import Path

    from resnext_bench.cli import main

    demo = Path(__file__).resolve().parents[1] / "ablations" / "demo.yaml"
    assert main(["grid", str(demo)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("1x32d"))
    assert row.split()[5:7] == ["1.24M", "11.7M"], row  # was "1.24M 0.012G": every small model read the same
    assert "0.012G" not in table
    assert main(["grid", str(demo), "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    assert "1235946" in csv_text and "11688960" in csv_text and "M," not in csv_text


def test_report_prose_counts():
    from resnext_bench.analysis.words import count_words, rho_words

    assert count_words(11_688_960.0) == "11.7M" and count_words(float("nan")) == "—" and count_words(None) == "—"
    assert rho_words(float("nan"), 1) == "undefined (1 point, or no spread)"
    assert rho_words(0.5, 4) == "+0.50 over 4 points"
