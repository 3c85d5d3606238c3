import math

import pytest
import torch

from hrmkit.config import ConfigError, TrainConfig, apply_overrides, make_train_config, preset_names
from hrmkit.models.layers import SparsePuzzleEmbedding
from hrmkit.models.losses import IGNORE_LABEL_ID, act_loss, softmax_cross_entropy, stablemax_cross_entropy
from hrmkit.optim import AdamATan2, SignSGDSparse, lr_at


def test_stablemax_against_hand_values():
    logits = torch.tensor([[[0.0, 1.0, -1.0]]])
    # s = [1, 2, 1/2]; sum 3.5
    loss = stablemax_cross_entropy(logits, torch.tensor([[1]]))
    assert loss.dtype == torch.float64
    assert math.isclose(loss.item(), -math.log(2 / 3.5), rel_tol=1e-12)
    assert stablemax_cross_entropy(logits, torch.tensor([[IGNORE_LABEL_ID]])).item() == 0.0
    sm = softmax_cross_entropy(logits, torch.tensor([[2]]))
    assert math.isclose(sm.item(), -math.log(math.exp(-1) / (1 + math.e + math.exp(-1))), rel_tol=1e-6)


def test_act_loss_normalises_per_sequence_and_weights_q_losses():
    logits = torch.zeros(2, 3, 4)
    logits[0, :, 1] = 5.0  # row 0 predicts 1 everywhere
    labels = torch.tensor([[1, 1, IGNORE_LABEL_ID], [2, 3, 1]])
    outputs = {"logits": logits, "q_halt_logits": torch.tensor([0.5, -0.5]), "q_continue_logits": torch.tensor([0.0, 0.0]),
               "target_q_continue": torch.tensor([0.25, 0.75])}
    total, m = act_loss(outputs, labels, halted=torch.tensor([True, True]), steps=torch.tensor([2, 4]))
    ce = stablemax_cross_entropy(logits, labels)
    lm = ce[0].sum() / 2 + ce[1].sum() / 3
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    q_halt = bce(torch.tensor([0.5, -0.5]), torch.tensor([1.0, 0.0]), reduction="sum")
    q_cont = bce(torch.tensor([0.0, 0.0]), torch.tensor([0.25, 0.75]), reduction="sum")
    assert torch.allclose(total, lm + 0.5 * (q_halt + q_cont))
    assert m["count"].item() == 2 and m["exact_accuracy"].item() == 1  # row 0 right, row 1 wrong
    assert math.isclose(m["accuracy"].item(), 1.0, rel_tol=1e-6)  # row 0: 2/2 right; row 1: zero logits pick token 0, 0/3 right
    assert m["q_halt_accuracy"].item() == 2 and m["steps"].item() == 6
    _, m2 = act_loss(outputs, labels, halted=torch.tensor([False, True]), steps=torch.tensor([2, 4]))
    assert m2["count"].item() == 1 and m2["steps"].item() == 4  # metrics only over halted rows


def test_adam_atan2_matches_its_definition():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    ref = p.detach().clone()
    opt = AdamATan2([p], lr=0.1, betas=(0.9, 0.95), weight_decay=0.5)
    m = torch.zeros(5)
    v = torch.zeros(5)
    for t in range(1, 4):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        ref = ref * (1 - 0.1 * 0.5)
        m = 0.9 * m + 0.1 * g
        v = 0.95 * v + 0.05 * g * g
        ref = ref - 0.1 / (1 - 0.9**t) * torch.atan2(m, torch.sqrt(v) / math.sqrt(1 - 0.95**t))
        assert torch.allclose(p.detach(), ref, atol=1e-6)
    # bounded update: never more than lr * pi/2 / (1 - b1) away, whatever the gradient's size
    q = torch.nn.Parameter(torch.zeros(3))
    q.grad = torch.tensor([1e9, -1e-9, 0.0])
    AdamATan2([q], lr=0.01).step()
    assert q.detach().abs().max().item() <= 0.01 / 0.1 * math.pi / 2 + 1e-6
    assert q[2].item() == 0.0


