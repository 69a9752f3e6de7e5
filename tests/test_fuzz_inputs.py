"""A generated table of hostile inputs, each given to every verb that reads it: whatever the file,
field, override or value, the command exits 2 with one stderr line, no traceback, and writes nothing.

Inputs: whole files (binary, deep nesting, repeated keys, huge and non-finite numbers, alias bombs,
empty, not a mapping, not YAML, a folder, a FIFO, a file over 16 MiB) as an ablation, a cluster
profile and a run's config.yaml; and every numeric field of an ablation and a profile set to values
no experiment uses (negative, huge, non-finite, of the wrong type), in the file and by --set.
Verbs: grid, train (ABLATION CONFIG and --run-dir), launch --dry-run. Cases run through cli.main in
this process (a refusal happens before any job starts), so the table runs in seconds.
"""
import json
import os
import random
from pathlib import Path

import pytest
import yaml

from support.cli import changes, refusal_line, run_main, tree

VALID = {
    "name": "fuzz",
    "template": "cifar-29",
    "model": {"base_planes": 8, "stem_width": 8},
    "reference": {"cardinality": 1, "bottleneck_width": 8},
    "cardinalities": [1, 2],
    "data": {"name": "digits", "train_limit": 64, "val_limit": 32},
    "recipe": {"name": "short", "epochs": 1, "batch_size": 32},
    "seeds": [0],
    "runtime": {"threads": 1},
}
PROFILE = {"executor": "local", "timeout_min": 60}

_rng = random.Random(2017)  # the table is the same on every run
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh"))

# Whole files: name -> bytes (None: made by `special`, below).
FILES = {
    "random bytes": bytes(_rng.randrange(256) for _ in range(400)),
    "nul bytes": b"name: x\x00\x00\n",
    "latin-1": "name: caf\xe9\n".encode("latin-1"),
    "utf-16": "name: x\n".encode("utf-16"),
    "control char": b"name: \x01\x02\n",
    "flow nesting 40": ("x: " + "[" * 40 + "]" * 40 + "\n").encode(),
    "block nesting 40": "".join("  " * i + f"k{i}:\n" for i in range(40)).encode() + b"  " * 40 + b"v\n",
    "flow nesting 100000": ("x: " + "[" * 100_000).encode(),
    "top key twice": b"name: a\nname: b\n",
    "nested key twice": b"name: a\nrecipe: {epochs: 1, epochs: 2}\n",
    "integer 2**53": b"name: a\nseeds: [9007199254740992]\n",
    "integer of 5000 digits": b"seeds: [" + b"9" * 5000 + b"]\n",
    "float 1e400": b"recipe: {lr: 1.0e+400}\n",
    ".inf": b"x: .inf\n",
    "-.inf": b"x: [-.inf]\n",
    ".nan": b"x: {y: .nan}\n",
    "alias bomb": BOMB.encode(),
    "empty": b"",
    "blank": b"  \n\n",
    "comment only": b"# nothing here\n",
    "document marker only": b"---\n",
    "a list": b"- 1\n- 2\n",
    "a string": b"just words\n",
    "a number": b"42\n",
    "null": b"~\n",
    "unclosed flow": b"name: [x\n",
    "tab indent": b"name:\n\t- x\n",
    "two documents": b"name: a\n---\nname: b\n",
    "bad directive": b"%YAML 9.9\n---\nname: a\n",
    "python tag": b"name: !!python/object/apply:os.system ['echo hi']\n",
    "unknown tag": b"name: !secret x\n",
    "undefined alias": b"name: *nowhere\n",
    "unhashable key": b"? [1, 2]\n: x\n",
    "a folder": None,
    "a fifo": None,
    "missing": None,
    "17 MiB": None,
}


def special(path: Path, kind: str) -> None:
    """Make the inputs that are not bytes: a folder, a FIFO, nothing at all, a file over 16 MiB."""
    if kind == "a folder":
        path.mkdir()
    elif kind == "a fifo":
        os.mkfifo(path)
    elif kind == "17 MiB":
        with open(path, "w") as f:
            f.write(("#" * 1023 + "\n") * (17 * 1024))


# Values no experiment uses, for any numeric field (each is refused whatever the field's bounds).
VALUES = {
    "negative": -1_000_000,
    "huge int": 10**30,
    "past 2**53": 2**60,
    "huge float": 1e300,
    "inf": float("inf"),
    "nan": float("nan"),
    "string": "abc",
    "list": [1],
    "mapping": {"a": 1},
    "boolean": True,
}
ABLATION_FIELDS = [
    "model.cardinality", "model.bottleneck_width", "model.base_planes", "model.stem_width", "model.num_classes",
    "model.in_chans", "reference.cardinality", "reference.bottleneck_width", "data.image_size",
    "data.num_workers", "data.train_limit", "data.val_limit", "recipe.epochs", "recipe.batch_size", "recipe.lr",
    "recipe.lr_batch", "recipe.momentum", "recipe.weight_decay", "recipe.gamma", "recipe.warmup_epochs",
    "recipe.label_smoothing", "runtime.threads", "runtime.checkpoint_minutes", "match.tolerance_pct",
    "seeds.0", "cardinalities.1", "recipe.milestones.0",
]
PROFILE_FIELDS = ["nodes", "gpus_per_node", "gpus_per_run", "tasks_per_node", "cpus_per_gpu", "cpus_per_run",
                  "mem_gb", "timeout_min", "array_parallelism", "max_retries", "signal_delay_s",
                  "overrides.0.nodes", "overrides.0.mem_gb", "overrides.0.timeout_min"]
