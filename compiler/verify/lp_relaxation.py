"""The triangle (Planet) LP relaxation of a box with few unstable units: a tighter bound than CROWN.

On a box where most units are stable, every pre-activation is affine in the LP variables
``(x, v_u)``: the inputs and one variable per *unstable* unit ``u`` (its post-activation).  Each
unstable unit with bounds ``l < 0 < u`` gets the convex hull of its ReLU graph over ``[l, u]``:

    v >= 0,   v >= z(x, v),   v <= u (z(x, v) - l) / (u - l).

For a case with rows r_i the LP ``min t  s.t.  r_i(x, v) <= t`` bounds ``min_x max_i r_i(x)``
from below: ``t > 0`` proves the case impossible on the box.  This is what CROWN computes with
the best lower slopes *and* the best combination of the case's rows, so it prunes boxes that CROWN
cannot; it costs one small LP (HiGHS, :func:`relucompile.numeric.lp.solve_bounded_lp`), so the search uses it only on boxes with few unstable units.
The optimum's ``x`` is also a good candidate counterexample.  The bound reported is not the
solver's optimum but a weak-duality bound recomputed from its multipliers, valid whatever the
solver's tolerances (each post-activation variable is also bounded above by ``u``).

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer, with_output_rows
    >>> from relucompile.verify.bounds import preactivation_bounds
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
    >>> spec = with_output_rows(net, np.array([[-1.0]]), np.zeros((1, 1)), np.array([-3.0]))   # |x| >= 3
    >>> lo, hi = np.array([-1.0]), np.array([2.0])
    >>> bounds = [(b[0][0], b[1][0]) for b in preactivation_bounds(spec, lo[None], hi[None])]
    >>> t, x = triangle_lp(spec, lo, hi, bounds, [np.array([0])])[0]
    >>> round(t, 6) > 0                                         # |x| <= 2 < 3 on the box
    True
"""
from __future__ import annotations

import numpy as np

from relucompile.ir.network import ReluNet
from relucompile.numeric.lp import solve_bounded_lp, weak_duality_bound
from relucompile.numeric.tolerances import ROUNDING_NOISE
from relucompile.verify.bounds import Bounds


def triangle_lp(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                cases: list[np.ndarray]) -> list[tuple[float, np.ndarray | None]]:
    """``[(t, x)]`` per case: the LP bound ``t <= min_x max_i r_i(x)`` and the LP's x (or None);
    ``spec``'s outputs are the rows r (:func:`relucompile.ir.network.with_output_rows`).

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
        M, m = ReluNet.preactivation(layer, blocks)
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
    M, m = ReluNet.preactivation(spec.output, blocks)
    lower = np.concatenate([lo, np.zeros(nv - d - 1)])           # bounds of (x, v); v <= u is valid
    upper = np.concatenate([hi] + v_upper)
    cost = np.zeros(nv)
    cost[-1] = 1.0                                               # min t, t free
    out = []
    for case in cases:
        R = M[case].copy()
        R[:, -1] = -1.0
        A = np.vstack(rows + [R])
        b = np.concatenate(rhs + [-m[case]])
        res = solve_bounded_lp(cost, A, b, np.append(lower, -np.inf), np.append(upper, np.inf), solver="highs")
        if res.status != "optimal":          # numerical trouble: no claim
            out.append((-np.inf, None))
            continue
        bound = weak_duality_bound(A, b, res.multipliers, len(case), lower, upper, relative_margin=ROUNDING_NOISE)
        out.append((bound, np.clip(res.x[:d], lo, hi)))
    return out


