"""Exact analysis of one small box: depth-first search over activation patterns with LPs.

Used for boxes that bound propagation cannot settle after many bisections (e.g. where the unsafe
set only touches the box, or at the minimiser of an output).  Layer by layer, under the pattern
already fixed, every unit's pre-activation is affine in x; a unit is *stable* on the current
polytope (box rows plus the split rows on the path) if the box bounds or two warm-started GLPK
LPs (its min and max) show one sign, and otherwise the polytope is split on it (depth first).
:func:`box_cells` yields every full pattern, with the spec rows' affine map ``r = A x + c`` on
the cell and an :class:`CellLP` positioned on the cell, so callers solve one LP per cell:

* :func:`min_violation` -- ``min t`` subject to ``A_i x + c_i <= t`` over the cell (``t <= 0``:
  the cell holds a counterexample; the optimum is the deepest point of the unsafe set);
* :func:`min_row` -- ``min A_i x + c_i`` over the cell (exact output bounds).

Units whose sign changes only within :data:`~relucompile.numeric.tolerances.GEOMETRIC_TOL` of the
box's diameter (slivers) are treated as stable; the error this admits is that tolerance times the
network's Lipschitz constant.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer, with_output_rows
    >>> from relucompile.verify.bounds import preactivation_bounds
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x| - 0.5
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([0.5]))
    >>> lo, hi = np.array([-1.0]), np.array([2.0])
    >>> stats = {}
    >>> cells = box_cells(spec, lo, hi, preactivation_bounds(spec, lo[None], hi[None]), stats)
    >>> [(round(min_row(lp, A[0], c[0])[1], 9), round(min_violation(lp, A, c)[1], 9)) for A, c, lp in cells]
    [(-0.5, -0.5), (-0.5, -0.5)]
    >>> stats["cells"]
    2
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from relucompile.numeric.lp import LinearProgram
from relucompile.ir.network import ReluNet
from relucompile.numeric.tolerances import GEOMETRIC_TOL, SIGN_ROUNDING
from relucompile.verify.bounds import Bounds
from relucompile.verify.budget import OutOfTime


class CellLP:
    """One GLPK problem over (x, t): the box rows, then the split rows of the current path."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, stats: dict, deadline: float | None = None) -> None:
        self.d = lo.size
        self.stats = stats
        self.deadline = deadline             # time.perf_counter() value: GLPK's time limit, OutOfTime after it
        self.lp = LinearProgram(self.d + 1)
        for i in range(self.d):
            e = np.zeros(self.d + 1)
            e[i] = 1.0
            self.lp.add_row(e, hi[i])
            self.lp.add_row(-e, -lo[i])

    def push(self, w: np.ndarray, b: float, t: float = 0.0) -> None:
        """Add the row ``w . x + t * t_var <= b``."""
        self.lp.add_row(np.append(w, t), b)

    def pop(self, count: int = 1) -> None:
        self.lp.pop_rows(count)

    def minimize(self, w: np.ndarray, t: float = 0.0) -> tuple[float, np.ndarray | None]:
        """``min w . x + t * t_var`` over the rows: value (``-inf`` if unbounded) and minimiser x."""
        self.stats["lps"] = self.stats.get("lps", 0) + 1
        if self.deadline is not None:
            left = self.deadline - time.perf_counter()
            if left <= 0:
                raise OutOfTime()
            self.lp.set_limits(seconds=left)
        res = self.lp.minimize(np.append(w, t))
        if res.status == "limit":
            raise OutOfTime()
        if res.status == "optimal":
            return res.value, res.x[:self.d]
        return (-np.inf if res.status == "unbounded" else np.inf), None


def box_cells(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
              stats: dict, deadline: float | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, CellLP]]:
    """Every activation cell of ``spec`` inside ``[lo, hi]``: ``(A, c, lp)`` with output ``r = A x + c`` there.

    ``bounds``: valid pre-activation bounds on the box (units stable there are not examined).
    ``stats`` counts ``cells`` and ``lps``.  The LP is only valid until the next iteration.
    ``deadline`` (a ``time.perf_counter()`` value): raise :class:`OutOfTime` once it has passed.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    stats.setdefault("cells", 0)
    lp = CellLP(lo, hi, stats, deadline)
    diameter = float(np.linalg.norm(hi - lo))
    flat = [(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)) for a, b in bounds]

    def enter_layer(l: int, blocks: list) -> Iterator:
        if l == len(spec.layers):
            stats["cells"] += 1
            A, c = ReluNet.preactivation(spec.output, blocks)
            yield A, c, lp
            return
        M, m = ReluNet.preactivation(spec.layers[l], blocks)
        lb, ub = flat[l]
        signs = np.where(lb >= 0, 1, np.where(ub <= 0, -1, 0)).astype(np.int8)
        yield from resolve(l, blocks, M, m, signs)

    def resolve(l: int, blocks: list, M: np.ndarray, m: np.ndarray, signs: np.ndarray) -> Iterator:
        for j in np.nonzero(signs == 0)[0]:
            norm = float(np.linalg.norm(M[j]))
            tol = GEOMETRIC_TOL * norm * diameter + SIGN_ROUNDING * (1.0 + abs(m[j]))
            if norm == 0.0:
                signs[j] = 1 if m[j] > 0 else -1
            elif lp.minimize(M[j])[0] + m[j] >= -tol:
                signs[j] = 1
            elif -lp.minimize(-M[j])[0] + m[j] <= tol:
                signs[j] = -1
            else:                                  # z_j crosses 0 inside: split, both sides non-empty
                for s in (1, -1):
                    lp.push(-s * M[j], s * m[j])
                    child = signs.copy()
                    child[j] = s
                    yield from resolve(l, blocks, M, m, child)
                    lp.pop()
                return
        on = signs > 0
        yield from enter_layer(l + 1, blocks + [(M * on[:, None], m * on)])

    yield from enter_layer(0, [(np.eye(lo.size), np.zeros(lo.size))])


def min_violation(lp: CellLP, A: np.ndarray, c: np.ndarray) -> tuple[np.ndarray | None, float]:
    """``(x, t)``: ``t = min over the cell of max_i (A_i x + c_i)`` and a point attaining it.

    Example:
        >>> lp = CellLP(np.array([0.0]), np.array([1.0]), {})
        >>> x, t = min_violation(lp, np.array([[1.0], [-1.0]]), np.array([0.0, 0.5]))
        >>> x.round(9).tolist(), round(t, 9)
        ([0.25], 0.25)
    """
    varying = [i for i in range(A.shape[0]) if np.any(A[i])]
    t = max((float(c[i]) for i in range(A.shape[0]) if not np.any(A[i])), default=-np.inf)
    if not varying:                                  # constant rows: any point of the cell
        return lp.minimize(np.zeros(lp.d))[1], t
    for i in varying:
        lp.push(A[i], -c[i], -1.0)
    value, x = lp.minimize(np.zeros(lp.d), 1.0)
    lp.pop(len(varying))
    if x is None:
        return None, np.inf
    return x, max(t, value)


def min_row(lp: CellLP, a: np.ndarray, c: float) -> tuple[np.ndarray | None, float]:
    """``(x, v)``: the minimum ``v`` of ``a . x + c`` over the cell and a minimiser.

    Example:
        >>> lp = CellLP(np.array([0.0, 0.0]), np.array([1.0, 2.0]), {})
        >>> x, v = min_row(lp, np.array([1.0, -1.0]), 3.0)
        >>> x.round(9).tolist(), round(v, 9)
        ([0.0, 2.0], 1.0)
    """
    value, x = lp.minimize(np.asarray(a, float))
    return x, float(value + c)
