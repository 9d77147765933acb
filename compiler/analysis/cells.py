"""Facts about cells that every readable output shares: one implementation each.

Bounding boxes, uniform samples of a domain, cell geometry in 1-D and 2-D (intervals,
polygons, their sizes), each cell's share of the domain's volume, the normal form of a cell's
inequalities and formulas (scaled, with rounding noise shown as 0), and number formatting.  The
equations, the audit report, the pictures and ``explain`` all call these, so they cannot
disagree.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> net = random_mlp(2, [4], 1, seed=0)
    >>> regions = enumerate_regions(net, Domain.box([-1, -1], [1, 1]))
    >>> shares, method = volume_shares(net, regions)
    >>> method, round(float(shares.sum()), 9), len(shares) == len(regions)
    ('exact', 1.0, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.numeric.lp import LinearProgram
from relucompile.numeric.tolerances import ROUNDING_NOISE
from relucompile.regions.store import RegionSet
from relucompile.shallow.net import build_shallow

DEFAULT_SAMPLES = 100_000


# -- numbers -----------------------------------------------------------------------------------

def number_text(v: float, digits: int = 6) -> str:
    """``v`` to ``digits`` significant digits, without a negative zero.

    Example:
        >>> number_text(2 / 3, 3), number_text(-0.0), number_text(float("inf")), number_text(1e-9, 2)
        ('0.667', '0', 'inf', '1e-09')
    """
    s = f"{float(v):.{digits}g}"
    return "0" if s in ("-0", "0") else s


# -- boxes and samples -------------------------------------------------------------------------

def polytope_box(G: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corner of the bounding box of {t : G t <= g} (-inf/+inf where unbounded).

    Example:
        >>> [v.tolist() for v in polytope_box(np.array([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]), np.array([1.0, 0.0, 0.0]))]
        [[0.0, 0.0], [1.0, 1.0]]
    """
    lp = LinearProgram(G.shape[1])
    for row, rhs in zip(G, g):
        if np.any(row):
            lp.add_row(row, rhs)
    lo, hi, _ = lp.box_bounds()
    return lo, hi


def bounding_box(domain: Domain) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corner of the domain's bounding box (-inf/+inf where it is unbounded).

    Example:
        >>> [v.tolist() for v in bounding_box(Domain.polytope([[1, 1], [-1, 0], [0, -1]], [1, 0, 0]))]
        [[0.0, 0.0], [1.0, 1.0]]
        >>> bounding_box(Domain.reals(1))[1].tolist()
        [inf]
    """
    if domain.kind == "box":
        return domain.lower.astype(np.float64), domain.upper.astype(np.float64)
    if domain.kind == "reals":
        return np.full(domain.d, -np.inf), np.full(domain.d, np.inf)
    return polytope_box(*domain.inequalities())


def uniform_points(domain: Domain, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on a bounded domain (in its affine hull when lower-dimensional).

    Example:
        >>> X = uniform_points(Domain.polytope([[1, 1], [-1, 0], [0, -1]], [1, 0, 0]), 500,
        ...                    np.random.default_rng(0))
        >>> X.shape, bool(np.all(X.sum(axis=1) <= 1))
        ((500, 2), True)
    """
    if domain.kind == "box":
        return rng.uniform(domain.lower, domain.upper, size=(n, domain.d))
    hull = domain.hull()
    lo, hi = polytope_box(hull.Gt, hull.gt) if hull.k else (np.zeros(0), np.zeros(0))
    kept, total = [], 0
    for _ in range(1000):
        T = rng.uniform(lo, hi, size=(2 * n, hull.k))
        T = T[np.all(T @ hull.Gt.T <= hull.gt, axis=1)]
        kept.append(T)
        total += len(T)
        if total >= n:
            break
    T = np.vstack(kept)[:n]
    return hull.x0 + T @ hull.U.T


# -- cell geometry in 1-D and 2-D --------------------------------------------------------------

