"""The shallow network of docs/design.md section 2, its extended-real evaluator and tie-break.

:func:`build_shallow` turns a :class:`~relucompile.regions.store.RegionSet` into a :class:`ShallowNet`:
the distinct facet hyperplanes (oriented so that h(p) > 0 at a generic reference point p of the
domain's interior), per cell the facet list with each constraint *closed* (``h >= 0``) or
*strict* (``h < 0``), and the effective maps.  The half-open cells partition the domain, so at
every x of D exactly one cell claims x and the network is ``A_a x + c_a`` there.

Evaluation finds the one claiming cell with the point-location tree of
:mod:`relucompile.shallow.locate` (``layout="index"``, the default: O(log |R|) tests per point,
the project's one point -> cell lookup) or, as the textbook form does, by testing every cell's
constraints (``layout="layers"``); both are exact in rationals.

The object is sparse; :meth:`ShallowNet.explicit_layers` materialises the three hidden layers
with +-inf weights and :func:`evaluate_explicit` runs them with extended-real arithmetic
(0 * inf = 0), which is the theorem's network word for word.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))   # |x|
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-2], [3])))
    >>> shallow.evaluate(np.array([[-1.5], [0.0], [2.0], [4.0]])).ravel().tolist()
    [1.5, 0.0, 2.0, nan]
    >>> from fractions import Fraction
    >>> shallow.evaluate_exact([Fraction(-1, 3)]), shallow.evaluate_exact([Fraction(0)], layout="layers")
    ([Fraction(1, 3)], [Fraction(0, 1)])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from relucompile.ir.network import ReluNet
from relucompile.regions.store import RegionSet
from relucompile.ir.values import to_exact
from relucompile.regions.exact_vertices import ExactPlanes
from relucompile.numeric.tolerances import GEOMETRIC_TOL, REFERENCE_MARGIN, ROUNDING_NOISE, TINY

INF = float("inf")


@dataclass
class ShallowNet:
    """Sparse form of the three-hidden-layer network (see module docstring)."""

    net: ReluNet
    regions: RegionSet
    W: np.ndarray                 # (H, d) oriented hyperplanes: h(x) = W x + b, h(p) > 0
    b: np.ndarray                 # (H,)
    keys: Sequence[tuple]         # structural key of each hyperplane (HyperplaneKeys: built on access)
    cell_ptr: np.ndarray          # (R+1,) CSR offsets into facet_h / facet_closed
    facet_h: np.ndarray           # hyperplane index of each cell constraint
    facet_closed: np.ndarray      # True: h >= 0 (closed); False: h < 0 (strict)
    A: np.ndarray                 # (R, m, d)
    c: np.ndarray                 # (R, m)
    p: np.ndarray                 # reference point (exact binary fractions)
    _exact_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def domain(self):
        return self.regions.domain

    @property
    def num_cells(self) -> int:
        return int(self.A.shape[0])

    @property
    def num_hyperplanes(self) -> int:
        return int(self.W.shape[0])

    @property
    def d(self) -> int:
        return self.net.d

    @property
    def m(self) -> int:
        return self.net.m

    def layer_sizes(self) -> dict[str, int]:
        """Units per layer of the extended-real network (docs/design.md section 2)."""
        d, H, R, m = self.d, self.num_hyperplanes, self.num_cells, self.m
        return {"H1": 2 * d + H, "H2": 2 * d + 2 * H, "H3": 2 * m * R, "out": m}

    # -- float evaluation -----------------------------------------------------------------
    @property
    def locator(self):
        """The point-location tree of the cells (:mod:`relucompile.shallow.locate`), built on
        first use: the one point -> cell lookup of the project."""
        if "locator" not in self._exact_cache:
            from relucompile.shallow import locate
            self._exact_cache["locator"] = locate.build_locator(self.net, self.regions, self.p, locate.DEFAULT_ARITY)
        return self._exact_cache["locator"]

    def select_cells(self, X: np.ndarray, layout: str = "index", chunk_entries: int = 4_000_000) -> np.ndarray:
        """Index of the cell that claims each row of X (float64).  ``layout="index"``: the
        point-location tree; ``"layers"``: the textbook scan of every cell's constraints (H1-H3),
        with the least-violation fallback when rounding makes zero or several cells claim a point."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if layout == "index":
            return self.locator.locate(X)
        if layout != "layers":
            raise ValueError(f"unknown layout {layout!r}: 'index' or 'layers'")
        nnz = max(int(self.facet_h.size), 1)
        step = max(1, chunk_entries // nnz)
        out = np.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], step):
            out[start:start + step] = self._select_chunk(X[start:start + step])
        return out

    def _select_chunk(self, X: np.ndarray) -> np.ndarray:
        V = X @ self.W.T + self.b                          # H1: q_h = relu(-h)
        G = V[:, self.facet_h]
        violated = np.where(self.facet_closed, G < 0, G >= 0)   # H2: lambda_h / nu_h
        amount = np.where(self.facet_closed, np.maximum(-G, 0), np.maximum(G, 0))
        counts = _segment_sums(violated.astype(np.int64), self.cell_ptr)  # H3: V_a
        claim = counts == 0
        n_claim = claim.sum(axis=1)
        chosen = np.argmax(claim, axis=1)
        bad = n_claim != 1
        if np.any(bad):
            total = _segment_sums(amount[bad], self.cell_ptr)
            chosen[bad] = np.argmin(total, axis=1)
        return chosen

    def evaluate(self, X: np.ndarray, layout: str = "index") -> np.ndarray:
        """f(X) for a batch (N, d) in float64; NaN rows outside the domain (``layout``: how the
        cell is found, see :meth:`select_cells`)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.full((X.shape[0], self.m), np.nan)
        inside = self.domain.contains(X, tol=ROUNDING_NOISE * (1 + np.abs(X).max(initial=0)))
        if np.any(inside):
            Xi = X[inside]
            idx = self.select_cells(Xi, layout)
            out[inside] = np.einsum("nmd,nd->nm", self.A[idx], Xi) + self.c[idx]
        return out

    def predict(self, X: Any) -> np.ndarray:
        """f at a batch of points, as numpy: ``X`` of shape (N, d) gives (N, m); one point (d,)
        gives (m,).  Float64; NaN rows outside the domain (as the emitted ONNX model).

        Example:
            >>> from relucompile import compile_model, Domain
            >>> from relucompile.examples import tiny_mlp_path
            >>> shallow = compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]))
            >>> shallow.predict([[0.25, -0.5], [2.0, 0.0]]).round(4).tolist()
            [[-0.7453, -0.0298], [nan, nan]]
            >>> shallow([0.25, -0.5]).shape
            (2,)
        """
        from relucompile.errors import UserError
        array = np.asarray(X, dtype=np.float64)
        if array.ndim == 1 and array.shape[0] == self.d:
            return self.evaluate(array[None, :])[0]
        if array.ndim != 2 or array.shape[1] != self.d:
            raise UserError(f"X must have shape (N, {self.d}) (or ({self.d},) for one point): the network "
                            f"takes {self.d} inputs, got an array of shape {array.shape}")
        return self.evaluate(array)

    __call__ = predict

    def __repr__(self) -> str:
        """Sizes, not arrays.

        Example:
            >>> from relucompile import compile_model, Domain
            >>> from relucompile.examples import tiny_mlp_path
            >>> compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]))
            ShallowNet(d=2, m=2, cells=98, hyperplanes=61, domain=box [-1, 1]^2, source='tiny_mlp.onnx')
        """
        source = f", source={self.net.source_name!r}" if self.net.source_name else ""
        return (f"ShallowNet(d={self.d}, m={self.m}, cells={self.num_cells:,}, hyperplanes={self.num_hyperplanes:,}, "
                f"domain={self.domain.describe()}{source})")

    def cells(self, as_frame: bool | None = None) -> Any:
        """One row per cell: ``cell`` (index), ``bounded``, ``radius`` (Chebyshev radius), ``facets``
        (irredundant constraints), ``active_units`` (ReLUs on), ``interior`` (a point inside, (d,)),
        ``A`` ((m, d)) and ``c`` ((m,)): the rule f(x) = A x + c there.  A pandas DataFrame when
        pandas is importable (``as_frame=None``, or True), else (``as_frame=False``) a list of dicts.

        Example:
            >>> from relucompile import compile_model, Domain
            >>> from relucompile.examples import tiny_mlp_path
            >>> rows = compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])).cells(as_frame=False)
            >>> len(rows), sorted(rows[0])
            (4, ['A', 'active_units', 'bounded', 'c', 'cell', 'facets', 'interior', 'radius'])
        """
        store = self.regions.cells
        facets = np.diff(self.cell_ptr)
        active = store.patterns.sum(axis=1) if len(store) else np.zeros(0, np.int64)
        rows = [{"cell": a, "bounded": bool(store.bounded[a]), "radius": float(store.radius[a]),
                 "facets": int(facets[a]), "active_units": int(active[a]), "interior": store.interior[a].copy(),
                 "A": self.A[a].copy(), "c": self.c[a].copy()} for a in range(self.num_cells)]
        if as_frame is False:
            return rows
        try:
            import pandas
        except ImportError:
            if as_frame:
                from relucompile.errors import UserError
                raise UserError("cells(as_frame=True) needs pandas (pip install pandas); "
                                "cells(as_frame=False) gives a list of dicts") from None
            return rows
        return pandas.DataFrame(rows, columns=list(rows[0]) if rows else None).set_index("cell", drop=False)

    # -- exact evaluation -------------------------------------------------------------------
    def _exact_planes(self) -> ExactPlanes:
        """The network's exact unit hyperplanes (:class:`~relucompile.regions.exact_vertices.ExactPlanes`,
        shared with the vertex engine's exact side test), made on first use."""
        if "planes" not in self._exact_cache:
            self._exact_cache["planes"] = ExactPlanes(self.net)
        return self._exact_cache["planes"]

    def exact_net(self) -> ReluNet:
        return self._exact_planes().exact_net()

    def exact_hyperplane(self, i: int) -> tuple[np.ndarray, Fraction]:
        """Hyperplane i recomputed exactly from its structural key (oriented like ``W[i]``)."""
        cache = self._exact_cache.setdefault("hyperplanes", {})
        if i in cache:
            return cache[i]
        key = self.keys[i]
        if key[0] == "unit":
            _, layer, unit, prefix = key
            w, b = self.exact_unit_hyperplane(layer, unit, np.frombuffer(prefix, dtype=bool))
        else:
            hull = self.domain.hull()
            w, b = -to_exact(hull.Gx[key[1]]), Fraction(float(hull.gx[key[1]]))
        if sign_of(w, b, self.p) < 0:
            w, b = -w, -b
        cache[i] = (w, b)
        return w, b

    def exact_unit_hyperplane(self, layer: int, unit: int, prefix: np.ndarray) -> tuple[np.ndarray, Fraction]:
        """Exact (w, b) of unit ``unit`` of ``layer`` (index within the layer) under the pattern
        ``prefix`` of the earlier layers (not oriented): w an object array of Fractions."""
        cache = self._exact_cache.setdefault("units", {})
        key = (layer, unit, np.asarray(prefix, dtype=bool).tobytes())
        if key not in cache:
            cache[key] = self._exact_planes().unit(layer, unit, np.asarray(prefix, dtype=bool))
        return cache[key]

    def _locator_hyperplane(self, layer: int, unit: int, member: int) -> tuple[np.ndarray, Fraction]:
        offsets = np.concatenate([[0], np.cumsum(self.net.widths)]).astype(int)
        prefix = self.regions.cells.pattern(member)[:offsets[layer]]
        return self.exact_unit_hyperplane(layer, unit - offsets[layer], prefix)

    def exact_affine(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """(A, c) of a cell recomputed exactly from its pattern."""
        cache = self._exact_cache.setdefault("affine", {})
        if cell not in cache:
            net = self.exact_net()
            pattern = self.regions.cells.pattern(cell)
            offsets = np.concatenate([[0], np.cumsum(net.widths)]).astype(int)
            _, (A, c) = net.effective_maps([pattern[offsets[i]:offsets[i + 1]] for i in range(len(net.widths))])
            cache[cell] = (A, c)
        return cache[cell]

    def claiming_cells_exact(self, x: Sequence, cells: Sequence[int] | None = None) -> list[int]:
        """Cells (of ``cells``, default all) whose half-open region contains x, in exact
        rational arithmetic: the textbook test of H1-H3, every constraint of every cell."""
        x = to_exact(np.asarray(list(x), dtype=object))
        values: dict[int, Fraction] = {}
        claims = []
        for a in (range(self.num_cells) if cells is None else cells):
            ok = True
            for j in range(self.cell_ptr[a], self.cell_ptr[a + 1]):
                h = int(self.facet_h[j])
                if h not in values:
                    w, b = self.exact_hyperplane(h)
                    values[h] = sum((wi * xi for wi, xi in zip(w, x)), Fraction(0)) + b
                v = values[h]
                if (v < 0) if self.facet_closed[j] else (v >= 0):
                    ok = False
                    break
            if ok:
                claims.append(a)
        return claims

    def locate_exact(self, x: Sequence) -> int:
        """The cell of x found by the point-location tree in exact arithmetic."""
        x = to_exact(np.asarray(list(x), dtype=object))
        return self.locator.locate_exact(list(x), self._locator_hyperplane, list(to_exact(np.asarray(self.p))))

    def in_domain_exact(self, x: np.ndarray) -> bool:
        hull = self.domain.hull()
        G, g = self.domain.inequalities()
        for row, rhs in zip(G, g):
            if sum((Fraction(float(r)) * xi for r, xi in zip(row, x)), Fraction(0)) > Fraction(float(rhs)):
                return False
        for a, rhs in hull.equalities:
            if sum((Fraction(float(r)) * xi for r, xi in zip(a, x)), Fraction(0)) != Fraction(float(rhs)):
                return False
        return True

    def evaluate_exact(self, x: Sequence, layout: str = "index") -> list[Fraction] | None:
        """f(x) in exact rationals (None outside the domain).  ``layout="layers"`` tests every
        cell's constraints and raises unless exactly one half-open cell claims x; ``"index"``
        walks the point-location tree and raises unless the cell it finds claims x.  Either
        failure would be a compiler bug."""
        x = to_exact(np.asarray(list(x), dtype=object))
        if not self.in_domain_exact(x):
            return None
        if layout == "index":
            found = self.locate_exact(x)
            claims = self.claiming_cells_exact(x, [found])
        elif layout == "layers":
            claims = self.claiming_cells_exact(x)
        else:
            raise ValueError(f"unknown layout {layout!r}: 'index' or 'layers'")
        if len(claims) != 1:
            raise AssertionError(f"{len(claims)} cells claim the point {[str(v) for v in x]}: {claims}")
        A, c = self.exact_affine(claims[0])
        return list(A @ x + c)

    # -- the explicit extended-real network ----------------------------------------------------
    def explicit_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W1, b1), (W2, b2), (W3, b3), (Wout, bout)] with +-inf entries, as in docs/design.md
        section 2 (dense: meant for small nets).  Units: H1 = [u+, u-, q], H2 = [u+, u-, lambda,
        nu], H3 = [y+ (R*m), y- (R*m)], ordered cell-major."""
        d, H, R, m = self.d, self.num_hyperplanes, self.num_cells, self.m
        I = np.eye(d)
        W1 = np.vstack([I, -I, -self.W])
        b1 = np.concatenate([np.zeros(2 * d), -self.b])
        W2 = np.zeros((2 * d + 2 * H, 2 * d + H))
        W2[:2 * d, :2 * d] = np.eye(2 * d)
        diag = np.arange(H)
        W2[2 * d + diag, 2 * d + diag] = INF          # lambda_h = relu(+inf * q_h)
        W2[2 * d + H + diag, 2 * d + diag] = -INF     # nu_h = relu(1 - inf * q_h)
        b2 = np.concatenate([np.zeros(2 * d + H), np.ones(H)])
        W3 = np.zeros((2 * R * m, 2 * d + 2 * H))
        b3 = np.zeros(2 * R * m)
        for a in range(R):
            block = np.zeros(2 * d + 2 * H)
            for j in range(self.cell_ptr[a], self.cell_ptr[a + 1]):
                h = int(self.facet_h[j])
                block[2 * d + h if self.facet_closed[j] else 2 * d + H + h] = -INF
            for o in range(m):
                for s, base in ((1, 0), (-1, R * m)):
                    row = block.copy()
                    row[:d] = s * self.A[a, o]
                    row[d:2 * d] = -s * self.A[a, o]
                    W3[base + a * m + o] = row
                    b3[base + a * m + o] = s * self.c[a, o]
        Wout = np.zeros((m, 2 * R * m))
        for a in range(R):
            for o in range(m):
                Wout[o, a * m + o] = 1.0
                Wout[o, R * m + a * m + o] = -1.0
        return [(W1, b1), (W2, b2), (W3, b3), (Wout, np.zeros(m))]


def sign_of(w: np.ndarray, b, x: np.ndarray) -> int:
    v = sum((wi * xi for wi, xi in zip(w, x)), Fraction(0)) + b
    return (v > 0) - (v < 0)


def _segment_sums(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Row-wise sums of ``values[:, ptr[i]:ptr[i+1]]`` for every segment i (empty -> 0)."""
    cs = np.concatenate([np.zeros((values.shape[0], 1), values.dtype), np.cumsum(values, axis=1)], axis=1)
    return cs[:, ptr[1:]] - cs[:, ptr[:-1]]


