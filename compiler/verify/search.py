"""Branch and bound over input boxes: is there an x in a box where some case's rows are all <= 0?

The search keeps a stack of boxes (processed in batches for numpy's sake, depth first) and for
every box of a batch:

1. bounds every pre-activation and every spec row by back-substitution (the rows with the adaptive
   lower slopes, :data:`ROW_MODES`)
   (:mod:`relucompile.verify.bounds`, intersected with the parent box's bounds);
2. drops each case that some row proves impossible on the box (lower bound > 0), then each
   case that one combination of its rows proves impossible: ``w . r > 0`` on the box for weights
   ``w`` on the simplex (chosen on the rows' linear bounds; one row for a one-row case), bounded by
   back-substitution of the combination with lower slopes optimised per box (alpha-CROWN style),
   so the rows of a conjunction (ACAS Xu property 2) are bounded jointly; the box is dropped when
   no case is left.  A box's slope ascent starts from its parent box's last slopes (warm start,
   clipped to [0, 1] like any slopes, so it only changes where the search starts, never soundness);
3. evaluates the network at cheap candidate points (the box centre and, per case, the box
   vertex that minimises the linear lower bound of its tightest row) and stops at the first
   point that ``confirm`` accepts as a counterexample;
4. on boxes with at most :data:`LP_UNSTABLE` unstable units, solves the triangle LP relaxation
   (:mod:`relucompile.verify.lp_relaxation`) per live case: it drops cases that CROWN cannot, and its optimum
   is another candidate point;
5. decides a box exactly, cell by cell (:mod:`relucompile.verify.exact`: one LP
   ``min t s.t. r_i(x) <= t`` per cell and live case), when the network is affine on it (one
   cell) or when it is still undecided after ``exact_depth`` bisections;
6. otherwise bisects the box along the input with the largest *smear* (ReluVal): its width
   times a bound on the tightest live row's slope over the box (interval back-propagation of
   the gradient, unstable units contribute [0, 1]), i.e. the input that loosens the bound most.

With ``jobs > 1`` (``relucompile verify --jobs N``) a search still running after
:data:`PARALLEL_AFTER_BOXES` boxes deals its waiting boxes into pieces that forked processes
search one at a time; the boxes searched are the same, only shared out.

A box is only ever dropped by a sound bound or an exact LP, so "safe" is exact up to float64
rounding (margins in :mod:`relucompile.verify.bounds`; LP decisions closer to 0 than ``lp_tol``,
by default :data:`~relucompile.numeric.tolerances.LP_DECISION_TOL`, are *borderline* and counted
in the stats).  The network searched is the one whose outputs are the spec rows
(:func:`relucompile.ir.network.with_output_rows`).

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer, with_output_rows
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([0.25]))
    >>> out = search_box(spec, np.array([-1.0]), np.array([1.0]), [np.array([0])], lambda x, case: True)
    >>> out.status, bool(abs(out.x[0]) <= 0.25)           # |x| <= 0.25 happens
    ('unsafe', True)
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([-0.5]))
    >>> search_box(spec, np.array([-1.0]), np.array([1.0]), [np.array([0])], lambda x, case: True).status
    'safe'
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from relucompile.ir.network import ReluNet
from relucompile.numeric.tolerances import LP_DECISION_TOL, TINY
from relucompile.verify.bounds import (JOINT_ALPHA_STEP, Bounds, best_row_combination, optimized_combined_lower_bounds,
                                       gradient_magnitude, output_lower_bounds, preactivation_bounds)
from relucompile.verify import bound_kernels
from relucompile.verify.budget import OutOfTime
from relucompile.verify.exact import box_cells, min_violation
from relucompile.verify.lp_relaxation import triangle_lp

Confirm = Callable[[np.ndarray, int], bool]

LP_UNSTABLE = 6
"""Boxes that bound propagation cannot settle get the triangle LP when at most this many units are
unstable on them.  Since the joint bound optimises its slopes the LP rarely prunes what it leaves:
on ACAS Xu 3_3 prop_2, 12 took 44 s CPU (10259 LPs, 1720 pruned), 6 took 31 s (1231 LPs), 0 took
30 s but 5_3 prop_2 needed 3x the boxes."""

SLOPE_STEPS = 8
"""Ascent steps of the lower slopes of each box's joint bound
(:func:`~relucompile.verify.bounds.optimized_combined_lower_bounds`): on ACAS Xu 4_2 prop_2, 3, 8
and 16 steps searched 34825, 16031 and 14955 boxes in 14.6, 9.2 and 11.4 s CPU."""

WARM_SLOPE_STEPS, WARM_SLOPE_STEP = 8, 0.25
"""Ascent steps and first step of a box whose joint bound starts from its parent box's last slopes
(warm start, ``_Search.warm_start``): on ACAS Xu 3_3 / 4_2 prop_2 the warm start searched 55373 /
13503 boxes instead of 58977 / 16043 (4 steps of 0.1: 58315 / 14531)."""

ROW_MODES = ("adaptive",)
"""Lower slopes of the spec rows' own bounds (row pruning, the choice of the joint weights, candidate
vertices, the split): the adaptive ones only, as the joint bound that follows tries both
:data:`~relucompile.verify.bounds.SPEC_MODES` anyway; on ACAS Xu 3_3 / 4_2 prop_2 both modes here
searched 55373 / 13503 boxes, adaptive only 55391 / 13503 in 12% less time."""

BATCH = 1024
"""Boxes bounded together (numpy's per-call cost is shared by the batch): on ACAS Xu 3_3 prop_2
(55391 boxes either way) 256, 1024, 2048 and 4096 took about 13.4, 10.3-13.0, 10.6-11.4 and 12.6 s
of CPU (runs interleaved; this machine's speed drifts by 20% between runs)."""

COMPILE_AFTER_BOXES = 1024
"""A search past this many boxes loads the compiled relaxation step
(:mod:`relucompile.verify.bound_kernels`: numba's import and its cached compile, about 0.9 s);
quick verdicts keep numpy.  On ACAS Xu 4_2 prop_2 (13503 boxes either way) it cut the CPU of
``verify_property`` from 5.2 s to 4.5 s."""

REFINE_UNSTABLE = 12
"""Boxes with at most this many unstable units get their pre-activation bounds recomputed with the
'parallel' lower slopes (intersected with the adaptive ones) before the triangle LP."""

SPLIT_WIDTH_WEIGHT = 1e-3
"""Weight of the relative box width (against the normalised smear) when choosing the input to
bisect; only breaks ties: on ACAS Xu 3_3 / 4_2 prop_2 weights 0, 0.1, 0.25, 0.5, 1 took 24 / 19,
26 / 20, 34 / 23, 63 / 29 s and over 116 s."""


@dataclass
class SearchOutcome:
    """``status`` is 'safe', 'unsafe' (``x`` violates case ``case``) or 'timeout'."""

    status: str
    x: np.ndarray | None = None
    case: int = -1
    stats: dict = field(default_factory=dict)


@dataclass
class _Batch:
    lo: np.ndarray
    hi: np.ndarray
    bounds: Bounds | None
    alive: np.ndarray          # (n, cases) bool: cases not yet excluded on the box
    depth: np.ndarray          # (n,) number of bisections from the root
    # per case: the joint bound's last lower slopes per hidden layer, (n, n_l) each (warm start)
    slopes: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.lo.shape[0]

    def take(self, keep: np.ndarray) -> "_Batch":
        bounds = None if self.bounds is None else [(a[keep], b[keep]) for a, b in self.bounds]
        slopes = {j: [a[keep] for a in layers] for j, layers in self.slopes.items()}
        return _Batch(self.lo[keep], self.hi[keep], bounds, self.alive[keep], self.depth[keep], slopes)


class _Search:
    def __init__(self, spec: ReluNet, lo: np.ndarray, hi: np.ndarray, cases: list[np.ndarray],
                 confirm: Confirm, deadline: float | None, batch: int, exact_depth: int, lp_tol: float) -> None:
        self.spec, self.cases, self.confirm, self.deadline = spec, cases, confirm, deadline
        self.batch, self.exact_depth, self.lp_tol = batch, exact_depth, lp_tol
        self.root_lo, self.root_hi = lo, hi
        self.warm_start = True
        self.stats = dict(boxes=0, batches=0, pruned=0, affine_leaves=0, exact_leaves=0, lps=0,
                          candidates=0, rejected=0, unconfirmed=0, borderline=0, max_depth=0,
                          triangle_lps=0, lp_pruned=0, joint_pruned=0)

    def root(self) -> list[_Batch]:
        """The stack of a fresh search: the whole box."""
        return [_Batch(self.root_lo[None].copy(), self.root_hi[None].copy(), None,
                       np.ones((1, len(self.cases)), bool), np.zeros(1, int))]

    def run(self, stack: list[_Batch] | None = None, pause_after: int | None = None) -> SearchOutcome:
        """Search the boxes of ``stack`` (default: the whole box) depth first.  ``pause_after``:
        return status 'paused' (the unsearched boxes left in ``stack``) once that many boxes were
        searched and at least :data:`PARALLEL_MIN_BOXES` wait."""
        stack = self.root() if stack is None else stack
        while stack:
            if self.deadline is not None and time.perf_counter() > self.deadline:
                return SearchOutcome("timeout", stats=self.stats)
            if pause_after is not None and self.stats["boxes"] >= pause_after and \
                    sum(len(b) for b in stack) >= PARALLEL_MIN_BOXES:
                return SearchOutcome("paused", stats=self.stats)
            work = stack.pop()
            if len(work) > self.batch:
                stack.append(work.take(np.arange(self.batch, len(work))))
                work = work.take(np.arange(self.batch))
            try:
                found = self.step(work, stack)
            except OutOfTime:
                return SearchOutcome("timeout", stats=self.stats)
            if found is not None:
                return found
        return SearchOutcome("safe", stats=self.stats)

    # -- one batch ---------------------------------------------------------------------------
    def step(self, work: _Batch, stack: list[_Batch]) -> SearchOutcome | None:
        spec = self.spec
        if self.stats["boxes"] >= COMPILE_AFTER_BOXES:
            bound_kernels.load()        # once per process; forked workers inherit it
        self.stats["batches"] += 1
        self.stats["boxes"] += len(work)
        self.stats["max_depth"] = max(self.stats["max_depth"], int(work.depth.max()))
        work.bounds = preactivation_bounds(spec, work.lo, work.hi, work.bounds)
        low, A, c = output_lower_bounds(spec, work.lo, work.hi, work.bounds, modes=ROW_MODES)
        for j, rows in enumerate(self.cases):
            work.alive[:, j] &= ~np.any(low[:, rows] > 0, axis=1)
        self.joint_prune(work, low, A, c)
        live = np.any(work.alive, axis=1)
        self.stats["pruned"] += int(np.sum(~live))
        if not np.any(live):
            return None
        work, low, A = work.take(live), low[live], A[live]
        found = self.try_candidates(work, low, A)
        if found is not None:
            return found
        unstable = sum(np.sum((lb < 0) & (ub > 0), axis=1) for lb, ub in work.bounds)
        affine = unstable == 0
        small = np.nonzero(~affine & (unstable <= REFINE_UNSTABLE))[0]
        if small.size:
            sub = work.take(small)
            tighter = preactivation_bounds(spec, sub.lo, sub.hi, sub.bounds, mode="parallel")
            for (lb, ub), (tl, tu) in zip(work.bounds, tighter):
                lb[small], ub[small] = tl, tu
            unstable = sum(np.sum((lb < 0) & (ub > 0), axis=1) for lb, ub in work.bounds)
            affine = unstable == 0
            small = np.nonzero(~affine & (unstable <= LP_UNSTABLE))[0]
        if small.size:
            found = self.triangle_lps(work, small)
            if found is not None:
                return found
            keep = np.any(work.alive, axis=1)
            work, low, A, unstable = work.take(keep), low[keep], A[keep], unstable[keep]
            affine = affine[keep]
        self.stats["affine_leaves"] += int(np.sum(affine))
        deep = affine | (work.depth >= self.exact_depth)
        for n in np.nonzero(deep)[0]:
            found = self.decide_exact(work.lo[n], work.hi[n], [(lb[n], ub[n]) for lb, ub in work.bounds],
                                      work.alive[n])
            if found is not None:
                return found
        split = ~deep
        if np.any(split):
            stack.append(self.bisect(work.take(split), low[split]))
        return None

    def joint_prune(self, work: _Batch, low: np.ndarray, A: np.ndarray, c: np.ndarray) -> None:
        """Drop the cases that one combination of their rows, bounded with optimised lower slopes,
        proves impossible (sound, :func:`~relucompile.verify.bounds.optimized_combined_lower_bounds`).

        A single row is its own combination; a conjunction of rows gets weights on the simplex
        chosen on the rows' linear bounds (:func:`~relucompile.verify.bounds.best_row_combination`):
        ``max_i r_i >= w . r > 0`` prunes boxes that no row alone does."""
        mid, half = (work.lo + work.hi) / 2, (work.hi - work.lo) / 2
        exact_min = np.einsum("nqd,nd->nq", A, mid) - np.einsum("nqd,nd->nq", np.abs(A), half) + c
        c = c - np.maximum(exact_min - low, 0.0)              # the rounding margin, folded in
        for j, rows in enumerate(self.cases):
            boxes = np.nonzero(work.alive[:, j])[0]
            if not boxes.size:
                continue
            sel = np.ix_(boxes, rows)
            if rows.size > 1:
                w, _ = best_row_combination(low[sel], A[sel], c[sel], work.lo[boxes], work.hi[boxes])
            else:
                w = np.ones((boxes.size, 1))
            weights = np.zeros((boxes.size, self.spec.m))
            weights[:, rows] = w
            warm = work.slopes.get(j) if self.warm_start else None
            start = None if warm is None else [a[boxes] for a in warm]
            last: list[np.ndarray] = []
            joint, _, _ = optimized_combined_lower_bounds(
                self.spec, work.lo[boxes], work.hi[boxes], [(lb[boxes], ub[boxes]) for lb, ub in work.bounds],
                weights, steps=SLOPE_STEPS if start is None else WARM_SLOPE_STEPS, only_unproved=True,
                start_slopes=start, step=JOINT_ALPHA_STEP if start is None else WARM_SLOPE_STEP,
                slopes_out=last if self.warm_start else None)
            if self.warm_start:
                if warm is None:
                    warm = work.slopes[j] = [np.zeros((len(work), a.shape[1])) for a in last]
                for a, b in zip(warm, last):
                    a[boxes] = b
            proved = boxes[joint > 0]
            work.alive[proved, j] = False
            self.stats["joint_pruned"] += int(proved.size)

    def triangle_lps(self, work: _Batch, boxes: np.ndarray) -> SearchOutcome | None:
        """The triangle LP (:mod:`relucompile.verify.lp_relaxation`) on boxes with few unstable units: drop the
        cases it excludes; its optimum is also checked as a candidate counterexample."""
        for n in boxes:
            live = np.nonzero(work.alive[n])[0]
            self.stats["triangle_lps"] += live.size
            results = triangle_lp(self.spec, work.lo[n], work.hi[n], [(lb[n], ub[n]) for lb, ub in work.bounds],
                                  [self.cases[j] for j in live])
            for j, (t, x) in zip(live, results):
                if t > 0:
                    work.alive[n, j] = False
                elif x is not None and np.all(self.spec.forward(x[None])[0, self.cases[j]] <= 0):
                    found = self.check_point(x, int(j))
                    if found is not None:
                        return found
            if not np.any(work.alive[n]):
                self.stats["lp_pruned"] += 1
        return None

    def decide_exact(self, lo: np.ndarray, hi: np.ndarray, bounds: Bounds, alive: np.ndarray) -> SearchOutcome | None:
        """Decide the live cases on a small box cell by cell (:mod:`relucompile.verify.exact`)."""
        self.stats["exact_leaves"] += 1
        for A, c, lp in box_cells(self.spec, lo, hi, bounds, self.stats, self.deadline):
            if self.deadline is not None and time.perf_counter() > self.deadline:
                return SearchOutcome("timeout", stats=self.stats)
            for j in np.nonzero(alive)[0]:
                rows = self.cases[j]
                x, t = min_violation(lp, A[rows], c[rows])
                found = self.judge(x, t, j, lo, hi)
                if found is not None:
                    return found
        return None

    def judge(self, x: np.ndarray | None, t: float, case: int, lo: np.ndarray, hi: np.ndarray) -> SearchOutcome | None:
        """An exact cell decision ``t = min max_i r_i``: confirm a counterexample, count borderlines."""
        if x is None or t > self.lp_tol:
            return None
        x = np.clip(x, lo, hi)
        value = float(np.max(self.spec.forward(x[None])[0, self.cases[case]]))
        if t <= 0 or value <= 0:
            return self.check_point(x, case, final=True)
        self.stats["borderline"] += 1
        return None

    def check_point(self, x: np.ndarray, case: int, final: bool = False) -> SearchOutcome | None:
        """Confirm a candidate; ``final``: its box is dropped afterwards, so a rejection is
        counted as ``unconfirmed`` (the caller must not then claim the property holds)."""
        self.stats["candidates"] += 1
        if self.confirm(x, case):
            return SearchOutcome("unsafe", x, case, self.stats)
        self.stats["rejected"] += 1
        if final:
            self.stats["unconfirmed"] += 1
        return None

    def try_candidates(self, work: _Batch, low: np.ndarray, A: np.ndarray) -> SearchOutcome | None:
        """Evaluate box centres and per-case minimising vertices; confirm the unsafe ones."""
        points = [(work.lo + work.hi) / 2]
        for rows in self.cases:
            tight = rows[np.argmax(low[:, rows], axis=1)]
            slope = A[np.arange(len(work)), tight]
            points.append(np.where(slope > 0, work.lo, work.hi))
        X = np.concatenate(points)
        r = self.spec.forward(X)
        owner = np.tile(np.arange(len(work)), len(points))
        for j, rows in enumerate(self.cases):
            bad = np.nonzero(np.all(r[:, rows] <= 0, axis=1) & work.alive[owner, j])[0]
            for i in bad[:4]:
                found = self.check_point(X[i], j)
                if found is not None:
                    return found
        return None

    def bisect(self, work: _Batch, low: np.ndarray) -> _Batch:
        """Halve every box along its most influential input for its tightest live row."""
        row_alive = np.zeros((len(work), self.spec.m), bool)
        for j, rows in enumerate(self.cases):
            row_alive[:, rows] |= work.alive[:, j:j + 1]
        tight = np.argmax(np.where(row_alive, low, -np.inf), axis=1)
        return bisect_boxes(self.spec, work, tight, self.root_hi - self.root_lo)


def bisect_boxes(spec: ReluNet, work: _Batch, rows: np.ndarray, root_width: np.ndarray) -> _Batch:
    """Halve box n along the input with the largest smear of spec row ``rows[n]`` (width times a
    bound on the row's slope over the box), plus :data:`SPLIT_WIDTH_WEIGHT` times the relative
    width as a tie-break.
    The halves inherit the box's bounds (valid in them) and are re-bounded when processed."""
    n = len(work)
    idx = np.arange(n)
    width = work.hi - work.lo
    smear = gradient_magnitude(spec, work.bounds, rows) * width
    smear = smear / np.maximum(smear.max(axis=1, keepdims=True), TINY)
    relative = np.where(root_width > 0, width / np.where(root_width > 0, root_width, 1.0), 0.0)
    relative = relative / np.maximum(relative.max(axis=1, keepdims=True), TINY)
    dim = np.argmax(np.where(width > 0, smear + SPLIT_WIDTH_WEIGHT * relative, -1.0), axis=1)
    mid = (work.lo[idx, dim] + work.hi[idx, dim]) / 2
    hi1, lo2 = work.hi.copy(), work.lo.copy()
    hi1[idx, dim] = mid
    lo2[idx, dim] = mid
    bounds = [(np.concatenate([a, a]), np.concatenate([b, b])) for a, b in work.bounds]
    slopes = {j: [np.concatenate([a, a]) for a in layers] for j, layers in work.slopes.items()}
    return _Batch(np.concatenate([work.lo, lo2]), np.concatenate([hi1, work.hi]), bounds,
                  np.concatenate([work.alive, work.alive]), np.concatenate([work.depth, work.depth]) + 1, slopes)


def search_box(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, cases: list[np.ndarray], confirm: Confirm,
               deadline: float | None = None, batch: int = BATCH, exact_depth: int = 60,
               lp_tol: float = LP_DECISION_TOL, jobs: int = 1) -> SearchOutcome:
    """Look for ``x`` in ``[lo, hi]`` with ``spec.forward(x)[rows] <= 0`` for the rows of some case.

    ``confirm(x, case)`` re-checks a candidate (e.g. with onnxruntime) and may reject it; the
    search then goes on.  ``deadline`` is a ``time.perf_counter()`` value.  ``jobs > 1``: a search
    still running after :data:`PARALLEL_AFTER_BOXES` boxes hands its remaining boxes to ``jobs``
    forked processes (:func:`_search_in_parallel`); the verdict is the same, a counterexample may
    be another one.
    """
    search = _Search(spec, np.asarray(lo, float), np.asarray(hi, float), [np.asarray(r, int) for r in cases],
                     confirm, deadline, batch, exact_depth, lp_tol)
    if jobs <= 1:
        return search.run()
    stack = search.root()
    out = search.run(stack, pause_after=PARALLEL_AFTER_BOXES)
    if out.status != "paused":
        return out
    return _search_in_parallel(search, stack, jobs)


PARALLEL_AFTER_BOXES = 1024
"""With ``jobs > 1``, a search goes parallel after this many boxes (about 0.4 s on ACAS Xu): the
instances decided sooner never pay for the fork."""

PARALLEL_MIN_BOXES = 16
"""... and only once at least this many boxes wait on its stack."""

PIECES_PER_JOB = 8
"""The waiting boxes are dealt round-robin into this many pieces per process (neighbouring boxes,
of similar difficulty, go to different pieces), taken one at a time by whichever process is free."""

_WORKER_SEARCH: list[_Search] = []


def _adopt_search(search: _Search) -> None:
    """Process initializer: the (forked) search whose boxes this process continues."""
    _WORKER_SEARCH[:] = [search]


def _search_piece(piece: list[_Batch]) -> SearchOutcome:
    """Search one piece's boxes in a worker; its stats count this piece only."""
    search = _WORKER_SEARCH[0]
    search.stats = {key: 0 for key in search.stats}
    out = search.run(piece)
    out.stats = dict(search.stats)
    return out


def _deal(stack: list[_Batch], pieces: int) -> list[list[_Batch]]:
    """The boxes of ``stack`` dealt round-robin into at most ``pieces`` stacks (each box once)."""
    dealt: list[list[_Batch]] = [[] for _ in range(pieces)]
    turn = 0
    for work in stack:
        for k in range(min(pieces, len(work))):
            dealt[(turn + k) % pieces].append(work.take(np.arange(k, len(work), pieces)))
        turn = (turn + len(work)) % pieces
    return [piece for piece in dealt if piece]


def merge_stats(stats: dict, new: dict) -> None:
    """Add a search's ``new`` stats into ``stats`` (``max_depth``: the larger).

    Example:
        >>> stats = {"boxes": 3, "max_depth": 5}
        >>> merge_stats(stats, {"boxes": 2, "max_depth": 4, "lps": 1})
        >>> stats
        {'boxes': 5, 'max_depth': 5, 'lps': 1}
    """
    for key, value in new.items():
        stats[key] = max(stats.get(key, 0), value) if key == "max_depth" else stats.get(key, 0) + value


def _search_in_parallel(search: _Search, stack: list[_Batch], jobs: int) -> SearchOutcome:
    """Search the boxes left on ``stack`` in ``jobs`` forked processes, one piece at a time.

    'unsafe' as soon as a piece (in piece order) finds a counterexample, which is confirmed again
    here (so the caller's ``confirm`` holds it, as after a search in this process); 'timeout' if a
    piece ran out of time; else 'safe'.  Stats are summed (``max_depth``: the largest)."""
    from relucompile.regions.executor import run_tasks
    bound_kernels.load()                    # before the fork: the workers inherit it compiled
    pieces = _deal(stack, jobs * PIECES_PER_JOB)
    stack.clear()
    stats = search.stats
    stats["parallel_pieces"] = len(pieces)
    outcomes = run_tasks(_search_piece, pieces, jobs, initializer=_adopt_search, initargs=(search,))
    try:
        for out in outcomes:
            merge_stats(stats, out.stats)
            if out.status == "unsafe":
                if search.confirm(out.x, out.case):
                    return SearchOutcome("unsafe", out.x, out.case, stats)
                stats["unconfirmed"] += 1     # confirmed in the worker, not here: never a silent "safe"
            elif out.status == "timeout":
                return SearchOutcome("timeout", stats=stats)
    finally:
        outcomes.close()
    return SearchOutcome("safe", stats=stats)
