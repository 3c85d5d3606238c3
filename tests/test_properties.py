"""Property-based tests of every parser a user can feed: whatever the input, the result is a valid parsed
object or a one-line HrmError; never another exception type, never a multi-line message."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from property_settings import budget

from hrmkit import checkpoint
from hrmkit.config import TrainConfig, apply_overrides, load_preset, make_train_config
from hrmkit.data import build as B
from hrmkit.data.check import check_dataset
from hrmkit.data.format import ARRAY_NAMES, load_dataset
from hrmkit.data.show import describe, examples
from hrmkit.errors import HrmError
from hrmkit.puzzles import maze, sudoku
from hrmkit.tasks import get_task

FAST = budget(60)  # derandomized in CI, random elsewhere, 20x wider under HYPOTHESIS_PROFILE=explore (tests/property_settings.py)
SLOW = budget(25)


def outcome(fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, or None when it raised a one-line HrmError; any other exception fails the test."""
    try:
        return fn()
    except HrmError as e:
        message = str(e)
        assert message and "\n" not in message and "\r" not in message, f"multi-line error: {message!r}"
        return None


# --------------------------------------------------------------------------- puzzle text

SUDOKU_CHARS = "0123456789.|-+ \n\t" + "x²٣\u0661"  # digits that str.isdigit() accepts but are not ASCII included
sudoku_text = st.one_of(st.text(max_size=100), st.text(alphabet=SUDOKU_CHARS, min_size=10, max_size=90))


@FAST
@given(text=sudoku_text, size=st.one_of(st.none(), st.integers(-2, 12)))
@example(text="²" * 16, size=None)  # found: str.isdigit() let it through, then int() raised a bare ValueError
def test_sudoku_parse_gives_a_grid_or_a_one_line_error(text, size):
    grid = outcome(lambda: sudoku.parse(text, size))
    if grid is not None:
        n = grid.shape[0]
        assert grid.shape == (n, n) and n in (4, 6, 9) and (size is None or size == n)
        assert grid.min() >= 0 and grid.max() <= n
        assert sudoku.to_string(grid) == "".join(ch for ch in text if ch not in " \t\r\n|-+").replace("0", ".")


maze_text = st.one_of(st.text(max_size=60), st.text(alphabet="# SGo\nx\r\u2028", max_size=60))


@FAST
@given(text=maze_text)
@example(text="#x")  # found: MazeError was a ValueError, not an HrmError
def test_maze_parse_gives_a_grid_or_a_one_line_error(text):
    grid = outcome(lambda: maze.parse(text))
    if grid is not None:
        assert grid.ndim == 2 and grid.size > 0 and grid.min() >= 0 and grid.max() < len(maze.CHARSET)
        assert maze.format_maze(grid) == "\n".join(line for line in text.splitlines() if line)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    out = {"sudoku": root / "s4", "maze": root / "m5"}
    B.build(B.make_config("sudoku-4x4", train=12, test=4, num_aug=1), out["sudoku"], workers=1, progress=False)
    B.build(B.make_config("maze", size=5, train=6, test=2, min_path=1), out["maze"], workers=1, progress=False)
    return out


@FAST
@given(text=st.one_of(sudoku_text, maze_text), task=st.sampled_from(["sudoku", "maze"]))
def test_puzzle_text_for_solve_gives_tokens_or_a_one_line_error(text, task, datasets):
    """What `hrm solve CKPT PUZZLE` does with the text: the task's parser, against the model's dataset."""
    meta = load_dataset(datasets[task]).metadata
    tokens = outcome(lambda: get_task(task).parse(text, meta))
    if tokens is not None:
        assert tokens.shape == (meta.seq_len,) and tokens.min() >= 0 and tokens.max() < meta.vocab_size


# --------------------------------------------------------------------------- config overrides and config files

KEYS = ["lr", "beta1", "epochs", "global_batch_size", "eval_interval", "ema", "ema_rate", "data_path", "data_preset", "seed", "device",
        "arch", "arch.name", "arch.hidden_size", "arch.num_heads", "arch.halt_max_steps", "arch.forward_dtype", "arch.mlp_t",
        "arch.hidden_size.x", "lr.x", "nonesuch", "arch.nonesuch", "", "."]
