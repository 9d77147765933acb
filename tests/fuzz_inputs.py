"""Seeded generators of broken and hostile inputs for the command line (tests/test_fuzz.py).

Each generator takes a ``random.Random`` and returns the files of one variant: a corrupted ONNX
model (structural mutations of small valid models, and raw byte damage), a malformed domain JSON,
or a malformed VNN-LIB property.  Everything is deterministic given the seed.
"""
from __future__ import annotations

import copy
import json
import random

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucompile.examples.random_nets import random_mlp, to_onnx_model


def base_models() -> list[onnx.ModelProto]:
    """Small valid models the mutations start from (MLP, conv + pool, residual, clip/leaky)."""
    mlp = to_onnx_model(random_mlp(2, [4, 4], 2, seed=1))
    rng = np.random.default_rng(0)
    conv = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
         helper.make_node("Gemm", ["f", "G", "g"], ["y"], name="gemm", transB=1)],
        "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(rng.normal(size=(2, 1, 3, 3)).astype(np.float32), "W"),
         numpy_helper.from_array(np.zeros(2, np.float32), "B"),
         numpy_helper.from_array(rng.normal(size=(2, 2)).astype(np.float32), "G"),
         numpy_helper.from_array(np.zeros(2, np.float32), "g")]), opset_imports=[helper.make_opsetid("", 17)])
    residual = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
         helper.make_node("LeakyRelu", ["h"], ["a"], name="leaky", alpha=0.1),
         helper.make_node("Add", ["a", "x"], ["s"], name="skip"),
         helper.make_node("Clip", ["s", "lo", "hi"], ["y"], name="clip")],
        "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(np.array([[1.0, -0.5], [0.25, 1.0]], np.float32), "W"),
         numpy_helper.from_array(np.array(-1.0, np.float32), "lo"),
         numpy_helper.from_array(np.array(1.0, np.float32), "hi")]), opset_imports=[helper.make_opsetid("", 17)])
    for m in (conv, residual):
        m.ir_version = 8
    return [mlp, conv, residual]


OPS = ["Relu", "Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "Conv", "MaxPool", "Flatten", "Reshape", "Concat",
       "Transpose", "Slice", "Gather", "Squeeze", "Unsqueeze", "Clip", "LeakyRelu", "Max", "Abs", "ReduceSum",
       "Sigmoid", "Tanh", "Softmax", "Exp", "Loop", "If", "NoSuchOp", "BatchNormalization", "Pad", "Split"]
BAD_VALUES = [99, -99, 1.5, "text", b"\xff\xfe", [], [0], [99, 99], [-1] * 9, float("nan"), float("inf"), 1e308,
              -2 ** 62, "\u202e\u0000", "a" * 250]


def _set_attribute(node: onnx.NodeProto, name: str, value) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    try:
        node.attribute.append(helper.make_attribute(name, value))
    except Exception:
        node.attribute.append(helper.make_attribute(name, str(value)))


def mutate_model(rng: random.Random, model: onnx.ModelProto) -> bytes:
    """One structural mutation (sometimes two) of ``model``, serialised; or raw byte damage."""
    m = copy.deepcopy(model)
    g = m.graph
    for _ in range(rng.choice([1, 1, 2])):
        kind = rng.randrange(17)
        node = rng.choice(g.node) if g.node else None
        if kind == 0 and node is not None:
            node.op_type = rng.choice(OPS)
        elif kind == 1 and node is not None:
            node.input.append(rng.choice(["x", "missing", "", node.output[0]]))
        elif kind == 2 and node is not None and node.input:
            del node.input[rng.randrange(len(node.input))]
        elif kind == 3 and node is not None:
            _set_attribute(node, rng.choice(["axis", "alpha", "transB", "kernel_shape", "pads", "strides", "perm",
                                             "axes", "min", "epsilon", "keepdims", "group"]), rng.choice(BAD_VALUES))
        elif kind == 4 and g.initializer:
            t = rng.choice(g.initializer)
            t.dims[:] = [rng.choice([0, 1, 3, 7, 2 ** 20]) for _ in range(rng.randrange(0, 4))]
        elif kind == 5 and g.initializer:
            t = rng.choice(g.initializer)
            t.data_type = rng.choice([TensorProto.INT64, TensorProto.STRING, TensorProto.BOOL, TensorProto.DOUBLE,
                                      TensorProto.FLOAT16, 0, 999])
        elif kind == 6 and g.input:
            dims = g.input[0].type.tensor_type.shape.dim
            if dims:
                dims[rng.randrange(len(dims))].dim_value = rng.choice([0, 3, 4, 40, 10 ** 7])
        elif kind == 7 and g.output:
            g.output[0].name = rng.choice(["", "nowhere", g.input[0].name if g.input else "x", "y" * 300])
        elif kind == 8 and node is not None:
            node.output[0] = rng.choice(["x", "", node.input[0] if node.input else "z", "dup"])
        elif kind == 9:
            g.node.reverse()
            if g.node and rng.random() < 0.5:
                g.node.append(copy.deepcopy(g.node[0]))
        elif kind == 10:
            m.opset_import[0].version = rng.choice([0, 1, 6, 99, -3])
        elif kind == 11:
            del g.input[:]
        elif kind == 12 and g.initializer:
            t = rng.choice(g.initializer)
            try:
                arr = numpy_helper.to_array(t).astype(np.float32)
            except Exception:      # an earlier mutation already broke this tensor
                continue
            if arr.size:
                arr.reshape(-1)[rng.randrange(arr.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e30, 1e-40])
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
        elif kind == 13 and g.input:
            g.input[0].type.tensor_type.elem_type = rng.choice([TensorProto.INT32, TensorProto.STRING, 0, 99])
        elif kind == 15 and g.initializer:
            # one unit scaled by 1e8 (weights and bias): GLPK cycled on such a model for ever
            t = rng.choice(g.initializer)
            try:
                arr = numpy_helper.to_array(t).astype(np.float32)
            except Exception:
                continue
            if arr.ndim == 2 and arr.size:
                arr[:, rng.randrange(arr.shape[1])] *= np.float32(rng.choice([1e8, -1e8, 1e-8]))
            elif arr.size:
                arr.reshape(-1)[rng.randrange(arr.size)] *= np.float32(1e8)
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
        elif kind == 14 and node is not None:
            node.domain = rng.choice(["com.microsoft", "ai.onnx.ml", "evil"])
        else:
            del g.output[:]
    data = m.SerializeToString()
    if rng.random() < 0.15:   # raw damage: truncation or flipped bytes
        b = bytearray(data)
        if rng.random() < 0.5:
            b = b[:rng.randrange(len(b))]
        else:
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        data = bytes(b)
    return data


