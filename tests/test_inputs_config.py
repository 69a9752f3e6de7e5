"""Every bad input file, override or option is one line and exit 2, and writes nothing: ablations,
cluster profiles and run folders are read by one strict YAML reader, every number of a spec or a
profile is bounded by what a real experiment uses, and a name that becomes a folder is one safe
path component."""
import json
import os
from pathlib import Path

import pytest

from support.cli import Outcome, assert_refused, changes, refusal_line, run_cli, run_main, tree

SMALL = """\
name: small
template: cifar-29
model: {base_planes: 8, stem_width: 8}
reference: {cardinality: 1, bottleneck_width: 8}
cardinalities: [1, 2]
data: {name: digits, train_limit: 64, val_limit: 32}
recipe: {name: short, epochs: 1, batch_size: 32}
seeds: [0]
runtime: {threads: 1}
"""


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A working folder three levels below tmp_path (a name climbing out of the sweeps folder still
    lands inside tmp_path, where the test sees it) and no store set by the caller's environment."""
    monkeypatch.delenv("RESNEXT_BENCH_STORE", raising=False)
    cwd = tmp_path / "a" / "b" / "work"
    cwd.mkdir(parents=True)
    return cwd


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def refused_writing_nothing(root: Path, args: list, *phrases: str, fresh: bool = False) -> str:
    """Run the CLI (in a fresh interpreter when `fresh`), check it refuses with one line holding the
    phrases and that nothing under `root` changed; the line."""
    cwd = next(p for p in root.rglob("work") if p.is_dir())
    before = tree(root)
    outcome = run_cli(*map(str, args), cwd=cwd) if fresh else run_main(*map(str, args), cwd=cwd)
    line = assert_refused(outcome, *phrases)
    assert changes(before, tree(root)) == []
    return line


# ---------------------------------------------------------------- the strict YAML reader

def test_binary_garbage_as_an_ablation_is_one_line_naming_the_file(place, tmp_path):
    garbage = write(place, "g.yaml", bytes(range(256)) + os.urandom(300))
    refused_writing_nothing(tmp_path, ["grid", garbage], str(garbage), "not UTF-8", fresh=True)


def test_binary_garbage_as_a_cluster_profile_is_one_line_naming_the_file(place, tmp_path):
    ablation, garbage = write(place, "a.yaml", SMALL), write(place, "g.yaml", b"\xff\xfe" + os.urandom(300))
    refused_writing_nothing(tmp_path, ["launch", ablation, "--cluster", garbage, "--dry-run"], str(garbage),
                            "not UTF-8", fresh=True)


def test_nesting_5000_deep_is_refused_at_depth_32_not_by_a_recursion_error(place, tmp_path):
    deep = write(place, "deep.yaml", SMALL + "description: " + "[" * 5000 + "]" * 5000 + "\n")
    refused_writing_nothing(tmp_path, ["grid", deep], str(deep), "nested deeper than 32 levels")


def test_a_key_given_twice_names_both_lines_instead_of_the_last_winning(place, tmp_path):
    twice = write(place, "twice.yaml", SMALL + "name: other\n")
    refused_writing_nothing(tmp_path, ["grid", twice], str(twice), "key 'name' is given twice (lines 1 and 10)")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "1.0e+999"])
def test_a_non_finite_number_anywhere_in_a_profile_is_refused(place, tmp_path, value):
    ablation = write(place, "a.yaml", SMALL)
    profile = write(place, "p.yaml", f"executor: local\nadditional_parameters: {{comment: {value}}}\n")
    refused_writing_nothing(tmp_path, ["launch", ablation, "--cluster", profile, "--dry-run"], str(profile),
                            "line 2", "expected a finite number")


def test_a_file_over_16_mib_is_refused_unread(place, tmp_path):
    big = place / "big.yaml"
    with open(big, "w") as f:
        f.write(SMALL)
        f.write(("#" * 1023 + "\n") * (16 * 1024 + 1))  # 16 MiB of comments, and then some
    refused_writing_nothing(tmp_path, ["grid", big], str(big), "over the 16 MiB")


BOMB = """\
executor: local
additional_parameters:
  a: &a [x, x, x, x, x, x, x, x, x, x]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
"""


