"""The finite two-layer form of a network with one input (d = 1).

On a line a ReLU network is a continuous piecewise-linear function with finitely many
breakpoints, so it *is* a one-hidden-layer ReLU network with finite weights (Huang's complete
description of 1-D two-layer networks).  :func:`two_layer_form` reads that network off the
compiled cells, in exact rationals recomputed from the source network:

* the breakpoints t1 < ... < tK are the cell boundaries inside the domain where the slope really
  changes: neighbouring cells with equal slopes (hence, by continuity, the same affine map) are
  merged;
* the slopes s0 .. sK, s_i on the piece right of t_i (s0 left of t1), and f at the pivot.

**One-sided basis** (pivot t1), K + 1 hidden units::

    f(x) = f(t1) - s0 relu(t1 - x) + s1 relu(x - t1) + sum_{i>=2} (s_i - s_{i-1}) relu(x - t_i)

**Two-sided basis** around the pivot t_p (1 <= p <= K; default the middle one, p = K // 2 + 1):
units left of the pivot face left, the others face right, also K + 1 units::

    f(x) = f(t_p) - s_{p-1} relu(t_p - x) + s_p relu(x - t_p)
           + sum_{i<p} (s_i - s_{i-1}) relu(t_i - x) + sum_{i>p} (s_i - s_{i-1}) relu(x - t_i)

Every unit is zero on the pivot's side of its breakpoint, so left of t_p only the left-facing
units act and right of it only the right-facing ones; p = 1 is the one-sided basis.

K + 1 is the minimum: each breakpoint needs a unit that bends there, and K units bending at
t1..tK alone cannot also produce the outer slopes in general.  Outside the domain both forms
continue the outer pieces affinely.  **K = 0** (f is affine on the domain): one unit anchored at
the domain's finite end, ``f(lo) + s relu(x - lo)`` (or ``f(hi) - s relu(hi - x)``); on all of R
two, ``f(0) - s relu(-x) + s relu(x)``, since a non-constant affine function of R needs two ReLUs
(a constant one gets a single unit with output weight 0, to stay a valid network).

**Several outputs** share one hidden layer: the breakpoints are the union of the outputs'
breakpoints (K = its size, K + 1 units, the minimum for a shared hidden layer) and an output's
jump is 0 at another output's breakpoint.  :meth:`TwoLayerForm.restrict` gives one output alone
with its own minimal K_j + 1 units; :meth:`TwoLayerForm.output_breakpoints` lists where it bends.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [1.0]])}, np.array([0.0, -1.0]))],
    ...               AffineLayer({1: np.array([[2.0, -1.0]])}, np.array([0.5])))   # 2 relu(x) - relu(x-1)
    >>> form = two_layer_form(build_shallow(net, enumerate_regions(net, Domain.reals(1))))
    >>> [str(t) for t in form.breakpoints], [[str(s) for s in row] for row in form.slopes]
    (['0', '1'], [['0', '2', '1']])
    >>> form.num_hidden, [str(v) for v in form.evaluate(Fraction(3, 2))]
    (3, ['3'])
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np  # noqa: F401  (the doctests use it)

from relucompile.errors import UserError
from relucompile.shallow.net import ShallowNet

BASES = ("one-sided", "two-sided")
Interval = tuple[Fraction | None, Fraction | None]   # None: unbounded on that side


@dataclass
class Piece:
    """f = slope * x + intercept (one entry per output) on [lo, hi] (None: unbounded)."""

    lo: Fraction | None
    hi: Fraction | None
    slope: list[Fraction]
    intercept: list[Fraction]

    def value(self, x: Fraction) -> list[Fraction]:
        return [s * x + c for s, c in zip(self.slope, self.intercept)]


@dataclass
class TwoLayerForm:
    """f(x) = out_bias + out_weights . relu(direction * (x - t)) over the hidden units; see the
    module docstring for the bases.  All numbers are exact rationals."""

    breakpoints: list[Fraction]        # t1 < ... < tK, shared by all outputs
    slopes: list[list[Fraction]]       # slopes[j][i]: output j right of t_i (i = 0: left of t1)
    anchor: Fraction                   # t_pivot; for K = 0 the domain's finite end, or 0 on R
    values: list[Fraction]             # f_j(anchor)
    interval: Interval                 # the domain
    basis: str = "one-sided"
    pivot: int = 1                     # 1-based index of the pivot breakpoint; 0 when K = 0
    source: str = ""
    source_sha256: str = ""

    @property
    def K(self) -> int:
        return len(self.breakpoints)

    @property
    def m(self) -> int:
        return len(self.slopes)

    @property
    def num_hidden(self) -> int:
        return len(self.units())

    def units(self) -> list[tuple[int, Fraction]]:
        """Hidden units as (direction, t): unit = relu(direction * (x - t))."""
        t, p = self.breakpoints, self.pivot
        if self.K:
            return [(-1, t[i]) for i in range(p)] + [(1, t[i]) for i in range(p - 1, self.K)]
        lo, hi = self.interval
        if lo is not None:
            return [(1, lo)]
        if hi is not None:
            return [(-1, hi)]
        return [(-1, Fraction(0)), (1, Fraction(0))] if any(row[0] for row in self.slopes) else [(1, Fraction(0))]

    def output_layer(self) -> tuple[list[list[Fraction]], list[Fraction]]:
        """(weights (m, units), bias (m,)) of the output layer, exact."""
        weights = []
        for s in self.slopes:
            if self.K:
                p = self.pivot
                left = [s[i + 1] - s[i] for i in range(p - 1)]        # relu(t_i - x), i < p
                right = [s[i] - s[i - 1] for i in range(p + 1, self.K + 1)]  # relu(x - t_i), i > p
                weights.append(left + [-s[p - 1], s[p]] + right)
            else:
                units = self.units()
                if len(units) == 2:                  # on R: -s relu(-x) + s relu(x)
                    weights.append([-s[0], s[0]])
                elif units[0][0] == 1:               # s relu(x - lo)
                    weights.append([s[0]])
                else:                                # -s relu(hi - x)
                    weights.append([-s[0]])
        return weights, list(self.values)

    def evaluate(self, x) -> list[Fraction]:
        """What the two-layer network computes at x (exact for rational x).

        Example:
            >>> from relucompile import compile_network, Domain
            >>> from relucompile.examples.small_nets import bent_line
            >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
            >>> form.evaluate(Fraction(1, 2))           # y1 = 2 relu(x) - relu(x - 1) + 1/2, y2 = relu(x - 1)
            [Fraction(3, 2), Fraction(0, 1)]
        """
        x = Fraction(x)
        hidden = [max(direction * (x - t), Fraction(0)) for direction, t in self.units()]
        weights, bias = self.output_layer()
        return [b + sum((w * h for w, h in zip(row, hidden)), Fraction(0)) for row, b in zip(weights, bias)]

    def output_breakpoints(self, j: int) -> list[int]:
        """1-based indices i of the breakpoints where output j's slope changes.

        Example:
            >>> from relucompile import compile_network, Domain
            >>> from relucompile.examples.small_nets import bent_line
            >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
            >>> form.output_breakpoints(0), form.output_breakpoints(1)   # breakpoints t1 = 0, t2 = 1
            ([1, 2], [2])
        """
        s = self.slopes[j]
        return [i for i in range(1, self.K + 1) if s[i] != s[i - 1]]

    def restrict(self, j: int) -> "TwoLayerForm":
        """Output j alone, with only its own breakpoints: K_j + 1 units (same basis; the pivot
        moves to the middle for two-sided).

        Example:
            >>> from relucompile import compile_network, Domain
            >>> from relucompile.examples.small_nets import bent_line
            >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
            >>> form.num_hidden, form.restrict(1).num_hidden    # relu(x - 1) alone on R: 2 units
            (3, 2)
        """
        own = self.output_breakpoints(j)
        s = self.slopes[j]
        t = [self.breakpoints[i - 1] for i in own]
        slopes = [[s[0]] + [s[i] for i in own]]
        return assemble(t, slopes, self.interval, lambda x: [self.evaluate(x)[j]], self.basis, None,
                        self.source, self.source_sha256)

    def with_basis(self, basis: str, pivot: int | None = None) -> "TwoLayerForm":
        """The same function in another basis (or around another pivot).

        Example:
            >>> from relucompile import compile_network, Domain
            >>> from relucompile.examples.small_nets import bent_line
            >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
            >>> form.with_basis("two-sided", pivot=2).pivot
            2
        """
        return assemble(self.breakpoints, self.slopes, self.interval, self.evaluate, basis, pivot,
                        self.source, self.source_sha256)


def domain_interval(domain) -> Interval:
    """The exact interval of a 1-D domain (its inequalities are exact binary fractions).

    Example:
        >>> from relucompile.ir.domain import Domain
        >>> domain_interval(Domain.box([-1.5], [2]))
        (Fraction(-3, 2), Fraction(2, 1))
    """
    if domain.d != 1:
        raise UserError(f"the two-layer form needs a 1-D input; the domain has dimension {domain.d}")
    G, g = domain.inequalities()
    lo = hi = None
    for row, rhs in zip(G, g):
        a, b = Fraction(float(row[0])), Fraction(float(rhs))
        if a > 0:
            hi = b / a if hi is None else min(hi, b / a)
        elif a < 0:
            lo = b / a if lo is None else max(lo, b / a)
    return lo, hi


def linear_pieces(shallow: ShallowNet) -> list[Piece]:
    """The maximal pieces of a 1-D compiled network, left to right, exact: cells sorted along the
    line, checked to tile the domain, neighbours with equal slopes merged.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.small_nets import bent_line
        >>> shallow = compile_network(bent_line(), Domain.reals(1))
        >>> [(str(p.lo), str(p.hi)) for p in linear_pieces(shallow)]
        [('None', '0'), ('0', '1'), ('1', 'None')]
    """
    if shallow.d != 1:
        raise UserError(f"the two-layer form needs a 1-D input; the network has {shallow.d} inputs")
    domain_lo, domain_hi = domain_interval(shallow.domain)
    cells = []
    for a in range(shallow.num_cells):
        lo, hi = domain_lo, domain_hi
        for j in range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1]):
            w, b = shallow.exact_hyperplane(int(shallow.facet_h[j]))
            w, b = (w[0], b) if shallow.facet_closed[j] else (-w[0], -b)   # closure: w x + b >= 0
            if w > 0:
                lo = -b / w if lo is None else max(lo, -b / w)
            elif w < 0:
                hi = -b / w if hi is None else min(hi, -b / w)
        A, c = shallow.exact_affine(a)
        cells.append(Piece(lo, hi, [row[0] for row in A], list(c)))
    cells.sort(key=lambda p: (p.lo is not None, p.lo if p.lo is not None else 0))
    if cells[0].lo != domain_lo or cells[-1].hi != domain_hi:
        raise RuntimeError(f"the cells do not cover the domain [{domain_lo}, {domain_hi}] (a bug)")
    pieces = [cells[0]]
    for cell in cells[1:]:
        last = pieces[-1]
        if cell.lo != last.hi:
            raise RuntimeError(f"the cells do not tile the line: gap or overlap between {last.hi} and {cell.lo} "
                               "(a sliver cell was dropped by the float tolerance?)")
        if last.value(cell.lo) != cell.value(cell.lo):
            raise RuntimeError(f"the function jumps at x = {cell.lo} (a bug: ReLU networks are continuous)")
        if cell.slope == last.slope:
            pieces[-1] = Piece(last.lo, cell.hi, last.slope, last.intercept)
        else:
            pieces.append(cell)
    return pieces


def two_layer_form(shallow: ShallowNet, basis: str = "one-sided", pivot: int | None = None) -> TwoLayerForm:
    """The exact one-hidden-layer form of a 1-D network compiled over R or an interval.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.small_nets import bent_line
        >>> form = two_layer_form(compile_network(bent_line(), Domain.box([-1], [0.5])))
        >>> [str(t) for t in form.breakpoints], form.num_hidden      # on [-1, 1/2] only the bend at 0
        (['0'], 2)
    """
    pieces = linear_pieces(shallow)
    t = [p.lo for p in pieces[1:]]
    slopes = [[p.slope[j] for p in pieces] for j in range(shallow.m)]

    def f(x: Fraction) -> list[Fraction]:
        piece = next((p for p in pieces if p.hi is None or x <= p.hi), pieces[-1])
        return piece.value(x)

    net = shallow.net
    return assemble(t, slopes, domain_interval(shallow.domain), f, basis, pivot, net.source_name, net.source_sha256)


def assemble(breakpoints: Sequence[Fraction], slopes: Sequence[Sequence[Fraction]], interval: Interval,
             f: Callable[[Fraction], list[Fraction]], basis: str = "one-sided", pivot: int | None = None,
             source: str = "", source_sha256: str = "") -> TwoLayerForm:
    """A :class:`TwoLayerForm` from breakpoints, slopes and an exact evaluator ``f`` of all
    outputs (used at the anchor only).

    Example:
        >>> form = assemble([Fraction(0)], [[Fraction(0), Fraction(1)]], (None, None),
        ...                 lambda x: [max(x, Fraction(0))])                  # relu
        >>> form.units(), form.output_layer()[0]
        ([(-1, Fraction(0, 1)), (1, Fraction(0, 1))], [[Fraction(0, 1), Fraction(1, 1)]])
    """
    if basis not in BASES:
        raise UserError(f"unknown basis {basis!r}: choose one-sided or two-sided")
    K = len(breakpoints)
    if K == 0:
        if pivot not in (None, 0):
            raise UserError("the function is affine on the domain (no breakpoint): there is no pivot to choose")
        p = 0
        lo, hi = interval
        anchor = lo if lo is not None else hi if hi is not None else Fraction(0)
    else:
        default = 1 if basis == "one-sided" else K // 2 + 1
        p = default if pivot is None else int(pivot)
        if basis == "one-sided" and p != 1:
            raise UserError(f"the one-sided basis pivots on t1; use --basis two-sided for pivot {p}")
        if not 1 <= p <= K:
            raise UserError(f"pivot must be a breakpoint index from 1 to K = {K}, got {p}")
        anchor = breakpoints[p - 1]
    return TwoLayerForm(list(breakpoints), [list(s) for s in slopes], anchor, list(f(anchor)), interval,
                        basis, p, source, source_sha256)


__all__ = ["BASES", "Piece", "TwoLayerForm", "assemble", "domain_interval", "linear_pieces", "two_layer_form"]
