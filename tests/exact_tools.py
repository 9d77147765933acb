"""Exact-arithmetic helpers for tests: cell vertices and facet points in rationals."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from relucompile.shallow.net import ShallowNet


def solve_exact(M: list[list[Fraction]], v: list[Fraction]) -> list[Fraction] | None:
    """Solve the square system M x = v exactly (None if singular)."""
    n = len(M)
    A = [list(row) + [rhs] for row, rhs in zip(M, v)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if A[r][col] != 0), None)
        if pivot is None:
            return None
        A[col], A[pivot] = A[pivot], A[col]
        for r in range(n):
            if r != col and A[r][col] != 0:
                f = A[r][col] / A[col][col]
                A[r] = [a - f * b for a, b in zip(A[r], A[col])]
    return [A[i][n] / A[i][i] for i in range(n)]


def cell_constraints(shallow: ShallowNet, a: int) -> list[tuple[list[Fraction], Fraction]]:
    """Closed cell a as rows (w, b) with w.x + b >= 0, exact; domain rows included."""
    rows = []
    for j in range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1]):
        w, b = shallow.exact_hyperplane(int(shallow.facet_h[j]))
        s = 1 if shallow.facet_closed[j] else -1
        rows.append(([s * wi for wi in w], s * b))
    G, g = shallow.domain.inequalities()
    for row, rhs in zip(G, g):
        rows.append(([-Fraction(float(r)) for r in row], Fraction(float(rhs))))
    return rows


def cell_vertices(shallow: ShallowNet, a: int) -> list[list[Fraction]]:
    """Exact vertices of closed cell a (bounded domains, small d), incl. domain equalities."""
    d = shallow.d
    rows = cell_constraints(shallow, a)
    eqs = [([Fraction(float(v)) for v in e], Fraction(float(rhs))) for e, rhs in shallow.domain.hull().equalities]
    need = d - len(eqs)
    found = []
    for combo in itertools.combinations(range(len(rows)), need):
        M = [e[0] for e in eqs] + [rows[i][0] for i in combo]
        v = [e[1] for e in eqs] + [-rows[i][1] for i in combo]
        x = solve_exact(M, v)
        if x is None:
            continue
        if all(sum((wi * xi for wi, xi in zip(w, x)), Fraction(0)) + b >= 0 for w, b in rows) and x not in found:
            found.append(x)
    return found


def facet_points(shallow: ShallowNet, a: int, vertices: list[list[Fraction]]) -> list[list[Fraction]]:
    """For each facet of cell a, the centroid of the cell's vertices on it (exact)."""
    pts = []
    for j in range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1]):
        w, b = shallow.exact_hyperplane(int(shallow.facet_h[j]))
        on = [v for v in vertices if sum((wi * xi for wi, xi in zip(w, v)), Fraction(0)) + b == 0]
        if on:
            pts.append([sum(c, Fraction(0)) / len(on) for c in zip(*on)])
    return pts


def random_rational_points(domain, n: int, rng: np.random.Generator, denominator: int = 97) -> list[list[Fraction]]:
    """Rational points of a box domain (fixed sides kept fixed)."""
    pts = []
    for _ in range(n):
        pts.append([Fraction(float(lo)) + (Fraction(float(hi)) - Fraction(float(lo))) * Fraction(int(rng.integers(0, denominator + 1)), denominator)
                    for lo, hi in zip(domain.lower, domain.upper)])
    return pts
