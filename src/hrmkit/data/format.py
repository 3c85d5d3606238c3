"""The one on-disk dataset format shared by every task.

    DIR/metadata.json            DatasetMetadata (below)
    DIR/identifiers.json         puzzle identifier -> name (id 0 = "<blank>")
    DIR/<split>/inputs.npy       [N_examples, seq_len] tokens
    DIR/<split>/labels.npy       [N_examples, seq_len] tokens (ignore_label_id = not supervised)
    DIR/<split>/puzzle_identifiers.npy  [N_puzzles] int32
    DIR/<split>/puzzle_indices.npy      [N_puzzles + 1] int64, start offset of each puzzle's examples
    DIR/<split>/group_indices.npy       [N_groups + 1] int64, start offset of each group's puzzles

As in the HRM reference: a *group* is one original puzzle, its *puzzles* are the augmented
variants, and each puzzle has one or more input/label *examples*. A dataset is written into a
temporary folder and renamed into place, so a reader never sees a half-written one.

Two writers: :func:`write_dataset` takes whole arrays in memory; :func:`stream_dataset` takes a split's
rows group by group and sends them straight to disk (ARC-AGI-1 with 1000 augmentations is about 3.6 GB
per token array: it must not sit in memory, let alone twice). Both write the same files, hash and checks.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hrmkit import jsonio
from hrmkit.atomic import atomic_directory
from hrmkit.errors import HrmError, first_validation_error

FORMAT_VERSION = 1
ARRAY_NAMES = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


class DatasetError(HrmError):
    pass


class SplitInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    total_groups: int = Field(ge=0)
    total_puzzles: int = Field(ge=0)
    total_examples: int = Field(ge=0)
    mean_puzzle_examples: float = Field(ge=0)


class DatasetMetadata(BaseModel):
    # Checked as strictly as the arrays: an edited metadata.json must fail here, in one line, rather than as an
    # IndexError when a token is displayed or a reshape when a puzzle is solved.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    format_version: int
    task: str
    seq_len: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    pad_id: int = 0
    ignore_label_id: int | None = 0
    blank_identifier_id: int = 0
    num_puzzle_identifiers: int = Field(ge=1)
    grid_shape: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]
    tokens: list[Annotated[str, Field(min_length=1)]]  # display character of each token id
    splits: dict[str, SplitInfo]
    sets: list[str] = ["all"]
    build: dict[str, Any] = {}
    content_hash: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> DatasetMetadata:
        if len(self.tokens) != self.vocab_size:
            raise ValueError(f"tokens has {len(self.tokens)} entries for vocab_size {self.vocab_size}")
        if self.grid_shape[0] * self.grid_shape[1] != self.seq_len:
            raise ValueError(f"grid_shape {list(self.grid_shape)} does not hold seq_len {self.seq_len} cells")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} is not a token id (0..{self.vocab_size - 1})")
        if not 0 <= self.blank_identifier_id < self.num_puzzle_identifiers:
            raise ValueError(f"blank_identifier_id {self.blank_identifier_id} is not a puzzle id (0..{self.num_puzzle_identifiers - 1})")
        return self


@dataclass
class SplitArrays:
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray

    @property
    def num_groups(self) -> int:
        return len(self.group_indices) - 1

    @property
    def num_puzzles(self) -> int:
        return len(self.puzzle_indices) - 1

    @property
    def num_examples(self) -> int:
        return len(self.inputs)

    def info(self) -> SplitInfo:
        return SplitInfo(
            total_groups=self.num_groups,
            total_puzzles=self.num_puzzles,
            total_examples=self.num_examples,
            mean_puzzle_examples=self.num_examples / max(self.num_puzzles, 1),
        )


@dataclass
class Dataset:
    path: Path
    metadata: DatasetMetadata
    splits: dict[str, SplitArrays]
    identifiers: list[str]

    def __getitem__(self, split: str) -> SplitArrays:
        if split not in self.splits:
            raise DatasetError(f"{self.path}: no split {split!r} (has {', '.join(self.splits)})")
        return self.splits[split]


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint8) if vocab_size <= 256 else np.dtype(np.int32)


def _hash_label(split: str, array_name: str, dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    return f"{split}/{array_name}/{dtype.str}/{shape}".encode()


def content_hash(splits: dict[str, SplitArrays]) -> str:
    h = hashlib.sha256()
    for name in sorted(splits):
        for array_name in ARRAY_NAMES:
            array = np.ascontiguousarray(getattr(splits[name], array_name))
            h.update(_hash_label(name, array_name, array.dtype, array.shape))
            if array.size:  # memoryview.cast refuses zero-size arrays; an empty array adds no bytes either way
                h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def _check_tokens(where: str, array_name: str, a: np.ndarray, vocab_size: int) -> None:
    if a.size and (int(a.max()) >= vocab_size or int(a.min()) < 0):
        raise DatasetError(f"{where}: {array_name} holds tokens outside 0..{vocab_size - 1}")


def _check_split(name: str, arrays: SplitArrays, meta: DatasetMetadata, tokens_checked: bool = False) -> None:
    where = f"split {name!r}"
    for array_name in ARRAY_NAMES:
        dtype = getattr(arrays, array_name).dtype
        if dtype.kind not in "iu":  # float (nan), complex, bool, text or records would fail later as a traceback
            raise DatasetError(f"{where}: {array_name} has dtype {dtype}, expected integers")
    for array_name in ("inputs", "labels"):
        a = getattr(arrays, array_name)
        if a.ndim != 2 or a.shape[1] != meta.seq_len:
            raise DatasetError(f"{where}: {array_name} has shape {a.shape}, expected [N, {meta.seq_len}]")
    if arrays.inputs.shape != arrays.labels.shape:
        raise DatasetError(f"{where}: inputs {arrays.inputs.shape} and labels {arrays.labels.shape} differ in shape")
    for array_name in ("inputs", "labels"):
        if not tokens_checked:  # the streaming writer checks each block as it arrives instead of reading it all back
            _check_tokens(where, array_name, getattr(arrays, array_name), meta.vocab_size)
    for array_name in ("puzzle_indices", "group_indices"):
        idx = getattr(arrays, array_name)
        if idx.ndim != 1 or len(idx) < 1 or idx[0] != 0 or (np.diff(idx) < 0).any():
            raise DatasetError(f"{where}: {array_name} must be non-decreasing offsets starting at 0")
    if arrays.puzzle_indices[-1] != arrays.num_examples:
        raise DatasetError(f"{where}: puzzle_indices ends at {arrays.puzzle_indices[-1]}, expected {arrays.num_examples} examples")
    if arrays.group_indices[-1] != arrays.num_puzzles:
        raise DatasetError(f"{where}: group_indices ends at {arrays.group_indices[-1]}, expected {arrays.num_puzzles} puzzles")
    if arrays.puzzle_identifiers.ndim != 1 or len(arrays.puzzle_identifiers) != arrays.num_puzzles:
        raise DatasetError(f"{where}: puzzle_identifiers has shape {arrays.puzzle_identifiers.shape}, "
                           f"expected [{arrays.num_puzzles}] (one per puzzle)")
    ids = arrays.puzzle_identifiers
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= meta.num_puzzle_identifiers):
        raise DatasetError(f"{where}: puzzle_identifiers outside 0..{meta.num_puzzle_identifiers - 1}")
    info = meta.splits.get(name)
    if info is None or info != arrays.info():
        raise DatasetError(f"{where}: sizes do not match metadata.json")


def new_metadata(task: str, tokens: list[str], grid_shape: tuple[int, int], num_identifiers: int, pad_id: int,
                 ignore_label_id: int | None, build: dict[str, Any]) -> DatasetMetadata:
    """The metadata of a dataset about to be written (the writers fill in the split sizes and the hash)."""
    h, w = grid_shape
    return DatasetMetadata(format_version=FORMAT_VERSION, task=task, seq_len=h * w, vocab_size=len(tokens), pad_id=pad_id,
                           ignore_label_id=ignore_label_id, blank_identifier_id=0, num_puzzle_identifiers=num_identifiers,
                           grid_shape=(h, w), tokens=tokens, splits={}, build=build)


def check_replaceable(out: str | os.PathLike, overwrite: bool) -> None:
    """May a dataset be written to ``out``? A missing path or an empty folder, yes; a dataset folder only with
    ``overwrite``; anything else (a file, a folder of other things) never: --force must not delete what it did not make."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return
    if not out.is_dir():
        raise DatasetError(f"{out} is a file, not a dataset folder; --force replaces only a dataset folder (choose another --out)")
    if not (out / "metadata.json").is_file():
        raise DatasetError(f"{out} is a folder but not a dataset (no metadata.json); --force replaces only a dataset folder "
                           "(choose another --out)")
    if not overwrite:
        raise DatasetError(f"{out} already exists (pass --force to replace it)")


