"""Pictures of a network's partition: cells coloured, each output's zero level set drawn.

* d = 2: the domain's cells as exact polygons (each cell clipped out of the domain by its
  facets), coloured so that neighbours differ, with every output's zero level set
  ``{x : f_j(x) = 0}`` (the decision boundary) drawn as exact segments, cell by cell.
* d > 2: the same on a plane ``x = point + s * dir1 + t * dir2`` (:class:`PlaneSlice`).  The
  network restricted to the plane is again a ReLU network, with 2 inputs (s, t): compose every
  weight that reads the input with the plane (:func:`slice_network`).  Enumerating its cells over
  the plane's part of the domain (:func:`slice_domain`) is exact and cheap.
* d = 1: the function, each output one polyline through the cell boundaries (exact: it is affine
  between them), with the breakpoints marked (filled: the slope changes; open: the pattern
  changes but the function stays affine across).

Colours: :data:`PALETTE` holds light colours; cells get palette indices by greedy colouring of
the graph "closer than ``pixel_gap`` pixels in the picture" (so cells that touch, even at one
vertex, differ).  ``Partition2D.colours[cell]`` is the index and :meth:`Partition2D.rgb` the
colour, so tests can find every cell in a rendered image.  Figures use matplotlib's Agg canvas
directly (no pyplot, no display).

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> net = random_mlp(2, [4], 1, seed=0)
    >>> part = partition_2d(net, Domain.box([-1, -1], [1, 1]))
    >>> len(part.polygons) == len(part.regions), part.rgb(0) in PALETTE
    (True, True)
    >>> render_png(net, Domain.box([-1, -1], [1, 1]))[:4]
    b'\\x89PNG'
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.limits import check_time, checked
from relucompile.errors import UserError
from relucompile.analysis import cells as cell_geometry
from relucompile.analysis.cells import cell_interval, cell_polygon, clip_polygon, number_text, polygon_area
from relucompile.analysis.explain import default_names
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.regions.store import RegionSet
from relucompile.numeric.tolerances import GEOMETRIC_TOL, TINY

# light qualitative colours (no greys: antialiased text is grey), all distinct in 8-bit RGB
PALETTE: tuple[str, ...] = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
    "#bc80bd", "#ccebc5", "#ffed6f", "#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#f4a582",
)
LEVEL_COLOURS: tuple[str, ...] = ("#000000", "#d62728", "#1f3fbf", "#7f2f9f", "#1b7f3f", "#8c564b")
EDGE_COLOUR = "#6b6b6b"
EDGES_UP_TO = 3000  # past this many cells the edges would hide the colours
PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


# -- planes through the input space ---------------------------------------------------------

@dataclass
class PlaneSlice:
    """The plane ``x = point + s * directions[0] + t * directions[1]`` in R^d.

    ``axes`` holds the input indices (i, j) when the directions are the unit vectors e_i, e_j;
    then ``point[i] = point[j] = 0`` and (s, t) are the inputs x_i, x_j themselves.
    """

    point: np.ndarray
    directions: np.ndarray          # (2, d)
    axes: tuple[int, int] | None = None

    def to_x(self, st: np.ndarray) -> np.ndarray:
        """Points of the plane, rows (s, t) -> rows x.

        Example:
            >>> plane = PlaneSlice(np.array([0.0, 0.0, 5.0]), np.eye(3)[:2], (0, 1))
            >>> plane.to_x(np.array([[1.0, 2.0]])).tolist()
            [[1.0, 2.0, 5.0]]
        """
        return self.point + np.atleast_2d(st) @ self.directions

    def axis_labels(self, names: Sequence[str]) -> tuple[str, str]:
        if self.axes is not None:
            return names[self.axes[0]], names[self.axes[1]]
        return "s (along dir1)", "t (along dir2)"

    def describe(self, names: Sequence[str], digits: int = 4) -> str:
        """One line for captions, e.g. ``x1, x2 vary; x3 = 0.5``."""
        fmt = lambda v: number_text(v, digits)  # noqa: E731
        if self.axes is not None:
            fixed = [f"{n} = {fmt(v)}" for k, (n, v) in enumerate(zip(names, self.point)) if k not in self.axes]
            return f"{names[self.axes[0]]}, {names[self.axes[1]]} vary; " + ", ".join(fixed)
        vec = lambda v: "(" + ", ".join(fmt(a) for a in v) + ")"  # noqa: E731
        return (f"x = {vec(self.point)} + s * {vec(self.directions[0])} + t * {vec(self.directions[1])}")


def axis_plane(point: np.ndarray, i: int, j: int) -> PlaneSlice:
    """The plane through ``point`` where inputs i and j vary.

    Example:
        >>> axis_plane(np.array([1.0, 2.0, 3.0]), 0, 2).point.tolist()
        [0.0, 2.0, 0.0]
    """
    d = point.size
    p = np.asarray(point, dtype=np.float64).copy()
    p[[i, j]] = 0.0
    return PlaneSlice(p, np.eye(d)[[i, j]], (i, j))


def default_slice(domain: Domain) -> PlaneSlice:
    """Through the centre of the domain's bounding box, along the first two inputs that vary on it.

    Example:
        >>> default_slice(Domain.box([0, 5, 0], [1, 5, 2])).describe(["a", "b", "c"])
        'a, c vary; b = 5'
    """
    lo, hi = bounding_box(domain)
    free = [i for i in range(domain.d) if hi[i] - lo[i] > 0]
    if len(free) < 2:
        raise UserError(f"the domain ({domain.describe()}) varies along fewer than 2 inputs: no plane to draw")
    centre = (lo + hi) / 2
    if domain.kind == "polytope":
        from relucompile.numeric.lp import chebyshev_center
        hull = domain.hull()
        t, _ = chebyshev_center(hull.Gt, hull.gt)
        centre = hull.x0 + hull.U @ t
    return axis_plane(centre, free[0], free[1])


def parse_slice(text: str, d: int, domain: Domain) -> PlaneSlice:
    """``"point;dir1;dir2"``: comma-separated numbers, ``e3`` for the 3rd unit vector, and an empty
    point (or ``centre``) for the centre of the domain's box.

    Example:
        >>> parse_slice("0.5,0,0;e1;e3", 3, Domain.box([-1] * 3, [1] * 3)).describe(["a", "b", "c"])
        'a, c vary; b = 0'
        >>> parse_slice(";1,1,0;0,0,1", 3, Domain.box([-1] * 3, [1] * 3)).axes is None
        True
    """
    parts = text.split(";")
    if len(parts) != 3:
        raise UserError(f"--slice {text!r}: expected 'point;dir1;dir2' (three parts separated by ';')")
    lo, hi = bounding_box(domain)
    point_text = parts[0].strip()
    point = (lo + hi) / 2 if point_text.lower() in ("", "centre", "center") else _vector(point_text, d, "point")
    dirs = []
    for k, part in enumerate(parts[1:], start=1):
        part = part.strip()
        if part[:1].lower() == "e" and part[1:].isdigit():
            i = int(part[1:])
            if not 1 <= i <= d:
                raise UserError(f"--slice: dir{k} {part!r} names input {i}, but the model has inputs 1..{d}")
            dirs.append(np.eye(d)[i - 1])
        else:
            dirs.append(_vector(part, d, f"dir{k}"))
    D = np.array(dirs)
    if np.linalg.matrix_rank(D) < 2:
        raise UserError("--slice: the two directions are parallel (or zero): they must span a plane")
    axes = [np.nonzero(v)[0] for v in D]
    if all(a.size == 1 for a in axes) and all(v[a[0]] == 1.0 for v, a in zip(D, axes)):
        return axis_plane(point, int(axes[0][0]), int(axes[1][0]))
    return PlaneSlice(point, D, None)


def _vector(text: str, d: int, what: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"--slice: {what} {text!r} is not a list of numbers") from None
    if len(values) != d or not all(math.isfinite(v) for v in values):
        raise UserError(f"--slice: {what} needs {d} finite numbers (the model's inputs), got {text!r}")
    return np.array(values)


def slice_network(net: ReluNet, plane: PlaneSlice) -> ReluNet:
    """The network on the plane: a ReLU network of (s, t) with the same hidden units.

    Every weight block W that reads the input x becomes ``W @ directions.T`` with the bias
    ``+ W @ point``; nothing else changes, so the cells of the result are exactly the cells of
    ``net`` cut by the plane.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> net = random_mlp(4, [5], 2, seed=1)
        >>> plane = PlaneSlice(np.array([0.1, 0.2, 0.3, 0.4]), np.eye(4)[[0, 2]])
        >>> st = np.array([[0.5, -0.25]])
        >>> bool(np.allclose(slice_network(net, plane).forward(st), net.forward(plane.to_x(st))))
        True
    """
    def restrict(layer: AffineLayer) -> AffineLayer:
        weights, bias = {}, np.asarray(layer.bias, dtype=np.float64).copy()
        for b, W in layer.weights.items():
            W = np.asarray(W, dtype=np.float64)
            if b == 0:
                weights[0] = W @ plane.directions.T
                bias = bias + W @ plane.point
            else:
                weights[b] = W
        return AffineLayer(weights, bias)

    return ReluNet(2, [restrict(layer) for layer in net.layers], restrict(net.output), (1, 2),
                   net.output_shape, False, net.source, net.source_sha256, net.signature)


def slice_domain(domain: Domain, plane: PlaneSlice) -> Domain:
    """The plane's part of the domain, in (s, t): a box when the plane is axis-aligned.

    Example:
        >>> D = Domain.box([-1, -2, 0], [1, 2, 1])
        >>> slice_domain(D, axis_plane(np.array([0.0, 0.0, 0.5]), 0, 1)).describe()
        'box [-1, 1] x [-2, 2]'
    """
    G, g = domain.inequalities()
    if G.shape[0] == 0:
        raise UserError("a picture needs a bounded domain: give --box LO HI or --domain FILE")
    Gs, gs = G @ plane.directions.T, g - G @ plane.point
    flat = np.all(Gs == 0, axis=1)
    if np.any(gs[flat] < 0):
        raise UserError("the slice's plane misses the domain (its fixed coordinates lie outside it)")
    Gs, gs = Gs[~flat], gs[~flat]
    single = np.count_nonzero(Gs, axis=1) == 1
    if np.all(single):  # every row bounds s or t alone: a box
        lo, hi = np.full(2, -np.inf), np.full(2, np.inf)
        for row, rhs in zip(Gs, gs):
            k = int(np.nonzero(row)[0][0])
            bound = rhs / row[k]
            if row[k] > 0:
                hi[k] = min(hi[k], bound)
            else:
                lo[k] = max(lo[k], bound)
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            if np.any(lo >= hi):
                raise UserError("the slice's plane meets the domain in less than a 2-D region")
            return Domain.box(lo, hi)
    try:
        D = Domain.polytope(Gs, gs)
    except UserError:
        raise UserError("the slice's plane misses the domain") from None
    if D.hull().k < 2:
        raise UserError("the slice's plane meets the domain in less than a 2-D region")
    return D


def bounding_box(domain: Domain) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corner of the domain's bounding box, the picture's window
    (:func:`relucompile.analysis.cells.bounding_box`; UserError if the domain is unbounded).

    Example:
        >>> [v.tolist() for v in bounding_box(Domain.polytope([[1, 1], [-1, 0], [0, -1]], [1, 0, 0]))]
        [[0.0, 0.0], [1.0, 1.0]]
    """
    if domain.kind == "reals":
        raise UserError("a picture needs a bounded domain: give --box LO HI or --domain FILE")
    lo, hi = cell_geometry.bounding_box(domain)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise UserError(f"the domain ({domain.describe()}) is unbounded: a picture needs a bounded domain")
    return lo, hi


