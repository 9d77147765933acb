"""Sound linear bounds of a ReLU network over many input boxes at once (CROWN / DeepPoly).

The verifier prunes a box when the unsafe condition cannot hold in it.  For a batch of N boxes
this module computes valid bounds of every pre-activation and a valid *linear lower bound*
``r_i(x) >= a_i . x + c_i`` of every output ``r_i`` of a :class:`~relucompile.ir.network.ReluNet`
(in the verifier, the network whose outputs are the spec rows,
:func:`~relucompile.ir.network.with_output_rows`; the unsafe condition of a case is ``r_i(x) <= 0``
for all its rows), by back-substitution: each ReLU ``v = relu(z)`` with
``l < 0 < u`` is replaced by the lower bound ``alpha z`` (alpha = 1 if u > -l, else 0) or by the
upper chord ``u (z - l) / (u - l)``, as the sign of the back-propagated coefficient asks; stable
units are exact.  Minimising the resulting linear function over a box is closed form.

:func:`optimized_output_lower_bounds` also tunes the lower slopes ``alpha`` of each output row by
projected gradient ascent (alpha-CROWN style; any alpha in [0, 1] is sound).

Work is done per *row* (one box and one quantity), so only the units that a parent box left
unstable are re-bounded in a sub-box: bounds of a box stay valid in its sub-boxes and are passed
in as ``parent``.  Everything runs in float64; every lower bound is lowered (and every upper bound
raised) by :data:`~relucompile.numeric.tolerances.BOUND_ROUNDING` times the magnitude of the terms
summed, plus :data:`~relucompile.numeric.tolerances.BOUND_FLOOR`, so float rounding never makes a
bound unsound in practice.

Example:
    >>> from relucompile.ir.network import with_output_rows
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([0.5]))
    >>> lo, hi = np.array([[0.75], [-1.0]]), np.array([[1.0], [1.0]])
    >>> pre = preactivation_bounds(spec, lo, hi)
    >>> [np.round(b, 6).tolist() for b in pre[0]]               # z = (x, -x) on the two boxes
    [[[0.75, -1.0], [-1.0, -1.0]], [[1.0, -0.75], [1.0, 1.0]]]
    >>> low, A, c = output_lower_bounds(spec, lo, hi, pre)     # |x| - 0.5 >= 0.25 on [0.75, 1]
    >>> np.round(low, 6).tolist()
    [[0.25], [-0.5]]
"""
from __future__ import annotations

import numpy as np

from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.verify import bound_kernels
from relucompile.numeric.tolerances import BOUND_FLOOR, BOUND_ROUNDING, BRANCH_TIE_BREAK, TINY

Bounds = list[tuple[np.ndarray, np.ndarray]]

SPEC_MODES = ("adaptive", "parallel")
"""Lower-slope choices tried for the spec rows (the best per row is kept): on ACAS Xu the
'parallel' slopes prune most boxes that 'adaptive' ones leave (e.g. 80% of the deep boxes of 3_3
prop_2), and neither dominates."""

COMBINATION_STEPS, COMBINATION_DECAY = 10, 0.7
"""Supergradient steps of :func:`best_row_combination` and the shrink factor of their size (the
first moves the weights by 0.5 on the simplex)."""

ALPHA_STEPS, ALPHA_STEP, ALPHA_DECAY = 8, 0.5, 0.8
"""Optimised lower slopes (:func:`optimized_output_lower_bounds`): ascent steps per bound, the
first step's size in slope units, and its shrink factor per step."""

JOINT_ALPHA_STEP, JOINT_ALPHA_DECAY = 0.25, 0.7
"""The slope ascent's first step and shrink factor in :func:`optimized_combined_lower_bounds` (the
input-split search, many small boxes): the schedule its ACAS Xu figures were measured with; the
ReLU-phase search's larger :data:`ALPHA_STEP` was tuned on MNIST's wide layers."""

BETA_STEP, BETA_DECAY = 0.5, 0.85
"""Split multipliers (``phases`` of :func:`optimized_output_lower_bounds`): the first step, in units
of the layer's largest back-propagated coefficient, and its shrink factor per step (slower than the
slopes': a multiplier is unbounded above and must be able to travel a few units)."""


