"""Input domains: all of R^d, a box, or a polytope {x : G x <= g}; always convex.

A domain may be lower-dimensional (a box with zero-width sides, a polytope with implicit
equalities).  :meth:`Domain.hull` then gives its affine hull ``x = x0 + U t`` and the domain's
inequalities in t, over which enumeration runs (docs/design.md section 1).

Example:
    >>> D = Domain.box([0, 1, -1], [1, 1, 1])          # x_2 is fixed to 1
    >>> hull = D.hull()
    >>> hull.U.shape, hull.x0.tolist()
    ((3, 2), [0.0, 1.0, 0.0])
    >>> D.contains(np.array([[0.5, 1.0, 0.0], [0.5, 0.9, 0.0]])).tolist()
    [True, False]
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from relucompile.errors import DomainError, read_json_file
from relucompile.numeric.tolerances import GEOMETRIC_TOL, MAX_COORDINATE, MIN_SIDE


@dataclass
class Hull:
    """Affine hull ``x = x0 + U t`` of a domain, and the domain as ``Gt t <= gt`` in t."""

    x0: np.ndarray
    U: np.ndarray
    Gt: np.ndarray
    gt: np.ndarray
    equalities: list[tuple[np.ndarray, float]]  # rows a with a.x = b on the domain
    Gx: np.ndarray  # the same inequalities as Gt t <= gt, in x: Gx x <= gx
    gx: np.ndarray

    @property
    def k(self) -> int:
        return self.U.shape[1]


#: boxes with more sides are described by their ranges, not side by side
MAX_DESCRIBED_SIDES = 6


@dataclass
class Domain:
    """``kind`` is 'reals', 'box' or 'polytope'; ``G x <= g`` holds for every kind."""

    d: int
    kind: str = "reals"
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    G: np.ndarray | None = None
    g: np.ndarray | None = None

    # -- constructors ------------------------------------------------------------------------
    @staticmethod
    def reals(d: int) -> "Domain":
        return Domain(d)

    @staticmethod
    def box(lower, upper) -> "Domain":
        lo, hi = _finite_vector(lower, "lower"), _finite_vector(upper, "upper")
        if lo.shape != hi.shape:
            raise DomainError(f"box bounds have different lengths ({lo.size} and {hi.size})")
        bad = np.nonzero(lo > hi)[0]
        if bad.size:
            i = int(bad[0])
            raise DomainError(f"box is empty: lower[{i}] = {float(lo[i])!r} > upper[{i}] = {float(hi[i])!r}")
        thin = np.nonzero((hi > lo) & (hi - lo < MIN_SIDE))[0]
        if thin.size:
            i = int(thin[0])
            raise DomainError(f"box side {i} has width {hi[i] - lo[i]:g}, above 0 but below {MIN_SIDE:g}: cells that thin "
                              "are below the enumeration's resolution; give the side zero width (a fixed input) "
                              "or widen it")
        return Domain(lo.size, "box", lo, hi)

    @staticmethod
    def polytope(G, g) -> "Domain":
        try:
            G = np.atleast_2d(np.asarray(G, dtype=np.float64))
        except (TypeError, ValueError):
            raise DomainError("polytope matrix G must be a list of rows of numbers, all of one length") from None
        if G.ndim != 2 or G.shape[0] == 0 or G.shape[1] == 0:
            raise DomainError(f"polytope matrix G must be a non-empty list of rows (got shape {list(G.shape)})")
        try:
            g = np.asarray(g, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DomainError("g must be a list of numbers") from None
        if G.shape[0] != g.size:
            raise DomainError(f"polytope has {G.shape[0]} rows in G but {g.size} entries in g")
        if not (np.all(np.isfinite(G)) and np.all(np.isfinite(g))):
            raise DomainError("polytope G x <= g has non-finite entries")
        norms = np.linalg.norm(G, axis=1)
        if np.any(norms == 0):
            raise DomainError(f"row {int(np.flatnonzero(norms == 0)[0])} of G is all zeros")
        if np.max(np.abs(g) / norms) > MAX_COORDINATE:
            raise DomainError(f"a row of G x <= g lies {np.max(np.abs(g) / norms):g} from the origin, beyond "
                              f"{MAX_COORDINATE:g}: float64 cell enumeration is exact only below it (docs/design.md "
                              "section 3; rescale the inputs)")
        D = Domain(G.shape[1], "polytope", G=G, g=g)
        D.hull()  # validates non-emptiness
        return D

    @staticmethod
    def from_json(path: str) -> "Domain":
        """Read ``{"lower": [...], "upper": [...]}`` or ``{"G": [[...]], "g": [...]}``."""
        spec = read_json_file(path, DomainError)
        if not isinstance(spec, dict):
            raise DomainError(f"{path}: expected a JSON object with lower/upper or G/g")
        try:
            if "lower" in spec or "upper" in spec:
                return Domain.box(spec["lower"], spec["upper"])
            if "G" in spec or "g" in spec:
                return Domain.polytope(spec["G"], spec["g"])
        except KeyError as exc:
            raise DomainError(f"{os.path.basename(path)}: missing key {exc}") from None
        except DomainError as exc:
            raise DomainError(f"{os.path.basename(path)}: {exc}") from None
        raise DomainError(f"{path}: expected keys lower/upper (box) or G/g (polytope)")

    # -- views ------------------------------------------------------------------------------
    def inequalities(self) -> tuple[np.ndarray, np.ndarray]:
        """(G, g) with D = {x : G x <= g} (empty arrays for R^d)."""
        if self.kind == "box":
            eye = np.eye(self.d)
            return np.vstack([-eye, eye]), np.concatenate([-self.lower, self.upper])
        if self.kind == "polytope":
            return self.G, self.g
        return np.zeros((0, self.d)), np.zeros(0)

    @property
    def bounded(self) -> bool:
        return self.kind == "box" or (self.kind == "polytope" and self._polytope_bounded())

    def _polytope_bounded(self) -> bool:
        from relucompile.numeric.lp import LinearProgram
        hull = self.hull()
        lp = LinearProgram(hull.k)
        for row, rhs in zip(hull.Gt, hull.gt):
            lp.add_row(row, rhs)
        for i in range(hull.k):
            for s in (1.0, -1.0):
                c = np.zeros(hull.k)
                c[i] = s
                if lp.minimize(c).status != "optimal":
                    return False
        return True

    def contains(self, X: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Boolean mask of the rows of X inside D (``tol`` widens each inequality)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        G, g = self.inequalities()
        if G.shape[0] == 0:
            return np.all(np.isfinite(X), axis=1)
        return np.all(X @ G.T <= g + tol, axis=1) & np.all(np.isfinite(X), axis=1)

    def describe(self) -> str:
        """One short phrase, bounded in length whatever the dimension (a summary line's part).

        Example:
            >>> Domain.box([0, -1], [1, 2]).describe()
            'box [0, 1] x [-1, 2]'
            >>> Domain.box([0.0] * 784, [0.5] * 783 + [1.0]).describe()
            'box in R^784: lower 0 to 0, upper 0.5 to 1'
        """
        if self.kind == "box":
            if np.all(self.lower == self.lower[0]) and np.all(self.upper == self.upper[0]):
                return f"box [{self.lower[0]:g}, {self.upper[0]:g}]^{self.d}"
            if self.d > MAX_DESCRIBED_SIDES:
                return (f"box in R^{self.d}: lower {self.lower.min():g} to {self.lower.max():g}, "
                        f"upper {self.upper.min():g} to {self.upper.max():g}")
            return "box " + " x ".join(f"[{a:g}, {b:g}]" for a, b in zip(self.lower, self.upper))
        if self.kind == "polytope":
            return f"polytope with {self.G.shape[0]} inequalities in R^{self.d}"
        return f"R^{self.d}"

    def to_json(self) -> dict:
        if self.kind == "box":
            return {"kind": "box", "lower": self.lower.tolist(), "upper": self.upper.tolist()}
        if self.kind == "polytope":
            return {"kind": "polytope", "G": self.G.tolist(), "g": self.g.tolist()}
        return {"kind": "reals", "d": self.d}

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points of D (uniform for boxes; for R^d a standard normal; polytopes by rejection
        from their bounding box, falling back to the hull's interior point)."""
        if self.kind == "box":
            return rng.uniform(self.lower, self.upper, size=(n, self.d))
        if self.kind == "reals":
            return rng.normal(size=(n, self.d)) * 3
        hull = self.hull()
        from relucompile.numeric.lp import chebyshev_center
        centre, radius = chebyshev_center(hull.Gt, hull.gt)
        pts = centre + radius * rng.uniform(-1, 1, size=(n * 4, hull.k)) / math.sqrt(max(hull.k, 1))
        return (hull.x0 + pts @ hull.U.T)[:n]

    # -- affine hull ------------------------------------------------------------------------
    def hull(self) -> Hull:
        """The affine hull and the domain's full-dimensional description inside it."""
        if getattr(self, "_hull", None) is not None:
            return self._hull
        if self.kind == "reals":
            h = Hull(np.zeros(self.d), np.eye(self.d), np.zeros((0, self.d)), np.zeros(0), [],
                     np.zeros((0, self.d)), np.zeros(0))
        elif self.kind == "box":
            fixed = self.lower == self.upper
            free = np.nonzero(~fixed)[0]
            x0 = np.where(fixed, self.lower, 0.0)
            U = np.eye(self.d)[:, free]
            Gt = np.vstack([-np.eye(free.size), np.eye(free.size)])
            gt = np.concatenate([-self.lower[free], self.upper[free]])
            eye = np.eye(self.d)
            eqs = [(eye[i], float(self.lower[i])) for i in np.nonzero(fixed)[0]]
            Gx = np.vstack([-U.T, U.T])
            h = Hull(x0, U, Gt, gt, eqs, Gx, gt.copy())
        else:
            h = _polytope_hull(self.G, self.g)
        self._hull = h
        return h


def _finite_vector(v, name: str) -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DomainError(f"{name} must be a list of numbers") from None
    if arr.size == 0:
        raise DomainError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise DomainError(f"{name} has a non-finite entry (use the default domain for all of R^d)")
    if np.abs(arr).max() > MAX_COORDINATE:
        raise DomainError(f"{name} has an entry of magnitude {np.abs(arr).max():g}, beyond {MAX_COORDINATE:g}: "
                          "float64 cell enumeration is exact only below it (docs/design.md section 3; rescale the "
                          "inputs, or use the default domain for all of R^d)")
    return arr


def _polytope_hull(G: np.ndarray, g: np.ndarray) -> Hull:
    """Find implicit equalities by LP, then parametrise their solution set exactly (sympy)."""
    from relucompile.numeric.lp import LinearProgram
    d = G.shape[1]
    lp = LinearProgram(d)
    for row, rhs in zip(G, g):
        lp.add_row(row, rhs)
    scale = GEOMETRIC_TOL * max(1.0, float(np.max(np.abs(g))) if g.size else 1.0)
    implicit = []
    for i in range(G.shape[0]):
        res = lp.minimize(G[i])  # slack g_i - G_i x is maximal where G_i x is minimal
        if res.status == "infeasible":
            raise DomainError("polytope domain is empty")
        if res.status == "optimal" and g[i] - res.value <= scale * (1 + np.linalg.norm(G[i])):
            implicit.append(i)
    if not implicit:
        return Hull(np.zeros(d), np.eye(d), G, g, [], G, g)
    import sympy
    E = sympy.Matrix([[sympy.Rational(Fraction(float(v))) for v in G[i]] for i in implicit])
    e = sympy.Matrix([sympy.Rational(Fraction(float(g[i]))) for i in implicit])
    sol, params = E.gauss_jordan_solve(e)
    x0 = np.array([float(v.subs({p: 0 for p in params})) for v in sol], dtype=np.float64)
    basis = [np.array([float(v.diff(p)) for v in sol]) for p in params]
    U = np.array(basis).T if basis else np.zeros((d, 0))
    keep = [i for i in range(G.shape[0]) if i not in implicit]
    Gt = G[keep] @ U
    gt = g[keep] - G[keep] @ x0
    return Hull(x0, U, Gt, gt, [(G[i], float(g[i])) for i in implicit], G[keep], g[keep])
