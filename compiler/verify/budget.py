"""The time budget of one verification: a deadline on ``time.perf_counter()`` that every loop checks.

``relucompile verify --timeout T`` counts from the *process start* (imports, model loading and
parsing included): :func:`relucompile.limits.process_age` gives the seconds already spent when the clock is read, so
``Budget(T, already_spent=process_age())`` ends T seconds after the process began.

Example:
    >>> budget = Budget(10.0)
    >>> budget.expired(), 9.0 < budget.remaining() <= 10.0
    (False, True)
    >>> Budget(None).remaining()
    inf
"""
from __future__ import annotations

import time



class OutOfTime(Exception):
    """Raised inside a search when the budget runs out (or an LP hits its time limit)."""


class Budget:
    """A deadline ``seconds`` from now minus ``already_spent`` (``None``: no limit)."""

    def __init__(self, seconds: float | None, already_spent: float = 0.0) -> None:
        self.start = time.perf_counter() - already_spent
        self.deadline = None if seconds is None else self.start + seconds

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit; may be negative)."""
        return float("inf") if self.deadline is None else self.deadline - time.perf_counter()

    def expired(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def check(self) -> None:
        """Raise :class:`OutOfTime` when the deadline has passed.

        Example:
            >>> Budget(1e-9, already_spent=1.0).check()
            Traceback (most recent call last):
            ...
            relucompile.verify.budget.OutOfTime
        """
        if self.expired():
            raise OutOfTime()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