def write_dataset(
    out: str | os.PathLike,
    meta: DatasetMetadata,
    splits: dict[str, SplitArrays],
    identifiers: list[str] | None = None,
    overwrite: bool = False,
) -> Dataset:
    """Validate and write atomically: everything goes to a temporary sibling folder, then one rename."""
    out = Path(out)
    check_replaceable(out, overwrite)
    dtype = token_dtype(meta.vocab_size)
    splits = {
        name: SplitArrays(
            inputs=np.ascontiguousarray(s.inputs, dtype=dtype),
            labels=np.ascontiguousarray(s.labels, dtype=dtype),
            puzzle_identifiers=np.ascontiguousarray(s.puzzle_identifiers, dtype=np.int32),
            puzzle_indices=np.ascontiguousarray(s.puzzle_indices, dtype=np.int64),
            group_indices=np.ascontiguousarray(s.group_indices, dtype=np.int64),
        )
        for name, s in splits.items()
    }
    meta = meta.model_copy(update={
        "format_version": FORMAT_VERSION,
        "splits": {name: s.info() for name, s in splits.items()},
        "content_hash": content_hash(splits),
    })
    for name, arrays in splits.items():
        _check_split(name, arrays, meta)
    identifiers = identifiers if identifiers is not None else ["<blank>"]
    if len(identifiers) != meta.num_puzzle_identifiers:
        raise DatasetError(f"{len(identifiers)} identifier names for {meta.num_puzzle_identifiers} identifiers")

    with atomic_directory(out) as tmp:
        for name, arrays in splits.items():
            (tmp / name).mkdir(parents=True)
            for array_name in ARRAY_NAMES:
                np.save(tmp / name / f"{array_name}.npy", getattr(arrays, array_name))
        (tmp / "identifiers.json").write_text(json.dumps(identifiers))
        (tmp / "metadata.json").write_text(meta.model_dump_json(indent=2))
    return Dataset(path=out, metadata=meta, splits=splits, identifiers=identifiers)


