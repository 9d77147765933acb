"""Property tests: the shallow net equals the deep net *exactly* (rationals) at random points,
at every cell vertex and on facets, and every point of the domain is claimed by exactly one
half-open cell.  Random MLPs (d 1..4, depth 1..4, width 1..8, 1..3 outputs) with small dyadic
weights and planted degeneracies: dead and always-on units, duplicate units, zero rows,
parallel hyperplanes, several hyperplanes through one point, hyperplanes through box corners.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.passes.lowering import exact_net
from relucompile.examples.random_nets import random_mlp
from relucompile.shallow.net import build_shallow, evaluate_explicit
from exact_tools import cell_vertices, facet_points, random_rational_points

LAYOUTS = ("index", "layers")   # the point-location tree and the literal three-layer form
DEGENERACIES = ["dead", "always_on", "duplicate", "zero_row", "parallel", "concurrent", "corner", "none"]


@st.composite
def degenerate_mlps(draw, max_d: int = 4, max_depth: int = 4, max_width: int = 8):
    d = draw(st.integers(1, max_d))
    depth = draw(st.integers(1, max_depth))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth)]
    m = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    layers, prev = [], d
    for i, w in enumerate(widths):
        W = rng.integers(-4, 5, (w, prev)) / 4.0
        b = rng.integers(-4, 5, w) / 8.0
        for unit in range(w):
            kind = DEGENERACIES[int(rng.integers(len(DEGENERACIES)))]
            other = int(rng.integers(w))
            if kind == "dead":
                W[unit], b[unit] = 0.0, -1.0
            elif kind == "always_on":
                b[unit] = 64.0
            elif kind == "duplicate" and other != unit:
                W[unit], b[unit] = W[other], b[other]
            elif kind == "zero_row":
                W[unit], b[unit] = 0.0, 0.0
            elif kind == "parallel" and other != unit:
                W[unit], b[unit] = 2.0 * W[other], b[other] + 0.25
            elif kind == "concurrent":
                b[unit] = 0.0  # all such hyperplanes of layer 0 pass through the origin
            elif kind == "corner" and i == 0:
                corner = rng.choice([-1.0, 1.0], prev)
                b[unit] = -float(W[unit] @ corner)
        layers.append(AffineLayer({i: W}, b))
        prev = w
    out = AffineLayer({depth: rng.integers(-4, 5, (m, prev)) / 4.0}, rng.integers(-4, 5, m) / 8.0)
    return ReluNet(d, layers, out)


def _check_exact(net: ReluNet, domain: Domain, n_random: int, rng: np.random.Generator, regions=None) -> None:
    """``regions``: the cells to check (default: ``enumerate_regions``' on the domain)."""
    shallow = build_shallow(net, enumerate_regions(net, domain) if regions is None else regions)
    exact = exact_net(net)

    def deep(x):
        return list(exact.forward(np.array([x], dtype=object))[0])

    if domain.kind == "reals":
        points = [[Fraction(int(v), 16) for v in rng.integers(-160, 161, net.d)] for _ in range(n_random)]
    else:
        points = random_rational_points(domain, n_random, rng)
    for a in range(shallow.num_cells):
        verts = cell_vertices(shallow, a)
        assert verts or domain.kind == "reals", f"cell {a} has no vertex"
        points += verts + facet_points(shallow, a, verts)
    for x in points:
        claims = shallow.claiming_cells_exact(x)
        assert len(claims) == 1, x
        assert shallow.locate_exact(x) == claims[0], x     # the index finds the one claiming cell
        for layout in LAYOUTS:  # evaluate_exact asserts the claim too
            assert shallow.evaluate_exact(x, layout) == deep(x), (layout, x)
    X = np.array([[float(v) for v in x] for x in points])
    want = net.forward(X)
    for layout in LAYOUTS:
        got = shallow.evaluate(X, layout)
        assert np.all(np.abs(got - want) <= 1e-9 * (1 + np.abs(want))), (layout, np.abs(got - want).max())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=degenerate_mlps(), seed=st.integers(0, 1000))
