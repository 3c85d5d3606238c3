"""Checkpoints of the reference code (files in shared/interop, written by the reference itself) -> hrmkit run folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hrmkit.cli import main
from hrmkit.interop import reference_checkpoint as rc

INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"
CHECKPOINTS = INTEROP / "checkpoints"


@pytest.fixture(scope="module", autouse=True)
def interop_files() -> None:
    if not CHECKPOINTS.is_dir():
        pytest.fail(f"reference interop fixtures not found at {INTEROP} (shared/ beside the repository): they are what proves "
                    "import fidelity, so the test fails rather than skips")


def test_the_reference_configs_become_hrmkit_configs():
    hrm = rc.train_config(rc.read_reference_config(CHECKPOINTS / "hrm" / "all_config.yaml"), "data/x")
    assert (hrm.arch.name, hrm.arch.hidden_size, hrm.arch.num_heads, hrm.arch.H_layers, hrm.arch.L_layers) == ("hrm", 32, 2, 1, 1)
    assert (hrm.arch.H_cycles, hrm.arch.L_cycles, hrm.arch.halt_max_steps, hrm.arch.loss_type) == (2, 2, 4, "stablemax")
    assert (hrm.global_batch_size, hrm.lr, hrm.puzzle_emb_weight_decay, hrm.ema) == (8, 1e-4, 1.0, False)
    mlp = rc.train_config(rc.read_reference_config(CHECKPOINTS / "trm_mlp" / "all_config.yaml"), "data/x", forward_dtype="float32")
    assert (mlp.arch.name, mlp.arch.mlp_t, mlp.arch.puzzle_emb_len, mlp.arch.no_ACT_continue, mlp.ema) == ("trm", True, 16, True, True)
    assert (mlp.arch.H_cycles, mlp.arch.L_cycles, mlp.arch.L_layers, mlp.arch.forward_dtype) == (2, 2, 2, "float32")


def test_reference_names_and_prefixes_map_onto_hrmkit_names():
    state = rc.read_state_dict(CHECKPOINTS / "trm_att" / "step_100")
    assert all(not k.startswith(("_orig_mod.", "model.")) for k in state)  # the compiled loss head's prefixes are gone
    names = {rc.map_name("trm", k) for k in state}
    assert "core.net.layers.0.attn.qkv_proj.weight" in names and "core.embed_tokens.weight" in names


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "step_1"
    torch.save({"model.inner.H_init": Payload()}, bad)
    (tmp_path / "all_config.yaml").write_text((CHECKPOINTS / "hrm" / "all_config.yaml").read_text())
    done = subprocess.run([sys.executable, "-m", "hrmkit.cli", "import", str(bad), "--dataset", str(tmp_path), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and not marker.exists(), done.stderr
    err = done.stderr.strip()
    assert err.startswith(f"error: {bad}: refused: the file holds more than tensors, and loading it could run code") and "\n" not in err


def test_configs_and_checkpoints_that_do_not_fit_are_refused_in_one_line(tmp_path, capsys):
    config = yaml.safe_load((CHECKPOINTS / "hrm" / "all_config.yaml").read_text())
    config["arch"]["name"] = "hrm.other@SomethingElse_ACTV9"
    with pytest.raises(rc.ReferenceImportError, match="unknown reference architecture 'SomethingElse_ACTV9'; hrmkit imports"):
        rc.train_config(config, "data/x")
    config = yaml.safe_load((CHECKPOINTS / "hrm" / "all_config.yaml").read_text())
    config["arch"]["hidden_size"] = 30  # not divisible into 4 heads of an even size
    config["arch"]["num_heads"] = 4
    with pytest.raises(rc.ReferenceImportError, match="^all_config.yaml: "):
        rc.train_config(config, "data/x")
    not_a_checkpoint = tmp_path / "step_3"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(rc.ReferenceImportError, match="not a PyTorch checkpoint"):
        rc.read_state_dict(not_a_checkpoint)
    assert main(["import", str(tmp_path / "nowhere"), "--dataset", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "error:" in capsys.readouterr().err


# (checkpoint folder, its dataset, the largest |ours - reference| of the Q logits over max |reference|). The reference
# recorded its outputs on an AMD EPYC; TRM-MLP's 4 free-running segments amplify the ~1e-7 rounding differences of
# other CPUs (AVX-512) to ~3e-4 of the Q logits (its argmax predictions stay exact), as in the golden tests.
FIXTURES = [("hrm", "sudoku-ref", 1e-5), ("trm_att", "sudoku-ref-trm", 1e-5), ("trm_mlp", "sudoku-ref-trm", 1e-3), ("hrm_arc", "arc-ref", 1e-5)]


@pytest.mark.parametrize(("name", "data", "q_tol"), FIXTURES)
def test_an_imported_checkpoint_reproduces_the_reference_models_outputs(name, data, q_tol, tmp_path, capsys, single_thread):
    from safetensors.torch import load_file

    dataset, run, saved = tmp_path / "data", tmp_path / "run", tmp_path / "preds.safetensors"
    assert main(["data", "import", str(INTEROP / data), "--out", str(dataset)]) == 0
    assert main(["import", str(CHECKPOINTS / name / "step_100"), "--dataset", str(dataset), "--out", str(run)]) == 0
    assert main(["eval", str(run), str(dataset), "--save-predictions", str(saved), "--batch-size", "8", "--quiet"]) == 0
    printed = capsys.readouterr().out
    ours, ref = load_file(str(saved)), load_file(str(CHECKPOINTS / name / "expected_eval.safetensors"))
    real = int((ref["labels"] != -100).any(1).sum())  # the reference pads its last batch with unlabelled rows
    n = len(ours["preds"])
    assert n == real > 0 and bool((ref["labels"][:n] != -100).any(1).all())  # every real row, in the reference's order
    for key in ("inputs", "labels", "puzzle_identifiers", "preds"):
        assert torch.equal(ours[key], ref[key][:n]), key
    for key in ("q_halt_logits", "q_continue_logits"):
        assert float((ours[key] - ref[key][:n]).abs().max()) <= q_tol * float(ref[key][:n].abs().max()), key
    if name == "hrm_arc":  # voting through the imported identifiers
        assert "ARC" in printed and "pass@" in printed


@pytest.mark.parametrize(("name", "data"), [("hrm", "sudoku-ref"), ("trm_att", "sudoku-ref-trm"), ("trm_mlp", "sudoku-ref-trm")])
def test_reference_to_hrmkit_to_reference_and_back_keeps_every_tensor_and_setting(name, data, tmp_path, capsys):
    from safetensors.torch import load_file

    from hrmkit.checkpoint import read_config, resolve

    dataset = tmp_path / "data"
    assert main(["data", "import", str(INTEROP / data), "--out", str(dataset)]) == 0
    assert main(["import", str(CHECKPOINTS / name / "step_100"), "--dataset", str(dataset), "--out", str(tmp_path / "a")]) == 0
    assert main(["export", str(tmp_path / "a"), "--out", str(tmp_path / "ref")]) == 0
    before = (tmp_path / "ref" / "all_config.yaml").read_bytes()
    assert main(["export", str(tmp_path / "a"), "--out", str(tmp_path / "ref")]) == 2  # never over files already there
    assert "already holds step_100 and all_config.yaml; export into another folder" in capsys.readouterr().err
    assert (tmp_path / "ref" / "all_config.yaml").read_bytes() == before
    # hrmkit -> reference: the reference's own file back, key for key and bit for bit, and its arch settings
    original = torch.load(CHECKPOINTS / name / "step_100", map_location="cpu", weights_only=True)
    exported = torch.load(tmp_path / "ref" / "step_100", map_location="cpu", weights_only=True)
    assert exported.keys() == original.keys() and all(torch.equal(exported[k], original[k]) for k in original)
    written = yaml.safe_load((tmp_path / "ref" / "all_config.yaml").read_text())
    reference = yaml.safe_load((CHECKPOINTS / name / "all_config.yaml").read_text())
    assert {k: written["arch"][k] for k in reference["arch"]} == reference["arch"]
    assert {k: written[k] for k in rc.TRAIN_KEYS if k in reference} == {k: reference[k] for k in rc.TRAIN_KEYS if k in reference}
    # ... and back: the same hrmkit checkpoint and config
    assert main(["import", str(tmp_path / "ref" / "step_100"), "--dataset", str(dataset), "--out", str(tmp_path / "b")]) == 0
    a, b = (load_file(str(resolve(tmp_path / r) / "model.safetensors")) for r in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_config(tmp_path / "a")[0] == read_config(tmp_path / "b")[0]
    capsys.readouterr()
