"""ONNX frontend and canonicalising passes: every real model loads and evaluates like
onnxruntime; passes preserve the function exactly; non-PWL ops are refused in one line."""
from __future__ import annotations

import glob
import os
import tempfile
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from relucompile.errors import ModelError, UserError
from relucompile.ops.interpreter import run
from relucompile.passes.lowering import canonicalize, exact_net, lower
from conftest import DATA, data_path
from relucompile.frontends.onnx_frontend import load_onnx

FC_MARABOU = ["fc_2-2-3.onnx", "fc1.onnx", "fc2.onnx", "mnist2x10.onnx", "test_dropout.onnx", "test_sub.onnx",
              "linear2-3_bn1-linear3-1.onnx"]
REFUSED = {"fc_2-2sigmoids-3.onnx": "Sigmoid", "tanh_test.onnx": "Tanh", "softmax-last-layer.onnx": "Softmax",
           "layer-zoo/sigmoid.onnx": "Sigmoid", "layer-zoo/tanh.onnx": "Tanh"}


def _real_models() -> list[str]:
    if not os.path.isdir(DATA):
        return []
    files = sorted(glob.glob(os.path.join(DATA, "acasxu", "*.onnx")))
    files += sorted(glob.glob(os.path.join(DATA, "vnncomp-test", "*.onnx")))
    files += [os.path.join(DATA, "marabou", f) for f in FC_MARABOU]
    return files


def _ort(path_or_model, x: np.ndarray) -> np.ndarray:
    data = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _input_shape(graph) -> tuple[int, ...]:
    return graph.node(graph.inputs[0]).shape


@pytest.mark.parametrize("path", _real_models() or [pytest.param("", marks=pytest.mark.skip("no shared data"))],
                         ids=lambda p: os.path.basename(p))
def test_real_model_matches_onnxruntime(path: str) -> None:
    """IR interpreter, canonical IR and lowered ReluNet agree with onnxruntime (float32 rounding:
    1e-5 relative to the output scale)."""
    graph = load_onnx(path)
    net = lower(graph)
    canon = canonicalize(graph)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.uniform(-1, 1, _input_shape(graph)).astype(np.float32)
        want = _ort(path, x).astype(np.float64)
        scale = 1.0 + np.abs(want).max()
        for got in (run(graph, x), run(canon, x), net.forward(x.reshape(1, -1)).reshape(want.shape)):
            assert np.abs(np.asarray(got, dtype=np.float64).reshape(want.shape) - want).max() <= 1e-5 * scale


@pytest.mark.parametrize("name,op", sorted(REFUSED.items()))
def test_non_piecewise_linear_models_are_refused(name: str, op: str) -> None:
    path = data_path("marabou", name)
    with pytest.raises(ModelError) as info:
        load_onnx(path)
    message = str(info.value)
    assert "\n" not in message and os.path.basename(name) in message and f"({op})" in message
    assert "not piecewise linear" in message


def _model(nodes, inits, in_shape, out_shape, opset=17, inputs_extra=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape), *inputs_extra],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(np.asarray(v, dtype=np.float32 if np.asarray(v).dtype.kind == "f" else np.int64), k)
                               for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _dyadic(rng, shape):
    return (rng.integers(-8, 9, shape) / 8.0).astype(np.float32)