def test_shallow_equals_deep_exactly_on_box(net: ReluNet, seed: int) -> None:
    _check_exact(net, Domain.box([-1.0] * net.d, [1.0] * net.d), 20, np.random.default_rng(seed))


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=degenerate_mlps(), seed=st.integers(1001, 2000))
def test_shallow_equals_deep_exactly_on_box_more_examples(net: ReluNet, seed: int) -> None:
    """The same check on 40 more planted-degeneracy nets (the slow tier)."""
    _check_exact(net, Domain.box([-1.0] * net.d, [1.0] * net.d), 20, np.random.default_rng(seed))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=degenerate_mlps(max_d=3, max_depth=3, max_width=6), seed=st.integers(0, 1000))
def test_shallow_equals_deep_exactly_on_all_of_rd(net: ReluNet, seed: int) -> None:
    """The default domain: unbounded cells, points far from the origin."""
    _check_exact(net, Domain.reals(net.d), 30, np.random.default_rng(seed))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=degenerate_mlps(max_d=3, max_depth=3, max_width=5), seed=st.integers(0, 1000))
def test_exact_on_lower_dimensional_box(net: ReluNet, seed: int) -> None:
    """A zero-width side (as in ACAS Xu prop_4): compiled over the affine hull."""
    if net.d < 2:
        return
    lo, hi = [-1.0] * net.d, [1.0] * net.d
    lo[0] = hi[0] = 0.25
    _check_exact(net, Domain.box(lo, hi), 10, np.random.default_rng(seed))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=degenerate_mlps(max_d=3, max_depth=3, max_width=5))
def test_exact_on_a_single_point_domain(net: ReluNet) -> None:
    """Every side of zero width: the domain is one point, compiled into one cell (regression: crashed)."""
    point = [0.25 * (i + 1) for i in range(net.d)]
    shallow = build_shallow(net, enumerate_regions(net, Domain.box(point, point)))
    assert shallow.num_cells == 1
    x = [Fraction(v) for v in point]
    assert shallow.evaluate_exact(x) == list(exact_net(net).forward(np.array([x], dtype=object))[0])
    assert np.isnan(shallow.evaluate(np.array([[v + 0.5 for v in point]]))).all()


@settings(max_examples=15, deadline=None)
@given(net=degenerate_mlps(max_d=2, max_depth=2, max_width=4))
def test_explicit_extended_real_network(net: ReluNet) -> None:
    """The materialised +-inf weight matrices compute f exactly (extended-real semantics)."""
    domain = Domain.box([-1.0] * net.d, [1.0] * net.d)
    shallow = build_shallow(net, enumerate_regions(net, domain))
    layers = shallow.explicit_layers()
    rng = np.random.default_rng(0)
    for x in random_rational_points(domain, 10, rng):
        # the explicit matrices hold float64 weights: exact binary fractions, so Fractions stay exact
        exact_layers = [(W.astype(object), b.astype(object)) for W, b in layers]
        exact_layers = [(np.vectorize(lambda v: v if abs(v) == float("inf") else Fraction(v), otypes=[object])(W),
                         np.vectorize(lambda v: Fraction(v), otypes=[object])(b)) for W, b in exact_layers]
        got = evaluate_explicit(exact_layers, x)
        assert got == list(exact_net(net).forward(np.array([x], dtype=object))[0])


def test_unbounded_domain_cells() -> None:
    """On all of R^d, cells are reported bounded or not, and points far out are still exact."""
    net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}, np.array([0.0, 0.0, -1.0]))],
                  AffineLayer({1: np.array([[1.0, -1.0, 2.0]])}, np.zeros(1)))
    shallow = build_shallow(net, enumerate_regions(net, Domain.reals(2)))
    assert shallow.num_cells == 7  # three lines in general position: 7 cells, one bounded triangle
    assert sum(c.bounded for c in shallow.regions.cells) == 1
    exact = exact_net(net)
    for x in ([Fraction(1000), Fraction(-3)], [Fraction(1, 3), Fraction(2, 3)], [Fraction(0), Fraction(0)],
              [Fraction(-7), Fraction(8)], [Fraction(1, 2), Fraction(1, 2)]):
        assert shallow.evaluate_exact(x) == list(exact.forward(np.array([x], dtype=object))[0])


