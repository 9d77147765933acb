"""A dependency-free progress line on stderr for long enumerations.

Example:
    >>> bar = Progress(enabled=False)
    >>> bar(10, {"lps": 100}); bar.close()
"""
from __future__ import annotations

import sys
import time


class Progress:
    """Call with (cells so far, info); redraws at most 5 times a second on a terminal, and
    prints a plain line every 10 s otherwise.  Silent for runs shorter than ``delay`` s."""

    def __init__(self, enabled: bool = True, label: str = "regions", delay: float = 1.0) -> None:
        self.enabled, self.label, self.delay = enabled, label, delay
        self.start = time.perf_counter()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, count: int, info: dict) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay or now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        rate = count / elapsed if elapsed > 0 else 0.0
        line = f"{self.label}: {count:,} cells  {rate:,.0f} cells/s  {info.get('lps', 0):,} LPs  {elapsed:,.1f} s"
        if self.tty:
            sys.stderr.write("\r" + line + "\033[K")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.enabled and self.shown and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
