"""Branch and bound on ReLU phases: the search for high input dimension (input splitting cannot work
in 784 dimensions).

A *node* is the input box intersected with a phase for some units (``z_j >= 0`` or ``z_j <= 0``).
It carries pre-activation bounds valid on it, with the split units' bounds clamped at 0 (so their
relaxation is exact).  The root's bounds are CROWN bounds tightened by optimised slopes per unit
(alpha-CROWN for the intermediate layers, :data:`ROOT_SLOPE_STEPS`); every node inherits them.
For a batch of nodes (depth first) the search

1. on shallow nodes and every :data:`REBOUND_EVERY`-th depth, re-bounds every unit still unstable
   in the layers after the splits made since the last re-bounding (CROWN back-substitution,
   :mod:`relucompile.verify.bounds`; intersected with the parent's bounds) and drops the node when
   some unit's bounds cross (its phases contradict each other); other nodes keep their parent's
   bounds (valid on them).  It bounds the case's spec rows from below with the best of two
   lower-slope choices per row, then, on nodes that survive, with lower slopes optimised per row
   and the node's split constraints as Lagrangian multipliers (alpha-beta-CROWN style,
   :data:`OPTIMISE_SLOPES`, :data:`SPLIT_MULTIPLIERS`); a node where some row is > 0 everywhere
   is dropped;
2. when a case has several rows, bounds the conjunction *jointly*: the row bounds are linear
   functions ``r_i(x) >= a_i . x + c_i``; one LP ``min t s.t. a_i . x + c_i <= t`` over the box
   gives multipliers ``mu`` (a convex combination of the rows), and ``min over the box of
   sum_i mu_i (a_i . x + c_i)`` (closed form, outward rounding) is a sound bound whatever the
   solver's tolerances;
3. evaluates the vertex of the box that minimises the tightest row's linear bound and confirms it
   when it is a counterexample;
4. bounds a node by one LP over the box, its split cuts and its rows' linear bounds, until
   :data:`NODE_LP_TRIAL` such LPs have pruned nothing (on MNIST they never do);
5. decides a node with no unstable unit left exactly: the network is affine on it, and one LP over
   the box and the split rows (``min t`` s.t. every case row ``<= t``) either finds a counterexample
   (confirmed) or proves the node safe by its dual bound (sound; see above);
6. otherwise splits the unstable unit with the best BaBSR-like score
   (:func:`relucompile.verify.bounds.branching_scores`) into its two phases.

Float policy: bounds are float64 with outward margins
(:data:`relucompile.numeric.tolerances.BOUND_ROUNDING`); LP decisions are re-derived from
multipliers with a margin (:func:`relucompile.numeric.lp.weak_duality_bound`).  A leaf LP optimum
in ``(0, LP_TOL]`` whose multipliers do not prove it positive leaves the verdict undecided
(:data:`LP_TOL`).  An LP that is infeasible on a fully
split node (the phases contradict each other, which bound propagation cannot see) drops the node:
GLPK's feasibility tolerance (1e-7) is the stated tolerance there; ``stats['infeasible_leaves']``
counts them.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer, with_output_rows
    >>> from relucompile.verify.budget import Budget
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))      # |x|
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([-0.5]))  # |x| <= -0.5?
    >>> relu_bab(spec, np.array([-1.0]), np.array([1.0]), [np.array([0])], lambda x, c: True, Budget(10)).status
    'safe'
    >>> spec = with_output_rows(net, np.array([[1.0]]), np.zeros((1, 1)), np.array([0.25]))   # |x| <= 0.25?
    >>> out = relu_bab(spec, np.array([-1.0]), np.array([1.0]), [np.array([0])], lambda x, c: True, Budget(10))
    >>> out.status, bool(abs(out.x[0]) <= 0.25)
    ('unsafe', True)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from relucompile.ir.network import ReluNet
from relucompile.numeric.lp import solve_bounded_lp, weak_duality_bound
from relucompile.numeric.tolerances import LP_DECISION_TOL, MIN_SOLVE_SECONDS
from relucompile.verify.bounds import (Bounds, branching_scores, optimized_output_lower_bounds,
                                       optimized_preactivation_bounds, output_lower_bounds,
                                       preactivation_bounds, unit_linear_bounds)
from relucompile.verify.budget import Budget, OutOfTime
from relucompile.verify.search import Confirm, SearchOutcome

BATCH, BATCH_UNITS = 32, 16384
"""At most BATCH nodes are bounded together (numpy batching), fewer on big nets (at most
BATCH_UNITS hidden units in a batch), so that the time budget is checked often."""

LP_TOL = LP_DECISION_TOL
"""A fully split node whose LP optimum exceeds this is dropped even when the bound re-derived from
its multipliers (with margins) is not positive: the stated tolerance of a 'holds' (counted in
``stats['borderline']``).  Nodes with an optimum closer to 0 and no confirmed counterexample are
``unresolved_leaves``: the verdict is then not 'holds'."""

OPTIMISE_SLOPES = True
"""Nodes that the fixed lower slopes do not prune get their rows' slopes optimised
(:func:`relucompile.verify.bounds.optimized_output_lower_bounds`, alpha-CROWN style)."""

ROOT_SLOPE_STEPS, ROOT_SHARE = 20, 0.3
"""The root's intermediate bounds are tightened by optimised slopes (alpha-CROWN per unit,
:func:`relucompile.verify.bounds.optimized_preactivation_bounds`) with this many steps, in at most
this share of the time; every node inherits them (on 256x4 MNIST: 20 -> 5 for the rows' bound gap)."""

SPLIT_MULTIPLIERS = True
"""The rows' optimised bounds carry the node's split constraints as Lagrangian terms (beta-CROWN
style, ``phases`` of :func:`relucompile.verify.bounds.optimized_output_lower_bounds`)."""

SLOPE_STEPS = 12
"""Ascent steps of the optimised slopes and split multipliers per node."""

REBOUND_DEPTH, REBOUND_EVERY = 2, 3
"""After a split, the units of later layers are re-bounded (one back-substitution per unstable unit,
the bulk of a node's cost on 256-wide layers) on nodes at most REBOUND_DEPTH splits deep and then
on every REBOUND_EVERY-th depth; other nodes keep their parent's bounds (valid on them) and see their
splits through the split multipliers of the rows' bound."""

REBOUND_ALWAYS_UNITS = 128
"""Nets with at most this many hidden units re-bound on every node (cheap there)."""

NODE_LP_ALWAYS_DIM, NODE_LP_TRIAL, NODE_LP_MIN_YIELD = 64, 24, 0.02
"""Node LPs (bound over the box and the split cuts) run on every node with at most
NODE_LP_ALWAYS_DIM free inputs (cheap there, and they catch contradicting splits); above, they stop
after NODE_LP_TRIAL of them when they dropped fewer than this share of the nodes they bounded (on
MNIST's 784 inputs they drop none and cost ~0.1 s each)."""

JOINT_MAX_DIM = 2000
"""Joint LP bound of a multi-row case only up to this many free inputs (one LP per node)."""


@dataclass
class _Nodes:
    """A batch of nodes: per layer the bounds (N, n_l) and the split phases (N, n_l) in {-1, 0, 1}."""

    bounds: Bounds
    phases: list[np.ndarray]
    fresh_below: np.ndarray        # (N,) layers below this index need no re-bounding
    cuts: list                     # per node: linear consequences of its splits, a linked list
                                   # (a, b, parent) of rows a . x <= b, or None


    def __len__(self) -> int:
        return self.phases[0].shape[0] if self.phases else 0

    def take(self, keep: np.ndarray) -> "_Nodes":
        index = np.arange(len(self))[keep]
        return _Nodes([(lb[keep], ub[keep]) for lb, ub in self.bounds], [p[keep] for p in self.phases],
                      self.fresh_below[keep], [self.cuts[i] for i in index])


class _CaseSearch:
    def __init__(self, spec: ReluNet, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray, case: int,
                 confirm: Confirm, budget: Budget, stats: dict) -> None:
        self.spec, self.lo, self.hi, self.rows, self.case = spec, lo, hi, rows, case
        self.confirm, self.budget, self.stats = confirm, budget, stats
        self.hidden_units = sum(layer.size for layer in spec.layers)

    def run(self, root: Bounds) -> SearchOutcome | None:
        stack = [_Nodes([(lb.copy(), ub.copy()) for lb, ub in root],
                        [np.zeros(lb.shape, np.int8) for lb, _ in root], np.full(1, len(root)), [None])]
        batch = int(np.clip(BATCH_UNITS // max(1, sum(lb.shape[1] for lb, _ in root)), 1, BATCH))
        while stack:
            self.budget.check()
            work = stack.pop()
            if len(work) > batch:
                stack.append(work.take(np.arange(batch, len(work))))
                work = work.take(np.arange(batch))
            found = self.step(work, stack)
            if found is not None:
                return found
        return None

    def step(self, work: _Nodes, stack: list[_Nodes]) -> SearchOutcome | None:
        spec, n = self.spec, len(work)
        self.stats["nodes"] += n
        LO, HI = np.broadcast_to(self.lo, (n, self.lo.size)), np.broadcast_to(self.hi, (n, self.hi.size))
        empty = np.zeros(n, bool)
        depth = sum(np.count_nonzero(p, axis=1) for p in work.phases)
        stale = (work.fresh_below < len(work.bounds)) & ((depth <= REBOUND_DEPTH) | (depth % REBOUND_EVERY == 0)
                                                         | (self.hidden_units <= REBOUND_ALWAYS_UNITS))
        if np.any(stale):
            idx = np.nonzero(stale)[0]
            found_empty = np.zeros(idx.size, bool)
            fresh = preactivation_bounds(spec, LO[idx], HI[idx], [(lb[idx], ub[idx]) for lb, ub in work.bounds],
                                         start_layer=int(work.fresh_below[idx].min()), empty=found_empty)
            for (lb, ub), (flb, fub) in zip(work.bounds, fresh):
                lb[idx], ub[idx] = flb, fub
            work.fresh_below[idx] = len(work.bounds)
            empty[idx] = found_empty
            self.stats["rebounded"] += idx.size
        self.stats["empty"] += int(np.sum(empty))
        self.budget.check()
        weights = np.eye(spec.m)[self.rows]
        low, A, c = output_lower_bounds(spec, LO, HI, work.bounds, weights=weights)
        alive = ~np.any(low > 0, axis=1) & ~empty
        if OPTIMISE_SLOPES and np.any(alive):           # where the fixed slopes do not prune
            idx = np.nonzero(alive)[0]
            low[idx], A[idx], c[idx] = optimized_output_lower_bounds(
                spec, LO[idx], HI[idx], [(lb[idx], ub[idx]) for lb, ub in work.bounds], weights=weights,
                steps=SLOPE_STEPS, phases=[p[idx] for p in work.phases] if SPLIT_MULTIPLIERS else None)
            pruned = np.any(low[idx] > 0, axis=1)
            alive[idx] &= ~pruned
            self.stats["slope_pruned"] += int(np.sum(pruned))
        if self.rows.size > 1 and self.lo.size <= JOINT_MAX_DIM:
            for i in np.nonzero(alive)[0]:
                if _joint_bound(A[i], c[i], self.lo, self.hi, self.budget) > 0:
                    alive[i] = False
                    self.stats["joint_pruned"] += 1
        self.stats["pruned"] += int(np.sum(~alive))
        if not np.any(alive):
            return None
        work, low, A, c = work.take(alive), low[alive], A[alive], c[alive]
        found = self.try_vertices(low, A)
        if found is not None:
            return found
        unstable = sum(np.sum((lb < 0) & (ub > 0), axis=1) for lb, ub in work.bounds)
        keep = np.ones(len(work), bool)
        use_lp = self.node_lps_pay()
        for i in np.nonzero((unstable > 0) & np.array([use_lp and cut is not None for cut in work.cuts]))[0]:
            verdict = self.node_lp(work.cuts[i], low[i], A[i], c[i])
            if isinstance(verdict, SearchOutcome):
                return verdict
            keep[i] = verdict
        if not np.all(keep):
            work, low, unstable = work.take(keep), low[keep], unstable[keep]
        self.budget.check()
        for i in np.nonzero(unstable == 0)[0]:
            found = self.decide_leaf([lb[i] for lb, _ in work.bounds], [p[i] for p in work.phases])
            if found is not None:
                return found
        split = unstable > 0
        if np.any(split):
            stack.append(self.branch(work.take(split), low[split]))
        return None

    def node_lps_pay(self) -> bool:
        """Node LPs are tried first, and kept while they drop (prune or prove empty) enough nodes."""
        if self.lo.size <= NODE_LP_ALWAYS_DIM:
            return True
        done = self.stats["node_lps"]
        dropped = self.stats["lp_pruned"] + self.stats["lp_infeasible"]
        return done < NODE_LP_TRIAL or dropped >= NODE_LP_MIN_YIELD * done

    def try_vertices(self, low: np.ndarray, A: np.ndarray) -> SearchOutcome | None:
        """The box vertex minimising the tightest row's linear bound, per node."""
        tight = np.argmax(low, axis=1)
        slope = A[np.arange(len(low)), tight]
        X = np.where(slope > 0, self.lo, self.hi)        # duplicates are cheaper than np.unique(axis=0) here
        r = self.spec.forward(X)[:, self.rows]
        for i in np.nonzero(np.all(r <= 0, axis=1))[0][:4]:
            self.stats["candidates"] += 1
            if self.confirm(X[i], self.case):
                return SearchOutcome("unsafe", X[i], self.case, self.stats)
            self.stats["rejected"] += 1
        return None

    def branch(self, work: _Nodes, low: np.ndarray) -> _Nodes:
        """Split every node on its best-scoring unstable unit: the z >= 0 child, then z <= 0."""
        n = len(work)
        LO, HI = np.broadcast_to(self.lo, (n, self.lo.size)), np.broadcast_to(self.hi, (n, self.hi.size))
        weights = np.zeros((n, self.spec.m))
        weights[np.arange(n), self.rows[np.argmax(low, axis=1)]] = 1.0
        scores = branching_scores(self.spec, LO, HI, work.bounds, weights)
        flat = np.concatenate(scores, axis=1)
        best = np.argmax(flat, axis=1)
        offsets = np.cumsum([0] + [s.shape[1] for s in scores])
        layer = np.searchsorted(offsets, best, side="right") - 1
        unit = best - offsets[layer]
        children = []
        for sign in (1, -1):
            bounds = [(lb.copy(), ub.copy()) for lb, ub in work.bounds]
            phases = [p.copy() for p in work.phases]
            for l in np.unique(layer):
                sel = np.nonzero(layer == l)[0]
                lb, ub = bounds[l]
                if sign > 0:
                    lb[sel, unit[sel]] = 0.0
                else:
                    ub[sel, unit[sel]] = 0.0
                phases[l][sel, unit[sel]] = sign
            children.append(_Nodes(bounds, phases, np.minimum(work.fresh_below, layer + 1), [None] * n))
        self.stats["splits"] += n
        if not self.node_lps_pay():
            return self.merge(children)                  # node LPs do not pay here: no cuts needed
        cut_low, cut_up = [None] * n, [None] * n     # z >= A x + c and z <= B x + e, per node
        for l in np.unique(layer):
            sel = np.nonzero(layer == l)[0]
            A, c, B, e = unit_linear_bounds(self.spec, LO, HI, work.bounds, sel, int(l), unit[sel])
            for k, i in enumerate(sel):
                cut_low[i], cut_up[i] = (A[k], c[k]), (B[k], e[k])
        for i in range(n):
            B, e = cut_up[i]
            children[0].cuts[i] = (-B, e, work.cuts[i])          # z >= 0  =>  -(B x + e) <= 0
            A, c = cut_low[i]
            children[1].cuts[i] = (A, -c, work.cuts[i])          # z <= 0  =>  A x + c <= 0
        return self.merge(children)

    @staticmethod
    def merge(children: list[_Nodes]) -> _Nodes:
        """One batch of the z <= 0 children, then the z >= 0 children (popped first: depth first)."""
        negative, positive = children[1], children[0]
        return _Nodes([(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
                       for a, b in zip(negative.bounds, positive.bounds)],
                      [np.concatenate([a, b]) for a, b in zip(negative.phases, positive.phases)],
                      np.concatenate([negative.fresh_below, positive.fresh_below]),
                      negative.cuts + positive.cuts)

    def joint_lp(self, rows: list, rhs: list, R: np.ndarray, r0: np.ndarray):
        """``min t s.t. rows x <= rhs, R_i x + r0_i <= t, x in the box`` within the time budget:
        the constraint matrix G over (x, t), its right side h and the solver's result."""
        d, k = self.lo.size, len(rows)
        G = np.zeros((k + R.shape[0], d + 1))
        if k:
            G[:k, :d] = np.array(rows)
        G[k:, :d] = R
        G[k:, d] = -1.0
        h = np.concatenate([np.array(rhs, dtype=np.float64).reshape(k), -np.asarray(r0, dtype=np.float64)])
        cost = np.zeros(d + 1)
        cost[d] = 1.0
        left = self.budget.remaining()
        if left <= 0:
            raise OutOfTime()
        res = solve_bounded_lp(cost, G, h, np.append(self.lo, -np.inf), np.append(self.hi, np.inf),
                               time_limit=None if left == np.inf else left)
        if res.status == "limit":
            raise OutOfTime()
        return G, h, res

    def node_lp(self, cuts, low: np.ndarray, A: np.ndarray, c: np.ndarray) -> bool | SearchOutcome:
        """Bound a node by one LP over the box, its split cuts and the rows' linear lower bounds
        (``min t s.t. cuts, A_i x + c_i - margin_i <= t``): False drops it (the LP's dual bound is
        > 0, or the cuts are infeasible), a :class:`SearchOutcome` is a confirmed counterexample at
        the LP's optimum, True keeps it."""
        d = self.lo.size
        rows, rhs = [], []
        while cuts is not None:
            a, b, cuts = cuts
            rows.append(a)
            rhs.append(b)
        mid, half = (self.lo + self.hi) / 2, (self.hi - self.lo) / 2
        margin = np.maximum(A @ mid - np.abs(A) @ half + c - low, 0.0)
        G, h, res = self.joint_lp(rows, rhs, A, c - margin)
        self.stats["node_lps"] += 1
        if res.status == "infeasible":
            self.stats["lp_infeasible"] += 1
            return False
        if res.status != "optimal":
            return True
        if weak_duality_bound(G, h, res.multipliers, A.shape[0], self.lo, self.hi) > 0:
            self.stats["lp_pruned"] += 1
            return False
        x = np.clip(res.x[:d], self.lo, self.hi)
        if np.all(self.spec.forward(x[None])[0, self.rows] <= 0):
            self.stats["candidates"] += 1
            if self.confirm(x, self.case):
                return SearchOutcome("unsafe", x, self.case, self.stats)
            self.stats["rejected"] += 1
        return True

    def decide_leaf(self, lower: list[np.ndarray], phases: list[np.ndarray]) -> SearchOutcome | None:
        """Exact decision of a node with every unit's phase fixed: one LP (see the module docstring)."""
        self.stats["leaves"] += 1
        d = self.lo.size
        blocks = [(np.eye(d), np.zeros(d))]
        split_rows, split_rhs = [], []
        for layer, lb, phase in zip(self.spec.layers, lower, phases):
            M, m = ReluNet.preactivation(layer, blocks)
            on = lb >= 0
            for j in np.nonzero(phase)[0]:             # phase s: s z_j >= 0, i.e. -s M_j x <= s m_j
                s = float(phase[j])
                split_rows.append(-s * M[j])
                split_rhs.append(s * m[j])
            blocks.append((M * on[:, None], m * on))
        M, m = ReluNet.preactivation(self.spec.output, blocks)
        R = M[self.rows]
        G, h, res = self.joint_lp(split_rows, split_rhs, R, m[self.rows])
        self.stats["lps"] += 1
        if res.status == "infeasible":
            self.stats["infeasible_leaves"] += 1
            return None
        if res.status != "optimal":
            self.stats["unresolved_leaves"] += 1
            return None
        if weak_duality_bound(G, h, res.multipliers, R.shape[0], self.lo, self.hi) > 0:
            return None
        x = np.clip(res.x[:d], self.lo, self.hi)
        values = self.spec.forward(x[None])[0, self.rows]
        if np.all(values <= 0):
            self.stats["candidates"] += 1
            if self.confirm(x, self.case):
                return SearchOutcome("unsafe", x, self.case, self.stats)
            self.stats["rejected"] += 1
            self.stats["unconfirmed"] += 1
        elif res.value > LP_TOL:
            self.stats["borderline"] += 1          # optimum > LP_TOL, its multipliers prove less
        else:
            self.stats["unresolved_leaves"] += 1   # optimum about 0, no float64 counterexample
        return None


def _joint_bound(A: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: Budget) -> float:
    """Sound lower bound of ``min over the box of max_i (A_i x + c_i)`` (one LP, then its dual)."""
    q, d = A.shape
    G = np.hstack([A, -np.ones((q, 1))])
    cost = np.zeros(d + 1)
    cost[d] = 1.0
    left = budget.remaining()
    res = solve_bounded_lp(cost, G, -c, np.append(lo, -np.inf), np.append(hi, np.inf),
                           time_limit=None if left == np.inf else max(left, MIN_SOLVE_SECONDS))
    if res.status != "optimal":
        return -np.inf
    return weak_duality_bound(G, -c, res.multipliers, q, lo, hi)


def relu_bab(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, cases: list[np.ndarray], confirm: Confirm,
             budget: Budget) -> SearchOutcome:
    """Look for ``x`` in ``[lo, hi]`` with every row of some case ``<= 0`` by branching on ReLU phases
    (``spec``'s outputs are the rows, :func:`relucompile.ir.network.with_output_rows`).

    ``confirm(x, case)`` re-checks a candidate (e.g. with onnxruntime).  Status 'safe', 'unsafe'
    (with ``x`` and ``case``) or 'timeout'; ``stats['unconfirmed']`` > 0 means a float64
    counterexample was not confirmed (the caller must not then claim 'holds').
    """
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    stats = dict(nodes=0, pruned=0, slope_pruned=0, empty=0, node_lps=0, lp_pruned=0, lp_infeasible=0, joint_pruned=0, splits=0, rebounded=0, leaves=0, lps=0, candidates=0, rejected=0,
                 unconfirmed=0, borderline=0, unresolved_leaves=0, infeasible_leaves=0)
    try:
        root = preactivation_bounds(spec, lo[None], hi[None])
        root = preactivation_bounds(spec, lo[None], hi[None], root, mode="parallel")
        if ROOT_SLOPE_STEPS > 0 and len(spec.layers) > 1:
            left = budget.remaining()
            root = optimized_preactivation_bounds(
                spec, lo[None], hi[None], root, ROOT_SLOPE_STEPS,
                deadline=None if left == np.inf else time.perf_counter() + ROOT_SHARE * left)
            stats["root_unstable"] = int(sum(np.sum((lb < 0) & (ub > 0)) for lb, ub in root))
        for j, rows in enumerate(cases):
            found = _CaseSearch(spec, lo, hi, np.asarray(rows, int), j, confirm, budget, stats).run(root)
            if found is not None:
                return found
    except OutOfTime:
        return SearchOutcome("timeout", stats=stats)
    return SearchOutcome("safe", stats=stats)
