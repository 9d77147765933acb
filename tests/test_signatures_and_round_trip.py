"""Issue 18, cases 2, 4 and 5: fixed batch axes, several inputs and outputs, and reading a shallow
ONNX model relucompile wrote (its embedded source network)."""
from __future__ import annotations

import os
import re
import time
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx_builders import dyadic, model, run_ort
from relucompile import Domain, compile_model, load_network, shallow_onnx
from relucompile.errors import ModelError
from relucompile.examples import tiny_mlp_path
from relucompile.passes.lowering import exact_net


def _batched_mlp(rows: int, mix_rows: str = "") -> onnx.ModelProto:
    """x[rows, 2] -> Gemm -> Relu -> Gemm -> y[rows, 2]; ``mix_rows``: "matmul" multiplies by a
    rows x rows matrix (no one-row reading), "mean" adds the rows' mean (reads with one row)."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["z1"]), helper.make_node("Relu", ["z1"], ["h1"])]
    inits = {"w1": dyadic(rng, (2, 5)), "b1": dyadic(rng, (5,)), "w2": dyadic(rng, (5, 2)), "b2": dyadic(rng, (2,))}
    last = "h1"
    if mix_rows == "matmul":   # every row receives the sum of all rows
        inits["mix"] = np.ones((rows, rows), np.float32)
        nodes.append(helper.make_node("MatMul", ["mix", "h1"], ["mixed"]))
        last = "mixed"
    elif mix_rows == "mean":
        nodes += [helper.make_node("ReduceMean", ["h1"], ["mean"], axes=[0], keepdims=1),
                  helper.make_node("Add", ["h1", "mean"], ["mixed"])]
        last = "mixed"
    nodes.append(helper.make_node("Gemm", [last, "w2", "b2"], ["y"]))
    return model(nodes, inits, [("x", [rows, 2])], [("y", [rows, 2])])


def _ort(proto: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return run_ort(proto, feeds)


def test_a_fixed_batch_acting_row_by_row_compiles_one_sample() -> None:
    source = _batched_mlp(4)
    start = time.perf_counter()
    net = load_network(source)
    assert net.d == 2 and net.m == 2 and net.signature.batch_rows == 4
    shallow = compile_model(source, Domain.box([-1, -1], [1, 1]))
    emitted = shallow_onnx(shallow)
    assert time.perf_counter() - start < 2.0 * 5     # generous on a loaded machine; seconds in practice
    dims = [d.dim_value for d in emitted.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 2]
    X = np.random.default_rng(0).uniform(-1, 1, (4, 2)).astype(np.float32)
    want, got = _ort(source, {"x": X})[0], _ort(emitted, {"x": X})[0]
    assert got.shape == (4, 2) and np.abs(got - want).max() <= 1e-5
    # each row's value is the one-sample network's, exactly (dyadic weights and inputs)
    row = Fraction(1, 4), Fraction(-3, 8)
    exact = exact_net(net).forward(np.array([list(row)], dtype=object))[0]
    assert shallow.evaluate_exact(list(row)) == list(exact)


@pytest.mark.parametrize("mix,why", [("matmul", "fails on one row"), ("mean", "mixes rows")])
def test_a_fixed_batch_that_mixes_rows_is_refused_fast_with_what_to_do(mix, why) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelError) as info:
        load_network(_batched_mlp(4, mix_rows=mix))
    assert time.perf_counter() - start < 2.0 * 5     # refused before any lowering; slack for a loaded machine
    message = str(info.value)
    assert "leading dimension of 4" in message and why in message and "batch size 1" in message
    assert "\n" not in message


def test_a_fixed_batch_refusal_is_exit_2_on_the_command_line(tmp_path, capsys) -> None:
    from relucompile.cli.main import main
    path = tmp_path / "mix.onnx"
    onnx.save(_batched_mlp(4, mix_rows="mean"), str(path))
    assert main([str(path), "--box", "-1", "1", "-o", str(tmp_path / "s.onnx")]) == 2
    assert "batch size 1" in capsys.readouterr().err


def _two_in_two_out() -> onnx.ModelProto:
    """a[1,2], b[1,3] -> relu(a W + b V + c) -> p[1,2] (affine), q[1,1,3] (relu of b)."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("MatMul", ["a", "W"], ["aw"]), helper.make_node("MatMul", ["b", "V"], ["bv"]),
             helper.make_node("Add", ["aw", "bv"], ["s"]), helper.make_node("Add", ["s", "c"], ["z"]),
             helper.make_node("Relu", ["z"], ["h"]), helper.make_node("MatMul", ["h", "U"], ["p"]),
             helper.make_node("Relu", ["b"], ["rb"]), helper.make_node("Reshape", ["rb", "shape3"], ["q"])]
    inits = {"W": dyadic(rng, (2, 4)), "V": dyadic(rng, (3, 4)), "c": dyadic(rng, (4,)), "U": dyadic(rng, (4, 2)),
             "shape3": np.array([1, 1, 3], np.int64)}
    return model(nodes, inits, [("a", [1, 2]), ("b", [1, 3])], [("p", [1, 2]), ("q", [1, 1, 3])])


def test_several_inputs_and_outputs_keep_names_shapes_in_the_shallow_model() -> None:
    source = _two_in_two_out()
    shallow = compile_model(source, Domain.box([-1] * 5, [1] * 5))
    emitted = shallow_onnx(shallow)
    shapes = lambda vs: [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]
    assert shapes(emitted.graph.input) == [("a", [1, 2]), ("b", [1, 3])]
    assert shapes(emitted.graph.output) == [("p", [1, 2]), ("q", [1, 1, 3])]
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(100):
        feeds = {"a": rng.uniform(-1, 1, (1, 2)), "b": rng.uniform(-1, 1, (1, 3))}
        want, got = _ort(source, feeds), _ort(emitted, feeds)
        assert [g.shape for g in got] == [(1, 2), (1, 1, 3)]
        worst = max(worst, max(np.abs(g - w).max() for g, w in zip(got, want)))
    assert worst <= 1e-5


