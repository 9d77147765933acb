"""The op table: ONNX node-test conformance of every supported op (interpreter and lowered
net), docs/ops.md generated from the table, ``relucompile ops``, exact (Fraction) lowering of the
linear ops (Conv, ConvTranspose, BatchNormalization, pools, Pad, Concat, Slice, Gather, ...)
against onnxruntime, and one-line refusals of unsupported attribute combinations."""
from __future__ import annotations

import os
import re
from fractions import Fraction

import numpy as np
import pytest
from onnx import helper

from relucompile.cli.main import main
from relucompile.cli.ops import ops_markdown, supported_ops
from relucompile.frontends.conformance import conformance_results
from relucompile.errors import ModelError
from relucompile.ops.interpreter import run
from relucompile.ops.table import OPS
from relucompile.passes.lowering import exact_net
from relucompile.frontends.onnx_frontend import load_onnx
from onnx_builders import dyadic, model, run_ort
from relucompile.api.compile import load_network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the least number of ONNX node cases each op must pass (the counts measured with onnx 1.23)
LEAST_PASSED = {"Abs": 1, "Add": 2, "AveragePool": 20, "BatchNormalization": 2, "Clip": 9, "Concat": 12, "Conv": 6,
                "ConvTranspose": 11, "Div": 3, "Expand": 2, "Flatten": 9, "Gather": 4, "Gemm": 11,
                "GlobalAveragePool": 2, "GlobalMaxPool": 2, "HardSigmoid": 3, "LeakyRelu": 3, "MatMul": 7, "Max": 6,
                "MaxPool": 16, "Mean": 3, "Min": 6, "Mul": 3, "Neg": 2, "PRelu": 2, "Pad": 3, "Relu": 1,
                "ReduceMax": 8, "ReduceMean": 8, "ReduceMin": 8, "ReduceSum": 10, "Reshape": 9, "Slice": 7, "Split": 14, "Squeeze": 2, "Sub": 3, "Sum": 3, "Transpose": 7, "Unsqueeze": 7}


@pytest.fixture(scope="module")
def conformance():
    return conformance_results()


def _counts(results) -> dict[str, dict[str, int]]:
    return {op: {k: sum(1 for r in rows if r[1] == k) for k in ("pass", "fail", "refused", "skip")}
            for op, rows in sorted(results.items())}


def test_onnx_node_tests_pass_for_every_supported_op(conformance) -> None:
    failures = [f"{name}: {detail}" for rows in conformance.values() for name, outcome, detail in rows if outcome == "fail"]
    assert not failures, failures
    counts = _counts(conformance)
    print("\nONNX node tests passed per op: " + ", ".join(f"{op} {c['pass']}" for op, c in counts.items()))
    short = {op: counts.get(op, {}).get("pass", 0) for op, least in LEAST_PASSED.items()
             if counts.get(op, {}).get("pass", 0) < least}
    assert not short, short


def test_refused_node_tests_say_why_in_one_line(conformance) -> None:
    refused = [(name, detail) for rows in conformance.values() for name, outcome, detail in rows if outcome == "refused"]
    assert refused  # training-mode Dropout at least
    for name, detail in refused:
        assert "\n" not in detail and re.search(r"node '[^']*' \(\w+\)", detail), (name, detail)


def test_docs_table_is_generated_from_the_handler_table(conformance) -> None:
    with open(os.path.join(ROOT, "docs", "ops.md")) as f:
        doc = f.read()
    table = ops_markdown(counts=_counts(conformance))
    assert table in doc, "docs/ops.md is stale: regenerate with `relucompile ops --markdown --conformance`"


