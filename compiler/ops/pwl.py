"""Piecewise-linear units, each lowered *exactly* to ReLUs plus affine skip terms.

Every unit calls ``ctx.relu`` — max(z, 0) in the interpreter, a new ReLU layer (block) in the
lowering pass — on affine expressions of its inputs; the unit's linear part reaches later
layers through skip connections (a ReluNet layer may read any earlier block).  So the region
engine, which knows only ReLUs, enumerates these nets unchanged, and the ReLU pattern names
the active piece (docs/ops.md gives the table):

=============  =====================================================  ====================
unit           lowering                                               ReLUs per output
=============  =====================================================  ====================
LeakyRelu a    a z + (1 - a) relu(z)                                  1
PRelu s        s z + (1 - s) relu(z)   (s per channel)                1
Clip [lo, hi]  lo + relu(z - lo) - relu(z - hi)  (one side: 1 ReLU)   2
HardSigmoid    Clip(a z + b, 0, 1)                                    2
Abs            2 relu(z) - z                                          1
Max of n       balanced tree of max(a, b) = a + relu(b - a)           n - 1 (ceil(log2 n) layers)
Min of n       -Max(-z_1, ..., -z_n)                                  n - 1
MaxPool k      Max over each window's entries (padding left out)      k - 1
=============  =====================================================  ====================

Example:
    >>> from types import SimpleNamespace as NS
    >>> from relucompile.ops.interpreter import ConcreteContext
    >>> node = NS(op="Clip", origin="clip", attrs={"min": -1.0, "max": 1.0})
    >>> op_clip(node, [np.array([-3.0, 0.5, 2.0])], ConcreteContext("m", False)).tolist()
    [-1.0, 0.5, 1.0]
"""
from __future__ import annotations

import numpy as np

from relucompile.ops.base import (_add, _const, _fail, _is_sym, _scale, _sub, broadcast, concat_flat,
                               reshape, shape_of, take_flat)
from relucompile.ops.spatial import _pool_setup
from relucompile.ops.spatial import reduce_axes


def _mul_const(x, a):
    """x * a for a constant array or number ``a`` (broadcasting x to the product's shape)."""
    if _is_sym(x):
        shape = np.broadcast_shapes(x.shape, np.shape(a))
        return x.broadcast_to(shape).map(lambda t: t * a)
    return np.asarray(x) * a


def op_relu(node, args, ctx):
    return ctx.relu(node, args[0])


def _leaky(node, ctx, z, slope):
    """slope z + (1 - slope) relu(z): one ReLU, on iff z > 0."""
    one = ctx.number(1.0)
    if np.all(np.asarray(slope == one)):  # the identity: no ReLU, no needless cell split
        return z
    return _add(_mul_const(z, slope), _mul_const(ctx.relu(node, z), one - slope))


def op_leaky_relu(node, args, ctx):
    return _leaky(node, ctx, args[0], ctx.number(float(node.attrs.get("alpha", 0.01))))


def op_prelu(node, args, ctx):
    x = args[0]
    slope = np.asarray(_const(node, ctx, args[1], "PRelu's slope"))
    try:
        np.broadcast_to(np.empty(slope.shape), shape_of(x))
    except ValueError:
        raise _fail(node, ctx, f"slope shape {list(slope.shape)} does not broadcast to the input {list(shape_of(x))}") from None
    return _leaky(node, ctx, x, slope)


def clip(node, ctx, z, lo, hi):
    """lo + relu(z - lo) - relu(z - hi), both ReLUs in one layer; one ReLU if a bound is absent.

    >>> from relucompile.ops.interpreter import ConcreteContext
    >>> clip(None, ConcreteContext("m", False), np.array([-2.0, 0.5, 9.0]), 0.0, 6.0).tolist()   # ReLU6
    [0.0, 0.5, 6.0]
    """
    if lo is None and hi is None:
        return z
    if hi is None:
        return _add(ctx.relu(node, _sub(z, lo)), lo)
    if lo is None:
        return _sub(hi, ctx.relu(node, _sub(hi, z)))
    shape = shape_of(z)
    both = concat_flat([_sub(z, lo), _sub(z, hi)])
    r = ctx.relu(node, both)
    n = int(np.prod(shape))
    return _add(reshape(_sub(take_flat(r, range(n)), take_flat(r, range(n, 2 * n))), shape), lo)


def _bound(node, ctx, args, i, key):
    if len(args) > i and args[i] is not None:
        v = np.asarray(_const(node, ctx, args[i], f"Clip's {key}"))
        if v.size != 1:
            raise _fail(node, ctx, f"{key} must be a scalar")
        return v.reshape(())[()] if not ctx.exact else v.reshape(-1)[0]
    if key in node.attrs:
        return ctx.number(float(node.attrs[key]))
    return None