def mutate_domain(rng: random.Random, d: int) -> str:
    """A malformed (or barely valid) domain JSON for a model with ``d`` inputs."""
    choices = [
        lambda: {"lower": [0] * d, "upper": [1] * (d + 1)},
        lambda: {"lower": [[0, 1]] * d, "upper": [1] * d},
        lambda: {"lower": ["a"] * d, "upper": [1] * d},
        lambda: {"lower": [1] * d, "upper": [0] * d},
        lambda: {"lower": [0] * d},
        lambda: {"G": [[1] * d, [1]], "g": [1, 1]},
        lambda: {"G": [[1] * d], "g": ["x"]},
        lambda: {"G": [[0] * d], "g": [-1]},
        lambda: {"G": [], "g": []},
        lambda: [0, 1],
        lambda: "box",
        lambda: {"lower": [rng.choice([1e308, -1e308, 1e-300, 0])] * d, "upper": [1e308] * d},
        lambda: {"lower": [0] * d, "upper": [1e-300] * d},
        lambda: {"lower": [None] * d, "upper": [True] * d},
    ]
    spec = rng.choice(choices)()
    text = json.dumps(spec)
    r = rng.random()
    if r < 0.1:
        text = "[" * 100_000 + "]" * 100_000          # deep nesting
    elif r < 0.2:
        text = '{"lower": [' + "9" * 5000 + '], "upper": [1]}'   # a 5000-digit number
    elif r < 0.3:
        text = text[:rng.randrange(max(len(text), 1))]
    elif r < 0.35:
        text = '{"lower": [NaN, 0], "upper": [Infinity, 1]}'
    return text


def mutate_vnnlib(rng: random.Random, d: int, m: int) -> str:
    """A malformed VNN-LIB property for a model with ``d`` inputs and ``m`` outputs."""
    lines = [f"(declare-const X_{i} Real)" for i in range(d)] + [f"(declare-const Y_{j} Real)" for j in range(m)]
    lines += [f"(assert (>= X_{i} -1))" for i in range(d)] + [f"(assert (<= X_{i} 1))" for i in range(d)]
    lines.append("(assert (<= Y_0 Y_1))" if m > 1 else "(assert (<= Y_0 0))")
    text = "\n".join(lines)
    kind = rng.randrange(10)
    if kind == 0:
        text = text[:rng.randrange(len(text))]
    elif kind == 1:
        text = text.replace("X_0", "X_99", 1)
    elif kind == 2:
        text += "\n(assert (or (and (<= Y_0 1)) (and (>= Y_0 " + "(" * 2000 + "1" + ")" * 2000 + "))))"
    elif kind == 3:
        text = text.replace("-1", rng.choice(["1e400", "nan", "-", "1/0", "#x1F", '"one"']), 1)
    elif kind == 4:
        text += "\n(check-sat)(assert (>= X_0 2))"
    elif kind == 5:
        text = text.replace("Real", rng.choice(["Int", "Bool", ""]), 1)
    elif kind == 6:
        text = "\x00\xff" + text
    elif kind == 7:
        text += "\n(assert (<= (* X_0 X_1) 1))"
    elif kind == 8:
        text = text.replace("(assert (<= X_0 1))", "")
    else:
        text += ")" * rng.randrange(1, 5)
    return text
