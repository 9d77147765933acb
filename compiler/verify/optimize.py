"""Exact minimum of a network output (or a linear combination of outputs) over a box.

Branch and bound with an incumbent, on the machinery of :mod:`relucompile.verify.search`: the
incumbent ``U = f(x_U)`` is always the value at a concrete input of the box (random points,
sign-gradient descent, box centres, bound-minimising vertices, and exact leaf optima); a box is
dropped when its sound lower bound is at least ``U - rtol * (1 + |U|)``; boxes on which the
network is affine are solved in closed form, and boxes with few unstable units (or after many
bisections) cell by cell with one LP each (:mod:`relucompile.verify.exact`).

So the reported minimum is attained (at the reported input, evaluated in float64) and no input of
the box has a value below it by more than ``rtol * (1 + |U|)`` (default ``rtol``
:data:`~relucompile.numeric.tolerances.OPTIMUM_RTOL`).

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.array([-0.5])))   # |x| - 0.5
    >>> opt = minimize_row(net, np.array([-1.0]), np.array([2.0]))
    >>> opt.status, opt.value, opt.x.tolist()
    ('optimal', -0.5, [0.0])
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from relucompile.errors import TimeLimitError, UserError
from relucompile.ir.network import ReluNet, restrict_inputs, with_output_rows
from relucompile.numeric.lp import solve_highs
from relucompile.numeric.tolerances import MIN_SOLVE_SECONDS, OPTIMUM_RTOL
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.verify.bounds import output_gradients, output_lower_bounds, preactivation_bounds
from relucompile.verify.exact import box_cells, min_row
from relucompile.verify.search import _Batch, bisect_boxes


@dataclass
class Optimum:
    """``value = f(x)`` is the minimum ('optimal'), or the best value found ('timeout', with the
    proven ``lower`` bound)."""

    value: float
    x: np.ndarray
    status: str
    lower: float
    stats: dict = field(default_factory=dict)


class _Minimize:
    def __init__(self, spec: ReluNet, lo: np.ndarray, hi: np.ndarray, deadline: float | None, rtol: float,
                 batch: int, exact_unstable: int, exact_depth: int, rng: np.random.Generator) -> None:
        self.spec, self.lo, self.hi, self.deadline, self.rtol = spec, lo, hi, deadline, rtol
        self.batch, self.exact_unstable, self.exact_depth = batch, exact_unstable, exact_depth
        self.stats = dict(boxes=0, pruned=0, affine_leaves=0, exact_leaves=0, cells=0, lps=0, max_depth=0)
        self.best_x = (lo + hi) / 2
        self.best = float(spec.forward(self.best_x[None])[0, 0])
        self.seed_incumbent(rng)

    def offer(self, X: np.ndarray) -> None:
        """Evaluate points of the box and keep the lowest as the incumbent."""
        X = np.clip(np.atleast_2d(X), self.lo, self.hi)
        values = self.spec.forward(X)[:, 0]
        i = int(np.argmin(values))
        if values[i] < self.best:
            self.best, self.best_x = float(values[i]), X[i].copy()

    def expired(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def seed_incumbent(self, rng: np.random.Generator, samples: int = 512, steps: int = 30) -> None:
        """A good first incumbent: the best of random samples, improved by signed-gradient steps
        (skipped, or cut short, past the deadline: the centre's value stands)."""
        if self.expired():
            return
        width = self.hi - self.lo
        X = self.lo + rng.random((samples, self.lo.size)) * width
        self.offer(X)
        values = self.spec.forward(X)[:, 0]
        P = X[np.argsort(values)[:8]]
        step = 0.25
        for _ in range(steps):
            if self.expired():
                return
            grad = output_gradients(self.spec, P, np.zeros(P.shape[0], int))
            P = np.clip(P - step * np.sign(grad) * width, self.lo, self.hi)
            self.offer(P)
            step *= 0.85

    def cutoff(self) -> float:
        return self.best - self.rtol * (1.0 + abs(self.best))

    def run(self) -> Optimum:
        stack = [_Batch(self.lo[None].copy(), self.hi[None].copy(), None, np.ones((1, 1), bool), np.zeros(1, int))]
        while stack:
            if self.expired():
                return Optimum(self.best, self.best_x, "timeout", self.lower_bound(stack), self.stats)
            work = stack.pop()
            if len(work) > self.batch:
                stack.append(work.take(np.arange(self.batch, len(work))))
                work = work.take(np.arange(self.batch))
            self.step(work, stack)
        return Optimum(self.best, self.best_x, "optimal", self.cutoff(), self.stats)

    def lower_bound(self, stack: list[_Batch]) -> float:
        """The proven lower bound when stopping early: the least bound over the boxes left."""
        lower = self.cutoff()
        for work in stack:
            bounds = preactivation_bounds(self.spec, work.lo, work.hi, work.bounds)
            lower = min(lower, float(np.min(output_lower_bounds(self.spec, work.lo, work.hi, bounds)[0])))
        return lower

    def step(self, work: _Batch, stack: list[_Batch]) -> None:
        spec = self.spec
        self.stats["boxes"] += len(work)
        self.stats["max_depth"] = max(self.stats["max_depth"], int(work.depth.max()))
        work.bounds = preactivation_bounds(spec, work.lo, work.hi, work.bounds)
        low, A, _ = output_lower_bounds(spec, work.lo, work.hi, work.bounds)
        low, A = low[:, 0], A[:, 0]
        self.offer(np.vstack([(work.lo + work.hi) / 2, np.where(A > 0, work.lo, work.hi)]))
        live = low < self.cutoff()
        self.stats["pruned"] += int(np.sum(~live))
        if not np.any(live):
            return
        work, A = work.take(live), A[live]
        unstable = sum(np.sum((lb < 0) & (ub > 0), axis=1) for lb, ub in work.bounds)
        affine = unstable == 0
        self.stats["affine_leaves"] += int(np.sum(affine))     # the vertices offered above are exact minima
        exact = ~affine & ((unstable <= self.exact_unstable) | (work.depth >= self.exact_depth))
        for n in np.nonzero(exact)[0]:
            self.stats["exact_leaves"] += 1
            for Ac, c, lp in box_cells(spec, work.lo[n], work.hi[n], [(lb[n], ub[n]) for lb, ub in work.bounds],
                                       self.stats):
                x, value = min_row(lp, Ac[0], c[0])
                if x is not None and value < self.best:
                    self.offer(x)
        split = ~affine & ~exact
        if np.any(split):
            stack.append(bisect_boxes(spec, work.take(split), np.zeros(int(np.sum(split)), int), self.hi - self.lo))


def minimize_row(spec: ReluNet, lo: np.ndarray, hi: np.ndarray, deadline: float | None = None,
                 rtol: float = OPTIMUM_RTOL, batch: int = 256, exact_unstable: int = 4, exact_depth: int = 40,
                 seed: int = 0) -> Optimum:
    """The minimum of ``spec``'s single output over ``[lo, hi]`` (a float64 network) and an input
    attaining it.

    ``deadline``: a ``time.perf_counter()`` value; past it the result has status 'timeout' and
    ``[lower, value]`` brackets the minimum.
    """
    if spec.m != 1:
        raise ValueError("minimize_row needs a network with exactly one output")
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return _Minimize(spec, lo, hi, deadline, rtol, batch, exact_unstable, exact_depth,
                     np.random.default_rng(seed)).run()


@dataclass
class OutputRange:
    """Exact range of ``coeffs . y`` over a domain: ``[minimum, maximum]``, attained at ``argmin`` /
    ``argmax`` (full input vectors); ``status`` is 'exact' or 'timeout' (then ``lower``/``upper``
    are the proven outer bounds and ``minimum``/``maximum`` the best values found)."""

    name: str
    coeffs: np.ndarray
    minimum: float
    argmin: np.ndarray | None
    maximum: float
    argmax: np.ndarray | None
    status: str = "exact"
    lower: float = float("nan")
    upper: float = float("nan")

    def to_json(self) -> dict:
        """JSON-ready dict.

        Example:
            >>> OutputRange("Y_0", np.ones(1), 2.0, np.array([3.0]), 6.0, np.array([4.0])).to_json()["min"]
            2.0
        """
        out = {"name": self.name, "coeffs": [float(c) for c in self.coeffs], "min": self.minimum,
               "max": self.maximum, "argmin": None if self.argmin is None else [float(v) for v in self.argmin],
               "argmax": None if self.argmax is None else [float(v) for v in self.argmax], "status": self.status}
        if self.status != "exact":
            out.update(lower=self.lower, upper=self.upper)
        return out


def output_bounds(net, domain, objectives: list[tuple[str, np.ndarray]] | None = None,
                  timeout: float | None = None, rtol: float = OPTIMUM_RTOL) -> list[OutputRange]:
    """Exact min and max of each output (or of each ``(name, coeffs)`` objective ``coeffs . y``).

    Box domains (zero-width sides allowed) use the branch and bound above; polytope domains
    enumerate every cell (:func:`relucompile.regions.enumerate.enumerate_regions`) and solve one LP per cell
    and objective.  All of R^d is refused (the range may be infinite).

    Example:
        >>> from relucompile.ir.network import ReluNet, AffineLayer
        >>> from relucompile.ir.domain import Domain
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
        ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))   # |x|
        >>> r = output_bounds(net, Domain.box([-1], [2]))[0]
        >>> r.name, r.minimum, r.maximum, r.argmax.tolist()
        ('Y_0', 0.0, 2.0, [2.0])
    """
    if domain is None or domain.kind == "reals":
        raise UserError("output bounds need a bounded domain: give --box, --domain or --vnnlib")
    if domain.d != net.d:
        raise UserError(f"the domain has dimension {domain.d} but the model has {net.d} inputs")
    if objectives is None:
        objectives = [(f"Y_{j}", np.eye(net.m)[j]) for j in range(net.m)]
    deadline = None if timeout is None else time.perf_counter() + timeout
    if domain.kind == "polytope":
        return _polytope_bounds(net, domain, objectives, deadline)
    lower, upper = domain.lower, domain.upper
    free = lower < upper
    out = []
    for name, coeffs in objectives:
        ends = []
        for sign in (1.0, -1.0):
            spec = with_output_rows(net, sign * np.asarray(coeffs, float)[None], np.zeros((1, net.d)), np.zeros(1))
            spec = restrict_inputs(spec, free, np.where(free, 0.0, lower))
            if np.any(free):
                opt = minimize_row(spec, lower[free], upper[free], deadline, rtol)
                t, value, status, bound = opt.x, opt.value, opt.status, opt.lower
            else:
                t, value, status = np.zeros(0), float(spec.forward(np.zeros((1, 0)))[0, 0]), "optimal"
                bound = value
            x = np.where(free, 0.0, lower)
            x[free] = t
            attained = float(np.asarray(coeffs, float) @ net.forward(x[None])[0])  # f(x) by the net itself
            ends.append((attained, x, status, sign * bound))
        (mn, xmn, s1, lb), (mx, xmx, s2, ub) = ends
        status = "exact" if s1 == s2 == "optimal" else "timeout"
        out.append(OutputRange(name, np.asarray(coeffs, float), mn, xmn, mx, xmx, status, lb, ub))
    return out


def _polytope_bounds(net, domain, objectives, deadline) -> list[OutputRange]:
    """Enumerate the cells of a polytope domain; one LP per cell and objective end."""
    limit = None if deadline is None else max(deadline - time.perf_counter(), MIN_SOLVE_SECONDS)
    regions = enumerate_regions(net, domain, limits=Limits(time_limit=limit))
    G, g = domain.inequalities()
    results = []
    for name, coeffs in objectives:
        coeffs = np.asarray(coeffs, float)
        best = {1.0: (np.inf, None), -1.0: (np.inf, None)}
        for cell in regions.cells:
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeLimitError(f"--timeout ran out while bounding the outputs over the {len(regions):,} cells; "
                                     "raise --timeout or use a smaller domain")
            rows = [G] + [(-s * regions.hyperplanes[h].w)[None] for h, s in cell.facets]
            rhs = [g] + [np.array([s * regions.hyperplanes[h].b]) for h, s in cell.facets]
            Aub, bub = np.vstack(rows), np.concatenate(rhs)
            for sign in (1.0, -1.0):
                res = solve_highs(sign * coeffs @ cell.A, Aub, bub)
                if res.status == "unbounded":
                    best[sign] = (-np.inf, None)
                elif res.status == "optimal" and best[sign][0] > -np.inf:
                    value = sign * float(coeffs @ net.forward(res.x[None])[0])
                    if value < best[sign][0]:
                        best[sign] = (value, res.x)
        (mn, xmn), (mx, xmx) = best[1.0], best[-1.0]
        results.append(OutputRange(name, coeffs, mn, xmn, -mx, xmx, "exact", mn, -mx))
    return results
