"""Limits that always hold: one time budget that every long loop checks, and one memory budget.

**Time.** :func:`time_budget` opens a deadline (``--time-limit S``: S seconds counted from the
command's start, loading and parsing included); loops call :func:`check_time` and LPs read
:func:`remaining` for their solver's time limit.  Budgets nest (the earliest deadline wins), and
worker processes forked inside one inherit it.  Past the deadline :func:`check_time` raises
:class:`~relucompile.errors.TimeLimitError` (exit 2), naming the option and what was running.

**Memory.** Stores call :func:`check_memory` with the process's resident memory plus what they
are about to allocate whenever they grow (doubling, so rarely); past the memory budget
(:data:`DEFAULT_MEMORY_MB` unless ``--max-memory MB`` or :func:`memory_budget` says otherwise)
it raises :class:`~relucompile.errors.MemoryLimitError`, naming the option, instead of letting
the machine run out of memory.

Example:
    >>> with time_budget(60.0):
    ...     check_time("parsing")          # well within the budget: nothing happens
    ...     0 < remaining() <= 60.0
    True
    >>> remaining()                        # no budget open
    inf
    >>> with time_budget(1e-9, already_spent=1.0):
    ...     check_time("parsing the model")
    Traceback (most recent call last):
    relucompile.errors.TimeLimitError: --time-limit 1e-09 s ran out while parsing the model (after 1.0 s); raise --time-limit
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

from relucompile.errors import MemoryLimitError, TimeLimitError


@dataclass(frozen=True)
class _Budget:
    start: float       # time.perf_counter() when the budget's clock started
    deadline: float    # time.perf_counter() value
    seconds: float
    option: str
    hint: str


_BUDGETS: list[_Budget] = []
T = TypeVar("T")
_DOING: list[str] = []


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Name the work of the block for the time-limit message of checks that do not know it
    (e.g. an LP's: ``... ran out while enumerating the cells``).

    Example:
        >>> with doing("enumerating the cells"), time_budget(1e-9, already_spent=1.0):
        ...     check_time()
        Traceback (most recent call last):
        relucompile.errors.TimeLimitError: --time-limit 1e-09 s ran out while enumerating the cells (after 1.0 s); raise --time-limit
    """
    _DOING.append(what)
    try:
        yield
    finally:
        _DOING.pop()


@contextmanager
def time_budget(seconds: float | None, option: str = "--time-limit", already_spent: float = 0.0,
                hint: str = "") -> Iterator[None]:
    """Within the block, :func:`check_time` raises once ``seconds`` have passed since the clock
    started ``already_spent`` seconds ago (``None``: no budget).  ``option`` and ``hint`` go into
    the message.

    Example:
        >>> with time_budget(None):
        ...     remaining()
        inf
    """
    if seconds is None:
        yield
        return
    start = time.perf_counter() - already_spent
    _BUDGETS.append(_Budget(start, start + seconds, seconds, option, hint))
    try:
        yield
    finally:
        _BUDGETS.pop()


def remaining() -> float:
    """Seconds left in the earliest open budget (``inf`` without one; negative once past).

    Example:
        >>> remaining()
        inf
    """
    if not _BUDGETS:
        return float("inf")
    return min(b.deadline for b in _BUDGETS) - time.perf_counter()


def check_time(what: str | None = None) -> None:
    """Raise :class:`~relucompile.errors.TimeLimitError` when an open budget has run out;
    ``what`` says what was running (e.g. ``"loading m.onnx"``; default: the innermost
    :func:`doing`).

    Example:
        >>> check_time("anything")        # no budget open: never raises
    """
    if not _BUDGETS:
        return
    now = time.perf_counter()
    budget = min(_BUDGETS, key=lambda b: b.deadline)
    if now > budget.deadline:
        hint = budget.hint or f"raise {budget.option}"
        what = what or (_DOING[-1] if _DOING else "running")
        raise TimeLimitError(f"{budget.option} {budget.seconds:g} s ran out while {what} "
                             f"(after {now - budget.start:.1f} s); {hint}")


def process_age() -> float:
    """Wall seconds since this process started (Linux ``/proc``; 0.0 where unavailable), so a
    budget can count from the process start.

    Example:
        >>> 0.0 <= process_age() < 1e6
        True
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _default_memory_mb() -> float:
    """Three quarters of the machine's memory, at most 8 GiB (4 GiB where unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return 4096.0
    return float(min(8192, int(0.75 * total)))


DEFAULT_MEMORY_MB = _default_memory_mb()
"""The memory budget when none is given: 3/4 of the machine's memory, at most 8 GiB
(``--max-memory MB`` changes it)."""

_MEMORY: list[tuple[float, str]] = []


def resident_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``; 0 where unknown).

    Example:
        >>> resident_bytes() >= 0
        True
    """
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@contextmanager
def memory_budget(megabytes: float | None, option: str = "--max-memory") -> Iterator[None]:
    """Within the block, :func:`check_memory` refuses growth past ``megabytes`` MiB (``None``:
    the default, :data:`DEFAULT_MEMORY_MB`).  Nested budgets: the innermost wins.

    Example:
        >>> with memory_budget(1):
        ...     check_memory(2 * 2**20, "the cell store")
        Traceback (most recent call last):
        relucompile.errors.MemoryLimitError: the cell store would bring the process to 2 MiB, beyond the memory budget of 1 MiB (--max-memory 1); raise --max-memory or use a smaller domain
    """
    _MEMORY.append((DEFAULT_MEMORY_MB if megabytes is None else float(megabytes), option))
    try:
        yield
    finally:
        _MEMORY.pop()


def check_memory(nbytes: int, what: str) -> None:
    """Raise :class:`~relucompile.errors.MemoryLimitError` when ``nbytes`` exceed the innermost
    open memory budget (none open: :data:`DEFAULT_MEMORY_MB`).

    Example:
        >>> check_memory(2**20, "the cell store")      # 1 MiB: within the default
    """
    megabytes, option = _MEMORY[-1] if _MEMORY else (DEFAULT_MEMORY_MB, "--max-memory")
    if nbytes > megabytes * 2**20:
        raise MemoryLimitError(f"{what} would bring the process to {nbytes / 2**20:,.0f} MiB, beyond the memory budget of "
                               f"{megabytes:g} MiB ({option} {megabytes:g}); raise {option} or use a smaller domain")


def check_growth(new_bytes: int, what: str) -> None:
    """:func:`check_memory` for a store about to allocate ``new_bytes`` more: the process's
    resident memory plus those bytes.

    Example:
        >>> check_growth(1024, "the cell store")
    """
    check_memory(resident_bytes() + int(new_bytes), what)


def checked(items: Iterable[T], every: int = 256) -> Iterator[T]:
    """``items``, with :func:`check_time` before the first and then every ``every`` items: the
    time budget of a long per-cell loop in one word.

    Example:
        >>> [x * x for x in checked(range(4))]
        [0, 1, 4, 9]
    """
    for count, item in enumerate(items):
        if count % every == 0:
            check_time()
        yield item
