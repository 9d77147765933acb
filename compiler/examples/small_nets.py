"""Hand-written tiny networks whose functions are known in closed form, for examples and tests.

Example:
    >>> bent_line().forward(np.array([[-1.0], [0.5], [2.0]])).tolist()
    [[0.5, 0.0], [1.5, 0.0], [3.5, 1.0]]
    >>> absolute_value().forward(np.array([[-2.0], [3.0]])).tolist()
    [[2.0], [3.0]]
"""
from __future__ import annotations

import numpy as np

from relucompile.ir.network import AffineLayer, ReluNet


def bent_line() -> ReluNet:
    """A 1-input, 2-output net: y1 = 2 relu(x) - relu(x - 1) + 1/2 bends at 0 and 1, y2 = relu(x - 1)
    at 1 only (exact binary weights, so its rational form is short)."""
    hidden = AffineLayer({0: np.array([[1.0], [1.0]])}, np.array([0.0, -1.0]))
    output = AffineLayer({1: np.array([[2.0, -1.0], [0.0, 1.0]])}, np.array([0.5, 0.0]))
    return ReluNet(1, [hidden], output)


def absolute_value() -> ReluNet:
    """|x| = relu(x) + relu(-x): two cells on any interval around 0, split at 0."""
    hidden = AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))
    return ReluNet(1, [hidden], AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
