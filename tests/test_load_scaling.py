"""Loading stays linear (issue 14 point 7): counts, never times.

* node visits (op handler calls plus nodes yielded by topological sorts) grow linearly with the
  number of nodes and with the number of outputs: a pass that re-walks the graph per node or
  per output doubles the ratio;
* the Python-level memory peak of a load (tracemalloc; numpy reports its arrays) is a small
  multiple of the file: no n x n identity per layer, no deep copy of the weights;
* the shortcuts that make this so (identity times a matrix, blocked products of exact sparse
  matrices) give the same float64 weights, bit for bit, as the dense products they replace.
"""
from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from onnx import helper

from benchmarks.load_large import write_mlp, write_tll
from relucompile.api import load_network
from relucompile.ir.graph import Graph
from relucompile.ir.values import to_exact
from relucompile.numeric import sparse_products
from relucompile.ops import table
from relucompile.passes.lowering import exact_net
from onnx_builders import dyadic, model


def _chain(blocks: int, outputs: int = 1):
    """A chain of small-op blocks (MatMul, Add, Split, Relu, Concat, Slice, Gemm), like an
    exported two-level lattice with many small ops; the last ``outputs`` blocks are outputs."""
    rng = np.random.default_rng(0)
    nodes, inits, x = [], {}, "x"
    inits["starts"], inits["ends"], inits["axes"] = np.array([0]), np.array([4]), np.array([1])
    for i in range(blocks):
        inits[f"W{i}"], inits[f"B{i}"] = dyadic(rng, (4, 4)), dyadic(rng, (4,))
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"B{i}"], [f"a{i}"]),
                  helper.make_node("Split", [f"a{i}"], [f"s{i}", f"t{i}"], axis=1, num_outputs=2),
                  helper.make_node("Relu", [f"s{i}"], [f"r{i}"]),
                  helper.make_node("Concat", [f"r{i}", f"t{i}"], [f"c{i}"], axis=1),
                  helper.make_node("Slice", [f"c{i}", "starts", "ends", "axes"], [f"y{i}"])]
        x = f"y{i}"
    names = [f"y{i}" for i in range(blocks - outputs, blocks)]
    return model(nodes, inits, [("x", [1, 4])], [(name, [1, 4]) for name in names], opset=18)


def _visits(monkeypatch, proto) -> int:
    """Op handler calls plus nodes yielded by Graph.topological_order while loading ``proto``."""
    count = [0]

    def counting(handler):
        def run(node, args, ctx):
            count[0] += 1
            return handler(node, args, ctx)
        return run

    for op, spec in list(table.OPS.items()):
        monkeypatch.setitem(table.OPS, op, spec.__class__(counting(spec.handler), spec.limits, spec.kind))
    sort = Graph.topological_order

    def counted_sort(self):
        order = sort(self)
        count[0] += len(order)
        return order

    monkeypatch.setattr(Graph, "topological_order", counted_sort)
    load_network(proto)
    monkeypatch.undo()
    return count[0]


def test_node_visits_grow_linearly_with_the_chain(monkeypatch):
    small, large = _visits(monkeypatch, _chain(40)), _visits(monkeypatch, _chain(80))
    assert small > 40 * 6                   # every node is visited at least once
    assert large <= 2.1 * small, (small, large)     # quadratic: ~4x


def test_node_visits_grow_linearly_with_the_outputs(monkeypatch):
    # each output used to cost a run of the whole graph (the sizes of the concatenated outputs)
    small, large = _visits(monkeypatch, _chain(60, outputs=15)), _visits(monkeypatch, _chain(60, outputs=30))
    assert large <= 1.2 * small, (small, large)


def _traced_peak(path: str) -> int:
    tracemalloc.start()
    try:
        load_network(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["mlp", "tll"])
def test_load_memory_is_a_small_multiple_of_the_file(tmp_path, kind):
    path = str(tmp_path / "model.onnx")
    if kind == "mlp":     # 50-700x3-10: 4 MB of float32; the float64 layers are twice that
        write_mlp(path, [700, 700, 700])
    else:                 # block-diagonal lattice layers: 3.2 MB; its layers are dense and smaller
        write_tll(path, 16)
    size = os.path.getsize(path)
    peak = _traced_peak(path)
    # the file's bytes + their arrays + float64 weights = 4x; an n x n identity per layer or a
    # deep copy of the weights per pass each add 1-2x (before issue 14: 11x for the MLP)
    assert peak <= 5 * size, (peak / size, size)


def _all_weights(net):
    return [(b, W, layer.bias) for layer in net.layers + [net.output] for b, W in layer.weights.items()]


def _bitwise_equal(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and np.array_equal(x, y) and np.array_equal(np.signbit(x), np.signbit(y))


def test_identity_product_gives_the_dense_weights_bit_for_bit(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    weights = rng.standard_normal((6, 5)).astype(np.float32)
    weights[0, :2] = -0.0                            # the dense product turns -0.0 into 0.0
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Relu", ["m"], ["r"]),
             helper.make_node("Gemm", ["r", "V"], ["y"], transB=1)]
    proto = model(nodes, {"W": weights, "V": rng.standard_normal((3, 5))}, [("x", [1, 6])], [("y", [1, 3])])
    fast = load_network(proto)
    monkeypatch.setattr(table, "_identity_product", lambda a, b: None)
    dense = load_network(proto)
    assert all(_bitwise_equal(W, V) and _bitwise_equal(c, e) and W.flags.c_contiguous
               for (_, W, c), (_, V, e) in zip(_all_weights(fast), _all_weights(dense)))


@pytest.mark.slow
def test_blocked_products_of_a_lattice_are_exact(tmp_path, monkeypatch):
    path = str(tmp_path / "tll.onnx")
    write_tll(path, 8)
    monkeypatch.setattr(sparse_products, "MIN_DENSE_FLOPS", 0)      # every product by blocks where exact
    blocked = load_network(path)
    monkeypatch.setattr(sparse_products, "MIN_DENSE_FLOPS", 2 ** 62)
    dense = load_network(path)
    pairs = list(zip(_all_weights(blocked), _all_weights(dense)))
    assert all(_bitwise_equal(W, V) and W.flags.c_contiguous for (_, W, _), (_, V, _) in pairs)
    # and they are the exact rational layers (selector and min/max weights are binary fractions)
    exact = exact_net(blocked)
    for layer, rational in zip(blocked.layers[1:], exact.layers[1:]):
        assert all((to_exact(W) == rational.weights[b]).all() for b, W in layer.weights.items())


def test_blocked_product_refuses_what_it_cannot_do_exactly():
    a = np.kron(np.eye(300), [[0.5, -1.0]])
    b = np.kron(np.eye(300), [[1.0], [2.0]])
    assert _bitwise_equal(sparse_products.exact_sparse_product(a, b, min_flops=0), a @ b)
    assert sparse_products.exact_sparse_product(a * 0.1, b, min_flops=0) is None       # would round
    assert sparse_products.exact_sparse_product(np.ones((300, 600)), b, min_flops=0) is None   # dense
    assert sparse_products.exact_sparse_product(a, b) is None         # small: BLAS is as fast
