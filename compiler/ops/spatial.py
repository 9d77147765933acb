"""Handlers of the linear sliding-window, padding and indexing ops (ONNX semantics).

Conv, ConvTranspose, AveragePool, GlobalAveragePool, Pad, Concat, Slice, Gather, Expand, Sum
and Mean: all linear (affine with a constant bias) in the network input, so each handler
maps concrete and symbolic values alike (see compiler/ops/base.py).  Attribute combinations
that are not implemented raise the one-line ModelError, never a wrong result.

Example:
    >>> from types import SimpleNamespace as NS
    >>> from relucompile.ops.interpreter import ConcreteContext
    >>> node = NS(op="GlobalAveragePool", origin="gap", attrs={})
    >>> op_global_average_pool(node, [np.arange(4.0).reshape(1, 1, 2, 2)], ConcreteContext("m", False)).ravel().tolist()
    [1.5]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from relucompile.ops import tensor_maps as tm
from relucompile.ops.base import (_add, _const, _fail, _is_sym, _linear, batched, broadcast, concat, shape_of)


def _spatial_attrs(node, ctx, rank: int, kernel: tuple[int, ...]) -> dict[str, Any]:
    """strides, pads, dilations, auto_pad with ONNX defaults, validated against ``rank``."""
    n = rank - 2
    if n < 1:
        raise _fail(node, ctx, f"needs an input of rank >= 3 (N, C, spatial...), got rank {rank}")
    a = node.attrs
    auto_pad = a.get("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise _fail(node, ctx, f"auto_pad '{auto_pad}' is not an ONNX value")
    strides = tuple(a.get("strides", [1] * n))
    dilations = tuple(a.get("dilations", [1] * n))
    pads = tuple(a.get("pads", [0] * (2 * n)))
    if len(kernel) != n or len(strides) != n or len(dilations) != n or len(pads) != 2 * n:
        raise _fail(node, ctx, f"kernel/strides/dilations/pads do not match {n} spatial axes")
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        raise _fail(node, ctx, "strides and dilations must be >= 1 and pads >= 0")
    return dict(strides=strides, dilations=dilations, pads=pads, auto_pad=auto_pad)


def _geometry(node, ctx, in_spatial, kernel, attrs, ceil_mode=False) -> tm.Geometry:
    try:
        return tm.window_geometry(in_spatial, kernel, attrs["strides"], attrs["pads"], attrs["dilations"],
                                  attrs["auto_pad"], ceil_mode)
    except ValueError as exc:
        raise _fail(node, ctx, str(exc)) from None


def _conv_operands(node, args, ctx) -> tuple:
    """(x, weights, bias or None, x's shape, group, kernel shape) of a Conv or ConvTranspose node."""
    x, w = args[0], _const(node, ctx, args[1], f"{node.op}'s weights")
    bias = args[2] if len(args) > 2 and args[2] is not None else None
    return x, w, bias, shape_of(x), int(node.attrs.get("group", 1)), tuple(node.attrs.get("kernel_shape", w.shape[2:]))


def op_conv(node, args, ctx):
    x, w, bias, shape, group, kernel = _conv_operands(node, args, ctx)
    if kernel != tuple(w.shape[2:]):
        raise _fail(node, ctx, f"kernel_shape {list(kernel)} differs from the weights' {list(w.shape[2:])}")
    if shape[1] != w.shape[1] * group or w.shape[0] % group:
        raise _fail(node, ctx, f"channels {shape[1]} do not match weights {list(w.shape)} with group={group}")
    attrs = _spatial_attrs(node, ctx, len(shape), kernel)
    geo = _geometry(node, ctx, shape[2:], kernel, attrs)
    b = None
    if bias is not None:
        b = np.asarray(_const(node, ctx, bias, "Conv's bias")).reshape((1, -1) + (1,) * len(kernel))
    return batched(x, lambda t: tm.conv(t, w, group, geo), b)


def op_conv_transpose(node, args, ctx):
    x, w, bias, shape, group, kernel = _conv_operands(node, args, ctx)
    n = len(shape) - 2
    if kernel != tuple(w.shape[2:]) or shape[1] != w.shape[0]:
        raise _fail(node, ctx, f"weights {list(w.shape)} do not match input {list(shape)} / kernel_shape")
    attrs = _spatial_attrs(node, ctx, len(shape), kernel)
    out_pad = tuple(node.attrs.get("output_padding", [0] * n))
    s, dil = attrs["strides"], attrs["dilations"]
    natural = [s[i] * (shape[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1 for i in range(n)]
    if "output_shape" in node.attrs or attrs["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
        out_sp = list(node.attrs.get("output_shape", [shape[2 + i] * s[i] for i in range(n)]))[-n:]
        total = [natural[i] - out_sp[i] for i in range(n)]  # negative: zeros appended at the end
        upper = attrs["auto_pad"] == "SAME_UPPER"
        begin = [t // 2 if upper else t - t // 2 for t in total]
    elif attrs["auto_pad"] == "VALID":
        begin, out_sp = [0] * n, natural
    else:
        p = attrs["pads"]
        begin = list(p[:n])
        out_sp = [natural[i] - p[i] - p[i + n] for i in range(n)]
    b = None
    if bias is not None:
        b = np.asarray(_const(node, ctx, bias, "ConvTranspose's bias")).reshape((1, -1) + (1,) * n)
    return batched(x, lambda t: tm.conv_transpose(t, w, group, s, dil, begin, out_sp), b)


def _pool_setup(node, ctx, x):
    shape = shape_of(x)
    if "kernel_shape" not in node.attrs:
        raise _fail(node, ctx, "kernel_shape is required")
    kernel = tuple(node.attrs["kernel_shape"])
    attrs = _spatial_attrs(node, ctx, len(shape), kernel)
    if int(node.attrs.get("storage_order", 0)):
        raise _fail(node, ctx, "storage_order=1 (column-major indices) is not supported")
    return shape, _geometry(node, ctx, shape[2:], kernel, attrs, bool(node.attrs.get("ceil_mode", 0)))


def op_average_pool(node, args, ctx):
    x = args[0]
    _, geo = _pool_setup(node, ctx, x)
    include = bool(node.attrs.get("count_include_pad", 0))
    return batched(x, lambda t: tm.average_pool(t, geo, include, ctx.exact))


def op_global_average_pool(node, args, ctx):
    x = args[0]
    shape = shape_of(x)
    axes = tuple(range(2, len(shape)))
    count = int(np.prod(shape[2:]))
    inv = ctx.number(1.0) / count if ctx.exact else 1.0 / count
    return _linear(x, lambda t: t.sum(axis=axes, keepdims=True) * inv) if _is_sym(x) else \
        np.asarray(x).sum(axis=axes, keepdims=True) * inv


def _int_input(node, ctx, args, i, what) -> list[int] | None:
    if len(args) <= i or args[i] is None:
        return None
    v = np.asarray(_const(node, ctx, args[i], what))
    return [int(round(float(t))) for t in v.reshape(-1)]


def op_pad(node, args, ctx):
    x = args[0]
    rank = len(shape_of(x))
    mode = node.attrs.get("mode", "constant")
    pads = _int_input(node, ctx, args, 1, "Pad's pads")
    if pads is None:
        pads = list(node.attrs.get("pads", node.attrs.get("paddings", [])))
    value = node.attrs.get("value", 0.0)
    if len(args) > 2 and args[2] is not None:
        v = np.asarray(_const(node, ctx, args[2], "Pad's constant_value")).reshape(-1)
        value = v[0] if v.size else 0.0
    axes = _int_input(node, ctx, args, 3, "Pad's axes") or list(range(rank))
    axes = [a + rank if a < 0 else a for a in axes]
    if len(pads) != 2 * len(axes):
        raise _fail(node, ctx, f"{len(pads)} pads for {len(axes)} axes")
    begin, end = [0] * rank, [0] * rank
    for j, a in enumerate(axes):
        begin[a], end[a] = pads[j], pads[j + len(axes)]
    if mode == "constant":
        value = ctx.number(float(value))
        if not _is_sym(x):
            return tm.pad_constant(np.asarray(x), begin, end, value)
        zero = ctx.number(0.0)
        const = tm.pad_constant(np.asarray(x.const), begin, end, value)
        coefs = {b: np.stack([tm.pad_constant(s, begin, end, zero) for s in c]) for b, c in x.coefs.items()}
        return type(x)(const, coefs)
    if mode in ("edge", "reflect", "wrap"):
        try:
            return _linear(x, lambda t: tm.pad_mode(t, begin, end, mode))
        except ValueError as exc:
            raise _fail(node, ctx, str(exc)) from None
    raise _fail(node, ctx, f"mode '{mode}' is not supported (constant, edge, reflect, wrap)")


def op_concat(node, args, ctx):
    if "axis" not in node.attrs:
        raise _fail(node, ctx, "axis is required")
    return concat([a for a in args if a is not None], int(node.attrs["axis"]))


def _slice_indices(start: int, end: int, step: int, dim: int) -> np.ndarray:
    """ONNX Slice clamping rules for one axis, as an explicit index array."""
    if step == 0:
        raise ValueError("a step of 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return np.arange(start, end, step)


def op_slice(node, args, ctx):
    x = args[0]
    shape = shape_of(x)
    rank = len(shape)
    if len(args) > 1:  # opset >= 10: starts, ends, axes, steps are inputs
        starts = _int_input(node, ctx, args, 1, "Slice's starts")
        ends = _int_input(node, ctx, args, 2, "Slice's ends")
        axes = _int_input(node, ctx, args, 3, "Slice's axes")
        steps = _int_input(node, ctx, args, 4, "Slice's steps")
    else:
        starts, ends = list(node.attrs.get("starts", [])), list(node.attrs.get("ends", []))
        axes, steps = node.attrs.get("axes"), None
    axes = list(range(len(starts))) if axes is None else [a + rank if a < 0 else a for a in axes]
    steps = steps or [1] * len(starts)
    index = [np.arange(s) for s in shape]
    for a, s, e, st in zip(axes, starts, ends, steps):
        try:
            index[a] = _slice_indices(max(min(s, 2**62), -2**62), max(min(e, 2**62), -2**62), st, shape[a])
        except ValueError as exc:
            raise _fail(node, ctx, str(exc)) from None
    return _linear(x, lambda t: t[np.ix_(*index)] if t.ndim else t)


def op_gather(node, args, ctx):
    x = args[0]
    indices = np.asarray(_const(node, ctx, args[1], "Gather's indices")).astype(np.int64)
    shape = shape_of(x)
    axis = int(node.attrs.get("axis", 0))
    axis = axis + len(shape) if axis < 0 else axis
    if indices.size and (indices.min() < -shape[axis] or indices.max() >= shape[axis]):
        raise _fail(node, ctx, f"index out of range for axis {axis} of size {shape[axis]}")
    indices = np.where(indices < 0, indices + shape[axis], indices)
    return _linear(x, lambda t: np.take(t, indices, axis=axis))


def op_expand(node, args, ctx):
    x = args[0]
    target = [int(v) for v in np.asarray(_const(node, ctx, args[1], "Expand's shape")).reshape(-1)]
    shape = np.broadcast_shapes(shape_of(x), tuple(target))
    out = broadcast(x, shape)
    return out if _is_sym(out) else np.array(out)


def op_sum(node, args, ctx):
    total = args[0]
    for a in args[1:]:
        total = _add(total, a)
    return total


def op_mean(node, args, ctx):
    total = op_sum(node, args, ctx)
    factor = ctx.number(1.0) / len(args) if ctx.exact else 1.0 / len(args)
    return total.scale(factor) if _is_sym(total) else total * factor


def reduce_axes(node, ctx, args, rank: int) -> tuple[tuple[int, ...] | None, bool]:
    """(axes, keepdims) of a Reduce* node: axes from the attribute (old opsets) or the constant
    second input; None means "no reduction" (noop_with_empty_axes with empty axes)."""
    axes = node.attrs.get("axes")
    if axes is None:
        axes = _int_input(node, ctx, args, 1, f"{node.op}'s axes")
    if not axes:
        if int(node.attrs.get("noop_with_empty_axes", 0)):
            return None, bool(node.attrs.get("keepdims", 1))
        axes = list(range(rank))
    return tuple(sorted(a + rank if a < 0 else a for a in axes)), bool(node.attrs.get("keepdims", 1))


def op_reduce_sum(node, args, ctx):
    x = args[0]
    axes, keep = reduce_axes(node, ctx, args, len(shape_of(x)))
    if axes is None:
        return x
    return _linear(x, lambda t: t.sum(axis=axes, keepdims=keep))


def op_reduce_mean(node, args, ctx):
    x = args[0]
    shape = shape_of(x)
    axes, keep = reduce_axes(node, ctx, args, len(shape))
    if axes is None:
        return x
    count = int(np.prod([shape[a] for a in axes]))
    inv = ctx.number(1.0) / count if ctx.exact else 1.0 / count
    return _linear(x, lambda t: t.sum(axis=axes, keepdims=keep) * inv)


def op_shape(node, args, ctx):
    """The input's shape (batch dimensions are 1 in the IR): a constant even for network values."""
    shape = shape_of(args[0])
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return np.array(shape[start:end], dtype=np.int64)


def op_constant_of_shape(node, args, ctx):
    shape = [int(v) for v in np.asarray(_const(node, ctx, args[0], "ConstantOfShape's shape")).reshape(-1)]
    value = node.attrs.get("value")
    value = np.asarray(value).reshape(-1)[0] if value is not None else 0.0
    return ctx.constant(np.full(shape, value, dtype=np.asarray(value).dtype))


def op_split(node, args, ctx):
    """Part ``output_index`` of an ONNX Split (the frontend makes one IR node per output)."""
    x = args[0]
    shape = shape_of(x)
    axis = int(node.attrs.get("axis", 0))
    axis = axis + len(shape) if axis < 0 else axis
    parts = int(node.attrs.get("num_parts", 1))
    sizes = _int_input(node, ctx, args, 1, "Split's split") or node.attrs.get("split")
    if not sizes:
        n = int(node.attrs.get("num_outputs", parts))
        chunk = -(-shape[axis] // n)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(n)]
    if len(sizes) != parts or sum(sizes) != shape[axis] or min(sizes) < 0:
        raise _fail(node, ctx, f"split sizes {list(sizes)} do not divide axis {axis} of size {shape[axis]} "
                               f"into {parts} outputs")
    i = int(node.attrs.get("output_index", 0))
    start = sum(sizes[:i])
    index = np.arange(start, start + sizes[i])
    return _linear(x, lambda t: np.take(t, index, axis=axis))