def test_relucompile_ops_lists_every_op_with_its_limits(capsys) -> None:
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    for op in supported_ops():
        assert re.search(rf"^{op}\s+(linear|PWL)", out, re.M), op
    assert "Affine" not in out.split("refused")[0] and "Sigmoid" in out
    assert main(["ops", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md.count("\n") == len(supported_ops()) + 2 and "| MaxPool | PWL |" in md
    assert set(supported_ops()) == set(OPS) - {"Affine"}


def _exact_check(m, shape, seed: int = 0, n: int = 3) -> None:
    """Lowered exact net == exact interpreter (Fractions) at dyadic points; both == onnxruntime."""
    graph = load_onnx(m)
    net = load_network(m)
    exact = exact_net(net)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = dyadic(rng, shape, scale=8, bound=8)
        xq = [Fraction(float(v)) for v in x.ravel()]
        deep = [Fraction(v) for v in np.asarray(run(graph, xq, exact=True)).ravel()]
        assert list(exact.forward(np.array([xq], dtype=object))[0]) == deep
        want = np.concatenate([o.ravel() for o in run_ort(m, {"x": x})])
        assert np.allclose([float(v) for v in deep], want, rtol=1e-5, atol=1e-5)
        assert np.allclose(net.forward(x.reshape(1, -1).astype(np.float64))[0], want, rtol=1e-5, atol=1e-5)


def test_convolutional_residual_net_is_lowered_exactly() -> None:
    """Conv (pads, strides, dilations, groups) -> BatchNorm -> PRelu -> AveragePool -> residual Add
    with a ConvTranspose branch -> Pad -> Concat with a Slice -> Gather -> Transpose -> GlobalAveragePool."""
    rng = np.random.default_rng(3)
    inits = {"W": dyadic(rng, (4, 1, 3, 3)), "B": dyadic(rng, (4,), 8), "scale": dyadic(rng, (4,)) + 2,
             "bias": dyadic(rng, (4,)), "mean": dyadic(rng, (4,)), "var": np.full(4, 0.75, np.float32),
             "slope": dyadic(rng, (4, 1, 1)), "WT": dyadic(rng, (4, 2, 2, 2)),
             "starts": np.array([1]), "ends": np.array([3]), "axes": np.array([1]),
             "idx": np.array([3, 0, 2]), "pads": np.array([0, 0, 1, 0, 0, 0, 0, 1]), "pv": np.array(0.5, np.float32)}
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 2, 1, 0], strides=[1, 2], dilations=[1, 1], group=1),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"], epsilon=0.25),
        helper.make_node("PRelu", ["bn", "slope"], ["p"]),
        helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], pads=[1, 1, 0, 0], count_include_pad=0),
        helper.make_node("ConvTranspose", ["a", "WT"], ["t"], strides=[1, 1], pads=[0, 0, 1, 1], group=2),
        helper.make_node("Add", ["a", "t"], ["r"]),
        helper.make_node("Pad", ["r", "pads", "pv"], ["pd"]),
        helper.make_node("Slice", ["pd", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Concat", ["pd", "s"], ["cat"], axis=1),
        helper.make_node("Gather", ["cat", "idx"], ["g"], axis=1),
        helper.make_node("Transpose", ["g"], ["tr"], perm=[0, 1, 3, 2]),
        helper.make_node("GlobalAveragePool", ["tr"], ["gap"]),
        helper.make_node("Max", ["tr", "gap"], ["y"]),
    ]
    m = model(nodes, inits, [("x", [1, 1, 5, 6])], [("y", None)])
    _exact_check(m, (1, 1, 5, 6))


@pytest.mark.parametrize("attrs", [
    dict(group=2, dilations=[2, 1], strides=[1, 2], pads=[2, 1, 0, 1]),
    dict(group=4, auto_pad="SAME_UPPER", strides=[2, 3]),
    dict(group=1, auto_pad="VALID", dilations=[1, 2]),
    dict(group=2, auto_pad="SAME_LOWER", strides=[2, 1]),  # onnxruntime: no dilation with SAME
], ids=["groups-dilations-pads", "depthwise-same-upper", "valid-dilated", "same-lower-strided"])
def test_conv_attribute_combinations_match_onnxruntime(attrs: dict) -> None:
    rng = np.random.default_rng(7)
    group = attrs["group"]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[3, 2], **attrs)]
    inits = {"W": dyadic(rng, (4, 4 // group, 3, 2)), "B": dyadic(rng, (4,), 8)}
    _exact_check(model(nodes, inits, [("x", [1, 4, 6, 7])], [("y", None)]), (1, 4, 6, 7), n=2)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_pad_modes_match_onnxruntime(mode: str) -> None:
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)]
    m = model(nodes, {"pads": np.array([0, 2, 1, 0, 1, 2])}, [("x", [1, 3, 4])], [("y", None)], opset=19)
    _exact_check(m, (1, 3, 4))


def test_one_dimensional_conv_and_pools_with_auto_pad() -> None:
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], auto_pad="SAME_LOWER", strides=[2], group=2),
             helper.make_node("MaxPool", ["c"], ["m"], kernel_shape=[3], auto_pad="SAME_UPPER"),
             helper.make_node("AveragePool", ["m"], ["y"], kernel_shape=[2], strides=[1], pads=[1, 1],
                              count_include_pad=1)]
    m = model(nodes, {"W": dyadic(rng, (4, 1, 3))}, [("x", [1, 2, 7])], [("y", None)])
    _exact_check(m, (1, 2, 7))


