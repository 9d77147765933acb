"""Values flowing through the IR: concrete tensors and symbolic affine tensors.

A concrete tensor is a numpy array (float64, or dtype=object holding ``fractions.Fraction``
for exact runs).  An :class:`Affine` is a tensor whose entries are affine functions of some
*variable blocks* (block 0 is the network input, block l >= 1 the outputs of the l-th ReLU
layer): ``value = const + sum_b tensordot(coefs[b], v_b)``, with ``coefs[b]`` of shape
``(n_b, *shape)``.  Linear ops map constants and every coefficient slice alike, which is how
the compiler extracts exact layer weights from any linear subgraph.

Example:
    >>> a = Affine.variable(0, 2)            # the input vector v_0 of length 2
    >>> b = a.map(lambda t: t * 3)           # 3 * v_0
    >>> b.coefs[0].tolist()
    [[3.0, 0.0], [0.0, 3.0]]
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, Union

import numpy as np


def to_exact(array: np.ndarray) -> np.ndarray:
    """An object array of Fractions equal to ``array`` (floats are exact binary fractions)."""
    array = np.asarray(array)
    if array.dtype == object:
        return np.array([v if isinstance(v, Fraction) else Fraction(v) for v in array.ravel()],
                        dtype=object).reshape(array.shape)
    flat = [Fraction(float(v)) if array.dtype.kind == "f" else Fraction(int(v)) for v in array.ravel()]
    return np.array(flat, dtype=object).reshape(array.shape)


def to_float(array: np.ndarray) -> np.ndarray:
    """float64 copy of an array (rounds Fractions to nearest)."""
    return np.asarray(array, dtype=np.float64) if np.asarray(array).dtype != object else \
        np.array([float(v) for v in np.asarray(array).ravel()], dtype=np.float64).reshape(np.shape(array))


class Affine:
    """A tensor of affine functions of variable blocks (see module docstring).

    A fresh variable block (:meth:`variable`) keeps its identity coefficients unbuilt until
    ``coefs`` is read: :func:`relucompile.ops.table.op_matmul` maps the identity times a
    weight matrix to the matrix itself, so a wide layer costs neither an n x n identity nor
    an n^3 product (a 4,700-wide layer: 177 MB and ~10 s saved per layer).
    """

    def __init__(self, const: np.ndarray, coefs: dict[int, np.ndarray] | None,
                 identity: tuple[int, int, bool] | None = None) -> None:
        self.const = const
        self._coefs = coefs
        self.identity = identity   # (block, size, exact) while coefs is that block's unbuilt identity

    @property
    def coefs(self) -> dict[int, np.ndarray]:
        if self._coefs is None:
            block, size, exact = self.identity
            eye = to_exact(np.eye(size)) if exact else np.eye(size)
            self._coefs = {block: eye.reshape((size,) + self.shape)}
            self.identity = None
        return self._coefs

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.const))

    @staticmethod
    def variable(block: int, size: int, shape: tuple[int, ...] | None = None, exact: bool = False) -> "Affine":
        """The identity map of block ``block`` (``size`` variables), reshaped to ``shape``."""
        shape = shape or (size,)
        const = np.zeros(size)
        if exact:
            const = to_exact(const)
        return Affine(const.reshape(shape), None, identity=(block, size, exact))

    def with_const(self, const: np.ndarray) -> "Affine":
        """The same coefficients (shared, or still the unbuilt identity) with another constant
        part of the same shape: adding a constant needs no copy of the coefficients.

        Example:
            >>> a = Affine.variable(0, 2).with_const(np.array([1.0, 2.0]))
            >>> a.identity
            (0, 2, False)
            >>> a.coefs[0].tolist(), a.const.tolist(), a.identity
            ([[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0], None)
        """
        assert np.shape(const) == self.shape
        return Affine(np.asarray(const), self._coefs, self.identity)

    def map(self, linear: Callable[[np.ndarray], np.ndarray], bias: np.ndarray | None = None,
            batched: Callable[[np.ndarray], np.ndarray] | None = None) -> "Affine":
        """Apply a *linear* tensor map to every part, then add ``bias`` to the constant part.

        ``batched``, when given, maps a whole coefficient block (a leading axis of slices) in one
        call and must equal stacking ``linear`` over the slices: one BLAS call instead of one per
        variable (a 1000-wide layer: ~7 s -> ~0.1 s to lower).

        Example:
            >>> a = Affine.variable(0, 2)
            >>> w = np.array([[1.0, 2.0], [3.0, 4.0]])
            >>> a.map(lambda t: t @ w, batched=lambda c: c @ w).coefs[0].tolist()
            [[1.0, 2.0], [3.0, 4.0]]
        """
        const = linear(self.const)
        if bias is not None:
            const = const + bias
        step = batched or (lambda c: np.stack([linear(s) for s in c]))
        coefs = {b: step(c) if len(c) else c for b, c in self.coefs.items()}
        return Affine(np.asarray(const), coefs)

    def broadcast_to(self, shape: tuple[int, ...]) -> "Affine":
        if tuple(shape) == self.shape:   # nothing to broadcast: the same value
            return self
        const = np.broadcast_to(self.const, shape)
        coefs = {b: np.broadcast_to(c.reshape((c.shape[0],) + (1,) * (len(shape) - c.ndim + 1) + c.shape[1:]),
                                    (c.shape[0],) + tuple(shape)) for b, c in self.coefs.items()}
        return Affine(const, coefs)

    def __add__(self, other: "Affine") -> "Affine":
        shape = np.broadcast_shapes(self.shape, other.shape)
        left, right = self.broadcast_to(shape), other.broadcast_to(shape)
        coefs = dict(left.coefs)
        for b, c in right.coefs.items():
            coefs[b] = coefs[b] + c if b in coefs else c
        return Affine(left.const + right.const, coefs)

    def scale(self, factor: float | Fraction | int) -> "Affine":
        return Affine(self.const * factor, {b: c * factor for b, c in self.coefs.items()})


Value = Union[np.ndarray, Affine]
