"""Vertex engine: region enumeration by cutting vertex sets, batched over all cells.

In low dimension a bounded cell is cheapest to handle through its vertices (the idea of edge
subdivision, Berzins 2023): a unit's sign is fixed on a cell iff its pre-activation has one sign
at every vertex, and cutting a *simple* polytope by a hyperplane only needs the edges whose ends
have opposite signs.  This engine keeps every cell's vertices in flat numpy arrays (a vertex
row: coordinates, the k constraints active at it, their hash, its k neighbours, its cell) and
processes one unit at a time *for all cells at once*:

1. the unit's value at every vertex (distance in the hull's coordinates: rows normalised),
   reduced per cell with ``np.bincount``: a cell *crosses* if some vertex is above ``tol`` and
   some below ``-tol`` (the split engine's LP test: a linear function's extremes are at
   vertices); otherwise the unit's sign is fixed (both sides within ``tol``: "off", as in the
   split engine);
2. for the crossing cells, each edge from a positive to a negative vertex (the adjacency) gives
   a new vertex (interpolated coordinates and values of the units still to come), active on
   the cut; the new vertices' edges inside the cut join those sharing k - 1 constraints, found
   by sorting the hashes of "active set minus one constraint" (each occurs exactly twice);
3. the negative vertices move to a new cell; the new vertices belong to both pieces.

Constraints are named per cell by *local ids*: 2 i and 2 i + 1 are the lower and upper bound of
hull coordinate i, 2 k + p the p-th cut on the cell's path.  After the last layer a cell's
facets are exactly the local ids active at its vertices (simple polytopes), its interior point
is the mean of its vertices and ``radius`` the distance from that point to the nearest facet
(a ball around ``interior`` inside the cell, at most the Chebyshev radius).  Cells whose ball
is under 10 tol get their Chebyshev ball by LP and are dropped if it is at most ``tol``, as
the split engine drops slivers: the only LPs this engine solves.

Speed: with numba installed (a dependency; the engine runs without it), the per-unit steps
(crossing test, edge scan, new rows, key pairing cell by cell, unit values, facet marks) run as
compiled loops from :mod:`relucompile.regions.vertex_kernels` (``USE_KERNELS``; from ``KERNEL_MIN_ROWS``
vertex rows on), about 3x faster in d = 8; below that, or without numba, the numpy code here
runs.  Both give identical cells, rows and floats (tests/test_vertex_kernels.py).

Near vertices: a crossing cell's vertex whose float value is within ``tol`` of the cut is
decided in exact rationals (:meth:`_VertexRun.decide_near_vertices`,
:mod:`relucompile.regions.exact_vertices`): with ~10^8 vertices such values occur by chance
(issue 16), and only an exact 0 is a degenerate vertex.  Only these rare vertices leave the
compiled fast path; ``stats["exact_checks"]`` and ``stats["exact_seconds"]`` count them.

Scope: bounded boxes (in the affine hull's coordinates) and all of R^d (orthant cones, see
:meth:`_VertexRun.start_cones`), in dimension k <= 12.  A degenerate vertex set (a cut exactly
through a vertex, or within ``tol`` of a vertex at infinity; a key that does not occur exactly
twice) raises :class:`DegenerateVertexSet`; :func:`vertex_engine_applies` tells whether a domain
is in scope, and the ``auto`` engine falls back to the split engine (for the whole run) otherwise.  Between layers, cells go on in
chunks when the vertex rows would pass ``VERTEX_BUDGET`` (memory stays bounded at 10^6 cells).

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
    >>> regions = VertexEngine()(net, Domain.box([-1, -1], [1, 1]))
    >>> len(regions), sorted(len(c.facets) for c in regions.cells)
    (4, [4, 4, 4, 4])
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from relucompile.regions import vertex_kernels
from relucompile.ir.domain import Domain, Hull
from relucompile.errors import RegionLimitError
from relucompile.limits import check_growth, check_time, doing
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.regions.executor import run_tasks
from relucompile.regions.store import HyperplaneStore, RegionSet
from relucompile.errors import DomainError
from relucompile.numeric.tolerances import ENGINE_REL_TOL, MIN_TOL_SCALE, ROUNDING_NOISE, TINY
from relucompile.regions.exact_vertices import ExactPlanes, float_plane, solve_point, value_at

MAX_DIM = 12          # 2^k box corners to start from
VERTEX_BUDGET = 8_000_000   # vertices held at once (about 100 bytes each), see run_layers
PATH_WIDTH = 16       # cuts per cell stored at first (widened when a path grows longer)
VALUE_BLOCK = 4      # units whose values are kept per vertex at once (memory: N x block floats)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_NO_DRIFT = np.zeros((0, 0))   # the compiled cut's drift arrays on boxes (no columns: no drift)
USE_KERNELS = vertex_kernels.AVAILABLE   # compiled per-unit cut (numba) when importable
TASK_MIN_CELLS = 4096    # cells after a layer (not the last) from which the rest runs as TASKS tasks
TASKS = 32               # chunks of cells cut by the remaining layers: a fixed number, so the cells
                         # and their order do not depend on the number of workers
KERNEL_MIN_ROWS = 20_000   # fewer vertex rows: numpy is as fast, and numba's first compile (~5 s,
                           # once per install: cached on disk) is not worth paying


def _pairs_up(sorted_keys: np.ndarray) -> bool:
    """Whether sorted keys come in pairs: each value exactly twice."""
    k = sorted_keys
    return k.size % 2 == 0 and not np.any(k[0::2] != k[1::2]) and not np.any(k[1:-1:2] == k[2::2])


def _pairing_order(keys: np.ndarray) -> np.ndarray | None:
    """A permutation that puts equal keys next to each other, or None if they do not pair up.

    Sorting the keys with their index packed into the low bits (``np.sort``, ~1.6x faster than
    ``np.argsort`` here) is right unless two different keys agree above those bits (about
    n^2 / 2^(65 - bits) of the time); then the full keys do not pair up and ``argsort`` decides.

    Example:
        >>> _pairing_order(np.array([7, 3, 7, 3], dtype=np.uint64)).tolist()
        [1, 3, 0, 2]
        >>> _pairing_order(np.array([7, 3, 7], dtype=np.uint64)) is None
        True
    """
    n = keys.size
    bits = np.uint64(max(int(n).bit_length(), 1))
    packed = np.sort(((keys >> bits) << bits) | np.arange(n, dtype=np.uint64))
    order = (packed & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    if _pairs_up(keys[order]):
        return order
    order = np.argsort(keys)
    return order if _pairs_up(keys[order]) else None


class DegenerateVertexSet(RuntimeError):
    """A cut met a vertex set that is not simple (the engine cannot continue exactly)."""


def box_of_hull(hull: Hull) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(lo, hi, lower-row, upper-row) if the hull's domain is a bounded box in t, else None.

    Example:
        >>> box_of_hull(Domain.box([0, -1], [1, 1]).hull())[:2]
        (array([ 0., -1.]), array([1., 1.]))
    """
    k = hull.k
    lo, hi = np.full(k, -np.inf), np.full(k, np.inf)
    lo_row, hi_row = np.full(k, -1), np.full(k, -1)
    for i, (row, g) in enumerate(zip(hull.Gt, hull.gt)):
        nz = np.nonzero(row)[0]
        if nz.size == 0:
            continue
        if nz.size != 1:
            return None
        j, a = int(nz[0]), float(row[nz[0]])
        bound = g / a
        if a > 0 and bound < hi[j]:
            hi[j], hi_row[j] = bound, i
        elif a < 0 and bound > lo[j]:
            lo[j], lo_row[j] = bound, i
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        return None
    return lo, hi, lo_row, hi_row


