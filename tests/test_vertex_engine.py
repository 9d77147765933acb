"""The vertex engine gives the split engine's cells (patterns, facets, maps), without LPs.

Maps are compared with a relative tolerance of 1e-12: both engines compose the same float64
products, in a different order (einsum over all cells against one matrix product per cell).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.regions.vertex_engine import DegenerateVertexSet, VertexEngine, vertex_engine_applies
from relucompile.errors import DomainError, RegionLimitError
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.examples.random_nets import random_mlp


def _by_pattern(regions):
    out = {}
    for cell in regions.cells:
        facets = sorted((regions.hyperplanes[h].key, s) for h, s in cell.facets)
        out[cell.pattern.tobytes()] = (cell, facets)
    return out


def assert_same_cells(vertex, split) -> None:
    """Same patterns; per pattern the same facets (hyperplane keys and sides) and maps."""
    a, b = _by_pattern(vertex), _by_pattern(split)
    assert len(vertex) == len(a) and len(split) == len(b)
    assert set(a) == set(b)
    for key, (cell, facets) in a.items():
        other, other_facets = b[key]
        assert facets == other_facets
        assert cell.bounded == other.bounded
        np.testing.assert_allclose(cell.A, other.A, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cell.c, other.c, rtol=1e-12, atol=1e-12)


def assert_interiors_inside(regions, net) -> None:
    """Each cell's interior point has the cell's pattern and lies ``radius`` inside every facet."""
    X = np.array([c.interior for c in regions.cells])
    patterns = np.concatenate(net.pattern(X), axis=1)
    for cell, pattern in zip(regions.cells, patterns):
        assert np.array_equal(cell.pattern, pattern)
        assert cell.radius > 0
        assert (cell.radius <= 1.0) if regions.domain.kind == "reals" else True
        for h, s in cell.facets:
            hp = regions.hyperplanes[h]
            norm = np.linalg.norm(hp.w @ regions.domain.hull().U)
            assert s * (hp.w @ cell.interior + hp.b) / norm >= cell.radius * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 4), widths=st.lists(st.integers(1, 7), min_size=1, max_size=3),
       seed=st.integers(0, 10_000), fixed=st.booleans())
def test_same_cells_as_the_split_engine(d, widths, seed, fixed) -> None:
    net = random_mlp(d, widths, 2, seed=seed)
    lo, hi = -np.ones(d), np.ones(d)
    lo[0] = -0.5
    if fixed and d > 1:   # a degenerate box: x_d fixed (the engine works in the affine hull)
        lo[-1] = hi[-1] = 0.25
    domain = Domain.box(lo, hi)
    vertex = VertexEngine()(net, domain)
    split = enumerate_regions(net, domain, "split")
    assert vertex.stats["engine"] == "vertex"
    assert_same_cells(vertex, split)
    assert_interiors_inside(vertex, net)


@pytest.mark.parametrize("d, widths", [(2, [16, 16]), (3, [10, 10, 10]), (4, [12, 12]), (5, [8, 8])])
def test_same_cells_on_larger_nets(d, widths) -> None:
    net = random_mlp(d, widths, 1, seed=7)
    domain = Domain.box(-np.ones(d), np.ones(d))
    vertex = VertexEngine()(net, domain)
    split = enumerate_regions(net, domain, "split")
    assert len(vertex) > 100
    assert_same_cells(vertex, split)
    assert_interiors_inside(vertex, net)


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 3), widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       seed=st.integers(0, 10_000))
def test_same_cells_as_the_split_engine_on_all_of_rd(d, widths, seed) -> None:
    """R^d: 2^d orthant cones in homogeneous coordinates, pieces merged by pattern.

    Parallel hyperplanes meet at infinity (e.g. a unit fed by a single active unit): the vertex
    engine breaks those ties by a far truncation instead of falling back to the split engine.
    """
    net = random_mlp(d, widths, 2, seed=seed)
    vertex = enumerate_regions(net, Domain.reals(d), "auto")
    split = enumerate_regions(net, Domain.reals(d), "split")
    assert vertex.stats["engine"] == "vertex", vertex.stats.get("fallback")
    assert_same_cells(vertex, split)
    assert_interiors_inside(vertex, net)


def test_one_cell_on_all_of_rd_has_no_facets() -> None:
    net = ReluNet(2, [AffineLayer({0: np.array([[0.0, 0.0]])}, np.array([1.0]))],
                  AffineLayer({1: np.ones((1, 1))}, np.zeros(1)))
    regions = VertexEngine()(net, Domain.reals(2))
    assert len(regions) == 1 and regions.cells[0].facets == [] and not regions.cells[0].bounded
    assert regions.cells[0].radius == 1.0 and regions.cells[0].pattern.tolist() == [True]


def test_auto_uses_the_vertex_engine_on_boxes_and_rd_only() -> None:
    net = random_mlp(2, [6, 6], 1, seed=2)
    on_box = enumerate_regions(net, Domain.box([-1, -1], [1, 1]))
    on_plane = enumerate_regions(net, Domain.reals(2))
    polytope = enumerate_regions(net, Domain.polytope([[1, 1], [-1, 0], [0, -1]], [1, 0, 0]))
    assert on_box.stats["engine"] == "vertex" and on_plane.stats["engine"] == "vertex"
    assert polytope.stats.get("engine") != "vertex"
    assert vertex_engine_applies(Domain.box([-1, -1], [1, 1])) and vertex_engine_applies(Domain.reals(2))
    assert not vertex_engine_applies(Domain.polytope([[1, 1]], [1]))


def test_a_cut_through_a_vertex_falls_back_to_the_split_engine() -> None:
    """Units 2 and 3 pass through the corner (1, 1) of the cells units 0, 1 make: degenerate."""
    first = AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [1.0, 1.0]])},
                        np.array([-0.5, -0.5, 0.0, -1.0]))
    net = ReluNet(2, [first], AffineLayer({1: np.ones((1, 4))}, np.zeros(1)))
    domain = Domain.box([-1, -1], [1, 1])
    with pytest.raises(DegenerateVertexSet):
        VertexEngine()(net, domain)
    regions = enumerate_regions(net, domain)
    assert "vertex engine" in regions.stats["fallback"]
    assert_interiors_inside(regions, net)
    assert len(regions) == len(enumerate_regions(net, domain, "split"))


def test_limits_stop_with_a_clear_message() -> None:
    net = random_mlp(2, [8, 8], 1, seed=3)
    box = Domain.box([-1, -1], [1, 1])
    with pytest.raises(RegionLimitError, match="stopped after 10 regions"):
        VertexEngine()(net, box, Limits(max_regions=10))
    with pytest.raises(RegionLimitError, match="--time-limit"):
        VertexEngine()(net, box, Limits(time_limit=0.0))
    with pytest.raises(DomainError, match="bounded box"):
        VertexEngine()(net, Domain.polytope([[1, 1], [-1, 0], [0, -1]], [1, 0, 0]))


def test_benchmark_net_matches_affinitrees_count() -> None:
    """d4 16x16 on [-1, 1]^4 (benchmarks/): 11,286 cells, as affinitree and the split engine count."""
    from relucompile.examples.random_nets import to_onnx_model
    from relucompile.api.compile import load_network
    net = load_network(to_onnx_model(random_mlp(4, [16, 16], 1, seed=0)))
    regions = VertexEngine()(net, Domain.box(-np.ones(4), np.ones(4)))
    assert len(regions) == 11_286


def test_a_unit_of_the_fixed_coordinates_only_takes_its_sign_there() -> None:
    """x2 is fixed at 0.75: unit 1 (x2 - 0.5) is constant and on; unit 0 (x1) cuts."""
    first = AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0]])}, np.array([0.0, -0.5]))
    net = ReluNet(2, [first], AffineLayer({1: np.ones((1, 2))}, np.zeros(1)))
    domain = Domain.box([-1, 0.75], [1, 0.75])
    regions = VertexEngine()(net, domain)
    assert sorted(c.pattern.tolist() for c in regions.cells) == [[False, True], [True, True]]
    assert_same_cells(regions, enumerate_regions(net, domain, "split"))


def test_chunks_give_the_same_cells(monkeypatch) -> None:
    """A tiny vertex budget makes the engine go on in chunks of cells: same cells, facets, maps."""
    import relucompile.regions.vertex_engine as vertex_module
    net = random_mlp(3, [8, 8, 8], 2, seed=4)
    box = Domain.box(-np.ones(3), np.ones(3))
    whole = VertexEngine()(net, box)
    monkeypatch.setattr(vertex_module, "VERTEX_BUDGET", 50)
    chunked = VertexEngine()(net, box)
    assert whole.stats["chunks"] == 0 and chunked.stats["chunks"] > 100
    assert_same_cells(chunked, whole)
    assert_interiors_inside(chunked, net)


def test_long_paths_widen_the_path_table(monkeypatch) -> None:
    import relucompile.regions.vertex_engine as vertex_module
    monkeypatch.setattr(vertex_module, "PATH_WIDTH", 1)
    net = random_mlp(2, [12, 12], 1, seed=5)
    box = Domain.box([-1, -1], [1, 1])
    assert_same_cells(VertexEngine()(net, box), enumerate_regions(net, box, "split"))


def test_slivers_are_dropped_as_the_split_engine_drops_them() -> None:
    """x2 = 0 and x2 = 1.5e-8 x1 bound two thin triangles (height 1.5e-8 > tol at x1 = +-1, so
    the cut crosses; Chebyshev radius ~0.75e-8 <= tol = 1e-8): both engines drop them."""
    first = AffineLayer({0: np.array([[0.0, 1.0], [-1.5e-8, 1.0]])}, np.zeros(2))
    net = ReluNet(2, [first], AffineLayer({1: np.ones((1, 2))}, np.zeros(1)))
    box = Domain.box([-1, -1], [1, 1])
    vertex = VertexEngine()(net, box)
    split = enumerate_regions(net, box, "split")
    assert len(vertex) == len(split) == 2 and vertex.stats["lps"] == 2   # two sliver LPs
    assert_same_cells(vertex, split)


def test_cli_engines_give_the_same_cells(tmp_path, capsys) -> None:
    """``--engine split`` and the default write the same cells; ``--engine vertex`` on a
    polytope domain is a one-line error (exit 2) and writes nothing."""
    import json
    from relucompile.cli.main import main
    from relucompile.examples.random_nets import to_onnx_model
    import onnx
    model = tmp_path / "m.onnx"
    onnx.save(to_onnx_model(random_mlp(2, [6, 6], 1, seed=3)), model)
    docs = {}
    for engine in ("auto", "split"):
        out = tmp_path / f"{engine}.json"
        assert main([str(model), "--box", "-1", "1", "-o", str(tmp_path / f"{engine}.onnx"), "--regions", str(out),
                     "--engine", engine, "-q"]) == 0
        docs[engine] = json.loads(out.read_text())
    assert docs["auto"]["stats"]["engine"] == "vertex"
    assert sorted(c["pattern"] for c in docs["auto"]["cells"]) == sorted(c["pattern"] for c in docs["split"]["cells"])
    (tmp_path / "tri.json").write_text('{"G": [[1, 1], [-1, 0], [0, -1]], "g": [1, 0, 0]}')
    code = main([str(model), "--domain", str(tmp_path / "tri.json"), "-o", str(tmp_path / "x.onnx"),
                 "--engine", "vertex", "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--engine vertex" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_parallel_hyperplanes_meet_at_infinity_without_fallback() -> None:
    """Layer 2's units are fed by one unit only: their lines are parallel to its line and to each
    other (values exactly 0 at the directions along them), a tie at infinity, not a degenerate
    vertex; the cells are the split engine's (bounded ones included)."""
    first = AffineLayer({0: np.array([[1.0, 0.5], [0.3, -1.0]])}, np.array([-0.3, 0.2]))
    second = AffineLayer({1: np.array([[2.0, 0.0], [-1.0, 0.0], [0.0, 1.5], [1.0, 1.0]])},
                         np.array([-1.0, 0.5, -0.4, -2.0]))
    net = ReluNet(2, [first, second], AffineLayer({2: np.ones((1, 4))}, np.zeros(1)))
    vertex = enumerate_regions(net, Domain.reals(2))
    split = enumerate_regions(net, Domain.reals(2), "split")
    assert vertex.stats["engine"] == "vertex" and "fallback" not in vertex.stats
    assert len(vertex) >= 8 and any(c.bounded for c in vertex.cells)
    assert_same_cells(vertex, split)
    assert_interiors_inside(vertex, net)


