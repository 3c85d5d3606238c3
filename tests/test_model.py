import math

import pytest
import torch

from hrmkit.models import ACTModel, CoreOutput, HRMConfig, build_model, count_parameters
from hrmkit.models.layers import _truncated_std, swiglu_width, trunc_normal_
from tests.conftest import TINY, tiny_arch
from tests.reference_init import assert_reference_init, assert_shapes


def batch(B=3, seq_len=16, vocab=6, num_ids=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "inputs": torch.randint(1, vocab, (B, seq_len), generator=g, dtype=torch.int32),
        "labels": torch.randint(2, vocab, (B, seq_len), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.randint(0, num_ids, (B,), generator=g, dtype=torch.int32),
    }


def test_paper_27m_parameter_count():
    model = build_model(HRMConfig(), vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    assert count_parameters(model) == 27_275_266  # Sudoku, HRM paper / reference log
    core = model.core
    assert swiglu_width(512, 4) == 1536
    assert core.puzzle_emb_len == 1 and core.total_len == 82
    assert count_parameters(build_model(HRMConfig(), vocab_size=6, seq_len=900)) == 27_270_146


BLOCK_SHAPES = {"attn.qkv_proj.weight": (1536, 512), "attn.o_proj.weight": (512, 512),  # fused q, k, v: 3 x 8 heads x 64
                "mlp.gate_up_proj.weight": (3072, 512), "mlp.down_proj.weight": (512, 1536)}  # SwiGLU inter 1536


@pytest.mark.usefixtures("single_thread")
def test_paper_model_has_the_reference_shapes_by_name_and_init():
    """hrm-spec.md §1 (Sudoku: vocab 11, 81 cells, one puzzle id): every parameter and buffer by name and shape,
    each initialised as the reference does (truncated LeCun, Q head 0 / -5, zero puzzle table, fixed H/L init)."""
    torch.manual_seed(0)
    model = build_model(HRMConfig(forward_dtype="float32"), vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    params = {"core.embed_tokens.weight": (11, 512), "core.lm_head.weight": (11, 512), "core.q_head.weight": (2, 512),
              "core.q_head.bias": (2,)}
    params |= {f"core.{level}.layers.{i}.{k}": shape for level in ("H_level", "L_level") for i in range(4) for k, shape in BLOCK_SHAPES.items()}
    buffers = {"core.H_init": (512,), "core.L_init": (512,), "core.puzzle_emb.weights": (1, 512)}
    rope = {"core.rotary.cos": (82, 64), "core.rotary.sin": (82, 64)}  # puzzle position + 81 cells, head size 64
    assert_shapes(model, params, buffers, rope)
    assert_reference_init(model.core, 512)

    # Input embedding: sqrt(512) x [puzzle vector; token embeddings].
    core = model.core
    inputs = torch.randint(0, 11, (3, 81), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        core.puzzle_emb.weights.normal_()
        x = core.embed(inputs, torch.zeros(3, dtype=torch.int32))
    assert x.shape == (3, 82, 512)
    assert torch.allclose(x[:, 0], math.sqrt(512) * core.puzzle_emb.weights[0].expand(3, 512))
    assert torch.allclose(x[:, 1:], math.sqrt(512) * core.embed_tokens.weight[inputs])


def test_learned_positions_are_added_at_one_over_sqrt_two_before_the_scale():
    torch.manual_seed(0)
    model = build_model(tiny_arch(pos_encodings="learned", forward_dtype="float32"), **TINY)
    core = model.core
    assert tuple(core.embed_pos.weight.shape) == (17, 32) and core.rotary is None
    assert_reference_init(core, 32)
    b = batch()
    with torch.no_grad():
        x = core.embed(b["inputs"], b["puzzle_identifiers"])
    tokens = torch.cat([torch.zeros(3, 1, 32), core.embed_tokens.weight[b["inputs"].long()]], dim=1)
    assert torch.allclose(x, math.sqrt(32) * 0.70710678 * (tokens + core.embed_pos.weight), atol=1e-5)


def test_shapes_and_initial_q():
    torch.manual_seed(0)
    model = build_model(tiny_arch(), **TINY)
    b = batch()
    carry = model.initial_carry(b)
    assert carry.halted.all()
    carry, out = model(carry, b)
    assert out["logits"].shape == (3, 16, 6)
    assert out["q_halt_logits"].shape == (3,) and out["q_continue_logits"].shape == (3,)
    assert torch.allclose(out["q_halt_logits"], torch.full((3,), -5.0))  # q head: weight 0, bias -5
    assert carry.state[0].shape == (3, 17, 32)  # one puzzle-embedding prefix position
    assert not carry.state[0].requires_grad and not carry.state[1].requires_grad


def test_truncated_normal_has_the_requested_std():
    t = trunc_normal_(torch.empty(200_000), std=0.5)
    assert abs(t.std().item() - 0.5) < 0.005
    assert t.abs().max().item() <= 2 * 0.5 / _truncated_std(-2, 2) + 1e-6
    assert math.isclose(_truncated_std(-2, 2), 0.8796, abs_tol=1e-4)


def test_gradient_flows_only_through_the_last_step():
    """The 1-step gradient: the initial state gets no gradient, and the gradient w.r.t. the input
    embedding equals that of a model whose earlier cycles are replaced by detached constants."""
    torch.manual_seed(0)
    model = build_model(tiny_arch(H_cycles=3, L_cycles=3), **TINY)
    core = model.core
    b = batch()
    x = core.embed(b["inputs"], b["puzzle_identifiers"]).detach().requires_grad_(True)
    z_H = core.H_init.expand(3, 17, 32).clone().requires_grad_(True)
    z_L = core.L_init.expand(3, 17, 32).clone().requires_grad_(True)
    (_, logits, _q_halt, _) = core((z_H, z_L), x)
    logits.sum().backward()
    assert z_H.grad is None and z_L.grad is None  # nothing reaches the initial states
    grad_model = x.grad.clone()

    # The same computation by hand: run the no-grad part, then the last L and H calls.
    x2 = x.detach().clone().requires_grad_(True)
    rope = core.rotary()
    with torch.no_grad():
        h, l = z_H.detach(), z_L.detach()
        for i in range(3):
            for j in range(3):
                if (i, j) != (2, 2):
                    l = core.L_level(l, h + x2, rope)
            if i != 2:
                h = core.H_level(h, l, rope)
    l = core.L_level(l, h + x2, rope)
    h = core.H_level(h, l, rope)
    core.lm_head(h)[:, 1:].sum().backward()
    assert torch.allclose(grad_model, x2.grad, atol=1e-6)


def _saved_bytes(model, b) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        carry = model.initial_carry(b)
        carry, _out = model(carry, b)
    return total


def test_memory_for_backward_does_not_grow_with_cycles():
    b = batch()
    model_small = build_model(tiny_arch(H_cycles=1, L_cycles=1), **TINY).eval()
    model_deep = build_model(tiny_arch(H_cycles=4, L_cycles=6), **TINY).eval()
    small, deep = _saved_bytes(model_small, b), _saved_bytes(model_deep, b)
    assert small > 0 and deep == small


def test_act_resets_halted_slots_and_keeps_the_others():
    torch.manual_seed(0)
    model = build_model(tiny_arch(), **TINY).eval()
    b1, b2 = batch(seed=1), batch(seed=2)
    carry, _ = model(model.initial_carry(b1), b1)
    assert torch.equal(carry.data["inputs"], b1["inputs"])
    carry.halted = torch.tensor([True, False, True])
    old_state = [s.clone() for s in carry.state]
    new_carry, _ = model(carry, b2)
    assert torch.equal(new_carry.data["inputs"][0], b2["inputs"][0])
    assert torch.equal(new_carry.data["inputs"][1], b1["inputs"][1])  # not halted: keeps its example
    assert torch.equal(new_carry.data["inputs"][2], b2["inputs"][2])
    assert new_carry.steps.tolist() == [1, 2, 1]
    # The kept slot continued from its state; a reset slot equals a fresh start on the new example.
    fresh, _ = model(model.initial_carry(b2), b2)
    assert torch.allclose(new_carry.state[0][0], fresh.state[0][0], atol=1e-6)
    assert not torch.allclose(new_carry.state[0][1], old_state[0][1])


def test_evaluation_runs_exactly_halt_max_steps():
    model = build_model(tiny_arch(halt_max_steps=5), **TINY).eval()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([10.0, -10.0]))  # "halt!" - ignored at evaluation
        b = batch()
        carry = model.initial_carry(b)
        calls = 0
        while True:
            carry, out = model(carry, b)
            calls += 1
            if carry.halted.all():
                break
    assert calls == 5 and carry.steps.tolist() == [5, 5, 5]
    assert "target_q_continue" not in out


def test_training_halts_on_q_and_computes_the_continue_target():
    model = build_model(tiny_arch(halt_exploration_prob=0.0), **TINY).train()
    b = batch()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([3.0, -3.0]))
    carry, out = model(model.initial_carry(b), b)
    assert carry.halted.all() and carry.steps.tolist() == [1, 1, 1]
    # target = sigmoid(max(next q_halt, next q_continue)) = sigmoid(3) with a zero q-head weight
    assert torch.allclose(out["target_q_continue"], torch.sigmoid(torch.tensor(3.0)).expand(3))
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([-3.0, 3.0]))
    carry = model.initial_carry(b)
    for _ in range(4):
        carry, out = model(carry, b)
    assert carry.halted.all() and carry.steps.tolist() == [4, 4, 4]  # forced halt at halt_max_steps
    # at the last step the target is sigmoid(next q_halt) alone
    assert torch.allclose(out["target_q_continue"], torch.sigmoid(torch.tensor(-3.0)).expand(3))


def test_exploration_delays_halting():
    torch.manual_seed(0)
    model = build_model(tiny_arch(halt_exploration_prob=1.0, halt_max_steps=8), **TINY).train()
    b = batch(B=64, seed=3)
    b["puzzle_identifiers"].zero_()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([3.0, -3.0]))
    carry, _ = model(model.initial_carry(b), b)
    assert not carry.halted.any()  # every slot drew a minimum of at least 2 steps


