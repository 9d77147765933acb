"""Explain one input: the linear rule the network applies at x, and how far x can move before it changes.

At a point x the activation pattern (one forward pass) fixes every ReLU's piece, so on x's cell
the network is one affine map ``f(x) = W_eff x + b_eff`` (the cell's *effective weights*,
docs/design.md section 1; :meth:`ReluNet.effective_maps`).  :func:`explain_point` reports

* the pattern, ``W_eff`` and ``b_eff``, and the per-feature contributions ``W_eff * x`` (row j,
  column i: how much input i adds to output j; each row plus ``b_eff[j]`` sums to ``f_j(x)``);
* the cell's defining inequalities: every unit's sign condition under the pattern (active:
  ``z >= 0``, inactive: ``z <= 0``, with ``z`` the unit's pre-activation, affine in x on the
  cell) plus the domain's rows, each marked irredundant (a facet of the cell) or implied;
* the radius of the largest ball around x inside the cell (within the domain's affine hull):
  the smallest distance from x to one of the conditions' hyperplanes, which is exact geometry
  since the ball is centred at x.  The condition that attains it is the *limiting* one: the
  nearest point where the rule changes lies on its hyperplane.

No cell enumeration is needed: one forward pass, the effective maps, and (for the facet marks)
one small warm-started LP per condition.  Layers and units are counted from 0, as in the
regions JSON (``backends/regions_json.py``).

Example:
    >>> from relucompile.ir.network import AffineLayer
    >>> net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 2.0]])}, np.zeros(1)))   # relu(x1) + 2 relu(x2)
    >>> e = explain_point(net, [0.5, -0.25])
    >>> e.W_eff.tolist(), e.b_eff.tolist(), e.output.tolist(), e.contributions.tolist()
    ([[1.0, 0.0]], [0.0], [0.5], [[0.5, -0.0]])
    >>> e.radius, e.conditions[e.limiting[0]].label()
    (0.25, 'layer 0 unit 1 inactive')
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from relucompile.analysis.cells import number_text
from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.ir.values import to_float
from relucompile.numeric.tolerances import GEOMETRIC_TOL, ROUNDING_NOISE, TINY

SCHEMA = "relucompile.explain"
VERSION = 1
MATRIX_MAX_INPUTS = 12  # wider effective-weight matrices are shown as top contributions in text


@dataclass
class Condition:
    """One inequality ``w . x + b >= 0`` that holds on x's cell.

    ``kind`` is ``"unit"`` (ReLU ``index`` of ``layer`` is active: z >= 0, or inactive: z <= 0,
    so ``w, b = +-(z's map)``) or ``"domain"`` (row ``index`` of the domain's ``G x <= g``:
    ``w = -G[index]``, ``b = g[index]``; ``layer`` is -1 and ``active`` None).
    """

    kind: str
    layer: int
    index: int
    active: bool | None
    w: np.ndarray
    b: float
    value: float            # w . x + b at x: >= 0 inside the cell
    distance: float         # distance from x to {w . x + b = 0} in the domain's hull (inf: never met)
    irredundant: bool | None = None   # a facet of the cell (None: not decided)

    def label(self) -> str:
        """Short name: ``layer 2 unit 16 active`` or ``domain row 3``.

        Example:
            >>> Condition("unit", 2, 16, True, np.ones(1), 0.0, 1.0, 1.0).label()
            'layer 2 unit 16 active'
        """
        if self.kind == "unit":
            return f"layer {self.layer} unit {self.index} {'active' if self.active else 'inactive'}"
        return f"domain row {self.index}"

    def preactivation(self) -> tuple[np.ndarray, float]:
        """The unit's pre-activation map (z = w . x + b) on the cell; domain rows as stored.

        Example:
            >>> Condition("unit", 0, 0, False, np.array([-2.0]), 1.0, 1.0, 0.5).preactivation()
            (array([2.]), -1.0)
        """
        if self.kind == "unit" and not self.active:
            return -self.w, -self.b
        return self.w, self.b


@dataclass
class Explanation:
    """Everything :func:`explain_point` finds at one input x (see the module docstring)."""

    x: np.ndarray                  # (d,)
    pattern: list[np.ndarray]      # one bool array per ReLU layer, True = active
    W_eff: np.ndarray              # (m, d)
    b_eff: np.ndarray              # (m,)
    conditions: list[Condition]
    radius: float                  # largest ball around x inside the cell (inf: no boundary at all)
    limiting: list[int]            # indices of the conditions at distance ``radius``
    inside_domain: bool
    domain: Domain
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    @property
    def output(self) -> np.ndarray:
        """f(x) = W_eff x + b_eff."""
        return self.W_eff @ self.x + self.b_eff

    @property
    def contributions(self) -> np.ndarray:
        """(m, d): ``W_eff[j, i] * x[i]``, input i's share of output j (plus b_eff[j] gives f_j(x))."""
        return self.W_eff * self.x[None, :]

    @property
    def facets(self) -> list[int]:
        """Indices of the irredundant conditions (all unit and domain conditions if undecided)."""
        marks = [c.irredundant for c in self.conditions]
        if any(v is None for v in marks):
            return [i for i, c in enumerate(self.conditions) if np.isfinite(c.distance)]
        return [i for i, v in enumerate(marks) if v]

    @property
    def pattern_string(self) -> str:
        """One character per unit, layers concatenated, '1' = active (as in the regions JSON)."""
        return "".join("1" if v else "0" for layer in self.pattern for v in layer)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (infinite distances and radius become null)."""
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None
        return {
            "x": self.x.tolist(),
            "inside_domain": self.inside_domain,
            "output": self.output.tolist(),
            "pattern": self.pattern_string,
            "active_units": int(sum(int(np.sum(p)) for p in self.pattern)),
            "W_eff": self.W_eff.tolist(),
            "b_eff": self.b_eff.tolist(),
            "contributions": self.contributions.tolist(),
            "radius": num(self.radius),
            "limiting": list(self.limiting),
            "conditions": [{"kind": c.kind, "layer": c.layer if c.kind == "unit" else None,
                            ("unit" if c.kind == "unit" else "row"): c.index,
                            "active": c.active, "w": c.w.tolist(), "b": float(c.b),
                            "value": float(c.value), "distance": num(c.distance),
                            "facet": c.irredundant} for c in self.conditions],
        }

    def to_text(self, digits: int = 6, all_conditions: bool = False) -> str:
        """A readable report; ``all_conditions`` also lists the implied (redundant) conditions."""
        return _render_text(self, digits, all_conditions)


def default_names(count: int, prefix: str) -> list[str]:
    """``prefix1 .. prefixN``.

    Example:
        >>> default_names(3, "x")
        ['x1', 'x2', 'x3']
    """
    return [f"{prefix}{i + 1}" for i in range(count)]


def explain_point(net: ReluNet, x: Sequence[float], domain: Domain | None = None, *,
                  facets: bool = True, input_names: Sequence[str] | None = None,
                  output_names: Sequence[str] | None = None) -> Explanation:
    """The linear rule of ``net`` at ``x`` and the largest ball around x on which it holds.

    ``domain`` (default all of R^d) adds its rows to the cell and restricts the ball to its
    affine hull.  ``facets`` marks which conditions are irredundant (one LP per condition).

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.array([-1.0]))],
        ...               AffineLayer({1: np.array([[3.0]])}, np.zeros(1)))     # 3 relu(x - 1)
        >>> e = explain_point(net, [0.25], Domain.box([0], [2]))
        >>> e.output.tolist(), e.radius, [e.conditions[i].label() for i in e.limiting]
        ([0.0], 0.25, ['domain row 0'])
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size != net.d:
        raise ValueError(f"the point has {x.size} coordinates but the network has {net.d} inputs")
    domain = domain or Domain.reals(net.d)
    pattern = [np.asarray(p[0], dtype=bool) for p in net.pattern(x[None, :])]
    blocks, (A, c) = net.effective_maps(pattern)
    hull = domain.hull()
    basis = _orthonormal(hull.U)
    conditions = []
    for l, (layer, on) in enumerate(zip(net.layers, pattern)):
        M, m = ReluNet.preactivation(layer, blocks[:l + 1])
        M, m = to_float(M).reshape(layer.size, net.d), to_float(m).reshape(layer.size)
        sign = np.where(on, 1.0, -1.0)
        for k in range(layer.size):
            conditions.append(_condition("unit", l, k, bool(on[k]), sign[k] * M[k], sign[k] * m[k], x, basis))
    G, g = domain.inequalities()
    for i, (row, rhs) in enumerate(zip(G, g)):
        conditions.append(_condition("domain", -1, i, None, -row, float(rhs), x, basis))
    tol = ROUNDING_NOISE * (1.0 + float(np.abs(x).max(initial=0.0)))
    inside = bool(domain.contains(x[None, :], tol=tol)[0])
    distances = np.array([c.distance for c in conditions] + [math.inf])
    radius = float(distances.min()) if inside else 0.0
    if inside:
        limiting = [i for i, dist in enumerate(distances[:-1]) if dist <= radius * (1 + GEOMETRIC_TOL)] if math.isfinite(radius) else []
    else:
        limiting = [i for i, c in enumerate(conditions) if c.kind == "domain" and c.value < -tol]
    if facets and inside:
        _mark_facets(conditions, hull, x)
    return Explanation(x, pattern, to_float(A).reshape(net.m, net.d), to_float(c).reshape(net.m), conditions,
                       radius, limiting, inside, domain,
                       list(input_names) if input_names else default_names(net.d, "x"),
                       list(output_names) if output_names else default_names(net.m, "y"))


