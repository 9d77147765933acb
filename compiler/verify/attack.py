"""Cheap falsification before the exact search: random points and projected sign-gradient descent.

Most violated properties have a counterexample that plain sampling plus a few descent steps on
the worst spec row finds in milliseconds; the exact search (:mod:`relucompile.verify.search`) then
never runs.  Nothing here can claim that a property *holds*.

The score of a point for a case is ``max_i r_i(x)`` over the case's rows (<= 0 means unsafe).
Starting from the best random points, each step moves every input by ``step * width`` against
the sign of the gradient of the currently largest row (the network is piecewise linear, so that
gradient is the row's effective weights at the point) and clips to the box.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer, with_output_rows
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([1e-3]))
    >>> x, case = falsify(spec, np.array([-5.0]), np.array([5.0]), [np.array([0])],
    ...                   lambda x, c: True, np.random.default_rng(0))
    >>> case, bool(abs(x[0]) <= 1e-3)
    (0, True)
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from relucompile.ir.network import ReluNet
from relucompile.verify.bounds import output_gradients


def falsify(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, cases: list[np.ndarray],
            confirm: Callable[[np.ndarray, int], bool], rng: np.random.Generator, samples: int = 2048,
            starts: int = 16, steps: int = 60, deadline: float | None = None) -> tuple[np.ndarray | None, int]:
    """Look for a counterexample of some case in ``[lo, hi]``; ``(x, case)`` or ``(None, -1)``.

    ``spec``'s outputs are the rows (:func:`relucompile.ir.network.with_output_rows`);
    ``confirm(x, case)`` re-checks a candidate (e.g. with onnxruntime) and may reject it.
    """
    d = lo.size
    width = hi - lo
    X = np.vstack([(lo + hi)[None] / 2, lo + rng.random((samples, d)) * width])
    r = spec.forward(X)
    for j, rows in enumerate(cases):
        score = np.max(r[:, rows], axis=1)
        for i in np.argsort(score)[:4]:
            if score[i] <= 0 and confirm(X[i], j):
                return X[i], j
    for j, rows in enumerate(cases):
        score = np.max(r[:, rows], axis=1)
        P = X[np.argsort(score)[:starts]].copy()
        step = 0.25
        for _ in range(steps):
            if deadline is not None and time.perf_counter() > deadline:
                return None, -1
            values = spec.forward(P)[:, rows]
            worst = rows[np.argmax(values, axis=1)]
            grad = output_gradients(spec, P, worst)
            P = np.clip(P - step * np.sign(grad) * width, lo, hi)
            values = np.max(spec.forward(P)[:, rows], axis=1)
            for i in np.nonzero(values <= 0)[0][:4]:
                if confirm(P[i], j):
                    return P[i], j
            step *= 0.9
    return None, -1


def pgd_attack(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, cases: list[np.ndarray],
               confirm: Callable[[np.ndarray, int], bool], rng: np.random.Generator, seconds: float,
               starts: int = 32, steps: int = 40, deadline: float | None = None) -> tuple[np.ndarray | None, int]:
    """Projected sign-gradient descent with random restarts for about ``seconds`` (or until
    ``deadline``, a ``time.perf_counter()`` value): ``(x, case)`` or ``(None, -1)``.

    All cases are attacked in one batch (one forward and one gradient per step, whatever the
    number of cases: MNIST's 9-way disjunction costs one attack, not nine).  A point's score is
    the margin of the disjunction, ``min_j max_{i in case j} r_i(x)`` (<= 0: a counterexample);
    half of each round's ``starts`` points descend on the case that is currently the closest to
    violated, the others each keep one case (round robin), so a case whose margin is not the
    smallest at the start is still tried.  Each round takes ``steps`` steps, the step shrinking
    linearly from 20% to 0.5% of the box width; the first round starts from the box's centre
    (e.g. a misclassified image itself) and random points, later rounds from random points and
    random vertices.

    Example:
        >>> from relucompile.ir.network import ReluNet, AffineLayer, with_output_rows
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
        ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
        >>> spec = with_output_rows(net, np.array([[-1.0]]), np.zeros((1, 1)), np.array([-4.99]))  # |x| >= 4.99
        >>> x, case = pgd_attack(spec, np.array([-5.0]), np.array([5.0]), [np.array([0])],
        ...                      lambda x, c: True, np.random.default_rng(0), seconds=5.0)
        >>> case, bool(abs(x[0]) >= 4.99)
        (0, True)
    """
    end = time.perf_counter() + seconds
    if deadline is not None:
        end = min(end, deadline)
    width = hi - lo
    d = lo.size
    schedule = np.linspace(0.2, 0.005, steps)
    ncases = len(cases)
    X = np.vstack([(lo + hi)[None] / 2, lo + rng.random((4 * starts, d)) * width])
    found = _first_confirmed(spec, X, cases, confirm)
    if found is not None:
        return found
    size = max(starts, 2 * ncases)
    own = np.where(np.arange(size) % 2 == 0, -1, (np.arange(size) // 2) % max(ncases, 1))  # -1: the closest case
    rounds = 0
    while time.perf_counter() < end:
        P = lo + rng.random((size, d)) * width
        if rounds == 0:
            P[0] = (lo + hi) / 2
        elif rounds % 2 == 1:
            P[size // 2:] = np.where(rng.random((size - size // 2, d)) < 0.5, lo, hi)
        for step in schedule:
            r = spec.forward(P)
            margins = np.stack([np.max(r[:, rows], axis=1) for rows in cases], axis=1)     # (points, cases)
            for i in np.nonzero(np.min(margins, axis=1) <= 0)[0][:4]:
                j = int(np.argmin(margins[i]))
                if confirm(P[i], j):
                    return P[i], j
            if time.perf_counter() > end:
                return None, -1
            target = np.where(own < 0, np.argmin(margins, axis=1), own)
            worst = np.array([cases[j][np.argmax(r[i, cases[j]])] for i, j in enumerate(target)])
            grad = output_gradients(spec, P, worst)
            P = np.clip(P - step * np.sign(grad) * width, lo, hi)
        found = _first_confirmed(spec, P, cases, confirm)
        if found is not None:
            return found
        rounds += 1
    return None, -1


def _first_confirmed(spec: ReluNet, X: np.ndarray, cases: list[np.ndarray],
                     confirm: Callable[[np.ndarray, int], bool]) -> tuple[np.ndarray, int] | None:
    """A point of ``X`` that violates some case and that ``confirm`` accepts (at most 4 tried per case)."""
    r = spec.forward(X)
    for j, rows in enumerate(cases):
        worst = np.max(r[:, rows], axis=1)
        for i in np.nonzero(worst <= 0)[0][:4]:
            if confirm(X[i], j):
                return X[i], j
    return None
