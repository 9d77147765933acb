"""Errors a user can cause, each rendered as one line naming file, node and op.

Example:
    >>> str(ModelError("m.onnx", "sig1", "Sigmoid", "not piecewise linear"))
    "m.onnx: node 'sig1' (Sigmoid): not piecewise linear"
"""
from __future__ import annotations

import json
import os
import stat
from typing import Any


class RelucompileError(Exception):
    """Base of every error relucompile raises on purpose (``except RelucompileError`` catches them all).

    Example:
        >>> issubclass(ModelError, RelucompileError) and issubclass(RegionLimitError, RelucompileError)
        True
    """


class UserError(RelucompileError):
    """A mistake in the user's input or options: reported in one line, exit code 2."""


class ModelError(UserError):
    """The model cannot be compiled; names the file, the node and the op."""

    def __init__(self, source: str, node: str, op: str, why: str) -> None:
        self.source, self.node_name, self.op, self.why = source, node, op, why
        where = source
        if node:
            where += f": node '{node}'"
        if op:
            where += f" ({op})" if node else f": {op}"
        super().__init__(f"{where}: {why}")


class DomainError(UserError):
    """The input domain given by the user is malformed."""


class RegionLimitError(UserError):
    """Enumeration stopped at a user-given bound (``--max-regions`` or ``--time-limit``)."""


#: command-line options -> the Python API's parameter names, for messages raised through the API
API_TERMS = {
    "--max-regions": "max_regions", "--time-limit": "time_limit", "--input-shape": "input_shape",
    "--trust-model-code": "trust_code", "--engine": "engine", "--jobs": "jobs", "--seed": "seed",
    "--box": "domain=Domain.box(...)", "--domain": "domain=Domain.from_json(...)", "--vnnlib": "a VNN-LIB property",
}


def in_api_terms(message: str) -> str:
    """``message`` with command-line options replaced by the API's parameter names.

    Example:
        >>> in_api_terms("stopped at --max-regions 10; use a smaller domain (--box)")
        'stopped at max_regions 10; use a smaller domain (domain=Domain.box(...))'
    """
    for flag in sorted(API_TERMS, key=len, reverse=True):
        message = message.replace(flag, API_TERMS[flag])
    return message


def read_json_file(path: str, error: type[UserError] = UserError, invalid: str = "not valid JSON") -> Any:
    """The JSON value in the file at ``path``; a missing or unreadable file raises ``error`` with
    one line: ``path: no such file`` or ``path: <invalid> (<why>)``.

    Example:
        >>> try:
        ...     read_json_file("no/such/file.json", DomainError)
        ... except DomainError as exc:
        ...     print(exc)
        no/such/file.json: no such file
    """
    regular_input_file(path, error)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: {invalid} ({str(exc).splitlines()[0][:200]})") from None
    except RecursionError:
        raise error(f"{path}: {invalid} (nested too deeply)") from None


class TimeLimitError(RegionLimitError):
    """The run's time budget (``--time-limit``, ``--timeout``) ran out (see :mod:`relucompile.limits`)."""


class MemoryLimitError(RegionLimitError):
    """The cell store would grow past the run's memory budget (``--max-memory``)."""


class SolverLimitError(UserError):
    """An LP did not finish within its iteration cap: the solver cycles on this model's numbers."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def regular_input_file(path: str | os.PathLike, error: type[UserError] = UserError,
                       label: str | None = None) -> str:
    """Every file the tool reads is checked here first: ``path`` (as a str) if it names an existing regular file, else ``error`` with one line:
    ``PATH: no such file`` or ``PATH: a FIFO (named pipe), not a regular file; ...``.  ``label``
    replaces the path in the message (e.g. ``--points FILE``).  A FIFO, a device (``/dev/zero``),
    a socket or a directory would block a read or feed it without end, so it is refused before
    anything opens it (symlinks are followed).

    Example:
        >>> regular_input_file("/dev/zero")
        Traceback (most recent call last):
        relucompile.errors.UserError: /dev/zero: a character device, not a regular file; give the path of a file
    """
    path = os.fspath(path)
    name = label or path
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except (OSError, ValueError) as exc:   # permission, a name too long, an embedded NUL, ...
        why = getattr(exc, "strerror", None) or str(exc)
        raise error(f"{name}: cannot read ({why})") from None
    if not stat.S_ISREG(mode):
        kind = next((what for test, what in _KINDS if test(mode)), "a special file")
        raise error(f"{name}: {kind}, not a regular file; give the path of a file")
    return path