# -- 2-D partitions -------------------------------------------------------------------------

@dataclass
class Partition2D:
    """The cells of a 2-input network over a bounded 2-D domain, ready to draw."""

    net: ReluNet
    regions: RegionSet
    polygons: list[np.ndarray]          # per cell: (k, 2) vertices in order (empty if clipped away)
    colours: np.ndarray                 # per cell: index into the palette
    lower: np.ndarray                   # the drawing window
    upper: np.ndarray
    level_sets: list[list[np.ndarray]] = field(default_factory=list)  # per output: (2, 2) segments
    decision: str | None = None                                         # "argmax", "argmin" or None
    decision_boundary: list[np.ndarray] = field(default_factory=list)   # (2, 2) segments
    decision_regions: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (winning output, polygon)

    def rgb(self, cell: int) -> str:
        """The cell's colour as ``#rrggbb``."""
        return palette(int(self.colours.max(initial=0)) + 1)[int(self.colours[cell])]

    def areas(self) -> np.ndarray:
        """Each cell's area (shoelace formula on its polygon)."""
        return np.array([polygon_area(p) for p in self.polygons])


def palette(n: int) -> list[str]:
    """``n`` colours: :data:`PALETTE`, then light colours spread around the hue circle.

    Example:
        >>> palette(2), len(set(palette(40)))
        (['#8dd3c7', '#ffffb3'], 40)
    """
    import colorsys
    out = list(PALETTE[:n])
    k = 0
    while len(out) < n:
        r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.35 + 0.2 * (k % 3) / 2, 0.95)
        colour = "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))
        if colour not in out:
            out.append(colour)
        k += 1
    return out


