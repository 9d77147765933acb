"""One handler per IR op, in one table (as ``onnx.reference`` does).

A handler ``fn(node, args, ctx) -> Value`` computes the op's output from its inputs.  Inputs
are concrete arrays or symbolic :class:`~relucompile.ir.values.Affine` tensors; linear ops accept
either, and ``Relu`` defers to ``ctx.relu`` (concrete max(x, 0) in the interpreter, a new
variable block in the lowering pass).  Only piecewise-linear ops are here; everything else
is refused by the frontend with a reason from :data:`NOT_PIECEWISE_LINEAR`.

``OPS`` maps op name -> :class:`OpSpec` (handler + a one-line note of its limits), and is the
single source for ``relucompile ops`` and the README table.
"""
from __future__ import annotations

import numpy as np

from relucompile.ops import pwl as pwl
from relucompile.ops import spatial as sp
from relucompile.ops.base import OpSpec, _add, _const, _fail, _is_sym, _linear, _scale
from relucompile.ir.values import Affine, Value, to_exact
from relucompile.numeric.sparse_products import exact_sparse_product
from relucompile.numeric.tolerances import ONNX_NORM_EPSILON


NOT_PIECEWISE_LINEAR = {
    op: f"{op} is not piecewise linear; relucompile compiles piecewise-linear networks exactly"
    for op in ("Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Sqrt", "Pow", "Erf", "Gelu",
               "Elu", "Selu", "Softplus", "Softsign", "HardSwish", "Mish", "Sin", "Cos",
               "Reciprocal", "LRN", "LayerNormalization", "InstanceNormalization")
}


# ---- shape ops ----------------------------------------------------------------------------
def op_identity(node, args, ctx):
    return args[0]


def op_dropout(node, args, ctx):
    if len(args) >= 3 and not _is_sym(args[2]) and bool(np.asarray(args[2]).reshape(-1)[0]):
        raise _fail(node, ctx, "Dropout in training mode is random; export the model in inference mode")
    return args[0]


def op_cast(node, args, ctx):
    to = node.attrs.get("to", 1)
    if to not in (1, 10, 11, 16):  # float, float16, double, bfloat16
        if _is_sym(args[0]):
            raise _fail(node, ctx, f"Cast of a network value to a non-float type ({to}) is not supported")
        return np.asarray(args[0]).astype(np.int64)
    return args[0] if _is_sym(args[0]) else np.asarray(args[0])


def op_flatten(node, args, ctx):
    x = args[0]
    shape = x.shape
    axis = node.attrs.get("axis", 1)
    if not -len(shape) <= axis <= len(shape):
        raise _fail(node, ctx, f"axis {axis} is outside [-{len(shape)}, {len(shape)}] for an input of rank {len(shape)}")
    axis = axis + len(shape) if axis < 0 else axis
    outer = int(np.prod(shape[:axis])) if axis else 1
    return _linear(x, lambda t: t.reshape(outer, -1))


def op_reshape(node, args, ctx):
    x, target = args[0], np.asarray(_const(node, ctx, args[1], "the target shape")).astype(np.int64)
    shape = list(x.shape)
    allowzero = node.attrs.get("allowzero", 0)
    new = [int(shape[i]) if (t == 0 and not allowzero) else int(t) for i, t in enumerate(target)]
    return _linear(x, lambda t: t.reshape(new))


def _axes(node, args, ctx) -> list[int] | None:
    if "axes" in node.attrs:
        return list(node.attrs["axes"])
    if len(args) > 1 and args[1] is not None:
        return [int(a) for a in np.asarray(_const(node, ctx, args[1], "axes")).reshape(-1)]
    return None


def _check_axes(node, ctx, axes: list[int], rank: int) -> None:
    """Every axis in [-rank, rank - 1] and none named twice (ONNX refuses the model otherwise)."""
    bad = [a for a in axes if not -rank <= a < rank]
    if bad:
        raise _fail(node, ctx, f"axis {bad[0]} is outside [-{rank}, {rank - 1}] (rank {rank})")
    if len({a % rank for a in axes}) != len(axes):
        raise _fail(node, ctx, f"axes {axes} name an axis twice")