class _AlwaysHaltCore(torch.nn.Module):
    """The smallest core that keeps the core contract, with a Q head that always says "halt"
    (q_halt 3 > q_continue -3): whatever keeps a slot running is the ACT loop's exploration rule."""

    has_q_continue = True

    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        return inputs.float()

    def empty_state(self, batch_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(batch_size, 1, device=device),)

    def reset_state(self, state: tuple[torch.Tensor, ...], reset: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.where(reset[:, None], torch.zeros_like(s), s) for s in state)

    def forward(self, state: tuple[torch.Tensor, ...], x: torch.Tensor) -> CoreOutput:
        B = x.shape[0]
        return CoreOutput(state, torch.zeros(B, 1, 2), torch.full((B,), 3.0), torch.full((B,), -3.0))


@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_exploration_minimum_is_drawn_per_segment_with_probability_p_uniform_on_2_to_max(p):
    """hrm-spec.md §2: each training segment draws min_halt = (rand < p) * randint(2, halt_max_steps + 1), else 0,
    and a slot halts only if steps >= min_halt. With a Q head that always says "halt", a slot that has just
    finished segment s keeps running iff it explored and drew a minimum above s: probability p (H - s) / (H - 1)."""
    H, N = 5, 20_000
    torch.manual_seed(0)
    model = ACTModel(_AlwaysHaltCore(), tiny_arch(halt_max_steps=H, halt_exploration_prob=p)).train()
    b = {"inputs": torch.zeros(N, 1, dtype=torch.int32), "puzzle_identifiers": torch.zeros(N, dtype=torch.int32)}
    for s in range(1, H + 1):
        carry = model.initial_carry(b)
        carry.halted.zero_()  # every slot mid-example with s - 1 segments done
        carry.steps.fill_(s - 1)
        carry, _ = model(carry, b)
        assert (carry.steps == s).all()
        running = float((~carry.halted).float().mean())
        expected = p * (H - s) / (H - 1)
        # The running fraction is Binomial(N, expected) / N: allow 5 standard deviations (0 when certain).
        tol = 5 * math.sqrt(expected * (1 - expected) / N)
        assert abs(running - expected) <= tol, (s, running, expected, tol)


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_no_slot_halts_before_its_drawn_minimum_in_training(arch):
    """Replays each segment's exploration draws (the reference's order: rand, then randint) from the torch RNG
    state before the call, and checks the halting rule exactly, slot by slot, over 12 segments of training
    with a random Q head: halted = (steps >= H) | (Q says halt & steps >= min_halt)."""
    from hrmkit.models import TRMConfig

    H, B, p = 4, 64, 0.5
    torch.manual_seed(0)
    cfg = (tiny_arch(halt_max_steps=H, halt_exploration_prob=p) if arch == "hrm" else
           TRMConfig(hidden_size=32, num_heads=2, L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_ndim=32, puzzle_emb_len=1,
                     expansion=2.0, halt_max_steps=H, halt_exploration_prob=p))
    model = build_model(cfg, **TINY).train()
    with torch.no_grad():  # per-slot Q decisions, roughly half "halt"
        model.core.q_head.weight.normal_(0, 0.5)
        model.core.q_head.bias.zero_()
    carry = model.initial_carry(batch(B=B))
    blocked = q_halted_early = 0
    for seg in range(12):
        before = torch.get_rng_state()
        with torch.no_grad():
            carry, out = model(carry, batch(B=B, seed=seg))
        after = torch.get_rng_state()
        torch.set_rng_state(before)
        explore = torch.rand(B) < p
        min_halt = explore * torch.randint(2, H + 1, (B,), dtype=torch.int32)
        assert torch.equal(torch.get_rng_state(), after)  # the replay drew exactly what the segment drew
        q_says_halt = (out["q_halt_logits"] > out["q_continue_logits"]) if arch == "hrm" else (out["q_halt_logits"] > 0)
        steps = carry.steps
        assert not (carry.halted & (steps < min_halt)).any(), f"segment {seg}: a slot halted before its minimum"
        assert torch.equal(carry.halted, (steps >= H) | (q_says_halt & (steps >= min_halt))), seg
        blocked += int((q_says_halt & (steps < min_halt)).sum())
        q_halted_early += int((carry.halted & (steps < H)).sum())
    assert blocked > 20 and q_halted_early > 20  # both sides of the rule were exercised


