"""TRM, the plain transformer baseline and the EMA helper: sizes, the gradient path, ACT rules, EMA, presets."""

from __future__ import annotations

import math
from typing import Literal

import pytest
import torch
from safetensors.torch import load_file, save_file

from hrmkit.config import make_train_config
from hrmkit.ema import EMA
from hrmkit.models import HRMConfig, ModelConfig, TransformerConfig, TRMConfig, build_model, count_parameters
from hrmkit.models.configs import puzzle_prefix_len
from hrmkit.models.layers import PostNormMixerBlock, ReasoningModule, rms_norm
from hrmkit.models.losses import act_loss
from tests.reference_init import assert_reference_init, assert_shapes

B, SEQ, VOCAB = 4, 16, 6


pytestmark = pytest.mark.usefixtures("single_thread")  # conftest: tiny tensors run faster on one thread


def small_trm(**overrides) -> TRMConfig:
    values = dict(hidden_size=32, num_heads=4, L_layers=2, H_cycles=3, L_cycles=2, puzzle_emb_ndim=32, halt_max_steps=4,
                  halt_exploration_prob=0.0, forward_dtype="float32")
    values.update(overrides)
    return TRMConfig(**values)


def small_transformer(**overrides) -> TransformerConfig:
    values = dict(hidden_size=32, num_heads=4, num_layers=2, puzzle_emb_ndim=32, halt_max_steps=4, halt_exploration_prob=0.0,
                  forward_dtype="float32")
    values.update(overrides)
    return TransformerConfig(**values)


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"inputs": torch.randint(1, VOCAB, (B, SEQ), generator=g, dtype=torch.int32),
            "labels": torch.randint(1, VOCAB, (B, SEQ), generator=g, dtype=torch.int32),
            "puzzle_identifiers": torch.zeros(B, dtype=torch.int32)}


def set_q_bias(model, halt: float, cont: float) -> None:
    with torch.no_grad():
        model.core.q_head.weight.zero_()
        model.core.q_head.bias.copy_(torch.tensor([halt, cont]))


# --------------------------------------------------------------------------- sizes and shapes


def test_parameter_counts_equal_the_reference_builders():
    sudoku = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    assert count_parameters(build_model(TRMConfig(mlp_t=True, pos_encodings="none"), **sudoku)) == 5_028_866  # TRM-MLP
    assert count_parameters(build_model(TRMConfig(), **sudoku)) == 6_828_034  # TRM-Att
    assert count_parameters(build_model(TRMConfig(L_cycles=4), vocab_size=6, seq_len=900)) == 6_822_914  # Maze TRM-Att
    hrm = count_parameters(build_model(HRMConfig(), **sudoku))
    assert hrm == 27_275_266
    assert count_parameters(build_model(TransformerConfig(num_layers=8), **sudoku)) == hrm  # the matched baseline


def test_trm_shapes_prefix_and_initial_heads():
    model = build_model(small_trm(), VOCAB, SEQ, 1)
    core = model.core
    assert core.puzzle_emb_len == 16 and core.total_len == SEQ + 16
    assert not core.has_q_continue
    assert torch.equal(core.q_head.weight, torch.zeros(2, 32)) and torch.equal(core.q_head.bias, torch.full((2,), -5.0))
    assert {"H_init", "L_init", "puzzle_emb.weights"} <= {n for n, _ in core.named_buffers()}  # fixed, not parameters
    with torch.no_grad():
        core.puzzle_emb.weights.fill_(1.0)
    batch = make_batch()
    x = core.embed(batch["inputs"], batch["puzzle_identifiers"])
    assert x.shape == (B, SEQ + 16, 32)
    assert (x[:, 0] != 0).all() and (x[:, 1:16] == 0).all()  # the puzzle vector at position 0, zeros at 1..15
    carry, out = model(model.initial_carry(batch), batch)
    assert [s.shape for s in carry.state] == [(B, SEQ + 16, 32)] * 2 and not any(s.requires_grad for s in carry.state)
    assert out["logits"].shape == (B, SEQ, VOCAB) and out["q_halt_logits"].shape == (B,) and out["q_halt_logits"].dtype == torch.float32


