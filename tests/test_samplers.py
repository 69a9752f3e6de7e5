"""Design spaces: sampled models are reproducible, in the band, distinct and spread over their ranges;
a bad `sample:` section or an unreachable band is one line naming the key; the samples become
ordinary configurations and runs that carry their space."""
import copy
import csv
import io
import json
import math
import random
import re
import time
from pathlib import Path

import pytest

from resnext_bench.cli import main
from resnext_bench.config.grid import expand, format_table
from resnext_bench.config.runs import resolve_runs, run_from_config
from resnext_bench.config.samplers import DISTRIBUTIONS, FREE_PARAMS
from resnext_bench.config.specs import DistSpec
from resnext_bench.config.load import ablation_from_dict, load_ablation
from resnext_bench.record.runcolumns import config_columns
from resnext_bench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "ablations" / "design_space_digits.yaml"
CIFAR = ROOT / "ablations" / "design_space_cardinality.yaml"

RESNET = {"name": "resnet", "cardinality": {"values": [1]},
          "bottleneck_width": {"dist": "log_uniform_int", "lo": 4, "hi": 64},
          "base_planes": {"dist": "uniform_int", "lo": 8, "hi": 32}}
RESNEXT = {"name": "resnext", "cardinality": {"dist": "power_of_two", "lo": 1, "hi": 16},
           "bottleneck_width": {"dist": "log_uniform_int", "lo": 1, "hi": 32},
           "base_planes": {"dist": "uniform_int", "lo": 8, "hi": 32}}
BAND = {"target": "flops", "lo": "1.8e6", "hi": "2.2e6"}  # as YAML 1.1 reads 1.8e6: a string


def raw_ablation(spaces=(RESNET, RESNEXT), count=16, band=BAND, seed=0, **sample_extra) -> dict:
    sample = {"seed": seed, "count": count, "spaces": [copy.deepcopy(s) for s in spaces], **sample_extra}
    if band is not None:
        sample["band"] = dict(band)
    return {"name": "ds", "template": "cifar-29", "model": {"stem_width": 16, "base_planes": 12},
            "data": {"name": "digits"}, "recipe": {"name": "short", "epochs": 1}, "sample": sample}


def sampled(raw: dict):
    return expand(ablation_from_dict(raw))


def key(model):
    return (model.template, model.cardinality, model.bottleneck_width, model.base_planes)


def by_space(configs) -> dict:
    out: dict = {}
    for c in configs:
        out.setdefault(c.space, []).append(c)
    return out


