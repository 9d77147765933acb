"""Atomic output files: written to a temporary file beside the target, then renamed.

A failed or interrupted run never leaves a partial output behind.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> atomic_write(path, lambda f: f.write(b"hello"))
    >>> open(path).read()
    'hello'
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable, IO

from relucompile.errors import UserError


def check_writable(path: str) -> None:
    """Fail early (before a long compile) if ``path`` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the output folder {folder} does not exist")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder, not a file")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: the output folder is not writable")


def atomic_write(path: str, write: Callable[[IO], None], text: bool = False) -> None:
    """Call ``write(stream)`` on a temporary file, then rename it to ``path``."""
    check_writable(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w" if text else "wb") as stream:
            write(stream)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