CHANNEL_BLOCK = {"mlp.gate_up_proj.weight": (3072, 512), "mlp.down_proj.weight": (512, 1536)}  # SwiGLU inter 1536
ATTENTION = {"attn.qkv_proj.weight": (1536, 512), "attn.o_proj.weight": (512, 512)}  # fused q, k, v: 3 x 8 heads x 64
IO = {"core.embed_tokens.weight": (11, 512), "core.lm_head.weight": (11, 512), "core.q_head.weight": (2, 512), "core.q_head.bias": (2,)}


@pytest.mark.parametrize("variant", ["trm-att", "trm-mlp", "transformer"])
def test_reference_models_have_the_reference_shapes_by_name_and_init(variant):
    """trm-spec.md §1.3-1.7 on Sudoku (vocab 11, 81 cells, one puzzle id): every parameter and buffer by name and
    shape, each initialised as the reference does. TRM has 16 prefix positions (97 in all); its MLP variant mixes
    positions with a SwiGLU of width round_up_256(round(4 * 97 * 2/3)) = 512; the baseline has HRM's 1 prefix position."""
    torch.manual_seed(0)
    sudoku = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    if variant == "transformer":
        model = build_model(TransformerConfig(forward_dtype="float32"), **sudoku)
        blocks = {f"core.layers.{i}.{k}": s for i in range(8) for k, s in (ATTENTION | CHANNEL_BLOCK).items()}
        states, positions = {"core.H_init": (512,)}, 82
    else:
        mlp_t = variant == "trm-mlp"
        model = build_model(TRMConfig(mlp_t=mlp_t, pos_encodings="none" if mlp_t else "rope", forward_dtype="float32"), **sudoku)
        mixer = {"mlp_t.gate_up_proj.weight": (1024, 97), "mlp_t.down_proj.weight": (97, 512)} if mlp_t else ATTENTION
        blocks = {f"core.net.layers.{i}.{k}": s for i in range(2) for k, s in (mixer | CHANNEL_BLOCK).items()}
        states, positions = {"core.H_init": (512,), "core.L_init": (512,)}, 97
    buffers = states | {"core.puzzle_emb.weights": (1, 512)}
    rope = {} if variant == "trm-mlp" else {"core.rotary.cos": (positions, 64), "core.rotary.sin": (positions, 64)}
    assert_shapes(model, IO | blocks, buffers, rope)
    assert_reference_init(model.core, 512)
    core = model.core
    inputs = torch.randint(0, 11, (2, 81), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        core.puzzle_emb.weights.normal_()
        x = core.embed(inputs, torch.zeros(2, dtype=torch.int32))
    prefix = positions - 81
    # sqrt(512) x [puzzle vector; zeros for the other prefix positions; token embeddings]
    assert torch.allclose(x[:, 0], math.sqrt(512) * core.puzzle_emb.weights[0].expand(2, 512))
    assert (x[:, 1:prefix] == 0).all()
    assert torch.allclose(x[:, prefix:], math.sqrt(512) * core.embed_tokens.weight[inputs])


def test_config_rejects_what_the_model_cannot_build():
    with pytest.raises(ValueError, match="num_heads"):
        TRMConfig(hidden_size=30, num_heads=4)
    TRMConfig(hidden_size=30, num_heads=4, mlp_t=True, pos_encodings="none", puzzle_emb_ndim=30)  # no attention, no head constraint
    with pytest.raises(ValueError, match="does not fit"):
        TRMConfig(hidden_size=32, puzzle_emb_ndim=64, puzzle_emb_len=1)
    assert TRMConfig(hidden_size=32, puzzle_emb_ndim=64, puzzle_emb_len=0).prefix_len == 2  # 0: ceil(ndim / D), as HRM


def test_every_block_model_takes_the_same_prefix_ceiling():
    assert [puzzle_prefix_len(n, 32) for n in (0, 1, 32, 33, 64)] == [0, 1, 1, 2, 2]
    assert HRMConfig(hidden_size=32, num_heads=2, puzzle_emb_ndim=48).prefix_len == 2
    assert TransformerConfig(hidden_size=32, num_heads=2, puzzle_emb_ndim=48).prefix_len == 2
    assert build_model(small_transformer(puzzle_emb_ndim=48), VOCAB, SEQ, 1).core.puzzle_emb_len == 2


def test_hrm_and_trm_recurse_through_one_module_class_with_the_checkpoint_key_names():
    hrm = build_model(HRMConfig(hidden_size=32, num_heads=2, H_layers=2, L_layers=1, puzzle_emb_ndim=0), VOCAB, SEQ, 1).core
    trm = build_model(small_trm(mlp_t=True, pos_encodings="none"), VOCAB, SEQ, 1).core
    assert type(hrm.H_level) is type(hrm.L_level) is type(trm.net) is ReasoningModule
    assert isinstance(trm.net.layers[0], PostNormMixerBlock) and len(hrm.H_level.layers) == 2
    keys = set(hrm.state_dict()) | set(trm.state_dict())
    assert {"H_level.layers.1.mlp.down_proj.weight", "L_level.layers.0.attn.qkv_proj.weight", "net.layers.1.mlp_t.gate_up_proj.weight"} <= keys


class _PlugInConfig(ModelConfig):
    name: Literal["plug-in-describe"] = "plug-in-describe"


def test_each_model_config_describes_itself():
    assert HRMConfig().describe(27_275_266) == ("HRM (27,275,266 parameters: hidden 512, 4+4 layers, 2x2 cycles, "
                                                 "up to 16 ACT segments)")
    assert TRMConfig(mlp_t=True, pos_encodings="none").describe(5_028_866) == (
        "TRM (5,028,866 parameters: one 2-layer MLP-mixer net of width 512, T=3 x n=6 recursions, up to 16 ACT segments)")
    assert TRMConfig(halt_max_steps=4).describe(10) == ("TRM (10 parameters: one 2-layer attention net of width 512, "
                                                        "T=3 x n=6 recursions, up to 4 ACT segments)")
    assert TransformerConfig().describe(27_275_266) == ("transformer baseline (27,275,266 parameters: 8 layers of width 512, "
                                                         "no recursion, up to 16 ACT segments)")
    assert _PlugInConfig(halt_max_steps=3).describe(1234) == "plug-in-describe (1,234 parameters, up to 3 ACT segments)"


# --------------------------------------------------------------------------- the recursion and its gradient


def _hand_segment(core, y, z, x, with_grad_processes: int):
    """TRM's segment written out: the first T - with_grad_processes processes as detached constants."""
    T, n = core.cfg.H_cycles, core.cfg.L_cycles
    net = core.net
    for j in range(T):
        with torch.set_grad_enabled(j >= T - with_grad_processes):
            for _ in range(n):
                z = net(z, y + x, None)
            y = net(y, z, None)
    return core.lm_head(y)[:, core.puzzle_emb_len:], core.q_head(y[:, 0]).float()


def test_gradient_flows_only_through_the_last_recursion_process():
    torch.manual_seed(0)
    model = build_model(small_trm(pos_encodings="none"), VOCAB, SEQ, 1)
    core = model.core
    batch = make_batch()
    x0 = core.embed(batch["inputs"], batch["puzzle_identifiers"]).detach()

    def grads(run):
        x = x0.clone().requires_grad_(True)
        y0 = core.H_init.expand(B, core.total_len, -1).clone().requires_grad_(True)
        z0 = core.L_init.expand(B, core.total_len, -1).clone().requires_grad_(True)
        logits, q = run(y0, z0, x)
        (logits.square().sum() + q.sum()).backward()
        return x.grad, y0.grad, z0.grad

    def ours(y0, z0, x):
        out = core((y0, z0), x)
        return out.logits, torch.stack([out.q_halt, out.q_continue], -1)

    gx, gy0, gz0 = grads(ours)
    hx, _, _ = grads(lambda y0, z0, x: _hand_segment(core, y0, z0, x, with_grad_processes=1))
    fx, fy0, _ = grads(lambda y0, z0, x: _hand_segment(core, y0, z0, x, with_grad_processes=core.cfg.H_cycles))
    assert gy0 is None and gz0 is None  # the initial states (and the incoming carry) get no gradient
    torch.testing.assert_close(gx, hx, rtol=0, atol=0)
    assert fy0 is not None and not torch.allclose(gx, fx)  # the hand check would notice gradients through all T processes


def test_latent_then_answer_updates_use_one_network():
    # y + x goes into the z update, z alone into the y update: one process by hand equals latent_recursion.
    torch.manual_seed(0)
    core = build_model(small_trm(L_cycles=3), VOCAB, SEQ, 1).core
    y, z, x = (torch.randn(B, core.total_len, 32) for _ in range(3))
    rope = core.rope()
    zz = z
    for _ in range(3):
        zz = core.net(zz, y + x, rope)
    yy = core.net(y, zz, rope)
    got_y, got_z = core.latent_recursion(x, y, z, rope)
    torch.testing.assert_close(got_y, yy, rtol=0, atol=0)
    torch.testing.assert_close(got_z, zz, rtol=0, atol=0)
    assert len(core.net.layers) == 2 and not hasattr(core, "H_level")


def test_mlp_t_normalises_the_token_half_over_the_sequence_axis():
    torch.manual_seed(0)
    L, D = 10, 8
    block = PostNormMixerBlock(L, D, expansion=4.0, eps=1e-5)
    assert block.mlp_t.gate_up_proj.weight.shape == (2 * 256, L)  # SwiGLU over positions: its width is L
    with torch.no_grad():  # make both MLPs output 0: the block is then just its two norms
        block.mlp_t.down_proj.weight.zero_()
        block.mlp.down_proj.weight.zero_()
    h = torch.randn(2, L, D) * torch.linspace(0.5, 3.0, L)[:, None]
    out = block(h)
    over_sequence = h * torch.rsqrt(h.square().mean(1, keepdim=True) + 1e-5)  # each channel normalised over L
    torch.testing.assert_close(out, rms_norm(over_sequence, 1e-5))
    assert not torch.allclose(out, rms_norm(h, 1e-5), atol=1e-3)  # normalising over D first would differ
    # the Sudoku TRM-MLP: positions 81 + 16 = 97, token SwiGLU width round_up_256(259) = 512
    sudoku = build_model(TRMConfig(mlp_t=True, pos_encodings="none"), 11, 81, 1).core
    assert sudoku.net.layers[0].mlp_t.gate_up_proj.weight.shape == (1024, 97) and sudoku.rotary is None


# --------------------------------------------------------------------------- ACT rules


def test_trm_has_no_continue_target_and_halts_on_q_halt_above_zero():
    model = build_model(small_trm(), VOCAB, SEQ, 1)
    batch = make_batch()
    model.train()
    # q_halt = -1 < 0 but > q_continue = -5: TRM goes on (HRM's rule would halt).
    set_q_bias(model, -1.0, -5.0)
    carry, out = model(model.initial_carry(batch), batch)
    assert "target_q_continue" not in out and not carry.halted.any()
    loss, metrics = act_loss(out, carry.data["labels"], carry.halted, carry.steps)
    assert "q_continue_loss" not in metrics
    torch.testing.assert_close(loss, metrics["lm_loss"] + 0.5 * metrics["q_halt_loss"].double(), rtol=1e-12, atol=0)
    loss.backward()
    assert model.core.q_head.weight.grad is not None and model.core.q_head.weight.grad[1].abs().sum() == 0  # continue row unused
    # q_halt = +1 > 0: every slot halts after one segment, although q_continue is larger.
    set_q_bias(model, 1.0, 5.0)
    carry, _ = model(model.initial_carry(batch), batch)
    assert carry.halted.all() and (carry.steps == 1).all()
    # evaluation never halts early
    model.eval()
    with torch.no_grad():
        carry = model.initial_carry(batch)
        for step in range(1, 5):
            carry, _ = model(carry, batch)
            assert carry.halted.all() == (step == 4)


def test_trm_with_act_continue_uses_hrms_rule_and_target():
    model = build_model(small_trm(no_ACT_continue=False), VOCAB, SEQ, 1)
    assert model.core.has_q_continue
    batch = make_batch()
    model.train()
    set_q_bias(model, -1.0, -5.0)  # q_halt > q_continue: halt, although q_halt < 0
    carry, out = model(model.initial_carry(batch), batch)
    assert carry.halted.all()
    assert "target_q_continue" in out and out["target_q_continue"].shape == (B,)
    _, metrics = act_loss(out, carry.data["labels"], carry.halted, carry.steps)
    assert "q_continue_loss" in metrics


@pytest.mark.parametrize("mlp_t", [False, True])
def test_trm_trains_and_evaluates_under_the_act_loop(mlp_t):
    model = build_model(small_trm(mlp_t=mlp_t, pos_encodings="none" if mlp_t else "rope", halt_exploration_prob=0.1), VOCAB, SEQ, 1)
    batch = make_batch()
    model.train()
    carry = model.initial_carry(batch)
    for _ in range(3):
        carry, out = model(carry, batch)
        loss, _ = act_loss(out, carry.data["labels"], carry.halted, carry.steps)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        assert model.core.puzzle_emb.local_weights.grad is not None
        model.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():
        carry, out = model(model.initial_carry(batch), batch)
    assert torch.isfinite(out["logits"]).all()


# --------------------------------------------------------------------------- the transformer baseline


def test_transformer_without_deep_supervision_is_one_plain_pass():
    torch.manual_seed(0)
    model = build_model(small_transformer(halt_max_steps=1), VOCAB, SEQ, 1)
    core = model.core
    assert core.puzzle_emb_len == 1 and core.has_q_continue
    batch = make_batch()
    model.train()
    carry = model.initial_carry(batch)
    carry, first = model(carry, batch)
    assert carry.halted.all() and "target_q_continue" not in first  # one segment: nothing to bootstrap from
    loss, _ = act_loss(first, carry.data["labels"], carry.halted, carry.steps)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "q_head" not in n)
    # every segment restarts from H_init: the second segment equals a fresh first segment on its batch
    carry, second = model(carry, make_batch(1))
    _, fresh = model(model.initial_carry(make_batch(1)), make_batch(1))
    torch.testing.assert_close(second["logits"], fresh["logits"], rtol=0, atol=0)


