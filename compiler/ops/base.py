"""Helpers shared by the op handlers (compiler/ops/table.py, ops_spatial.py, ops_pwl.py).

A value is a concrete array or a symbolic :class:`~relucompile.ir.values.Affine`; these helpers
apply linear maps, sums, gathers and concatenations to either kind alike, so every handler
has one code path for the interpreter and for the lowering pass.

Example:
    >>> a = Affine.variable(0, 3)
    >>> take_flat(a, [2, 0]).coefs[0].tolist()          # picks x2 and x0
    [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]
    >>> concat_flat([np.array([5.0]), take_flat(a, [1])]).const.tolist()
    [5.0, 0.0]
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from relucompile.errors import ModelError
from relucompile.ir.values import Affine, Value


class Context(Protocol):
    source: str
    exact: bool

    def relu(self, node: Any, x: Value) -> Value: ...

    def constant(self, value: np.ndarray) -> np.ndarray: ...

    def number(self, v: float) -> Any: ...


@dataclass(frozen=True)
class OpSpec:
    """An op's handler, a one-line note of its limits and how its PWL unit is encoded."""

    handler: Callable[[Any, list[Value], Context], Value]
    limits: str
    kind: str = "linear"


def _fail(node: Any, ctx: Context, why: str) -> ModelError:
    return ModelError(ctx.source, node.origin, node.op, why)


def _is_sym(v: Value) -> bool:
    return isinstance(v, Affine)


def _const(node: Any, ctx: Context, v: Value, what: str) -> np.ndarray:
    if _is_sym(v):
        raise _fail(node, ctx, f"{what} must be a constant (a product of two network-dependent tensors is not piecewise linear)")
    return v


def _linear(x: Value, fn: Callable[[np.ndarray], np.ndarray], bias: np.ndarray | None = None) -> Value:
    """Apply a linear map ``fn`` (plus ``bias``) to a concrete or symbolic tensor."""
    if _is_sym(x):
        return x.map(fn, bias)
    y = fn(x)
    return y + bias if bias is not None else y


def _scale(x: Value, factor) -> Value:
    return x.scale(factor) if _is_sym(x) else x * factor


def _add(a: Value, b: Value) -> Value:
    if _is_sym(a) and _is_sym(b):
        return a + b
    if _is_sym(a):
        shape = np.broadcast_shapes(a.shape, np.shape(b))
        if shape == a.shape:    # a constant added: the coefficients are shared, not copied
            return a.with_const(a.const + b)
        return a.broadcast_to(shape).map(lambda t: t, b, batched=np.array)
    if _is_sym(b):
        return _add(b, a)
    return a + b


def _sub(a: Value, b: Value) -> Value:
    return _add(a, _scale(b, -1))


def batched(x: Value, fn: Callable[[np.ndarray], np.ndarray], bias: np.ndarray | None = None) -> Value:
    """Apply ``fn`` — linear, acting independently on axis 0 — to a value in one call per block.

    Faster than :func:`_linear` for convolutions: the coefficient slices of a block are stacked
    along axis 0 instead of mapped one by one.

    >>> batched(Affine.variable(0, 2, (1, 2)), lambda t: t[:, ::-1] * 2).coefs[0].tolist()
    [[[0.0, 2.0]], [[2.0, 0.0]]]
    """
    if not _is_sym(x):
        y = fn(x)
        return y + bias if bias is not None else y
    const = fn(x.const)
    if bias is not None:
        const = const + bias
    coefs = {}
    for b, c in x.coefs.items():
        n = c.shape[0]
        out = fn(np.ascontiguousarray(c).reshape((n * c.shape[1],) + c.shape[2:]))
        coefs[b] = out.reshape((n, c.shape[1]) + out.shape[1:])
    return Affine(np.asarray(const), coefs)


def _zero(dtype) -> Any:
    return Fraction(0) if dtype == object else 0.0


def take_flat(x: Value, index: Sequence[int] | np.ndarray) -> Value:
    """Entries ``index`` of the flattened value, as a 1-D value (a linear map).

    >>> take_flat(np.array([[1.0, 2.0], [3.0, 4.0]]), [3, 0]).tolist()
    [4.0, 1.0]
    """
    index = np.asarray(index, dtype=np.int64)
    if not _is_sym(x):
        return np.asarray(x).reshape(-1)[index]
    return Affine(np.asarray(x.const).reshape(-1)[index],
                  {b: np.asarray(c).reshape(c.shape[0], -1)[:, index] for b, c in x.coefs.items()})


def reshape(x: Value, shape: Sequence[int]) -> Value:
    """Reshape a concrete or symbolic value.

    >>> reshape(Affine.variable(0, 4), (2, 2)).shape
    (2, 2)
    """
    shape = tuple(int(s) for s in shape)
    if not _is_sym(x):
        return np.asarray(x).reshape(shape)
    return Affine(np.asarray(x.const).reshape(shape), {b: np.asarray(c).reshape((c.shape[0],) + shape)
                                                       for b, c in x.coefs.items()})


def concat(values: Sequence[Value], axis: int) -> Value:
    """Concatenate concrete and symbolic tensors along ``axis`` (blocks missing from a part get zeros).

    >>> concat([Affine.variable(0, 1), np.array([7.0])], axis=0).coefs[0].tolist()
    [[1.0, 0.0]]
    """
    if not any(_is_sym(v) for v in values):
        return np.concatenate([np.asarray(v) for v in values], axis=axis)
    parts = [v if _is_sym(v) else Affine(np.asarray(v), {}) for v in values]
    rank = len(parts[0].shape)
    axis = axis + rank if axis < 0 else axis
    const = np.concatenate([np.asarray(p.const) for p in parts], axis=axis)
    blocks = sorted({b for p in parts for b in p.coefs})
    coefs = {}
    for b in blocks:
        n = next(p.coefs[b].shape[0] for p in parts if b in p.coefs)
        dtype = next(p.coefs[b].dtype for p in parts if b in p.coefs)
        pieces = [p.coefs[b] if b in p.coefs else np.full((n,) + p.shape, _zero(dtype), dtype=dtype) for p in parts]
        coefs[b] = np.concatenate(pieces, axis=axis + 1)
    return Affine(const, coefs)


def concat_flat(values: Sequence[Value]) -> Value:
    """Flatten every value and concatenate them into one 1-D value.

    >>> concat_flat([np.ones((2, 2)), np.zeros(1)]).tolist()
    [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    return concat([reshape(v, (-1,)) if _is_sym(v) else np.asarray(v).reshape(-1) for v in values], axis=0)


def broadcast(x: Value, shape: Sequence[int]) -> Value:
    """Broadcast a concrete or symbolic value to ``shape``.

    >>> broadcast(Affine.variable(0, 1, (1,)), (3,)).shape
    (3,)
    """
    shape = tuple(shape)
    return x.broadcast_to(shape) if _is_sym(x) else np.broadcast_to(np.asarray(x), shape)


def shape_of(x: Value) -> tuple[int, ...]:
    """The tensor shape of a concrete or symbolic value.

    >>> shape_of(np.zeros((2, 3))), shape_of(Affine.variable(0, 6, (2, 3)))
    ((2, 3), (2, 3))
    """
    return x.shape if _is_sym(x) else tuple(np.shape(x))
