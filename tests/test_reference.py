"""The paper's numbers in resnext_bench/reference/ parse, name their source, and say what the paper says."""
from __future__ import annotations


import pandas as pd
import pytest

from resnext_bench.reference import REFERENCE_DIR as REFERENCE
PAPER_FILES = ("table1", "table2", "table3", "table4", "residual", "table5", "table7")


def paper(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"paper_{name}.csv")


@pytest.mark.parametrize("name", PAPER_FILES)
def test_every_paper_file_parses_and_every_row_names_its_source(name):
    frame = paper(name)
    assert len(frame) > 0
    assert frame["source"].notna().all() and (frame["source"].str.strip() != "").all()
    assert frame["source"].str.contains("1611.05431").all(), "the source names the paper"


def test_table1_complexity_of_resnet50_and_resnext50():
    t1 = paper("table1").set_index("model")
    assert t1.loc["ResNet-50", "params"] == 25.5e6 and t1.loc["ResNet-50", "flops"] == 4.1e9
    assert t1.loc["ResNeXt-50", "params"] == 25.0e6 and t1.loc["ResNeXt-50", "flops"] == 4.2e9


def test_table2_group_width_is_cardinality_times_width():
    t2 = paper("table2")
    assert list(t2["cardinality"]) == [1, 2, 4, 8, 32]
    assert list(t2["bottleneck_width"]) == [64, 40, 24, 14, 4]
    assert (t2["group_width"] == t2["cardinality"] * t2["bottleneck_width"]).all()


def test_table3_has_both_depths_and_settings_that_spell_c_and_d():
    t3 = paper("table3")
    assert sorted(set(t3["depth"])) == [50, 101]
    assert (t3["setting"] == t3["cardinality"].astype(str) + "x" + t3["bottleneck_width"].astype(str) + "d").all()
    at = t3.set_index(["depth", "setting"])["top1_err"]
    assert at[(50, "1x64d")] == 23.9 and at[(50, "32x4d")] == 22.2
    assert at[(101, "1x64d")] == 22.0 and at[(101, "8x14d")] == 21.3


def test_table4_and_table5_spot_values():
    t4 = paper("table4").set_index(["model", "setting"])
    assert t4.loc[("ResNeXt-101", "64x4d"), "top1_err"] == 20.4
    assert t4.loc[("ResNeXt-101", "64x4d"), "top5_err"] == 5.3
    assert t4.loc[("ResNet-200", "1x64d"), "depth"] == 200
    assert t4.loc[("ResNet-101 wider", "1x100d"), "top1_err"] == 21.3
    t5 = paper("table5").set_index("test_size")
    assert (t5.loc[320, "top1_err"], t5.loc[320, "top5_err"]) == (19.1, 4.4)


def test_residual_and_table7_spot_values():
    res = paper("residual").set_index("model")
    assert (res.loc["ResNet-50", "top1_err_with"], res.loc["ResNet-50", "top1_err_without"]) == (23.9, 31.2)
    assert (res.loc["ResNeXt-50", "top1_err_with"], res.loc["ResNeXt-50", "top1_err_without"]) == (22.2, 26.1)
    t7 = paper("table7").set_index("model")
    assert t7.loc["Wide ResNet", "params"] == 36.5e6 and t7.loc["Wide ResNet", "cifar10_err"] == 4.17
    row = paper("table7").query("setting == '16x64d'").iloc[0]
    assert (row["params"], row["cifar10_err"], row["cifar100_err"]) == (68.1e6, 3.58, 17.31)


def test_paper_files_do_not_hold_the_library_baselines():
    assert all(p.name.startswith("paper_") for p in REFERENCE.glob("paper_*.csv"))
    assert not any("torchvision" in paper(name)["source"].str.cat() for name in PAPER_FILES)
