"""Public names of a package, loaded when first used: each layer's `__init__` lists what other
layers may use (its `__all__`) without importing the modules behind them, so that `vsr --help`
and the option types stay instant. Type checkers read the same names from the package's
`if TYPE_CHECKING:` imports; a test checks that both lists agree."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, origins: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public names come from the modules in
    `origins` (name → module). A name found is kept in the package, so it is looked up once."""

    def __getattr__(name: str) -> Any:
        origin = origins.get(name)
        if origin is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origin), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *origins})

    return __getattr__, __dir__