def cell_interval(regions: RegionSet, cell) -> tuple[float, float]:
    """The interval ``(lo, hi)`` of a cell of a 1-D network (infinite ends on an unbounded domain).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> regions = enumerate_regions(random_mlp(1, [2], 1, seed=0), Domain.box([-1], [1]))
        >>> sum(hi - lo for lo, hi in (cell_interval(regions, c) for c in regions.cells))
        2.0
    """
    lo, hi = -np.inf, np.inf
    for h, s in cell.facets:
        w, b = s * regions.hyperplanes[h].w[0], s * regions.hyperplanes[h].b
        if w > 0:
            lo = max(lo, -b / w)
        elif w < 0:
            hi = min(hi, -b / w)
    return float(lo), float(hi)


def clip_polygon(polygon: list[np.ndarray], w: np.ndarray, b: float) -> list[np.ndarray]:
    """Sutherland-Hodgman: the part of a convex polygon where ``w . x + b >= 0``.

    Example:
        >>> square = [np.array(p, float) for p in ((0, 0), (1, 0), (1, 1), (0, 1))]
        >>> [p.tolist() for p in clip_polygon(square, np.array([-1.0, 0.0]), 0.5)]
        [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
    """
    out = []
    for i, p in enumerate(polygon):
        q = polygon[(i + 1) % len(polygon)]
        vp, vq = float(w @ p + b), float(w @ q + b)
        if vp >= 0:
            out.append(p)
        if (vp >= 0) != (vq >= 0):
            out.append(p + (q - p) * (vp / (vp - vq)))
    return out


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of a polygon given by its vertices in order.

    Example:
        >>> polygon_area(np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float))
        2.0
    """
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def cell_polygon(regions: RegionSet, cell, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The closed cell inside the window [lower, upper] as a convex polygon (vertices, (k, 2)).

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
        >>> regions = enumerate_regions(net, Domain.box([-1, -1], [1, 1]))
        >>> round(polygon_area(cell_polygon(regions, regions.cells[0], -np.ones(2), np.ones(2))), 9)
        2.0
    """
    poly = [np.array(p, dtype=np.float64) for p in
            ((lower[0], lower[1]), (upper[0], lower[1]), (upper[0], upper[1]), (lower[0], upper[1]))]
    for h, s in cell.facets:
        plane = regions.hyperplanes[h]
        poly = clip_polygon(poly, s * plane.w, s * plane.b)
        if not poly:
            return np.zeros((0, 2))
    return np.array(poly)


def cell_sizes(regions: RegionSet) -> np.ndarray | None:
    """Each cell's length (1 input) or area (2 inputs) inside a bounded full-dimensional domain,
    from its closed interval or polygon (float64); None in other cases.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> regions = enumerate_regions(random_mlp(2, [3], 1, seed=0), Domain.box([0, 0], [2, 1]))
        >>> round(float(cell_sizes(regions).sum()), 9)
        2.0
    """
    domain = regions.domain
    if not domain.bounded or regions.d > 2 or domain.hull().k != regions.d:
        return None
    if regions.d == 1:
        lower, upper = bounding_box(domain)
        return np.array([max(min(hi, upper[0]) - max(lo, lower[0]), 0.0)
                         for lo, hi in (cell_interval(regions, cell) for cell in regions.cells)])
    lower, upper = bounding_box(domain)
    G, g = domain.inequalities()
    sizes = []
    for cell in regions.cells:
        polygon = list(cell_polygon(regions, cell, lower, upper))
        for row, rhs in zip(G, g):          # the domain's own rows (its facets are the cells')
            if polygon:
                polygon = clip_polygon(polygon, -row, float(rhs))
        sizes.append(polygon_area(np.array(polygon)) if polygon else 0.0)
    return np.array(sizes)


# -- volume shares -----------------------------------------------------------------------------