def _orthonormal(U: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the column space of U (the directions of the domain's hull)."""
    if U.shape[1] == 0:
        return U
    Q, _ = np.linalg.qr(U)
    return Q


def _condition(kind: str, layer: int, index: int, active: bool | None, w: np.ndarray, b: float,
               x: np.ndarray, basis: np.ndarray) -> Condition:
    """The condition w.x + b >= 0 with its value at x and its distance within the hull."""
    value = float(w @ x + b)
    along = float(np.linalg.norm(basis.T @ w))
    flat = along <= ROUNDING_NOISE * max(float(np.linalg.norm(w)), TINY)
    distance = math.inf if flat else max(value, 0.0) / along
    return Condition(kind, layer, index, active, w, float(b), value, distance)


def _mark_facets(conditions: list[Condition], hull, x: np.ndarray) -> None:
    """Sequential redundancy removal in hull coordinates: relax one row by a unit of distance and
    see whether the others still forbid violating it (the same test as the enumerator's)."""
    from relucompile.numeric.lp import LinearProgram
    rows = [i for i, c in enumerate(conditions) if math.isfinite(c.distance)]
    for c in conditions:
        c.irredundant = False
    if not rows or hull.k == 0:
        return
    lp = LinearProgram(hull.k)
    for i in rows:  # w.(x0 + U t) + b >= 0   <=>   -(U^T w) . t <= b + w . x0
        c = conditions[i]
        lp.add_row(-(hull.U.T @ c.w), c.b + float(c.w @ hull.x0))
    tol = GEOMETRIC_TOL * max(1.0, float(np.abs(x).max(initial=0.0)))
    for pos, i in enumerate(rows):
        a, b = lp.rows[pos]
        lp.set_rhs(pos, b + 1.0)
        res = lp.minimize(-a)
        if res.status == "infeasible":  # rounding made the cell empty: give no marks
            for c in conditions:
                c.irredundant = None
            return
        violation = (-res.value - b) if res.status == "optimal" else math.inf
        if violation > tol:
            lp.set_rhs(pos, b)
            conditions[i].irredundant = True
        else:
            lp.set_rhs(pos, None)  # implied by the others: drop it for the rest of the test


# -- text ---------------------------------------------------------------------------------------

def affine_formula(coeffs: Sequence, const: Any, names: Sequence[str], number: Callable[[Any], str],
                   times: str = "*") -> str:
    """``c1*x1 - c2*x2 + c0`` with ``number(|v|)`` for magnitudes; unit coefficients and terms that
    print as 0 are elided.  Shared by every readable output (explain, equations, report).

    Example:
        >>> affine_formula([1.0, -0.5], 2.0, ["a", "b"], lambda v: f"{v:g}")
        'a - 0.5*b + 2'
    """
    parts: list[tuple[bool, str]] = []
    for v, name in zip(coeffs, names):
        mag = number(abs(v))
        if mag != "0":
            parts.append((v < 0, name if mag == "1" else f"{mag}{times}{name}"))
    mag = number(abs(const))
    if mag != "0":
        parts.append((const < 0, mag))
    if not parts:
        return "0"
    out = ("-" if parts[0][0] else "") + parts[0][1]
    for negative, term in parts[1:]:
        out += (" - " if negative else " + ") + term
    return out


def affine_text(coeffs: Sequence[float], const: float, names: Sequence[str], digits: int = 6) -> str:
    """``0.5*x1 - x2 + 2``: an affine formula with unit coefficients and zero terms elided.

    Example:
        >>> affine_text([0.5, -1.0, 0.0], 2.0, ["x1", "x2", "x3"])
        '0.5*x1 - x2 + 2'
    """
    return affine_formula(coeffs, const, names, lambda v: number_text(v, digits))


def condition_text(c: Condition, names: Sequence[str], digits: int = 6) -> str:
    """The condition as a readable inequality in the input names.

    Units read ``z = <affine> >= 0`` (active) or ``<= 0`` (inactive); box rows read ``x1 >= -1``.

    Example:
        >>> c = Condition("unit", 0, 3, False, np.array([-1.0, 0.5]), 0.25, 1.0, 1.0)
        >>> condition_text(c, ["a", "b"])
        'layer 0 unit 3 inactive: z = a - 0.5*b - 0.25 <= 0'
    """
    if c.kind == "unit":
        w, b = c.preactivation()
        return f"{c.label()}: z = {affine_text(w, b, names, digits)} {'>=' if c.active else '<='} 0"
    nz = np.nonzero(c.w)[0]
    if nz.size == 1:  # a bound on one input: w_i x_i + b >= 0
        i = int(nz[0])
        bound = number_text(-c.b / c.w[i], digits)
        return f"{c.label()}: {names[i]} {'>=' if c.w[i] > 0 else '<='} {bound}"
    return f"{c.label()}: {affine_text(-c.w, 0.0, names, digits)} <= {number_text(c.b, digits)}"


def _matrix_text(rows: np.ndarray, row_names: Sequence[str], col_names: Sequence[str], digits: int) -> list[str]:
    cells = [[number_text(v, digits) for v in row] for row in rows]
    width = max([len(s) for row in cells for s in row] + [len(n) for n in col_names]) + 2
    first = max(len(n) for n in row_names) + 2
    out = [" " * (first + 2) + "".join(n.rjust(width) for n in col_names)]
    for name, row in zip(row_names, cells):
        out.append("  " + name.ljust(first) + "".join(s.rjust(width) for s in row))
    return out


def _render_text(e: Explanation, digits: int, all_conditions: bool) -> str:
    names, outs = e.input_names, e.output_names
    num = lambda v: number_text(v, digits)  # noqa: E731
    point = ", ".join(f"{n} = {num(v)}" for n, v in zip(names, e.x))
    where = "inside" if e.inside_domain else "OUTSIDE"
    lines = [f"input: {point}   ({where} the domain {e.domain.describe()})"]
    per_layer = " ".join(f"{int(np.sum(p))}/{p.size}" for p in e.pattern)
    total = sum(p.size for p in e.pattern)
    lines.append(f"activation pattern: {sum(int(np.sum(p)) for p in e.pattern)} of {total} units active "
                 f"(per layer: {per_layer})")
    lines.append("output: " + ", ".join(f"{n} = {num(v)}" for n, v in zip(outs, e.output)))
    d = len(names)
    if d <= MATRIX_MAX_INPUTS:
        lines.append("effective weights on this cell, f(x) = W_eff x + b_eff:")
        lines += _matrix_text(np.column_stack([e.W_eff, e.b_eff]), outs, list(names) + ["b_eff"], digits)
        lines.append("contributions W_eff * x (each row plus b_eff sums to the output):")
        lines += _matrix_text(np.column_stack([e.contributions, e.b_eff, e.output]), outs,
                              list(names) + ["b_eff", "= y"], digits)
    else:
        lines.append(f"largest contributions W_eff * x (of {d} inputs; --json lists all):")
        for j, name in enumerate(outs):
            top = np.argsort(-np.abs(e.contributions[j]), kind="stable")[:MATRIX_MAX_INPUTS]
            terms = ", ".join(f"{names[i]}: {num(e.contributions[j, i])}" for i in top)
            lines.append(f"  {name} = {num(e.output[j])} = b_eff {num(e.b_eff[j])} + ... ; {terms}")
    if not e.inside_domain:
        bad = ", ".join(e.conditions[i].label() for i in e.limiting)
        lines.append(f"the input violates the domain ({bad}): no ball, radius 0")
    elif math.isinf(e.radius):
        lines.append("the rule holds everywhere in the domain (no condition ever changes)")
    else:
        lines.append(f"the rule holds on the ball of radius {num(e.radius)} around the input; it is limited by")
        for i in e.limiting:
            lines.append(f"  {condition_text(e.conditions[i], names, digits)}")
    facets = e.facets
    order = sorted(range(len(e.conditions)) if all_conditions else facets,
                   key=lambda i: (e.conditions[i].distance, i))
    finite = sum(1 for c in e.conditions if math.isfinite(c.distance))
    decided = all(c.irredundant is not None for c in e.conditions)
    head = (f"the cell: {len(facets)} facet(s) among {len(e.conditions)} conditions" if decided
            else f"the cell: {finite} conditions (facets not decided)")
    lines.append(head + ("; all conditions, nearest first:" if all_conditions else
                         "; facets, nearest first (--all-conditions lists the implied ones too):"))
    lines.append(f"  {'distance':>12}  condition")
    for i in order:
        c = e.conditions[i]
        mark = "" if c.irredundant or not decided else "   (implied)"
        lines.append(f"  {num(c.distance):>12}  {condition_text(c, names, digits)}{mark}")
    return "\n".join(lines)