def partition_2d(net: ReluNet, domain: Domain, *, regions: RegionSet | None = None,
                 pixel_gap: float | None = None, limits: Limits | None = None,
                 decision: str | None = None) -> Partition2D:
    """Enumerate (unless ``regions`` is given), clip every cell to a polygon, colour, find level sets
    (and with ``decision`` = "argmax" or "argmin", where the largest or smallest output changes).

    ``pixel_gap`` (data units) is the distance below which two cells count as neighbours for the
    colouring; the default is 1/200 of the window's larger side (two pixels of a 400-pixel plot).
    """
    if decision not in (None, "argmax", "argmin"):
        raise UserError(f"unknown decision rule {decision!r}: choose argmax or argmin")
    if net.d != 2 or domain.d != 2:
        raise UserError(f"a partition picture needs 2 inputs, the network has {net.d}: use a slice")
    lo, hi = bounding_box(domain)
    if regions is None:
        regions = enumerate_regions(net, domain, limits=limits)
    polygons = [cell_polygon(regions, cell, lo, hi) for cell in checked(regions.cells)]
    gap = pixel_gap if pixel_gap is not None else float(np.max(hi - lo)) / 200
    colours = colour_cells(polygons, gap)
    level_sets = [[seg for cell, poly in checked(zip(regions.cells, polygons))
                   if (seg := _zero_segment(poly, cell.A[j], float(cell.c[j]))) is not None]
                  for j in range(net.m)]
    boundary = decision_segments(regions, polygons, decision) if decision and net.m >= 2 else []
    winners = decision_pieces(regions, polygons, decision) if decision and net.m >= 2 else []
    return Partition2D(net, regions, polygons, colours, lo, hi, level_sets, decision if net.m >= 2 else None,
                       boundary, winners)


