"""The shape of the package, checked from its source: no import cycles, tasks reached only through their registry, no
branching on a task's or a model's name outside its own module, one version number."""

from __future__ import annotations

import ast
import re
from importlib.metadata import version
from pathlib import Path

import tomllib

import hrmkit

SRC = Path(hrmkit.__file__).parent
TASKS = SRC / "tasks"
MODELS = SRC / "models"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:``: imports for type hints only, never executed."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside |= {id(n) for n in ast.walk(node)}
    return inside


def imported_modules(name: str, path: Path) -> set[str]:
    """The hrmkit modules that ``name`` imports anywhere in its source (at the top or inside functions)."""
    tree = ast.parse(path.read_text())
    hints = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hints:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_through_others():
    assert len(GRAPH) > 30 and GRAPH["hrmkit.train"]  # the graph was read
    assert cycles(GRAPH) == []


def test_only_the_registry_leads_into_a_task():
    """Outside ``tasks/`` a task is reached by name through the registry (``hrmkit.tasks``) and its interfaces
    (``hrmkit.tasks.base``), never by importing its module, so that a task's folder can be removed on its own."""
    shared = {"hrmkit.tasks", "hrmkit.tasks.base"}
    reaching_in = {name: sorted(m for m in imports if m.startswith("hrmkit.tasks.") and m not in shared)
                   for name, imports in GRAPH.items() if not name.startswith("hrmkit.tasks")}
    assert {name: found for name, found in reaching_in.items() if found} == {}


def _registered_names() -> set[str]:
    from hrmkit.models import model_names
    from hrmkit.tasks import task_names

    return set(task_names()) | set(model_names())


def test_no_task_or_model_name_is_branched_on_outside_its_own_module():
    names = "|".join(sorted(map(re.escape, _registered_names())))
    compared = re.compile(rf"""(==|!=|===|!==)\s*["']({names})["']|["']({names})["']\s*(==|!=|===|!==)""")
    outside = [p for p in SRC.rglob("*") if p.suffix in (".py", ".js") and TASKS not in p.parents and MODELS not in p.parents]
    hits = [f"{p.relative_to(SRC)}:{i}: {line.strip()}" for p in outside
            for i, line in enumerate(p.read_text().splitlines(), 1) if compared.search(line)]
    assert hits == []


def test_one_version_number():
    assert version("hrmkit") == hrmkit.__version__  # pyproject.toml reads it from hrmkit/__init__.py
    project = tomllib.loads((SRC.parent.parent / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]


def test_model_names_come_from_one_place_and_configs_load_without_torch():
    import subprocess
    import sys

    import hrmkit.models

    assert all(getattr(hrmkit.models, name) is not None for name in hrmkit.models.__all__)
    code = ("import sys\n"
            "from hrmkit.models import HRMConfig, TRMConfig\n"
            "from hrmkit.config import make_train_config\n"
            "make_train_config('demo', ['arch.hidden_size=32'])\n"
            "assert HRMConfig().name == 'hrm' and TRMConfig().name == 'trm'\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # a config is checked in a fraction of a second, before torch loads
