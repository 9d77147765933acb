"""Public names imported on first use (PEP 562), so ``import relucompile`` and the command line's
start-up stay cheap: a package lists ``name -> module`` and gets its ``__getattr__``/``__dir__``.

Example:
    >>> getattr_, dir_ = lazy_exports("demo", {"sqrt": "math"}, {})
    >>> getattr_("sqrt")(9.0), dir_()
    (3.0, ['sqrt'])
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: a name of ``exports`` is imported from its
    module on first use and cached in ``namespace`` (the package's ``globals()``)."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(exports)
    return __getattr__, __dir__
