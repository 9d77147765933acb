"""Exact pieces of the certifier: the domain's affine hull and every unit's affine map per pattern.

* :class:`ExactHull`: the domain as ``x = x0 + U t`` with ``A_t t <= b_t`` in exact rationals
  (boxes with zero-width sides fix coordinates; polytopes use their implicit equalities).
* :class:`ExactMaps`: for an activation pattern, the affine map of every ReLU unit's
  pre-activation and of the output, in x, as exact rational matrices ``[M | m]`` (one row per
  unit, last column the offset).  Layers are folded in exact arithmetic (python-flint when
  available); the maps of a pattern prefix are cached, so consecutive cells of a depth-first
  enumeration share the work of their common earlier layers.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.array([0.5, 0.0]))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
    >>> maps = ExactMaps(net)
    >>> units, out = maps.cell(np.array([True, False]))
    >>> [str(v) for v in units[0] + units[1]], [str(v) for v in out.entries()]
    (['1', '1/2', '-1', '0'], ['1', '1/2'])
    >>> ExactHull(Domain.box([0, 2], [1, 2])).k
    1
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.passes.lowering import exact_net
from relucompile.numeric.rational import Q, qmat
from relucompile.errors import DomainError


def _qmat_of(array: np.ndarray) -> Any:
    """Exact matrix of an array of floats or Fractions."""
    array = np.asarray(array)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    n, m = array.shape
    return qmat(n, m, [Q(v) for v in array.ravel()])


class ExactHull:
    """The domain in exact rationals: ``x = x0 + U t`` and ``rows``: (a, q) with a.t <= q."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.d = domain.d
        hull = domain.hull()
        if domain.kind == "box":
            free = [i for i in range(self.d) if domain.lower[i] != domain.upper[i]]
            self.x0 = [Q(0) if i in free else Q(float(domain.lower[i])) for i in range(self.d)]
            self.U = [[Q(1) if i == f else Q(0) for f in free] for i in range(self.d)]
            self.free: list[int] | None = free
        elif hull.equalities:
            self.x0, self.U = _parametrise([a for a, _ in hull.equalities], [b for _, b in hull.equalities], self.d)
            self.free = None
        else:
            self.x0 = [Q(0)] * self.d
            self.U = [[Q(1) if i == j else Q(0) for j in range(self.d)] for i in range(self.d)]
            self.free = list(range(self.d))
        self.k = len(self.U[0]) if self.U else 0
        self.identity = self.free == list(range(self.d)) and all(v == 0 for v in self.x0)
        # T maps homogeneous t-coordinates to homogeneous x-coordinates: [x; 1] = T [t; 1]
        T = [row + [x] for row, x in zip(self.U, self.x0)] + [[Q(0)] * self.k + [Q(1)]]
        self.T = qmat(self.d + 1, self.k + 1, [v for row in T for v in row])
        self.U_float = np.array([[float(v) for v in row] for row in self.U]).reshape(self.d, self.k)
        self.x0_float = np.array([float(v) for v in self.x0])
        # the domain's inequalities G x <= g that are not implicit equalities, in t
        self.rows: list[tuple[list[Any], Any]] = []
        for g_row, g_rhs in zip(hull.Gx, hull.gx):
            G = [Q(float(v)) for v in g_row]
            a = [sum((G[i] * self.U[i][j] for i in range(self.d)), Q(0)) for j in range(self.k)]
            q = Q(float(g_rhs)) - sum((G[i] * self.x0[i] for i in range(self.d)), Q(0))
            self.rows.append((a, q))
        self.equalities = [([Q(float(v)) for v in a], Q(float(b))) for a, b in hull.equalities]

    def to_t(self, x: Sequence[float]) -> list[Any] | None:
        """Exact t with x = x0 + U t for a float point x of the hull.  Boxes: None if a
        coordinate the box fixes differs from its fixed value.  Polytopes with implicit
        equalities (whose hull is rarely made of floats): the rational point x0 + U t with t
        the float least-squares solution, i.e. x moved onto the hull by about its rounding."""
        x = [float(v) for v in x]
        if self.free is not None:
            for i in range(self.d):
                if i not in self.free and Q(x[i]) != self.x0[i]:
                    return None
            return [Q(x[i]) for i in self.free]
        t, *_ = np.linalg.lstsq(self.U_float, np.array(x) - self.x0_float, rcond=None)
        return [Q(float(v)) for v in t]   # the point x0 + U t is exactly on the hull

    def row_to_t(self, row: list) -> list:
        """A homogeneous row [w | w0] in x as the same affine function of t."""
        if self.identity:
            return row
        d = self.d
        off = row[d] + sum((row[i] * self.x0[i] for i in range(d) if self.x0[i] != 0), Q(0))
        if self.free is not None:
            return [row[f] for f in self.free] + [off]
        return [sum((row[i] * self.U[i][j] for i in range(d)), Q(0)) for j in range(self.k)] + [off]

    def to_x(self, t: Sequence[Any]) -> list[Any]:
        return [self.x0[i] + sum((self.U[i][j] * t[j] for j in range(self.k)), Q(0)) for i in range(self.d)]

    def direction_to_x(self, v: Sequence[Any]) -> list[Any]:
        return [sum((self.U[i][j] * v[j] for j in range(self.k)), Q(0)) for i in range(self.d)]


