"""A recipe's and a runtime's parts by name: optimizers, losses, schedules, precisions, one registry each.

The spec validates its names against these registries (an unknown name is a one-line error that
lists the keys) and the training loop builds from the same entries, so a name cannot be accepted
by one and unknown to the other. A new optimizer or loss is one function and one entry here.
torch is imported inside the builders: loading and planning an ablation never load it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:  # specs.py imports this module's names to validate against them
    from .specs import RecipeSpec


# ---------------------------------------------------------------- optimizers

def _sgd(params, recipe: RecipeSpec, nesterov: bool = False, fused: Optional[bool] = None):
    """SGD with the recipe's momentum and weight decay (Nesterov if the recipe's `nesterov` says so)."""
    import torch

    return torch.optim.SGD(params, lr=recipe.scaled_lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay, nesterov=nesterov or recipe.nesterov, fused=fused)


def _sgd_nesterov(params, recipe: RecipeSpec, fused: Optional[bool] = None):
    return _sgd(params, recipe, nesterov=True, fused=fused)


def _adamw(params, recipe: RecipeSpec, fused: Optional[bool] = None):
    """AdamW (decoupled weight decay = the recipe's weight_decay; torch's default betas and eps)."""
    import torch

    return torch.optim.AdamW(params, lr=recipe.scaled_lr, weight_decay=recipe.weight_decay, fused=fused)


OPTIMIZERS: dict[str, Callable] = {"sgd": _sgd, "sgd-nesterov": _sgd_nesterov, "adamw": _adamw}


def build_optimizer(params, recipe: RecipeSpec, fused: bool = False):
    """The torch optimizer the recipe names, over `params`; `fused`: one fused kernel for the whole
    update (CUDA parameters), else torch's default (foreach on CUDA, a loop on the CPU)."""
    return OPTIMIZERS[recipe.optimizer](params, recipe, fused=True if fused else None)


# ---------------------------------------------------------------- losses

DEFAULT_LABEL_SMOOTHING = 0.1  # what `loss: label-smoothing` smooths by when recipe.label_smoothing is left at 0


def _cross_entropy(recipe: RecipeSpec, smoothing: Optional[float] = None) -> Callable:
    import torch.nn.functional as F

    eps = recipe.label_smoothing if smoothing is None else smoothing
    return lambda logits, labels: F.cross_entropy(logits.float(), labels, label_smoothing=eps)


def _label_smoothing(recipe: RecipeSpec) -> Callable:
    return _cross_entropy(recipe, recipe.label_smoothing or DEFAULT_LABEL_SMOOTHING)


LOSSES: dict[str, Callable] = {"cross-entropy": _cross_entropy, "label-smoothing": _label_smoothing}


def build_loss(recipe: RecipeSpec) -> Callable:
    """The loss the recipe names: a function of (logits, labels)."""
    return LOSSES[recipe.loss](recipe)


# ---------------------------------------------------------------- learning-rate schedules (per iteration)

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


# ---------------------------------------------------------------- precisions

@dataclass(frozen=True)
class Precision:
    """How a precision trains: the autocast dtype (a torch attribute name; None = no autocast), loss scaling."""

    autocast: Optional[str] = None
    grad_scaler: bool = False


PRECISIONS: dict[str, Precision] = {
    "fp32": Precision(),
    "bf16": Precision("bfloat16"),
    "fp16": Precision("float16", grad_scaler=True),
}
