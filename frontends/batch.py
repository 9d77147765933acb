"""Fixed batch axes: a model whose inputs have a fixed leading dimension B > 1 is compiled as one
sample when it acts row by row, and refused otherwise.

A model exported with batch size 4 (input ``[4, 2]``) would otherwise be read as one sample of 8
inputs: the cells multiply and ``explain`` wants 8 numbers.  The test is structural, on the lowered
maps: read with batch B, every layer's weights must be block-diagonal over the rows with the blocks
of the same model read with batch 1, and the biases B copies of its biases (then every op acts
per row, identically).  Only then is the batch-1 network compiled; the emitted model keeps the
source's ``[B, ...]`` signature and applies the shallow network to each row.

Example:
    >>> import numpy as np
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> w = numpy_helper.from_array(np.array([[1.0, -1.0]], np.float32).T.copy(), "w")
    >>> g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["z"]), helper.make_node("Relu", ["z"], ["y"])],
    ...                       "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 2])],
    ...                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 1])], [w])
    >>> batch_rows(helper.make_model(g))
    4
    >>> [d.dim_value for d in with_batch_one(helper.make_model(g)).graph.input[0].type.tensor_type.shape.dim]
    [1, 2]
"""
from __future__ import annotations

import numpy as np
import onnx

from relucompile.ir.network import ReluNet
from relucompile.numeric.tolerances import ROUNDING_NOISE, TINY


def _leading(value_info: onnx.ValueInfoProto) -> int | None:
    """The fixed leading dimension of a tensor of rank >= 2 (None: symbolic, rank < 2 or no shape)."""
    t = value_info.type.tensor_type
    if not t.HasField("shape") or len(t.shape.dim) < 2:
        return None
    first = t.shape.dim[0]
    return first.dim_value if first.HasField("dim_value") and first.dim_value > 0 else None


def batch_rows(proto: onnx.ModelProto) -> int:
    """B when every network input has the same fixed leading dimension B > 1 (rank >= 2), else 1.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> batch_rows(onnx.load(tiny_mlp_path()))
        1
    """
    inits = {t.name for t in proto.graph.initializer}
    leading = {_leading(i) for i in proto.graph.input if i.name not in inits}
    if len(leading) != 1:
        return 1
    (rows,) = leading
    return rows if rows is not None and rows > 1 else 1


def with_batch_one(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` whose inputs (and outputs with the same leading dimension) have a leading
    dimension of 1; intermediate shape annotations are dropped (they would name the old batch).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> model = onnx.load(tiny_mlp_path())
        >>> with_batch_one(model).graph.input[0] == model.graph.input[0]    # no fixed batch: unchanged
        True
    """
    rows = batch_rows(proto)
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    inits = {t.name for t in copy.graph.initializer}
    for value_info in list(copy.graph.input) + list(copy.graph.output):
        if value_info.name not in inits and _leading(value_info) == rows:
            value_info.type.tensor_type.shape.dim[0].dim_value = 1
    del copy.graph.value_info[:]
    return copy


def _row_major(sizes: list[int], rows: int) -> np.ndarray:
    """Positions in the concatenation [flatten(t_1), ..., flatten(t_k)] of tensors t_i of shape
    (rows, sizes[i]), listed row by row: row r is [t_1[r], ..., t_k[r]]."""
    offsets = np.concatenate([[0], np.cumsum(sizes)]) * rows
    return np.concatenate([np.concatenate([offsets[i] + r * s + np.arange(s) for i, s in enumerate(sizes)])
                           for r in range(rows)]).astype(np.int64)


def row_by_row_mismatch(full: ReluNet, row: ReluNet, rows: int, input_sizes: list[int],
                        output_sizes: list[int]) -> str:
    """'' if ``full`` (the model read with batch ``rows``) applies ``row`` (read with batch 1) to
    each row separately, else the first difference, in words.  Weights must be block-diagonal
    (off-diagonal blocks exactly zero; diagonal blocks equal to ``row``'s up to float64 rounding
    of the lowering's products), biases ``rows`` copies of ``row``'s.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> row_by_row_mismatch(random_mlp(4, [3], 2), random_mlp(2, [3], 1), 3, [2], [1])
        'the model has 4 inputs per batch, not 3 rows of 2'
        >>> row_by_row_mismatch(random_mlp(4, [6], 2), random_mlp(2, [3], 1), 2, [2], [1])
        "ReLU layer 1's bias differs between rows"
    """
    if full.d != rows * row.d:
        return f"the model has {full.d} inputs per batch, not {rows} rows of {row.d}"
    if len(full.layers) != len(row.layers):
        return "the batch and the single row give different numbers of ReLU layers"
    sizes = [input_sizes] + [[layer.size] for layer in row.layers]
    orders = [_row_major(s, rows) for s in sizes]
    for index, (big, small) in enumerate(zip(full.layers + [full.output], row.layers + [row.output])):
        where = "the output" if index == len(row.layers) else f"ReLU layer {index + 1}"
        out_order = _row_major(output_sizes, rows) if index == len(row.layers) else orders[index + 1]
        if big.size != rows * small.size or set(big.weights) != set(small.weights):
            return f"{where} does not repeat per row"
        bias = np.asarray(big.bias, np.float64)[out_order].reshape(rows, small.size)
        if not np.allclose(bias, np.asarray(small.bias, np.float64)[None, :], rtol=ROUNDING_NOISE, atol=0):
            return f"{where}'s bias differs between rows"
        for block, weights in big.weights.items():
            W = np.asarray(weights, np.float64)[np.ix_(out_order, orders[block])]
            w = np.asarray(small.weights[block], np.float64)
            blocks = W.reshape(rows, small.size, rows, w.shape[1])
            for r in range(rows):
                others = np.delete(blocks[r], r, axis=1)
                if np.any(others != 0):
                    return f"{where} mixes rows (row {r + 1} reads other rows)"
                if not np.allclose(blocks[r, :, r, :], w, rtol=ROUNDING_NOISE, atol=TINY):
                    return f"{where} differs between rows"
    return ""


__all__ = ["batch_rows", "with_batch_one", "row_by_row_mismatch"]
