"""Cheap certificates that decide most rows of a cell's H-representation without an LP.

Region enumeration removes redundant inequalities from every final cell (DESIGN.md section 1).
The exact test for row i is one LP ("relax row i, maximise its violation"); this module decides
most rows from geometry that costs one small convex hull and a few matrix products:

* **Facet (irredundant)**: a *witness* point that violates row i by more than ``margin`` while
  satisfying every other row proves that row i is a facet.  Witnesses come from rays shot from
  the Chebyshev centre c: along c + t u the first row hit (with a gap to the second) is
  violated alone between the two hits.  Directions: each row's normal, and the direction from
  c to the centroid of the vertices on each row.
* **Redundant**: a row strictly satisfied (by more than ``margin``) at every vertex of a bounded
  cell is strictly satisfied on the whole cell, hence redundant.  The vertices come from the
  polar dual: with slacks s_j = b_j - a_j.c > 0, the rows are the points a_j / s_j, whose convex
  hull's facets n.p <= -o are the cell's vertices v = c + n / (-o) (qhull; the vertices are
  checked to satisfy every row).  The polar hull containing the origin strictly also shows
  that the cell is bounded.

Rows whose certificate falls within ``margin`` of the threshold (slivers, duplicate or
touching hyperplanes) stay undecided and go to the LP, so decisions equal the LP's.

Example:
    >>> A = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [0.6, 0.8]])
    >>> b = np.array([1.0, 1, 1, 1, 5])      # the unit square and a far-away row
    >>> verdict, bounded = facet_certificates(A, b, np.zeros(2), 1e-8)
    >>> verdict.tolist(), bounded
    ([1, 1, 1, 1, -1], True)
"""
from __future__ import annotations

import numpy as np

FACET, REDUNDANT, UNDECIDED = 1, -1, 0


MAX_HULL_DIM = 6
"""Vertices by qhull only up to this dimension: its cost grows fast with it (d8 cells: ~1.3 ms,
more than the LPs it saves)."""


def facet_certificates(A: np.ndarray, b: np.ndarray, centre: np.ndarray,
                       tol: float, max_hull_dim: int = MAX_HULL_DIM) -> tuple[np.ndarray, bool | None]:
    """Per row of ``A t <= b`` (unit-length rows, ``centre`` strictly inside): FACET, REDUNDANT
    or UNDECIDED (int8); and True if the polytope is shown bounded, else None.

    Example:
        >>> A = np.array([[1.0, 0], [1.0, 0], [-1, 0], [0, 1], [0, -1]])   # a duplicate row
        >>> facet_certificates(A, np.ones(5), np.zeros(2), 1e-8)[0].tolist()
        [0, 0, 1, 1, 1]
    """
    n, k = A.shape
    verdict = np.zeros(n, dtype=np.int8)
    if n == 0:
        return verdict, None
    slack = b - A @ centre
    if not np.all(slack > 0):
        return verdict, None
    margin = max(1e3 * tol, 1e-10)
    directions = [A]
    bounded = None
    vertices = _vertices(A, b, centre, slack) if 2 <= k <= max_hull_dim and n > k else None
    if vertices is not None:
        bounded = True
        vals = A @ vertices.T - b[:, None]            # (rows, vertices), all <= ~0
        verdict[vals.max(axis=1) < -margin] = REDUNDANT
        touching = vals > -margin
        counts = touching.sum(axis=1)
        has = (counts > 0) & (verdict == UNDECIDED)
        if np.any(has):
            centroids = (touching[has] @ vertices) / counts[has, None]
            directions.append(centroids - centre)
    U = np.vstack(directions)
    AU = A @ U.T                                      # (rows, directions)
    with np.errstate(divide="ignore", invalid="ignore"):
        T = np.where(AU > 1e-12, slack[:, None] / AU, np.inf)
    if n >= 2:
        order = np.argpartition(T, 1, axis=0)[:2]
        cols = np.arange(T.shape[1])
        first, second = order[0], order[1]
        t1, t2 = T[first, cols], T[second, cols]
        swap = t2 < t1
        first, t1, t2 = np.where(swap, second, first), np.minimum(t1, t2), np.maximum(t1, t2)
        gain = np.minimum((t2 - t1) * AU[first, cols], 1.0)
    else:
        first = np.zeros(T.shape[1], dtype=int)
        gain = np.where(np.isfinite(T[0]), 1.0, 0.0)
    ok = np.isfinite(t1) if n >= 2 else np.ones(T.shape[1], bool)
    ok &= gain > margin
    hits = np.unique(first[ok])
    hits = hits[verdict[hits] == UNDECIDED]
    verdict[hits] = FACET
    return verdict, bounded


def _vertices(A: np.ndarray, b: np.ndarray, centre: np.ndarray, slack: np.ndarray) -> np.ndarray | None:
    """The vertices of the bounded polytope ``A t <= b`` (with repeats), or None when qhull
    fails, the polytope may be unbounded, or a computed vertex violates a row."""
    from scipy.spatial import ConvexHull, QhullError
    polar = A / slack[:, None]
    try:
        hull = ConvexHull(polar)
    except (QhullError, ValueError):
        return None
    eq = hull.equations
    offsets = eq[:, -1]
    scale = np.abs(polar).max()
    if not np.all(offsets < -1e-9 * scale):
        return None
    V = centre + eq[:, :-1] / (-offsets)[:, None]
    if not np.all(np.isfinite(V)):
        return None
    residual = A @ V.T - b[:, None]
    if residual.max() > 1e-9 * (1.0 + np.abs(b).max() + np.abs(V).max()):
        return None
    return V