def op_clip(node, args, ctx):
    lo, hi = _bound(node, ctx, args, 1, "min"), _bound(node, ctx, args, 2, "max")
    lo = None if lo is not None and lo == -np.inf else lo        # an infinite bound is no bound
    hi = None if hi is not None and hi == np.inf else hi
    if lo is not None and hi is not None and lo > hi:  # ONNX: every output is max
        return _add(_mul_const(args[0], ctx.number(0.0)), hi)
    return clip(node, ctx, args[0], lo, hi)


def op_hard_sigmoid(node, args, ctx):
    alpha = ctx.number(float(node.attrs.get("alpha", 0.2)))
    beta = ctx.number(float(node.attrs.get("beta", 0.5)))
    return clip(node, ctx, _add(_mul_const(args[0], alpha), beta), ctx.number(0.0), ctx.number(1.0))


def op_abs(node, args, ctx):
    z = args[0]
    return _sub(_scale(ctx.relu(node, z), 2), z)


def max_groups(node, ctx, flat, groups: list[list[int]]):
    """Max over each group of entries of the 1-D value ``flat``, as a balanced tree.

    Each tree level is one ReLU layer: pair (a, b) becomes a + relu(b - a) (on iff b > a, so on
    a tie the earlier entry wins); an odd entry is carried to the next level unchanged.

    >>> from relucompile.ops.interpreter import ConcreteContext
    >>> max_groups(None, ConcreteContext("m", False), np.array([3.0, -1.0, 5.0, 2.0]), [[0, 1, 2], [3]]).tolist()
    [5.0, 2.0]
    """
    if any(not g for g in groups):
        raise _fail(node, ctx, "a window has no input entry (it lies entirely in the padding)")
    cur = flat
    while any(len(g) > 1 for g in groups):
        lefts, rights, carry, plan = [], [], [], []
        for g in groups:
            slots = []
            for i in range(0, len(g) - 1, 2):
                slots.append(("pair", len(lefts)))
                lefts.append(g[i]), rights.append(g[i + 1])
            if len(g) % 2:
                slots.append(("carry", len(carry)))
                carry.append(g[-1])
            plan.append(slots)
        a = take_flat(cur, lefts)
        winners = _add(a, ctx.relu(node, _sub(take_flat(cur, rights), a)))
        cur = concat_flat([winners, take_flat(cur, carry)]) if carry else winners
        groups = [[j if kind == "pair" else len(lefts) + j for kind, j in slots] for slots in plan]
    return take_flat(cur, [g[0] for g in groups])


def _elementwise_max(node, ctx, args):
    args = [a for a in args if a is not None]
    shape = np.broadcast_shapes(*[shape_of(a) for a in args])
    if len(args) == 1:
        return args[0]
    n = int(np.prod(shape))
    flat = concat_flat([broadcast(a, shape) for a in args])
    groups = [[k * n + o for k in range(len(args))] for o in range(n)]
    return reshape(max_groups(node, ctx, flat, groups), shape)


def op_max(node, args, ctx):
    return _elementwise_max(node, ctx, args)


def op_min(node, args, ctx):
    return _scale(_elementwise_max(node, ctx, [_scale(a, -1) for a in args if a is not None]), -1)


def op_max_pool(node, args, ctx):
    x = args[0]
    shape, geo = _pool_setup(node, ctx, x)
    S = geo.size
    N, C = shape[0], shape[1]
    valid = [[int(i) for i in geo.index[:, o] if i < S] for o in range(geo.index.shape[1])]
    groups = [[nc * S + i for i in window] for nc in range(N * C) for window in valid]
    return reshape(max_groups(node, ctx, x, groups), (N, C) + geo.out_spatial)


def op_global_max_pool(node, args, ctx):
    x = args[0]
    shape = shape_of(x)
    S = int(np.prod(shape[2:]))
    groups = [[nc * S + i for i in range(S)] for nc in range(shape[0] * shape[1])]
    return reshape(max_groups(node, ctx, x, groups), shape[:2] + (1,) * (len(shape) - 2))




def op_reduce_max(node, args, ctx, sign: int = 1):
    """ReduceMax (sign 1) or ReduceMin (sign -1): a Max tree over each reduced group."""
    x = args[0]
    shape = shape_of(x)
    axes, keep = reduce_axes(node, ctx, args, len(shape))
    if axes is None:
        return x
    rest = [a for a in range(len(shape)) if a not in axes]
    index = np.arange(int(np.prod(shape))).reshape(shape).transpose(rest + list(axes))
    groups = index.reshape(int(np.prod([shape[a] for a in rest])), -1).tolist()
    out_shape = [1 if a in axes else shape[a] for a in range(len(shape))] if keep else [shape[a] for a in rest]
    value = x if sign > 0 else _scale(x, -1)
    result = reshape(max_groups(node, ctx, value, groups), out_shape)
    return result if sign > 0 else _scale(result, -1)


def op_reduce_min(node, args, ctx):
    return op_reduce_max(node, args, ctx, sign=-1)