def volume_shares(net: ReluNet, regions: RegionSet, *, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                  areas: np.ndarray | None = None,
                  locate: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray | None, str]:
    """Each cell's share of the domain's volume, and how it was obtained:

    * ``"exact"``: a single cell or a single-point domain (equal shares), or 1 and 2 inputs on a
      full-dimensional domain (:func:`cell_sizes`; ``areas`` gives precomputed 2-D areas);
    * ``"sampled"``: otherwise, ``samples`` points uniform on the domain (in its affine hull when
      lower-dimensional) with a fixed ``seed``, each assigned to a cell by ``locate`` (X -> cell
      ids, -1 for none; default: the shallow net's point-location tree, :meth:`ShallowNet.select_cells`);
      cells no sample hit get 0;
    * ``(None, "unbounded")`` when the domain is unbounded: shares are undefined.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> net = ReluNet(3, [AffineLayer({0: np.array([[1.0, 0, 0]])}, np.array([-0.5]))],
        ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))     # relu(x1 - 0.5)
        >>> regions = enumerate_regions(net, Domain.box([0] * 3, [1] * 3))
        >>> shares, method = volume_shares(net, regions, samples=20000)
        >>> method, np.round(shares, 1).tolist()
        ('sampled', [0.5, 0.5])
    """
    domain, R = regions.domain, len(regions)
    if not domain.bounded:
        return None, "unbounded"
    if R == 1 or domain.hull().k == 0:
        return np.ones(R) / R, "exact"
    sizes = areas if areas is not None and net.d == 2 and domain.hull().k == 2 else cell_sizes(regions)
    if sizes is not None:
        return sizes / sizes.sum(), "exact"
    X = uniform_points(domain, samples, np.random.default_rng(seed))
    if locate is None:
        locate = build_shallow(net, regions).select_cells
    cells = locate(X)
    counts = np.bincount(cells[cells >= 0], minlength=R)
    return counts / max(int(counts.sum()), 1), "sampled"


# -- the normal form of rules ------------------------------------------------------------------

@dataclass
class Inequality:
    """``sum coeffs[i] * x_i  op  rhs`` with op in >=, <=, >, <."""

    coeffs: list
    op: str
    rhs: Any


def normalised_inequality(w: Sequence, b: Any, closed: bool) -> Inequality:
    """``w . x + b >= 0`` (closed) or ``< 0`` (strict), scaled by a positive number so that its
    largest coefficient is 1 and written with the constant on the right.  Exact for Fractions.

    Example:
        >>> from fractions import Fraction
        >>> normalised_inequality([Fraction(-2), Fraction(1)], Fraction(1), True)
        Inequality(coeffs=[Fraction(1, 1), Fraction(-1, 2)], op='<=', rhs=Fraction(1, 2))
    """
    k = max(range(len(w)), key=lambda i: abs(w[i]))
    scale = abs(w[k])
    coeffs = [v / scale for v in w]
    rhs, op = -b / scale, ">=" if closed else "<"
    if coeffs[k] < 0:
        coeffs, rhs, op = [-v for v in coeffs], -rhs, {">=": "<=", "<": ">"}[op]
    return Inequality(coeffs, op, rhs)


def float_inequality(w: np.ndarray, b: float, closed: bool) -> Inequality:
    """:func:`normalised_inequality` in float64, with coefficients that are rounding noise
    (at most :data:`ROUNDING_NOISE` of the largest, which is 1) set to 0.

    Example:
        >>> float_inequality(np.array([-2.0, 1e-14]), 1.0, True)
        Inequality(coeffs=[1.0, 0.0], op='<=', rhs=0.5)
    """
    ineq = normalised_inequality([float(v) for v in w], float(b), closed)
    ineq.coeffs = [0.0 if abs(v) <= ROUNDING_NOISE else v for v in ineq.coeffs]
    return ineq


def denoised_map(row: Sequence[float], const: float) -> tuple[list[float], float]:
    """An output's affine formula ``row . x + const`` with the terms that are rounding noise (at
    most :data:`ROUNDING_NOISE` of its largest term) set to 0.

    Example:
        >>> denoised_map([1.0, 1e-15], 2e-13)
        ([1.0, 0.0], 0.0)
    """
    row = np.asarray(row, dtype=np.float64)
    scale = ROUNDING_NOISE * max(float(np.abs(row).max(initial=0.0)), abs(float(const)))
    return [0.0 if abs(v) <= scale else float(v) for v in row], (0.0 if abs(const) <= scale else float(const))
