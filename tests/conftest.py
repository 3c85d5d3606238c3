import property_settings
import pytest
import torch

from hrmkit.models import HRMConfig

torch.set_num_threads(2)


def pytest_configure(config: pytest.Config) -> None:
    try:
        property_settings.load()  # before any test module is imported: their settings objects inherit the profile
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def tiny_arch(**overrides) -> HRMConfig:
    values = dict(hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=4,
                  puzzle_emb_ndim=32, expansion=2.0)
    values.update(overrides)
    return HRMConfig(**values)


# Sizes of a tiny task for model tests: build_model(tiny_arch(), **TINY).
TINY = dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=5)


@pytest.fixture
def single_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy 2-core machine its spin-waits cost 10-100x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