def test_learned_positions_and_bfloat16_run():
    model = build_model(tiny_arch(pos_encodings="learned", forward_dtype="bfloat16", puzzle_emb_ndim=0), **TINY)
    b = batch()
    carry, out = model(model.initial_carry(b), b)
    assert out["logits"].dtype == torch.bfloat16 and carry.state[0].shape == (3, 16, 32)
    assert out["q_halt_logits"].dtype == torch.float32


@pytest.mark.parametrize(("ndim", "positions"), [(0, 0), (16, 1), (32, 1), (48, 2)])
def test_puzzle_embedding_prefix_length(ndim, positions):
    model = build_model(tiny_arch(puzzle_emb_ndim=ndim), **TINY)
    assert model.core.puzzle_emb_len == positions  # ceil(ndim / hidden 32)
    b = batch()
    _carry, out = model(model.initial_carry(b), b)
    assert out["logits"].shape == (3, 16, 6)


def test_auto_dtype_uses_bf16_only_where_it_is_fast(monkeypatch):
    import hrmkit.models.base as base

    cpu = torch.device("cpu")
    monkeypatch.setattr(base, "cpu_has_bf16_matrix_units", lambda: True)
    assert base.resolve_dtype("auto", cpu) == torch.bfloat16
    assert base.resolve_dtype("float32", cpu) == torch.float32
    monkeypatch.setattr(base, "cpu_has_bf16_matrix_units", lambda: False)
    assert base.resolve_dtype("auto", cpu) == torch.float32
    assert base.resolve_dtype("bfloat16", cpu) == torch.bfloat16
    monkeypatch.undo()
    assert isinstance(base.cpu_has_bf16_matrix_units(), bool)  # the real probe answers on this machine without raising
