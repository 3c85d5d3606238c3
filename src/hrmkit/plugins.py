"""Out-of-tree tasks and models: modules named in ``HRMKIT_PLUGINS`` (comma-separated module names
or ``.py`` paths) and entry points in the groups ``hrmkit.tasks`` / ``hrmkit.models`` are imported
once, before the first registry lookup; importing them is what registers them."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from hrmkit.errors import HrmError

_loaded = False


def _import_path(path: Path) -> None:
    name = f"hrmkit_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HrmError(f"HRMKIT_PLUGINS: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for item in filter(None, (s.strip() for s in os.environ.get("HRMKIT_PLUGINS", "").split(","))):
        try:
            if item.endswith(".py"):
                if not Path(item).is_file():
                    raise HrmError(f"HRMKIT_PLUGINS: no such file {item}")
                _import_path(Path(item))
            else:
                importlib.import_module(item)
        except HrmError:
            raise
        except Exception as e:  # a plug-in is the user's code: any fault in it is reported in one line
            raise HrmError(f"HRMKIT_PLUGINS: cannot import {item} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    for group in ("hrmkit.tasks", "hrmkit.models"):
        for ep in entry_points(group=group):
            ep.load()
