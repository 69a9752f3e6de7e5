"""Validation in one place: every spec invariant is checked when an ablation is loaded, one line each."""
import math

import pytest

from support.ablations import SMALL_TABLE3

from resnext_bench.config.specs import RECIPES
from resnext_bench.config.load import load_ablation
from resnext_bench.errors import UserError



@pytest.fixture
def small(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(SMALL_TABLE3)
    return path


def refused(path, overrides) -> str:
    """The one-line message loading `path` with `overrides` is refused with."""
    with pytest.raises(UserError) as info:
        load_ablation(path, overrides)
    msg = str(info.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg


# ---------------------------------------------------------------- numbers written with an exponent

@pytest.mark.parametrize("text, value", [("1e-4", 1e-4), ("5E-4", 5e-4), ("1e+0", 1.0), ("1.0e-4", 1e-4)])
def test_a_weight_decay_written_with_an_exponent_is_a_number(small, text, value):
    assert load_ablation(small, [f"recipe.weight_decay={text}"]).recipe.weight_decay == value


def test_a_weight_decay_written_1e_4_is_a_number(small):
    assert load_ablation(small, ["recipe.weight_decay=1e-4"]).recipe.weight_decay == 1e-4


def test_a_negative_exponent_literal_reaches_the_invariant_not_the_type_check(small):
    assert "recipe.lr: expected a number > 0, got -0.0025" in refused(small, ["recipe.lr=-2.5e-3"])


def test_exponent_numbers_in_the_file_itself_are_numbers(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(SMALL_TABLE3.replace("epochs: 2}", "epochs: 2, lr: 5E-2, weight_decay: 1e-4}"))
    recipe = load_ablation(path).recipe
    assert (recipe.lr, recipe.weight_decay) == (5e-2, 1e-4)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", ".nan", ".inf", "1e999", "abc", "1e-4x", "1.2.3", "true", "[1]"])
def test_a_float_key_refuses_non_finite_and_non_numbers_in_one_line(small, text):
    assert "recipe.weight_decay: expected a" in refused(small, [f"recipe.weight_decay={text}"])


@pytest.mark.parametrize("text", ["1e2", "2.0", "'2'", "true"])
def test_an_integer_key_stays_strict(small, text):
    assert "recipe.epochs: expected an integer" in refused(small, [f"recipe.epochs={text}"])


def test_a_non_finite_tolerance_is_refused(small):
    assert "match.tolerance_pct: expected a finite number" in refused(small, ["match.tolerance_pct=.inf"])


# ---------------------------------------------------------------- invariants, each naming key and value

BAD = [
    ("recipe.lr", "-0.1", "recipe.lr: expected a number > 0, got -0.1"),
    ("recipe.lr", "0", "recipe.lr: expected a number > 0"),
    ("recipe.epochs", "0", "recipe.epochs: expected an integer >= 1, got 0"),
    ("recipe.batch_size", "0", "recipe.batch_size: expected an integer >= 1, got 0"),
    ("recipe.lr_batch", "-4", "recipe.lr_batch: expected an integer >= 1, got -4"),
    ("recipe.momentum", "1", "recipe.momentum: expected a number in [0, 1), got 1"),
    ("recipe.momentum", "-0.5", "recipe.momentum: expected a number in [0, 1), got -0.5"),
    ("recipe.weight_decay", "-1e-4", "recipe.weight_decay: expected a number >= 0, got -0.0001"),
    ("recipe.gamma", "0", "recipe.gamma: expected a number > 0"),
    ("recipe.warmup_epochs", "-1", "recipe.warmup_epochs: expected an integer >= 0, got -1"),
    ("recipe.warmup_epochs", "3", "recipe.warmup_epochs: expected at most recipe.epochs (2), got 3"),
    ("recipe.label_smoothing", "1", "recipe.label_smoothing: expected a number in [0, 1), got 1"),
    ("recipe.label_smoothing", "-0.1", "recipe.label_smoothing: expected a number in [0, 1), got -0.1"),
    ("runtime.threads", "0", "runtime.threads: expected an integer >= 1 (or null), got 0"),
    ("runtime.checkpoint_minutes", "-5", "runtime.checkpoint_minutes: expected a number >= 0, got -5"),
    ("data.num_workers", "-1", "data.num_workers: expected an integer >= 0, got -1"),
    ("data.image_size", "4", "data.image_size: expected an integer >= 8 (or null), got 4"),
    ("data.train_limit", "0", "data.train_limit: expected an integer >= 1 (or null), got 0"),
    ("data.val_limit", "-3", "data.val_limit: expected an integer >= 1 (or null), got -3"),
    ("seeds", "[-1]", "seeds[0]: expected an integer >= 0, got -1"),
    ("seeds", "[0, 1, 0]", "seeds[2]: seed 0 is listed twice"),
    ("seeds", "[]", "seeds: expected at least one seed"),
]


@pytest.mark.parametrize("key, text, expected", BAD, ids=[f"{k}={t}" for k, t, _ in BAD])
def test_a_broken_invariant_is_refused_in_one_line_naming_the_key_and_value(small, key, text, expected):
    msg = refused(small, [f"{key}={text}"])
    assert expected in msg
    assert msg.startswith(f"{small}: ")


def test_a_negative_learning_rate_is_refused_in_one_line_naming_recipe_lr(small):
    assert refused(small, ["recipe.lr=-0.1"]) == f"{small}: recipe.lr: expected a number > 0, got -0.1"


@pytest.mark.parametrize("milestones, index", [("[1, 1]", 1), ("[1, 0]", 1), ("[0]", 0), ("[2]", 0)])
def test_step_milestones_must_increase_within_the_run(small, milestones, index):
    msg = refused(small, ["recipe.schedule=step", f"recipe.milestones={milestones}"])
    assert f"recipe.milestones[{index}]:" in msg


def test_shortening_a_step_recipe_names_the_milestone_out_of_range(small):
    msg = refused(small, ["recipe=paper-imagenet", "recipe.epochs=50"])
    assert "recipe.milestones[1]:" in msg and "60" in msg and "recipe.epochs is 50" in msg


def test_the_presets_are_valid_and_keep_their_schedules(small):
    for name, preset in RECIPES.items():
        assert load_ablation(small, [f"recipe={name}"]).recipe == preset
    assert RECIPES["paper-imagenet"].milestones == (30, 60, 90) and RECIPES["paper-imagenet"].epochs == 100


def test_a_cosine_recipe_ignores_a_preset_s_milestones(small):
    recipe = load_ablation(small, ["recipe=paper-cifar", "recipe.schedule=cosine", "recipe.epochs=3"]).recipe
    assert recipe.epochs == 3 and recipe.schedule == "cosine"


def test_warmup_may_span_a_one_epoch_smoke_run(small):
    recipe = load_ablation(small, ["recipe.epochs=1", "recipe.warmup_epochs=1"]).recipe
    assert (recipe.epochs, recipe.warmup_epochs) == (1, 1)


def test_valid_edges_are_accepted(small):
    a = load_ablation(small, ["recipe.momentum=0", "recipe.weight_decay=0", "recipe.label_smoothing=0.1",
                              "runtime.threads=null", "data.image_size=8", "data.num_workers=0", "seeds=[0, 3]"])
    assert a.recipe.momentum == 0 and a.data.image_size == 8 and a.seeds == (0, 3)
    assert math.isfinite(a.runtime.checkpoint_minutes)


# ---------------------------------------------------------------- sections of the wrong shape

SHAPES = [
    ("model", "abc"), ("model", "5"), ("model", "[1]"), ("data", "5"), ("recipe", "5"), ("runtime", "x"),
    ("match", "[]"), ("reference", "7"), ("configurations", "[x]"), ("configurations", "[[1]]"),
    ("recipe.name", "[1]"),
]


@pytest.mark.parametrize("key, text", SHAPES, ids=[f"{k}={t}" for k, t in SHAPES])
def test_a_section_that_is_not_a_mapping_is_one_line_naming_it(small, key, text):
    msg = refused(small, [f"{key}={text}"])
    section = "configurations[0]" if key == "configurations" else key
    assert f": {section}: " in msg


@pytest.mark.parametrize("text", ["just a string", "[1, 2]", "5", ""])
def test_a_top_level_that_is_not_a_mapping_is_one_line(tmp_path, text):
    path = tmp_path / "top.yaml"
    path.write_text(text)
    for overrides in ([], ["recipe.lr=0.1"]):
        assert "expected a mapping at the top level" in refused(path, overrides)


# ---------------------------------------------------------------- the CLI refuses the same way

def test_the_cli_refuses_a_negative_lr_with_exit_2_and_one_line(small, capsys):
    from resnext_bench.cli import main

    assert main(["grid", str(small), "--set", "recipe.lr=-0.1"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "recipe.lr" in err and "-0.1" in err


def test_the_cli_accepts_a_weight_decay_written_1e_4(small, capsys):
    from resnext_bench.cli import main

    assert main(["grid", str(small), "--set", "recipe.weight_decay=1e-4"]) == 0