VALUES = st.one_of(
    st.sampled_from(["1", "0", "-1", "1e-4", ".nan", ".inf", "-.inf", "true", "null", "~", "", "[1, 2]", "{a: 1}", "{name: trm}",
                     "trm", "hrm", "2001-13-45", "2001-02-29", "12:30:00", "!!python/object:os.system", "[" * 300, "'", "\"x", "&a",
                     "*a", "- a", "a: b: c", "0x1F", "1_000", "1e999"]),
    st.from_regex(r"\A[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\Z"),
    st.text(max_size=20),
)
override = st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS) | st.text(max_size=12), VALUES), st.text(max_size=20))


@FAST
@given(overrides=st.lists(override, max_size=4), preset=st.sampled_from(["demo", "cpu-sudoku-4x4", "sudoku-extreme-1k", "nonesuch"]))
@example(overrides=["lr=0000-00-00"], preset="demo")  # found: YAML's date constructor raised ValueError
@example(overrides=["seed=" + "[" * 300], preset="demo")  # RecursionError in the YAML parser
def test_overrides_give_a_config_or_a_one_line_error(overrides, preset):
    values = outcome(lambda: apply_overrides({"lr": 1.0, "arch": {"name": "hrm"}}, overrides))
    assert values is None or isinstance(values, dict)
    cfg = outcome(lambda: make_train_config(preset, overrides))
    if cfg is not None:
        assert isinstance(cfg, TrainConfig)
        assert TrainConfig.model_validate(json.loads(cfg.model_dump_json())) == cfg  # what a checkpoint stores reads back


yaml_text = st.one_of(st.text(max_size=80),
                      st.lists(st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(KEYS), VALUES), max_size=4).map("\n".join),
                      st.just("arch:\n  name: trm\n  hidden_size: " + "[" * 500))


@FAST
@given(text=yaml_text, overrides=st.lists(override, max_size=2))
@example(text="lr: 2001-13-45", overrides=[])
def test_config_files_give_a_config_or_a_one_line_error(text, overrides):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.yaml"
        path.write_text(text)
        preset = outcome(lambda: load_preset(str(path)))
        assert preset is None or isinstance(preset, dict)
        cfg = outcome(lambda: make_train_config(str(path), overrides))
        assert cfg is None or isinstance(cfg, TrainConfig)


# --------------------------------------------------------------------------- damaged files: shared edits

# Numbers stay small: an edited config may legitimately ask for a large model (expansion 1e7), which is not a parser fault.
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(-10, 10), st.sampled_from([float("nan"), float("inf")]),
                        st.text(max_size=6),
                        st.lists(st.integers(-2, 40), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(0, 5), max_size=2))


def paths_of(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path into a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += paths_of(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):
            found += paths_of(v, (*prefix, i))
    return found


def edit_json(doc: Any, data: st.DataObject) -> Any:
    """Replace one value or delete one key, anywhere in ``doc``."""
    paths = paths_of(doc)
    if not paths:
        return data.draw(JSON_VALUES)
    path = data.draw(st.sampled_from(paths))
    node = doc
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, dict) and data.draw(st.booleans()):
        del node[path[-1]]
    else:
        node[path[-1]] = data.draw(JSON_VALUES)
    return doc


def damage_file(file: Path, data: st.DataObject) -> None:
    """Cut ``file`` short, overwrite bytes in it, or replace it with arbitrary bytes."""
    if not file.is_file():
        return  # an earlier edit removed it
    raw = file.read_bytes()
    how = data.draw(st.sampled_from(["truncate", "flip", "replace"]))
    if how == "truncate":
        file.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))])
    elif how == "flip" and raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        file.write_bytes(raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at + 8:])
    else:
        file.write_bytes(data.draw(st.binary(max_size=64)))


# --------------------------------------------------------------------------- dataset folders

