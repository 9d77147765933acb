"""The split engine's run: depth-first layer-by-layer splitting with warm-started LPs.

The run is a depth-first layer-by-layer split (the design, section 1):

* Work in the domain's affine hull ``x = x0 + U t`` so every cell is full-dimensional in t.
* Under the pattern of the layers already fixed, each unit's pre-activation is affine in x.  A
  unit is *stable* on the current polytope P if its sign cannot change there: decided by points
  already known in P (witnesses), cheap interval bounds over P's bounding box, and otherwise one
  warm-started LP.  A unit whose sign changes strictly inside P *crosses*.
* Split P on the first crossing unit: each side is kept if its Chebyshev radius exceeds the
  tolerance (no slivers), and the remaining units are re-examined inside it.
* A side whose parent's interior point keeps a ball wider than the tolerance is no sliver; its
  Chebyshev LP waits for the leaf (the cell's radius and interior point come from it).
* At a leaf (every layer fixed) the cell's inequalities are the split rows on the path plus the
  domain rows; redundant ones are removed one at a time (sequentially, so duplicate hyperplanes
  keep one copy).  Stable units never give facets: they do not touch the cell's interior.  Most
  rows are decided without an LP by witness points and the cell's vertices
  (:mod:`relucompile.regions.facet_certificates`); the rest by the LP, with the same answers.
* ``jobs``: the tree is cut into subtrees run by a process pool with the same result for every
  ``jobs`` (:mod:`relucompile.regions.parallel`).

All decisions use rows normalised to unit length, so ``tol`` is a Euclidean distance in the
hull's coordinates, scaled by the domain's size.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))], AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
    >>> len(_SplitRun(net, Domain.box([-1], [1]), Limits(), None, 1e-8).execute())
    2
"""
from __future__ import annotations

import sys
import time
from array import array
from dataclasses import dataclass
from typing import Callable

import numpy as np

from relucompile.errors import DomainError, RegionLimitError
from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.limits import check_time
from relucompile.numeric.lp import LinearProgram, chebyshev_center
from relucompile.regions.facet_certificates import facet_certificates
from relucompile.regions.store import RegionSet
from relucompile.numeric.tolerances import GEOMETRIC_TOL, MIN_TOL_SCALE, ROUNDING_NOISE


@dataclass
class Limits:
    """Bounds on a run: stop with RegionLimitError past ``max_regions`` cells or ``time_limit`` s."""

    max_regions: int | None = None
    time_limit: float | None = None


ProgressFn = Callable[[int, dict], None]

EVENT_H, EVENT_C, EVENT_T = 0, 1, 2
"""Kinds of the split run's event log (hyperplane registered, cell finished, subtree cut off)."""


def event(kind: int, index: int) -> int:
    """One entry of the event log: ``index << 2 | kind`` (an int64 in an ``array('q')``).

    Example:
        >>> event(EVENT_C, 5) >> 2, event(EVENT_C, 5) & 3 == EVENT_C
        (5, True)
    """
    return index << 2 | kind