def decision_pieces(regions: RegionSet, polygons: Sequence[np.ndarray], decision: str) -> list[tuple[int, np.ndarray]]:
    """Each cell cut into the pieces where one output wins (the largest for "argmax", the smallest
    for "argmin"): inside a cell the outputs are affine, so output i wins on the convex polygon
    where it beats every other output.  Returns (output index, polygon) pairs of positive area.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(2, [AffineLayer({0: np.eye(2)}, np.zeros(2))],
        ...               AffineLayer({1: np.eye(2)}, np.zeros(2)))      # (relu(x1), relu(x2))
        >>> regions = enumerate_regions(net, Domain.box([0, 0], [1, 1]))
        >>> polys = [cell_polygon(regions, c, np.zeros(2), np.ones(2)) for c in regions.cells]
        >>> sorted((k, polygon_area(p)) for k, p in decision_pieces(regions, polys, "argmax"))
        [(0, 0.5), (1, 0.5)]
    """
    sign = 1.0 if decision == "argmax" else -1.0
    out = []
    for cell, poly in zip(regions.cells, polygons):
        if len(poly) < 3:
            continue
        A, c = sign * cell.A, sign * cell.c
        for i in range(A.shape[0]):
            piece = [p for p in poly]
            for j in range(A.shape[0]):
                if j != i and piece:
                    piece = clip_polygon(piece, A[i] - A[j], float(c[i] - c[j]))
            if len(piece) >= 3 and polygon_area(np.array(piece)) > 0:
                out.append((i, np.array(piece)))
    return out


