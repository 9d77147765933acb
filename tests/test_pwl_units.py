"""Piecewise-linear units lowered to ReLUs (compiler/ops/pwl.py, docs/ops.md): each unit's cells
are exactly its pieces (LeakyRelu, PRelu, Clip, Abs, 2-input Max), the ReLU pattern names the
piece, an n-ary Max tree may split a piece (documented), and random ONNX nets mixing LeakyRelu,
Clip, Max and 1-D MaxPool compile *exactly*: Fraction equality with an independent rational
reference at random points, cell vertices and facet points."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

from relucompile.ir.domain import Domain
from relucompile.errors import ModelError
from relucompile.ops.interpreter import run
from relucompile.passes.lowering import exact_net
from exact_tools import cell_vertices, facet_points, random_rational_points
from relucompile.frontends.onnx_frontend import load_onnx
from onnx_builders import dyadic, model, run_ort
from relucompile.api.compile import compile_network, load_network

F = Fraction


def _unit_model(op: str, attrs: dict | None = None, extra: dict | None = None, n_in: int = 1):
    """y = op(x) on a 1-D input (shape [1, 1]); ``extra`` initializers are appended as inputs."""
    extra = extra or {}
    inputs = ["x"] + list(extra)
    node = helper.make_node(op, inputs, ["y"], name="unit", **(attrs or {}))
    return model([node], extra, [("x", [1, 1])], [("y", [1, 1])])


def _cells(shallow) -> list[tuple[F, F]]:
    """(slope, intercept) of every cell of a 1-D, 1-output shallow net, sorted by interior point."""
    order = sorted(range(shallow.num_cells), key=lambda a: shallow.regions.cells[a].interior[0])
    out = []
    for a in order:
        A, c = shallow.exact_affine(a)
        out.append((A[0][0], c[0]))
    return out


@pytest.mark.parametrize("op,attrs,extra,pieces", [
    ("LeakyRelu", {"alpha": 0.125}, {}, [(F(1, 8), F(0)), (F(1), F(0))]),
    ("PRelu", {}, {"slope": np.array([-0.5], np.float32)}, [(F(-1, 2), F(0)), (F(1), F(0))]),
    ("Clip", {}, {"lo": np.array(-1.0, np.float32), "hi": np.array(2.0, np.float32)},
     [(F(0), F(-1)), (F(1), F(0)), (F(0), F(2))]),
    ("Clip", {}, {"lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)},  # ReLU6
     [(F(0), F(0)), (F(1), F(0)), (F(0), F(6))]),
    ("Abs", {}, {}, [(F(-1), F(0)), (F(1), F(0))]),
    ("Max", {}, {"c": np.array([[0.5]], np.float32)}, [(F(0), F(1, 2)), (F(1), F(0))]),
    ("Min", {}, {"c": np.array([[0.5]], np.float32)}, [(F(1), F(0)), (F(0), F(1, 2))]),
    ("HardSigmoid", {"alpha": 0.25, "beta": 0.5}, {}, [(F(0), F(0)), (F(1, 4), F(1, 2)), (F(0), F(1))]),
])
def test_unit_cells_are_exactly_its_pieces(op, attrs, extra, pieces) -> None:
    shallow = compile_network(load_network(_unit_model(op, attrs, extra)), Domain.box([-8.0], [8.0]))
    assert _cells(shallow) == pieces


def test_pattern_names_the_clip_piece() -> None:
    """Clip [lo, hi] = lo + relu(z - lo) - relu(z - hi): pattern (off, off) = lo, (on, off) = z,
    (on, on) = hi; (off, on) is empty."""
    net = load_network(_unit_model("Clip", {}, {"lo": np.array(-1.0, np.float32), "hi": np.array(2.0, np.float32)}))
    assert net.widths == [2]
    patterns = [tuple(bool(v) for v in net.pattern(np.array([[x]]))[0][0]) for x in (-3.0, 0.5, 5.0)]
    assert patterns == [(False, False), (True, False), (True, True)]


def test_pattern_names_the_max_winner_and_ties_go_to_the_first_input() -> None:
    """max(a, b) = a + relu(b - a): on iff b wins strictly."""
    net = load_network(_unit_model("Max", {}, {"c": np.array([[0.5]], np.float32)}))
    on = [bool(net.pattern(np.array([[x]]))[0][0, 0]) for x in (-1.0, 0.5, 1.0)]
    assert on == [True, False, False]  # x < 0.5: the constant (second input) wins; tie: x, the first


def test_nary_max_tree_can_split_a_winning_piece() -> None:
    """max(x, -x, 10) on [-1, 1] is the constant 10, but the tree max(max(x, -x), 10) compares the
    two losers first: the partition has 2 cells (split at x = 0), both with the map 10."""
    x, neg, ten = "x", "negx", "ten"
    nodes = [helper.make_node("Neg", [x], [neg]), helper.make_node("Max", [x, neg, ten], ["y"], name="max3")]
    m = model(nodes, {ten: np.array([[10.0]], np.float32)}, [("x", [1, 1])], [("y", [1, 1])])
    net = load_network(m)
    assert net.widths == [1, 1]  # ceil(log2 3) levels, n - 1 = 2 ReLUs
    shallow = compile_network(net, Domain.box([-1.0], [1.0]))
    assert _cells(shallow) == [(F(0), F(10)), (F(0), F(10))]
    assert shallow.evaluate_exact([F(1, 3)]) == [F(10)]


def test_maxpool_2d_pads_strides_dilations_match_onnxruntime_exactly_in_rationals() -> None:
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3], strides=[2, 1], pads=[1, 1, 0, 1],
                            dilations=[1, 2])
    m = model([node], {}, [("x", [1, 2, 4, 5])], [("y", [1, 2, 2, 3])])
    graph = load_onnx(m)
    exact = exact_net(load_network(m))
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = dyadic(rng, (1, 2, 4, 5), scale=8, bound=16)
        want = run_ort(m, {"x": x})[0].ravel()
        xq = [F(float(v)) for v in x.ravel()]
        got = list(exact.forward(np.array([xq], dtype=object))[0])
        assert got == [F(float(v)) for v in want]
        assert got == [F(v) for v in np.asarray(run(graph, xq, exact=True)).ravel()]


@pytest.mark.parametrize("case,needle", [
    ("clip_min_from_network", "Clip's min must be a constant"),
    ("prelu_bad_slope", "does not broadcast"),
    ("maxpool_indices", "second output"),
    ("maxpool_storage_order", "storage_order=1"),
    ("maxpool_window_in_padding", "larger than the padded input"),
])
def test_unsupported_unit_attributes_are_refused_in_one_line(case: str, needle: str) -> None:
    inits, inputs, outs = {}, [("x", [1, 1, 4])], [("y", [1, 1, 2])]
    if case == "clip_min_from_network":
        nodes = [helper.make_node("Neg", ["x"], ["n"]), helper.make_node("Clip", ["x", "n"], ["y"], name="bad")]
        outs = [("y", [1, 1, 4])]
    elif case == "prelu_bad_slope":
        inits = {"s": np.ones(3, np.float32)}
        nodes = [helper.make_node("PRelu", ["x", "s"], ["y"], name="bad")]
    elif case == "maxpool_indices":
        nodes = [helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2], strides=[2], name="bad"),
                 helper.make_node("Cast", ["i"], ["y"], to=1)]
    elif case == "maxpool_storage_order":
        nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2], strides=[2], storage_order=1, name="bad")]
    else:
        nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[7], name="bad")]
    with pytest.raises(ModelError) as info:
        load_network(model(nodes, inits, inputs, outs))
    message = str(info.value)
    assert needle in message and "\n" not in message and "node '" in message


# ---- property test: random ONNX nets mixing LeakyRelu, Clip, Max and 1-D MaxPool -------------
@st.composite
def pwl_nets(draw):
    """(ONNX model, rational reference function, d): d in 1..2, 1..3 hidden blocks."""
    d = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    kinds = draw(st.lists(st.sampled_from(["leaky", "clip", "max", "maxpool", "relu"]), min_size=1, max_size=3))
    rng = np.random.default_rng(seed)
    nodes, inits, spec = [], {}, []
    cur, width = "x", d
    for i, kind in enumerate(kinds):
        w = int(rng.integers(2, 5))
        W, b = dyadic(rng, (width, w)), dyadic(rng, (w,), scale=8)
        inits[f"W{i}"], inits[f"b{i}"] = W, b
        nodes += [helper.make_node("MatMul", [cur, f"W{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"], [f"z{i}"])]
        z, out = f"z{i}", f"h{i}"
        if kind == "leaky":
            alpha = float(rng.choice([0.0, 0.125, 0.25, -0.5, 2.0]))
            nodes.append(helper.make_node("LeakyRelu", [z], [out], alpha=alpha))
            spec.append((kind, W, b, alpha))
        elif kind == "relu":
            nodes.append(helper.make_node("Relu", [z], [out]))
            spec.append((kind, W, b, None))
        elif kind == "clip":
            lo = float(rng.integers(-4, 1)) / 4
            hi = lo + float(rng.integers(0, 5)) / 4
            inits[f"lo{i}"], inits[f"hi{i}"] = np.array(lo, np.float32), np.array(hi, np.float32)
            nodes.append(helper.make_node("Clip", [z, f"lo{i}", f"hi{i}"], [out]))
            spec.append((kind, W, b, (lo, hi)))
        elif kind == "max":
            W2, b2 = dyadic(rng, (width, w)), dyadic(rng, (w,), scale=8)
            inits[f"V{i}"], inits[f"c{i}"] = W2, b2
            nodes += [helper.make_node("MatMul", [cur, f"V{i}"], [f"n{i}"]),
                      helper.make_node("Add", [f"n{i}", f"c{i}"], [f"y{i}"]),
                      helper.make_node("Max", [z, f"y{i}"], [out])]
            spec.append((kind, W, b, (W2, b2)))
        else:
            k = int(rng.integers(2, 4))
            stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, k))
            w_out = (w + 2 * pad - k) // stride + 1
            if w_out < 1:
                pad, stride, w_out = k - 1, 1, w + k - 1
            inits[f"s{i}"] = np.array([1, 1, w], np.int64)
            inits[f"t{i}"] = np.array([1, w_out], np.int64)
            nodes += [helper.make_node("Reshape", [z, f"s{i}"], [f"r{i}"]),
                      helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[k], strides=[stride], pads=[pad, pad]),
                      helper.make_node("Reshape", [f"p{i}", f"t{i}"], [out])]
            spec.append((kind, W, b, (k, stride, pad)))
            w = w_out
        cur, width = out, w
    Wo, bo = dyadic(rng, (width, 2)), dyadic(rng, (2,), scale=8)
    inits["Wo"], inits["bo"] = Wo, bo
    nodes += [helper.make_node("MatMul", [cur, "Wo"], ["mo"]), helper.make_node("Add", ["mo", "bo"], ["y"])]
    m = model(nodes, inits, [("x", [1, d])], [("y", [1, 2])])
    return m, spec + [("out", Wo, bo, None)], d


def _affine(h: list[F], W: np.ndarray, b: np.ndarray) -> list[F]:
    return [sum((h[r] * F(float(W[r, c])) for r in range(len(h))), F(0)) + F(float(b[c])) for c in range(W.shape[1])]


def reference(spec, x: list[F]) -> list[F]:
    """The net's function in rationals, straight from the definitions of the units."""
    h = list(x)
    for kind, W, b, p in spec:
        z = _affine(h, W, b)
        if kind == "out":
            return z
        if kind == "relu":
            h = [max(v, F(0)) for v in z]
        elif kind == "leaky":
            h = [v if v > 0 else F(p) * v for v in z]
        elif kind == "clip":
            h = [min(max(v, F(p[0])), F(p[1])) for v in z]
        elif kind == "max":
            h = [max(u, v) for u, v in zip(z, _affine(h, *p))]
        else:
            k, s, pad = p
            padded = [None] * pad + z + [None] * pad
            h = [max(v for v in padded[o * s:o * s + k] if v is not None) for o in range((len(padded) - k) // s + 1)]
    raise AssertionError("no output layer")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=pwl_nets(), seed=st.integers(0, 1000))
def test_random_pwl_nets_are_exact_in_rationals(case, seed: int) -> None:
    m, spec, d = case
    domain = Domain.box([-1.0] * d, [1.0] * d)
    net = load_network(m)
    shallow = compile_network(net, domain)
    exact = exact_net(net)
    rng = np.random.default_rng(seed)
    points = random_rational_points(domain, 10, rng)
    for a in range(shallow.num_cells):
        verts = cell_vertices(shallow, a)
        assert verts, f"cell {a} has no vertex"
        points += verts + facet_points(shallow, a, verts)
    for x in points:
        want = reference(spec, x)
        assert list(exact.forward(np.array([x], dtype=object))[0]) == want, x
        assert shallow.evaluate_exact(x) == want, x
    X = np.array([[float(v) for v in x] for x in points[:10]], dtype=np.float32)
    got = shallow.evaluate(X.astype(np.float64))
    for row, x32 in zip(got, X):   # against the reference at the float32 point actually evaluated
        assert np.allclose(row, [float(v) for v in reference(spec, [F(float(v)) for v in x32])], atol=1e-9)
    ort_out = np.concatenate([run_ort(m, {"x": xr[None]})[0] for xr in X])
    assert np.allclose(got, ort_out, atol=1e-5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=pwl_nets(), seed=st.integers(0, 1000))
def test_random_pwl_nets_are_exact_on_all_of_rd(case, seed: int) -> None:
    """The default domain: unbounded cells, points far from the origin."""
    m, spec, d = case
    shallow = compile_network(load_network(m), Domain.reals(d))
    rng = np.random.default_rng(seed)
    points = [[F(int(v), 16) for v in rng.integers(-800, 801, d)] for _ in range(15)]
    for a in range(shallow.num_cells):
        points += cell_vertices(shallow, a)
    for x in points:
        assert shallow.evaluate_exact(x) == reference(spec, x), x