def op_squeeze(node, args, ctx):
    x = args[0]
    axes = _axes(node, args, ctx)
    rank = len(x.shape)
    if axes is not None:
        _check_axes(node, ctx, axes, rank)
        if any(x.shape[a] != 1 for a in axes):
            raise _fail(node, ctx, f"axes {axes} include a dimension of size other than 1 (shape {list(x.shape)})")
    axes = [a + rank if a < 0 else a for a in axes] if axes is not None else [i for i, s in enumerate(x.shape) if s == 1]
    new = [s for i, s in enumerate(x.shape) if i not in axes]
    return _linear(x, lambda t: t.reshape(new))


def op_unsqueeze(node, args, ctx):
    x = args[0]
    axes = _axes(node, args, ctx)
    if axes is None:
        raise _fail(node, ctx, "Unsqueeze needs axes")
    rank = len(x.shape) + len(axes)
    _check_axes(node, ctx, axes, rank)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    new = list(x.shape)
    for a in axes:
        new.insert(a, 1)
    return _linear(x, lambda t: t.reshape(new))


def op_transpose(node, args, ctx):
    perm = node.attrs.get("perm")
    return _linear(args[0], lambda t: np.transpose(t, perm))


# ---- linear algebra -----------------------------------------------------------------------
def op_matmul(node, args, ctx):
    a, b = args
    if _is_sym(a) and _is_sym(b):
        raise _fail(node, ctx, "MatMul of two network-dependent tensors is not piecewise linear")
    direct = _identity_product(a, b)
    if direct is not None:
        return direct
    # A coefficient block stacks one slice per variable on a new leading axis. With a matrix (or
    # vector) on the right, all slices' rows form one 2-D product: a single BLAS call.
    if _is_sym(a):
        batched = None
        if np.ndim(b) <= 2 and len(a.shape) >= 1:
            batched = lambda c: _product(c.reshape(-1, c.shape[-1]), b).reshape(c.shape[:-1] + np.shape(b)[1:])
        return a.map(lambda t: np.matmul(t, b), batched=batched)
    if _is_sym(b):
        batched = (lambda c: np.matmul(a, c)) if len(b.shape) >= 2 and np.ndim(a) <= len(b.shape) else None
        return b.map(lambda t: np.matmul(a, t), batched=batched)
    return np.matmul(a, b)


