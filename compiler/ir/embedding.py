"""A network restricted to its domain's affine hull: the source input x = x0 + U t.

A domain with fixed inputs (a box with ``lower == upper`` sides) or implicit equalities (a
polytope slice) lies in an affine subspace x = x0 + U t (docs/design.md section 1, degenerate
domains).  Lowering the network over t instead of x keeps every symbolic map k columns wide (k
free coordinates) instead of d, so a model with 16,384 inputs on a box with 3 free inputs
lowers in memory proportional to 3.  An :class:`InputEmbedding` records the substitution: the
free coordinates ``free`` are t itself (``U[free] = I``, ``x0[free] = 0``), so t = x[free], and
the original domain, which the emitted model checks on the full input (NaN outside, off the
subspace included).

Example:
    >>> from relucompile.ir.domain import Domain
    >>> e = InputEmbedding.of(Domain.box([0, 1, -1], [1, 1, 1]), (1, 3))     # x_1 fixed to 1
    >>> e.free.tolist(), e.k, e.d, e.free_domain.describe()
    ([0, 2], 2, 3, 'box [0, 1] x [-1, 1]')
    >>> e.lift(np.array([[0.5, -0.25]])).tolist()
    [[0.5, 1.0, -0.25]]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relucompile.ir.domain import Domain


@dataclass
class InputEmbedding:
    """x = x0 + U t over ``domain`` (the original domain in x, flattened input of shape
    ``input_shape``); t = x[free]; ``free_domain`` is the domain in t."""

    domain: Domain
    input_shape: tuple[int, ...]
    x0: np.ndarray
    U: np.ndarray
    free: np.ndarray
    free_domain: Domain

    @property
    def d(self) -> int:
        return int(self.x0.size)

    @property
    def k(self) -> int:
        return int(self.free.size)

    @staticmethod
    def of(domain: Domain, input_shape: tuple[int, ...]) -> "InputEmbedding | None":
        """The embedding of ``domain``'s affine hull, or None when the domain is full-dimensional
        (or its hull is not parametrised by a subset of the coordinates, which the hull of a box
        always is and that of a polytope is by construction)."""
        if domain.kind == "box":   # directly from the bounds: Domain.hull() builds d x d matrices
            fixed = domain.lower == domain.upper
            free = np.flatnonzero(~fixed)
            if free.size == domain.d:
                return None
            U = np.zeros((domain.d, free.size))
            U[free, np.arange(free.size)] = 1.0
            return InputEmbedding(domain, tuple(input_shape), np.where(fixed, domain.lower, 0.0), U, free,
                                  Domain.box(domain.lower[free], domain.upper[free]))
        hull = domain.hull()
        if hull.k == domain.d:
            return None
        free = _parameter_coordinates(hull.x0, hull.U)
        if free is None:
            return None
        return InputEmbedding(domain, tuple(input_shape), hull.x0.copy(), hull.U.copy(), free,
                              Domain.polytope(hull.Gt, hull.gt))

    def lift(self, T: np.ndarray) -> np.ndarray:
        """Points of the free coordinates (n, k) -> the source input (n, d)."""
        return self.x0 + np.atleast_2d(np.asarray(T, dtype=np.float64)) @ self.U.T

    def project(self, X: np.ndarray) -> np.ndarray:
        """Source inputs (n, d) -> their free coordinates (n, k)."""
        return np.atleast_2d(np.asarray(X, dtype=np.float64))[:, self.free]

    def to_json(self) -> dict:
        return {"input_dim": self.d, "free_coordinates": self.free.tolist(), "x0": self.x0.tolist(),
                "domain": self.domain.to_json()}


def _parameter_coordinates(x0: np.ndarray, U: np.ndarray) -> np.ndarray | None:
    """The coordinates i_j with x_{i_j} = t_j on the hull (U's row i_j is the unit vector e_j,
    x0[i_j] = 0), or None if some parameter has no such coordinate."""
    free = []
    for j in range(U.shape[1]):
        unit = np.zeros(U.shape[1])
        unit[j] = 1.0
        rows = np.flatnonzero(np.all(U == unit, axis=1) & (x0 == 0))
        if rows.size == 0:
            return None
        free.append(int(rows[0]))
    return np.array(free, dtype=np.int64)