class SplitWriter:
    """One split written group by group: the token rows go straight to ``inputs.npy`` / ``labels.npy`` (whose
    size is declared up front, so each file's header is written first and the rows appended in order); the
    small index arrays are kept in memory and saved when the split is closed."""

    def __init__(self, folder: Path, name: str, num_examples: int, seq_len: int, dtype: np.dtype, vocab_size: int):
        self.name, self.num_examples, self.seq_len, self.dtype, self.vocab_size = name, num_examples, seq_len, dtype, vocab_size
        self.folder = folder / name
        self.folder.mkdir(parents=True)
        self._files: dict[str, IO[bytes]] = {}
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (num_examples, seq_len)}
        for array_name in ("inputs", "labels"):
            f = (self.folder / f"{array_name}.npy").open("wb")
            np.lib.format.write_array_header_1_0(f, header)
            self._files[array_name] = f
        self.rows = 0
        self._identifiers: list[np.ndarray] = []
        self._puzzle_sizes: list[np.ndarray] = []
        self._group_sizes: list[int] = []

    def add_group(self, puzzle_identifiers: np.ndarray, puzzle_sizes: np.ndarray, inputs: np.ndarray, labels: np.ndarray) -> None:
        """One group: its puzzles' identifiers and example counts, and their examples' rows in puzzle order."""
        where = f"split {self.name!r}"
        puzzle_identifiers, puzzle_sizes = np.asarray(puzzle_identifiers, dtype=np.int64), np.asarray(puzzle_sizes, dtype=np.int64)
        if puzzle_identifiers.shape != puzzle_sizes.shape or puzzle_sizes.ndim != 1 or (puzzle_sizes < 0).any():
            raise DatasetError(f"{where}: a group needs one identifier and one example count per puzzle")
        rows = int(puzzle_sizes.sum())
        for array_name, a in (("inputs", inputs), ("labels", labels)):
            if a.ndim != 2 or a.shape != (rows, self.seq_len):
                raise DatasetError(f"{where}: {array_name} of a group has shape {a.shape}, expected [{rows}, {self.seq_len}]")
            if a.dtype.kind not in "iu":
                raise DatasetError(f"{where}: {array_name} has dtype {a.dtype}, expected integers")
            _check_tokens(where, array_name, a, self.vocab_size)
        if self.rows + rows > self.num_examples:
            raise DatasetError(f"{where}: more than the {self.num_examples} examples declared")
        for array_name, a in (("inputs", inputs), ("labels", labels)):
            self._files[array_name].write(np.ascontiguousarray(a, dtype=self.dtype).tobytes())
        self.rows += rows
        self._identifiers.append(puzzle_identifiers)
        self._puzzle_sizes.append(puzzle_sizes)
        self._group_sizes.append(len(puzzle_sizes))

    def close(self) -> SplitArrays:
        """Finish the files and return the split, its token arrays memory-mapped from disk."""
        for f in self._files.values():
            f.close()
        if self.rows != self.num_examples:
            raise DatasetError(f"split {self.name!r}: {self.rows} examples written, {self.num_examples} declared")
        sizes = np.concatenate(self._puzzle_sizes) if self._puzzle_sizes else np.zeros(0, dtype=np.int64)
        index = {
            "puzzle_identifiers": (np.concatenate(self._identifiers) if self._identifiers else np.zeros(0)).astype(np.int32),
            "puzzle_indices": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            "group_indices": np.concatenate([[0], np.cumsum(self._group_sizes, dtype=np.int64)]).astype(np.int64),
        }
        for array_name, a in index.items():
            np.save(self.folder / f"{array_name}.npy", a)
        tokens = {a: np.load(self.folder / f"{a}.npy", mmap_mode="r") for a in ("inputs", "labels")}
        return SplitArrays(**tokens, **index)

    def abort(self) -> None:
        for f in self._files.values():
            f.close()