def test_transformer_with_deep_supervision_carries_its_hidden_state():
    torch.manual_seed(0)
    model = build_model(small_transformer(halt_max_steps=3), VOCAB, SEQ, 1)
    core = model.core
    batch = make_batch()
    model.train()
    set_q_bias(model, -5.0, 5.0)  # never halt early
    carry, first = model(model.initial_carry(batch), batch)
    assert not carry.halted.any() and "target_q_continue" in first  # HRM's Q-learning ACT by default
    (h,) = carry.state
    assert h.shape == (B, SEQ + 1, 32) and not h.requires_grad
    carry2, second = model(carry, make_batch(1))  # unhalted slots keep their example ...
    assert torch.equal(carry2.data["inputs"], batch["inputs"]) and (carry2.steps == 2).all()
    # ... and continue from the carried state: by hand, h2 = blocks(h1 + x)
    x = core.embed(batch["inputs"], batch["puzzle_identifiers"])
    h2 = h + x
    for layer in core.layers:
        h2 = layer(h2, core.rope())
    torch.testing.assert_close(carry2.state[0], h2.detach())
    assert not torch.allclose(first["logits"], second["logits"])
    carry3, _ = model(carry2, batch)
    assert carry3.halted.all()  # halt_max_steps


# --------------------------------------------------------------------------- EMA


