"""The equal-complexity generator reproduces the paper's Table 2, and bad ablation files fail cleanly."""
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from resnext_bench.cli import main
from resnext_bench.errors import UserError
from resnext_bench.config.grid import expand, select
from resnext_bench.config.load import load_ablation

ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = ROOT / "ablations"
TABLE2 = {1: (64, 64), 2: (40, 80), 4: (24, 96), 8: (14, 112), 32: (4, 128)}


@pytest.mark.parametrize("name", ["table3_resnet50", "table3_resnet101"])
def test_table2_is_reproduced_for_both_templates(name):
    configs = expand(load_ablation(ABLATIONS / f"{name}.yaml"))
    got = {c.model.cardinality: (c.model.bottleneck_width, c.model.group_width) for c in configs}
    assert got == TABLE2
    # Eqn. 4 of the paper: C * (256d + 9d^2 + 256d), about 70k for every setting.
    for c in configs:
        C, d = c.model.cardinality, c.model.bottleneck_width
        assert c.complexity.block_params == C * (256 * d + 9 * d * d + d * 256)
        assert abs(c.block_params_dev_pct) < 3


def test_grid_csv_prints_the_five_rows_of_table2(capsys):
    assert main(["grid", str(ABLATIONS / "table3_resnet50.yaml"), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(int(r["cardinality"]), int(r["bottleneck_width"]), int(r["group_width"])) for r in rows] == [
        (c, d, w) for c, (d, w) in TABLE2.items()
    ]
    required = {"name", "template", "cardinality", "bottleneck_width", "group_width", "params", "flops",
                "params_dev_pct", "flops_dev_pct"}
    assert required <= set(rows[0])
    assert rows[0]["params"] == "25557032" and rows[0]["flops"] == "4089184256"
    assert rows[-1]["params"] == "25028904" and rows[-1]["flops"] == "4230479872"
    assert float(rows[0]["params_dev_pct"]) == 0.0


def test_grid_json_and_table_formats(capsys):
    assert main(["grid", str(ABLATIONS / "table3_resnet50.yaml"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
    assert main(["grid", str(ABLATIONS / "table3_resnet50.yaml")]) == 0
    out = capsys.readouterr().out
    assert "32x4d" in out and "multiply-adds" in out


def test_matching_on_flops_or_params_gives_widths_within_the_band(tmp_path):
    for target in ("flops", "params"):
        path = tmp_path / f"{target}.yaml"
        path.write_text(
            f"name: m\ntemplate: imagenet-50\nreference: {{cardinality: 1, bottleneck_width: 64}}\n"
            f"match: {{target: {target}, tolerance_pct: 5}}\ncardinalities: [1, 2, 4, 8, 32]\n"
            "data: {name: imagenet}\n"
        )
        for c in expand(load_ablation(path)):
            assert abs(getattr(c, f"{target}_dev_pct")) <= 5


def test_a_cardinality_outside_the_band_is_an_error_that_says_why(tmp_path):
    path = tmp_path / "tight.yaml"
    path.write_text(
        "name: t\ntemplate: imagenet-50\nreference: {cardinality: 1, bottleneck_width: 64}\n"
        "match: {target: block_params, tolerance_pct: 0.1}\ncardinalities: [8]\n"
    )
    with pytest.raises(UserError, match=r"C=8: no integer d keeps block_params within ±0.1% of 1x64d \(nearest is d=14"):
        expand(load_ablation(path))


def test_explicit_configurations_for_table4_and_the_cifar_studies():
    t4 = {c.name: c for c in expand(load_ablation(ABLATIONS / "table4_2x_complexity.yaml"))}
    assert t4["resnext101_64x4d"].complexity.params == 83455272  # torchvision's count
    assert t4["resnet200_1x64d"].model.template == "imagenet-200"
    assert all(90 < c.flops_dev_pct < 100 for n, c in t4.items() if n not in ("resnet101_1x64d", "resnext101_32x4d"))
    t7 = expand(load_ablation(ABLATIONS / "cifar_table7.yaml"))
    assert [round(c.complexity.params_conv_fc / 1e6, 1) for c in t7] == [34.4, 68.1]  # paper Table 7
    fig7 = expand(load_ablation(ABLATIONS / "cifar_fig7.yaml"))
    assert {c.model.cardinality for c in fig7 if c.model.bottleneck_width == 64} == {1, 2, 4, 8, 16}
    residual = expand(load_ablation(ABLATIONS / "residual.yaml"))
    assert [c.model.shortcut for c in residual] == [True, False, True, False]


def test_every_shipped_ablation_file_is_valid():
    files = sorted(ABLATIONS.glob("*.yaml"))
    assert len(files) >= 7
    for f in files:
        assert expand(load_ablation(f)), f


def test_select_by_name_or_index():
    configs = expand(load_ablation(ABLATIONS / "table3_resnet50.yaml"))
    assert select(configs, "8x14d").model.bottleneck_width == 14
    assert select(configs, "4").name == "32x4d"
    with pytest.raises(UserError, match="no configuration named"):
        select(configs, "3x3d")


BAD = {
    "unknown key": ("name: x\ntemplate: imagenet-50\ncardinalites: [1]\n", "cardinalites: unknown key"),
    "wrong type": ("name: x\nreference: {cardinality: 1, bottleneck_width: 64}\ncardinalities: [one]\n",
                   "cardinalities[0]: expected an integer"),
    "C below one": ("name: x\nreference: {cardinality: 1, bottleneck_width: 64}\ncardinalities: [0]\n",
                    "cardinalities[0]: expected an integer >= 1"),
    "d below one": ("name: x\nconfigurations:\n  - {cardinality: 2, bottleneck_width: 0}\n",
                    "configurations[0].bottleneck_width: expected an integer >= 1"),
    "unknown template": ("name: x\ntemplate: imagenet-51\nconfigurations: [{cardinality: 1}]\n",
                         "template: unknown template 'imagenet-51'"),
    "not yaml": ("name: [x\n", "not valid YAML"),
    "no configurations": ("name: x\n", "lists no configuration"),
    "model key": ("name: x\nmodel: {cardinality: 1, depth: 50}\nconfigurations: [{cardinality: 1}]\n",
                  "model.depth: unknown key"),
    "recipe": ("name: x\nrecipe: fast\nconfigurations: [{cardinality: 1}]\n", "recipe.name: unknown recipe"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_ablation_files_give_one_line_and_exit_2(tmp_path, case):
    text, message = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "resnext_bench.cli", "grid", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_missing_ablation_file_is_one_line(tmp_path, capsys):
    assert main(["grid", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml: cannot read" in err and len(err.strip().splitlines()) == 1


def test_overrides_change_fields_and_are_validated(tmp_path, capsys):
    spec = load_ablation(ABLATIONS / "demo.yaml", ["recipe.epochs=2", "data.name=synthetic", "seeds=[4, 5]"])
    assert spec.recipe.epochs == 2 and spec.recipe.name == "short" and spec.data.name == "synthetic"
    assert spec.seeds == (4, 5)
    assert main(["grid", str(ABLATIONS / "demo.yaml"), "--set", "recipe.epochs=two"]) == 2
    assert "recipe.epochs: expected an integer" in capsys.readouterr().err
