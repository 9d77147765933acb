"""A deep ReluNet (e.g. a pruned one) -> ONNX, with the source model's signature.

Each layer is ``z_l = sum_b v_b W_lb^T + bias_l`` over the blocks it reads (block 0 is the
flattened input, block l the output of ReLU layer l; skip connections from folded units are extra
MatMuls), then Relu.  Computation is in float64 (weights are the nearest float64 of exact
rationals), input and output keep the source's names, shapes and element types.

Example:
    >>> import onnxruntime as ort
    >>> from relucompile.examples.random_nets import random_mlp
    >>> net = random_mlp(2, [4, 4], 1, seed=0)
    >>> model = network_onnx(net)
    >>> sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> X = np.array([[0.25, -0.5]], np.float32)
    >>> bool(np.allclose(sess.run(None, {"input": X})[0], net.forward(X), atol=1e-6))
    True
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucompile.ir.network import ReluNet
from relucompile.ir.values import to_float

OPSET = 17
PREFIX = "relucompile/"


def network_onnx(net: ReluNet, signature: Mapping | None = None, producer_version: str = "0") -> onnx.ModelProto:
    """The network as an ONNX model (``signature``: the source's ``input_name``, ``input_dims``,
    ``input_elem_type``, ``output_*``, as the ONNX frontend records them; defaults otherwise)."""
    signature = signature or {}
    in_name = signature.get("input_name", "input")
    out_name = signature.get("output_name", "output")
    in_type = signature.get("input_elem_type", TensorProto.FLOAT)
    out_type = signature.get("output_elem_type", in_type)
    in_dims = signature.get("input_dims", ["N", net.d])
    out_dims = signature.get("output_dims", ["N", net.m])
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), PREFIX + name))
        return PREFIX + name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [PREFIX + name], name=PREFIX + name, **attrs))
        return PREFIX + name

    x64 = node("Cast", [in_name], "x_float64", to=TensorProto.DOUBLE)
    blocks = [node("Reshape", [x64, const("flat_shape", np.array([-1, net.d], np.int64))], "block0")]
    for l, layer in enumerate(net.layers + [net.output]):
        last = l == len(net.layers)
        tag = "output" if last else f"layer{l + 1}"
        terms = [node("MatMul", [blocks[b], const(f"{tag}_W{b}", to_float(W).reshape(layer.size, -1).T.copy())],
                      f"{tag}_from{b}") for b, W in sorted(layer.weights.items())]
        total = terms[0]
        for i, term in enumerate(terms[1:]):
            total = node("Add", [total, term], f"{tag}_sum{i}")
        z = node("Add", [total, const(f"{tag}_bias", to_float(layer.bias).reshape(layer.size))], f"{tag}_z")
        blocks.append(z if last else node("Relu", [z], f"{tag}_relu"))
    shape = [0 if isinstance(dim, str) or dim is None else int(dim) for dim in out_dims]
    if shape and shape[0] == 0:
        shape[0] = -1
    y = node("Reshape", [blocks[-1], const("out_shape", np.array(shape or [-1], np.int64))], "y_float64")
    nodes.append(helper.make_node("Cast", [y], [out_name], name=PREFIX + "y", to=out_type))
    graph = helper.make_graph(nodes, "relucompile_network", [helper.make_tensor_value_info(in_name, in_type, in_dims)],
                              [helper.make_tensor_value_info(out_name, out_type, out_dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="relucompile", producer_version=producer_version)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
