"""The emitted ONNX model: drop-in signature, checker, metadata, compactness, NaN outside the
domain, and agreement with the source model in onnxruntime at 10,000 points."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from relucompile.ir.domain import Domain
from relucompile import compile_model, shallow_onnx
from relucompile.examples.random_nets import random_mlp, to_onnx_model


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("d,widths,m,domain", [
    (2, [16, 16], 1, "box"), (3, [8, 8, 8], 2, "box"),
    pytest.param(4, [10, 10], 3, "box", marks=pytest.mark.slow),   # 4,793 cells: onnxruntime needs ~1 min here
    (2, [8, 8], 2, "reals"), (3, [6, 6], 1, "polytope"),
])
def test_shallow_onnx_matches_source(d, widths, m, domain) -> None:
    """Max abs error <= 1e-5 relative to the output scale at 10,000 float32 points: the source
    runs float32 in onnxruntime, the shallow model float64 internally."""
    net = random_mlp(d, widths, m, seed=d * 100 + len(widths))
    source = to_onnx_model(net)
    rng = np.random.default_rng(3)
    if domain == "box":
        dom = Domain.box([-1.0] * d, [1.0] * d)
        X = rng.uniform(-1, 1, (10_000, d))
    elif domain == "reals":
        dom = None
        X = rng.normal(0, 3, (10_000, d))
    else:  # simplex-like polytope: x_i >= -1, sum x <= 1
        G = np.vstack([-np.eye(d), np.ones((1, d))])
        g = np.concatenate([np.ones(d), [1.0]])
        dom = Domain.polytope(G, g)
        X = rng.uniform(-1, 1, (20_000, d))
        X = X[X.sum(axis=1) <= 1.0][:10_000]
    shallow = compile_model(source, dom)
    model = shallow_onnx(shallow)
    onnx.checker.check_model(model)
    X = X.astype(np.float32)
    want = _session(source).run(None, {"x": X})[0]
    got = _session(model).run(None, {"x": X})[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def test_signature_metadata_and_nan_outside() -> None:
    net = random_mlp(2, [6, 6], 2, seed=5)
    source = to_onnx_model(net, input_name="features", output_name="scores")
    shallow = compile_model(source, Domain.box([-1.0, 0.0], [1.0, 2.0]))
    model = shallow_onnx(shallow)
    assert [i.name for i in model.graph.input] == ["features"] and [o.name for o in model.graph.output] == ["scores"]
    assert model.graph.input[0].type == source.graph.input[0].type
    assert model.graph.output[0].type == source.graph.output[0].type
    meta = {p.key: p.value for p in model.metadata_props}
    assert int(meta["num_cells"]) == shallow.num_cells and int(meta["num_hyperplanes"]) == shallow.num_hyperplanes
    assert json.loads(meta["domain"])["kind"] == "box" and len(json.loads(meta["reference_point"])) == 2
    assert len(meta["source_sha256"]) == 64 and meta["relucompile_version"]
    names = {n.name for n in model.graph.node}
    assert {"relucompile/H1_h", "relucompile/H2_lambda", "relucompile/H2_nu", "relucompile/H3_cell"} <= names
    out = _session(model).run(None, {"features": np.array([[0.5, 2.5], [1.5, 1.0], [0.0, 1.0], [np.nan, 1.0]], np.float32)})[0]
    assert np.all(np.isnan(out[[0, 1, 3]])) and np.all(np.isfinite(out[2]))


def test_model_is_compact() -> None:
    """Size O(|H| d + |R| (k + m d)): no dense |R| x |H| table."""
    net = random_mlp(3, [12, 12], 1, seed=9)
    shallow = compile_model(to_onnx_model(net), Domain.box([-1.0] * 3, [1.0] * 3))
    model = shallow_onnx(shallow)
    entries = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    R, H, d, m = shallow.num_cells, shallow.num_hyperplanes, 3, 1
    k = int(np.diff(shallow.cell_ptr).max())
    assert entries <= 2 * (H * (d + 1) + R * (k + m * (d + 1))) + 100
    assert R * H > entries  # the dense incidence table would be larger than the whole model


def test_points_on_facets_and_vertices_in_onnx() -> None:
    """At cell vertices and facet points (where float signs are fragile) the ONNX model still
    agrees with the deep net, through the least-violation fallback."""
    net = random_mlp(2, [8, 8], 1, seed=11)
    source = to_onnx_model(net)
    shallow = compile_model(source, Domain.box([-1.0, -1.0], [1.0, 1.0]))
    from exact_tools import cell_vertices, facet_points
    pts = []
    for a in range(shallow.num_cells):
        v = cell_vertices(shallow, a)
        pts += v + facet_points(shallow, a, v)
    X = np.array([[float(c) for c in p] for p in pts])
    got = _session(shallow_onnx(shallow)).run(None, {"x": X.astype(np.float32)})[0]
    want = net.forward(X.astype(np.float32).astype(np.float64))
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
    assert np.abs(shallow.evaluate(X) - net.forward(X)).max() <= 1e-9 * max(1.0, np.abs(want).max())
