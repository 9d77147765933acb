"""Region enumeration: every full-dimensional activation cell of a ReluNet over a domain.

The engine interface is one function, ``engine(net, domain, limits, progress) -> RegionSet``;
:data:`ENGINES` lists the engines and :func:`enumerate_regions` picks one: the split engine
(:mod:`relucompile.regions.split`, LPs, any domain, ``jobs`` processes through
:mod:`relucompile.regions.parallel`) or the vertex engine (:mod:`relucompile.regions.vertex_engine`,
boxes, no LP); ``auto`` takes the vertex engine where it applies.

Example:
    >>> import numpy as np
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
    >>> regions = enumerate_regions(net, Domain.box([-1, -1], [1, 1]))
    >>> len(regions), sorted(len(c.facets) for c in regions.cells)
    (4, [4, 4, 4, 4])
"""
from __future__ import annotations

from typing import Callable

from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.regions.parallel import run_split
from relucompile.regions.split import Limits, ProgressFn
from relucompile.regions.store import CellStore, RegionSet
from relucompile.regions.vertex_engine import DegenerateVertexSet, VertexEngine, vertex_engine_applies
from relucompile.numeric.tolerances import ENGINE_REL_TOL
from relucompile.progress import current as current_progress

__all__ = ["ENGINES", "AutoEngine", "Limits", "SplitEngine", "enumerate_regions"]


class SplitEngine:
    """Depth-first layer-by-layer splitting with warm-started GLPK LPs (:mod:`relucompile.regions.split`)."""

    name = "split"

    def __init__(self, rel_tol: float = ENGINE_REL_TOL) -> None:
        self.rel_tol = rel_tol

    def __call__(self, net: ReluNet, domain: Domain, limits: Limits | None = None,
                 progress: ProgressFn | None = None, jobs: int = 1) -> RegionSet:
        return run_split(net, domain, limits or Limits(), progress, self.rel_tol, jobs)


class AutoEngine:
    """The vertex engine where it applies (bounded boxes, low dimension), else the split engine.

    The vertex engine (:mod:`relucompile.regions.vertex_engine`) solves no LP and works on all cells
    at once; if its vertex sets turn out degenerate it gives up and the split engine runs
    instead (``stats["fallback"]`` says why).  Both give the same cells (tests compare them);
    the order of the cells and ``radius`` differ (see the engines' docstrings).
    """

    name = "auto"

    def __call__(self, net: ReluNet, domain: Domain, limits: Limits | None = None,
                 progress: ProgressFn | None = None, jobs: int = 1) -> RegionSet:
        if vertex_engine_applies(domain):
            try:
                return VertexEngine(ENGINES["split"].rel_tol)(net, domain, limits, progress, jobs=jobs)
            except DegenerateVertexSet as why:
                regions = ENGINES["split"](net, domain, limits, progress, jobs=jobs)
                regions.stats["fallback"] = f"vertex engine: {why}"
                return regions
        return ENGINES["split"](net, domain, limits, progress, jobs=jobs)


ENGINES: dict[str, Callable[..., RegionSet]] = {"auto": AutoEngine(), "split": SplitEngine(),
                                                "vertex": VertexEngine()}
"""Engines by name: ``auto`` (default), ``split`` (LPs; any domain), ``vertex`` (boxes, R^d); both take ``jobs``."""


def enumerate_regions(net: ReluNet, domain: Domain, engine: str = "auto", limits: Limits | None = None,
                      progress: ProgressFn | None = None, jobs: int = 1, cells: CellStore | None = None) -> RegionSet:
    """Every full-dimensional activation cell of ``net`` over ``domain`` (deterministic order).

    ``engine``: a name of :data:`ENGINES`.  ``jobs`` local processes share the subtrees of the
    split engine's tree, or the vertex engine's chunks of cells after a layer
    (:mod:`relucompile.regions.executor`); the result (cells, their order, the hyperplane table)
    is the same for every ``jobs``.  Without ``progress``, the progress line of the running
    command (:func:`relucompile.progress.current`) is told the count.  ``cells``: an empty
    :class:`~relucompile.regions.store.CellStore` (e.g. a
    :class:`~relucompile.regions.spill.SpillingCellStore`) the cells are appended to, and the
    result's ``cells``.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    if progress is None:
        progress = current_progress()   # the running command's progress line, if it shows one
    if cells is None:
        return ENGINES[engine](net, domain, limits, progress, jobs=jobs)
    if len(cells):
        raise ValueError("cells must be an empty store")
    fallback = None
    if engine in ("auto", "vertex") and vertex_engine_applies(domain):
        try:
            return VertexEngine(ENGINES["split"].rel_tol)(net, domain, limits, progress, jobs=jobs, cells=cells)
        except DegenerateVertexSet as why:
            if engine == "vertex":
                raise
            cells.clear()
            fallback = f"vertex engine: {why}"
    regions = ENGINES["split" if engine == "auto" else engine](net, domain, limits, progress, jobs=jobs)
    cells.extend_from(regions.cells)     # (the split engine holds its cells itself)
    regions.cells = cells
    if fallback:
        regions.stats["fallback"] = fallback
    return regions