def refused(raw: dict) -> str:
    with pytest.raises(UserError) as info:
        sampled(raw)
    msg = str(info.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg


# ---------------------------------------------------------------- determinism, band, uniqueness

def test_draws_are_reproducible_for_a_seed_and_change_with_it():
    first = [(c.name, c.model) for c in sampled(raw_ablation(seed=0))]
    again = [(c.name, c.model) for c in sampled(raw_ablation(seed=0))]
    other = [(c.name, c.model) for c in sampled(raw_ablation(seed=1))]
    assert first == again
    assert first != other
    assert {key(m) for _, m in first} != {key(m) for _, m in other}


def test_every_sampled_model_is_in_the_band_and_distinct_within_its_space():
    configs = sampled(raw_ablation(count=32))
    spaces = by_space(configs)
    assert sorted(spaces) == ["resnet", "resnext"] and all(len(v) == 32 for v in spaces.values())
    for space, members in spaces.items():
        assert len({key(c.model) for c in members}) == 32, f"{space}: a model was drawn twice"
        for i, c in enumerate(members):
            assert 1.8e6 <= c.complexity.flops <= 2.2e6, c
            # both spaces sample the base planes: the name shows them
            assert c.name == f"{space}-{i:03d}-{c.model.cardinality}x{c.model.bottleneck_width}d-bp{c.model.base_planes}"
    assert {c.model.cardinality for c in spaces["resnet"]} == {1}
    assert len({c.model.cardinality for c in spaces["resnext"]}) > 1


def test_a_name_shows_the_base_planes_only_when_the_space_samples_them():
    fixed = {k: v for k, v in RESNEXT.items() if k != "base_planes"}
    one = {**RESNEXT, "name": "one", "base_planes": {"values": [12]}}
    configs = sampled(raw_ablation(spaces=(RESNET, fixed, one), count=4, band=None))
    names = {space: [c.name for c in members] for space, members in by_space(configs).items()}
    assert all(re.fullmatch(r"resnet-00\d-1x\d+d-bp\d+", n) for n in names["resnet"]), names["resnet"]
    assert all(re.fullmatch(r"resnext-00\d-\d+x\d+d", n) for n in names["resnext"]), names["resnext"]
    assert all(re.fullmatch(r"one-00\d-\d+x\d+d", n) for n in names["one"]), "one value: the models share it"
    # without its index, a name still tells the space's models apart (one C x d, other base planes)
    assert len({n.split("-", 2)[2] for n in names["resnet"]}) == len(names["resnet"]) == 4


@pytest.mark.parametrize("target, lo, hi", [("params", 2.0e5, 2.4e5), ("acts", 4.0e4, 6.0e4)])
def test_a_band_on_params_or_activations_binds_that_count(target, lo, hi):
    configs = sampled(raw_ablation(band={"target": target, "lo": lo, "hi": hi}, count=8))
    assert len(configs) == 16
    assert all(lo <= getattr(c.complexity, target) <= hi for c in configs)


def test_the_draws_cover_the_declared_ranges():
    space = {"name": "wide", "cardinality": {"dist": "power_of_two", "lo": 1, "hi": 32},
             "bottleneck_width": {"dist": "log_uniform_int", "lo": 1, "hi": 64},
             "base_planes": {"dist": "uniform_int", "lo": 4, "hi": 64}}
    models = [c.model for c in sampled(raw_ablation(spaces=[space], count=1500, band=None))]
    assert {m.cardinality for m in models} == {1, 2, 4, 8, 16, 32}
    widths = [m.bottleneck_width for m in models]
    planes = [m.base_planes for m in models]
    assert min(widths) == 1 and max(widths) >= 60
    assert min(planes) <= 5 and max(planes) >= 63
    # log-uniform: about half the widths below the geometric middle of [1, 65)
    below = sum(w < math.sqrt(65) for w in widths) / len(widths)
    assert 0.4 < below < 0.6, below


def test_each_distribution_stays_in_its_range_and_reaches_its_ends():
    rng = random.Random(0)
    for name, lo, hi in [("uniform_int", 3, 9), ("log_uniform_int", 2, 50), ("power_of_two", 3, 70)]:
        spec = DistSpec(name, lo, hi)
        draws = [DISTRIBUTIONS[name].draw(rng, spec) for _ in range(5000)]
        assert lo <= min(draws) and max(draws) <= hi
        support = {4, 8, 16, 32, 64} if name == "power_of_two" else set(range(lo, hi + 1))
        assert set(draws) == support, name
    choice = DistSpec("values", values=("cifar-29", "imagenet-50"))
    assert {DISTRIBUTIONS["values"].draw(rng, choice) for _ in range(200)} == {"cifar-29", "imagenet-50"}
    assert list(FREE_PARAMS) == ["template", "cardinality", "bottleneck_width", "group_width", "base_planes"]


def test_a_free_group_width_sets_d_to_group_width_over_c():
    space = {"name": "gw", "cardinality": {"dist": "power_of_two", "lo": 1, "hi": 8},
             "group_width": {"dist": "uniform_int", "lo": 8, "hi": 64}}
    configs = sampled(raw_ablation(spaces=[space], count=24, band=None))
    assert len(configs) == 24
    assert all(8 <= c.model.group_width <= 64 for c in configs)
    assert len({c.model.cardinality for c in configs}) > 1


def test_adding_a_space_leaves_the_other_spaces_draws_unchanged():
    alone = [(c.name, c.model) for c in sampled(raw_ablation(spaces=[RESNET]))]
    extra = {**RESNEXT, "name": "another"}
    beside = by_space(sampled(raw_ablation(spaces=[extra, RESNEXT, RESNET])))
    assert [(c.name, c.model) for c in beside["resnet"]] == alone


# ---------------------------------------------------------------- one-line refusals naming the key

def test_a_band_no_model_reaches_is_one_line_naming_the_space_and_the_range_seen():
    msg = refused(raw_ablation(band={"target": "flops", "lo": 1e12, "hi": 2e12}))
    assert msg.startswith("ds: sample.spaces[0]: band unreachable for space 'resnet'"), msg
    assert re.search(r"flops spanned \d+(\.\d+)?[KM]\.\.\d+(\.\d+)?[KM]", msg), msg


def test_a_space_too_small_to_fill_the_band_is_refused_while_sampling():
    narrow = {**RESNET, "base_planes": {"dist": "uniform_int", "lo": 8, "hi": 9}}
    msg = refused(raw_ablation(spaces=[narrow], count=32))
    assert msg.startswith("ds: sample.spaces[0]: band unreachable") and "of 32 distinct models" in msg, msg


def _with(mutate):
    raw = raw_ablation()
    mutate(raw["sample"])
    return raw


BAD = {
    "unknown distribution": (lambda s: s["spaces"][1]["cardinality"].update(dist="gaussian"),
                             "sample.spaces[1].cardinality.dist: unknown distribution 'gaussian'"),
    "unknown parameter": (lambda s: s["spaces"][0].update(depth={"values": [29]}),
                          "sample.spaces[0].depth: unknown key"),
    "lo above hi": (lambda s: s["spaces"][0]["bottleneck_width"].update(lo=70),
                    "sample.spaces[0].bottleneck_width.lo: expected lo <= hi"),
    "lo below 1": (lambda s: s["spaces"][1]["bottleneck_width"].update(lo=0),
                   "sample.spaces[1].bottleneck_width.lo: expected an integer >= 1"),
    "lo not an integer": (lambda s: s["spaces"][1]["bottleneck_width"].update(lo=1.5),
                          "sample.spaces[1].bottleneck_width.lo: expected an integer"),
    "missing hi": (lambda s: s["spaces"][1]["bottleneck_width"].pop("hi"),
                   "sample.spaces[1].bottleneck_width.hi: required key is missing"),
    "no dist": (lambda s: s["spaces"][1]["bottleneck_width"].pop("dist"),
                "sample.spaces[1].bottleneck_width.dist: required key is missing"),
    "values with a range": (lambda s: s["spaces"][1]["bottleneck_width"].update(values=[1, 2]),
                            "sample.spaces[1].bottleneck_width.values: log_uniform_int takes lo and hi"),
    "empty values": (lambda s: s["spaces"][0]["cardinality"].update(values=[]),
                     "sample.spaces[0].cardinality.values: expected a non-empty list"),
    "a value below 1": (lambda s: s["spaces"][0]["cardinality"].update(values=[0]),
                        "sample.spaces[0].cardinality.values[0]: expected an integer >= 1"),
    "a value twice": (lambda s: s["spaces"][0]["cardinality"].update(values=[1, 1]),
                      "sample.spaces[0].cardinality.values[1]: 1 is listed twice"),
    "no power of two": (lambda s: s["spaces"][1]["cardinality"].update(lo=5, hi=7),
                        "sample.spaces[1].cardinality: no power of two lies in [5, 7]"),
    "unknown template": (lambda s: s["spaces"][0].update(template={"values": ["cifar-56"]}),
                         "sample.spaces[0].template.values[0]: expected a template name"),
    "template range": (lambda s: s["spaces"][0].update(template={"dist": "uniform_int", "lo": 1, "hi": 2}),
                       "sample.spaces[0].template.dist: template is a choice"),
    "d and group width": (lambda s: s["spaces"][0].update(group_width={"dist": "uniform_int", "lo": 4, "hi": 8}),
                          "sample.spaces[0].group_width: give bottleneck_width or group_width"),
    "no free parameter": (lambda s: s["spaces"].__setitem__(0, {"name": "fixed", "cardinality": {"values": [1]}}),
                          "sample.spaces[0]: no free parameter"),
    "fewer models than count": (lambda s: s["spaces"][0].update(bottleneck_width={"values": [4, 8]},
                                                               base_planes={"values": [8, 16, 32]}),
                                "sample.spaces[0]: the space holds at most 6 distinct models, fewer than sample.count"),
    "space without a name": (lambda s: s["spaces"][0].pop("name"), "sample.spaces[0].name: required key is missing"),
    "a space name with a dash": (lambda s: s["spaces"][0].update(name="res-net"), "sample.spaces[0].name: expected"),
    "a space twice": (lambda s: s["spaces"][1].update(name="resnet"),
                      "sample.spaces[1].name: space 'resnet' is listed twice"),
    "no spaces": (lambda s: s.update(spaces=[]), "sample.spaces: expected a non-empty list"),
    "a space not a mapping": (lambda s: s["spaces"].__setitem__(1, "resnext"), "sample.spaces[1]: expected a mapping"),
    "count 0": (lambda s: s.update(count=0), "sample.count: expected an integer >= 1"),
    "no count": (lambda s: s.pop("count"), "sample.count: required key is missing"),
    "negative seed": (lambda s: s.update(seed=-1), "sample.seed: expected an integer >= 0"),
    "unknown sample key": (lambda s: s.update(samples=3), "sample.samples: unknown key"),
    "band lo above hi": (lambda s: s["band"].update(lo="2.5e6"), "sample.band.lo: expected lo <= hi"),
    "band target": (lambda s: s["band"].update(target="latency"), "sample.band.target: expected one of flops, params, acts"),
    "band not a number": (lambda s: s["band"].update(hi="lots"), "sample.band.hi: expected a number"),
    "band negative": (lambda s: s["band"].update(lo=-1), "sample.band.lo: expected a number >= 0"),
    "band missing hi": (lambda s: s["band"].pop("hi"), "sample.band.hi: required key is missing"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_sample_spec_is_one_line_naming_the_key(case):
    mutate, expected = BAD[case]
    msg = refused(_with(mutate))
    assert msg.startswith(expected), msg


def test_from_a_file_the_error_names_the_file_and_exponent_numbers_are_numbers(tmp_path):
    text = DIGITS.read_text()
    assert re.search(r"lo: \d\.\d+e\d", text), "the study writes its band with exponents"
    path = tmp_path / "ds.yaml"
    path.write_text(text.replace("dist: power_of_two", "dist: power_of_3"))
    with pytest.raises(UserError) as info:
        load_ablation(path)
    assert str(info.value) == (f"{path}: sample.spaces[1].cardinality.dist: unknown distribution 'power_of_3'; "
                               "known: uniform_int, log_uniform_int, power_of_two, values")
    spec = load_ablation(DIGITS)
    assert isinstance(spec.sample.band.lo, float) and spec.sample.band.lo < spec.sample.band.hi


def test_an_ablation_with_neither_grid_nor_sample_is_still_refused():
    raw = raw_ablation()
    raw.pop("sample")
    with pytest.raises(UserError, match="lists no configuration"):
        ablation_from_dict(raw)


# ---------------------------------------------------------------- grid, runs, study files

def test_grid_lists_the_digits_study_with_a_space_column(capsys):
    assert main(["grid", str(DIGITS), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 64
    assert [r["space"] for r in rows] == ["resnet"] * 32 + ["resnext"] * 32
    assert len({r["name"] for r in rows}) == 64
    assert main(["grid", str(DIGITS), "--format", "json"]) == 0
    assert [r["space"] for r in json.loads(capsys.readouterr().out)] == [r["space"] for r in rows]
    assert main(["grid", str(DIGITS)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["name", "space", "template"]
    first = table[2].split()
    assert first[0].startswith("resnet-000-1x") and first[1] == "resnet"
    # an ablation that samples nothing keeps its columns
    assert main(["grid", str(ROOT / "ablations" / "table3_resnet50.yaml"), "--format", "csv"]) == 0
    assert "space" not in capsys.readouterr().out.splitlines()[0].split(",")


def test_listed_configurations_beside_samples_have_an_empty_space_cell():
    raw = raw_ablation(count=4)
    raw["configurations"] = [{"cardinality": 2, "bottleneck_width": 4}]
    configs = sampled(raw)
    assert [c.space for c in configs] == [None] + ["resnet"] * 4 + ["resnext"] * 4
    assert all("space" in c.row() for c in configs)
    assert format_table(configs).splitlines()[2].split()[:2] == ["2x4d", "cifar-29"]


def test_runs_of_a_sampled_study_carry_their_space_and_one_id_a_model():
    runs = resolve_runs(load_ablation(DIGITS))
    assert len(runs) == 64 and len({r.run_id for r in runs}) == 58
    by_id: dict = {}
    for r in runs:
        by_id.setdefault(r.run_id, []).append(r)
    shared = [rs for rs in by_id.values() if len(rs) > 1]
    # a model both spaces sampled (C = 1 drawn in the ResNeXt-like space) is one run listed in both
    assert len(shared) == 6 and all([r.space for r in rs] == ["resnet", "resnext"] and rs[0].model == rs[1].model
                                    for rs in shared)
    configs = [r.to_config() for r in runs]
    assert [c["space"] for c in configs] == ["resnet"] * 32 + ["resnext"] * 32
    back = run_from_config(configs[40], "config.yaml")
    assert back.space == "resnext" and back.run_id == runs[40].run_id
    assert config_columns(configs[0])["space"] == "resnet"
    plain = resolve_runs(load_ablation(ROOT / "ablations" / "demo.yaml"))[0]
    assert plain.to_config()["space"] is None and config_columns(plain.to_config())["space"] is None
    old = {k: v for k, v in plain.to_config().items() if k != "space"}  # a config.yaml from before spaces
    assert run_from_config(old, "config.yaml").space is None


def test_the_cifar_study_samples_32_models_a_space_around_8x64d():
    spec = load_ablation(CIFAR)
    assert spec.study is None and spec.data.name == "cifar10" and spec.recipe.epochs < 300
    configs = expand(spec)
    spaces = by_space(configs)
    assert sorted(spaces) == ["resnet", "resnext"] and all(len(v) == 32 for v in spaces.values())
    ref = 5_387_266_048  # ResNeXt-29 8x64d on CIFAR-10 (test_complexity's analytic counter)
    band = spec.sample.band
    assert band.target == "flops" and band.lo < ref < band.hi
    assert all(band.lo <= c.complexity.flops <= band.hi for c in configs)


# ---------------------------------------------------------------- speed

def test_sampling_1000_models_in_a_band_takes_well_under_a_second():
    space = {"name": "big", "cardinality": {"dist": "power_of_two", "lo": 1, "hi": 16},
             "bottleneck_width": {"dist": "log_uniform_int", "lo": 1, "hi": 64},
             "base_planes": {"dist": "uniform_int", "lo": 8, "hi": 64}}
    spec = ablation_from_dict(raw_ablation(spaces=[space], count=1000,
                                           band={"target": "flops", "lo": 2e6, "hi": 2e7}))
    from resnext_bench.config.samplers import sample_models
    from resnext_bench.config.specs import ModelSpec

    base = ModelSpec("cifar-29", num_classes=10, in_chans=1, stem_width=16, base_planes=12)
    start = time.process_time()
    samples = sample_models(spec.sample, base, 8)
    seconds = time.process_time() - start
    print(f"\nsampled {len(samples)} models in the band in {seconds * 1000:.0f} ms of CPU")
    assert len(samples) == 1000 and all(2e6 <= s.complexity.flops <= 2e7 for s in samples)
    assert seconds < 1.0