def test_ema_update_apply_restore_and_state_dict(tmp_path):
    torch.manual_seed(0)
    model = build_model(small_trm(), VOCAB, SEQ, 1)
    ema = EMA(model, rate=0.9)
    names = {n for n, _ in model.named_parameters()}
    assert set(ema.state_dict()) == names  # buffers (H_init, L_init, the puzzle table) are not averaged
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for n, p in model.named_parameters():
        assert torch.equal(ema.shadow[n], 0.1 * p.detach() + 0.9 * start[n])  # the reference's expression, bit for bit
    raw = {n: p.detach().clone() for n, p in model.named_parameters()}
    table = model.core.puzzle_emb.weights.clone()
    with ema.applied(model):
        for n, p in model.named_parameters():
            assert torch.equal(p, ema.shadow[n])
        assert torch.equal(model.core.puzzle_emb.weights, table)
    for n, p in model.named_parameters():
        assert torch.equal(p, raw[n])
    with pytest.raises(RuntimeError), ema.applied(model):
        raise RuntimeError("evaluation failed")
    assert all(torch.equal(p, raw[n]) for n, p in model.named_parameters())  # restored on errors too
    save_file(ema.state_dict(), str(tmp_path / "ema.safetensors"))
    other = EMA(model, rate=0.9)
    other.load_state_dict(load_file(str(tmp_path / "ema.safetensors")))
    assert all(torch.equal(other.shadow[n], ema.shadow[n]) for n in names)
    with pytest.raises(ValueError, match="does not fit"):
        other.load_state_dict({"nope": torch.zeros(1)})


