import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The tiny test models run faster on one thread, and far faster on a busy machine, where torch's
    thread pool spins waiting for cores (a 32-wide Llama forward: 1 s on 2 busy threads, 25 ms on one)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