def _graph(model):
    """Load a ModelProto through the frontend (as a file, the way users pass models)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        onnx.save(model, path)
        return load_onnx(path)


PASS_CASES = {
    "gemm_alpha_beta_transB": lambda r: (
        [helper.make_node("Gemm", ["x", "W", "b"], ["g"], alpha=0.5, beta=2.0, transB=1),
         helper.make_node("Relu", ["g"], ["y"])], {"W": _dyadic(r, (3, 2)), "b": _dyadic(r, (3,))}, ["N", 2], ["N", 3]),
    "gemm_transA": lambda r: (
        [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
         helper.make_node("Gemm", ["xt", "W"], ["g"], transA=1), helper.make_node("Relu", ["g"], ["y"])],
        {"W": _dyadic(r, (2, 3))}, [1, 2], [1, 3]),
    "matmul_weight_first": lambda r: (
        [helper.make_node("Reshape", ["x", "s"], ["col"]), helper.make_node("MatMul", ["W", "col"], ["mm"]),
         helper.make_node("Relu", ["mm"], ["r"]), helper.make_node("Flatten", ["r"], ["y"], axis=0)],
        {"W": _dyadic(r, (3, 2)), "s": np.array([2, 1])}, [1, 2], [1, 3]),
    "sub_mul_div_neg_constants": lambda r: (
        [helper.make_node("Sub", ["x", "c"], ["a"]), helper.make_node("Mul", ["a", "k"], ["b"]),
         helper.make_node("Div", ["b", "q"], ["c2"]), helper.make_node("Neg", ["c2"], ["n"]),
         helper.make_node("Relu", ["n"], ["y"])],
        {"c": _dyadic(r, (2,)), "k": _dyadic(r, (2,)), "q": np.array([4.0, 0.5], np.float32)}, [1, 2], [1, 2]),
    "affine_chain_without_relu_tll": lambda r: (
        [helper.make_node("MatMul", ["x", "W1"], ["a"]), helper.make_node("Add", ["a", "b1"], ["b"]),
         helper.make_node("MatMul", ["b", "W2"], ["c"]), helper.make_node("Relu", ["c"], ["d"]),
         helper.make_node("MatMul", ["d", "W3"], ["e"]), helper.make_node("MatMul", ["e", "W4"], ["y"])],
        {"W1": _dyadic(r, (2, 4)), "b1": _dyadic(r, (4,)), "W2": _dyadic(r, (4, 3)), "W3": _dyadic(r, (3, 3)),
         "W4": _dyadic(r, (3, 2))}, ["N", 2], ["N", 2]),
    "constant_subgraph_folded": lambda r: (
        [helper.make_node("Transpose", ["Wt"], ["W"], perm=[1, 0]), helper.make_node("Add", ["W", "W"], ["W2"]),
         helper.make_node("MatMul", ["x", "W2"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
        {"Wt": _dyadic(r, (3, 2))}, ["N", 2], ["N", 3]),
    "identity_dropout_flatten_reshape": lambda r: (
        [helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Dropout", ["i"], ["dr"]),
         helper.make_node("Reshape", ["dr", "s"], ["rs"]), helper.make_node("Flatten", ["rs"], ["f"], axis=1),
         helper.make_node("MatMul", ["f", "W"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
        {"s": np.array([1, 2, 2]), "W": _dyadic(r, (4, 3))}, [1, 4], [1, 3]),
    "residual_branches": lambda r: (
        [helper.make_node("MatMul", ["x", "W1"], ["a"]), helper.make_node("Relu", ["a"], ["h"]),
         helper.make_node("MatMul", ["h", "W2"], ["b"]), helper.make_node("Add", ["b", "x"], ["s"]),
         helper.make_node("Relu", ["s"], ["y"])], {"W1": _dyadic(r, (2, 3)), "W2": _dyadic(r, (3, 2))}, ["N", 2], ["N", 2]),
}


@pytest.mark.parametrize("case", sorted(PASS_CASES))
def test_passes_preserve_the_function_exactly(case: str) -> None:
    """Lowering (Gemm folding, weight-first MatMul, constants, chains, residuals) gives the same
    function as the IR interpreter, in exact rationals, and as onnxruntime in float32."""
    rng = np.random.default_rng(1)
    nodes, inits, in_shape, out_shape = PASS_CASES[case](rng)
    model = _model(nodes, inits, in_shape, out_shape)
    onnx.checker.check_model(model)
    graph = _graph(model)
    net = exact_net(lower(graph))
    canon = canonicalize(graph)
    shape = _input_shape(graph)
    for _ in range(10):
        x = _dyadic(rng, shape)
        xq = [Fraction(float(v)) for v in x.ravel()]
        deep = [Fraction(v) for v in np.asarray(run(graph, xq, exact=True)).ravel()]
        assert list(net.forward(np.array([xq], dtype=object))[0]) == deep
        assert [Fraction(v) for v in np.asarray(run(canon, xq, exact=True)).ravel()] == deep
        want = _ort(model, x).ravel()
        assert np.allclose([float(v) for v in deep], want, atol=1e-6)


def test_unsorted_graph_is_sorted() -> None:
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Relu", ["a"], ["y"]), helper.make_node("MatMul", ["x", "W"], ["a"])]
    graph = _graph(_model(nodes, {"W": _dyadic(rng, (2, 2))}, ["N", 2], ["N", 2]))
    assert [graph.node(n).op for n in graph.topological_order()] == ["Input", "Constant", "MatMul", "Relu"]


def test_initializers_listed_as_inputs_and_old_opset() -> None:
    path = data_path("marabou", "fc1.onnx")  # IR 5, opset 8, initializers in graph.input
    graph = load_onnx(path)
    assert graph.inputs == ["Placeholder:0"]


@pytest.mark.parametrize("bad,needle", [
    ("product", "not piecewise linear"),
    ("unsupported", "op not supported"),
])
def test_unsupported_constructs_name_node_and_op(bad: str, needle: str) -> None:
    if bad == "product":
        nodes = [helper.make_node("Mul", ["x", "x"], ["y"], name="square")]
    else:
        nodes = [helper.make_node("Floor", ["x"], ["y"], name="floor1")]
    with pytest.raises(ModelError) as info:
        lower(_graph(_model(nodes, {}, ["N", 2], ["N", 2])))
    assert needle in str(info.value) and "node '" in str(info.value)


def test_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_onnx(str(tmp_path / "nope.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf at all \x00\xff")
    with pytest.raises(UserError, match="not a readable ONNX model"):
        load_onnx(str(bad))