def test_exporter_shape_arithmetic_folds_to_constants() -> None:
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (a dynamic flatten, as exporters write it)
    and a ReduceMax / ReduceMean head."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]), helper.make_node("Concat", ["n1", "minus1"], ["shp"], axis=0),
             helper.make_node("Reshape", ["x", "shp"], ["f"]), helper.make_node("Relu", ["f"], ["r"]),
             helper.make_node("ReduceMax", ["x", "ax2"], ["mx"], keepdims=0),
             helper.make_node("ReduceMean", ["r", "ax"], ["mean"], keepdims=1),
             helper.make_node("Sub", ["mx", "mean"], ["y"])]
    m = model(nodes, {"zero": np.array(0), "ax": np.array([0]), "minus1": np.array([-1]), "ax2": np.array([1, 2])},
              [("x", ["N", 2, 3])], [("y", None)], opset=18)
    net = load_network(m)
    assert net.d == 6 and sorted(net.widths) == [1, 1, 3, 6] and net.output_shape == (1, 6)  # max: 6 -> 3 -> 2 -> 1
    _exact_check(m, (1, 2, 3))


def test_split_outputs_feed_later_nodes() -> None:
    """torch.chunk-style Split into two halves, then Max of the halves and a residual Add."""
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
             helper.make_node("Max", ["a", "b"], ["m"]), helper.make_node("Add", ["m", "a"], ["y"])]
    m = model(nodes, {"sizes": np.array([3, 3])}, [("x", [1, 6])], [("y", None)], opset=18)
    assert load_network(m).widths == [3]
    _exact_check(m, (1, 6))


@pytest.mark.parametrize("case,needle", [
    ("conv_weights_from_network", "Conv's weights must be a constant"),
    ("pad_unknown_mode", "mode 'mirror' is not supported"),
    ("average_pool_without_kernel", "kernel_shape is required"),
    ("gather_from_network", "Gather's indices must be a constant"),
    ("floor", "op not supported"),
    ("legacy_broadcast_axis", "attribute axis is not supported"),
])
def test_unsupported_combinations_are_refused_in_one_line(case: str, needle: str) -> None:
    inits = {}
    if case == "conv_weights_from_network":
        nodes = [helper.make_node("Conv", ["x", "x"], ["y"], name="bad")]
    elif case == "pad_unknown_mode":
        inits = {"pads": np.array([0, 0, 1, 0, 0, 1])}
        nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], mode="mirror", name="bad")]
    elif case == "average_pool_without_kernel":
        nodes = [helper.make_node("AveragePool", ["x"], ["y"], name="bad")]
    elif case == "gather_from_network":
        nodes = [helper.make_node("Gather", ["x", "x"], ["y"], name="bad")]
    elif case == "legacy_broadcast_axis":  # opset < 7 broadcasting along an axis: refused, not ignored
        inits = {"c": np.ones(1, np.float32)}
        nodes = [helper.make_node("Add", ["x", "c"], ["y"], broadcast=1, axis=1, name="bad")]
    else:
        nodes = [helper.make_node("Floor", ["x"], ["y"], name="bad")]
    with pytest.raises(ModelError) as info:
        load_network(model(nodes, inits, [("x", [1, 1, 3])], [("y", None)], opset=19))
    message = str(info.value)
    assert needle in message and "\n" not in message and "node 'bad'" in message



def _fractions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    from fractions import Fraction
    return np.array([Fraction(int(v), 5) for v in rng.integers(-9, 9, size=shape).ravel()],
                    dtype=object).reshape(shape)


@pytest.mark.parametrize("sym_shape,const_shape,sym_left", [
    ((1, 4), (4, 3), True), ((4,), (4, 3), True), ((4,), (4,), True), ((2, 1, 4), (4, 5), True),
    ((3, 4), (2, 4, 5), True), ((1, 4), (4, 1), True),
    ((4, 3), (2, 4), False), ((2, 4, 3), (1, 4), False), ((4,), (2, 4), False)])
def test_matmul_batched_coefficients_equal_slice_by_slice(sym_shape, const_shape, sym_left):
    """MatMul maps a symbolic operand's whole coefficient block in one product; it must equal the
    slice-by-slice map exactly (Fractions), for vector, matrix and batched operands on either side."""
    from relucompile.ir.values import Affine
    from relucompile.ops.table import op_matmul
    rng = np.random.default_rng(7)
    sym = Affine.variable(0, int(np.prod(sym_shape)), sym_shape, exact=True)
    sym = sym.map(lambda t: t * _fractions(rng, sym_shape))          # not the identity any more
    const = _fractions(rng, const_shape)
    args = [sym, const] if sym_left else [const, sym]
    got = op_matmul(None, args, None)
    slow = sym.map((lambda t: np.matmul(t, const)) if sym_left else (lambda t: np.matmul(const, t)))
    assert got.shape == slow.shape
    assert (got.coefs[0] == slow.coefs[0]).all()
    assert (np.asarray(got.const) == np.asarray(slow.const)).all()
