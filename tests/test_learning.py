"""End to end: each architecture learns 4x4 Sudoku from scratch on the CPU (fixed seed, honest thresholds).

Same data, batch and learning-rate schedule for all three; the budgets differ because the models do:
TRM (with EMA) gets there in fewer steps than HRM, the plain transformer needs more.
"""

import json

import pytest

from hrmkit.config import TrainConfig
from hrmkit.data import build as B
from hrmkit.models import parse_model_config
from hrmkit.train import Trainer

ARCHS = {
    # name: (arch, epochs (1000 groups / 64 = 15.6 steps each), extra settings, min exact accuracy, measured with seed 0)
    "hrm": (dict(name="hrm", hidden_size=64, num_heads=4, H_layers=2, L_layers=2, H_cycles=2, L_cycles=2, halt_max_steps=2,
                 puzzle_emb_ndim=0), 40, {}, 0.2, "0.34"),
    "trm": (dict(name="trm", hidden_size=64, num_heads=4, mlp_t=True, pos_encodings="none", L_layers=2, H_cycles=2, L_cycles=2,
                 halt_max_steps=2, puzzle_emb_ndim=0), 24, dict(ema=True, ema_rate=0.99), 0.8, "1.00"),
    "transformer": (dict(name="transformer", hidden_size=64, num_heads=4, num_layers=4, halt_max_steps=2, puzzle_emb_ndim=0), 40, {},
                    0.2, "0.35"),
}


@pytest.fixture(scope="module")
def sudoku4(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "s4"
    B.build(B.make_config("sudoku-4x4", train=1000, test=100, num_aug=8, min_clues=8, seed=0), data, workers=1, progress=False)
    return data


@pytest.mark.parametrize("name", list(ARCHS))
def test_each_architecture_learns_4x4_sudoku(name, sudoku4, tmp_path):
    arch, epochs, extra, min_exact, _measured = ARCHS[name]
    cfg = TrainConfig(data_path=str(sudoku4), arch=parse_model_config(arch), global_batch_size=64, epochs=epochs, eval_interval=None,
                      lr=3e-3, lr_min_ratio=0.1, lr_warmup_steps=50, weight_decay=0.1, seed=0, run_dir=str(tmp_path / "run"),
                      tensorboard=False, log_every=25, **extra)
    trainer = Trainer(cfg, progress=False)
    summary = trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    # Loss falls and accuracy rises over training.
    assert train[-1]["lm_loss"] < 0.5 * train[0]["lm_loss"]
    assert train[-1]["accuracy"] > train[0]["accuracy"] + 0.2
    # Held-out puzzles (never in training) solved exactly. Chance is ~4^-8.
    assert summary["eval"]["exact_accuracy"] > min_exact, summary["eval"]
    assert summary["eval"]["accuracy"] > 0.85
