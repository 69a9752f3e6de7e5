"""The training step without host synchronisation (engine/train.py): the epoch's sums accumulate on the
device and are read once per log interval, with the same roundings as the host's step-by-step sums (so
exact resume holds), a non-finite loss is still found with its step, and GPUs get the fused optimizer."""
from __future__ import annotations

import torch

from resnext_bench.config.registries import build_optimizer
from resnext_bench.config.specs import RecipeSpec
from resnext_bench.engine.sums import DeviceSums, EpochSums


def steps(n: int, seed: int = 0):
    """n steps of (loss, logits, labels) as a training step makes them (float32 loss, batch 7)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        logits = torch.randn(7, 10, generator=g)
        labels = torch.randint(0, 10, (7,), generator=g)
        yield torch.nn.functional.cross_entropy(logits, labels), logits, labels


def test_device_sums_are_the_hosts_step_by_step_sums_bit_for_bit_whenever_read():
    host = EpochSums(loss=0.1, correct=3.0)  # an epoch resumed with sums already in it
    sums = EpochSums(loss=0.1, correct=3.0)
    device = DeviceSums(sums, torch.device("cpu"))
    for i, (loss, logits, labels) in enumerate(steps(40)):
        host.loss += loss.item() * labels.numel()  # what the step did before: a sync every step
        host.correct += (logits.argmax(1) == labels).sum().item()
        device.add(loss, logits, labels, step=i)
        if i % 7 == 3:  # a read (a log line, a checkpoint) in the middle changes nothing after it
            assert device.read(sums) is None
    assert device.read(sums) is None
    assert sums.loss == host.loss and sums.correct == host.correct  # equal, not close


def test_the_first_non_finite_loss_is_found_with_its_step_at_the_next_read():
    sums = EpochSums()
    device = DeviceSums(sums, torch.device("cpu"))
    for i, (loss, logits, labels) in enumerate(steps(6)):
        device.add(loss * float("nan") if i in (3, 5) else loss, logits, labels, step=100 + i)
    assert device.read(sums) == 103  # the first of the two
    assert sums.correct >= 0 and sums.loss != sums.loss  # the NaN reached the running loss


def test_a_gpu_run_gets_the_fused_optimizer_and_a_cpu_run_torchs_default():
    params = [torch.nn.Parameter(torch.randn(4))]
    for name in ("sgd", "sgd-nesterov", "adamw"):
        recipe = RecipeSpec(name="short", optimizer=name, lr=0.001 if name == "adamw" else 0.1)
        assert build_optimizer(params, recipe, fused=True).defaults["fused"] is True
        assert not build_optimizer(params, recipe).defaults["fused"]