# -- gradients ------------------------------------------------------------------------------
def output_gradients(net: ReluNet, X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Gradient of output ``rows[n]`` at ``X[n]`` (the row's effective weights there), (N, d).

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[3.0]])}, np.zeros(1)))
        >>> output_gradients(net, np.array([[1.0], [-1.0]]), np.array([0, 0])).tolist()
        [[3.0], [0.0]]
    """
    _, pre = net.forward(X, return_preactivations=True)
    coef: dict[int, np.ndarray] = {b: W[rows] for b, W in net.output.weights.items()}
    for b in range(len(net.layers), 0, -1):
        lam = coef.pop(b, None)
        if lam is None:
            continue
        lam = lam * (pre[b - 1] > 0)
        for src, W in net.layers[b - 1].weights.items():
            coef[src] = coef[src] + lam @ W if src in coef else lam @ W
    return coef.get(0, np.zeros((X.shape[0], net.d)))


def gradient_magnitude(net: ReluNet, bounds: Bounds, rows: np.ndarray) -> np.ndarray:
    """Bound on ``|d r_rows[n] / d x|`` over box n (interval back-propagation, ReluVal's smear).

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[-3.0]])}, np.zeros(1)))
        >>> gradient_magnitude(net, [(np.array([[-1.0]]), np.array([[1.0]]))], np.array([0])).tolist()
        [[3.0]]
    """
    low = {b: W[rows] for b, W in net.output.weights.items()}
    high = {b: W[rows].copy() for b, W in net.output.weights.items()}
    for b in range(len(net.layers), 0, -1):
        if b not in low:
            continue
        lo_b, hi_b = low.pop(b), high.pop(b)
        lb, ub = bounds[b - 1]
        on, off = lb >= 0, ub <= 0
        unstable = ~on & ~off
        lo_b = np.where(off, 0.0, np.where(unstable, np.minimum(lo_b, 0.0), lo_b))
        hi_b = np.where(off, 0.0, np.where(unstable, np.maximum(hi_b, 0.0), hi_b))
        for src, W in net.layers[b - 1].weights.items():
            Wp, Wm = np.maximum(W, 0.0), np.minimum(W, 0.0)
            l2, h2 = lo_b @ Wp + hi_b @ Wm, hi_b @ Wp + lo_b @ Wm
            low[src] = low[src] + l2 if src in low else l2
            high[src] = high[src] + h2 if src in high else h2
    if 0 not in low:
        return np.zeros((rows.size, net.d))
    return np.maximum(np.abs(low[0]), np.abs(high[0]))


# -- bounds ---------------------------------------------------------------------------------
def preactivation_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, parent: Bounds | None = None,
                         mode: str = "adaptive", start_layer: int = 0,
                         empty: np.ndarray | None = None) -> Bounds:
    """Sound ``(lower, upper)`` of every hidden layer's pre-activation on each box, (N, n_l) each.

    ``parent``: bounds valid on boxes containing these (same order); units stable there keep
    their bounds, the others are re-bounded and intersected with the parent's.  ``mode``: the
    lower slopes of unstable units (see :func:`_relaxation`).  ``start_layer``: layers below it
    keep the parent's bounds as they are (valid when only the relaxations of layers from
    ``start_layer - 1`` on changed, e.g. after fixing the phase of a unit there).  ``empty``
    (N,) bool, if given: set where some unit's lower bound exceeds its upper bound, which proves
    the box (with the phases fixed in ``parent``) empty; the upper bound is then raised to the lower.
    """
    n = lo.shape[0]
    bounds: Bounds = []
    relax: list = []
    for l, layer in enumerate(net.layers):
        if parent is not None and l < start_layer:
            bounds.append(parent[l])
            relax.append(_relaxation(*parent[l], mode))
            continue
        if parent is None:
            box_idx, unit_idx = np.divmod(np.arange(n * layer.size), layer.size)
            lb = np.full((n, layer.size), -np.inf)
            ub = np.full((n, layer.size), np.inf)
        else:
            lb, ub = parent[l][0].copy(), parent[l][1].copy()
            box_idx, unit_idx = np.nonzero((lb < 0) & (ub > 0))
        if box_idx.size:
            rows = np.concatenate([box_idx, box_idx])
            units = np.concatenate([unit_idx, unit_idx])
            sign = np.concatenate([np.ones(box_idx.size), -np.ones(box_idx.size)])
            coef = {b: W[units] * sign[:, None] for b, W in layer.weights.items()}
            low, _, _ = _backward(net, coef, layer.bias[units] * sign, rows, l, lo, hi, relax)
            p = box_idx.size
            lb[box_idx, unit_idx] = np.maximum(lb[box_idx, unit_idx], low[:p])
            ub[box_idx, unit_idx] = np.minimum(ub[box_idx, unit_idx], -low[p:])
            if empty is not None:
                empty |= np.any(lb > ub, axis=1)
            ub = np.maximum(ub, lb)
        bounds.append((lb, ub))
        relax.append(_relaxation(lb, ub, mode))
    return bounds


def output_lower_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                        weights: np.ndarray | None = None, modes: tuple[str, ...] = SPEC_MODES
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bounds of the outputs r (or of ``weights @ r`` for ``weights`` (q, m) >= 0), each the
    best of the ``modes`` lower slopes (by default :data:`SPEC_MODES`; one mode costs half).

    Returns ``(low (N, q), A (N, q, d), c (N, q))``: ``r(x) >= A x + c`` on each box and
    ``low`` is the minimum of that bound over the box, minus the rounding margin.
    """
    low, A, c, _ = _best_mode_bounds(net, lo, hi, bounds, weights, modes)
    return low, A, c


