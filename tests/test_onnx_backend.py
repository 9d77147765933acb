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
from conftest import data_path


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


LAYOUTS = ("index", "layers")


SOURCE_CASES = [(2, [16, 16], 1, "box"), (3, [8, 8, 8], 2, "box"), (4, [10, 10], 3, "box"),
                (2, [8, 8], 2, "reals"), (3, [6, 6], 1, "polytope")]


def _boundary_points(shallow, max_cells: int = 150) -> np.ndarray:
    """Float points on the cells' boundaries inside the domain: exact cell vertices (d <= 3, the
    first ``max_cells`` cells) and, for every cell, its interior point projected onto each facet."""
    from exact_tools import cell_vertices
    pts = []
    domain = shallow.domain
    if domain.kind != "reals" and shallow.d <= 3:
        for a in range(min(shallow.num_cells, max_cells)):
            pts += [[float(v) for v in vertex] for vertex in cell_vertices(shallow, a)]
    for a in range(shallow.num_cells):
        x = shallow.regions.cells.interior[a]
        for j in range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1]):
            w, b = shallow.W[shallow.facet_h[j]], shallow.b[shallow.facet_h[j]]
            pts.append(x - (w @ x + b) / (w @ w) * w)
    P = np.array(pts, dtype=np.float64).reshape(-1, shallow.d)
    return P if domain.kind == "reals" else P[domain.contains(P, tol=0.0)]


@pytest.mark.parametrize("d,widths,m,domain,layout", [
    pytest.param(*case, layout, marks=[pytest.mark.slow] if layout == "layers" and case[0] == 4 else [])
    for case in SOURCE_CASES for layout in LAYOUTS])   # the layered form at d4 takes ~60 s (batch x cells)
def test_shallow_onnx_matches_source(d, widths, m, domain, layout) -> None:
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
    model = shallow_onnx(shallow, layout=layout)
    onnx.checker.check_model(model)
    X = np.vstack([_boundary_points(shallow), X])[:10_000]     # cell vertices and facet points first
    X = X.astype(np.float32)
    if dom is not None:   # a boundary point rounded to float32 may leave the domain (the model says NaN there)
        X = X[dom.contains(X.astype(np.float64), tol=0.0)]
    want = _session(source).run(None, {"x": X})[0]
    sess = _session(model)
    got = np.concatenate([sess.run(None, {"x": X[i:i + 500]})[0] for i in range(0, len(X), 500)])
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_signature_metadata_and_nan_outside(layout) -> None:
    net = random_mlp(2, [6, 6], 2, seed=5)
    source = to_onnx_model(net, input_name="features", output_name="scores")
    shallow = compile_model(source, Domain.box([-1.0, 0.0], [1.0, 2.0]))
    model = shallow_onnx(shallow, layout=layout)
    assert [i.name for i in model.graph.input] == ["features"] and [o.name for o in model.graph.output] == ["scores"]
    assert model.graph.input[0].type == source.graph.input[0].type
    assert model.graph.output[0].type == source.graph.output[0].type
    meta = {p.key: p.value for p in model.metadata_props}
    assert int(meta["num_cells"]) == shallow.num_cells and int(meta["num_hyperplanes"]) == shallow.num_hyperplanes
    assert json.loads(meta["domain"])["kind"] == "box" and len(json.loads(meta["reference_point"])) == 2
    assert len(meta["source_sha256"]) == 64 and meta["relucompile_version"]
    assert meta["layout"] == layout
    names = {n.name for n in model.graph.node}
    expected = {"relucompile/H1_h", "relucompile/H2_lambda", "relucompile/H2_nu"} if layout == "layers" else \
        {"relucompile/H1_index_values_0", "relucompile/H2_index_node_0"}
    assert expected | {"relucompile/H3_cell"} <= names
    X = np.array([[0.5, 2.5], [1.5, 1.0], [0.0, 1.0], [np.nan, 1.0], [-1.0, 0.0], [1.0, 2.0], [-1.0000001, 0.5],
                  [0.5, np.inf], [-np.inf, 1.0]], np.float32)
    out = _session(model).run(None, {"features": X})[0]
    inside = np.array([False, False, True, False, True, True, False, False, False])
    assert np.all(np.isnan(out[~inside])) and np.all(np.isfinite(out[inside]))
    assert np.abs(out[inside] - net.forward(X[inside].astype(np.float64))).max() <= 1e-5