def vertex_engine_applies(domain: Domain) -> bool:
    """Whether :class:`VertexEngine` handles ``domain``: a bounded box, or all of R^d, in at most
    12 free coordinates.

    Example:
        >>> vertex_engine_applies(Domain.box([-1, -1], [1, 1])), vertex_engine_applies(Domain.reals(2))
        (True, True)
        >>> vertex_engine_applies(Domain.polytope([[1.0, 1.0]], [1.0]))
        False
    """
    if domain.kind == "reals":
        return 1 <= domain.d <= MAX_DIM
    if not domain.bounded:
        return False
    hull = domain.hull()
    return 1 <= hull.k <= MAX_DIM and box_of_hull(hull) is not None


class _Rows:
    """A numpy array growing along axis 0 by doubling (amortised O(1) appends)."""

    def __init__(self, initial: np.ndarray, capacity: int = 0) -> None:
        self.n = len(initial)
        if capacity > self.n:
            self.data = np.empty((capacity,) + initial.shape[1:], initial.dtype)
            self.data[:self.n] = initial
        else:
            self.data = initial

    @property
    def v(self) -> np.ndarray:
        return self.data[:self.n]

    def extend(self, rows: np.ndarray) -> None:
        self.reserve(len(rows))[:] = rows

    def extend_twice(self, first: np.ndarray, second: np.ndarray) -> None:
        """Append ``first`` then ``second`` (same length) without concatenating them."""
        view = self.reserve(2 * len(first))
        view[:len(first)] = first
        view[len(first):] = second

    def reserve(self, m: int) -> np.ndarray:
        """Append m uninitialised rows and return them (a view to fill in)."""
        if self.n + m > len(self.data):
            shape = (max(2 * len(self.data), self.n + m, 64),) + self.data.shape[1:]
            new_bytes = int(np.prod(shape)) * self.data.itemsize
            if new_bytes >= 2**16:   # the memory budget (relucompile.limits), on every doubling past 64 KiB
                check_growth(new_bytes, f"the vertex engine's arrays (growing to {shape[0]:,} rows)")
            grown = np.empty(shape, self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.n += m
        return self.data[self.n - m:self.n]


ProgressFn = Callable[[int, dict], None]


class VertexEngine:
    """Batched vertex-set cutting on boxes (see the module docstring); no LPs."""

    name = "vertex"

    def __init__(self, rel_tol: float = ENGINE_REL_TOL) -> None:
        self.rel_tol = rel_tol

    def __call__(self, net: ReluNet, domain: Domain, limits=None, progress: ProgressFn | None = None,
                 jobs: int = 1, cells=None) -> RegionSet:
        """``cells``: an empty CellStore to append the cells to (e.g. a spilling one), else a new one."""
        with doing("enumerating the cells (vertex engine)"):
            return _VertexRun(net, domain, limits, progress, self.rel_tol, jobs, cells).run()


class _VertexRun:
    """One enumeration: per-cell arrays (group, depth, path of cuts, signs of the current layer)
    and per-vertex arrays (X, act, hsh, nbr, vcell, vals), all grown in place."""

    def __init__(self, net: ReluNet, domain: Domain, limits, progress, rel_tol: float, jobs: int = 1,
                 cells=None) -> None:
        if domain.d != net.d:
            raise DomainError(f"the domain has dimension {domain.d} but the model has {net.d} inputs")
        self.net, self.domain, self.limits, self.progress = net, domain, limits, progress
        self.jobs, self.in_task, self.tasks = jobs, False, 0
        self.hull = domain.hull()
        self.cone = domain.kind == "reals"       # all of R^d: orthant cones, homogeneous coordinates
        box = box_of_hull(self.hull) if domain.bounded else None
        if not (1 <= self.hull.k <= MAX_DIM and (box is not None or self.cone)):
            raise DomainError("the vertex engine (--engine vertex) needs a bounded box domain, or all "
                              f"of R^d, in at most {MAX_DIM} free coordinates; use --engine auto or split")
        self.k = self.hull.k
        if self.cone:
            self.tol = rel_tol
            self.cone_centre = np.random.default_rng(7).uniform(-0.1, 0.1, self.k) + 0.0123456789
        else:
            self.lo, self.hi, self.lo_row, self.hi_row = box
            self.tol = rel_tol * min(max(float(np.min(self.hi - self.lo)) / 2, MIN_TOL_SCALE), 1.0)
        self.result = RegionSet(domain, net.d, net.m, net.widths, cells)
        self.start = time.time()
        total_units = int(sum(net.widths))
        rng = np.random.default_rng(20261127)
        self.R = rng.integers(0, 2**63, size=2 * self.k + total_units + 1, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        # hyperplanes in x with their norm in t (for distances)
        self.domain_h = np.full(2 * self.k, -1, dtype=np.int64)   # -1: not a facet (orthant walls)
        self.X1 = self.vals1 = None    # on R^d: the rows' and values' first-order drift (see _cone_values)
        self.exact = None              # ExactPlanes, made when a near vertex is first decided
        self.exact_checks, self.exact_seconds = 0, 0.0   # near vertices decided exactly, and their time

    # -- helpers ------------------------------------------------------------------------------
    def register(self, key: tuple, w: np.ndarray, b: float) -> int:
        return self.result.hyperplane_index(key, w, b)

    def check_limits(self, n: int) -> None:
        lim = self.limits
        if lim is None:
            check_time()
            return
        if lim.max_regions is not None and n > lim.max_regions:
            raise RegionLimitError(f"stopped after {lim.max_regions} regions (--max-regions "
                                   f"{lim.max_regions}): the domain has more; use a smaller domain "
                                   "(--box) or raise the limit")
        if lim.time_limit is not None and time.time() - self.start > lim.time_limit:
            raise RegionLimitError(f"stopped after {lim.time_limit:g} s with {n} regions "
                                   "(--time-limit); use a smaller domain (--box) or raise the limit")
        check_time()   # the run's budget, when it started before this engine (relucompile.limits)

    # -- setup --------------------------------------------------------------------------------
    def start_vertices(self) -> int:
        """The first cells' vertices (rows (x, s) with s = 1 on boxes), active local ids, hashes,
        adjacency; returns the number of first cells (1 box, or 2^d orthant cones)."""
        if self.cone:
            return self.start_cones()
        k = self.k
        for i, (row, g) in enumerate(zip(self.hull.Gt, self.hull.gt)):
            if np.any(row):
                h = self.register(("domain", i), -self.hull.Gx[i], self.hull.gx[i])
                j = int(np.nonzero(row)[0][0])
                if i == self.lo_row[j]:
                    self.domain_h[2 * j] = h
                if i == self.hi_row[j]:
                    self.domain_h[2 * j + 1] = h
        bits = (np.arange(2 ** k)[:, None] >> np.arange(k)[None, :]) & 1
        T = np.where(bits == 1, self.hi, self.lo)
        X = np.hstack([self.hull.x0 + T @ self.hull.U.T, np.ones((2 ** k, 1))])
        act = 2 * np.arange(k)[None, :] + bits
        nbr = np.arange(2 ** k)[:, None] ^ (1 << np.arange(k))[None, :]
        self.set_vertices(X, act, nbr, np.zeros(2 ** k))
        return 1

    def start_cones(self) -> int:
        """R^d as the 2^d orthant cones {sigma_i (x_i - o_i) >= 0} around a point o, each a
        simplex in homogeneous coordinates.

        A vertex row (y, s) with s > 0 stands for the point y / s, and with s = 0 for the
        direction y at infinity.  Local id i < d is the wall sigma_i (x_i - o_i) >= 0 and d the
        wall s >= 0: none is a facet of a cell.  The vertex missing wall a is the direction
        sigma_a e_a (a < d) or the point o (a = d); in a simplex, leaving wall c from any vertex
        leads to the vertex missing c.  o is a fixed pseudo-random point so that no wall lies on
        a unit's hyperplane (checked: :meth:`check_walls`).
        """
        d = self.k
        walls = np.arange(d + 1)
        act_one = np.array([np.delete(walls, a) for a in walls])          # (d+1, d)
        rows, acts, nbrs, cells, drift = [], [], [], [], []
        for o in range(2 ** d):
            sigma = np.where((o >> np.arange(d)) & 1, -1.0, 1.0)
            Y = np.zeros((d + 1, d + 1))
            Y[np.arange(d), np.arange(d)] = sigma
            Y[d, :d] = self.cone_centre
            Y[d, d] = 1.0
            rows.append(Y)
            D = np.zeros((d + 1, d + 1))          # d/d delta of the truncated simplex's vertices
            D[:d, :d] = self.cone_centre
            D[:d, d] = 1.0
            drift.append(D)
            acts.append(act_one)
            nbrs.append(o * (d + 1) + act_one)
            cells.append(np.full(d + 1, o))
        self.set_vertices(np.vstack(rows), np.vstack(acts), np.vstack(nbrs), np.concatenate(cells))
        self.X1 = _Rows(np.vstack(drift))
        return 2 ** d

    def set_vertices(self, X, act, nbr, cells) -> None:
        act = act.astype(np.int16 if len(self.R) < 2**15 else np.int32)
        self.X = _Rows(X.astype(np.float64))
        self.act = _Rows(act)
        self.hsh = _Rows(self.R[act].sum(axis=1, dtype=np.uint64))
        self.vcell = _Rows(cells.astype(np.int32))
        self.nbr = _Rows(nbr.astype(np.int32))

    # -- main ---------------------------------------------------------------------------------
    def run(self) -> RegionSet:
        net = self.net
        first = self.start_vertices()
        # per cell: its group (the cells of the previous layer: same maps), its path of cuts
        self.group = _Rows(np.zeros(first, dtype=np.int64))
        self.depth = _Rows(np.zeros(first, dtype=np.int32))
        self.path_h = _Rows(np.zeros((first, PATH_WIDTH), dtype=np.int32))
        self.path_s = _Rows(np.zeros((first, PATH_WIDTH), dtype=np.int8))
        self.last_use = {}
        for l, layer in enumerate(net.layers + [net.output]):
            for b in layer.weights:
                self.last_use[b] = l
        self.growth, self.total_vertices, self.chunks, self.slivers = 1.0, 0, 0, 0
        self.kernels = False
        self.run_layers(0, {}, np.zeros((1, 0), dtype=bool))
        self.result.stats.update({"engine": "vertex", "lps": self.slivers, "tol": self.tol, "chunks": self.chunks, "compiled": bool(self.kernels),
                                  "vertices": self.total_vertices, "seconds": time.time() - self.start,
                                  "jobs": self.jobs, "tasks": self.tasks,
                                  "exact_checks": self.exact_checks, "exact_seconds": self.exact_seconds})
        return self.result

    def run_layers(self, first_layer: int, blocks: dict, prefix: np.ndarray) -> None:
        """Cut the current cells by layers ``first_layer``, ... and finish them.

        ``blocks`` maps a block to its per-group maps (block 0, the input, is implicit) and
        ``prefix`` holds each group's pattern of the earlier layers.  Between layers, when the
        vertex sets would outgrow ``VERTEX_BUDGET`` (judging by the last layer's growth), the
        cells go on in chunks, one after the other, so memory stays bounded.
        """
        net = self.net
        for l in range(first_layer, len(net.layers)):
            if l > first_layer and not self.in_task and self.group.n >= TASK_MIN_CELLS:
                self.run_tasks(l, blocks, prefix)
                return
            if l > first_layer and self.group.n > 1 and self.X.n * self.growth > VERTEX_BUDGET \
                    and not self.cone:   # on R^d a cell's pieces must meet in one finish()
                self.run_in_chunks(l, blocks, prefix)
                return
            vertices_before = self.X.n
            Z, z = self.preactivation(net.layers[l], blocks, len(prefix))
            self._prefix = prefix
            signs = self.cut_layer(l, Z, z)
            on = signs > 0
            g = self.group.v
            prefix = np.concatenate([prefix[g], on], axis=1)
            blocks = {b: (M[g], m[g]) for b, (M, m) in blocks.items() if self.last_use[b] > l}
            if self.last_use.get(l + 1, -1) > l:
                blocks[l + 1] = (Z[g] * on[:, :, None], z[g] * on)
            self.group = _Rows(np.arange(self.group.n, dtype=np.int64))
            self.growth = self.X.n / max(vertices_before, 1)     # this layer's growth
        A, c = self.preactivation(net.output, blocks, len(prefix))
        self.total_vertices += self.X.n
        self.finish(prefix, A, c)

    def sorted_by_cell(self, cell_order: np.ndarray | None = None) -> dict:
        """The vertex rows sorted by cell (cells renumbered by ``cell_order``, default as they
        are), the adjacency renumbered, with per cell its first row (``vstart``) and count."""
        n = self.group.n
        cells = self.vcell.v if cell_order is None else np.argsort(cell_order)[self.vcell.v]
        order = np.argsort(cells, kind="stable")      # vertices sorted by cell
        new_id = np.empty_like(order)
        new_id[order] = np.arange(order.size)
        rows = {"X": self.X.v[order], "act": self.act.v[order], "hsh": self.hsh.v[order],
                "nbr": new_id[self.nbr.v[order]].astype(np.int32)}
        if self.cone:
            rows["X1"] = self.X1.v[order]
        counts = np.bincount(cells, minlength=n)
        rows.update(counts=counts, vstart=np.concatenate([[0], np.cumsum(counts)]))
        return rows

    def run_tasks(self, l: int, blocks: dict, prefix: np.ndarray) -> None:
        """Go on from layer l with TASKS chunks of cells as independent tasks (``jobs`` local
        processes, :mod:`relucompile.regions.executor`) and append their cells in task order.
        Into a spilling store (:class:`~relucompile.regions.spill.SpillingCellStore`) each task
        writes its cells to a raw part and returns only its hyperplanes (:class:`RawTaskPart`):
        the cells do not come back through this process.

        On R^d the pieces of one cell (same pattern, other orthants) must meet in one task: they
        share the pattern of the layers so far, so the cells are ordered by that pattern's first
        piece and chunks end between patterns.  The same chunks for every ``jobs``: the same
        cells in the same order."""
        n = self.group.n
        cell_order = np.arange(n)
        starts = np.arange(n + 1)        # where a chunk may end
        if self.cone:
            packed = np.packbits(prefix, axis=1) if prefix.shape[1] else np.zeros((n, 1), np.uint8)
            _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
            rank = np.argsort(np.argsort(first))[inverse.ravel()]
            cell_order = np.argsort(rank, kind="stable")
            starts = np.concatenate([[0], np.nonzero(np.diff(rank[cell_order]))[0] + 1, [n]])
        rows = self.sorted_by_cell(cell_order)
        vstart, counts = rows.pop("vstart"), rows.pop("counts")
        depth, path_h, path_s = self.depth.v[cell_order], self.path_h.v[cell_order], self.path_s.v[cell_order]
        blocks = {b: (M[cell_order], m[cell_order]) for b, (M, m) in blocks.items()}
        prefix = prefix[cell_order]
        wanted = np.searchsorted(vstart, np.arange(1, TASKS) * (vstart[-1] / TASKS))
        edges = np.unique(np.concatenate([[0], starts[np.minimum(np.searchsorted(starts, wanted), starts.size - 1)], [n]]))
        tasks = []
        for c0, c1 in zip(edges[:-1].tolist(), edges[1:].tolist()):
            v0, v1 = vstart[c0], vstart[c1]
            task = {name: a[v0:v1] for name, a in rows.items()}
            task["nbr"] = task["nbr"] - np.int32(v0)
            task.update(layer=l, counts=counts[c0:c1], depth=depth[c0:c1], path_h=path_h[c0:c1],
                        path_s=path_s[c0:c1], prefix=prefix[c0:c1],
                        blocks={b: (M[c0:c1], m[c0:c1]) for b, (M, m) in blocks.items()})
            tasks.append(task)
        self.tasks = len(tasks)
        for name in ("X", "act", "hsh", "nbr", "vcell", "X1", "vals", "vals1", "signs"):
            setattr(self, name, None)       # the tasks hold the rows now
        del rows, depth, path_h, path_s, blocks, prefix
        if hasattr(self.result.cells, "add_raw_part"):   # a spilling store: each task writes its cells to disk
            for task in tasks:
                task["raw_path"] = self.result.cells.new_raw_path()
        template = {k: v for k, v in self.__dict__.items() if k not in ("progress", "group", "depth", "path_h", "path_s", "layer_maps", "_prefix")}
        # the table at the split, frozen: the driver's table grows as task results merge into it
        template["result"] = RegionSet(self.result.domain, self.result.d, self.result.m, self.result.widths,
                                       hyperplanes=copy.deepcopy(self.result.hyperplanes))
        known = len(self.result.hyperplanes)
        out = self.result
        results = run_tasks(_run_vertex_task, tasks, self.jobs, _init_vertex_worker, (template,))
        del tasks                       # the executor frees each task once its result is in
        try:
            for regions, stats in results:
                raw = isinstance(regions, RawTaskPart)    # the cells are in the task's raw part
                added = (regions.keys, regions.W, regions.b) if raw else regions.hyperplanes.rows_since(known)
                local = global_hyperplane_rows(out.hyperplanes, known, *added)
                if raw:
                    out.cells.add_raw_part(regions.path, regions.cells, regions.facets, local, regions.first_used)
                else:
                    out.cells.extend_from(regions.cells, 0, len(regions.cells), local)
                self.slivers += stats["slivers"]
                self.exact_checks += stats["exact_checks"]
                self.exact_seconds += stats["exact_seconds"]
                self.chunks += stats["chunks"]
                self.total_vertices += stats["vertices"]
                self.kernels = self.kernels or stats["compiled"]
                self.check_limits(len(out.cells))
                if self.progress is not None:
                    self.progress(len(out.cells), {"lps": self.slivers})
        finally:
            results.close()

    def run_in_chunks(self, l: int, blocks: dict, prefix: np.ndarray) -> None:
        """Go on from layer l with consecutive ranges of cells, one range at a time."""
        n = self.group.n
        order = np.argsort(self.vcell.v, kind="stable")      # vertices sorted by cell
        new_id = np.empty_like(order)
        new_id[order] = np.arange(order.size)
        X, act, hsh = self.X.v[order], self.act.v[order], self.hsh.v[order]
        nbr = new_id[self.nbr.v[order]].astype(np.int32)
        counts = np.bincount(self.vcell.v, minlength=n)
        vstart = np.concatenate([[0], np.cumsum(counts)])
        depth, path_h, path_s = self.depth.v.copy(), self.path_h.v.copy(), self.path_s.v.copy()
        per_chunk = max(VERTEX_BUDGET / self.growth, 1.0)
        cuts = np.searchsorted(vstart, np.arange(per_chunk, vstart[-1], per_chunk))
        edges = np.unique(np.concatenate([[0], np.clip(cuts, 1, n), [n]]))
        del order, new_id
        for c0, c1 in zip(edges[:-1].tolist(), edges[1:].tolist()):
            v0, v1 = vstart[c0], vstart[c1]
            self.chunks += 1
            room = int((v1 - v0) * min(self.growth, 64.0) * 1.1)   # this chunk's vertices, grown
            self.X, self.act, self.hsh = _Rows(X[v0:v1], room), _Rows(act[v0:v1], room), _Rows(hsh[v0:v1], room)
            self.nbr = _Rows(nbr[v0:v1] - np.int32(v0), room)
            self.vcell = _Rows(np.repeat(np.arange(c1 - c0, dtype=np.int32), counts[c0:c1]), room)
            self.group = _Rows(np.arange(c1 - c0, dtype=np.int64))
            self.depth = _Rows(depth[c0:c1].copy())
            self.path_h, self.path_s = _Rows(path_h[c0:c1].copy()), _Rows(path_s[c0:c1].copy())
            self.run_layers(l, {b: (M[c0:c1], m[c0:c1]) for b, (M, m) in blocks.items()}, prefix[c0:c1])

    def preactivation(self, layer, blocks, groups: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-group maps (G, n, d), (G, n) of ``layer`` given the blocks' per-group maps."""
        n, d = layer.size, self.net.d
        Z = np.zeros((groups, n, d))
        z = np.broadcast_to(np.asarray(layer.bias, dtype=np.float64), (groups, n)).copy()
        for b, W in layer.weights.items():
            W = np.asarray(W, dtype=np.float64)
            if b == 0:
                Z += W[None, :, :]
            else:
                M, m = blocks[b]
                Z += np.einsum("ij,gjd->gid", W, M)
                z += np.einsum("gj,ij->gi", m, W)   # einsum, not BLAS: see cut_layer
        return Z, z

    def cut_layer(self, l: int, Z: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Cut every cell by the units of layer l in order; the cells' signs (cells x units)."""
        n_units = Z.shape[1]
        # the unit in hull coordinates t (einsum: BLAS threads would spin after each small product)
        Zt, zt = np.einsum("gnd,dk->gnk", Z, self.hull.U), z + np.einsum("gnd,d->gn", Z, self.hull.x0)
        norms = np.linalg.norm(Zt, axis=2)
        flat = norms <= ROUNDING_NOISE * (1.0 + np.abs(zt))
        inv = np.where(flat, 0.0, 1.0 / np.where(flat, 1.0, norms))
        Zn, zn = Z * inv[:, :, None], z * inv
        if self.cone:
            self.check_walls(l, Zn, zn, flat)
        self.signs = _Rows(np.zeros((self.group.n, n_units), dtype=np.int8))
        self.layer_maps = (Z, z)
        for j0 in range(0, n_units, VALUE_BLOCK):
            cols = np.arange(j0, min(j0 + VALUE_BLOCK, n_units))
            # both paths give the same rows and floats, so the run may switch to the compiled
            # path between blocks (and stays there, chunks included)
            self.kernels = self.kernels or (USE_KERNELS and self.X.n >= KERNEL_MIN_ROWS)
            self.vals = _Rows(self.unit_values(Zn, zn, cols), capacity=len(self.X.data))
            if self.cone:
                self.vals1 = _Rows(self.unit_values(Zn, zn, cols, self.X1.v), capacity=len(self.X.data))
            for jj, j in enumerate(cols):
                self.cut_unit(l, int(j), jj, flat, zt)
                seen = len(self.result.cells) + self.group.n    # a lower bound of the final count
                self.check_limits(seen)
                if self.progress is not None:
                    self.progress(seen, {"lps": 0})
        return self.signs.v.copy()

    def unit_values(self, Zn: np.ndarray, zn: np.ndarray, cols: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
        """The values (vertices x cols) of the units ``cols`` (normalised maps ``Zn``, ``zn`` per
        group) at every vertex row (x, s) of ``X`` (default: the vertex rows): zn s + sum_t Zn_t x_t,
        summed in this order in both paths (the compiled one gives the same floats)."""
        X = self.X.v if X is None else X
        cellv = self.vcell.v
        if self.kernels:
            out = np.empty((X.shape[0], cols.size))
            vertex_kernels.unit_values(Zn, zn, int(cols[0]), self.group.v, cellv, X, out)
            return out
        gv = self.group.v[cellv]
        Zg = Zn[:, cols, :][gv]
        out = zn[:, cols][gv] * X[:, -1:]
        for t in range(X.shape[1] - 1):
            out += Zg[:, :, t] * X[:, t:t + 1]
        return out

    def check_walls(self, l: int, Zn: np.ndarray, zn: np.ndarray, flat: np.ndarray) -> None:
        """A unit's hyperplane through the orthants' centre could hold a wall: refuse (degenerate)."""
        at_centre = np.abs(Zn @ self.cone_centre + zn)
        if np.any(~flat & (at_centre <= self.tol)):
            raise DegenerateVertexSet(f"layer {l}: a unit's hyperplane passes through the orthants' centre")

    def cut_unit(self, l: int, j: int, jj: int, flat: np.ndarray, zt: np.ndarray) -> None:
        """Fix unit j's sign on every cell, or cut the cells it crosses (``zt``: offsets in t)."""
        nc = self.group.n
        u = self.cone_values(jj) if self.cone else self.vals.v[:, jj]
        cellv = self.vcell.v
        if self.kernels:
            pos, neg, near, above = vertex_kernels.crossing_cells(u[:, None] if self.cone else self.vals.data,
                                                                  0 if self.cone else jj,
                                                                  self.vcell.data[:self.vcell.n], nc, self.tol)
        else:
            pos = np.bincount(cellv, weights=u > self.tol, minlength=nc) > 0
            neg = np.bincount(cellv, weights=u < -self.tol, minlength=nc) > 0
        group = self.group.v
        gflat = flat[group, j]
        cross = pos & neg & ~gflat
        sign = np.where(pos & ~neg, 1, -1).astype(np.int8)
        sign[gflat] = np.where(zt[group[gflat], j] > 0, 1, -1)
        sign[cross] = 1  # the positive side keeps the cell's index
        self.signs.v[:, j] = sign
        C = np.nonzero(cross)[0]
        if C.size and (np.any(cross & near) if self.kernels else np.any(cross[cellv] & (np.abs(u) <= self.tol))):
            self.decide_near_vertices(l, j, jj, u, cross, above if self.kernels else None)
        if C.size:
            self.split(l, j, jj, C, u, cross, above if self.kernels else None)

    def decide_near_vertices(self, l: int, j: int, jj: int, u: np.ndarray, cross: np.ndarray,
                             above: np.ndarray | None) -> None:
        """Decide exactly the side of unit j's hyperplane at the vertices of crossing cells whose
        float value is within ``tol`` (rare: the numba fast path never comes here otherwise).

        Each such vertex is recomputed in rationals as the intersection of the constraints
        active at it (:meth:`exact_vertex`) and unit j's exact hyperplane is evaluated there
        (:mod:`relucompile.regions.exact_vertices`).  An exact 0 is a real degeneracy (the cut
        through a vertex makes the cells non-simple): :class:`DegenerateVertexSet`.  Otherwise
        the vertex's float value is replaced by the exact value (nearest float, divided by the
        float norm the engine's values are normalised by; at least :data:`TINY` in size), so
        the vertex goes to the exact side and the cut proceeds as usual.  Its new vertices are
        interpolated in floats: their coordinates are off by rounding only (the edge is cut at
        lambda = u_p / (u_p - u_q) in [0, 1]), while the combinatorics -- which edges are cut,
        the new vertices' active sets and adjacency -- is the exact arrangement's, which is what
        the cells, their patterns and facets are made of.  A piece this leaves thinner than
        ``tol`` is dropped at the end as every sliver is (:meth:`chebyshev_check`).

        On R^d a vertex at infinity (s = 0) whose value and drift are both within ``tol`` is not
        decided here (its exact side needs the far truncation's limit): still degenerate.
        """
        started = time.perf_counter()
        cellv = self.vcell.v
        near = np.nonzero(cross[cellv] & (np.abs(u) <= self.tol))[0]
        if self.cone and np.any(self.X.v[near, -1] == 0):
            raise DegenerateVertexSet(f"layer {l} unit {j}: a cutting hyperplane passes within "
                                      f"{self.tol:g} of a vertex at infinity")
        if self.exact is None:
            self.exact = ExactPlanes(self.net)
        for v in near.tolist():
            value, norm = self.exact_unit_value(l, j, v)
            if value == 0:
                raise DegenerateVertexSet(f"layer {l} unit {j}: a cutting hyperplane passes exactly through "
                                          f"a vertex (its exact value there is 0)")
            distance = float(value) / norm      # Fraction -> float: correctly rounded
            distance = distance if distance != 0.0 else (TINY if value > 0 else -TINY)
            u[v] = distance
            if self.cone:     # u holds distances, the value rows (y, s) hold s times them
                self.vals.v[v, jj] = distance * self.X.v[v, -1]
            if above is not None:
                above[v] = distance > 0
        self.exact_checks += near.size
        self.exact_seconds += time.perf_counter() - started

    def exact_vertex(self, v: int) -> list:
        """Vertex row v in exact rationals: the point where the constraints active at it (box
        sides, orthant walls, the cuts on its cell's path) and the domain's equalities meet."""
        cell = int(self.vcell.v[v])
        k, hull = self.k, self.hull
        planes = [float_plane(a, -rhs) for a, rhs in hull.equalities]
        for local in self.act.v[v].tolist():
            if local >= 2 * k:
                h = int(self.path_h.v[cell, local - 2 * k])
                planes.append(self.exact.from_key(self.result.hyperplanes.key(h)))
            elif self.cone:       # wall x_i = o_i (the wall s >= 0 is never active at a finite vertex)
                planes.append(float_plane(np.eye(self.k)[local], -self.cone_centre[local]))
            else:                 # box side: row i of Gx x <= gx, active
                i = int(self.lo_row[local // 2] if local % 2 == 0 else self.hi_row[local // 2])
                planes.append(float_plane(hull.Gx[i], -hull.gx[i]))
        x = solve_point(planes)
        if x is None:
            raise DegenerateVertexSet("a vertex's active constraints do not meet in one point")
        return x

    def exact_unit_value(self, l: int, j: int, v: int) -> tuple:
        """Unit j of layer l at vertex row v, exactly (the cell's prefix pattern), and the float
        norm (in the hull's coordinates) of its hyperplane, by which the engine's values are
        normalised."""
        group = int(self.group.v[self.vcell.v[v]])
        w, b = self.exact.unit(l, j, self._prefix[group])
        norm = float(np.linalg.norm(np.asarray(w, dtype=np.float64) @ self.hull.U))
        return value_at(w, b, self.exact_vertex(v)), norm

    def cone_values(self, jj: int) -> np.ndarray:
        """Unit jj's values on R^d, with ties at infinity broken by a far truncation (the signs
        the crossing test and the cut use).

        A hyperplane parallel to a cell's direction at infinity (e.g. a unit fed by one active unit
        of the layer before, parallel to that unit's hyperplane) has value 0 at that ideal vertex
        (s = 0): not a degenerate vertex, but the sign of the value must still be decided.  The
        engine decides it as on the truncation of R^d by the far cross-polytope
        {sum |x_i - o_i| <= 1 / delta}, delta -> 0+ (same cells and facets; bounded cells keep
        their vertices): every vertex row is r + delta r' to first order (``X1`` holds r', the
        start rows' drift from the truncation; cuts interpolate it in dual numbers) and a value
        u + delta u'.  An ideal vertex with |u| <= tol gets u = 0 exactly and the sign of u';
        only a finite vertex within tol of the cut, or an ideal one with |u| and |u'| within tol,
        is degenerate.  A finite row (y, s) is the point y / s: its distance to the cut is u / s,
        so the values returned are u / s (the signs are u's), floored at s = ROUNDING_NOISE / tol
        (far points, s -> 0, where u itself is as small as its rounding) -- a distance test in
        the point's coordinates as on boxes, not in the row's (a point 10^4 away has s ~ 10^-4).
        """
        u = self.vals.v[:, jj]
        drift = self.vals1.v[:, jj]
        s = self.X.v[:, -1]
        at_infinity = (s == 0) & (np.abs(u) <= self.tol)
        u[at_infinity] = 0.0
        return np.where(at_infinity, drift, u / np.maximum(s, ROUNDING_NOISE / self.tol))

    def split(self, l: int, j: int, jj: int, C: np.ndarray, u: np.ndarray, cross: np.ndarray,
              above: np.ndarray | None = None) -> None:
        """Cut the cells C by unit j (values ``u``; ``above``: u > 0, from the compiled path)."""
        k = self.k
        nc = self.group.n
        new = nc + np.arange(C.size)
        child_of = np.full(nc, -1, dtype=np.int64)
        child_of[C] = new
        g = self.group.v[C]
        hid = self.hyperplane_ids(l, j, g)
        d0 = self.depth.v[C].astype(np.int64)
        if d0.size and int(d0.max()) >= self.path_h.data.shape[1]:
            self.widen_paths(2 * self.path_h.data.shape[1])
        cut_local = np.full(nc, -1, dtype=np.int64)
        cut_local[C] = 2 * k + d0
        # cells: the positive side keeps the cell's index, the negative side is appended
        self.path_h.v[C, d0] = hid
        self.path_s.v[C, d0] = 1
        child_path_s = self.path_s.v[C].copy()
        child_path_s[np.arange(C.size), d0] = -1
        self.path_h.extend(self.path_h.v[C])
        self.path_s.extend(child_path_s)
        self.depth.v[C] += 1
        self.depth.extend(self.depth.v[C])
        child_signs = self.signs.v[C].copy()
        child_signs[:, j] = -1
        self.signs.extend(child_signs)
        self.group.extend(g)
        if self.kernels:
            self.cut_vertices_compiled(l, j, jj, cross, above, child_of, cut_local)
        else:
            self.cut_vertices(l, j, jj, cross, u, child_of, cut_local)

    def cut_vertices_compiled(self, l: int, j: int, jj: int, cross: np.ndarray, above: np.ndarray,
                              child_of: np.ndarray, cut_local: np.ndarray) -> None:
        """:meth:`cut_vertices` by the compiled kernels of :mod:`relucompile.regions.vertex_kernels`: the same
        rows in the same order, written in place (no temporary per-edge arrays, no global sort);
        ``above``: each vertex's value is above 0."""
        kern = vertex_kernels
        base = self.X.n
        p, q, slot = kern.cut_edges(above, self.nbr.data, cross, self.vcell.data, child_of, base)
        E = p.size
        if base + 2 * E >= 2**31 - 1:
            raise RegionLimitError("more than 2^31 vertices: the vertex engine's limit")
        drifting = (self.X1, self.vals1) if self.cone else ()
        for rows in (self.X, self.vals, self.act, self.hsh, self.nbr, self.vcell) + drifting:
            rows.reserve(2 * E)
        X1, V1 = (self.X1.data, self.vals1.data) if self.cone else (_NO_DRIFT, _NO_DRIFT)
        status = kern.cut_rows(p, q, slot, jj, base, self.X.data, self.vals.data, self.act.data, self.hsh.data,
                               self.nbr.data, self.vcell.data, cut_local, child_of, self.R, _MIX, X1, V1)
        if status == kern.EDGE_AT_INFINITY:
            raise DegenerateVertexSet(f"layer {l} unit {j}: a cutting hyperplane contains an edge at infinity")
        if status != kern.OK:
            raise DegenerateVertexSet(f"layer {l} unit {j}: an edge key does not occur exactly twice")

    def cut_vertices(self, l: int, j: int, jj: int, cross: np.ndarray, u: np.ndarray,
                     child_of: np.ndarray, cut_local: np.ndarray) -> None:
        """Cut the vertex sets of the crossing cells; keep the adjacency ``nbr`` exact.

        ``nbr[v, i]`` is the vertex joined to v by the edge that leaves constraint ``act[v, i]``.
        An edge p -> q with p above and q below the cut gives a new vertex e on it, in both
        pieces: across the cut e is joined to p (upper piece) or q (lower piece); its other
        neighbours are the new vertices sharing k - 1 constraints with it (found by sorting the
        hashes of "active set minus one", each of which occurs exactly twice).
        """
        k = self.k
        cellv, nbr, act = self.vcell.v, self.nbr.v, self.act.v
        vi = np.nonzero(cross[cellv])[0]
        up = u[vi] > 0
        P = vi[up]
        Q = nbr[P]
        edge_r, edge_i = np.nonzero(u[Q] <= 0)
        p, i = P[edge_r], edge_i
        q = Q[edge_r, edge_i]
        E = p.size
        X = self.X.v
        V = self.vals.v
        if self.cone:
            Xn, Vn, X1n, V1n = self.dual_cut_points(l, j, jj, p, q)
        else:
            upv, uqv = u[p], u[q]
            lam = (upv / (upv - uqv))[:, None]
            Xn = X[p] + lam * (X[q] - X[p])
            Vn = V[p] + lam * (V[q] - V[p])
        Vn[:, jj] = 0.0
        c_of = cellv[p]
        rows = np.arange(E)
        actn = act[p].copy()
        dropped = actn[rows, i]
        cut = cut_local[c_of]
        actn[rows, i] = cut
        hshn = self.hsh.v[p] - self.R[dropped] + self.R[cut]
        # the new vertices' edges inside the cut: pair the keys "active set minus one"
        keys = hshn[:, None] - self.R[actn]
        keys ^= (c_of.astype(np.uint64) * _MIX)[:, None]
        inside = np.ones((E, k), dtype=bool)
        inside[rows, i] = False
        flat_index = np.nonzero(inside.ravel())[0]
        flatkeys = keys.ravel()[flat_index]
        order = _pairing_order(flatkeys)
        if order is None:
            raise DegenerateVertexSet(f"layer {l} unit {j}: an edge key does not occur exactly twice")
        a = flat_index[order[0::2]]
        b = flat_index[order[1::2]]
        a_e, a_i = np.divmod(a, k)
        b_e, b_i = np.divmod(b, k)
        base = self.X.n
        if base + 2 * E >= 2**31 - 1:
            raise RegionLimitError("more than 2^31 vertices: the vertex engine's limit")
        nbr_up = np.empty((E, k), dtype=nbr.dtype)
        nbr_up[rows, i] = p
        nbr_up[a_e, a_i] = base + b_e
        nbr_up[b_e, b_i] = base + a_e
        nbr_down = nbr_up + E
        nbr_down[rows, i] = q
        # q's slot for the edge to p: the constraint of q that p does not have
        slot_q = np.argmax(nbr[q] == p[:, None], axis=1)
        nbr[p, i] = base + rows
        nbr[q, slot_q] = base + E + rows
        c_down = child_of[c_of].astype(cellv.dtype)
        # the lower vertices move to the new cell; the new vertices belong to both pieces
        down = vi[~up]
        cellv[down] = child_of[cellv[down]]
        self.X.extend_twice(Xn, Xn)
        self.vals.extend_twice(Vn, Vn)
        if self.cone:
            V1n[:, jj] = 0.0
            self.X1.extend_twice(X1n, X1n)
            self.vals1.extend_twice(V1n, V1n)
        self.act.extend_twice(actn, actn)
        self.hsh.extend_twice(hshn, hshn)
        self.nbr.extend_twice(nbr_up, nbr_down)
        self.vcell.extend_twice(c_of, c_down)

    def dual_cut_points(self, l: int, j: int, jj: int, p: np.ndarray, q: np.ndarray):
        """Rows, values and their drifts (see :meth:`cone_values`) of the points where the edges
        p -> q meet unit jj's hyperplane, in dual numbers: lambda = a / (a - b) for the values
        a + delta a', b + delta b' at p and q, so lambda' = (a b' - a' b) / (a - b)^2, and a point
        p + lambda (q - p) drifts by p' + lambda (q' - p') + lambda' (q - p).  A point at lambda = 1
        is q exactly.  An edge with a = b = 0 (both ends at infinity on the hyperplane) is cut at
        lambda = a' / (a' - b') if its ends are the same point (then lambda' does not matter),
        else it is degenerate (the sign would need second-order terms)."""
        X, V, X1, V1 = self.X.v, self.vals.v, self.X1.v, self.vals1.v
        a, b, a1, b1 = V[p, jj], V[q, jj], V1[p, jj], V1[q, jj]
        gap = a - b
        both_zero = gap == 0
        if np.any(both_zero) and not np.array_equal(X[p[both_zero]], X[q[both_zero]]):
            raise DegenerateVertexSet(f"layer {l} unit {j}: a cutting hyperplane contains an edge at infinity")
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.where(both_zero, a1 / (a1 - b1), a / gap)[:, None]
            lam1 = np.where(both_zero, 0.0, (a * b1 - a1 * b) / (gap * gap))[:, None]
        at_q = lam == 1.0
        Xn = np.where(at_q, X[q], X[p] + lam * (X[q] - X[p]))
        Vn = np.where(at_q, V[q], V[p] + lam * (V[q] - V[p]))
        X1n = X1[p] + lam * (X1[q] - X1[p]) + lam1 * (X[q] - X[p])
        V1n = V1[p] + lam * (V1[q] - V1[p]) + lam1 * (V[q] - V[p])
        return Xn, Vn, X1n, V1n

    def widen_paths(self, width: int) -> None:
        for rows in (self.path_h, self.path_s):
            wider = np.zeros((len(rows.data), width), dtype=rows.data.dtype)
            wider[:, :rows.data.shape[1]] = rows.data
            rows.data = wider

    def hyperplane_ids(self, l: int, j: int, groups: np.ndarray) -> np.ndarray:
        """The hyperplane index of unit j of layer l in each group (registered on first use)."""
        Z, z = self.layer_maps
        out = np.empty(groups.size, dtype=np.int64)
        for n, g in enumerate(groups.tolist()):
            out[n] = self.register(("unit", l, j, self._prefix[g].tobytes()), Z[g, j], float(z[g, j]))
        return out

    def finish(self, prefix: np.ndarray, A: np.ndarray, c: np.ndarray) -> None:
        """Cells from the vertex sets: facets, interior point, radius, boundedness.

        On R^d a cell is the union of its pieces in the orthants (the same pattern): its facets
        are the pieces' facets other than the orthant walls, it is unbounded iff a piece has a
        vertex at infinity (s = 0), its interior point is the centre of its roundest piece and
        its radius is capped at 1 (as the split engine caps its Chebyshev LP).
        """
        k = self.k
        nc = self.group.n
        cellv, act, X = self.vcell.v, self.act.v, self.X.v
        if self.kernels:
            centre = vertex_kernels.cell_sums(cellv, X, nc)
        else:
            centre = np.stack([np.bincount(cellv, weights=X[:, i], minlength=nc) for i in range(X.shape[1])], axis=1)
        x = centre[:, :-1] / centre[:, -1:]
        width = 2 * k + self.path_h.data.shape[1]
        if self.kernels:
            marks = vertex_kernels.active_marks(cellv, act, nc, width)
        else:
            marks = np.zeros((nc, width), dtype=bool)
            marks[cellv[:, None], act] = True
        rows, local = np.nonzero(marks)
        is_dom = local < 2 * k
        h = np.where(is_dom, self.domain_h[np.minimum(local, 2 * k - 1)],
                     self.path_h.v[rows, np.maximum(local - 2 * k, 0)])
        s = np.where(is_dom, 1, self.path_s.v[rows, np.maximum(local - 2 * k, 0)]).astype(np.int64)
        keep = h >= 0
        rows, h, s = rows[keep], h[keep], s[keep]
        if self.cone:
            packed = np.packbits(prefix, axis=1) if prefix.shape[1] else np.zeros((nc, 1), np.uint8)
            _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
            merged = np.argsort(np.argsort(first))[inverse.ravel()]   # numbered by first piece
            n_cells = len(first)
            triples = np.unique(np.stack([merged[rows], h, s], axis=1), axis=0) if rows.size else \
                np.zeros((0, 3), dtype=np.int64)
            rows, h, s = triples[:, 0], triples[:, 1], triples[:, 2]
            at_infinity = np.bincount(cellv, weights=X[:, -1] == 0, minlength=nc) > 0
            bounded = np.bincount(merged, weights=at_infinity, minlength=n_cells) == 0
        else:
            merged, n_cells = np.arange(nc), nc
            bounded = np.ones(nc, dtype=bool)
        ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_cells))])
        # each piece's distance to the facets of its cell (distances in the hull's coordinates)
        lengths = ptr[merged + 1] - ptr[merged]
        piece_of = np.repeat(np.arange(nc), lengths)
        offsets = np.arange(piece_of.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        f = np.repeat(ptr[merged], lengths) + offsets
        Wf, bf = self.result.hyperplanes.W[h[f]], self.result.hyperplanes.b[h[f]]
        dist = s[f] * (np.einsum("fd,fd->f", Wf, x[piece_of]) + bf) / np.linalg.norm(np.einsum("fd,dk->fk", Wf, self.hull.U), axis=1)
        piece_radius = np.full(nc, np.inf)
        np.minimum.at(piece_radius, piece_of, dist)
        if self.cone:
            order = np.lexsort((-piece_radius, merged))
            best = order[np.unique(merged[order], return_index=True)[1]]
            radius = np.minimum(piece_radius[best], 1.0)
        else:
            best, radius = np.arange(nc), piece_radius
        interior = x[best]
        keep = self.chebyshev_check(radius, interior, ptr, h, s)
        if not keep.all():   # slivers: drop them and their facet rows
            rows_kept = np.repeat(keep, np.diff(ptr))
            h, s = h[rows_kept], s[rows_kept]
            ptr = np.concatenate([[0], np.cumsum(np.diff(ptr)[keep])])
            best, radius, bounded, interior = best[keep], radius[keep], bounded[keep], interior[keep]
        self.result.cells.append_many(patterns=prefix[best], A=A[best], c=c[best], interior=interior,
                                      radius=radius, bounded=bounded, facet_ptr=ptr, facet_h=h,
                                      facet_side=s)

    def chebyshev_check(self, radius, interior, ptr, h, s) -> np.ndarray:
        """Keep-mask of the cells: those whose ball around the interior point is thinner than
        10 tol get their Chebyshev ball by LP (radius and interior updated in place) and are
        dropped as slivers when its radius is at most tol, as the split engine drops them."""
        from relucompile.numeric.lp import LinearProgram
        keep = np.ones(radius.size, dtype=bool)
        U, x0 = self.hull.U, self.hull.x0
        W, b = self.result.hyperplanes.W, self.result.hyperplanes.b
        for a in np.nonzero(radius <= 10 * self.tol)[0].tolist():
            rows = slice(ptr[a], ptr[a + 1])
            sides = s[rows][:, None]
            lp = LinearProgram(self.k, cap=1.0 if self.cone else 1e6)
            for row, rhs in zip(-sides * (W[h[rows]] @ U), sides[:, 0] * (b[h[rows]] + W[h[rows]] @ x0)):
                lp.add_row(row, rhs)
            centre, r = lp.chebyshev()
            self.slivers += 1
            if centre is None or r <= self.tol:
                keep[a] = False
            else:
                radius[a], interior[a] = r, x0 + U @ centre
        return keep


_WORKER: dict = {}


def _init_vertex_worker(template: dict) -> None:
    """A worker's state: the run's attributes at the split (network, hyperplane table so far...)."""
    _WORKER["template"] = template


def _run_vertex_task(task: dict) -> tuple[RegionSet, dict]:
    """Cut one chunk of cells by the remaining layers and finish them, in a fresh run whose
    hyperplane table starts as the run's table at the split (so the cells' paths stay valid)."""
    run = object.__new__(_VertexRun)
    run.__dict__.update(_WORKER["template"])
    template_result = _WORKER["template"]["result"]
    run.result = RegionSet(template_result.domain, template_result.d, template_result.m, template_result.widths,
                           hyperplanes=copy.deepcopy(template_result.hyperplanes))
    run.in_task, run.progress, run.slivers, run.chunks, run.total_vertices = True, None, 0, 0, 0
    run.exact_checks, run.exact_seconds = 0, 0.0
    n = len(task["counts"])
    run.X, run.act, run.hsh, run.nbr = _Rows(task["X"]), _Rows(task["act"]), _Rows(task["hsh"]), _Rows(task["nbr"])
    run.X1 = _Rows(task["X1"]) if run.cone else None
    run.vcell = _Rows(np.repeat(np.arange(n, dtype=np.int32), task["counts"]))
    run.group = _Rows(np.arange(n, dtype=np.int64))
    run.depth = _Rows(task["depth"].copy())
    run.path_h, run.path_s = _Rows(task["path_h"].copy()), _Rows(task["path_s"].copy())
    run.run_layers(task["layer"], task["blocks"], task["prefix"])
    stats = {"slivers": run.slivers, "chunks": run.chunks, "vertices": run.total_vertices,
             "exact_checks": run.exact_checks, "exact_seconds": run.exact_seconds,
             "compiled": bool(run.kernels)}
    if "raw_path" not in task:
        return run.result, stats
    return RawTaskPart.write(task["raw_path"], run.result, len(template_result.hyperplanes)), stats


@dataclass
class RawTaskPart:
    """What a task that wrote its cells to a raw part returns (no cell): the part's path, its
    cells and facets, the hyperplanes it registered beyond the run's table at the split (compact
    keys, rows of W and b: its numbers from ``known`` on) and its hyperplanes in first-use order."""

    path: str
    cells: int
    facets: int
    keys: list
    W: np.ndarray
    b: np.ndarray
    first_used: np.ndarray

    @classmethod
    def write(cls, path: str, regions: RegionSet, known: int) -> "RawTaskPart":
        """Write ``regions``' cells to the raw part at ``path`` (atomically) and describe it."""
        from relucompile.regions.spill import first_use, raw_arrays, write_raw_part
        cells = regions.cells
        write_raw_part(path, raw_arrays(cells))
        keys, W, b = regions.hyperplanes.rows_since(known)
        return cls(path, len(cells), int(cells.facet_h.size), keys, W.copy(), b.copy(), first_use(cells.facet_h))


def global_hyperplane_rows(table: HyperplaneStore, known: int, keys: list[bytes], W: np.ndarray,
                           b: np.ndarray) -> np.ndarray:
    """Global index in ``table`` of each hyperplane of a task's table: the first ``known`` are
    the table at the split (same numbers), the rest (``keys``, ``W``, ``b``: what the task
    registered beyond them) are found or registered in ``table``.

    Example:
        >>> from relucompile.regions.store import compact_key
        >>> table = HyperplaneStore(1)
        >>> _ = [table.index(("domain", k), np.ones(1), 0.0) for k in (0, 1, 2)]   # 2: merged from a task
        >>> keys = [compact_key(("domain", k)) for k in (3, 2)]
        >>> global_hyperplane_rows(table, 2, keys, np.ones((2, 1)), np.zeros(2)).tolist()
        [0, 1, 3, 2]
    """
    local = np.arange(known + len(keys), dtype=np.int64)
    local[known:] = table.index_many(keys, W, b)
    return local


def warm_up() -> float:
    """Compile (or load from the disk cache) every kernel of :mod:`relucompile.regions.vertex_kernels`
    on a tiny cut; the CPU seconds it took (0.0 without numba).

    Example:
        >>> warm_up() >= 0.0
        True
    """
    global KERNEL_MIN_ROWS
    start = time.process_time()
    if not vertex_kernels.AVAILABLE:
        return 0.0
    net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.3], [0.2, 1.0]])}, np.array([0.1, -0.2]))],
                  AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
    threshold = KERNEL_MIN_ROWS
    KERNEL_MIN_ROWS = 0        # the tiny cut must take the compiled path
    try:
        regions = VertexEngine()(net, Domain.box([-1, -1], [1, 1]))
    finally:
        KERNEL_MIN_ROWS = threshold
    assert regions.stats["compiled"]
    return time.process_time() - start