def _hash_npy_rows(h: Any, path: Path, block: int = 1 << 24) -> None:
    """Feed ``h`` the data bytes of an .npy file, read in blocks (the same bytes content_hash takes from the array,
    without mapping gigabytes into the process)."""
    with path.open("rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        read_header(f)  # leaves f at the first data byte
        while chunk := f.read(block):
            h.update(chunk)


class DatasetWriter:
    """What :func:`stream_dataset` yields: open splits, add extra files, then :meth:`finish` once."""

    def __init__(self, folder: Path, out: Path):
        self.folder, self.out = folder, out
        self._splits: dict[str, SplitWriter] = {}
        self.result: Dataset | None = None

    def split(self, name: str, num_examples: int, seq_len: int, vocab_size: int) -> SplitWriter:
        if name in self._splits or not name or "/" in name or name.startswith("."):
            raise DatasetError(f"split name {name!r} is taken or not a plain folder name")
        writer = SplitWriter(self.folder, name, num_examples, seq_len, token_dtype(vocab_size), vocab_size)
        self._splits[name] = writer
        return writer

    def write_text(self, filename: str, text: str) -> None:
        """An extra file beside metadata.json (e.g. a task's original puzzles), renamed into place with the rest."""
        if filename in ("metadata.json", "identifiers.json") or "/" in filename or filename in self._splits:
            raise DatasetError(f"{filename!r} is not a free file name in a dataset folder")
        (self.folder / filename).write_text(text)

    def abort(self) -> None:
        for w in self._splits.values():
            w.abort()

    def finish(self, meta: DatasetMetadata, identifiers: list[str]) -> Dataset:
        """Close every split, check them as write_dataset does, hash them and write the metadata."""
        splits = {name: w.close() for name, w in self._splits.items()}
        h = hashlib.sha256()
        for name in sorted(splits):
            for array_name in ARRAY_NAMES:
                array = getattr(splits[name], array_name)
                h.update(_hash_label(name, array_name, array.dtype, array.shape))
                if array_name in ("inputs", "labels"):
                    _hash_npy_rows(h, self.folder / name / f"{array_name}.npy")
                elif array.size:
                    h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        meta = meta.model_copy(update={"format_version": FORMAT_VERSION, "splits": {name: s.info() for name, s in splits.items()},
                                       "content_hash": h.hexdigest()})
        for name, arrays in splits.items():
            _check_split(name, arrays, meta, tokens_checked=True)
        if len(identifiers) != meta.num_puzzle_identifiers:
            raise DatasetError(f"{len(identifiers)} identifier names for {meta.num_puzzle_identifiers} identifiers")
        (self.folder / "identifiers.json").write_text(json.dumps(identifiers))
        (self.folder / "metadata.json").write_text(meta.model_dump_json(indent=2))
        self.result = Dataset(path=self.out, metadata=meta, splits=splits, identifiers=identifiers)
        return self.result


@contextmanager
def stream_dataset(out: str | os.PathLike, overwrite: bool = False) -> Iterator[DatasetWriter]:
    """Write a dataset split by split, group by group, into a temporary folder that replaces ``out`` when the block
    succeeds (and has called :meth:`DatasetWriter.finish`); on any failure ``out`` is left as it was. ``writer.result``
    stays usable after the block: its token arrays are mapped files, and a rename does not move a mapping."""
    out = Path(out)
    check_replaceable(out, overwrite)
    with atomic_directory(out) as tmp:
        writer = DatasetWriter(tmp, out)
        try:
            yield writer
            if writer.result is None:
                raise DatasetError("stream_dataset: the block ended without finish()")
        finally:
            writer.abort()


def read_metadata(path: str | os.PathLike) -> DatasetMetadata:
    path = Path(path)
    meta_file = path / "metadata.json"
    if path.exists() and not path.is_dir():
        raise DatasetError(f"{path}: a file, not a dataset folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset folder")
    if not meta_file.exists():
        raise DatasetError(f"{path}: not a dataset (no metadata.json); build one with `hrm data build`")
    try:
        meta = DatasetMetadata.model_validate_json(meta_file.read_bytes())
    except ValidationError as e:
        field, _, message = first_validation_error(e)
        where = "" if field == "(top level)" else f"{field}: "
        raise DatasetError(f"{meta_file}: invalid metadata: {where}{message}") from None
    except OSError as e:
        raise DatasetError(f"{meta_file}: unreadable ({e.strerror})") from None
    if meta.format_version != FORMAT_VERSION:
        raise DatasetError(f"{meta_file}: format version {meta.format_version}, this hrmkit reads {FORMAT_VERSION}")
    return meta


def load_dataset(path: str | os.PathLike, verify_hash: bool = True, mmap: bool = True) -> Dataset:
    """Load and validate a dataset; any fault raises :class:`DatasetError` naming it."""
    path = Path(path)
    meta = read_metadata(path)
    splits = {}
    for name in meta.splits:
        arrays = {}
        for array_name in ARRAY_NAMES:
            f = path / name / f"{array_name}.npy"
            if not f.exists():
                raise DatasetError(f"{path}: missing array {name}/{array_name}.npy")
            try:
                arrays[array_name] = np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
            # np.load on damaged bytes fails in undocumented ways (ValueError, EOFError, and from a mangled header
            # also SyntaxError or tokenize.TokenError): whatever the type, the file is unreadable.
            except Exception as e:
                raise DatasetError(f"{f}: unreadable array ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None
        splits[name] = SplitArrays(**arrays)
        _check_split(name, splits[name], meta)
    if verify_hash and content_hash(splits) != meta.content_hash:
        raise DatasetError(f"{path}: content hash mismatch: the arrays were changed after the dataset was written")
    file = path / "identifiers.json"
    identifiers = jsonio.read(file, DatasetError)
    if (not isinstance(identifiers, list) or len(identifiers) != meta.num_puzzle_identifiers
            or not all(isinstance(name, str) for name in identifiers)):
        raise DatasetError(f"{file}: expected a list of {meta.num_puzzle_identifiers} names (num_puzzle_identifiers)")
    return Dataset(path=path, metadata=meta, splits=splits, identifiers=identifiers)