NAMES = ["../../x", "a/b", "a\nb", ".", "..", "", " x", ".hidden", "-x", "x" * 101, "x\x00", "\u2028", 7, None]


def yaml_text(data) -> str:
    """`data` as YAML; inf and nan as YAML writes them (.inf, .nan)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def with_field(base: dict, dotted: str, value) -> dict:
    """A deep copy of `base` with the field at the dotted path (list indexes as numbers) set to value."""
    data = json.loads(json.dumps(base))
    if dotted.startswith("recipe.milestones"):
        data["recipe"] = {**data["recipe"], "schedule": "step"}
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        key = int(part) if part.isdigit() else part
        if isinstance(node, dict) and key not in node:
            node[key] = [] if parts[i + 1].isdigit() else {}
        node = node[key]
    last = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if isinstance(node, list):
        node.extend([1] * (last + 1 - len(node)))
    node[last] = value
    return data


def override_text(value) -> str:
    if isinstance(value, float) and value != value:
        return ".nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    return json.dumps(value)


def cases():
    """(id, kind, payload, verb) for the whole table."""
    for name in FILES:
        for verb in ("grid", "train", "launch-ablation", "launch-profile", "train-run-dir"):
            yield f"file {name} -> {verb}", "file", name, verb
    for field in ABLATION_FIELDS:
        for label, value in VALUES.items():
            data = with_field(VALID, field, value)
            yield f"{field}={label} -> grid", "ablation", data, "grid"
            yield f"{field}={label} -> launch", "ablation", data, "launch-ablation"
            if "." in field and not field[-1].isdigit():
                yield f"--set {field}={label}", "override", (field, override_text(value)), "grid"
    for field in PROFILE_FIELDS:
        base = {**PROFILE, "executor": "slurm", "overrides": [{"configurations": ["*"], "nodes": 1}]}
        for label, value in VALUES.items():
            yield f"profile {field}={label}", "profile", with_field(base, field, value), "launch-profile"
    for i, root in enumerate(["a\0b", "x" * 5000, "", 7, ["a"]]):
        data = with_field(VALID, "data.root", root)
        data["data"]["name"] = "cifar10"
        yield f"data.root #{i} -> launch", "ablation", data, "launch-ablation"
    for i, name in enumerate(NAMES):
        data = {**VALID, "name": name}
        yield f"name #{i} {name!r:.20} -> train", "ablation", data, "train"
        yield f"name #{i} -> launch", "ablation", data, "launch-ablation"
        if name is not None:  # (a configuration without a name is named by its C x d)
            entry = {"name": name, "cardinality": 2, "bottleneck_width": 4}
            yield f"configuration name #{i} -> grid", "ablation", {**VALID, "configurations": [entry]}, "grid"


CASES = list(cases())


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """root/ (watched), root/a/b/work (the working folder: a name climbing out of sweeps/ stays under
    root), a valid ablation and profile, and a valid run folder whose config.yaml a case replaces."""
    top = tmp_path_factory.mktemp("fuzz")
    root, inputs = top / "root", top / "inputs"  # the inputs live outside what is watched: it stays small
    work = root / "a" / "b" / "work"
    work.mkdir(parents=True)
    inputs.mkdir()
    (inputs / "valid.yaml").write_text(yaml_text(VALID))
    (inputs / "profile.yaml").write_text(yaml_text(PROFILE))
    return root, work, inputs


@pytest.fixture(autouse=True)
def no_store_from_the_caller(monkeypatch):
    monkeypatch.delenv("RESNEXT_BENCH_STORE", raising=False)


def argv(verb: str, target: Path, inputs: Path) -> list[str]:
    valid, profile = str(inputs / "valid.yaml"), str(inputs / "profile.yaml")
    return {
        "grid": ["grid", str(target)],
        "train": ["train", str(target), "0"],
        "launch-ablation": ["launch", str(target), "--cluster", profile, "--dry-run"],
        "launch-profile": ["launch", valid, "--cluster", str(target), "--dry-run"],
        "train-run-dir": ["train", "--run-dir", str(target.parent)],
    }[verb]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_input_is_one_line_exit_2_and_writes_nothing(sandbox, case):
    root, work, inputs = sandbox
    label, kind, payload, verb = case
    case_dir = inputs / f"case{CASES.index(case)}"
    case_dir.mkdir(parents=True)
    target = case_dir / ("config.yaml" if verb == "train-run-dir" else "input.yaml")
    extra = []
    if kind == "file":
        if FILES[payload] is None:
            if payload != "missing":
                special(target, payload)
        else:
            target.write_bytes(FILES[payload])
    elif kind == "override":
        target = inputs / "valid.yaml"
        extra = ["--set", f"{payload[0]}={payload[1]}"]
    else:
        target.write_text(yaml_text(payload))
    before = tree(root)
    outcome = run_main(*argv(verb, target, inputs), *extra, cwd=work)
    line = refusal_line(outcome)
    assert line.startswith("resnext-bench "), line
    assert changes(before, tree(root)) == [], line
