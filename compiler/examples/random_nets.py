"""Seeded random ReLU networks, as ReluNet and as ONNX, for tests, examples and benchmarks.

Weights follow docs/design.md section 5: N(0, 2/fan_in), biases N(0, 0.09), rounded to float32.

Example:
    >>> net = random_mlp(2, [4, 4], 1, seed=0)
    >>> net.widths
    [4, 4]
    >>> model = to_onnx_model(net)
    >>> [n.op_type for n in model.graph.node][:3]
    ['MatMul', 'Add', 'Relu']
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucompile.ir.network import AffineLayer, ReluNet


def random_mlp(d: int, widths: list[int], m: int = 1, seed: int = 0) -> ReluNet:
    """An MLP d -> widths -> m with float32-representable weights."""
    rng = np.random.default_rng(seed)
    layers, prev = [], d
    for i, w in enumerate(widths):
        W = rng.normal(0.0, np.sqrt(2.0 / prev), (w, prev)).astype(np.float32).astype(np.float64)
        b = rng.normal(0.0, 0.3, w).astype(np.float32).astype(np.float64)
        layers.append(AffineLayer({i: W}, b))
        prev = w
    Wo = rng.normal(0.0, np.sqrt(1.0 / prev), (m, prev)).astype(np.float32).astype(np.float64)
    bo = rng.normal(0.0, 0.3, m).astype(np.float32).astype(np.float64)
    return ReluNet(d, layers, AffineLayer({len(widths): Wo}, bo), (1, d), (1, m))


def to_onnx_model(net: ReluNet, input_name: str = "x", output_name: str = "y") -> onnx.ModelProto:
    """A plain MLP ReluNet as an ONNX model (MatMul, Add, Relu; symbolic batch 'N')."""
    nodes, inits = [], []
    current = input_name
    for i, layer in enumerate(net.layers + [net.output]):
        (src, W), = layer.weights.items()
        if src != i:
            raise ValueError("only plain MLPs (each layer reads the previous one)")
        inits += [numpy_helper.from_array(W.T.astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(layer.bias.astype(np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [current, f"W{i}"], [f"mm{i}"], name=f"matmul{i}"),
                  helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"], name=f"add{i}")]
        current = f"z{i}"
        if i < len(net.layers):
            nodes.append(helper.make_node("Relu", [current], [f"a{i}"], name=f"relu{i}"))
            current = f"a{i}"
    nodes[-1].output[0] = output_name
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", net.d])],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", net.m])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="relucompile")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
