import pytest
import torch

from hrmkit.config import ArchConfig
from hrmkit.data.format import DatasetMetadata, SplitInfo

torch.set_num_threads(2)


def tiny_arch(**overrides) -> ArchConfig:
    values = dict(hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=4,
                  puzzle_emb_ndim=32, expansion=2.0)
    values.update(overrides)
    return ArchConfig(**values)


def fake_meta(vocab_size: int = 6, seq_len: int = 16, num_ids: int = 5) -> DatasetMetadata:
    side = int(seq_len ** 0.5)
    return DatasetMetadata(format_version=1, task="sudoku", seq_len=seq_len, vocab_size=vocab_size, num_puzzle_identifiers=num_ids,
                           grid_shape=(side, side), tokens=[str(i) for i in range(vocab_size)],
                           splits={"train": SplitInfo(total_groups=1, total_puzzles=1, total_examples=1, mean_puzzle_examples=1.0)})


@pytest.fixture
def meta() -> DatasetMetadata:
    return fake_meta()