def test_an_alias_bomb_is_refused_before_it_is_expanded(place, tmp_path):
    ablation, profile = write(place, "a.yaml", SMALL), write(place, "bomb.yaml", BOMB)
    refused_writing_nothing(tmp_path, ["launch", ablation, "--cluster", profile, "--dry-run"], str(profile),
                            "aliases expand to more than 100,000 values")


def test_merge_keys_and_small_aliases_still_read(place):
    text = SMALL.replace("model: {", "model: &m {").replace(
        "cardinalities: [1, 2]\n", "configurations:\n  - {<<: *m, cardinality: 2, bottleneck_width: 4}\n")
    outcome = run_main("grid", str(write(place, "alias.yaml", text)), "--format", "csv", cwd=place)
    assert outcome.code == 0, outcome.err
    assert "2x4d" in outcome.out


@pytest.mark.parametrize("text, phrase", [
    ("seeds: [9007199254740992]\n", "integer 9007199254740992 is beyond 2**53 - 1"),
    ("seeds: [" + "9" * 5000 + "]\n", "integer of 5000 characters is beyond 2**53 - 1"),
])
def test_an_integer_past_2_53_is_refused_by_the_reader(place, tmp_path, text, phrase):
    path = write(place, "big.yaml", SMALL.replace("seeds: [0]\n", text))
    refused_writing_nothing(tmp_path, ["grid", path], str(path), phrase)


def test_a_run_folder_s_config_yaml_is_read_by_the_same_strict_reader(tmp_path):
    from resnext_bench.record.runfolder import read_config

    cases = {"twice": "run_id: a\nrun_id: b\n", "deep": "x: " + "[" * 100 + "]" * 100 + "\n",
             "garbage": b"run_id: \xff\xfe\n", "bomb": BOMB}
    reasons = {}
    for name, text in cases.items():
        (tmp_path / name).mkdir()
        write(tmp_path / name, "config.yaml", text)
        skipped: list = []
        assert read_config(tmp_path / name, skipped) is None
        reasons[name] = skipped[-1][1]
    assert reasons["twice"] == "line 2: key 'run_id' is given twice (lines 1 and 2)"
    assert reasons["deep"] == "line 1: nested deeper than 32 levels"
    assert "not UTF-8" in reasons["garbage"]
    assert "aliases expand" in reasons["bomb"]


def test_train_refuses_a_run_folder_whose_config_repeats_a_key(place, tmp_path):
    run = place / "run"
    run.mkdir()
    write(run, "config.yaml", "run_id: abc\nseed: 0\nseed: 1\n")
    refused_writing_nothing(tmp_path, ["train", "--run-dir", run], "config.yaml", "key 'seed' is given twice")


# ---------------------------------------------------------------- bounds on every number

@pytest.mark.parametrize("override, phrase", [
    ("recipe.epochs=99999999999999999999999", "recipe.epochs: integer 99999999999999999999999 is beyond 2**53 - 1"),
    ("recipe.epochs=10001", "recipe.epochs: expected at most 10,000"),
    ("model.base_planes=1000000000", "base_planes: expected at most 4,096"),
    ("model.stem_width=5000", "stem_width: expected at most 4,096"),
    ("model.num_classes=1000000", "num_classes: expected at most 100,000"),
    ("cardinalities=[1, 2048]", "cardinalities[1]: expected at most 1,024"),
    ("reference.bottleneck_width=5000", "reference.bottleneck_width: expected at most 4,096"),
    ("recipe.batch_size=1000000", "recipe.batch_size: expected at most 65,536"),
    ("recipe.lr=1000", "recipe.lr: expected at most 100"),
    ("recipe.weight_decay=5", "recipe.weight_decay: expected at most 1"),
    ("seeds=[4294967296]", "seeds[0]: expected at most 4,294,967,295"),
    ("data.image_size=100000", "data.image_size: expected at most 4,096"),
    ("data.num_workers=100000", "data.num_workers: expected at most 256"),
    ("runtime.threads=100000", "runtime.threads: expected at most 1,024"),
    ("runtime.checkpoint_minutes=1e9", "runtime.checkpoint_minutes: expected at most 10,080"),
    ("match.tolerance_pct=1000", "match.tolerance_pct: expected at most 100"),
])
def test_a_number_past_what_a_real_experiment_uses_is_refused(place, tmp_path, override, phrase):
    path = write(place, "a.yaml", SMALL)
    refused_writing_nothing(tmp_path, ["grid", path, "--set", override], phrase)