def _parametrise(E_rows, e_rhs, d: int):
    """Exact x0, U with {x : E x = e} = {x0 + U t} (reduced row echelon form)."""
    E = [[Q(float(v)) for v in row] + [Q(float(r))] for row, r in zip(E_rows, e_rhs)]
    red, rank = qmat(len(E), d + 1, [v for row in E for v in row]).rref()
    pivots = []
    for r in range(rank):
        pivots.append(next(c for c in range(d + 1) if red[r, c] != 0))
    if d in pivots:
        raise DomainError("the domain's equalities are inconsistent")
    free = [c for c in range(d) if c not in pivots]
    x0 = [Q(0)] * d
    for r, c in enumerate(pivots):
        x0[c] = red[r, d]
    U = [[Q(0)] * len(free) for _ in range(d)]
    for j, f in enumerate(free):
        U[f][j] = Q(1)
        for r, c in enumerate(pivots):
            U[c][j] = -red[r, f]
    return x0, U


class ExactRows:
    """Exact rows ``[w | w0]`` of the units' pre-activations in x, built on demand."""

    def __init__(self, layer_maps: list, offsets: np.ndarray, d: int) -> None:
        self.layer_maps, self.offsets, self.d = layer_maps, offsets, d
        self.layer_of = np.repeat(np.arange(len(layer_maps)), np.diff(offsets))
        self._cache: dict[int, list] = {}

    def __getitem__(self, j: int) -> list:
        row = self._cache.get(j)
        if row is None:
            l = int(self.layer_of[j])
            z, i = self.layer_maps[l], j - int(self.offsets[l])
            row = self._cache[j] = [z[i, c] for c in range(self.d + 1)]
        return row