def _best_mode_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds, weights: np.ndarray | None,
                      modes: tuple[str, ...] = SPEC_MODES):
    """:func:`output_lower_bounds` and, per box and row, the index in ``modes`` of the
    lower slopes that gave it."""
    n = lo.shape[0]
    Wq = np.eye(net.m) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    q = Wq.shape[0]
    reps = len(modes)
    rows = np.repeat(np.arange(n * reps), q)
    coef = {b: np.tile(Wq @ W, (n * reps, 1)) for b, W in net.output.weights.items()}
    const = np.tile(Wq @ net.output.bias, n * reps)
    relax = [tuple(np.concatenate(parts) for parts in zip(*(_relaxation(lb, ub, m) for m in modes)))
             for lb, ub in bounds]
    low, A, c = _backward(net, coef, const, rows, len(net.layers), np.tile(lo, (reps, 1)),
                          np.tile(hi, (reps, 1)), relax)
    low, A, c = low.reshape(reps, n, q), A.reshape(reps, n, q, net.d), c.reshape(reps, n, q)
    best = np.argmax(low, axis=0)                      # per box and row: the tighter relaxation
    take = lambda a: np.take_along_axis(a, best.reshape((1,) + best.shape + (1,) * (a.ndim - 3)), 0)[0]
    return take(low), take(A), take(c), best


def combined_lower_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                          weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bound of ``weights[n] @ r`` on box n, one combination of the outputs per box
    (``weights`` (N, m) >= 0), the best of the :data:`SPEC_MODES` lower slopes.

    Back-substituting the combination itself (rather than combining the rows' own bounds) lets
    each unstable unit's relaxation follow the sign of its combined coefficient (with the same
    lower slopes, never looser than the combined rows' bounds).
    Returns ``(low (N,), A (N, d), c (N,))`` with ``weights[n] @ r(x) >= A[n] x + c[n]`` on box n
    and ``low`` its minimum over the box minus the rounding margin.

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
        ...               AffineLayer({1: np.eye(2)}, np.zeros(2)))            # (relu(x), relu(-x))
        >>> lo, hi = np.array([[-1.0]]), np.array([[1.0]])
        >>> bounds = preactivation_bounds(net, lo, hi)
        >>> low, A, c = combined_lower_bounds(net, lo, hi, bounds, np.array([[1.0, 1.0]]))   # |x| >= 0
        >>> abs(round(float(low[0]), 6))                  # the rows alone: 0 + (-1)
        0.0
    """
    low, A, c, _ = _combined_bounds(net, lo, hi, bounds, np.asarray(weights, dtype=np.float64))
    return low, A, c


def _combined_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds, weights: np.ndarray):
    """:func:`combined_lower_bounds` and, per box, the index in :data:`SPEC_MODES` that gave it."""
    n = lo.shape[0]
    reps = len(SPEC_MODES)
    coef = {b: np.tile(weights @ W, (reps, 1)) for b, W in net.output.weights.items()}
    const = np.tile(weights @ net.output.bias, reps)
    relax = [tuple(np.concatenate(parts) for parts in zip(*(_relaxation(lb, ub, m) for m in SPEC_MODES)))
             for lb, ub in bounds]
    low, A, c = _backward(net, coef, const, np.arange(n * reps), len(net.layers), np.tile(lo, (reps, 1)),
                          np.tile(hi, (reps, 1)), relax)
    low, A, c = low.reshape(reps, n), A.reshape(reps, n, net.d), c.reshape(reps, n)
    best = np.argmax(low, axis=0)
    idx = np.arange(n)
    return low[best, idx], A[best, idx], c[best, idx], best


def best_row_combination(low: np.ndarray, A: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                         steps: int = COMBINATION_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``w`` on the simplex (per box) making ``min over the box of sum_i w_i (A_i x + c_i)``
    large, given rows' linear lower bounds ``r_i(x) >= A_i x + c_i`` (``low`` their minima).

    ``min_x max_i r_i(x) >= max_w min_x w . r(x)``: a conjunction ``r_i <= 0 for all i`` is
    impossible on a box when one combination is > 0 everywhere, which no single row need be.
    The concave piecewise-linear objective is raised by ``steps`` normalised supergradient
    steps from the best single row (vectorised over boxes); the best weights met are returned
    with their (float, margin-free) values: a choice, not a proof -- bound the combination
    itself with :func:`combined_lower_bounds`.

    ``low`` (N, q), ``A`` (N, q, d), ``c`` (N, q); returns ``(w (N, q), value (N,))``.

    Example:
        >>> A = np.array([[[1.0], [-1.0]]])           # r_0 >= x, r_1 >= -x: max >= 0 on [-1, 1]
        >>> c, low = np.array([[0.25, 0.25]]), np.array([[-0.75, -0.75]])
        >>> w, value = best_row_combination(low, A, c, np.array([[-1.0]]), np.array([[1.0]]))
        >>> np.round(w, 1).tolist(), round(float(value[0]), 1)     # 0.25 at best, no row alone
        ([[0.5, 0.5]], 0.2)
    """
    n, q, d = A.shape
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    idx = np.arange(n)
    w = np.zeros((n, q))
    w[idx, np.argmax(low, axis=1)] = 1.0
    best_w, best = w.copy(), np.full(n, -np.inf)
    step = 0.5
    for _ in range(steps):
        lin = np.einsum("nq,nqd->nd", w, A)
        x = np.where(lin > 0, lo, hi)                     # the vertex minimising the combination
        values = np.einsum("nqd,nd->nq", A, x) + c        # a supergradient in w
        value = np.einsum("nq,nq->n", w, values)
        better = value > best
        best_w[better], best[better] = w[better], value[better]
        g = values - values.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        w = _simplex_projection(w + step * g / np.maximum(norm, TINY))
        step *= COMBINATION_DECAY
    lin = np.einsum("nq,nqd->nd", w, A)
    value = np.einsum("nd,nd->n", lin, mid) - np.einsum("nd,nd->n", np.abs(lin), half) + np.einsum("nq,nq->n", w, c)
    better = value > best
    best_w[better], best[better] = w[better], value[better]
    return best_w, best


