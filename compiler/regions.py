"""Activation regions (cells) and the hyperplanes that bound them.

A :class:`RegionSet` is the result of region enumeration (DESIGN.md section 1): every
full-dimensional cell of the domain with its activation pattern, effective affine map
``f(x) = A x + c``, irredundant inequalities, an interior point and whether it is bounded.

Hyperplanes are identified *structurally*: a unit's hyperplane is keyed by
(layer, unit, pattern of the earlier layers), a domain facet by its row; two cells that share
a facet refer to the same :class:`Hyperplane` object by index.  A cell's facet ``(h, s)`` means
``s * (w_h . x + b_h) >= 0`` holds on the cell.

Example:
    >>> from compiler.network import ReluNet, AffineLayer
    >>> from compiler.domain import Domain
    >>> from compiler.enumerate import enumerate_regions
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
    ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
    >>> regions = enumerate_regions(net, Domain.box([-1], [1]))
    >>> len(regions), [c.A.tolist() for c in regions.cells]
    (2, [[[1.0]], [[0.0]]])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from compiler.domain import Domain


@dataclass
class Hyperplane:
    """h(x) = w . x + b; ``key`` is ('unit', layer, index, prefix pattern bytes) or ('domain', row)."""

    key: tuple
    w: np.ndarray
    b: float

    @property
    def kind(self) -> str:
        return self.key[0]


@dataclass
class Cell:
    pattern: np.ndarray               # bool per unit (all layers concatenated), True = on
    A: np.ndarray                     # (m, d) effective weights
    c: np.ndarray                     # (m,)  effective bias
    facets: list[tuple[int, int]]     # (hyperplane index, side s in {+1, -1})
    interior: np.ndarray              # (d,) a point in the relative interior
    radius: float                     # Chebyshev radius inside the domain's affine hull
    bounded: bool


@dataclass
class RegionSet:
    """All cells of one network over one domain, sharing a hyperplane table."""

    domain: Domain
    d: int
    m: int
    widths: list[int]
    cells: list[Cell] = field(default_factory=list)
    hyperplanes: list[Hyperplane] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    _index: dict[tuple, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.cells)

    def __iter__(self) -> Iterator[Cell]:
        return iter(self.cells)

    def hyperplane_index(self, key: tuple, w: np.ndarray, b: float) -> int:
        """Index of the hyperplane with ``key``, registering it on first sight."""
        i = self._index.get(key)
        if i is None:
            i = len(self.hyperplanes)
            self._index[key] = i
            self.hyperplanes.append(Hyperplane(key, np.asarray(w, dtype=np.float64), float(b)))
        return i

    def used_hyperplanes(self) -> list[int]:
        """Indices of hyperplanes that are a facet of at least one cell, in first-use order."""
        seen: dict[int, None] = {}
        for cell in self.cells:
            for h, _ in cell.facets:
                seen.setdefault(h, None)
        return list(seen)

    def locate(self, X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Index of a cell containing each row of X (closed cells; -1 if none)."""
        X = np.atleast_2d(X)
        W = np.array([h.w for h in self.hyperplanes]).reshape(-1, self.d)
        bvec = np.array([h.b for h in self.hyperplanes])
        vals = X @ W.T + bvec
        out = np.full(X.shape[0], -1)
        for ci, cell in enumerate(self.cells):
            idx = np.array([h for h, _ in cell.facets], dtype=int)
            sgn = np.array([s for _, s in cell.facets], dtype=float)
            inside = np.all(vals[:, idx] * sgn >= -tol, axis=1) if idx.size else np.ones(X.shape[0], bool)
            out[(out < 0) & inside] = ci
        return out