def ext_affine(W: np.ndarray, b: np.ndarray, v: Sequence) -> list:
    """Extended-real ``W v + b`` with 0 * inf = 0; refuses inf - inf (the construction never
    forms it).  Works on floats and Fractions alike."""
    out = []
    for i in range(W.shape[0]):
        finite, infinite = b[i], 0
        for wij, vj in zip(W[i], v):
            if wij == 0 or vj == 0:
                continue
            if abs(wij) == INF or abs(vj) == INF:
                s = (1 if wij > 0 else -1) * (1 if vj > 0 else -1)
                if infinite and infinite != s:
                    raise ArithmeticError("inf - inf in the extended-real network")
                infinite = s
            else:
                finite = finite + wij * vj
        out.append(finite if infinite == 0 else infinite * INF)
    return out


def ext_relu(v: Sequence) -> list:
    return [x if x > 0 else 0 for x in v]


def evaluate_explicit(layers: list[tuple[np.ndarray, np.ndarray]], x: Sequence) -> list:
    """Run the explicit extended-real network at one point (floats or Fractions)."""
    v = list(x)
    for i, (W, b) in enumerate(layers):
        v = ext_affine(W, b, v)
        if i < len(layers) - 1:
            v = ext_relu(v)
    return v


def choose_reference_point(regions: RegionSet, hyperplanes: list[int], rng: np.random.Generator,
                           tries: int = 200) -> np.ndarray:
    """A random point p of the domain's relative interior with |h(p)| clearly non-zero for
    every listed hyperplane (coordinates rounded to 2^-30 so p is a short exact fraction)."""
    domain = regions.domain
    hull = domain.hull()
    hyperplanes = np.asarray(hyperplanes, dtype=np.int64)
    W = regions.hyperplanes.W[hyperplanes].reshape(-1, regions.d)
    b = regions.hyperplanes.b[hyperplanes]
    norms = np.maximum(np.linalg.norm(W @ hull.U, axis=1), TINY)
    from relucompile.numeric.lp import chebyshev_center
    if hull.Gt.shape[0]:
        centre, radius = chebyshev_center(hull.Gt, hull.gt)
    else:
        centre, radius = np.zeros(hull.k), 1.0
    best, best_margin = None, -1.0
    for attempt in range(tries):
        t = centre + radius * 0.9 * rng.uniform(-1, 1, hull.k) / max(1.0, np.sqrt(hull.k))
        x = hull.x0 + hull.U @ t
        x = np.where(np.any(hull.U != 0, axis=1), np.round(x * 2.0**30) / 2.0**30, x)
        if hull.Gt.shape[0] and not np.all(hull.Gx @ x < hull.gx):
            continue
        margin = float(np.min(np.abs(W @ x + b) / norms)) if len(hyperplanes) else 1.0
        if margin > best_margin:
            best, best_margin = x, margin
        if margin > REFERENCE_MARGIN * max(radius, GEOMETRIC_TOL):
            return x
    if best is None or best_margin <= ROUNDING_NOISE:
        raise RuntimeError("could not find a generic reference point")
    return best