def test_a_configuration_width_in_the_file_is_bounded_too(place, tmp_path):
    path = write(place, "a.yaml", SMALL.replace("cardinalities: [1, 2]\n", "configurations:\n"
                                                "  - {cardinality: 2, bottleneck_width: 1000000000}\n"))
    refused_writing_nothing(tmp_path, ["grid", path], "configurations[0].bottleneck_width: expected at most 4,096")


PROFILE_BOUNDS = [
    ("nodes: 1025", "nodes: expected at most 1,024"),
    ("gpus_per_node: 17", "gpus_per_node: expected at most 16"),
    ("tasks_per_node: 257", "tasks_per_node: expected at most 256"),
    ("cpus_per_gpu: 257", "cpus_per_gpu: expected at most 256"),
    ("cpus_per_run: 1025", "cpus_per_run: expected at most 1,024"),
    ("mem_gb: 16385", "mem_gb: expected at most 16,384"),
    ("timeout_min: 43201", "timeout_min: expected at most 43,200"),
    ("array_parallelism: 10001", "array_parallelism: expected at most 10,000"),
    ("max_retries: 101", "max_retries: expected at most 100"),
    ("signal_delay_s: 3601\ntimeout_min: 600", "signal_delay_s: expected at most 3,600"),
    ("overrides: [{configurations: ['*'], mem_gb: 100000}]", "overrides for ['*']: mem_gb: expected at most 16,384"),
    ("overrides: [{configurations: ['*'], nodes: 5000}]", "overrides for ['*']: nodes: expected at most 1,024"),
    ("partition: \"gpu\\n#SBATCH --wrap=x\"", "partition: expected a Slurm name"),
]


@pytest.mark.parametrize("line, phrase", PROFILE_BOUNDS, ids=[p.split(":")[0] for _, p in PROFILE_BOUNDS])
def test_a_profile_number_past_any_real_cluster_job_is_refused(place, tmp_path, line, phrase):
    ablation = write(place, "a.yaml", SMALL)
    profile = write(place, "p.yaml", f"executor: slurm\n{line}\n")
    refused_writing_nothing(tmp_path, ["launch", ablation, "--cluster", profile, "--dry-run"], str(profile), phrase)


# ---------------------------------------------------------------- names that become folders

@pytest.mark.parametrize("name", ["../../../tmp/x", "a/b", "a\nb", ".", "..", ".hidden", "-x", "x" * 101, "a b", ""])
def test_train_refuses_an_ablation_name_that_is_not_one_safe_folder_name(place, tmp_path, name):
    path = write(place, "a.yaml", SMALL.replace("name: small", f"name: {json.dumps(name)}"))
    refused_writing_nothing(tmp_path, ["train", path, "0"], "name: expected a name of letters, digits")


def test_launch_refuses_a_name_climbing_out_of_the_sweeps_folder(place, tmp_path):
    path = write(place, "a.yaml", SMALL.replace("name: small", "name: ../../../tmp/x"))
    profile = write(place, "p.yaml", "executor: local\n")
    refused_writing_nothing(tmp_path, ["launch", path, "--cluster", profile, "--dry-run"], "name: expected a name")


def test_a_configuration_name_is_a_safe_name_too(place, tmp_path):
    path = write(place, "a.yaml", SMALL.replace("cardinalities: [1, 2]\n", "configurations:\n"
                                                "  - {name: ../up, cardinality: 2, bottleneck_width: 4}\n"))
    refused_writing_nothing(tmp_path, ["grid", path], "configurations[0].name: expected a name")


def test_a_safe_name_with_dots_plus_and_dashes_is_accepted(place):
    path = write(place, "a.yaml", SMALL.replace("name: small", "name: resnext-50_v1.2+bn"))
    assert run_main("grid", str(path), cwd=place).code == 0


# ---------------------------------------------------------------- the command line itself