def _small_net() -> ReluNet:
    rng = np.random.default_rng(4)
    layers = [AffineLayer({0: rng.integers(-4, 5, (5, 2)) / 4.0}, rng.integers(-4, 5, 5) / 8.0),
              AffineLayer({1: rng.integers(-4, 5, (4, 5)) / 4.0}, rng.integers(-4, 5, 4) / 8.0)]
    return ReluNet(2, layers, AffineLayer({2: rng.integers(-4, 5, (2, 4)) / 4.0}, np.zeros(2)))


def _rank(vectors: list[list[Fraction]]) -> int:
    rows = [list(v) for v in vectors]
    rank = 0
    for col in range(len(rows[0]) if rows else 0):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for r in range(len(rows)):
            if r != rank and rows[r][col] != 0:
                f = rows[r][col] / rows[rank][col]
                rows[r] = [a - f * b for a, b in zip(rows[r], rows[rank])]
        rank += 1
    return rank


def test_every_listed_inequality_is_a_facet() -> None:
    """Irredundant: each facet holds d affinely independent cell vertices (exact), and the
    interior point is strictly inside every inequality."""
    net = _small_net()
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0, -1.0], [1.0, 1.0])))
    for a in range(shallow.num_cells):
        verts = cell_vertices(shallow, a)
        for j in range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1]):
            w, b = shallow.exact_hyperplane(int(shallow.facet_h[j]))
            on = [v for v in verts if sum((wi * xi for wi, xi in zip(w, v)), Fraction(0)) + b == 0]
            assert len(on) >= 2 and _rank([[x - y for x, y in zip(v, on[0])] for v in on[1:]]) == net.d - 1
            inside = float(np.dot(shallow.W[shallow.facet_h[j]], shallow.regions.cells[a].interior) + shallow.b[shallow.facet_h[j]])
            assert inside > 0 if shallow.facet_closed[j] else inside < 0


def test_enumeration_is_deterministic() -> None:
    net = _small_net()
    runs = [enumerate_regions(net, Domain.box([-1.0, -1.0], [1.0, 1.0])) for _ in range(2)]
    assert [c.pattern.tobytes() for c in runs[0].cells] == [c.pattern.tobytes() for c in runs[1].cells]
    assert [c.facets for c in runs[0].cells] == [c.facets for c in runs[1].cells]


def test_exact_index_check_catches_a_broken_tree() -> None:
    """Swapping two children of the tree's root sends points to cells that do not claim them:
    the index layout's exact evaluation raises (so its check can fail at all)."""
    net = _small_net()
    domain = Domain.box([-1.0, -1.0], [1.0, 1.0])
    shallow = build_shallow(net, enumerate_regions(net, domain))
    index = shallow.locator
    points = random_rational_points(domain, 40, np.random.default_rng(0))
    assert all(shallow.evaluate_exact(x, "index") is not None for x in points)
    row = index.children[0]
    first, other = row[0], next(v for v in row if v != row[0])
    index.children[0] = np.where(row == first, other, np.where(row == other, first, row))
    with pytest.raises(AssertionError, match="0 cells claim"):
        for x in points:
            shallow.evaluate_exact(x, "index")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mutation", ["drop_cell", "flip_closed", "perturb_map"])
def test_exactness_checks_catch_mutations(mutation: str, layout: str) -> None:
    """The exact checks used above fail on a broken shallow net (so they can fail at all).  The
    index layout does not read the closed/strict flags to find the cell, but its check does:
    a flipped flag is caught where the flipped facet is closed."""
    net = _small_net()
    domain = Domain.box([-1.0, -1.0], [1.0, 1.0])
    shallow = build_shallow(net, enumerate_regions(net, domain))
    if mutation == "drop_cell":
        victim = shallow.regions.cells[3].interior
        keep = [a for a in range(shallow.num_cells) if a != 3]
        from relucompile.regions.store import RegionSet
        regions = RegionSet(domain, 2, 2, net.widths, [shallow.regions.cells[a] for a in keep],
                            shallow.regions.hyperplanes)
        shallow = build_shallow(net, regions)
        with pytest.raises(AssertionError, match="0 cells claim"):
            shallow.evaluate_exact([Fraction(v) for v in victim], layout)
        return
    if mutation == "flip_closed":
        j = int(np.argmax(shallow.facet_closed[:shallow.cell_ptr[1]])) if layout == "index" else 0
        assert shallow.facet_closed[j] or layout == "layers"
        shallow.facet_closed[j] = not shallow.facet_closed[j]
        verts = cell_vertices(build_shallow(net, shallow.regions), 0)
        points = facet_points(build_shallow(net, shallow.regions), 0, verts)
        with pytest.raises(AssertionError, match="cells claim"):
            for x in points:
                shallow.evaluate_exact(x, layout)
        return
    shallow.exact_affine(0)
    A, c = shallow._exact_cache["affine"][0]
    shallow._exact_cache["affine"][0] = (A, c + Fraction(1, 2**60))
    x = [Fraction(v) for v in shallow.regions.cells[0].interior]
    assert shallow.evaluate_exact(x, layout) != list(exact_net(net).forward(np.array([x], dtype=object))[0])


