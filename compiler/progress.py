"""A dependency-free progress line on stderr for long runs, and plural wording.

:class:`Progress` is called with the count so far (cells, usually); it shows the count, the rate
after the first second, and with a known ``total`` the share done and an ETA.  A command installs
one for its whole run with :func:`activity`: loops deep inside (the enumeration) find it with
:func:`current`, and a heartbeat redraws the line (elapsed time, and the time limit when given)
while no loop reports, so a command that works for more than a second always says so.

Example:
    >>> bar = Progress(enabled=False)
    >>> bar(10, {"lps": 100}); bar.close()
    >>> Progress(label="certify", total=98).line(40, {}, 10.0)
    'certify: 40 of 98 cells (41%)  4.0 cells/s  ETA 14 s  10.0 s'
    >>> plural(1, "input"), plural(1234, "cell")
    ('1 input', '1,234 cells')
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Callable, Iterator

#: seconds of a run after which its rate counts as measured (the forecast's basis)
FORECAST_AFTER = 2.0


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count noun`` with the noun in the plural unless the count is 1 (thousands separated).

    Example:
        >>> plural(0, "cell"), plural(1, "cell"), plural(2, "box", "boxes")
        ('0 cells', '1 cell', '2 boxes')
    """
    return f"{count:,} {noun if count == 1 else (plural_form or noun + 's')}"


def rate_text(rate: float) -> str:
    """A rate with two or three significant digits (never a bare ``0`` for a slow but running loop).

    Example:
        >>> rate_text(0.41), rate_text(4.0), rate_text(12.34), rate_text(1234.5)
        ('0.41', '4.0', '12', '1,234')
    """
    if rate >= 100:
        return f"{rate:,.0f}"
    if rate >= 10:
        return f"{rate:.0f}"
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2g}"


def duration_text(seconds: float) -> str:
    """Seconds as ``42 s``, ``3 min 20 s`` or ``2 h 5 min``.

    Example:
        >>> duration_text(14.6), duration_text(200), duration_text(7500)
        ('15 s', '3 min 20 s', '2 h 5 min')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Progress:
    """Call with (count so far, info); redraws at most 5 times a second on a terminal, and
    prints a plain line every 10 s otherwise.  Silent for runs shorter than ``delay`` s.

    ``total``: the count at the end when known (certify knows its cells): the line then shows the
    share done and an ETA (``info['total']`` sets it too).  ``unit``: what is counted (``cell``).
    ``info['lps']`` is shown when positive.
    """

    def __init__(self, enabled: bool = True, label: str = "regions", delay: float = 1.0,
                 total: int | None = None, unit: str = "cell") -> None:
        self.enabled, self.label, self.delay, self.total, self.unit = enabled, label, delay, total, unit
        self.start = time.perf_counter()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.shown = False
        self.count: int | None = None
        self.info: dict = {}
        self.note = ""
        #: called once with the measured rate (units/s) after ``FORECAST_AFTER`` s; a line it
        #: returns is printed (the warning that the run will not fit its limits)
        self.forecast: Callable[[float], str | None] | None = None
        self._lock = threading.Lock()

    def line(self, count: int | None, info: dict, elapsed: float) -> str:
        """The progress line for ``count`` units after ``elapsed`` seconds (``count`` None: no
        loop has reported yet, only the elapsed time is shown)."""
        parts = [f"{self.label}:"]
        if count is None:
            parts.append("working")
        else:
            if self.total:
                parts.append(f"{count:,} of {plural(self.total, self.unit)} ({100 * count / self.total:.0f}%)")
            else:
                parts.append(plural(count, self.unit))
            if elapsed >= 1.0 and count > 0:
                rate = count / elapsed
                parts.append(f" {rate_text(rate)} {self.unit}s/s")
                if self.total and count < self.total:
                    parts.append(f" ETA {duration_text((self.total - count) / rate)}")
            if info.get("lps"):
                parts.append(f" {plural(int(info['lps']), 'LP')}")
        parts.append(f" {elapsed:,.1f} s" + (f" {self.note}" if self.note else ""))
        return " ".join(parts)

    def __call__(self, count: int, info: dict | None = None) -> None:
        self.count, self.info = count, info or {}
        if "total" in self.info:
            self.total = self.info["total"]
        if self.enabled:            # -q: no progress line and no forecast
            self._check_forecast()
            self._draw(force=False)

    def _check_forecast(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.forecast is None or not self.count or elapsed < FORECAST_AFTER:
            return
        forecast, self.forecast = self.forecast, None
        warning = forecast(self.count / elapsed)
        if warning:
            self.message(warning)

    def message(self, text: str) -> None:
        """Print one line on stderr (above the progress line on a terminal)."""
        with self._lock:
            sys.stderr.write(("\r" + text + "\033[K\n") if self.tty else text + "\n")
            sys.stderr.flush()

    def _draw(self, force: bool) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay or (not force and now - self.last < (0.2 if self.tty else 10.0)):
            return
        with self._lock:
            self.last = now
            line = self.line(self.count, self.info, elapsed)
            if self.tty:
                sys.stderr.write("\r" + line + "\033[K")
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
            self.shown = True

    def close(self) -> None:
        if self.enabled and self.shown and self.tty:
            with self._lock:
                sys.stderr.write("\n")
                sys.stderr.flush()
                self.shown = False


_CURRENT: list[Progress] = []


def current() -> Progress | None:
    """The progress line of the running command (:func:`activity`), or None.

    Example:
        >>> current() is None
        True
    """
    return _CURRENT[-1] if _CURRENT else None


@contextlib.contextmanager
def activity(label: str, enabled: bool = True, note: str = "", heartbeat: float | None = None,
             delay: float = 1.0) -> Iterator[Progress]:
    """Install a :class:`Progress` for the block (loops find it with :func:`current`) and redraw
    it every ``heartbeat`` seconds (default: 1 s on a terminal, 10 s otherwise) while the loops
    are silent; ``note`` is appended to the line (e.g. the time limit); nothing is shown in the
    first ``delay`` seconds.

    Example:
        >>> with activity("verify", enabled=False) as bar:
        ...     current() is bar
        True
    """
    bar = Progress(enabled=enabled, label=label, delay=delay)
    bar.note = note
    _CURRENT.append(bar)
    stop = threading.Event()
    beat = None
    if enabled:
        period = heartbeat if heartbeat is not None else (1.0 if bar.tty else 10.0)

        def redraw() -> None:
            while not stop.wait(period):
                if time.perf_counter() - bar.last >= period:
                    bar._draw(force=True)
        beat = threading.Thread(target=redraw, name="relucompile-progress", daemon=True)
        beat.start()
    try:
        yield bar
    finally:
        stop.set()
        if beat is not None:
            beat.join(timeout=1.0)
        _CURRENT.remove(bar)
        bar.close()