@pytest.mark.parametrize("args, phrase", [
    ([], "resnext-bench: error: the following arguments are required: verb (see resnext-bench --help)"),
    (["grid"], "resnext-bench grid: error: the following arguments are required: ablation "
               "(see resnext-bench grid --help)"),
    (["grid", "a.yaml", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
    (["launch", "a.yaml"], "the following arguments are required: --cluster"),
    (["nosuchverb"], "argument verb: invalid choice: 'nosuchverb'"),
    (["train", "--seed", "-1"], "argument --seed: expected an integer >= 0"),
    (["pack", "r", "o", "--shard-size", "inf"], "argument --shard-size: expected a number > 0, got 'inf'"),
    (["pack", "r", "o", "--shard-size", "nan"], "argument --shard-size: expected a number > 0, got 'nan'"),
    (["demo", "--ablation", "missing.yaml", "--timeout-min", "0"], "argument --timeout-min: expected a number > 0"),
    (["demo", "--ablation", "missing.yaml", "--timeout-min", "nan"], "argument --timeout-min"),
    (["demo", "--ablation", "missing.yaml", "--timeout-min", "-5"], "argument --timeout-min"),
])
def test_an_argument_mistake_is_one_line_pointing_at_help(place, tmp_path, args, phrase):
    line = refused_writing_nothing(tmp_path, args, phrase)
    assert line.endswith("--help)")


def test_help_still_prints_the_usage(place):
    outcome = run_main("grid", "--help", cwd=place)
    assert outcome.code == 0 and outcome.out.startswith("usage: resnext-bench grid")


def test_an_override_key_with_a_newline_is_one_line(place, tmp_path):
    path = write(place, "a.yaml", SMALL)
    line = refused_writing_nothing(tmp_path, ["grid", path, "--set", "recipe\nepochs=3"], "expected KEY=VALUE")
    assert "recipe\\nepochs" in line


# ---------------------------------------------------------------- a damaged checkpoint

def test_a_garbage_checkpoint_is_named_in_whole_sentences(place, tmp_path):
    from resnext_bench.config.load import load_ablation
    from resnext_bench.config.runs import resolve_runs
    from resnext_bench.record import runwrite
    from resnext_bench.record.runfolder import checkpoint_paths

    run = resolve_runs(load_ablation(write(place, "a.yaml", SMALL)))[0]
    run_dir = place / "run"
    runwrite.write_config(run_dir, run)
    latest, previous = checkpoint_paths(run_dir)
    latest.write_bytes(os.urandom(300))
    previous.write_bytes(b"\x80\x02" + os.urandom(300))  # a pickle header, then garbage
    before = tree(tmp_path)
    outcome = run_main("train", "--run-dir", str(run_dir), cwd=place)
    # train names the run folder first (where to look, what to resume), then refuses in one line
    assert outcome.err.startswith(f"run folder: {run_dir}\n")
    line = refusal_line(Outcome(outcome.code, outcome.out, outcome.err.split("\n", 1)[1]))
    assert "checkpoint.pt is damaged" in line and "not a weights-only checkpoint (" in line
    written = changes(before, tree(tmp_path))
    assert all(c.split(" ", 1)[1].startswith("a/b/work/run") for c in written), written
    assert "Re-running" not in line and "`torch.)" not in line


# ---------------------------------------------------------------- strings that reach the file system or a library

def test_a_data_root_holding_a_nul_is_one_line(place, tmp_path):
    path = write(place, "a.yaml", SMALL.replace("data: {name: digits,", 'data: {name: cifar10, root: "a\\0b",'))
    profile = write(place, "p.yaml", "executor: local\n")
    refused_writing_nothing(tmp_path, ["launch", path, "--cluster", profile, "--dry-run"], "data.root: expected")


@pytest.mark.parametrize("baseline, kwargs, phrase", [
    ("torchvision:resnet18", "{num_classes: 5}",
     "configurations[0].kwargs: num_classes is not a model keyword the file may set"),
    ("torchvision:resnet18", "{nosuch: 1}", "torchvision:resnet18: kwargs {'nosuch': 1} refused (TypeError"),
    # stored by the constructor, refused only by the forward pass that measures the model's FLOPs
    ("timm:resnet18", "{drop_rate: abc}", "timm:resnet18: kwargs {'drop_rate': 'abc'} refused (ValueError"),
])
def test_a_baseline_keyword_its_library_refuses_is_one_line(place, tmp_path, baseline, kwargs, phrase):
    path = write(place, "a.yaml", SMALL.replace("cardinalities: [1, 2]\n", "configurations:\n"
                                                f"  - {{baseline: '{baseline}', kwargs: {kwargs}}}\n"))
    refused_writing_nothing(tmp_path, ["grid", path], phrase)
