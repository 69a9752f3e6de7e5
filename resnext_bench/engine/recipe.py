"""A recipe's parts by name: optimizers, learning-rate schedules and losses, as small registries.

A new optimizer or schedule is one function and one registry entry; the training loop asks
for them by the recipe's names and never branches on them.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..config.specs import RecipeSpec


def _sgd(params, recipe: RecipeSpec) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=recipe.scaled_lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)


OPTIMIZERS: dict[str, Callable] = {"sgd": _sgd}


def _warmup(recipe: RecipeSpec, step: int, steps_per_epoch: int) -> float | None:
    if recipe.warmup_epochs and step / steps_per_epoch < recipe.warmup_epochs:
        return recipe.scaled_lr * (step + 1) / (recipe.warmup_epochs * steps_per_epoch)
    return None


def _cosine(recipe: RecipeSpec, step: int, steps_per_epoch: int) -> float:
    total = recipe.epochs * steps_per_epoch
    start = recipe.warmup_epochs * steps_per_epoch
    return 0.5 * recipe.scaled_lr * (1 + math.cos(math.pi * (step - start) / max(1, total - start)))


def _step(recipe: RecipeSpec, step: int, steps_per_epoch: int) -> float:
    epoch = step / steps_per_epoch
    return recipe.scaled_lr * recipe.gamma ** sum(epoch >= m for m in recipe.milestones)


SCHEDULES: dict[str, Callable[[RecipeSpec, int, int], float]] = {"cosine": _cosine, "step": _step}


def lr_at(recipe: RecipeSpec, step: int, steps_per_epoch: int) -> float:
    """Learning rate at a global step: linear warmup, then the recipe's schedule (per iteration)."""
    warm = _warmup(recipe, step, steps_per_epoch)
    return warm if warm is not None else SCHEDULES[recipe.schedule](recipe, step, steps_per_epoch)


def _cross_entropy(recipe: RecipeSpec) -> Callable:
    return lambda logits, labels: F.cross_entropy(logits.float(), labels, label_smoothing=recipe.label_smoothing)


LOSSES: dict[str, Callable] = {"cross_entropy": _cross_entropy}


def build_optimizer(params, recipe: RecipeSpec, name: str = "sgd") -> torch.optim.Optimizer:
    return OPTIMIZERS[name](params, recipe)


def build_loss(recipe: RecipeSpec, name: str = "cross_entropy") -> Callable:
    return LOSSES[name](recipe)
