"""hrmkit: latent recursive reasoning models (HRM, TRM) — data, training, evaluation, solving.

    import hrmkit
    model, meta = hrmkit.from_pretrained("runs/demo")
    print(hrmkit.format_trace(hrmkit.solve(model, meta, ".2.113.2.......4"), meta))

Attributes are imported lazily, so ``import hrmkit`` (and the ``hrm`` command's argument parsing)
does not pay for importing torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["format_trace", "from_pretrained", "register_model", "register_task", "solve"]

_LAZY = {
    "from_pretrained": ("hrmkit.checkpoint", "from_pretrained"),
    "solve": ("hrmkit.solve", "solve"),
    "format_trace": ("hrmkit.solve", "format_trace"),
    "register_model": ("hrmkit.models.registry", "register_model"),
    "register_task": ("hrmkit.tasks", "register_task"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'hrmkit' has no attribute {name!r}")