def _array(dtype: str, shape: tuple[int, ...], fill: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # nan cast to an integer dtype is part of the damage
        return np.full(shape, fill).astype(dtype)


ARRAYS = st.builds(
    _array,
    st.sampled_from(["uint8", "int8", "int32", "int64", "float32", "float64", "bool", "complex64", "<U2"]),
    st.lists(st.integers(0, 20), max_size=3).map(tuple),
    st.one_of(st.integers(-3, 300), st.just(float("nan")), st.just(float("inf"))),
)


def damage_dataset(folder: Path, data: st.DataObject) -> None:
    split = data.draw(st.sampled_from(["train", "test"]))
    if not all((folder / name).exists() for name in ("metadata.json", "identifiers.json", "train", "test")):
        return  # an earlier edit removed a part: leave the folder as it is
    what = data.draw(st.sampled_from(["array-bytes", "array", "metadata", "metadata-bytes", "identifiers", "remove"]))
    if what == "array-bytes":
        damage_file(folder / split / f"{data.draw(st.sampled_from(ARRAY_NAMES))}.npy", data)
    elif what == "array":
        np.save(folder / split / f"{data.draw(st.sampled_from(ARRAY_NAMES))}.npy", data.draw(ARRAYS)) if (folder / split).is_dir() else None
    elif what in ("metadata", "identifiers"):
        file = folder / f"{what}.json"
        try:
            doc = json.loads(file.read_bytes())
        except ValueError:
            return  # an earlier edit already broke the JSON
        file.write_text(json.dumps(edit_json(doc, data)))
    elif what == "metadata-bytes":
        damage_file(folder / "metadata.json", data)
    else:
        target = data.draw(st.sampled_from(["metadata.json", "identifiers.json", f"{split}/inputs.npy", split]))
        shutil.rmtree(folder / target) if (folder / target).is_dir() else (folder / target).unlink(missing_ok=True)


@SLOW
@given(data=st.data(), task=st.sampled_from(["sudoku", "maze"]), edits=st.integers(1, 2))
def test_damaged_dataset_folders_load_or_give_a_one_line_error(data, task, edits, datasets):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ds"
        shutil.copytree(datasets[task], folder)
        for _ in range(edits):
            damage_dataset(folder, data)
        verify = data.draw(st.booleans())
        ds = outcome(lambda: load_dataset(folder, verify_hash=verify))
        event("loaded" if ds is not None else "refused")  # both kinds occur (--hypothesis-show-statistics)
        if ds is not None:  # what `hrm data show` and `hrm data check` then do with it
            outcome(lambda: describe(ds) + examples(ds, "test", 2))
            outcome(lambda: check_dataset(ds))


# --------------------------------------------------------------------------- checkpoint folders


@pytest.fixture(scope="module")
def run_folder(datasets, tmp_path_factory) -> Path:
    from hrmkit.models import HRMConfig
    from hrmkit.train import Trainer

    arch = HRMConfig(hidden_size=16, num_heads=2, H_layers=1, L_layers=1, H_cycles=1, L_cycles=1, halt_max_steps=2, puzzle_emb_ndim=16,
                     expansion=2.0, forward_dtype="float32")
    run = tmp_path_factory.mktemp("runs") / "run"
    cfg = TrainConfig(data_path=str(datasets["sudoku"]), arch=arch, global_batch_size=8, epochs=2, eval_interval=None, lr=1e-3,
                      lr_warmup_steps=0, tensorboard=False, log_every=1)
    Trainer(cfg, run_dir=run, progress=False).fit(max_steps=2)
    return run


def damage_checkpoint(run: Path, data: st.DataObject) -> None:
    ckpt = run / "checkpoints" / "step_2"
    what = data.draw(st.sampled_from(["tensors", "swap", "config", "config-bytes", "state", "state-bytes", "latest", "remove"]))
    tensors = sorted(ckpt.glob("*.safetensors"))
    if what == "tensors":
        damage_file(data.draw(st.sampled_from(tensors)), data)
    elif what == "swap":  # a whole, readable file in the wrong place
        a, b = data.draw(st.permutations(tensors))[:2]
        shutil.copy(a, b)
    elif what in ("config", "state"):
        file = ckpt / f"{what}.json"
        file.write_text(json.dumps(edit_json(json.loads(file.read_text()), data)))
    elif what in ("config-bytes", "state-bytes"):
        damage_file(ckpt / f"{what.split('-')[0]}.json", data)
    elif what == "latest":
        (run / "checkpoints" / "latest").write_text(data.draw(st.sampled_from(["", "..", "step_999", "../checkpoints", "/", ".x"])))
    else:
        (ckpt / data.draw(st.sampled_from(["config.json", "state.json", "model.safetensors", "optimizer.safetensors"]))).unlink()


@SLOW
@given(data=st.data())
def test_damaged_checkpoint_folders_load_or_give_a_one_line_error(data, run_folder):
    from hrmkit.preflight import check_resume
    from hrmkit.solve import from_pretrained
    from hrmkit.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(run_folder, run)
        damage_checkpoint(run, data)
        outcome(lambda: from_pretrained(run))  # `hrm eval` / `hrm solve`
        for name in ("model", "optimizer", "carry", "rng"):
            outcome(lambda name=name: checkpoint.read_tensors(run, name))
        cfg = outcome(lambda: check_resume(run))  # `hrm train --resume`: the checks before torch, then the trainer
        resumed = cfg is not None and outcome(lambda: Trainer(cfg, run_dir=run, resume=True, progress=False)) is not None
        event("resumed" if resumed else "refused")


# --------------------------------------------------------------------------- what hypothesis found, pinned as plain examples


def _npy_with_header(header: str) -> bytes:
    text = header.ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def _edit_metadata(folder: Path, **changes: Any) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(changes)
    (folder / "metadata.json").write_text(json.dumps(meta))


def _empty_test_split(folder: Path) -> None:
    """A test split of no examples: consistent arrays, so only the content hash runs into it."""
    for name, array in {"inputs": np.zeros((0, 16), np.uint8), "labels": np.zeros((0, 16), np.uint8),
                        "puzzle_identifiers": np.zeros(0, np.int32), "puzzle_indices": np.zeros(1, np.int64),
                        "group_indices": np.zeros(1, np.int64)}.items():
        np.save(folder / "test" / f"{name}.npy", array)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["splits"]["test"] = {"total_groups": 0, "total_puzzles": 0, "total_examples": 0, "mean_puzzle_examples": 0.0}
    (folder / "metadata.json").write_text(json.dumps(meta))


DATASET_FAULTS = {
    "float arrays holding nan": (lambda f: np.save(f / "train" / "inputs.npy", np.full(np.load(f / "train" / "inputs.npy").shape, np.nan)),
                                 "has dtype float64, expected integers"),
    "0-d puzzle_identifiers": (lambda f: np.save(f / "train" / "puzzle_identifiers.npy", np.int32(0)), "puzzle_identifiers has shape ()"),
    "mangled .npy header": (lambda f: (f / "train" / "labels.npy").write_bytes(_npy_with_header("{'descr': '<i8', 'shape': (1, }")),
                            "unreadable array"),
    "metadata not UTF-8": (lambda f: (f / "metadata.json").write_bytes(b"\x80{}"), "invalid metadata"),
    "fewer tokens than vocab_size": (lambda f: _edit_metadata(f, tokens=["a"]), "tokens has 1 entries for vocab_size 6"),
    "grid_shape not seq_len": (lambda f: _edit_metadata(f, grid_shape=[3, 3]), "grid_shape [3, 3] does not hold seq_len 16 cells"),
    "identifiers not a list": (lambda f: (f / "identifiers.json").write_text('{"a": 1}'), "expected a list of 1 names"),
    "identifiers not UTF-8": (lambda f: (f / "identifiers.json").write_bytes(b"\xff"), "identifiers.json: not valid JSON (byte 0xff"),
    "an empty split": (_empty_test_split, "content hash mismatch"),
}


@pytest.mark.parametrize("fault", list(DATASET_FAULTS))
def test_dataset_faults_found_by_hypothesis_are_one_line_errors(fault, datasets, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(datasets["sudoku"], folder)
    damage, message = DATASET_FAULTS[fault]
    damage(folder)
    with pytest.raises(HrmError, match=re.escape(message)) as e:
        load_dataset(folder, verify_hash=True)
    assert "\n" not in str(e.value)


def _edit_card(folder: Path, edit: Callable[[dict], None]) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    edit(meta["build"])
    (folder / "metadata.json").write_text(json.dumps(meta))


def _set(*path: Any, value: Any = None, delete: bool = False) -> Callable[[dict], None]:
    def edit(card: dict) -> None:
        node = card
        for part in path[:-1]:
            node = node[part]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return edit


# Edits of the data card (metadata.json "build") that crashed `hrm data show` (describe) when hypothesis drew them in CI.
SUMMARY = ("difficulty", "train", "as_written")
CARD_EDITS = {
    "median a string": (_set(*SUMMARY, "median", value="x"), 'median "x"'),
    "median null": (_set(*SUMMARY, "median", value=None), "median ?"),
    "min removed": (_set(*SUMMARY, "min", delete=True), "min ?"),
    "mean removed": (_set(*SUMMARY, "mean", delete=True), "mean ?"),
    "max an object": (_set(*SUMMARY, "max", value={"a": 1}), 'max {"a": 1}'),
    "a split's summaries a list": (_set("difficulty", "train", value=[1]), "test as_written: n=4"),
    "csv ratings a string": (_set("difficulty", "csv_rating", value="abc"), "difficulty ("),
    "imported file without its hash": (_set("source", value={"kind": "imported", "folder": "d", "train.csv": {"bytes": "many"}}),
                                       'train.csv (sha256 ?, "many" bytes)'),
    "imported file hash a number": (_set("source", value={"kind": "imported", "train.csv": {"sha256": 7, "bytes": 3}}),
                                    "train.csv (sha256 7, 3 bytes)"),
    "the card's sections swapped": (lambda card: card.update(config=card["difficulty"], difficulty=card["config"]), "settings: measure="),
}


@pytest.mark.parametrize("edit", list(CARD_EDITS))
def test_an_edited_data_card_is_shown_as_it_is(edit, datasets, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(datasets["sudoku"], folder)
    change, shown = CARD_EDITS[edit]
    _edit_card(folder, change)
    text = describe(load_dataset(folder, verify_hash=True))  # the card is not hashed: the arrays are intact
    assert shown in text
    assert "content hash:" in text.splitlines()[-1]


CHECKPOINT_FAULTS = {
    "state.json a list": (lambda c: (c / "state.json").write_text("[]"), "state.json: expected a JSON object"),
    "state.json step missing": (lambda c: (c / "state.json").write_text('{"sampler": {}}'), "step must be a non-negative integer, got None"),
    "sampler state from elsewhere": (lambda c: (c / "state.json").write_text(json.dumps(
        {**json.loads((c / "state.json").read_text()), "sampler": {"epoch": 0, "cursor": 0, "rng": {"state": -1}}})), "cannot resume from it"),
    "carry from another file": (lambda c: shutil.copy(c / "rng.safetensors", c / "carry.safetensors"), "cannot resume from it (KeyError"),
    "latest naming a parent": (lambda c: (c.parent / "latest").write_text(".."), "latest: names '..', which is not a checkpoint folder"),
}


@pytest.mark.parametrize("fault", list(CHECKPOINT_FAULTS))
def test_checkpoint_faults_found_by_hypothesis_are_one_line_errors(fault, run_folder, tmp_path):
    from hrmkit.preflight import check_resume
    from hrmkit.train import Trainer

    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    damage, message = CHECKPOINT_FAULTS[fault]
    damage(run / "checkpoints" / "step_2")
    with pytest.raises(HrmError, match=re.escape(message)) as e:
        Trainer(check_resume(run), run_dir=run, resume=True, progress=False)
    assert "\n" not in str(e.value)


def test_beta_of_one_is_refused_by_the_config():
    with pytest.raises(HrmError, match="^beta1: Input should be less than 1$"):
        make_train_config("demo", ["beta1=1"])


# --------------------------------------------------------------------------- the profiles themselves


def test_ci_replays_fixed_examples_and_a_developer_explores(monkeypatch):
    import property_settings as P
    from hypothesis import settings

    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    monkeypatch.setenv("CI", "true")
    assert P.active_profile() == "ci"
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None
    monkeypatch.delenv("CI")
    assert P.active_profile() == "dev" and not settings.get_profile("dev").derandomize
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "explore")
    assert P.active_profile() == "explore" and not settings.get_profile("explore").derandomize
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "nonesuch")
    with pytest.raises(ValueError, match="use ci, dev or explore"):
        P.active_profile()


def test_an_unknown_profile_stops_pytest_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    tests = Path(__file__).parent
    env = {**os.environ, "HYPOTHESIS_PROFILE": "nonesuch"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests / "test_maze.py"), "-k", "nothing"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4  # pytest's usage error
    assert done.stderr.strip() == "ERROR: HYPOTHESIS_PROFILE='nonesuch': use ci, dev or explore"