def test_polytope_with_implicit_equality() -> None:
    """x0 + x1 <= 1 and x0 + x1 >= 1 within [-1, 1]^2: a segment, compiled over its hull."""
    net = _small_net()
    G = [[1, 1], [-1, -1], [1, 0], [-1, 0], [0, 1], [0, -1]]
    g = [1, -1, 1, 1, 1, 1]
    domain = Domain.polytope(G, g)
    assert domain.hull().k == 1
    shallow = build_shallow(net, enumerate_regions(net, domain))
    exact = exact_net(net)
    for t in range(0, 17):  # x0 in [0, 1] keeps x1 = 1 - x0 in the box
        x0 = Fraction(t, 16)
        x = [x0, 1 - x0]
        assert shallow.evaluate_exact(x) == list(exact.forward(np.array([x], dtype=object))[0])
    assert shallow.evaluate_exact([Fraction(1, 2), Fraction(1, 3)]) is None  # off the segment
    assert np.isnan(shallow.evaluate(np.array([[0.5, 0.3]]))).all()


def _skip_net() -> ReluNet:
    """2 -> 3 -> 2 -> 1 whose second hidden layer and output also read the input (skip blocks)."""
    rng = np.random.default_rng(7)
    dyadic = lambda *shape: rng.integers(-8, 9, shape) / 8.0
    return ReluNet(2, [AffineLayer({0: dyadic(3, 2)}, dyadic(3)),
                       AffineLayer({0: dyadic(2, 2), 1: dyadic(2, 3)}, dyadic(2))],
                   AffineLayer({0: dyadic(1, 2), 2: dyadic(1, 2)}, dyadic(1)))


@pytest.mark.parametrize("net", [random_mlp(2, [4, 3, 3], 1, seed=0), random_mlp(3, [5, 4], 2, seed=1),
                                 random_mlp(1, [3, 2, 2, 2], 1, seed=2), _skip_net()])
def test_exact_unit_hyperplane_equals_the_effective_maps(net: ReluNet) -> None:
    """Every unit's exact hyperplane under random prefix patterns equals (==, Fractions) the
    pre-activation composed by ``ReluNet.effective_maps`` on the exact network."""
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1] * net.d, [1] * net.d)))
    exact = exact_net(net)
    offsets = np.concatenate([[0], np.cumsum(net.widths)]).astype(int)
    rng = np.random.default_rng(0)
    for layer, width in enumerate(net.widths):
        prefixes = [rng.random(offsets[layer]) < 0.5 for _ in range(4)]
        prefixes += [np.ones(offsets[layer], bool), np.zeros(offsets[layer], bool)]
        for prefix in prefixes:
            pattern = [prefix[offsets[i]:offsets[i + 1]] for i in range(layer)]
            blocks, _ = exact.effective_maps(pattern + [np.zeros(w, bool) for w in net.widths[layer:]])
            M, m = ReluNet.preactivation(exact.layers[layer], blocks[:layer + 1])
            for unit in range(width):
                w, b = shallow.exact_unit_hyperplane(layer, unit, prefix)
                assert w.dtype == object and w.shape == (net.d,)
                assert all(type(v) is Fraction for v in w) and type(b) is Fraction
                assert list(w) == list(M[unit]) and b == m[unit]