def test_ema_unwraps_compiled_and_ddp_style_wrappers():
    model = build_model(small_trm(), VOCAB, SEQ, 1)

    class Wrapper(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

    assert set(EMA(Wrapper(model)).state_dict()) == set(EMA(model).state_dict())


# --------------------------------------------------------------------------- presets


def test_trm_presets_hold_the_published_hyperparameters():
    schedule = ("global_batch_size", "epochs", "eval_interval", "lr", "lr_min_ratio", "lr_warmup_steps", "puzzle_emb_lr",
                "weight_decay", "puzzle_emb_weight_decay", "ema", "ema_rate")
    readme = (768, 50000, 5000, 1e-4, 1.0, 2000, 1e-4, 1.0, 1.0, True, 0.999)  # TRM README (not the paper's 60k epochs)
    mlp = make_train_config("trm-sudoku-extreme-1k")
    att = make_train_config("trm-att-sudoku-extreme-1k")
    maze = make_train_config("trm-maze-hard-1k")
    for cfg in (mlp, att, maze):
        assert tuple(getattr(cfg, k) for k in schedule) == readme
        assert (cfg.arch.name, cfg.arch.hidden_size, cfg.arch.L_layers, cfg.arch.H_cycles, cfg.arch.halt_max_steps) == ("trm", 512, 2, 3, 16)
        assert (cfg.arch.puzzle_emb_ndim, cfg.arch.puzzle_emb_len, cfg.arch.no_ACT_continue) == (512, 16, True)
    assert (mlp.data_preset, mlp.arch.mlp_t, mlp.arch.pos_encodings, mlp.arch.L_cycles) == ("sudoku-extreme-1k", True, "none", 6)
    assert (att.data_preset, att.arch.mlp_t, att.arch.pos_encodings, att.arch.L_cycles) == ("sudoku-extreme-1k", False, "rope", 6)
    assert (maze.data_preset, maze.arch.mlp_t, maze.arch.pos_encodings, maze.arch.L_cycles) == ("maze-hard-1k", False, "rope", 4)
    base = make_train_config("transformer-sudoku-extreme-1k")
    hrm = make_train_config("sudoku-extreme-1k")
    assert base.model_dump(exclude={"arch"}) == hrm.model_dump(exclude={"arch"})  # HRM's data and schedule
    assert (base.arch.name, base.arch.num_layers, base.arch.hidden_size, base.arch.halt_max_steps) == ("transformer", 8, 512, 16)
    hrm4 = make_train_config("cpu-sudoku-4x4")
    for name, arch in (("cpu-sudoku-4x4-trm", "trm"), ("cpu-sudoku-4x4-transformer", "transformer")):
        cpu = make_train_config(name)
        assert cpu.arch.name == arch
        assert cpu.model_dump(exclude={"arch", "ema", "ema_rate"}) == hrm4.model_dump(exclude={"arch", "ema", "ema_rate"})


@pytest.mark.parametrize("preset", ["cpu-sudoku-4x4-trm", "cpu-sudoku-4x4-transformer"])
def test_train_eval_solve_plot_work_unchanged_for_every_architecture(preset, tmp_path, capsys):
    """The same `hrm` commands drive TRM and the baseline; `hrm solve` shows the answer (TRM's y) at every step."""
    from hrmkit.cli import main
    from hrmkit.data import build as B

    data = tmp_path / "s4"
    B.build(B.make_config("sudoku-4x4", train=64, test=16, num_aug=1), data, workers=1, progress=False)
    run = tmp_path / "run"
    assert main(["train", preset, f"data_path={data}", "arch.hidden_size=32", "--run-dir", str(run), "--max-steps", "3", "--quiet"]) == 0
    assert main(["eval", str(run), str(data), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["solve", str(run), "--dataset", str(data), "--index", "1"]) == 0
    trace = capsys.readouterr().out
    assert "segment 1:" in trace and "segment 2:" in trace and "answer after the last segment run (2)" in trace
    assert main(["plot", str(run)]) == 0
    assert (run / "curves.png").stat().st_size > 0
