"""Exact rational numbers and matrices for the certifier: python-flint when installed, else Fractions.

The certifier needs a handful of operations on rational matrices: products, entries, solving a
square system and reduced row echelon form.  python-flint's ``fmpq_mat`` does them in C (tens of
times faster than ``fractions.Fraction``); :class:`FractionMatrix` is a small pure-Python
stand-in with the same methods, used when python-flint is missing.

Example:
    >>> M = qmat(2, 2, [1, 2, 3, 4])
    >>> x = M.solve(qmat(2, 1, [1, 1]))
    >>> [str(v) for v in x.entries()]
    ['-1', '1']
    >>> nearest_float(Q(1, 3)) == 1 / 3
    True
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

try:  # RELUCOMPILE_NO_FLINT=1 forces the Fraction fallback (to test it)
    if os.environ.get("RELUCOMPILE_NO_FLINT"):
        raise ImportError("disabled by RELUCOMPILE_NO_FLINT")
    from flint import fmpq as _fmpq, fmpq_mat as _fmpq_mat
    HAVE_FLINT = True
except ImportError:
    HAVE_FLINT = False


class FractionMatrix:
    """The subset of ``flint.fmpq_mat`` the certifier uses, on Fractions (fallback)."""

    def __init__(self, *args: Any) -> None:
        if len(args) == 1:
            rows = [list(r) for r in args[0]]
            self.a = np.array([[Fraction(v) for v in r] for r in rows], dtype=object).reshape(len(rows), -1)
        else:
            n, m = args[0], args[1]
            vals = list(args[2]) if len(args) > 2 else [0] * (n * m)
            self.a = np.array([Fraction(v) for v in vals], dtype=object).reshape(n, m)

    def nrows(self) -> int:
        return self.a.shape[0]

    def ncols(self) -> int:
        return self.a.shape[1]

    def entries(self) -> list:
        return list(self.a.ravel())

    def __getitem__(self, ij):
        return self.a[ij]

    def __mul__(self, other: "FractionMatrix") -> "FractionMatrix":
        out = FractionMatrix(self.nrows(), other.ncols())
        if self.ncols():
            out.a = self.a.dot(other.a)
        return out

    def __add__(self, other: "FractionMatrix") -> "FractionMatrix":
        out = FractionMatrix(self.nrows(), self.ncols())
        out.a = self.a + other.a
        return out

    def transpose(self) -> "FractionMatrix":
        out = FractionMatrix(self.ncols(), self.nrows())
        out.a = self.a.T.copy()
        return out

    def rref(self) -> tuple["FractionMatrix", int]:
        a = [list(r) for r in self.a]
        n, m = self.nrows(), self.ncols()
        rank = 0
        for col in range(m):
            piv = next((r for r in range(rank, n) if a[r][col] != 0), None)
            if piv is None:
                continue
            a[rank], a[piv] = a[piv], a[rank]
            pv = a[rank][col]
            a[rank] = [v / pv for v in a[rank]]
            for r in range(n):
                if r != rank and a[r][col] != 0:
                    f = a[r][col]
                    a[r] = [x - f * y for x, y in zip(a[r], a[rank])]
            rank += 1
        out = FractionMatrix(n, m)
        out.a = np.array(a, dtype=object).reshape(n, m)
        return out, rank

    def solve(self, rhs: "FractionMatrix") -> "FractionMatrix":
        n = self.nrows()
        aug = FractionMatrix(n, n + rhs.ncols())
        aug.a = np.hstack([self.a, rhs.a])
        red, rank = FractionMatrix(aug.a[:, :n].tolist()).rref()
        if rank < n:
            raise ZeroDivisionError("singular matrix")
        red, _ = aug.rref()
        out = FractionMatrix(n, rhs.ncols())
        out.a = red.a[:, n:].copy()
        return out


def Q(p: Any, q: int = 1) -> Any:
    """An exact rational from an int, a float (its exact binary value) or a Fraction."""
    if isinstance(p, float):
        p = Fraction(p)
    if isinstance(p, Fraction):
        p, q = p.numerator * 1, p.denominator * q
    if HAVE_FLINT:
        return _fmpq(int(p), int(q))
    return Fraction(int(p), int(q))


def qmat(*args: Any) -> Any:
    """``qmat(rows)`` or ``qmat(nrows, ncols, entries)`` (entries: ints or rationals)."""
    return _fmpq_mat(*args) if HAVE_FLINT else FractionMatrix(*args)


def nearest_float(value: Any) -> float:
    """The float64 nearest to an exact rational (round half to even, as IEEE)."""
    if HAVE_FLINT:
        return int(value.p) / int(value.q)   # CPython's int / int is correctly rounded
    return value.numerator / value.denominator


def to_fraction(value: Any) -> Fraction:
    """The same rational as a ``fractions.Fraction``."""
    return Fraction(int(value.p), int(value.q)) if HAVE_FLINT else Fraction(value)


def floats(values: Sequence) -> np.ndarray:
    """float64 array of rationals (nearest, up to one rounding of the division)."""
    return np.array([float(v) for v in values], dtype=np.float64)
