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

    Each round starts ``starts`` uniform points per case and takes ``steps`` steps on the case's
    worst row, the step shrinking linearly from 20% to 0.5% of the box width.

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
    X = np.vstack([(lo + hi)[None] / 2, lo + rng.random((4 * starts, d)) * width])   # every case first
    r = spec.forward(X)
    for j, rows in enumerate(cases):
        worst = np.max(r[:, rows], axis=1)
        for i in np.nonzero(worst <= 0)[0][:4]:
            if confirm(X[i], j):
                return X[i], j
    first = True
    while time.perf_counter() < end:
        for j, rows in enumerate(cases):
            P = lo + rng.random((starts, d)) * width
            if first:
                P[0] = (lo + hi) / 2                  # e.g. a misclassified image itself
            for step in schedule:
                values = spec.forward(P)[:, rows]
                worst = np.max(values, axis=1)
                for i in np.nonzero(worst <= 0)[0][:4]:
                    if confirm(P[i], j):
                        return P[i], j
                if time.perf_counter() > end:
                    return None, -1
                grad = output_gradients(spec, P, rows[np.argmax(values, axis=1)])
                P = np.clip(P - step * np.sign(grad) * width, lo, hi)
            worst = np.max(spec.forward(P)[:, rows], axis=1)
            for i in np.nonzero(worst <= 0)[0][:4]:
                if confirm(P[i], j):
                    return P[i], j
        first = False
    return None, -1
