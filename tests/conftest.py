"""Shared test helpers."""
import pytest
import torch

from resnext_bench.config.spec import ModelSpec


@pytest.fixture(autouse=True, scope="module")
def one_intra_op_thread():
    """One torch thread: on a shared, oversubscribed machine OpenMP barriers make tiny ops ~5x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def small_spec(template: str, cardinality: int, width: int, **overrides) -> ModelSpec:
    """A reduced-width spec: whole networks run (and trace through fvcore) in milliseconds."""
    fields = dict(base_planes=8, stem_width=8, num_classes=10)
    fields.update(overrides)
    return ModelSpec(template, cardinality, width, **fields)
