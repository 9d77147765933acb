"""The triangle (Planet) LP relaxation of a box with few unstable units: a tighter bound than CROWN.

On a box where most units are stable, every pre-activation is affine in the LP variables
``(x, v_u)``: the inputs and one variable per *unstable* unit ``u`` (its post-activation).  Each
unstable unit with bounds ``l < 0 < u`` gets the convex hull of its ReLU graph over ``[l, u]``:

    v >= 0,   v >= z(x, v),   v <= u (z(x, v) - l) / (u - l).

For a case with rows r_i the LP ``min t  s.t.  r_i(x, v) <= t`` bounds ``min_x max_i r_i(x)``
from below: ``t > 0`` proves the case impossible on the box.  This is what CROWN computes with
the best lower slopes *and* the best combination of the case's rows, so it prunes boxes that CROWN
cannot; it costs one small LP (HiGHS), so the search uses it only on boxes with few unstable units.
The optimum's ``x`` is also a good candidate counterexample.  The bound reported is not the
solver's optimum but a weak-duality bound recomputed from its multipliers, valid whatever the
solver's tolerances (each post-activation variable is also bounded above by ``u``).

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.verify.bounds import SpecNet
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
    >>> spec = SpecNet.from_net(net, np.array([[-1.0]]), np.zeros((1, 1)), np.array([-3.0]))   # |x| >= 3
    >>> lo, hi = np.array([-1.0]), np.array([2.0])
    >>> bounds = [(b[0][0], b[1][0]) for b in spec.preactivation_bounds(lo[None], hi[None])]
    >>> t, x = triangle_lp(spec, lo, hi, bounds, [np.array([0])])[0]
    >>> round(t, 6) > 0                                         # |x| <= 2 < 3 on the box
    True
"""
from __future__ import annotations

import numpy as np

from relucompile.verify.bounds import Bounds, SpecNet

def triangle_lp(spec: SpecNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                cases: list[np.ndarray]) -> list[tuple[float, np.ndarray | None]]:
    """``[(t, x)]`` per case: the LP bound ``t <= min_x max_i r_i(x)`` and the LP's x (or None).

    ``bounds``: 1-D ``(lower, upper)`` pre-activation bounds per layer, valid on the box.
    """
    d = lo.size
    unstable = [np.nonzero((lb < 0) & (ub > 0))[0] for lb, ub in bounds]
    nv = d + sum(u.size for u in unstable) + 1                  # x, v per unstable unit, t
    start = np.zeros((d, nv))
    start[:, :d] = np.eye(d)
    blocks = [(start, np.zeros(d))]
    rows, rhs, v_upper = [], [], []
    k = d
    for layer, (lb, ub), idx in zip(spec.layers, bounds, unstable):
        M, m = _affine(layer, blocks)
        on = lb >= 0
        Mo, mo = M * on[:, None], m * on
        if idx.size:
            s = ub[idx] / (ub[idx] - lb[idx])
            cols = k + np.arange(idx.size)
            Mi = M[idx]
            up = -s[:, None] * Mi                                    # v - s z <= s (m - l)
            up[np.arange(idx.size), cols] += 1.0
            Mi = Mi.copy()                                           # z - v <= 0
            Mi[np.arange(idx.size), cols] -= 1.0
            rows += [Mi, up]
            rhs += [-m[idx], s * (m[idx] - lb[idx])]
            Mo[idx] = 0.0
            Mo[idx, cols] = 1.0
            mo[idx] = 0.0
            v_upper.append(ub[idx])
            k += idx.size
        blocks.append((Mo, mo))
    M, m = _affine(spec.out, blocks)
    lower = np.concatenate([lo, np.zeros(nv - d - 1)])           # bounds of (x, v); v <= u is valid
    upper = np.concatenate([hi] + v_upper)
    out = []
    for case in cases:
        R = M[case].copy()
        R[:, -1] = -1.0
        A = np.vstack(rows + [R])
        b = np.concatenate(rhs + [-m[case]])
        solution = _solve(A, b, lower, upper)
        if solution is None:          # numerical trouble: no claim
            out.append((-np.inf, None))
            continue
        z, duals = solution
        out.append((_dual_bound(A, b, duals, len(case), lower, upper), np.clip(z[:d], lo, hi)))
    return out


def _affine(layer, blocks) -> tuple[np.ndarray, np.ndarray]:
    M, m = None, layer.bias
    for b, W in layer.weights.items():
        Mb, mb = blocks[b]
        M = W @ Mb if M is None else M + W @ Mb
        m = m + W @ mb
    return M, m


_HIGHS: list = []


def _solve(A: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           time_limit: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """min t (the last variable, free) s.t. A z <= b and ``lower <= z[:-1] <= upper``:
    ``(z, multipliers >= 0)`` or None (also when ``time_limit`` seconds run out).

    Uses highspy directly (a third of scipy.optimize.linprog's overhead on these tiny LPs, no
    presolve); falls back to linprog when highspy is not installed.
    """
    nr, nv = A.shape
    cost = np.zeros(nv)
    cost[-1] = 1.0
    try:
        import highspy
    except ImportError:
        from scipy.optimize import linprog
        res = linprog(cost, A_ub=A, b_ub=b, bounds=list(zip(lower, upper)) + [(None, None)], method="highs")
        return (res.x, -res.ineqlin.marginals) if res.status == 0 else None
    if not _HIGHS:
        h = _quiet_highs(highspy)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")
        _HIGHS.append(h)
    h = _HIGHS[0]
    h.setOptionValue("time_limit", float("inf") if time_limit is None else max(float(time_limit), 1e-3))
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = nv, nr
    lp.col_cost_ = cost
    lp.col_lower_ = np.append(lower, -inf)
    lp.col_upper_ = np.append(upper, inf)
    lp.row_lower_ = np.full(nr, -inf)
    lp.row_upper_ = b
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.arange(0, nr * nv + 1, nv, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(nv, dtype=np.int32), nr)
    lp.a_matrix_.value_ = A.ravel()
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    solution = h.getSolution()
    return np.array(solution.col_value), -np.array(solution.row_dual)


def _quiet_highs(highspy):
    """A Highs object without the banner its constructor prints to file descriptor 1."""
    import os
    import sys
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _dual_bound(A: np.ndarray, b: np.ndarray, lam: np.ndarray, spec_rows: int, lower: np.ndarray,
                upper: np.ndarray) -> float:
    """A lower bound on the LP's optimum from *any* multipliers (weak duality), so the LP solver's
    tolerances never make it unsound: with ``lam >= 0`` and the spec rows' multipliers summing to 1,
    ``t >= -lam . b + min over the variable box of (A^T lam) . (x, v)``."""
    lam = np.maximum(lam, 0.0)
    total = float(np.sum(lam[-spec_rows:]))
    if not total > 0:
        return -np.inf
    lam = lam / total
    g = A[:, :-1].T @ lam
    value = -float(lam @ b) + float(np.sum(np.minimum(g * lower, g * upper)))
    scale = float(np.abs(lam) @ np.abs(b)) + float(np.sum(np.maximum(np.abs(g * lower), np.abs(g * upper))))
    return value - 1e-12 * (1.0 + scale)