def _simplex_projection(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` onto the probability simplex."""
    q = v.shape[1]
    u = -np.sort(-v, axis=1)
    cumulative = np.cumsum(u, axis=1) - 1.0
    k = np.arange(1, q + 1)
    support = np.sum(u - cumulative / k > 0, axis=1)
    theta = cumulative[np.arange(v.shape[0]), support - 1] / support
    return np.maximum(v - theta[:, None], 0.0)


def optimized_output_lower_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                                  weights: np.ndarray | None = None, steps: int = ALPHA_STEPS,
                                  phases: list[np.ndarray] | None = None
                                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`output_lower_bounds` with the lower slopes optimised per box and row (alpha-CROWN).

    Any slope ``alpha`` in [0, 1] gives a sound bound (``relu(z) >= alpha z``), so each row's
    slopes of its unstable units start from the better of :data:`SPEC_MODES` and take ``steps``
    projected sign-gradient ascent steps on the row's bound (step :data:`ALPHA_STEP`, shrinking by
    :data:`ALPHA_DECAY`); the best bound met is returned, never worse than
    :func:`output_lower_bounds`.  The gradient is exact for the relaxation in force: the bound is
    the minimum over the box of the network with every unstable ReLU replaced by its chosen line,
    so the derivative in ``alpha_j`` is ``lambda_j z_j(x*)`` (the unit's back-propagated
    coefficient times its pre-activation in that linear network, at the minimising vertex x*).
    Intermediate bounds are not re-optimised.

    ``phases`` (per hidden layer, (N, n_l) in {-1, 0, 1}): split constraints ``s_j z_j >= 0`` that
    hold on box n (branch and bound on ReLU phases).  They enter beta-CROWN style, as Lagrangian
    terms: ``r(x) >= r(x) - sum_j beta_j s_j z_j(x)`` wherever the splits hold, for any
    ``beta >= 0``, and the right side is bounded by the same back-substitution (``beta_j s_j`` is
    subtracted from the coefficient of ``z_j``), so every ``beta >= 0`` gives a sound bound.  The
    betas start at 0 and take sign-gradient steps with the slopes (derivative ``-s_j z_j(x*)``,
    step :data:`BETA_STEP` times the size of the layer's back-propagated coefficients), clipped at 0.

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
        ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.array([-0.5])))   # |x| - 0.5
        >>> lo, hi = np.array([[-1.0]]), np.array([[2.0]])
        >>> bounds = preactivation_bounds(net, lo, hi)
        >>> plain = output_lower_bounds(net, lo, hi, bounds)[0]
        >>> tuned = optimized_output_lower_bounds(net, lo, hi, bounds)[0]
        >>> round(float(plain[0, 0]), 3), round(float(tuned[0, 0]), 3)        # min |x| - 0.5 = -0.5
        (-0.833, -0.505)
    """
    n = lo.shape[0]
    Wq = np.eye(net.m) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    q = Wq.shape[0]
    best_low, best_A, best_c, mode = _best_mode_bounds(net, lo, hi, bounds, Wq)
    if steps <= 0:
        return best_low, best_A, best_c
    box = np.repeat(np.arange(n), q)                     # row p bounds objective p % q on box p // q
    low, A, c = _ascend_slopes(net, lo, hi, bounds, box, np.tile(Wq, (n, 1)), best_low.reshape(n * q),
                               best_A.reshape(n * q, net.d), best_c.reshape(n * q), mode.reshape(n * q), steps,
                               phases)
    return low.reshape(n, q), A.reshape(n, q, net.d), c.reshape(n, q)


def optimized_combined_lower_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                                    weights: np.ndarray, steps: int = ALPHA_STEPS, only_unproved: bool = False,
                                    start_slopes: list[np.ndarray] | None = None, step: float = JOINT_ALPHA_STEP,
                                    slopes_out: list[np.ndarray] | None = None
                                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`combined_lower_bounds` (one combination ``weights[n] @ r`` per box) with the lower
    slopes optimised as in :func:`optimized_output_lower_bounds`; never looser than it.
    ``only_unproved``: optimise only on the boxes where the fixed slopes leave the bound <= 0.

    Warm start (the input-split search passes a box's optimised slopes on to its halves):
    ``start_slopes`` (per hidden layer, (N, n_l)) are the first slopes tried on the unstable
    units, clipped to [0, 1] (so any values stay sound), ``step`` the ascent's first step;
    ``slopes_out``, if given, is filled with the last slopes of the ascent per layer ((N, n_l),
    the starting ones on boxes not optimised).

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
        ...               AffineLayer({1: np.array([[1.0, 1.0], [1.0, 0.0]])}, np.array([-0.5, 0.0])))
        >>> lo, hi = np.array([[-1.0]]), np.array([[2.0]])
        >>> bounds = preactivation_bounds(net, lo, hi)
        >>> plain = combined_lower_bounds(net, lo, hi, bounds, np.array([[1.0, 0.0]]))[0]
        >>> tuned = optimized_combined_lower_bounds(net, lo, hi, bounds, np.array([[1.0, 0.0]]))[0]
        >>> round(float(plain[0]), 3), round(float(tuned[0]), 3)          # min |x| - 0.5 = -0.5
        (-0.833, -0.515)
    """
    n = lo.shape[0]
    weights = np.asarray(weights, dtype=np.float64)
    low, A, c, mode = _combined_bounds(net, lo, hi, bounds, weights)
    todo = np.nonzero(low <= 0)[0] if only_unproved else np.arange(n)
    if slopes_out is not None:
        slopes_out[:] = [np.clip(s, 0.0, 1.0) for s in start_slopes] if start_slopes is not None else \
            [_relaxation(lb, ub)[0] for lb, ub in bounds]
    if steps <= 0 or not todo.size:
        return low, A, c
    start = None if start_slopes is None else [s[todo] for s in start_slopes]
    last: list[np.ndarray] | None = None if slopes_out is None else []
    low[todo], A[todo], c[todo] = _ascend_slopes(net, lo, hi, bounds, todo, weights[todo], low[todo], A[todo],
                                                 c[todo], mode[todo], steps,
                                                 step=step, decay=JOINT_ALPHA_DECAY, start_slopes=start,
                                                 slopes_out=last)
    if slopes_out is not None:
        for out, s in zip(slopes_out, last):
            out[todo] = s
    return low, A, c


def _ascend_slopes(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds, box: np.ndarray,
                   weights: np.ndarray, best_low: np.ndarray, best_A: np.ndarray, best_c: np.ndarray,
                   mode: np.ndarray, steps: int, phases: list[np.ndarray] | None = None,
                   step: float = ALPHA_STEP, decay: float = ALPHA_DECAY,
                   start_slopes: list[np.ndarray] | None = None, slopes_out: list[np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slope (and split-multiplier) ascent of :func:`optimized_output_lower_bounds` for
    objectives ``weights[p] @ r`` on boxes ``box[p]``, from their bounds ``best_*`` with the
    :data:`SPEC_MODES` index ``mode``; ``phases`` as there (per box), ``step``/``decay`` the
    slopes' schedule.  ``start_slopes`` (per layer, one row per objective): the first slopes
    instead of the ``mode`` ones, clipped to [0, 1]; ``slopes_out`` receives the last slopes."""
    lo_rows, hi_rows = lo[box], hi[box]
    parallel = mode == SPEC_MODES.index("parallel")
    fixed, alphas, unstable = [], [], []
    for lb, ub in bounds:
        lower_slope, upper_slope, upper_shift = (a[box] for a in _relaxation(lb, ub))
        loose = (lb < 0)[box] & (ub > 0)[box]
        fixed.append((upper_slope, upper_shift, (lb >= 0)[box].astype(np.float64)))
        alphas.append(np.where(parallel[:, None], upper_slope, lower_slope))
        unstable.append(loose)
    if start_slopes is not None:                          # any slope in [0, 1] is sound
        alphas = [np.clip(s, 0.0, 1.0) for s in start_slopes]
    coef0 = {b: weights @ W for b, W in net.output.weights.items()}
    const = weights @ net.output.bias
    beta_step = BETA_STEP
    signs = None if phases is None else [np.asarray(p, np.float64)[box] for p in phases]
    betas = None if signs is None else [np.zeros_like(sg) for sg in signs]
    for k in range(steps):
        relax = [(np.where(u, a, on), s, t) for a, (s, t, on), u in zip(alphas, fixed, unstable)]
        record: dict[int, np.ndarray] = {}
        coef = {b: W.copy() for b, W in coef0.items()}
        extra = None if betas is None else {l + 1: -sg * bt for l, (sg, bt) in enumerate(zip(signs, betas))
                                             if np.any(bt)}
        low, A, c = _backward(net, coef, const, None, len(net.layers), lo_rows, hi_rows, relax, record, extra)
        better = low > best_low
        best_low, best_A, best_c = (np.where(better, low, best_low), np.where(better[:, None], A, best_A),
                                    np.where(better, c, best_c))
        if k == steps - 1:
            break
        blocks = [np.where(A > 0, lo_rows, hi_rows)]      # the vertex minimising the bound's linear part
        for l, layer in enumerate(net.layers):
            z = _apply_rows(layer, blocks)
            lam = record.get(l + 1)
            a, (s, t, on), u = alphas[l], fixed[l], unstable[l]
            if betas is not None:
                sg = signs[l]
                scale = np.zeros(z.shape[0]) if lam is None else np.max(np.abs(lam), axis=1)
                # the split neurons' multipliers: a unit's own scale when the row has none yet
                scale = np.where(scale > 0, scale, 1.0)[:, None]
                betas[l] = np.where(sg != 0, np.maximum(betas[l] + beta_step * scale * np.sign(-sg * z), 0.0), 0.0)
            if lam is None:
                blocks.append(np.where(u, a * z, on * z))
                continue
            blocks.append(np.where(u, np.where(lam >= 0, a * z, s * z + t), on * z))
            grad = np.where(u & (lam > 0), lam * z, 0.0)
            alphas[l] = np.clip(a + step * np.sign(grad), 0.0, 1.0)
        step *= decay
        beta_step *= BETA_DECAY
    if slopes_out is not None:
        slopes_out[:] = alphas
    return best_low, best_A, best_c


def optimized_preactivation_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                                   steps: int = ALPHA_STEPS, deadline: float | None = None) -> Bounds:
    """``bounds`` tightened layer by layer with optimised lower slopes (alpha-CROWN for the
    intermediate layers): each unstable unit's ``z_j`` and ``-z_j`` is a row of
    :func:`optimized_output_lower_bounds` on the network cut at that layer, with its own slopes,
    and the result is intersected with the given bounds (so never looser; sound for the same
    reason).  Layers are done in order, each using the tightened bounds of the ones below; past
    ``deadline`` (a ``time.perf_counter()`` value) the remaining layers keep their bounds.

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2)),
        ...                   AffineLayer({1: np.array([[1.0, 1.0]])}, np.array([-0.5]))],
        ...               AffineLayer({2: np.array([[1.0]])}, np.zeros(1)))          # relu(|x| - 0.5)
        >>> lo, hi = np.array([[-1.0]]), np.array([[2.0]])
        >>> plain = preactivation_bounds(net, lo, hi)
        >>> tight = optimized_preactivation_bounds(net, lo, hi, plain)
        >>> round(float(plain[1][0][0, 0]), 3), round(float(tight[1][0][0, 0]), 3)   # min |x| - 0.5 = -0.5
        (-1.5, -0.505)
    """
    import time
    out = [(lb.copy(), ub.copy()) for lb, ub in bounds]
    for l in range(1, len(net.layers)):
        if deadline is not None and time.perf_counter() > deadline:
            break
        layer = net.layers[l]
        cut = ReluNet(net.d, net.layers[:l], AffineLayer(layer.weights, layer.bias))
        for n in range(lo.shape[0]):
            lb, ub = out[l]
            units = np.nonzero((lb[n] < 0) & (ub[n] > 0))[0]
            if units.size == 0:
                continue
            Wq = np.zeros((2 * units.size, layer.size))
            Wq[np.arange(units.size), units] = 1.0
            Wq[units.size + np.arange(units.size), units] = -1.0
            low = optimized_output_lower_bounds(cut, lo[n:n + 1], hi[n:n + 1],
                                                [(a[n:n + 1], b[n:n + 1]) for a, b in out[:l]], Wq, steps)[0][0]
            lb[n, units] = np.maximum(lb[n, units], low[:units.size])
            ub[n, units] = np.maximum(np.minimum(ub[n, units], -low[units.size:]), lb[n, units])
    return out


def _apply_rows(layer: AffineLayer, blocks: list[np.ndarray]) -> np.ndarray:
    """The layer's pre-activation for a batch of rows of the earlier blocks."""
    out = layer.bias
    for b, W in layer.weights.items():
        out = out + blocks[b] @ W.T
    return out


def branching_scores(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds,
                     weights: np.ndarray) -> list[np.ndarray]:
    """BaBSR-like score of splitting each unit on each box, for the bound of ``weights[n] @ r``.

    ``weights`` (N, m) >= 0, one combination of the outputs (spec rows) per box.  The score of an unstable unit
    is ``|lambda| * u (-l) / (u - l)``: the back-propagated coefficient of its output times the
    height of its triangle relaxation (what fixing its phase can win); stable units score -1.

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
        ...               AffineLayer({1: np.array([[1.0, 2.0]])}, np.zeros(1)))
        >>> lo, hi = np.array([[-1.0]]), np.array([[1.0]])
        >>> bounds = preactivation_bounds(net, lo, hi)
        >>> np.round(branching_scores(net, lo, hi, bounds, np.ones((1, 1)))[0], 6).tolist()
        [[0.5, 1.0]]
    """
    n = lo.shape[0]
    coef = {b: np.asarray(weights, np.float64) @ W for b, W in net.output.weights.items()}
    const = np.asarray(weights, np.float64) @ net.output.bias
    record: dict[int, np.ndarray] = {}
    relax = [_relaxation(lb, ub) for lb, ub in bounds]
    _backward(net, coef, const, np.arange(n), len(net.layers), lo, hi, relax, record)
    scores = []
    for b, (lb, ub) in enumerate(bounds, start=1):
        unstable = (lb < 0) & (ub > 0)
        height = np.where(unstable, ub * -lb / np.where(unstable, ub - lb, 1.0), 0.0)
        lam = record.get(b, np.zeros_like(lb))
        scores.append(np.where(unstable, np.abs(lam) * height + BRANCH_TIE_BREAK * (ub - lb), -1.0))
    return scores


def unit_linear_bounds(net: ReluNet, lo: np.ndarray, hi: np.ndarray, bounds: Bounds, boxes: np.ndarray,
                       layer: int, units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear bounds in x of pre-activation ``units[i]`` of hidden ``layer`` on box ``boxes[i]``:
    ``(A_low, c_low, A_up, c_up)`` with ``A_low x + c_low <= z <= A_up x + c_up`` on the box
    (rounding margins folded into the constants).  Exact (``A_low = A_up``) for the first layer.

    Example:
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[2.0]])}, np.array([1.0]))],
        ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
        >>> lo, hi = np.array([[-1.0]]), np.array([[1.0]])
        >>> bounds = preactivation_bounds(net, lo, hi)
        >>> A, c, B, e = unit_linear_bounds(net, lo, hi, bounds, np.array([0]), 0, np.array([0]))
        >>> A.tolist(), round(float(c[0]), 6), B.tolist(), round(float(e[0]), 6)
        ([[2.0]], 1.0, [[2.0]], 1.0)
    """
    relax = [_relaxation(lb, ub) for lb, ub in bounds]
    L = net.layers[layer]
    rows = np.concatenate([boxes, boxes])
    sign = np.concatenate([np.ones(boxes.size), -np.ones(boxes.size)])
    coef = {b: W[np.concatenate([units, units])] * sign[:, None] for b, W in L.weights.items()}
    low, A, const = _backward(net, coef, L.bias[np.concatenate([units, units])] * sign, rows, layer, lo, hi, relax)
    mid, half = (lo[rows] + hi[rows]) / 2, (hi[rows] - lo[rows]) / 2
    exact_min = np.einsum("pd,pd->p", A, mid) - np.einsum("pd,pd->p", np.abs(A), half) + const
    const = const - np.maximum(exact_min - low, 0.0)        # the margin, folded in
    p = boxes.size
    return A[:p], const[:p], -A[p:], -const[p:]


def _backward(net: ReluNet, coef: dict[int, np.ndarray], const: np.ndarray, rows: np.ndarray | None, top: int,
              lo: np.ndarray, hi: np.ndarray, relax: list, record: dict | None = None,
              extra: dict[int, np.ndarray] | None = None):
    """Lower-bound ``sum_b coef[b] . v_b + const`` (one row per entry of ``rows``, the box
    index; None: row p is box p, without copying the relaxations) by back-substituting through ReLU blocks ``top .. 1`` down to x; ``record[b]``
    receives the coefficients of block b's outputs (for :func:`branching_scores`).  ``extra[b]``
    (one row per entry of ``rows``) is added to the coefficients of block b's *pre-activations*
    (the Lagrangian terms of split constraints, see :func:`optimized_output_lower_bounds`)."""
    if rows is None:
        rows = slice(None)
    const = np.array(const, dtype=np.float64)
    mag = np.abs(const)
    kernel = bound_kernels.loaded()       # the compiled relaxation step, once a long search loaded it
    for b in range(top, 0, -1):
        lam = coef.pop(b, None)
        more = None if extra is None else extra.get(b)
        if lam is None and more is None:
            continue
        if lam is None:
            lam = np.zeros_like(more)
        if record is not None:
            record[b] = lam
        layer = net.layers[b - 1]
        if kernel is not None and more is None:          # one compiled pass (verify/bound_kernels.py)
            index = np.arange(lam.shape[0]) if isinstance(rows, slice) else rows
            lam_z, add, add_mag = kernel(lam, index, *relax[b - 1], layer.bias, np.abs(layer.bias))
            const, mag = const + add, mag + add_mag
        else:
            if isinstance(rows, slice):
                lower_slope, upper_slope, upper_shift = relax[b - 1]
            else:                               # np.take: about 2.5x faster than a[rows] here
                lower_slope, upper_slope, upper_shift = (np.take(a, rows, axis=0) for a in relax[b - 1])
            negative = np.minimum(lam, 0.0)
            shift = (negative * upper_shift).sum(axis=1)    # every term <= 0 (upper_shift >= 0)
            const = const + shift
            mag = mag - shift
            lam_z = np.maximum(lam, 0.0) * lower_slope + negative * upper_slope
            if more is not None:
                lam_z = lam_z + more
            const = const + lam_z @ layer.bias
            mag = mag + np.abs(lam_z) @ np.abs(layer.bias)
        for src, W in layer.weights.items():
            term = lam_z @ W
            coef[src] = coef[src] + term if src in coef else term
    A = coef.get(0, np.zeros((const.size, net.d)))
    if not isinstance(rows, slice):
        lo, hi, rows = np.take(lo, rows, axis=0), np.take(hi, rows, axis=0), slice(None)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    low = np.einsum("pd,pd->p", A, mid) - np.einsum("pd,pd->p", np.abs(A), half) + const
    mag = mag + np.einsum("pd,pd->p", np.abs(A), np.abs(mid) + half)
    return low - BOUND_ROUNDING * mag - BOUND_FLOOR, A, const



def _relaxation(lb: np.ndarray, ub: np.ndarray, mode: str = "adaptive") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit: lower slope alpha, upper slope s and shift t with alpha z <= relu(z) <= s z + t.

    ``mode`` picks alpha for unstable units: 'adaptive' (1 if u > -l else 0, DeepPoly/CROWN) or
    'parallel' (alpha = s, the chord's slope, as in Neurify).
    """
    unstable = (lb < 0) & (ub > 0)
    active = (lb >= 0).astype(np.float64)
    denom = np.where(unstable, ub - lb, 1.0)
    upper_slope = np.where(unstable, ub / denom, active)
    upper_shift = np.where(unstable, -upper_slope * lb, 0.0)
    if mode == "parallel":
        lower_slope = upper_slope
    else:
        lower_slope = np.where(unstable, (ub > -lb).astype(np.float64), active)
    return lower_slope, upper_slope, upper_shift