def _reference_adam_atan2(p0: torch.Tensor, grads: list[torch.Tensor], lrs: list[float], betas: tuple[float, float],
                          wd: float, dtype: torch.dtype) -> torch.Tensor:
    """The ``adam-atan2`` update of hrm-spec.md §4, written out again in float64; the parameter is rounded to
    ``dtype`` after every step, as any optimizer storing it in that dtype must do."""
    b1, b2 = betas
    p = p0.double()
    m = torch.zeros_like(p)
    v = torch.zeros_like(p)
    for t, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        g = g.double()
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1**t) * torch.atan2(m, v.sqrt() / math.sqrt(1 - b2**t))
        p = p.to(dtype).double()
    return p


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_adam_atan2_on_a_matrix_follows_the_reference_formula_step_by_step(dtype):
    """A 2-D parameter, gradients spanning six orders of magnitude, and a learning rate changed between steps
    (as the Trainer's schedule does through param_groups), in fp32 and in bf16 (state kept in the parameter's dtype)."""
    g = torch.Generator().manual_seed(0)
    p0 = (0.1 * torch.randn(6, 5, generator=g)).to(dtype)
    p = torch.nn.Parameter(p0.clone())
    betas, wd = (0.9, 0.95), 1.0  # the Sudoku/Maze weight decay; large enough to show above bf16 rounding
    grads = [(torch.randn(6, 5, generator=g) * 10 ** torch.empty(6, 5).uniform_(-3, 3, generator=g)).to(dtype) for _ in range(6)]
    lrs = [0.01, 0.02, 0.05, 0.05, 0.03, 0.01]
    opt = AdamATan2([p], lr=lrs[0], betas=betas, weight_decay=wd)
    before = p0.double()
    bound = torch.zeros(6, 5, dtype=torch.float64)
    for t in range(1, len(grads) + 1):
        for group in opt.param_groups:
            group["lr"] = lrs[t - 1]
        p.grad = grads[t - 1].clone()
        opt.step()
        want = _reference_adam_atan2(p0, grads[:t], lrs[:t], betas, wd, dtype)
        assert p.dtype == dtype and p.shape == (6, 5)
        got = p.detach().double()
        if dtype == torch.float32:
            assert torch.allclose(got, want, rtol=0, atol=1e-6), t
        else:
            # bf16 keeps 8 significant bits: each step rounds the decayed p, the update (~lr) and the new p,
            # each by at most half a unit in the last place (2^-8 relative); errors carry over to later steps.
            bound += 2.0**-7 * (before.abs() + want.abs() + lrs[t - 1])
            assert ((got - want).abs() <= bound).all(), (t, float(((got - want).abs() / bound).max()))
        before = want
    # The updates are far larger than the tolerances, so a wrong formula cannot pass.
    assert (p.detach().double() - p0.double()).abs().mean() > 0.03