@pytest.mark.parametrize("layout", LAYOUTS)
def test_model_is_compact(layout) -> None:
    """Size O(|H| d + |R| (k + m d)): no dense |R| x |H| table."""
    net = random_mlp(3, [12, 12], 1, seed=9)
    shallow = compile_model(to_onnx_model(net), Domain.box([-1.0] * 3, [1.0] * 3))
    model = shallow_onnx(shallow, layout=layout)
    entries = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    R, H, d, m = shallow.num_cells, shallow.num_hyperplanes, 3, 1
    k = int(np.diff(shallow.cell_ptr).max())
    assert entries <= 2 * (H * (d + 1) + R * (k + m * (d + 1))) + 100
    assert R * H > entries  # the dense incidence table would be larger than the whole model


@pytest.mark.parametrize("layout", LAYOUTS)
def test_points_on_facets_and_vertices_in_onnx(layout) -> None:
    """At cell vertices and facet points (where float signs are fragile) the ONNX model still
    agrees with the deep net (layers: through the least-violation fallback; index: a wrong turn
    by rounding lands in a cell that touches the point)."""
    net = random_mlp(2, [8, 8], 1, seed=11)
    source = to_onnx_model(net)
    shallow = compile_model(source, Domain.box([-1.0, -1.0], [1.0, 1.0]))
    from exact_tools import cell_vertices, facet_points
    pts = []
    for a in range(shallow.num_cells):
        v = cell_vertices(shallow, a)
        pts += v + facet_points(shallow, a, v)
    X = np.array([[float(c) for c in p] for p in pts])
    got = _session(shallow_onnx(shallow, layout=layout)).run(None, {"x": X.astype(np.float32)})[0]
    want = net.forward(X.astype(np.float32).astype(np.float64))
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
    assert np.abs(shallow.evaluate(X, layout) - net.forward(X)).max() <= 1e-9 * max(1.0, np.abs(want).max())


def test_index_model_is_no_larger_and_batch_memory_is_bounded() -> None:
    """The index layout's file is no larger than the layered one, and onnxruntime's largest
    intermediate does not grow with the number of cells (no batch x cells tensor)."""
    net = random_mlp(3, [12, 12], 1, seed=9)
    shallow = compile_model(to_onnx_model(net), Domain.box([-1.0] * 3, [1.0] * 3))
    index, layers = shallow_onnx(shallow), shallow_onnx(shallow, layout="layers")
    assert index.ByteSize() <= layers.ByteSize()
    inferred = onnx.shape_inference.infer_shapes(index)
    for value in inferred.graph.value_info:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim if d.dim_value]
        assert int(np.prod(dims)) <= 4 * (shallow.d + 1) * max(shallow.m, shallow.locator.arity), value.name


@pytest.mark.slow
@pytest.mark.parametrize("layout,batch", [("index", 1000), ("layers", 50)])   # layers: batch x cells memory
def test_onnx_matches_acasxu_prop_4(layout, batch) -> None:
    """ACAS Xu 1_1 on the prop_4 box (19k cells, a fixed input): the index model against the
    source at 10,000 points: random ones, points on facets (each cell's interior point projected
    onto its facet hyperplanes) and cell interiors; batched onnxruntime calls."""
    from relucompile import load_network
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.api.compile import compile_network
    model_path = data_path("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
    (lower, upper), = parse_vnnlib(data_path("acasxu", "prop_4.vnnlib")).input_boxes()
    net = load_network(model_path)
    shallow = compile_network(net, Domain.box(lower, upper), progress=False)
    rng = np.random.default_rng(0)
    cells = rng.choice(shallow.num_cells, 2_000, replace=False)
    facet_pts = []
    for a in cells:
        x = shallow.regions.cells.interior[a]
        for j in range(shallow.cell_ptr[a], min(shallow.cell_ptr[a + 1], shallow.cell_ptr[a] + 3)):
            w, b = shallow.W[shallow.facet_h[j]], shallow.b[shallow.facet_h[j]]
            facet_pts.append(x - (w @ x + b) / (w @ w) * w)
    X = np.vstack([np.array(facet_pts), shallow.regions.cells.interior[cells],
                   rng.uniform(lower, upper, (10_000, len(lower)))])[:10_000]
    X64 = np.clip(X, lower, upper)
    X = X64.astype(np.float32)   # float32 rounding may step off the box: the model rounds its bounds outward
    net.signature = net.signature.replace(input_dims=("N", 1, 1, 5), output_dims=("N", 5))
    model = shallow_onnx(shallow, layout=layout)
    sess = _session(model)
    name = sess.get_inputs()[0].name
    got = np.concatenate([sess.run(None, {name: X[i:i + batch].reshape(-1, 1, 1, 5)})[0].reshape(-1, 5)
                          for i in range(0, len(X), batch)])
    want = net.forward(X.astype(np.float64))
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert not np.isnan(got).any()
    if layout == "index":
        assert np.abs(shallow.evaluate(X64) - net.forward(X64)).max() <= 1e-9 * np.abs(want).max()
