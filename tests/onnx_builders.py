"""Small ONNX model builders shared by the op tests (float32 dyadic weights: exact in Fractions)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inits: dict, inputs: list[tuple[str, list]], outputs: list[tuple[str, list]],
          opset: int = 17) -> onnx.ModelProto:
    """A float32 ONNX model from nodes, initializers {name: array} and (name, dims) signatures."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in outputs],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32 if np.asarray(v).dtype.kind == "f" else np.int64), k)
         for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def dyadic(rng: np.random.Generator, shape, scale: int = 4, bound: int = 4) -> np.ndarray:
    """Random multiples of 1/scale in [-bound/scale, bound/scale] (exact in float32)."""
    return (rng.integers(-bound, bound + 1, shape) / scale).astype(np.float32)


def run_ort(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})


def fractions(values) -> list[Fraction]:
    return [v if isinstance(v, Fraction) else Fraction(v) for v in np.asarray(values, dtype=object).ravel()]
