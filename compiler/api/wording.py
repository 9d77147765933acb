"""API wording: errors raised through the Python API name parameters, not command-line flags.

Kept apart from :mod:`relucompile.api.compile` so that loading a model (``load_network``) does not
import the engines.

Example:
    >>> from relucompile.api.wording import load_network
    >>> from relucompile.examples import tiny_mlp_path
    >>> load_network(tiny_mlp_path()).d
    2
"""
from __future__ import annotations

import contextvars
import functools
import sys
from typing import Any, Callable, TypeVar

from relucompile.errors import RelucompileError, in_api_terms
from relucompile.frontends.load import load_network as _load_network

F = TypeVar("F", bound=Callable[..., Any])


#: True while the command line is calling the API (its errors then keep naming the command-line options)
_FOR_COMMAND_LINE = contextvars.ContextVar("relucompile_for_command_line", default=False)


def speaks_api(function: F) -> F:
    """``function`` with its errors worded in the API's terms: parameter names (``max_regions``,
    ``domain=Domain.box(...)``), not command-line flags.  The error keeps its type.  Called from
    the command line (``relucompile.cli``), the errors keep naming its options.

    Example:
        >>> from relucompile.errors import UserError
        >>> @speaks_api
        ... def limited():
        ...     raise UserError("raise --max-regions")
        >>> try:
        ...     limited()
        ... except UserError as error:
        ...     print(error)
        raise max_regions
    """
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        token = _FOR_COMMAND_LINE.set(True) if caller.startswith("relucompile.cli") else None
        try:
            return function(*args, **kwargs)
        except RelucompileError as exc:
            if not _FOR_COMMAND_LINE.get() and exc.args and isinstance(exc.args[0], str):
                exc.args = (in_api_terms(exc.args[0]),) + exc.args[1:]
            raise
        finally:
            if token is not None:
                _FOR_COMMAND_LINE.reset(token)
    return run  # type: ignore[return-value]


load_network = speaks_api(_load_network)

__all__ = ["speaks_api", "load_network"]