def decision_labels(pieces: Sequence[tuple[int, np.ndarray]], window_area: float,
                    min_share: float = 0.005) -> list[tuple[int, np.ndarray]]:
    """Where to write the winning output's name: one (output, point) per connected decision region
    (pieces of the same winner that touch) covering at least ``min_share`` of the window, at the
    centroid of the region's largest piece (inside it: the pieces are convex).

    Example:
        >>> square = lambda x: np.array([[x, 0], [x + 1, 0], [x + 1, 1], [x, 1]], float)
        >>> [(k, p.tolist()) for k, p in decision_labels([(0, square(0)), (0, square(1)), (1, square(3))], 4.0)]
        [(0, [0.5, 0.5]), (1, [3.5, 0.5])]
    """
    if not pieces:
        return []
    polys = [p for _, p in pieces]
    areas = np.array([polygon_area(p) for p in polys])
    parent = list(range(len(pieces)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    scale = max(float(np.abs(np.vstack(polys)).max(initial=0.0)), TINY)
    touch = GEOMETRIC_TOL * scale
    a, b = candidate_pairs(polys, touch)
    if a.size:
        close = polygon_distances(polys, a, b) <= touch
        for i, j in zip(a[close].tolist(), b[close].tolist()):
            if pieces[i][0] == pieces[j][0]:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for k in range(len(pieces)):
        groups.setdefault(find(k), []).append(k)
    labels = []
    for members in groups.values():
        if areas[members].sum() >= min_share * window_area:
            biggest = max(members, key=lambda k: (areas[k], -k))
            labels.append((min(members), pieces[biggest][0], polygon_centroid(polys[biggest])))
    return [(winner, point) for _, winner, point in sorted(labels, key=lambda t: t[0])]


def polygon_centroid(poly: np.ndarray) -> np.ndarray:
    """The centroid of a convex polygon (area-weighted).

    Example:
        >>> polygon_centroid(np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float)).tolist()
        [1.0, 0.5]
    """
    x, y = poly[:, 0], poly[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if area == 0:
        return poly.mean(axis=0)
    return np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (6 * area)


def decision_segments(regions: RegionSet, polygons: Sequence[np.ndarray], decision: str) -> list[np.ndarray]:
    """Segments where the largest ("argmax") or smallest ("argmin") output changes, cell by cell:
    inside a cell the outputs are affine, so outputs i and k tie on a line, and the tie is a
    decision boundary where both beat every other output.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(2, [AffineLayer({0: np.eye(2)}, np.zeros(2))],
        ...               AffineLayer({1: np.eye(2)}, np.zeros(2)))      # (relu(x1), relu(x2))
        >>> regions = enumerate_regions(net, Domain.box([0, 0], [1, 1]))
        >>> polys = [cell_polygon(regions, c, np.zeros(2), np.ones(2)) for c in regions.cells]
        >>> [np.round(s, 9).tolist() for s in decision_segments(regions, polys, "argmax")]
        [[[0.0, 0.0], [1.0, 1.0]]]
    """
    sign = 1.0 if decision == "argmax" else -1.0
    out = []
    for cell, poly in checked(zip(regions.cells, polygons)):
        if len(poly) < 3:
            continue
        A, c = sign * cell.A, sign * cell.c
        m = A.shape[0]
        for i in range(m):
            for k in range(i + 1, m):
                piece = [p for p in poly]
                for j in range(m):
                    if j in (i, k):
                        continue
                    piece = clip_polygon(piece, A[i] - A[j], float(c[i] - c[j]))
                    if piece:
                        piece = clip_polygon(piece, A[k] - A[j], float(c[k] - c[j]))
                    if not piece:
                        break
                if len(piece) >= 3:
                    seg = _zero_segment(np.array(piece), A[i] - A[k], float(c[i] - c[k]))
                    if seg is not None and np.linalg.norm(seg[1] - seg[0]) > 0:
                        out.append(seg)
    return out


def _zero_segment(poly: np.ndarray, a: np.ndarray, c: float) -> np.ndarray | None:
    """The segment where ``a . x + c = 0`` inside the convex polygon (None if it misses it)."""
    if len(poly) < 3 or not np.any(a):
        return None
    v = poly @ a + c
    points = [poly[i] for i in range(len(poly)) if v[i] == 0]
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if (v[i] < 0 < v[j]) or (v[j] < 0 < v[i]):
            points.append(poly[i] + (poly[j] - poly[i]) * (v[i] / (v[i] - v[j])))
    if len(points) < 2:
        return None
    pts = np.array(points)
    along = pts @ np.array([-a[1], a[0]])
    return np.array([pts[np.argmin(along)], pts[np.argmax(along)]])


def colour_cells(polygons: Sequence[np.ndarray], gap: float) -> np.ndarray:
    """Palette index per cell so that cells closer than ``gap`` get different indices.

    Greedy colouring, largest number of neighbours first (ties by cell id): deterministic.

    Example:
        >>> squares = [np.array([[x, 0], [x + 1, 0], [x + 1, 1], [x, 1]], float) for x in range(3)]
        >>> colour_cells(squares, 0.01).tolist()
        [1, 0, 1]
    """
    n = len(polygons)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    a, b = candidate_pairs(polygons, gap)
    check_time()
    if a.size:
        close = polygon_distances(polygons, a, b) < gap
        check_time()
        for i, j in zip(a[close].tolist(), b[close].tolist()):
            neighbours[i].add(j)
            neighbours[j].add(i)
    order = sorted(range(n), key=lambda k: (-len(neighbours[k]), k))
    colours = np.full(n, -1, dtype=np.int64)
    for k in checked(order):
        used = {int(colours[j]) for j in neighbours[k]}
        colours[k] = next(c for c in range(n + 1) if c not in used)
    return np.maximum(colours, 0)


def candidate_pairs(polygons: Sequence[np.ndarray], gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b) of polygons whose bounding boxes, widened by ``gap``, meet: found through a
    uniform grid of buckets, so the work grows with the number of cells, not its square.

    Example:
        >>> squares = [np.array([[x, 0], [x + 1, 0], [x + 1, 1], [x, 1]], float) for x in range(3)]
        >>> [v.tolist() for v in candidate_pairs(squares, 0.01)]
        [[0, 1], [1, 2]]
    """
    live = [k for k, p in enumerate(polygons) if len(p)]
    if len(live) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boxes = np.array([np.concatenate([polygons[k].min(axis=0) - gap, polygons[k].max(axis=0) + gap]) for k in live])
    lo, hi = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
    size = float(np.max(hi - lo)) / max(1.0, math.sqrt(len(live)))
    first = np.floor((boxes[:, :2] - lo) / size).astype(np.int64)
    last = np.floor((boxes[:, 2:] - lo) / size).astype(np.int64)
    buckets: dict[tuple[int, int], list[int]] = {}
    for k, (f, l) in enumerate(zip(first.tolist(), last.tolist())):
        for u in range(f[0], l[0] + 1):
            for v in range(f[1], l[1] + 1):
                buckets.setdefault((u, v), []).append(k)
    pairs = set()
    for members in buckets.values():
        for i, p in enumerate(members):
            for q in members[i + 1:]:
                pairs.add((p, q))
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pa, pb = np.array(sorted(pairs)).T
    meet = np.all(boxes[pa, :2] <= boxes[pb, 2:], axis=1) & np.all(boxes[pb, :2] <= boxes[pa, 2:], axis=1)
    ids = np.array(live)
    return ids[pa[meet]], ids[pb[meet]]


def polygon_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Smallest distance between two convex polygons that do not overlap (vertex-to-edge).

    Example:
        >>> a = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
        >>> polygon_distance(a, a + [3, 0]), polygon_distance(a, a + [1, 1])
        (2.0, 0.0)
    """
    return float(polygon_distances([p, q], np.array([0]), np.array([1]))[0])


def polygon_distances(polygons: Sequence[np.ndarray], a: np.ndarray, b: np.ndarray,
                      chunk: int = 20_000) -> np.ndarray:
    """Vertex-to-edge distance between polygons a[i] and b[i] for every pair, vectorised.

    Polygons are padded to a common vertex count by repeating their last vertex (a zero-length
    edge adds only a vertex that is already there).
    """
    k = max(len(p) for p in polygons)
    padded = np.array([np.vstack([p, np.repeat(p[-1:], k - len(p), axis=0)]) if len(p) else np.zeros((k, 2))
                       for p in polygons])
    out = np.empty(a.size)
    for s in range(0, a.size, chunk):
        check_time()
        P, Q = padded[a[s:s + chunk]], padded[b[s:s + chunk]]
        out[s:s + chunk] = np.minimum(_points_to_edges(P, Q), _points_to_edges(Q, P))
    return out


def _points_to_edges(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(n,) smallest distance from the points of points[i] (k, 2) to the edges of poly[i]."""
    start, end = poly, np.roll(poly, -1, axis=1)
    edge = end - start                                                   # (n, k, 2)
    rel = points[:, :, None, :] - start[:, None, :, :]                   # (n, kp, k, 2)
    length2 = np.maximum(np.sum(edge * edge, axis=2), TINY)            # (n, k)
    t = np.clip(np.sum(rel * edge[:, None], axis=3) / length2[:, None], 0.0, 1.0)
    gap = rel - t[..., None] * edge[:, None]
    return np.sqrt(np.min(np.sum(gap * gap, axis=3), axis=(1, 2)))


# -- drawing ------------------------------------------------------------------------------

def new_figure(width: float = 8.0, height: float = 6.0):
    """A matplotlib Figure on the Agg canvas (no pyplot state, no display); constrained layout
    keeps labels and the legend outside the axes inside the figure."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("pictures need matplotlib: pip install 'relucompile[report]' (or pip install matplotlib)") from None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def draw_partition(ax, part: Partition2D, *, edges: bool = True, level_sets: bool = True,
                   antialiased: bool = True, output_names: Sequence[str] | None = None,
                   axis_labels: tuple[str, str] = ("x1", "x2")) -> None:
    """Fill every cell with its colour; draw cell edges, each output's zero level set and (if the
    partition has one) the decision boundary."""
    from matplotlib.collections import LineCollection, PolyCollection
    colours = palette(int(part.colours.max(initial=0)) + 1)
    polys = [p for p in part.polygons if len(p) >= 3]
    faces = [colours[int(c)] for p, c in zip(part.polygons, part.colours) if len(p) >= 3]
    ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors="none", linewidths=0,
                                     antialiaseds=antialiased))
    if edges and len(polys) <= EDGES_UP_TO:  # thinner edges for more cells; none past EDGES_UP_TO
        segs = [np.array([p[i], p[(i + 1) % len(p)]]) for p in polys for i in range(len(p))]
        width = 0.5 if len(polys) <= 300 else 0.25
        ax.add_collection(LineCollection(segs, colors=EDGE_COLOUR, linewidths=width, antialiaseds=antialiased))
    names = list(output_names) if output_names else default_names(part.net.m, "y")
    if part.decision and part.decision_boundary:
        ax.add_collection(LineCollection(part.decision_boundary, colors="#111111", linewidths=3.0,
                                         linestyles=(0, (4, 2)), antialiaseds=antialiased,
                                         label=f"{part.decision} changes"))
    if part.decision:
        window = float(np.prod(part.upper - part.lower))
        for winner, (s, t) in decision_labels(part.decision_regions, window):
            ax.text(s, t, names[winner], fontsize=11, fontweight="bold", ha="center", va="center", zorder=6,
                    color="white", bbox={"boxstyle": "round,pad=0.25", "facecolor": "#222222", "edgecolor": "none",
                                         "alpha": 0.85})
    if level_sets:
        for j, segs in enumerate(part.level_sets):
            if not segs:       # the legend lists only what is drawn; the caption names the others
                continue
            style = ("-", "--", "-.", ":")[(j // len(LEVEL_COLOURS)) % 4]
            ax.add_collection(LineCollection(segs, colors=LEVEL_COLOURS[j % len(LEVEL_COLOURS)], linewidths=1.8,
                                             linestyles=style, antialiaseds=antialiased, label=f"{names[j]} = 0"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    ax.set_xlim(part.lower[0], part.upper[0])
    ax.set_ylim(part.lower[1], part.upper[1])
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_aspect("auto")


def draw_function_1d(ax, net: ReluNet, regions: RegionSet, *, input_name: str = "x1",
                     output_names: Sequence[str] | None = None) -> dict:
    """Each output as a polyline through the cell boundaries, breakpoints marked.

    Returns ``{"breakpoints": [...], "pattern_changes": [...]}`` (x values where the slope of
    some output changes, and where only the pattern changes)."""
    ends = sorted(cell_interval(regions, cell) for cell in regions.cells)
    cells = sorted(range(len(regions.cells)), key=lambda k: cell_interval(regions, regions.cells[k]))
    xs = np.array([ends[0][0]] + [e[1] for e in ends])
    ys = net.forward(xs[:, None])
    breaks, same = [], []
    for left, right in zip(cells[:-1], cells[1:]):
        x = cell_interval(regions, regions.cells[right])[0]
        A1, A2 = regions.cells[left].A[:, 0], regions.cells[right].A[:, 0]
        scale = GEOMETRIC_TOL * max(1.0, float(np.abs(A1).max(initial=0)), float(np.abs(A2).max(initial=0)))
        (breaks if np.any(np.abs(A1 - A2) > scale) else same).append(x)
    names = list(output_names) if output_names else default_names(net.m, "y")
    for j in range(net.m):
        colour = LEVEL_COLOURS[j % len(LEVEL_COLOURS)]
        ax.plot(xs, ys[:, j], color=colour, linewidth=1.6, label=names[j])
        on_break = np.isin(xs, breaks)
        ax.plot(xs[on_break], ys[on_break, j], "o", color=colour, markersize=5)
        on_same = np.isin(xs, same)
        if np.any(on_same):
            ax.plot(xs[on_same], ys[on_same, j], "o", markerfacecolor="white", color=colour, markersize=5)
    for x in breaks:
        ax.axvline(x, color=EDGE_COLOUR, linewidth=0.5, linestyle=":")
    ax.axhline(0.0, color=EDGE_COLOUR, linewidth=0.6)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_xlabel(input_name)
    ax.set_ylabel("output")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return {"breakpoints": breaks, "pattern_changes": same}


@dataclass
class Picture:
    """A rendered figure and what it shows (for captions and reports)."""

    figure: object
    kind: str                       # "partition", "slice" or "function"
    caption: str
    title: str
    partition: Partition2D | None = None
    regions: RegionSet | None = None
    plane: PlaneSlice | None = None


def picture(net: ReluNet, domain: Domain, plane: PlaneSlice | None = None, *, regions: RegionSet | None = None,
            input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
            edges: bool = True, level_sets: bool = True, antialiased: bool = True,
            decision: str | None = None, size: tuple[float, float] = (8.0, 6.0),
            limits: Limits | None = None) -> Picture:
    """The picture that fits the input dimension: function (d = 1), partition (d = 2), slice (d > 2).

    ``regions`` (the cells of ``net`` over ``domain``) skips the enumeration for d <= 2;
    ``decision`` ("argmax" or "argmin", 2-D pictures of m >= 2 outputs) also draws where the
    largest (smallest) output changes: a classifier's decision boundary.
    """
    names = list(input_names) if input_names else default_names(net.d, "x")
    outs = list(output_names) if output_names else default_names(net.m, "y")
    fig = new_figure(*size)
    ax = fig.add_subplot()
    hull = domain.hull()
    if net.d == 1:
        bounding_box(domain)
        if hull.k < 1:
            raise UserError(f"the domain ({domain.describe()}) is a single point: nothing to draw")
        if regions is None:
            regions = enumerate_regions(net, domain, limits=limits)
        info = draw_function_1d(ax, net, regions, input_name=names[0], output_names=outs)
        title = f"{plural(len(regions), 'cell')}, {plural(len(info['breakpoints']), 'breakpoint')}"
        ax.set_title(title, fontsize=10)
        caption = (f"The function on {domain.describe()}: filled dots mark the "
                   f"{plural(len(info['breakpoints']), 'breakpoint')} "
                   f"where the slope changes" + (f"; open dots the {len(info['pattern_changes'])} pattern changes "
                                                 "where it does not" if info["pattern_changes"] else "") + ".")
        return Picture(fig, "function", caption, title, None, regions, None)
    if net.d == 2 and plane is None:
        if hull.k < 2:
            raise UserError(f"the domain ({domain.describe()}) is lower-dimensional: nothing 2-D to draw")
        part = partition_2d(net, domain, regions=regions, limits=limits, decision=decision)
        kind, labels, what = "partition", (names[0], names[1]), f"{domain.describe()}"
    else:
        plane = plane or default_slice(domain)
        flat = slice_network(net, plane)
        part = partition_2d(flat, slice_domain(domain, plane), limits=limits, decision=decision)
        kind, labels, what = "slice", plane.axis_labels(names), f"the plane {plane.describe(names)}"
    draw_partition(ax, part, edges=edges, level_sets=level_sets, antialiased=antialiased,
                   output_names=outs, axis_labels=labels)
    title = f"{plural(len(part.regions), 'cell')} on {what}"
    ax.set_title(title, fontsize=10)
    caption = (f"The {plural(len(part.regions), 'activation cell')} on {what}, one colour per cell (neighbours differ); "
               "on each cell the network is one affine map."
               + (" Lines: the zero level set of each output (where it changes sign: the decision boundary of a "
                  "sign or threshold classifier)." if level_sets and any(part.level_sets) else "")
               + (never_zero_note(part, outs) if level_sets else "")
               + (decision_note(part, outs) if part.decision else ""))
    return Picture(fig, kind, caption, title, part, part.regions, plane)


def never_zero_note(part: Partition2D, names: Sequence[str]) -> str:
    """The caption's words for outputs whose zero level set misses the picture (nothing drawn).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> net = random_mlp(2, [3], 2, seed=0)
        >>> part = partition_2d(net, Domain.box([-1, -1], [1, 1]))
        >>> part.level_sets = [[], [np.zeros((2, 2))]]       # no zero of a, one segment of b
        >>> never_zero_note(part, ["a", "b"])
        ' a is never 0 here (no line).'
    """
    missing = [names[j] for j, segs in enumerate(part.level_sets) if not segs]
    if not missing:
        return ""
    verb = "is" if len(missing) == 1 else "are"
    return f" {', '.join(missing)} {verb} never 0 here (no line)."


def decision_note(part: Partition2D, names: Sequence[str]) -> str:
    """The caption's words for the decision regions: the rule, the boundary and the winners' names."""
    rule = "largest" if part.decision == "argmax" else "smallest"
    winners = sorted({k for k, _ in part.decision_regions})
    text = (f" Dark labels name the output that is the {rule} ({part.decision}) in each decision region"
            f" ({', '.join(names[k] for k in winners)})")
    if part.decision_boundary:
        return text + "; thick dashes: where the winner changes (the decision boundary)."
    return text + f"; the {part.decision} does not change here."


def label_cells(pic: Picture, cells: Sequence[int]) -> None:
    """Write each cell's id at its interior point (the centre of its largest inscribed ball), so a
    table of cells can be matched with the picture.  Only for partition and slice pictures.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> pic = picture(random_mlp(2, [3], 1, seed=0), Domain.box([-1, -1], [1, 1]))
        >>> label_cells(pic, [0, 1]); len(pic.figure.axes[0].texts)
        2
    """
    if pic.partition is None:
        return
    ax = pic.figure.axes[0]
    for k in cells:
        s, t = pic.partition.regions.cells[k].interior
        ax.text(s, t, str(k), fontsize=8, ha="center", va="center", zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def plural(n: int, word: str) -> str:
    """``1 cell``, ``2 cells``, ``12,000 cells``.

    Example:
        >>> plural(1, "cell"), plural(12000, "breakpoint")
        ('1 cell', '12,000 breakpoints')
    """
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def figure_bytes(fig, fmt: str = "png", dpi: int = 100) -> bytes:
    """The figure encoded as PNG (or SVG/PDF)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def render_png(net: ReluNet, domain: Domain, plane: PlaneSlice | None = None, **options) -> bytes:
    """PNG bytes of :func:`picture` (options as there, plus ``dpi``)."""
    dpi = options.pop("dpi", 100)
    return figure_bytes(picture(net, domain, plane, **options).figure, "png", dpi)


def plot_format(path: str) -> str:
    """The image format implied by the file name (.png, .svg, .pdf).

    Example:
        >>> plot_format("partition.png")
        'png'
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in PLOT_FORMATS:
        raise UserError(f"{path}: unknown picture format {ext or '(none)'!r}; use .png, .svg or .pdf")
    return PLOT_FORMATS[ext]
