"""The vertex engine decides exactly the side of a cut at a vertex within its tolerance (issue 16).

A hyperplane 1e-10 .. 1e-9 from a vertex is no degeneracy: the engine recomputes the vertex and
the unit's value there in rationals and cuts as usual (these nets once raised
``DegenerateVertexSet`` and fell back to the split engine for the whole run).  A hyperplane
exactly through a vertex (dyadic weights) is still refused, and ``auto`` still falls back.
The cells are compared with the split engine's and checked exactly (shallow = deep in rationals
at every cell vertex and facet point, tests/test_exactness.py).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucompile.ir.domain import Domain
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.regions import vertex_engine
from relucompile.regions.enumerate import enumerate_regions
from relucompile.regions.exact_vertices import float_plane, solve_point
from relucompile.regions.vertex_engine import DegenerateVertexSet, VertexEngine
from exact_tools import solve_exact
from test_exactness import _check_exact
from test_vertex_engine import _by_pattern, assert_interiors_inside


def planted_vertex(net: ReluNet) -> list[Fraction]:
    """The exact point where layer 1's first d hyperplanes meet."""
    W, b = net.layers[0].weights[0], net.layers[0].bias
    return solve_point([float_plane(W[i], b[i]) for i in range(net.d)])


def assert_split_cells_up_to_tiny_facets(vertex, split, net: ReluNet, point: list[Fraction]) -> None:
    """The split engine's patterns and maps; its facets, plus facets of length ~1e-10 that its
    tolerance calls redundant (``irredundant_facets``), next to the planted vertex:
    the combinatorics there is the exact arrangement's (:func:`record_decisions` checks the sides)."""
    a, b = _by_pattern(vertex), _by_pattern(split)
    assert set(a) == set(b)
    for key, (cell, facets) in a.items():
        other, other_facets = b[key]
        assert set(other_facets) <= set(facets)
        np.testing.assert_allclose(cell.A, other.A, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cell.c, other.c, rtol=1e-12, atol=1e-12)


def record_decisions(monkeypatch, point: list[Fraction]) -> list[float]:
    """Spy on the engine's exact decisions: the decided value (a distance, sign = side) of every
    vertex at ``point`` (float coordinates within 1e-9 of it) the engine decided."""
    decided = []
    x = np.array([float(v) for v in point])
    original = vertex_engine._VertexRun.decide_near_vertices

    def spy(run, l, j, jj, u, cross, above):
        near = np.nonzero(cross[run.vcell.v] & (np.abs(u) <= run.tol))[0]
        original(run, l, j, jj, u, cross, above)
        for v in near.tolist():
            row = run.X.v[v]
            if row[-1] > 0 and np.abs(row[:-1] / row[-1] - x).max() <= 1e-9:
                decided.append(float(u[v]))
                assert above is None or above[v] == (u[v] > 0)
    monkeypatch.setattr(vertex_engine._VertexRun, "decide_near_vertices", spy)
    return decided


def near_vertex_net(d: int, seed: int, offset: float, width: int = 5) -> ReluNet:
    """A 2-hidden-layer net whose last layer-2 unit has value ``offset`` (exactly, up to one
    rounding of its bias) at the vertex where layer 1's first d hyperplanes meet: its hyperplane
    passes about |offset| from that vertex of the layer-1 cells, on every side of it."""
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(width, d))
    point = rng.uniform(-0.5, 0.5, d)
    b1 = -(W1 @ point) + rng.uniform(-0.5, 0.5, width) * (np.arange(width) >= d)
    exact = lambda a: [Fraction(float(v)) for v in a]       # noqa: E731
    vertex = solve_exact([exact(row) for row in W1[:d]], [-v for v in exact(b1[:d])])
    hidden = [max(sum(w * x for w, x in zip(exact(row), vertex)) + Fraction(float(b)), Fraction(0))
              for row, b in zip(W1, b1)]
    W2 = rng.normal(size=(width, width))
    b2 = rng.uniform(-0.3, 0.3, width)
    b2[-1] = float(-sum(w * h for w, h in zip(exact(W2[-1]), hidden))) + offset
    return ReluNet(d, [AffineLayer({0: W1}, b1), AffineLayer({1: W2}, b2)],
                   AffineLayer({2: rng.normal(size=(1, width))}, np.zeros(1)))


