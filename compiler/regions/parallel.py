"""Subtrees of the split tree as tasks, run in one process or in a pool of ``jobs`` processes.

The split engine (:mod:`relucompile.regions.split`) first walks the tree down to ``CUT_DEPTH`` splits
and leaves each node it reaches there to a *task*: the LP rows on its path, its hyperplanes
(by key) and the arguments of ``resolve``.  Every task runs in a fresh run with a fresh LP, so
its result does not depend on which process ran it or what ran before: ``jobs=1`` runs the same
tasks one after the other.  The runs log hyperplane registrations, cells and cut points in
order (compact int64 logs); replaying the root's log, with each task's log spliced in at its cut
point, rebuilds the serial depth-first order of cells and the same hyperplane table for every
``jobs`` (bulk array copies, no object per cell).

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.split import Limits
    >>> rng = np.random.default_rng(0)
    >>> net = ReluNet(2, [AffineLayer({0: rng.normal(size=(6, 2))}, rng.normal(size=6))],
    ...               AffineLayer({1: rng.normal(size=(1, 6))}, np.zeros(1)))
    >>> box = Domain.box([-1, -1], [1, 1])
    >>> one, two = run_split(net, box, Limits(), None, 1e-8, 1), run_split(net, box, Limits(), None, 1e-8, 2)
    >>> [c.pattern.tolist() for c in one.cells] == [c.pattern.tolist() for c in two.cells]
    True
"""
from __future__ import annotations

import time
from array import array
from typing import Iterator

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.errors import RegionLimitError
from relucompile.limits import doing, time_budget
from relucompile.ir.network import ReluNet
from relucompile.regions.executor import run_tasks
from relucompile.regions.split import EVENT_C, EVENT_H, _SplitRun
from relucompile.regions.store import RegionSet

CUT_DEPTH = 6
"""Splits before the tree is cut into tasks: at most 2**6 = 64 subtrees, enough to balance a
few processes, few enough that rebuilding each task's LP costs nothing measurable."""

_WORKER: dict = {}


def run_split(net: ReluNet, domain: Domain, limits, progress, rel_tol: float, jobs: int = 1,
              cut_depth: int = CUT_DEPTH) -> RegionSet:
    """The split engine's result, its subtrees run by ``jobs`` processes (same result for all).

    Example:
        >>> from relucompile.ir.network import ReluNet, AffineLayer
        >>> from relucompile.regions.split import Limits
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
        >>> len(run_split(net, Domain.box([-1], [1]), Limits(), None, 1e-8))
        2
    """
    start = time.time()
    # the time limit also bounds every LP (relucompile.limits: GLPK's time limit and the checks of the
    # bounding-box step's 2k LPs per node), not only the cells' count between them
    with time_budget(limits.time_limit, hint="use a smaller domain (--box) or raise --time-limit"), \
            doing("enumerating the cells (split engine)"):
        return _run_split(net, domain, limits, progress, rel_tol, jobs, cut_depth, start)


def _run_split(net, domain, limits, progress, rel_tol, jobs, cut_depth, start) -> RegionSet:
    root = _SplitRun(net, domain, limits, progress, rel_tol, cut_depth=cut_depth, start=start)
    root.execute()
    out = RegionSet(domain, net.d, net.m, net.widths)
    totals = {"lps": root.lp.solves, "nodes": root.nodes}
    # in this process (jobs 1): a task's cells are shown as they come, after those replayed so far
    task_progress = None if progress is None or jobs > 1 else (lambda n, info: progress(len(out.cells) + n, info))
    results = run_tasks(_run_task, root.tasks, jobs, _init_worker, (net, domain, limits, rel_tol, start, task_progress))
    try:
        _replay(out, root.result, root.events, results, totals, limits, progress)
    finally:
        results.close()
        _WORKER.clear()
    out.stats.update(lps=totals["lps"], nodes=totals["nodes"], seconds=time.time() - start,
                     tolerance=root.tol, engine="split", jobs=jobs, tasks=len(root.tasks))
    if jobs > 1 and len(root.tasks) > 1:
        out.stats["worker_peak_mb"] = round(totals.get("worker_peak_mb", 0.0), 1)
    return out


def _init_worker(net, domain, limits, rel_tol, start, progress=None) -> None:
    _WORKER.update(net=net, domain=domain, limits=limits, rel_tol=rel_tol, start=start, progress=progress)


def _run_task(task: dict) -> tuple[RegionSet, array, int, int, float]:
    w = _WORKER
    run = _SplitRun(w["net"], w["domain"], w["limits"], w.get("progress"), w["rel_tol"], start=w["start"])
    regions = run.run_task(task)
    return regions, run.events, run.lp.solves, run.nodes, peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux ``VmHWM``) in MiB; 0 where unknown.

    Example:
        >>> peak_rss_mb() >= 0
        True
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _replay(out: RegionSet, regions: RegionSet, events, results: Iterator, totals: dict,
            limits, progress) -> None:
    """Append a run's hyperplanes and cells to ``out`` in its logged order, splicing in tasks.

    Works on the compact stores: each run of consecutive cell events is one bulk copy
    (:meth:`CellStore.extend_from`) with the run's hyperplane indices renumbered by an array."""
    table = regions.hyperplanes
    local = np.full(len(table), -1, dtype=np.int64)   # this run's index -> out's index
    log = np.frombuffer(events, dtype=np.int64) if len(events) else np.zeros(0, np.int64)
    kinds, indices = (log & 3).tolist(), (log >> 2)
    n_events, e = len(kinds), 0
    while e < n_events:
        kind = kinds[e]
        if kind == EVENT_H:
            i = int(indices[e])
            local[i] = out.hyperplanes.index_compact(table.compact_key(i), table.W[i], table.b[i])
            e += 1
        elif kind == EVENT_C:
            f = e
            while f < n_events and kinds[f] == EVENT_C:
                f += 1
            lo, hi = int(indices[e]), int(indices[f - 1]) + 1
            assert hi - lo == f - e, "cell events of a run are consecutive"
            cells = regions.cells
            hs = cells.facet_h[cells.facet_ptr[lo]:cells.facet_ptr[hi]]
            for h in np.unique(hs[local[hs] < 0]).tolist():  # registered by an ancestor run before the cut
                local[h] = out.hyperplanes.index_compact(table.compact_key(h), table.W[h], table.b[h])
            out.cells.extend_from(cells, lo, hi, local)
            e = f
            n = len(out.cells)
            if limits.max_regions is not None and n > limits.max_regions:
                raise RegionLimitError(f"stopped after {limits.max_regions} regions (--max-regions "
                                       f"{limits.max_regions}); use a smaller domain (--box) or raise the limit")
            if progress is not None:
                progress(n, {"lps": totals["lps"]})
        else:
            sub, sub_events, lps, nodes, peak = next(results)
            totals["lps"] += lps
            totals["nodes"] += nodes
            totals["worker_peak_mb"] = max(totals.get("worker_peak_mb", 0.0), peak)
            _replay(out, sub, sub_events, results, totals, limits, progress)
            e += 1
