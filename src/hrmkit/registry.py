"""A name -> object registry that fills itself on first use (built-ins, then plug-ins); tasks and
models each keep one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from hrmkit.errors import HrmError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, load_builtins: Callable[[], None], hint: str = ""):
        self.kind = kind  # "task", "model": used in messages
        self._items: dict[str, T] = {}
        self._load_builtins = load_builtins
        self._hint = hint

    def add(self, name: str, item: T, replace: bool = False, same: Callable[[T, T], bool] = lambda a, b: type(a) is type(b)) -> T:
        if name in self._items and not replace and not same(self._items[name], item):
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._items[name] = item
        return item

    def _ready(self) -> dict[str, T]:
        self._load_builtins()
        return self._items

    def names(self) -> list[str]:
        return sorted(self._ready())

    def values(self) -> list[T]:
        return list(self._ready().values())

    def __contains__(self, name: str) -> bool:
        return name in self._ready()

    def get(self, name: str) -> T:
        items = self._ready()
        if name not in items:
            raise HrmError(f"unknown {self.kind} {name!r}; choose {', '.join(sorted(items))}{self._hint}")
        return items[name]