def through_vertex_net() -> ReluNet:
    """Dyadic weights: layer 1's lines x = 1/4 and y = -1/8 meet at (1/4, -1/8), and layer 2's
    last unit is exactly 0 there (a real degeneracy)."""
    W1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b1 = np.array([-0.25, 0.125, 0.5])
    W2 = np.array([[1.0, -0.5, 0.25], [0.5, 1.0, -1.0]])
    hidden = np.maximum(W1 @ np.array([0.25, -0.125]) + b1, 0.0)      # exact in binary
    b2 = np.array([-0.375, -float(W2[1] @ hidden)])
    return ReluNet(2, [AffineLayer({0: W1}, b1), AffineLayer({1: W2}, b2)],
                   AffineLayer({2: np.ones((1, 2))}, np.zeros(1)))


CASES = [(2, seed, offset) for seed in (1, 2, 3) for offset in (1e-10, -3e-10, 1e-9)] + \
        [(3, seed, offset) for seed in (0, 2) for offset in (2e-10, -1e-9)]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("d,seed,offset", CASES)
def test_a_cut_near_a_vertex_is_decided_exactly(d, seed, offset, compiled, monkeypatch) -> None:
    if compiled:
        if not vertex_engine.vertex_kernels.AVAILABLE:
            pytest.skip("numba is not installed")
        monkeypatch.setattr(vertex_engine, "KERNEL_MIN_ROWS", 0)
    net = near_vertex_net(d, seed, offset)
    box = Domain.box([-1.0] * d, [1.0] * d)
    decided = record_decisions(monkeypatch, planted_vertex(net))
    regions = VertexEngine()(net, box)
    assert regions.stats["exact_checks"] >= 1 and regions.stats["compiled"] == compiled
    # the planted vertex went to the side of its exact value (the sign of offset, by construction)
    assert decided and all(np.sign(u) == np.sign(offset) and abs(u) < 10 * abs(offset) for u in decided)
    assert_split_cells_up_to_tiny_facets(regions, enumerate_regions(net, box, "split"), net, planted_vertex(net))
    assert_interiors_inside(regions, net)


@pytest.mark.parametrize("seed,offset", [(1, 1e-10), (2, -5e-10)])
def test_a_cut_near_a_finite_vertex_on_all_of_rd(seed, offset, monkeypatch) -> None:
    net = near_vertex_net(2, seed, offset)
    decided = record_decisions(monkeypatch, planted_vertex(net))
    regions = enumerate_regions(net, Domain.reals(2))
    assert regions.stats["engine"] == "vertex" and regions.stats["exact_checks"] >= 1
    assert decided and all(np.sign(u) == np.sign(offset) for u in decided)
    assert_split_cells_up_to_tiny_facets(regions, enumerate_regions(net, Domain.reals(2), "split"), net,
                                         planted_vertex(net))


def test_near_vertices_are_decided_inside_parallel_tasks(monkeypatch) -> None:
    """The check runs in the tasks after a layer (worker processes): same cells for 1 and 2 jobs."""
    monkeypatch.setattr(vertex_engine, "TASK_MIN_CELLS", 1)
    net = near_vertex_net(2, 2, 1e-10)
    box = Domain.box([-1.0, -1.0], [1.0, 1.0])
    one, two = VertexEngine()(net, box, jobs=1), VertexEngine()(net, box, jobs=2)
    assert one.stats["tasks"] > 1 and one.stats["exact_checks"] == two.stats["exact_checks"] >= 1
    assert [c.pattern.tobytes() for c in one.cells] == [c.pattern.tobytes() for c in two.cells]
    assert_split_cells_up_to_tiny_facets(one, enumerate_regions(net, box, "split"), net, planted_vertex(net))


def test_a_cut_exactly_through_a_vertex_still_falls_back() -> None:
    net = through_vertex_net()
    box = Domain.box([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(DegenerateVertexSet, match="exactly through a vertex"):
        VertexEngine()(net, box)
    regions = enumerate_regions(net, box)
    assert "exactly through a vertex" in regions.stats["fallback"]
    assert_interiors_inside(regions, net)
    _check_exact(net, box, 10, np.random.default_rng(0), regions)
