"""Fixtures several test files share (opt-in: a file asks for them; nothing here is autouse)."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module's tests, restored afterwards.

    The batches in the tests are small: one thread is faster, and two threads on a busy 2-core machine
    spin-wait for each other (20x slower measured). Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
