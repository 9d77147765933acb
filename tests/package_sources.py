"""The package's source files as (path relative to the package, text), for tests that read code."""
from __future__ import annotations

import importlib
import os
from typing import Iterator

PACKAGES = ("relucompile", "relucompile.frontends", "relucompile.backends")


def package_files() -> Iterator[tuple[str, str]]:
    """Every ``.py`` file of the installed package as (``relucompile/...`` path, source text)."""
    for name in PACKAGES:
        root = os.path.dirname(importlib.import_module(name).__file__)
        prefix = name.replace(".", "/")
        for folder, dirs, files in os.walk(root):
            if folder == root and name == "relucompile":  # frontends/backends live elsewhere on disk
                dirs[:] = [d for d in dirs if d not in ("frontends", "backends")]
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for file in sorted(files):
                if file.endswith(".py"):
                    path = os.path.join(folder, file)
                    rel = os.path.relpath(path, root).replace(os.sep, "/")
                    with open(path, encoding="utf-8") as f:
                        yield f"{prefix}/{rel}", f.read()