def test_trained_iris_net_on_all_of_r4_runs_on_the_vertex_engine() -> None:
    """A trained 4-5-5-3 iris classifier on R^4 (once refused: ties at infinity): the vertex
    engine's cells are the split engine's, and as many as affinitree's terminals."""
    pytest.importorskip("sklearn", reason="needs scikit-learn (in the test extra)")
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier
    from benchmarks import affinitree_peer
    data = load_iris()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    clf = MLPClassifier(hidden_layer_sizes=(5, 5), activation="relu", max_iter=2000, random_state=0)
    clf.fit(X, data.target)
    f32 = lambda a: np.asarray(a, np.float32).astype(np.float64)   # noqa: E731
    layers = [AffineLayer({i: f32(W.T)}, f32(b)) for i, (W, b) in enumerate(zip(clf.coefs_[:-1], clf.intercepts_[:-1]))]
    net = ReluNet(4, layers, AffineLayer({2: f32(clf.coefs_[-1].T)}, f32(clf.intercepts_[-1])))
    vertex = enumerate_regions(net, Domain.reals(4))
    split = enumerate_regions(net, Domain.reals(4), "split")
    assert vertex.stats["engine"] == "vertex" and "fallback" not in vertex.stats
    assert_same_cells(vertex, split)
    assert_interiors_inside(vertex, net)
    assert affinitree_peer.available(), "affinitree is in the test extra"
    assert len(vertex) == affinitree_peer.distill(net, Domain.reals(4)).num_terminals() > 100


def test_a_cut_through_a_finite_vertex_on_all_of_rd_still_falls_back() -> None:
    """Three lines through the point (0.5, -0.25): a real degenerate vertex on R^2."""
    first = AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}, np.array([-0.5, 0.25, -0.25]))
    net = ReluNet(2, [first], AffineLayer({1: np.ones((1, 3))}, np.zeros(1)))
    with pytest.raises(DegenerateVertexSet, match="exactly through a vertex"):
        VertexEngine()(net, Domain.reals(2))
    regions = enumerate_regions(net, Domain.reals(2))
    assert "vertex engine" in regions.stats["fallback"]
    assert len(regions) == len(enumerate_regions(net, Domain.reals(2), "split")) == 6
