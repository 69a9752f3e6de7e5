"""Fixtures only: helpers that test modules import live in tests/support (nothing here is imported)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_intra_op_thread():
    """One torch thread: on a shared, oversubscribed machine OpenMP barriers make tiny ops ~5x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