def _product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right``; sparse where that is exact and pays (:mod:`relucompile.numeric.sparse_products`)."""
    sparse = exact_sparse_product(left, right) if np.ndim(right) == 2 else None
    return left @ right if sparse is None else sparse


def _identity_product(a, b):
    """``a @ b`` where one side is a fresh variable block (its identity coefficients unbuilt, a
    row or column vector) and the other a float matrix: the matrix itself is the coefficient
    block (identity times a matrix is the matrix exactly; ``+ 0.0`` turns -0.0 into 0.0, as
    the product does).  None where this does not apply: the general path then runs.

    >>> w = np.array([[1.0, -0.0, 2.0], [3.0, 4.0, 5.0]])
    >>> _identity_product(Affine.variable(0, 2, (1, 2)), w).coefs[0].tolist()
    [[[1.0, 0.0, 2.0]], [[3.0, 4.0, 5.0]]]
    >>> _identity_product(w.T, Affine.variable(0, 2, (2, 1))).coefs[0].tolist()
    [[[1.0], [0.0], [2.0]], [[3.0], [4.0], [5.0]]]
    """
    sym, matrix = (a, b) if _is_sym(a) else (b, a)
    if not _is_sym(sym) or _is_sym(matrix) or sym.identity is None or sym.identity[2]:
        return None
    matrix = np.asarray(matrix)
    block, size, _ = sym.identity
    vector = sym.shape[-1] == size if sym is a else sym.shape in ((size,), (size, 1))
    if matrix.ndim != 2 or matrix.dtype.kind not in "fiub" or not vector:
        return None
    const = np.matmul(sym.const, matrix) if sym is a else np.matmul(matrix, sym.const)
    if matrix.dtype != np.float64 or _has_negative_zero(matrix):
        matrix = matrix + 0.0       # float64, and -0.0 -> 0.0 as in the product; else shared
    if sym is a:        # (.., 1, n) @ (n, k): variable i reads row i of the matrix
        coefs = matrix.reshape((size,) + sym.shape[:-1] + matrix.shape[1:])
    else:               # (k, n) @ (n, 1, ..): variable i reads column i
        coefs = matrix.T.reshape((size,) + matrix.shape[:1] + sym.shape[1:])
    return Affine(np.asarray(const), {block: coefs})


def _has_negative_zero(matrix: np.ndarray, chunk: int = 1 << 20) -> bool:
    """Whether a float matrix holds -0.0; scanned in chunks (no full-size temporary)."""
    flat = matrix.ravel(order="K")
    for start in range(0, flat.size, chunk):
        part = flat[start:start + chunk]
        if np.signbit(part[part == 0]).any():
            return True
    return False


def op_gemm(node, args, ctx):
    a, b = args[0], args[1]
    c = args[2] if len(args) > 2 and args[2] is not None else None
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    for flag in ("transA", "transB"):
        if node.attrs.get(flag, 0) not in (0, 1) or isinstance(node.attrs.get(flag, 0), float):
            raise _fail(node, ctx, f"attribute {flag} is {node.attrs[flag]!r}; it must be 0 or 1")
    if node.attrs.get("transA", 0):
        a = _linear(a, lambda t: t.T)
    if node.attrs.get("transB", 0):
        b = _linear(b, lambda t: t.T)
    product = op_matmul(node, [a, b], ctx)
    if alpha != 1.0:
        product = _scale(product, ctx.number(alpha))
    if c is None:
        return product
    c = _const(node, ctx, c, "Gemm's C") if not _is_sym(c) else c
    if _is_sym(c):
        return _add(product, _scale(c, ctx.number(beta)))
    return _add(product, c * ctx.number(beta) if beta != 1.0 else c)


def op_add(node, args, ctx):
    return _add(args[0], args[1])


def op_sub(node, args, ctx):
    return _add(args[0], _scale(args[1], -1))


def op_neg(node, args, ctx):
    return _scale(args[0], -1)


def op_mul(node, args, ctx):
    a, b = args
    if _is_sym(a) and _is_sym(b):
        raise _fail(node, ctx, "Mul of two network-dependent tensors is not piecewise linear")
    if _is_sym(b):
        a, b = b, a
    if _is_sym(a):
        shape = np.broadcast_shapes(a.shape, np.shape(b))
        return a.broadcast_to(shape).map(lambda t: t * b, batched=lambda c: c * b)
    return a * b


def op_div(node, args, ctx):
    a, b = args
    b = _const(node, ctx, b, "the divisor")
    if np.any(np.asarray(b == 0)):
        raise _fail(node, ctx, "division by zero")
    if _is_sym(a):
        shape = np.broadcast_shapes(a.shape, np.shape(b))
        return a.broadcast_to(shape).map(lambda t: t / b, batched=lambda c: c / b)
    return a / b


def op_batchnorm(node, args, ctx):
    x, scale, bias, mean, var = args[:5]
    for v, what in ((scale, "scale"), (bias, "bias"), (mean, "mean"), (var, "var")):
        _const(node, ctx, v, f"BatchNormalization's {what}")
    if node.attrs.get("training_mode", 0):
        raise _fail(node, ctx, "BatchNormalization in training mode is not supported")
    if node.attrs.get("spatial", 1) == 0:  # opsets < 9: statistics per activation, not per channel
        raise _fail(node, ctx, "BatchNormalization with spatial=0 is not supported")
    eps = node.attrs.get("epsilon", ONNX_NORM_EPSILON)
    if np.any(np.asarray(var, dtype=np.float64) + eps <= 0):
        raise _fail(node, ctx, "BatchNormalization's variance plus epsilon must be positive")
    # inference: y = scale * (x - mean) / sqrt(var + eps) + bias; the square root is of constants
    denom = np.sqrt(np.asarray(var, dtype=np.float64) + eps)
    if ctx.exact:
        denom = to_exact(denom)
    factor = scale / denom
    shift = bias - mean * factor
    rank = len(x.shape)
    shape = (1, -1) + (1,) * (rank - 2) if rank >= 2 else (-1,)
    factor, shift = factor.reshape(shape), shift.reshape(shape)
    return _linear(x, lambda t: t * factor, shift) if _is_sym(x) else x * factor + shift


def op_affine(node, args, ctx):
    """Canonical fused layer: ``sum_i W_i @ flatten(x_i) + b`` (made by the fuse_affine pass)."""
    total: Value | None = None
    for x, W in zip(args, node.attrs["weights"]):
        W = ctx.constant(W)
        term = _linear(x, lambda t, W=W: W @ t.reshape(-1))
        total = term if total is None else _add(total, term)
    return _add(total, ctx.constant(node.attrs["bias"]))


def op_constant(node, args, ctx):
    return ctx.constant(node.value)


PWL = "pwl"

OPS: dict[str, OpSpec] = {
    "Constant": OpSpec(op_constant, "value tensors"),
    "Identity": OpSpec(op_identity, ""),
    "Dropout": OpSpec(op_dropout, "inference mode only; the mask output unused"),
    "Cast": OpSpec(op_cast, "to float types for network values"),
    "Flatten": OpSpec(op_flatten, ""),
    "Reshape": OpSpec(op_reshape, "constant target shape"),
    "Squeeze": OpSpec(op_squeeze, "constant axes"),
    "Unsqueeze": OpSpec(op_unsqueeze, "constant axes"),
    "Transpose": OpSpec(op_transpose, ""),
    "Shape": OpSpec(sp.op_shape, "a constant: the IR's fixed shape (batch dimensions 1)"),
    "ConstantOfShape": OpSpec(sp.op_constant_of_shape, "constant shape"),
    "Concat": OpSpec(sp.op_concat, "any mix of network and constant tensors"),
    "Slice": OpSpec(sp.op_slice, "constant starts/ends/axes/steps (negative steps too)"),
    "Gather": OpSpec(sp.op_gather, "constant indices"),
    "Split": OpSpec(sp.op_split, "constant split sizes, or equal parts (num_outputs)"),
    "Expand": OpSpec(sp.op_expand, "constant shape"),
    "Pad": OpSpec(sp.op_pad, "constant pads; modes constant, edge, reflect, wrap; negative pads with constant"),
    "MatMul": OpSpec(op_matmul, "one operand constant (either order)"),
    "Gemm": OpSpec(op_gemm, "alpha, beta, transA, transB; B constant"),
    "Conv": OpSpec(sp.op_conv, "1-D/2-D/N-D; constant weights and bias; strides, pads, auto_pad, dilations, group"),
    "ConvTranspose": OpSpec(sp.op_conv_transpose, "constant weights and bias; strides, pads, auto_pad, "
                                                  "dilations, group, output_padding, output_shape"),
    "Add": OpSpec(op_add, "broadcasting; two network branches allowed (residual)"),
    "Sub": OpSpec(op_sub, "broadcasting; two network branches allowed"),
    "Sum": OpSpec(sp.op_sum, "any number of inputs, broadcasting"),
    "Mean": OpSpec(sp.op_mean, "any number of inputs, broadcasting"),
    "Neg": OpSpec(op_neg, ""),
    "Mul": OpSpec(op_mul, "one operand constant"),
    "Div": OpSpec(op_div, "constant non-zero divisor"),
    "BatchNormalization": OpSpec(op_batchnorm, "inference mode (folded into the affine map)"),
    "AveragePool": OpSpec(sp.op_average_pool, "1-D/2-D/N-D; strides, pads, auto_pad, dilations, ceil_mode, "
                                              "count_include_pad"),
    "GlobalAveragePool": OpSpec(sp.op_global_average_pool, ""),
    "ReduceSum": OpSpec(sp.op_reduce_sum, "constant axes (attribute or input), keepdims, noop_with_empty_axes"),
    "ReduceMean": OpSpec(sp.op_reduce_mean, "constant axes (attribute or input), keepdims, noop_with_empty_axes"),
    "Relu": OpSpec(pwl.op_relu, "the unit itself: 1 ReLU", PWL),
    "LeakyRelu": OpSpec(pwl.op_leaky_relu, "alpha z + (1 - alpha) relu(z): 1 ReLU", PWL),
    "PRelu": OpSpec(pwl.op_prelu, "constant slope broadcast to the input: 1 ReLU", PWL),
    "Clip": OpSpec(pwl.op_clip, "constant scalar min/max (ReLU6, Hardtanh): 2 ReLUs, 1 with one bound", PWL),
    "HardSigmoid": OpSpec(pwl.op_hard_sigmoid, "Clip(alpha z + beta, 0, 1): 2 ReLUs", PWL),
    "Abs": OpSpec(pwl.op_abs, "2 relu(z) - z: 1 ReLU", PWL),
    "Max": OpSpec(pwl.op_max, "n inputs, broadcasting: n - 1 ReLUs in a balanced tree", PWL),
    "Min": OpSpec(pwl.op_min, "n inputs, broadcasting: -Max(-z): n - 1 ReLUs", PWL),
    "MaxPool": OpSpec(pwl.op_max_pool, "1-D/2-D/N-D; strides, pads, auto_pad, dilations, ceil_mode; "
                                       "no Indices output, storage_order 0: k - 1 ReLUs per window", PWL),
    "ReduceMax": OpSpec(pwl.op_reduce_max, "constant axes, keepdims: a Max tree per reduced group", PWL),
    "ReduceMin": OpSpec(pwl.op_reduce_min, "constant axes, keepdims: -ReduceMax(-z)", PWL),
    "GlobalMaxPool": OpSpec(pwl.op_global_max_pool, "S - 1 ReLUs per channel (S spatial cells)", PWL),
    "Affine": OpSpec(op_affine, "internal: a fused linear layer"),
}

_WINDOW = {"auto_pad", "dilations", "kernel_shape", "pads", "strides"}
_REDUCE = {"axes", "keepdims", "noop_with_empty_axes"}

ATTRIBUTES: dict[str, set[str]] = {
    "Dropout": {"ratio", "seed", "is_test"}, "Cast": {"to", "saturate", "round_mode"}, "Flatten": {"axis"},
    "Reshape": {"allowzero", "shape"}, "Squeeze": {"axes"}, "Unsqueeze": {"axes"}, "Transpose": {"perm"},
    "Shape": {"start", "end"}, "ConstantOfShape": {"value"}, "Concat": {"axis"}, "Slice": {"starts", "ends", "axes"},
    "Gather": {"axis"}, "Split": {"axis", "split", "num_outputs"}, "Pad": {"mode", "pads", "value", "paddings"},
    "Gemm": {"alpha", "beta", "transA", "transB", "broadcast"},
    "Add": {"broadcast"}, "Sub": {"broadcast"}, "Mul": {"broadcast"}, "Div": {"broadcast"},
    "Conv": _WINDOW | {"group"}, "ConvTranspose": _WINDOW | {"group", "output_padding", "output_shape"},
    "BatchNormalization": {"epsilon", "momentum", "training_mode", "spatial", "is_test"},
    "AveragePool": _WINDOW | {"ceil_mode", "count_include_pad"},
    "MaxPool": _WINDOW | {"ceil_mode", "storage_order"},
    "ReduceSum": _REDUCE, "ReduceMean": _REDUCE, "ReduceMax": _REDUCE, "ReduceMin": _REDUCE,
    "LeakyRelu": {"alpha"}, "Clip": {"min", "max"}, "HardSigmoid": {"alpha", "beta"},
}
"""The attributes each op's handler implements (any op not listed takes none); the frontend
refuses any other attribute rather than ignore it (``consumed_inputs`` of opsets < 6 is inert)."""


def unsupported_attributes(op: str, attrs: dict) -> list[str]:
    """Attributes of an ``op`` node that its handler would not honour.

    >>> unsupported_attributes("Add", {"axis": 1, "broadcast": 1})
    ['axis']
    """
    allowed = ATTRIBUTES.get(op, set()) | {"consumed_inputs"}
    return sorted(a for a in attrs if a not in allowed)
