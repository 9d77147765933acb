"""Issue case 10: a large-input model on a domain with few free coordinates compiles over those
coordinates only (the fixed inputs enter the lowering as constants, relucompile.ir.embedding),
exactly, with memory proportional to the free dimension; the emitted ONNX model still takes the
model's whole input (NaN off the domain).  A model too large for the machine is refused up front
with exit 2 and the estimate, before any MemoryError."""
from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import helper

from exact_tools import cell_vertices, random_rational_points
from onnx_builders import model
from ort_tools import session
from relucompile import Domain, compile_model, shallow_onnx
from relucompile.errors import ModelError
from relucompile.frontends.load import load_graph, network_from_graph
from relucompile.ops.interpreter import run
from relucompile.passes.lowering import check_lowering_memory

SIDE = 128                       # a 1x1x128x128 image: 16,384 inputs
FREE = [0, 1, SIDE, 5 * SIDE + 40]   # three pixels of the first 32x32 patch, one of another


def conv_net(seed: int = 0) -> onnx.ModelProto:
    """Conv 32x32 stride 32 (2 channels, 32 units) -> Relu -> MatMul 8 -> Relu -> MatMul 2; dyadic weights."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Conv", ["x", "Wc", "bc"], ["c"], strides=[32, 32], kernel_shape=[32, 32]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("MatMul", ["f", "W1"], ["h"]), helper.make_node("Relu", ["h"], ["r2"]),
             helper.make_node("MatMul", ["r2", "W2"], ["y"])]
    inits = {"Wc": rng.integers(-4, 5, (2, 1, 32, 32)) / 64, "bc": np.array([0.25, -0.5]),
             "W1": rng.integers(-4, 5, (32, 8)) / 8, "W2": rng.integers(-4, 5, (8, 2)) / 4}
    return model(nodes, inits, [("x", [1, 1, SIDE, SIDE])], [("y", [1, 2])])


def box_with_free(free: list[int], seed: int = 1) -> Domain:
    """Fixed inputs at multiples of 1/64 (exact), the free ones in [-1, 1]."""
    lower = np.random.default_rng(seed).integers(-1, 2, SIDE * SIDE) / 64
    upper = lower.copy()
    lower[free], upper[free] = -1.0, 1.0
    return Domain.box(lower, upper)


def test_large_input_on_three_free_coordinates_compiles_exactly():
    source, domain = conv_net(), box_with_free(FREE[:3])
    shallow = compile_model(source, domain)
    net = shallow.net
    assert net.d == 3 and net.embedding.free.tolist() == FREE[:3] and net.embedding.d == SIDE * SIDE
    assert shallow.num_cells >= 2
    # exact: the shallow network over t equals the deep graph at x = x0 + U t, in rationals
    graph = net.graph
    x0 = [Fraction(float(v)) for v in net.embedding.x0]

    def deep_exact(t):
        x = list(x0)
        for i, ti in zip(net.embedding.free, t):
            x[i] = ti
        return [Fraction(v) for v in np.asarray(run(graph, x, exact=True)).ravel()]
    points = [v for a in range(shallow.num_cells) for v in cell_vertices(shallow, a)]
    points += random_rational_points(shallow.domain, 10, np.random.default_rng(2))
    assert len(points) >= 10
    for t in points:
        assert shallow.evaluate_exact(t) == deep_exact(t), t
    # the emitted ONNX model takes the whole 1x1x128x128 input and agrees with the source (float32)
    emitted = shallow_onnx(shallow)
    dims = [d.dim_value for d in emitted.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, SIDE, SIDE]
    rng = np.random.default_rng(3)
    T = np.vstack([np.array([[float(v) for v in t] for t in points]), rng.uniform(-1, 1, (20, 3))])
    X = net.embedding.lift(T).astype(np.float32)
    run_source, run_emitted = session(source), session(emitted)
    for x in X:
        image = x.reshape(1, 1, SIDE, SIDE)
        expected = run_source.run(None, {"x": image})[0]
        np.testing.assert_allclose(run_emitted.run(None, {"x": image})[0], expected, rtol=1e-5, atol=1e-5)
    # off the domain: a fixed input moved, a free one beyond its bound, a NaN at a fixed input -> NaN
    for index, value in ((7, X[0, 7] + 0.5), (FREE[0], 3.0), (9, np.nan)):
        bad = X[0].copy()
        bad[index] = value
        assert np.isnan(run_emitted.run(None, {"x": bad.reshape(1, 1, SIDE, SIDE)})[0]).all()


def test_layers_layout_and_equations_use_the_source_input(tmp_path):
    source, domain = conv_net(1), box_with_free(FREE)
    shallow = compile_model(source, domain)
    emitted = shallow_onnx(shallow, layout="layers")
    X = shallow.net.embedding.lift(np.random.default_rng(4).uniform(-1, 1, (5, 4))).astype(np.float32)
    for x in X:
        image = x.reshape(1, 1, SIDE, SIDE)
        np.testing.assert_allclose(session(emitted).run(None, {"x": image})[0],
                                   session(source).run(None, {"x": image})[0], rtol=1e-5, atol=1e-5)
    moved = X[0].copy()
    moved[3] += 1.0
    assert np.isnan(session(emitted).run(None, {"x": moved.reshape(1, 1, SIDE, SIDE)})[0]).all()
    from relucompile.backends.equations import render_equations
    text = render_equations(shallow, "text")
    assert "x681" in text and "16,380 of the model's 16,384 inputs are fixed" in text


def test_cli_compiles_a_large_model_on_a_slice_in_small_memory(tmp_path):
    path, domain_path = tmp_path / "big.onnx", tmp_path / "box.json"
    onnx.save(conv_net(), str(path))
    domain = box_with_free(FREE[:3])
    domain_path.write_text(json.dumps({"lower": domain.lower.tolist(), "upper": domain.upper.tolist()}))
    probe = ("import resource, sys; from relucompile.cli.main import main; code = main(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, str(path), "--domain", str(domain_path), "-o",
                           str(tmp_path / "s.onnx"), "--regions", str(tmp_path / "s.json"), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) < 1_000_000            # KiB: well under 1 GB (dense: > 4 GB)
    regions = json.loads((tmp_path / "s.json").read_text())
    assert regions["model"]["input_dim"] == 3 and regions["input_embedding"]["free_coordinates"] == FREE[:3]
    # the regions file certifies against the model (re-lowered over the same free coordinates)
    done = subprocess.run([sys.executable, "-m", "relucompile", "certify", str(path), str(tmp_path / "s.json"), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "certified" in done.stdout, done.stdout + done.stderr


def wide_conv_net() -> onnx.ModelProto:
    """256x256 input, Conv 4x4 stride 4 with 16 channels: 65,536 ReLU units in the first layer."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "Wc"], ["c"], strides=[4, 4], kernel_shape=[4, 4]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("ReduceSum", ["r"], ["y"], keepdims=0)]
    return model(nodes, {"Wc": rng.integers(-2, 3, (16, 1, 4, 4)) / 4}, [("x", [1, 1, 256, 256])], [("y", [])])


def test_a_model_too_large_for_the_machine_is_refused_up_front(tmp_path):
    graph, _ = load_graph(conv_net())
    with pytest.raises(ModelError, match=r"needs about [\d.,]+ GiB of memory, 0.0 GiB are available"):
        check_lowering_memory(graph, SIDE * SIDE, available=2 ** 20)
    check_lowering_memory(graph, 3, available=2 ** 30)        # over 3 free coordinates: fits in 1 GiB
    path = tmp_path / "wide.onnx"
    onnx.save(wide_conv_net(), str(path))
    done = subprocess.run([sys.executable, "-m", "relucompile", str(path), "--box", "-1", "1", "-o",
                           str(tmp_path / "s.onnx")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "GiB of memory" in done.stderr and "wide.onnx" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.onnx").exists()
    # on 3 free coordinates the 65,536 ReLU units still need dense maps over each other: refused too
    with pytest.raises(ModelError, match="GiB of memory"):
        network_from_graph(load_graph(wide_conv_net())[0], "", Domain.box(*_slice_bounds(256 * 256, [0, 1, 2])))


def _slice_bounds(d: int, free: list[int]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.zeros(d), np.zeros(d)
    lower[free], upper[free] = -1.0, 1.0
    return lower, upper