class ExactMaps:
    """Exact affine maps of all units and of the output under a pattern (see module docstring)."""

    def __init__(self, net: ReluNet, exact: ReluNet | None = None) -> None:
        exact = exact or exact_net(net)
        self.exact = exact
        self.d, self.m = net.d, net.m
        self.widths = list(net.widths)
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)]).astype(int)
        self.layers = [self._layer(layer) for layer in exact.layers]
        self.output = self._layer(exact.output)
        d = self.d
        self.v0 = qmat(d, d + 1, [Q(1) if j == i else Q(0) for i in range(d) for j in range(d + 1)])
        self._cache: list[tuple[bytes, Any, Any]] = []   # per layer: (pattern bytes, Z, V)

    def _layer(self, layer) -> tuple[dict[int, Any], Any]:
        weights = {b: _qmat_of(W) for b, W in layer.weights.items()}
        n = layer.size
        bias = qmat(n, self.d + 1, [Q(layer.bias[i]) if j == self.d else Q(0)
                                    for i in range(n) for j in range(self.d + 1)])
        return weights, bias

    def _apply(self, layer, blocks) -> Any:
        weights, bias = layer
        z = bias
        for b, W in weights.items():
            z = z + W * blocks[b]
        return z

    def cell(self, pattern: np.ndarray) -> tuple["ExactRows", Any]:
        """(units, output): exact ``[M | m]`` of every unit's pre-activation (rows fetched on
        demand, see :class:`ExactRows`) and of the output, in x, under ``pattern``."""
        pattern = np.asarray(pattern, dtype=bool)
        blocks = [self.v0]
        zs = []
        for l, layer in enumerate(self.layers):
            on = pattern[self.offsets[l]:self.offsets[l + 1]]
            key = on.tobytes()
            if l < len(self._cache) and self._cache[l][0] == key:
                _, z, v = self._cache[l]
            else:
                del self._cache[l:]
                z = self._apply(layer, blocks)
                entries = z.entries()
                width = self.d + 1
                masked = [e if on[i // width] else 0 for i, e in enumerate(entries)]
                v = qmat(z.nrows(), width, masked)
                self._cache.append((key, z, v))
            zs.append(z)
            blocks.append(v)
        out = self._apply(self.output, blocks)
        return ExactRows(zs, self.offsets, self.d), out

    def forward_lexicographic(self, x: Sequence[Any], v: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
        """The pattern at x + eps v for every small enough eps > 0, exactly: a unit is on iff
        (z(x), dz(x; v)) is lexicographically positive.  Also returns the units with z = dz = 0
        (on the ray their piece does not matter), which are set off."""
        point = qmat(self.d, 2, [e for xi, vi in zip(x, v) for e in (xi, vi)])
        blocks = [point]
        pattern, ties = [], []
        for l, (weights, bias) in enumerate(self.layers):
            n = bias.nrows()
            z = qmat(n, 2, [bias[i, self.d] if j == 0 else 0 for i in range(n) for j in range(2)])
            for b, W in weights.items():
                z = z + W * blocks[b]
            vals = z.entries()
            on = []
            for i in range(n):
                val, slope = vals[2 * i], vals[2 * i + 1]
                on.append(val > 0 or (val == 0 and slope > 0))
                if val == 0 and slope == 0:
                    ties.append(int(self.offsets[l]) + i)
            pattern.extend(on)
            blocks.append(qmat(n, 2, [e if on[i // 2] else 0 for i, e in enumerate(vals)]))
        return np.array(pattern, dtype=bool), ties


class FoldingBounds:
    """Rigorous a-priori bound on |float-folded map - exact map| for a pattern.

    The compiler folds the layers in float64 (``ReluNet.effective_maps``); each entry of a
    product of n terms plus a bias errs by at most gamma_{n+1} (sum |terms| + |bias|) with
    gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability of Numerical Algorithms, 3.1),
    plus the propagated error of the earlier layers and the rounding of fused weights to float64.
    The bound is computed in float64 and multiplied by 2 to cover its own rounding.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[0.1]])}, np.array([0.2]))],
        ...               AffineLayer({1: np.array([[3.0]])}, np.zeros(1)))
        >>> units, unit_err, out, out_err = FoldingBounds(net, ExactMaps(net)).cell(np.array([True]))
        >>> out.tolist(), bool(0 < out_err.max() < 1e-14)
        ([[0.30000000000000004, 0.6000000000000001]], True)
    """

    def __init__(self, net: ReluNet, maps: "ExactMaps") -> None:
        self.net = net
        self.offsets = maps.offsets
        exact = maps.exact
        u = 2.0 ** -53
        self.u = u

        def weight_error(Wf, We):
            diff = [abs(float(Q(float(a)) - Q(b))) for a, b in zip(np.ravel(Wf), np.ravel(We))]
            return np.array(diff).reshape(np.shape(Wf)) * 2.0

        self.layers = [(layer, {b: weight_error(layer.weights[b], ex.weights[b]) for b in layer.weights},
                        weight_error(layer.bias, ex.bias))
                       for layer, ex in zip(list(net.layers) + [net.output], list(exact.layers) + [exact.output])]

    def _gamma(self, n: int) -> float:
        return n * self.u / (1 - n * self.u)

    def cell(self, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(float [M | m] of every unit in x, its error bound, float [A | c], its bound)."""
        d = self.net.d
        V = [np.hstack([np.eye(d), np.zeros((d, 1))])]
        E = [np.zeros((d, d + 1))]
        bounds, maps = [], []
        for l, (layer, dW, db) in enumerate(self.layers):
            n = sum(W.shape[1] for W in layer.weights.values()) + 1
            Z = np.zeros((layer.size, d + 1))
            Z[:, d] = layer.bias
            absZ = np.zeros_like(Z)
            absZ[:, d] = np.abs(layer.bias)
            err = np.zeros_like(Z)
            err[:, d] = db
            for b, W in layer.weights.items():
                Z += W @ V[b]
                absZ += np.abs(W) @ np.abs(V[b])
                err += np.abs(W) @ E[b] + dW[b] @ (np.abs(V[b]) + E[b])
            err = 2.0 * (err + self._gamma(n + 1) * absZ)
            if l == len(self.layers) - 1:
                if not bounds:
                    return np.zeros((0, d + 1)), np.zeros((0, d + 1)), Z, err
                return np.vstack(maps), np.vstack(bounds), Z, err
            on = np.asarray(pattern[self.offsets[l]:self.offsets[l + 1]], dtype=bool)
            bounds.append(err)
            maps.append(Z)
            V.append(Z * on[:, None])
            E.append(err * on[:, None])
        raise AssertionError("unreachable")

    def to_t(self, Z: np.ndarray, E: np.ndarray, hull: "ExactHull") -> tuple[np.ndarray, np.ndarray]:
        """Float rows in x and their error bound, as rows in t (x = x0 + U t) with a bound."""
        d = self.net.d
        if hull.identity:
            return Z, E
        U, x0 = np.abs(hull.U_float), np.abs(hull.x0_float)
        g = self._gamma(d + 2) + 2 * self.u
        lin = Z[:, :d] @ hull.U_float
        off = Z[:, d] + Z[:, :d] @ hull.x0_float
        e_lin = E[:, :d] @ U + g * (np.abs(Z[:, :d]) @ U)
        e_off = E[:, d] + E[:, :d] @ x0 + g * (np.abs(Z[:, :d]) @ x0 + np.abs(Z[:, d]))
        return np.hstack([lin, off[:, None]]), 2.0 * np.hstack([e_lin, e_off[:, None]])