def test_several_inputs_with_a_symbolic_batch_axis() -> None:
    source = _two_in_two_out()
    for value_info in list(source.graph.input) + [source.graph.output[0]]:
        value_info.type.tensor_type.shape.dim[0].dim_param = "N"
    source.graph.output[1].type.tensor_type.shape.dim[0].dim_param = "N"
    emitted = shallow_onnx(compile_model(source, Domain.box([-1] * 5, [1] * 5)))
    assert emitted.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    rng = np.random.default_rng(2)
    feeds = {"a": rng.uniform(-1, 1, (1, 2)), "b": rng.uniform(-1, 1, (1, 3))}
    got, want = _ort(emitted, feeds), _ort(source, feeds)
    assert all(np.abs(g - w).max() <= 1e-5 for g, w in zip(got, want))


def test_a_shallow_model_reads_back_as_its_source_network() -> None:
    source = load_network(tiny_mlp_path())
    shallow = compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]))
    emitted = shallow_onnx(shallow)
    again = load_network(emitted)
    assert again.widths == source.widths and again.source_sha256 == source.source_sha256
    assert again.source == "tiny_mlp.onnx"
    for mine, theirs in zip(again.layers + [again.output], source.layers + [source.output]):
        assert all(np.array_equal(mine.weights[b], theirs.weights[b]) for b in theirs.weights)
        assert np.array_equal(mine.bias, theirs.bias)
    # compiling the shallow model gives the same cells and maps; and nesting does not grow the file
    twice = compile_model(emitted, Domain.box([-1, -1], [1, 1]))
    assert twice.num_cells == shallow.num_cells and np.array_equal(twice.A, shallow.A)
    assert len(shallow_onnx(twice).SerializeToString()) == len(emitted.SerializeToString())


def test_a_network_built_from_weights_reads_back_exactly() -> None:
    from relucompile import compile_network
    from relucompile.examples.random_nets import random_mlp
    net = random_mlp(2, [4, 4], 1, seed=0)
    again = load_network(shallow_onnx(compile_network(net, Domain.box([-1, -1], [1, 1]))))
    x = np.array([[Fraction(1, 3), Fraction(-2, 7)]], dtype=object)
    assert exact_net(again).forward(x).tolist() == exact_net(net).forward(x).tolist()


def test_batch_axis_false_reads_the_whole_tensor_and_round_trips() -> None:
    source = _batched_mlp(2, mix_rows="mean")
    shallow = compile_model(source, Domain.box([-1] * 4, [1] * 4), batch_axis=False)
    emitted = shallow_onnx(shallow)
    assert shallow.d == 4 and load_network(emitted).d == 4
    X = np.random.default_rng(4).uniform(-1, 1, (2, 2)).astype(np.float32)
    assert np.abs(_ort(emitted, {"x": X})[0] - _ort(source, {"x": X})[0]).max() <= 1e-5


PROPERTY = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
            "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))(assert (<= X_1 1))(assert (>= Y_0 100))")


def test_every_command_reads_a_shallow_model_and_says_the_same(tmp_path, capsys) -> None:
    """Issue 18 case 5: explain, bounds, verify, compile and certify on shallow.onnx print what they
    print on the source (but the file's name)."""
    from relucompile.cli.main import main
    source, shallow = tiny_mlp_path(), str(tmp_path / "shallow.onnx")
    assert main([source, "--box", "-1", "1", "-o", shallow, "-q"]) == 0
    prop = tmp_path / "p.vnnlib"
    prop.write_text(PROPERTY)
    regions = {m: str(tmp_path / f"r_{i}.json") for i, m in enumerate((source, shallow))}
    commands = [["explain", "{m}", "--at", "0.25,-0.5"], ["bounds", "{m}", "--box", "-1", "1"],
                ["verify", "{m}", str(prop)], ["{m}", "--box", "-1", "1", "-o", "{out}", "--regions", "{regions}"],
                ["certify", "{m}", "{regions}"]]
    for command in commands:
        printed = []
        for m in (source, shallow):
            argv = [a.format(m=m, out=str(tmp_path / "again.onnx"), regions=regions[m]) for a in command]
            code = main(argv)
            out = capsys.readouterr().out
            for name in (os.path.basename(source), os.path.basename(shallow)):   # a shallow file names its source
                out = out.replace(name, "MODEL")
            out = re.sub(r"\d+\.\d+ s\b", "T s", out)
            printed.append((code, out.replace(regions[m], "REGIONS")))
        assert printed[0] == printed[1], command
        assert printed[0][0] == 0, command


def test_verify_a_fixed_batch_model_checks_its_counterexample_per_row(tmp_path) -> None:
    from relucompile import verify_property
    from relucompile.frontends.vnnlib import parse_vnnlib_text
    path = tmp_path / "batch.onnx"
    onnx.save(_batched_mlp(4), str(path))
    text = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
            "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))(assert (<= X_1 1))(assert (>= Y_0 -100))")
    result = verify_property(str(path), parse_vnnlib_text(text))
    assert result.verdict == "violated"
    x = np.asarray(result.x, np.float32)
    rows = _ort(_batched_mlp(4), {"x": np.tile(x, (4, 1))})[0]
    assert np.allclose(rows, rows[0]) and np.allclose(rows[0], np.asarray(result.y), atol=1e-6)
