"""Cheap certificates that decide most rows of a cell's H-representation without an LP.

Region enumeration removes redundant inequalities from every final cell (docs/design.md section 1).
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
  that the cell is bounded; a hull facet n.p <= -o with o >= 0 and A n <= 0 shows it is not.

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

from functools import cache
from typing import Any

import numpy as np
from relucompile.numeric.tolerances import FACET_MARGIN_FLOOR, GEOMETRIC_TOL, ROUNDING_NOISE


@cache
def _qhull() -> Any:
    """scipy.spatial (qhull gives the vertices), imported on first use: it costs ~0.3 s of start-up
    that a command which never enumerates (verify, bounds) should not pay. None without scipy:
    then every row not shown a facet by a witness gets its LP."""
    try:
        import scipy.spatial
    except ImportError:  # pragma: no cover - scipy is optional
        return None
    return scipy.spatial

FACET, REDUNDANT, UNDECIDED = 1, -1, 0
UNBOUNDED = "unbounded"


MAX_HULL_DIM = 8
"""Vertices by qhull only up to this dimension: its cost grows fast with it (measured per cell:
d4 ~40 us, d8 10x10 ~600 us, still half the ~22 LPs per cell it saves there)."""


def facet_certificates(A: np.ndarray, b: np.ndarray, centre: np.ndarray,
                       tol: float, max_hull_dim: int = MAX_HULL_DIM) -> tuple[np.ndarray, bool | None]:
    """Per row of ``A t <= b`` (unit-length rows, ``centre`` strictly inside): FACET, REDUNDANT
    or UNDECIDED (int8); and True/False if the polytope is shown bounded/unbounded, else None.

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
    if slack.min() <= 0:
        return verdict, None
    margin = max(1e3 * tol, FACET_MARGIN_FLOOR)
    use_hull = _qhull() is not None and 2 <= k <= max_hull_dim and n > k
    found = _vertices(A, b, centre, slack) if use_hull else None
    if found is None or found is UNBOUNDED:
        _shoot(A, slack, A, margin, verdict)
        return verdict, (False if found is UNBOUNDED else None)
    vertices, vals = found
    touching = vals > -margin                         # (rows, vertices)
    counts = touching.sum(axis=1)
    verdict[counts == 0] = REDUNDANT                  # strictly inside at every vertex
    rows = np.flatnonzero(counts)
    if rows.size:
        centroids = (touching[rows] @ vertices) / counts[rows, None]
        _shoot(A, slack, centroids - centre, margin, verdict)
        left = np.flatnonzero(verdict == UNDECIDED)
        if left.size:
            _shoot(A, slack, A[left], margin, verdict)
    return verdict, True


def _shoot(A: np.ndarray, slack: np.ndarray, U: np.ndarray, margin: float, verdict: np.ndarray) -> None:
    """Rays c + t u (rows u of U): mark FACET the first row hit when it is violated alone by more
    than ``margin`` before the second row is hit (a witness point)."""
    AU = A @ U.T                                      # (rows, rays)
    with np.errstate(divide="ignore", invalid="ignore"):
        T = np.where(AU > ROUNDING_NOISE, slack[:, None] / AU, np.inf)
    if T.shape[0] < 2:
        gain = np.where(np.isfinite(T[0]), 1.0, 0.0)
        first = np.zeros(T.shape[1], dtype=int)
    else:
        cols = np.arange(T.shape[1])
        first = T.argmin(axis=0)
        t1 = T[first, cols]
        t2 = np.partition(T, 1, axis=0)[1]
        with np.errstate(invalid="ignore"):
            gain = np.where(np.isfinite(t1), (t2 - t1) * AU[first, cols], 0.0)
    hits = first[gain > margin]
    verdict[hits[verdict[hits] == UNDECIDED]] = FACET


def _hull_equations(points: np.ndarray) -> np.ndarray:
    """Facet equations ``n.p + o <= 0`` of the convex hull (qhull, triangulated)."""
    try:
        from scipy.spatial._qhull import _Qhull  # the bare hull: ConvexHull adds ~30% of set-up
        qhull = _Qhull(b"i", points, b"", required_options=b"Qt")
        try:
            return qhull.get_simplex_facet_array()[2]
        finally:
            qhull.close()
    except ImportError:  # pragma: no cover - another scipy layout
        return _qhull().ConvexHull(points).equations


def _vertices(A: np.ndarray, b: np.ndarray, centre: np.ndarray,
              slack: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The vertices of the bounded polytope ``A t <= b`` (with repeats) and the rows' values
    ``A v - b`` there; UNBOUNDED with a direction of recession as proof; None when qhull
    fails, or a computed vertex violates a row."""
    polar = A / slack[:, None]
    try:
        eq = _hull_equations(polar)
    except (_qhull().QhullError, ValueError):
        return None
    offsets = eq[:, -1]
    if offsets.max() >= -GEOMETRIC_TOL * np.abs(polar).max():
        # the origin is not strictly inside the polar hull: a facet n.p + o <= 0 with o >= 0 has
        # a_j . n <= 0 for every row, so n is a direction of recession if that holds exactly
        for n in eq[offsets >= 0, :-1]:
            if (A @ n).max() <= 0.0 and np.abs(n).max() > 0.0:
                return UNBOUNDED
        return None
    V = centre + eq[:, :-1] / (-offsets)[:, None]
    vals = A @ V.T - b[:, None]
    if not np.isfinite(vals).all() or vals.max() > GEOMETRIC_TOL * (1.0 + np.abs(b).max() + np.abs(V).max()):
        return None
    return V, vals