def test_sign_sgd_updates_only_the_touched_rows():
    emb = SparsePuzzleEmbedding(4, 3, cast_to=torch.float32).train()
    with torch.no_grad():
        emb.weights.fill_(1.0)
    out = emb(torch.tensor([1, 1, 3]))
    (out * torch.tensor([[1.0, -1.0, 0.0], [1.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])).sum().backward()
    opt = SignSGDSparse([emb], lr=0.1, weight_decay=0.5)
    opt.step()
    w = emb.weights
    assert torch.equal(w[0], torch.ones(3)) and torch.equal(w[2], torch.ones(3))
    # row 1 summed gradient (2, -1, 0): p (1 - 0.05) - 0.1 sign(g)
    assert torch.allclose(w[1], torch.tensor([0.95 - 0.1, 0.95 + 0.1, 0.95]))
    assert torch.allclose(w[3], torch.tensor([0.95 + 0.1, 0.95, 0.95]))
    opt.zero_grad()
    assert emb.local_weights is None
    emb.eval()
    assert torch.equal(emb(torch.tensor([1])), w[1:2])


def test_lr_schedule():
    assert lr_at(1, 1.0, 10, 100, 1.0) == pytest.approx(0.1)
    assert lr_at(10, 1.0, 10, 100, 1.0) == 1.0 and lr_at(90, 1.0, 10, 100, 1.0) == 1.0  # min ratio 1: constant
    assert lr_at(10, 1.0, 10, 110, 0.1) == pytest.approx(1.0)
    assert lr_at(60, 1.0, 10, 110, 0.1) == pytest.approx(0.55)
    assert lr_at(110, 1.0, 10, 110, 0.1) == pytest.approx(0.1)


def test_config_round_trip_and_overrides(tmp_path):
    cfg = make_train_config("cpu-sudoku-4x4", ["arch.hidden_size=64", "lr=3e-4", "eval_interval=null", "compile=true"])
    assert cfg.arch.hidden_size == 64 and cfg.lr == 3e-4 and cfg.eval_interval is None and cfg.compile
    assert TrainConfig.model_validate_json(cfg.model_dump_json()) == cfg
    path = tmp_path / "c.yaml"
    import yaml
    path.write_text(yaml.safe_dump(cfg.model_dump()))
    assert make_train_config(str(path)) == cfg
    assert {"demo", "sudoku-extreme-1k", "maze-hard-1k"} <= set(preset_names())


@pytest.mark.parametrize("overrides, message", [
    (["arch.hiden_size=3"], "unknown setting 'arch.hiden_size'"),
    (["lr=fast"], "lr: Input should be a valid number"),
    (["lr"], "not of the form key=value"),
    (["arch.name=gpt"], "arch: unknown model 'gpt'; choose hrm"),  # and the other registered names
    (["arch.hidden_size=30"], "hidden_size 30 is not divisible by num_heads 4"),
    (["arch.hidden_size=12", "arch.num_heads=4"], "RoPE needs an even head size"),
])
def test_config_errors_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as e:
        make_train_config("cpu-sudoku-4x4", overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown config 'nope'"):
        make_train_config("nope")
    with pytest.raises(ConfigError, match="no such config file"):
        make_train_config("missing.yaml")


def test_paper_presets_hold_the_published_hyperparameters():
    s = make_train_config("sudoku-extreme-1k")
    assert (s.global_batch_size, s.epochs, s.eval_interval, s.lr, s.puzzle_emb_lr, s.weight_decay, s.puzzle_emb_weight_decay) == \
        (768, 20000, 2000, 1e-4, 1e-4, 1.0, 1.0)
    assert s.arch == type(s.arch)()  # the 27M default architecture
    m = make_train_config("maze-hard-1k")
    assert (m.global_batch_size, m.epochs, m.lr, m.weight_decay) == (768, 20000, 1e-4, 1.0)
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


def test_adam_atan2_init_state_allocates_the_first_steps_zeros_and_changes_no_update():
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    copies = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    early = AdamATan2(weights, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    lazy = AdamATan2(copies, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    early.init_state()
    for w in weights:
        state = early.state[w]
        assert float(state["step"]) == 0 and state["exp_avg"].shape == w.shape
        assert not state["exp_avg"].any() and not state["exp_avg_sq"].any()
    assert not lazy.state  # the usual lazy allocation, for comparison
    for _ in range(3):
        grads = [torch.randn_like(w) for w in weights]
        for w, c, g in zip(weights, copies, grads):
            w.grad, c.grad = g.clone(), g.clone()
        early.step()
        lazy.step()
    for w, c in zip(weights, copies):
        assert torch.equal(w, c)
        assert torch.equal(early.state[w]["exp_avg_sq"], lazy.state[c]["exp_avg_sq"])
        assert float(early.state[w]["step"]) == 3
