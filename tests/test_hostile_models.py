"""Hostile and broken models (issue: never a silently wrong model): non-finite parameters are
refused with one line naming file, node and op (exit 2); an infinite Clip bound means no bound;
graph sorting is linear (a long reverse-ordered graph loads at once)."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from onnx import helper

from onnx_builders import model
from relucompile.api import load_network
from relucompile.errors import ModelError


def gemm_relu(W, b, extra_nodes=(), extra_inits=None, relu=("Relu", {})):
    inits = {"W": W, "b": b, **(extra_inits or {})}
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="gemm", transB=1),
             helper.make_node(relu[0], ["z", *relu[2:]] if len(relu) > 2 else ["z"], ["y"], name="act", **relu[1])]
    return model(list(nodes), inits, [("x", [1, 2])], [("y", [1, 2])])


@pytest.mark.parametrize("case, build, node, op", [
    ("NaN weight", lambda: gemm_relu(np.array([[1.0, np.nan], [0.5, 1.0]]), np.zeros(2)), "gemm", "Gemm"),
    ("inf bias", lambda: gemm_relu(np.eye(2), np.array([0.0, np.inf])), "gemm", "Gemm"),
    ("NaN LeakyRelu alpha", lambda: gemm_relu(np.eye(2), np.zeros(2), relu=("LeakyRelu", {"alpha": float("nan")})),
     "act", "LeakyRelu"),
    ("inf Gemm alpha", lambda: model([helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="gemm", alpha=float("inf"))],
                                     {"W": np.eye(2), "b": np.zeros(2)}, [("x", [1, 2])], [("y", [1, 2])]), "gemm", "Gemm"),
    ("NaN Clip bound", lambda: model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")],
                                     {"lo": np.array(np.nan), "hi": np.array(1.0)}, [("x", [1, 2])], [("y", [1, 2])]),
     "clip", "Clip"),
    ("negative BatchNorm variance", lambda: model(
        [helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["y"], name="bn")],
        {"s": np.ones(2), "bb": np.zeros(2), "m": np.zeros(2), "v": np.array([1.0, -2.0])},
        [("x", [1, 2])], [("y", [1, 2])]), "bn", "BatchNormalization"),
])
def test_non_finite_or_invalid_parameters_are_refused(case, build, node, op, tmp_path):
    with pytest.raises(ModelError) as info:
        load_network(build())
    message = str(info.value)
    assert f"'{node}'" in message and f"({op})" in message, message
    path = tmp_path / "bad.onnx"
    path.write_bytes(build().SerializeToString())
    done = subprocess.run([sys.executable, "-m", "relucompile", str(path), "--box", "-1", "1", "-o",
                           str(tmp_path / "s.onnx")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "bad.onnx" in done.stderr and node in done.stderr and not (tmp_path / "s.onnx").exists()


def test_infinite_clip_bound_is_no_bound():
    m = model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")],
              {"lo": np.array(0.0), "hi": np.array(np.inf)}, [("x", [1, 2])], [("y", [1, 2])])
    net = load_network(m)
    X = np.array([[-1.0, 2.5], [3.0, -0.5]])
    assert net.forward(X).tolist() == [[0.0, 2.5], [3.0, 0.0]]


def test_long_reverse_ordered_graph_loads_in_linear_time():
    n = 4000
    nodes = [helper.make_node("Add", [f"t{i}", "one"], [f"t{i + 1}"], name=f"add{i}") for i in range(n)]
    nodes[-1].output[0] = "y"
    nodes[0].input[0] = "x"
    m = model(list(reversed(nodes)), {"one": np.ones(2)}, [("x", [1, 2])], [("y", [1, 2])])
    start = time.perf_counter()
    net = load_network(m)
    assert time.perf_counter() - start < 20          # 34 s with the quadratic sort
    assert net.forward(np.zeros((1, 2))).tolist() == [[n, n]]


@pytest.mark.parametrize("argv, message", [
    (["--box", "-1e14", "1e14"], "beyond 1e+06"),                  # silently lost cells before (188 of 190)
    (["--box", "0", "1e-300"], "below 1e-09"),
    (["--box", "-1", "1", "--time-limit", "nan"], "--time-limit"),
    (["--box", "-1", "1", "--time-limit", "-5"], "--time-limit"),
])
def test_out_of_range_domains_and_limits_are_refused(tmp_path, argv, message):
    from relucompile.examples import tiny_mlp_path
    done = subprocess.run([sys.executable, "-m", "relucompile", tiny_mlp_path(), *argv, "-o", str(tmp_path / "s.onnx")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.onnx").exists()


def test_polytope_rows_far_from_the_origin_are_refused():
    from relucompile.errors import DomainError
    from relucompile.ir.domain import Domain
    with pytest.raises(DomainError, match="beyond"):
        Domain.polytope([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], [1e14, 1e14, 1.0, 1.0])
    with pytest.raises(DomainError, match="all zeros"):
        Domain.polytope([[0.0, 0.0], [1.0, 0.0]], [1.0, 1.0])
    with pytest.raises(DomainError, match="rows of numbers"):
        Domain.polytope([[1.0, 0.0], [1.0]], [1.0, 1.0])


@pytest.mark.parametrize("case, nodes, inits, out_dims, node, message", [
    ("Flatten axis 99", [helper.make_node("Relu", ["x"], ["r"], name="act"),
                         helper.make_node("Flatten", ["r"], ["y"], name="flat", axis=99)], {}, [1, 2],
     "flat", "axis 99 is outside"),
    ("Unsqueeze axis 10", [helper.make_node("Relu", ["x"], ["r"], name="act"),
                           helper.make_node("Unsqueeze", ["r", "axes"], ["y"], name="unsq")],
     {"axes": np.array([10])}, [1, 1, 2], "unsq", "axis 10 is outside"),
    ("Unsqueeze axis twice", [helper.make_node("Relu", ["x"], ["r"], name="act"),
                              helper.make_node("Unsqueeze", ["r", "axes"], ["y"], name="unsq")],
     {"axes": np.array([0, -4])}, [1, 1, 1, 2], "unsq", "twice"),
    ("Squeeze of a dimension of size 2", [helper.make_node("Relu", ["x"], ["r"], name="act"),
                                          helper.make_node("Squeeze", ["r", "axes"], ["y"], name="sq")],
     {"axes": np.array([1])}, [1], "sq", "size other than 1"),
    ("Gemm transB=1.5", [helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="gemm", transB=1.5),
                         helper.make_node("Relu", ["z"], ["y"], name="act")],
     {"W": np.eye(2), "b": np.zeros(2)}, [1, 2], "gemm", "transB is of type FLOAT"),
])
def test_out_of_range_axes_and_mistyped_attributes_are_refused(case, nodes, inits, out_dims, node, message, tmp_path):
    """Issue case 11: invalid graphs were accepted (Flatten axis 99 read as a reshape, transB=1.5 as true)."""
    bad = model(nodes, inits, [("x", [1, 2])], [("y", out_dims)])
    with pytest.raises(ModelError, match=message) as info:
        load_network(bad)
    assert f"'{node}'" in str(info.value)
    path = tmp_path / "bad.onnx"
    path.write_bytes(bad.SerializeToString())
    done = subprocess.run([sys.executable, "-m", "relucompile", str(path), "--box", "-1", "1", "-o",
                           str(tmp_path / "s.onnx")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert node in done.stderr and not (tmp_path / "s.onnx").exists()


@pytest.mark.parametrize("declared", ["no shape", "no type"])
def test_output_without_declared_shape_keeps_its_shape(declared):
    """Issue case 11: an output with no declared shape became a scalar in the shallow model (so
    onnxruntime failed on it); its shape now comes from the lowering, batch dimension in front."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from ort_tools import session
    from relucompile import Domain, compile_model, shallow_onnx
    W = numpy_helper.from_array(np.array([[1, 2, 3], [0.5, -1, 1]], np.float32), "W")
    out = (helper.make_tensor_value_info("y", TensorProto.FLOAT, None) if declared == "no shape"
           else helper.make_value_info("y", onnx.TypeProto()))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Relu", ["z"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])], [out], [W])
    source = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    source.ir_version = 8
    shallow = shallow_onnx(compile_model(source, Domain.box([-1, -1], [1, 1])))
    dims = shallow.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3]
    x = np.array([[0.5, 0.25], [0.125, -0.375], [-1.0, 1.0]], np.float32)
    expected = np.maximum(x.astype(np.float64) @ np.array([[1, 2, 3], [0.5, -1, 1]]), 0)
    assert session(shallow).run(None, {"x": x})[0].tolist() == expected.tolist()
