"""A recipe selects its optimizer and loss by name from one registry each; the spec knows no other names."""
import pytest
import torch
import torch.nn.functional as F
from support.ablations import tiny_ablation

from resnext_bench.config.load import load_ablation
from resnext_bench.config.registries import (LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULES, build_loss,
                                             build_optimizer)
from resnext_bench.config.runs import resolve_runs
from resnext_bench.config.specs import RecipeSpec, to_dict
from resnext_bench.engine.checkpoint import load_checkpoint
from resnext_bench.engine.train import train_run
from resnext_bench.errors import UserError
from resnext_bench.record import runwrite

# The demo's first run id, computed before optimizer and loss joined the recipe: runs trained
# before that keep their ids (the new fields are hashed only when they leave their defaults).
DEMO_FIRST_RUN_ID = "cifar-29-1x32d-bp32-stem32-s0-39097d1291a1"


def params():
    return [torch.nn.Parameter(torch.zeros(3))]


def test_existing_run_ids_are_unchanged_by_the_new_recipe_fields():
    assert resolve_runs(load_ablation("ablations/demo.yaml"))[0].run_id == DEMO_FIRST_RUN_ID


def test_a_recipe_at_its_default_optimizer_and_loss_does_not_spell_them():
    assert not {"optimizer", "loss"} & set(to_dict(RecipeSpec()))
    assert to_dict(RecipeSpec(optimizer="adamw", loss="label-smoothing"))["optimizer"] == "adamw"


def test_choosing_another_optimizer_or_loss_makes_another_run(tmp_path):
    path = tiny_ablation(tmp_path)
    ids = {resolve_runs(load_ablation(path, over))[0].run_id
           for over in ([], ["recipe.optimizer=adamw"], ["recipe.loss=label-smoothing"])}
    assert len(ids) == 3


def test_sgd_is_todays_sgd_and_sgd_nesterov_sets_nesterov():
    recipe = RecipeSpec(weight_decay=1e-4)
    plain = build_optimizer(params(), recipe).param_groups[0]
    assert (type(build_optimizer(params(), recipe)), plain["momentum"], plain["weight_decay"], plain["nesterov"]) \
        == (torch.optim.SGD, 0.9, 1e-4, False)
    nesterov = build_optimizer(params(), RecipeSpec(optimizer="sgd-nesterov")).param_groups[0]
    assert nesterov["nesterov"] is True and nesterov["momentum"] == 0.9


def test_adamw_takes_the_recipes_scaled_lr_and_weight_decay():
    recipe = RecipeSpec(optimizer="adamw", lr=0.002, lr_batch=64, batch_size=128, weight_decay=0.05)
    opt = build_optimizer(params(), recipe)
    assert isinstance(opt, torch.optim.AdamW)
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["weight_decay"]) == (pytest.approx(0.004), 0.05)


def test_label_smoothing_changes_the_loss_of_the_same_batch():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 10), torch.randint(0, 10, (16,))
    plain = build_loss(RecipeSpec())(logits, labels)
    smoothed = build_loss(RecipeSpec(loss="label-smoothing"))(logits, labels)
    assert plain == pytest.approx(F.cross_entropy(logits, labels).item())
    assert smoothed == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.1).item())
    assert smoothed != pytest.approx(plain.item())
    custom = build_loss(RecipeSpec(loss="label-smoothing", label_smoothing=0.2))(logits, labels)
    assert custom == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.2).item())


def test_an_ablation_with_adamw_trains_with_adamw(tmp_path):
    path = tiny_ablation(tmp_path, epochs=1, train_limit=64)
    run = resolve_runs(load_ablation(path, ["recipe.optimizer=adamw", "recipe.lr=0.001",
                                            "recipe.loss=label-smoothing"]))[0]
    assert (run.recipe.optimizer, run.recipe.loss) == ("adamw", "label-smoothing")
    run_dir = tmp_path / "runs" / run.run_id
    runwrite.write_config(run_dir, run)
    assert train_run(run_dir, log=lambda msg: None)["status"] == "completed"
    group = load_checkpoint(run_dir).state["optimizer"]["param_groups"][0]
    assert "betas" in group and "momentum" not in group  # AdamW's state, not SGD's
    assert group["weight_decay"] == run.recipe.weight_decay


@pytest.mark.parametrize("key, registry", [("recipe.optimizer", OPTIMIZERS), ("recipe.loss", LOSSES),
                                           ("recipe.schedule", SCHEDULES), ("runtime.precision", PRECISIONS)])
def test_an_unknown_name_is_one_line_listing_the_registry(tmp_path, key, registry):
    with pytest.raises(UserError) as info:
        load_ablation(tiny_ablation(tmp_path), [f"{key}=nonesuch"])
    msg = str(info.value)
    assert "\n" not in msg and key in msg and "'nonesuch'" in msg
    assert all(name in msg for name in registry), msg


@pytest.mark.parametrize("key, registry", [("recipe.optimizer", OPTIMIZERS), ("recipe.loss", LOSSES),
                                           ("recipe.schedule", SCHEDULES), ("runtime.precision", PRECISIONS)])
def test_every_registry_name_loads(tmp_path, key, registry):
    for name in registry:
        spec = load_ablation(tiny_ablation(tmp_path), [f"{key}={name}"])
        section, field = key.split(".")
        assert getattr(getattr(spec, section), field) == name
