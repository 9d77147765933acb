"""Subtrees of the split tree as tasks, run in one process or in a pool of ``jobs`` processes.

The split engine (:mod:`compiler.enumerate`) first walks the tree down to ``CUT_DEPTH`` splits
and leaves each node it reaches there to a *task*: the LP rows on its path, its hyperplanes
(by key) and the arguments of ``resolve``.  Every task runs in a fresh run with a fresh LP, so
its result does not depend on which process ran it or what ran before: ``jobs=1`` runs the same
tasks one after the other.  The runs log hyperplane registrations, cells and cut points in
order; replaying the root's log, with each task's log spliced in at its cut point, rebuilds the
serial depth-first order of cells and the same hyperplane table for every ``jobs``.

Example:
    >>> from compiler.network import ReluNet, AffineLayer
    >>> from compiler.domain import Domain
    >>> from compiler.enumerate import Limits
    >>> rng = np.random.default_rng(0)
    >>> net = ReluNet(2, [AffineLayer({0: rng.normal(size=(6, 2))}, rng.normal(size=6))],
    ...               AffineLayer({1: rng.normal(size=(1, 6))}, np.zeros(1)))
    >>> box = Domain.box([-1, -1], [1, 1])
    >>> one, two = run_split(net, box, Limits(), None, 1e-8, 1), run_split(net, box, Limits(), None, 1e-8, 2)
    >>> [c.pattern.tolist() for c in one.cells] == [c.pattern.tolist() for c in two.cells]
    True
"""
from __future__ import annotations

import multiprocessing
import time
from typing import Iterator

import numpy as np

from compiler.domain import Domain
from compiler.errors import RegionLimitError
from compiler.network import ReluNet
from compiler.regions import RegionSet

CUT_DEPTH = 6
"""Splits before the tree is cut into tasks: at most 2**6 = 64 subtrees, enough to balance a
few processes, few enough that rebuilding each task's LP costs nothing measurable."""

_WORKER: dict = {}


def run_split(net: ReluNet, domain: Domain, limits, progress, rel_tol: float, jobs: int = 1,
              cut_depth: int = CUT_DEPTH) -> RegionSet:
    """The split engine's result, its subtrees run by ``jobs`` processes (same result for all).

    Example:
        >>> from compiler.network import ReluNet, AffineLayer
        >>> from compiler.enumerate import Limits
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
        >>> len(run_split(net, Domain.box([-1], [1]), Limits(), None, 1e-8))
        2
    """
    from compiler.enumerate import _SplitRun
    start = time.time()
    root = _SplitRun(net, domain, limits, None, rel_tol, cut_depth=cut_depth, start=start)
    root.execute()
    out = RegionSet(domain, net.d, net.m, net.widths)
    totals = {"lps": root.lp.solves, "nodes": root.nodes}
    pool = None
    try:
        if jobs > 1 and len(root.tasks) > 1:
            ctx = multiprocessing.get_context("fork")
            pool = ctx.Pool(min(jobs, len(root.tasks)), initializer=_init_worker,
                            initargs=(net, domain, limits, rel_tol, start))
            results: Iterator = pool.imap(_run_task, root.tasks, chunksize=1)
        else:
            _init_worker(net, domain, limits, rel_tol, start)
            results = map(_run_task, root.tasks)
        _replay(out, root.result, root.events, results, totals, limits, progress)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _WORKER.clear()
    out.stats.update(lps=totals["lps"], nodes=totals["nodes"], seconds=time.time() - start,
                     tolerance=root.tol, engine="split", jobs=jobs, tasks=len(root.tasks))
    return out


def _init_worker(net, domain, limits, rel_tol, start) -> None:
    _WORKER.update(net=net, domain=domain, limits=limits, rel_tol=rel_tol, start=start)


def _run_task(task: dict) -> tuple[RegionSet, list, int, int]:
    from compiler.enumerate import _SplitRun
    w = _WORKER
    run = _SplitRun(w["net"], w["domain"], w["limits"], None, w["rel_tol"], start=w["start"])
    regions = run.run_task(task)
    return regions, run.events, run.lp.solves, run.nodes


def _replay(out: RegionSet, regions: RegionSet, events: list, results: Iterator, totals: dict,
            limits, progress) -> None:
    """Append a run's hyperplanes and cells to ``out`` in its logged order, splicing in tasks."""
    local: dict[int, int] = {}

    def global_index(h: int) -> int:
        g = local.get(h)
        if g is None:  # registered by an ancestor run before the cut
            hyp = regions.hyperplanes[h]
            g = local[h] = out.hyperplane_index(hyp.key, hyp.w, hyp.b)
        return g

    for kind, i in events:
        if kind == "h":
            hyp = regions.hyperplanes[i]
            local[i] = out.hyperplane_index(hyp.key, hyp.w, hyp.b)
        elif kind == "c":
            cell = regions.cells[i]
            cell.facets = [(global_index(h), s) for h, s in cell.facets]
            out.cells.append(cell)
            n = len(out.cells)
            if limits.max_regions is not None and n > limits.max_regions:
                raise RegionLimitError(f"stopped after {n - 1} regions (--max-regions {limits.max_regions}); "
                                       "use a smaller domain (--box) or raise the limit")
            if progress is not None:
                progress(n, {"lps": totals["lps"]})
        else:
            sub, sub_events, lps, nodes = next(results)
            totals["lps"] += lps
            totals["nodes"] += nodes
            _replay(out, sub, sub_events, results, totals, limits, progress)