class HyperplaneKeys(Sequence):
    """The structural keys of some rows of a HyperplaneStore, built on access (no tuple per
    hyperplane is kept; ``list(keys)`` gives them all).

    Example:
        >>> from relucompile.regions.store import HyperplaneStore
        >>> store = HyperplaneStore(1)
        >>> _ = store.index(("domain", 0), np.ones(1), 0.0), store.index(("domain", 1), np.ones(1), 1.0)
        >>> list(HyperplaneKeys(store, np.array([1])))
        [('domain', 1)]
    """

    def __init__(self, store, rows: np.ndarray) -> None:
        self.store, self.rows = store, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.store.key(int(self.rows[i]))


def oriented_hyperplanes(regions: RegionSet, used: np.ndarray, d: int, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reference point p and the ``used`` hyperplanes oriented positive at p (the design's
    orientation, in one place for :func:`build_shallow` and the streamed dataset writer).

    Returns ``(p, position, W, b, positive)``: ``position[h]`` is hyperplane h's row among the
    used ones (-1 if unused), ``W``/``b`` the oriented rows, ``positive`` whether the stored
    orientation already was positive at p (so a facet side ``s`` is closed iff
    ``(s > 0) == positive[row]``).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.ir.domain import Domain
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> regions = enumerate_regions(random_mlp(2, [3], 1, seed=0), Domain.box([-1, -1], [1, 1]))
        >>> used = regions.used_hyperplanes()
        >>> p, position, W, b, positive = oriented_hyperplanes(regions, used, 2)
        >>> bool(np.all(W @ p + b > 0)), W.shape == (len(used), 2)
        (True, True)
    """
    p = choose_reference_point(regions, used, np.random.default_rng(seed))
    table = regions.hyperplanes
    position = np.full(len(table), -1, dtype=np.int64)
    position[used] = np.arange(len(used))
    W = table.W[used].reshape(-1, d)
    b = table.b[used].copy()
    positive = W @ p + b > 0
    orient = np.where(positive, 1.0, -1.0)
    return p, position, W * orient[:, None], b * orient, positive


def build_shallow(net: ReluNet, regions: RegionSet, seed: int = 0) -> ShallowNet:
    """Construct the shallow network from enumerated regions (docs/design.md section 2).

    Vectorised over the regions' compact arrays; A and c are views of ``regions.cells.A / .c``."""
    if regions.cells.A.shape[0] != len(regions.cells):
        raise ValueError("the cells were spilled to disk (SpillingCellStore): write them with "
                         "relucompile.backends.regions_parquet.enumerate_to_dataset")
    used = regions.used_hyperplanes()
    p, position, W, b, positive = oriented_hyperplanes(regions, used, net.d, seed)
    store = regions.cells
    fh = position[store.facet_h]
    closed = (store.facet_side > 0) == positive[fh]     # s * orient > 0, without float temporaries
    return ShallowNet(net, regions, W, b, HyperplaneKeys(regions.hyperplanes, used), store.facet_ptr.copy(), fh, closed,
                      store.A.reshape(-1, net.m, net.d), store.c.reshape(-1, net.m), p)
