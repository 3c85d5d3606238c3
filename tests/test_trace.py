"""What `hrm solve` and `hrm eval` show about the model's thinking: its real halting decision, segments past
the training limit, trace pictures (PNG panels, GIF frames) and the accuracy-against-segments curve."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_checkpoint import make_checkpoint, make_data, tiny_hrm, tiny_trm

from hrmkit import trace_viz
from hrmkit.cli import main
from hrmkit.errors import HrmError
from hrmkit.solve import format_trace, from_pretrained, puzzle_from_dataset, solve


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data") / "s4")


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {"hrm": make_checkpoint(base / "hrm", data, tiny_hrm()), "trm": make_checkpoint(base / "trm", data, tiny_trm())}


def _with_q_bias(model, q_halt: float, q_continue: float):
    """Constant Q logits: a model whose halting decision the test knows in advance."""
    with torch.no_grad():
        model.core.q_head.weight.zero_()
        model.core.q_head.bias.copy_(torch.tensor([q_halt, q_continue]))
    return model


def test_hrm_halts_when_q_halt_beats_q_continue_even_below_one_half(runs, data):
    model, meta = from_pretrained(runs["hrm"])
    _with_q_bias(model, -1.0, -2.0)  # P(halt) = 0.27 < 0.5, yet HRM's rule q_halt > q_continue fires
    trace = solve(model, meta, puzzle_from_dataset(data, "test", 0, meta), steps=3)
    assert [s.halts for s in trace.segments] == [True, True, True]
    assert trace.halt_step == 1 and trace.halt_rule == "q_halt > q_continue"
    assert trace.segments[0].q_halt_logit == pytest.approx(-1.0) and trace.segments[0].q_continue_logit == pytest.approx(-2.0)
    text = format_trace(trace, meta)
    assert "the model halts at segment 1: its first segment with q_halt > q_continue (q_halt -1.00, P(halt) 0.27, q_continue -2.00)" in text
    assert "segment 1: " in text and ": halt, answer" in text


def test_trm_never_halting_says_so_and_names_the_step_limit(runs, data):
    model, meta = from_pretrained(runs["trm"])
    _with_q_bias(model, -1.0, 5.0)  # TRM ignores q_continue: q_halt < 0 never halts
    puzzle = puzzle_from_dataset(data, "test", 0, meta)
    trace = solve(model, meta, puzzle, steps=3)
    assert not any(s.halts for s in trace.segments) and all(s.q_continue_logit is None for s in trace.segments)
    assert trace.rule_halt_step is None and trace.halt_step == 2  # training stops at halt_max_steps = 2
    text = format_trace(trace, meta)
    assert "the halting rule (q_halt > 0) never fired (closest at segment 1: q_halt -1.00, P(halt) 0.27)" in text
    assert "stops at its step limit, segment 2 (halt_max_steps)" in text
    assert "would halt" not in text
    short = solve(model, meta, puzzle, steps=1)
    assert short.halt_step is None and "never fired in the 1 segments run" in format_trace(short, meta)
    _with_q_bias(model, 0.5, -9.0)
    assert solve(model, meta, puzzle, steps=2).halt_step == 1


@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_segments_past_the_training_limit_go_on_thinking(runs, data, arch):
    """halt_max_steps is 2: segment 3 must continue from segment 2's state, not restart from the initial one."""
    model, meta = from_pretrained(runs[arch])
    torch.manual_seed(0)
    torch.nn.init.normal_(model.core.q_head.weight)  # untrained heads are zero: make q_halt depend on the state
    puzzle = puzzle_from_dataset(data, "test", 1, meta)
    model.train()  # solve() evaluates in eval mode and hands the model back as it was
    trace = solve(model, meta, puzzle, segments=4)
    assert model.halt_max_steps == model.config.halt_max_steps == 2 and model.training
    batch = {"inputs": torch.from_numpy(puzzle[None]), "labels": torch.zeros(1, len(puzzle), dtype=torch.int32),
             "puzzle_identifiers": torch.zeros(1, dtype=torch.int32)}
    carry, expected = model.initial_carry(batch), []
    model.eval()
    with torch.no_grad():
        for _ in range(4):
            carry, out = model(carry, batch, limit=4)  # one unbroken run of 4 segments
            expected.append(float(out["q_halt_logits"][0]))
        assert not carry.halted.any() or carry.steps.item() == 4
    with pytest.raises(AttributeError):
        model.halt_max_steps = 4  # a config value, not a switch: evaluation takes its segment count as an argument
    assert [s.q_halt_logit for s in trace.segments] == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert trace.segments[2].q_halt_logit != pytest.approx(trace.segments[0].q_halt_logit)


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_trace_pictures_have_one_panel_or_frame_per_segment(runs, data, tmp_path, steps):
    model, meta = from_pretrained(runs["trm"])
    trace = solve(model, meta, puzzle_from_dataset(data, "test", 2, meta), steps=steps)
    png = trace_viz.write_trace_picture(trace, meta, tmp_path / "t.png")
    gif = trace_viz.write_trace_picture(trace, meta, tmp_path / "t.gif")
    panels = steps + 1  # the puzzle, then each segment
    cols = min(panels, trace_viz.MAX_COLUMNS)
    rows = -(-panels // cols)
    with Image.open(png) as im:
        assert im.format == "PNG"
        w, h = trace_viz.PANEL_INCHES
        assert im.size == (round(w * trace_viz.DPI * cols), round(h * trace_viz.DPI * rows))
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == panels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.gif", "t.png"]  # no temporary files left


def test_solve_trace_out_from_the_command_line(runs, data, tmp_path, capsys):
    out = tmp_path / "trace.gif"
    assert main(["solve", str(runs["hrm"]), "--dataset", str(data), "--index", "0", "--segments", "3", "--trace-out", str(out)]) == 0
    assert f"trace picture: {out}" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.n_frames == 4
    for bad, message in [(tmp_path / "t.jpg", "give a .png or .gif file name"), (tmp_path / "no" / "t.png", "does not exist")]:
        assert main(["solve", str(runs["hrm"]), "--dataset", str(data), "--trace-out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    with pytest.raises(HrmError):
        trace_viz.check_trace_path(tmp_path / "t.svg")


def test_eval_accuracy_against_segments_writes_json_and_curve(runs, data, tmp_path, capsys):
    out = tmp_path / "curve.json"
    assert main(["eval", str(runs["trm"]), str(data), "--segments", "4,1,2,2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "exact accuracy against ACT segments (trained with up to 2): 1:" in printed
    report = json.loads(out.read_text())
    assert list(report["exact_by_segments"]) == ["1", "2", "4"] and report["halt_max_steps"] == 2
    assert len(report["exact_by_segment"]) == 4 and report["plot_path"] == str(tmp_path / "curve.png")
    assert report["exact_by_segments"]["2"] == report["exact_by_segment"][1]
    with Image.open(tmp_path / "curve.png") as im:
        assert im.format == "PNG" and im.size[0] > 300
    # a single number keeps today's report: no curve, no picture (given here under the old spelling, --steps)
    single = tmp_path / "single.json"
    assert main(["eval", str(runs["trm"]), str(data), "--steps", "2", "--out", str(single), "--quiet"]) == 0
    one = json.loads(single.read_text())
    assert "exact_by_segments" not in one and len(one["exact_by_segment"]) == 2 and not (tmp_path / "single.png").exists()
    assert one["exact_accuracy"] == pytest.approx(report["exact_by_segments"]["2"])
    assert np.allclose(one["exact_by_segment"], report["exact_by_segment"][:2])