class _SplitRun:
    def __init__(self, net: ReluNet, domain: Domain, limits: Limits, progress: ProgressFn | None,
                 rel_tol: float, cut_depth: int | None = None, start: float | None = None) -> None:
        if domain.d != net.d:
            raise DomainError(f"the domain has dimension {domain.d} but the model has {net.d} inputs")
        self.net, self.domain, self.limits, self.progress = net, domain, limits, progress
        self.hull = domain.hull()
        self.k = self.hull.k
        self.bounded_domain = domain.bounded
        scale = 1.0
        if self.hull.Gt.shape[0]:
            _, radius = chebyshev_center(self.hull.Gt, self.hull.gt)
            if radius <= 0:
                    raise DomainError("the domain has no interior in its affine hull")
            scale = min(max(radius, MIN_TOL_SCALE), 1.0) if self.bounded_domain else 1.0
        self.tol = rel_tol * scale
        self.lp = LinearProgram(self.k, cap=1.0 if not self.bounded_domain else max(1.0, 2 * scale))
        self.result = RegionSet(domain, net.d, net.m, net.widths)
        self.layer_offsets = np.concatenate([[0], np.cumsum(net.widths)]).astype(int)
        self.start = time.time() if start is None else start
        self.nodes = 0
        # the run's log, replayed to merge subtrees in serial order, one int64 per event
        # (:func:`event`): EVENT_H with the hyperplane index when a hyperplane is registered,
        # EVENT_C with the cell index when a cell is finished, EVENT_T with the task index
        # where a subtree was cut off (at ``cut_depth`` splits) into ``self.tasks``
        self.events = array("q")
        self.cut_depth = cut_depth
        self.tasks: list[dict] = []
        # path: the rows pushed after the domain rows, with the hyperplane index and side
        self.path: list[tuple[int, int]] = []
        self.domain_rows: list[int] = []

    # -- helpers --------------------------------------------------------------------------
    def to_t(self, M: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Affine maps in x (rows of M, offsets m) expressed in hull coordinates t."""
        return M @ self.hull.U, m + M @ self.hull.x0

    def to_x(self, t: np.ndarray) -> np.ndarray:
        return self.hull.x0 + self.hull.U @ t

    def check_limits(self) -> None:
        n = len(self.result.cells)
        if self.limits.max_regions is not None and n >= self.limits.max_regions:
            raise RegionLimitError(f"stopped after {n} regions (--max-regions {self.limits.max_regions}); "
                                   "use a smaller domain (--box) or raise the limit")
        if self.limits.time_limit is not None and time.time() - self.start > self.limits.time_limit:
            raise RegionLimitError(f"stopped after {self.limits.time_limit:g} s with {n} regions "
                                   "(--time-limit); use a smaller domain (--box) or raise the limit")
        check_time()   # the run's budget, when it started before this engine (relucompile.limits)

    # -- main -----------------------------------------------------------------------------
    def hyperplane(self, key: tuple, w: np.ndarray, b: float) -> int:
        """Index of a hyperplane in this run's table, logging its first registration."""
        n = len(self.result.hyperplanes)
        i = self.result.hyperplane_index(key, w, b)
        if i == n:
            self.events.append(event(EVENT_H, i))
        return i

    def add_domain_rows(self, log: bool = True) -> None:
        for i, (row, rhs) in enumerate(zip(self.hull.Gt, self.hull.gt)):
            if np.any(row):
                self.lp.add_row(row, rhs)
                key, w, b = ("domain", i), -self.hull.Gx[i], self.hull.gx[i]
                h = self.hyperplane(key, w, b) if log else self.result.hyperplane_index(key, w, b)
                self.domain_rows.append(h)

    def with_recursion(self, fn, *args) -> None:
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, 10000 + 10 * self.net.num_units))
        try:
            fn(*args)
        finally:
            sys.setrecursionlimit(old_limit)

    def execute(self) -> RegionSet:
        """Enumerate from the root (subtrees past ``cut_depth`` splits are left in ``tasks``)."""
        self.add_domain_rows()
        centre, radius = self.lp.chebyshev()
        # the current polytope's Chebyshev radius (None: not solved yet; its centre is then
        # some interior point t_int) and the radius of a ball around t_int known to lie inside
        self.radius, self.inner = radius, radius
        eye = np.eye(self.net.d)
        self.with_recursion(self.enter_layer, 0, [(eye, np.zeros(self.net.d))], [], centre,
                            np.zeros((0, self.k)))
        return self.result

    def run_task(self, task: dict) -> RegionSet:
        """Enumerate one subtree cut off by :meth:`resolve` (in a fresh run, with a fresh LP)."""
        self.add_domain_rows(log=False)
        for (key, w, b, s), (a, rhs) in zip(task["path"], task["rows"]):
            self.lp.add_row(a, rhs)
            self.path.append((self.result.hyperplane_index(key, w, b), s))
        self.radius, self.inner = task["radius"], task["inner"]
        self.with_recursion(self.resolve, *task["args"])
        return self.result

    def cut(self, args: tuple) -> None:
        """Leave the subtree at the current node to a task (state: LP rows, path, arguments)."""
        nd = len(self.domain_rows)
        path = [(self.result.hyperplanes[h].key, self.result.hyperplanes[h].w, self.result.hyperplanes[h].b, s)
                for h, s in self.path]
        self.tasks.append({"path": path, "rows": list(self.lp.rows[nd:]), "radius": self.radius,
                           "inner": self.inner, "args": args})
        self.events.append(event(EVENT_T, len(self.tasks) - 1))

    def enter_layer(self, l: int, blocks, pattern: list[np.ndarray], t_int: np.ndarray,
                    witnesses: np.ndarray) -> None:
        """Start fixing layer l (or finish a cell when every layer is fixed)."""
        if l == len(self.net.layers):
            self.finish_cell(blocks, pattern, t_int, self.radius)
            return
        Mx, mx = ReluNet.preactivation(self.net.layers[l], blocks)
        Zt, zt = self.to_t(Mx, mx)
        norms = np.linalg.norm(Zt, axis=1)
        n = Zt.shape[0]
        signs = np.zeros(n, dtype=np.int8)
        flat = norms <= ROUNDING_NOISE * (1.0 + np.abs(zt))
        signs[flat] = np.where(zt[flat] > 0, 1, -1)
        safe = np.where(flat, 1.0, norms)
        unit = (Zt / safe[:, None], zt / safe)
        # witnesses: the bounding-box vertices of P also give interval bounds (bounded domains)
        if self.bounded_domain:
            lo, hi, pts = self.bounding_box()
            witnesses = np.vstack([witnesses, pts]) if witnesses.size else pts
            W, w0 = unit
            centre, half = (lo + hi) / 2, (hi - lo) / 2
            mid = W @ centre + w0
            spread = np.abs(W) @ half
            undecided = ~flat
            signs[undecided & (mid - spread > self.tol)] = 1
            signs[undecided & (mid + spread < -self.tol)] = -1
        undecided = np.nonzero(signs == 0)[0]
        self.resolve(l, blocks, pattern, Mx, mx, unit, signs, undecided, t_int, witnesses)

    def bounding_box(self):
        return self.lp.box_bounds()

    def resolve(self, l, blocks, pattern, Mx, mx, unit, signs, undecided, t_int, witnesses) -> None:
        """Decide the undecided units of layer l on the current polytope; split on a crossing one."""
        if self.cut_depth is not None and len(self.path) >= self.cut_depth:
            self.cut((l, blocks, pattern, Mx, mx, unit, signs, undecided, t_int, witnesses))
            return
        W, w0 = unit
        tol = self.tol
        crossing: list[int] = []
        if undecided.size:
            vals = witnesses @ W[undecided].T + w0[undecided] if witnesses.size else np.zeros((0, undecided.size))
            at_centre = W[undecided] @ t_int + w0[undecided]
            vals = np.vstack([vals, at_centre[None, :]])
            pos, neg = np.any(vals > tol, axis=0), np.any(vals < -tol, axis=0)
            pending = []
            for j, p, q in zip(undecided, pos, neg):
                if p and q:
                    crossing.append(int(j))
                else:
                    pending.append(int(j))
            new_points = []
            for j in pending:
                if new_points:  # a fresh LP vertex may already show that j crosses
                    v = np.array(new_points) @ W[j] + w0[j]
                    sides = set(np.sign(np.where(np.abs(v) > tol, v, 0)).tolist()) - {0.0}
                    here = W[j] @ t_int + w0[j]
                    if here > tol:
                        sides.add(1.0)
                    elif here < -tol:
                        sides.add(-1.0)
                    if len(sides) == 2:
                        crossing.append(j)
                        continue
                s = self.side_hint(j, W, w0, t_int, witnesses)
                res = self.lp.minimize(s * W[j])
                if res.status == "unbounded" or (res.status == "optimal" and res.value + s * w0[j] < -tol):
                    crossing.append(j)
                    if res.x is not None:
                        new_points.append(res.x)
                    continue
                if s == 1 and res.status == "optimal" and res.value + w0[j] <= tol:
                    # min ~ 0 with no negative witness: check the other side too (z_j may be ~0)
                    other = self.lp.minimize(-W[j])
                    if other.status == "optimal" and other.value - w0[j] >= -tol:
                        signs[j] = -1  # z_j vanishes on P: both pieces agree, take "off"
                        continue
                signs[j] = s
            if new_points:
                witnesses = np.vstack([witnesses, np.array(new_points)]) if witnesses.size else np.array(new_points)
            crossing.sort()
        if not crossing:
            on = signs > 0
            M, m = Mx * on[:, None], mx * on
            self.enter_layer(l + 1, blocks + [(M, m)], pattern + [on], t_int, witnesses)
            return
        k, rest = crossing[0], np.array(crossing[1:], dtype=int)
        prefix = np.concatenate(pattern).tobytes() if pattern else b""
        h = self.hyperplane(("unit", l, k, prefix), Mx[k], mx[k])
        children = 0
        parent_radius, parent_inner = self.radius, self.inner
        at_centre = float(W[k] @ t_int + w0[k])
        for s in (1, -1):
            self.lp.add_row(-s * W[k], s * w0[k])
            ball = min(parent_inner, s * at_centre)  # a ball around t_int inside this side
            if ball > 10 * tol + GEOMETRIC_TOL:  # the side is no sliver: its Chebyshev LP waits for the leaf
                centre, radius, inner = t_int, None, ball
            else:
                centre, radius = self.lp.chebyshev()
                inner = radius
            if centre is not None and (radius is None or radius > tol):
                children += 1
                self.radius, self.inner = radius, inner
                self.nodes += 1
                self.path.append((h, s))
                child_signs = signs.copy()
                child_signs[k] = s
                keep = s * (witnesses @ W[k] + w0[k]) >= -tol if witnesses.size else np.zeros(0, bool)
                child_w = np.vstack([witnesses[keep], centre[None, :]]) if witnesses.size else centre[None, :]
                self.resolve(l, blocks, pattern, Mx, mx, unit, child_signs, rest, centre, child_w)
                self.path.pop()
            self.lp.pop_rows(1)
        self.radius, self.inner = parent_radius, parent_inner
        if children == 0:  # numerically both sides thin: keep the centre's side
            signs = signs.copy()
            signs[k] = 1 if W[k] @ t_int + w0[k] > 0 else -1
            self.resolve(l, blocks, pattern, Mx, mx, unit, signs, rest, t_int, witnesses)

    @staticmethod
    def side_hint(j, W, w0, t_int, witnesses) -> int:
        """The side unit j is probably on (largest |value| among the known points)."""
        here = W[j] @ t_int + w0[j]
        if witnesses.size:
            v = witnesses @ W[j] + w0[j]
            best = v[np.argmax(np.abs(v))]
            if abs(best) > abs(here):
                here = best
        return 1 if here >= 0 else -1

    def finish_cell(self, blocks, pattern, t_int, radius) -> None:
        self.check_limits()
        A, c = ReluNet.preactivation(self.net.output, blocks)
        if radius is None:  # the Chebyshev LP of this polytope was left for its leaf
            t_int, radius = self.lp.chebyshev()
        facets, bounded = self.irredundant_facets(t_int)
        if bounded is None:
            bounded = self.bounded_domain or self.is_bounded()
        self.events.append(event(EVENT_C, len(self.result.cells)))
        self.result.cells.add(np.concatenate(pattern) if pattern else np.zeros(0, bool), A, c,
                              [h for h, _ in facets], [s for _, s in facets], self.to_x(t_int),
                              float(radius), bool(bounded))
        if self.progress is not None:
            self.progress(len(self.result.cells), {"lps": self.lp.solves})

    def irredundant_facets(self, centre: np.ndarray) -> tuple[list[tuple[int, int]], bool | None]:
        """Sequential redundancy removal over the domain rows and the path's split rows.

        Each row is decided in order, as if by the LP "relax row i by one unit of distance and
        maximise its violation over the rows kept so far and the later rows" (violation above
        ``tol``: a facet).  Cheap certificates decide most rows without that LP (see
        :func:`facet_certificates`); only the undecided rows are solved.  Also returns whether
        the cell is bounded when the certificates show it (None: unknown).
        """
        refs = [(h, 1) for h in self.domain_rows] + list(self.path)
        rows = self.lp.rows
        verdict, bounded = facet_certificates(*self.lp.matrix(), centre, self.tol)
        freed: list[int] = []
        facets = []
        lp_started = False
        for i, ref in enumerate(refs):
            if verdict[i] == 1:
                facets.append(ref)
                continue
            if verdict[i] == -1:
                freed.append(i)
                if lp_started:
                    self.lp.set_rhs(i, None)
                continue
            if not lp_started:  # free the rows already found redundant, as the sequence would have
                lp_started = True
                for j in freed:
                    self.lp.set_rhs(j, None)
            a, b = rows[i]
            self.lp.set_rhs(i, b + 1.0)  # allow a violation of up to one unit of distance
            res = self.lp.minimize(-a)
            violation = (-res.value - b) if res.status == "optimal" else np.inf
            if violation > self.tol:
                self.lp.set_rhs(i, b)
                facets.append(ref)
            else:
                self.lp.set_rhs(i, None)
                freed.append(i)
        if lp_started:
            for i in freed:
                self.lp.set_rhs(i, rows[i][1])
        return facets, bounded

    def is_bounded(self) -> bool:
        for i in range(self.k):
            e = np.zeros(self.k)
            e[i] = 1.0
            for s in (1.0, -1.0):
                if self.lp.minimize(s * e).status != "optimal":
                    return False
        return True
