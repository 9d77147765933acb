"""Exact side of a cutting hyperplane at a vertex the vertex engine's float test cannot decide.

The vertex engine (:mod:`relucompile.regions.vertex_engine`) decides a unit's sign at a vertex by
its float value; a value within the engine's tolerance (1e-8 of the domain's scale) is not
decided by floats.  With ~10^8 vertices and many cuts such values occur by chance, with no
degeneracy (issue 16): the hyperplane passes 1e-10 from the vertex, not through it.  A vertex
of a cell is the intersection of the k constraints active at it (box sides, orthant walls and
the cuts on the cell's path, each named by its structural key) and the domain's equalities, so
its coordinates and the cutting unit's value there have exact rational values: the network's
weights are exact binary fractions (:func:`relucompile.passes.lowering.exact_net`), composed
in rationals as the shallow net's exact hyperplanes are.  This module computes that value;
only an exact 0 (the hyperplane passes through the vertex) is a real degeneracy.

Example:
    >>> import numpy as np
    >>> from fractions import Fraction
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.0], [1.0, 1.0]])}, np.array([-0.5, -1.0]))],
    ...               AffineLayer({1: np.ones((1, 2))}, np.zeros(1)))
    >>> planes = ExactPlanes(net)
    >>> w, b = planes.unit(0, 1, np.zeros(0, dtype=bool))
    >>> x = solve_point([(np.array([Fraction(1), Fraction(0)]), Fraction(-1, 2)),
    ...                  (np.array([Fraction(0), Fraction(1)]), Fraction(-1, 2))])
    >>> [str(v) for v in x], str(value_at(w, b, x))     # x + y - 1 at (1/2, 1/2)
    (['1/2', '1/2'], '0')
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from relucompile.ir.network import ReluNet
from relucompile.ir.values import to_exact
from relucompile.numeric.rational import Q, qmat, to_fraction
from relucompile.passes.lowering import exact_net

ExactPlane = tuple[np.ndarray, Fraction]
"""(w, b): the hyperplane w . x + b = 0 in x, entries Fractions (w an object array)."""


class ExactPlanes:
    """The network's unit hyperplanes in exact rationals, cached per layer and prefix pattern.

    ``unit(l, j, prefix)`` is unit j of layer l's pre-activation under ``prefix`` (the pattern
    of layers 0 .. l-1, one bool a unit), as the vertex engine's float maps (not oriented); the
    shallow net's :meth:`~relucompile.shallow.net.ShallowNet.exact_unit_hyperplane` is this.  The
    exact network is built on first use (it re-lowers an ONNX graph), so a run that never meets
    a near vertex pays nothing; products are rational matrices (python-flint's ``fmpq_mat`` in C
    when installed, :mod:`relucompile.numeric.rational`), the blocks cached per prefix.  Pickles
    without its caches (the engine's tasks carry it).
    """

    def __init__(self, net: ReluNet) -> None:
        self.net = net
        self._exact: ReluNet | None = None
        self._weights: dict[tuple[int, int], tuple] = {}
        self._blocks: dict[bytes, list] = {}

    def __getstate__(self) -> dict:
        return {"net": self.net, "_exact": None, "_weights": {}, "_blocks": {}}

    def exact_net(self) -> ReluNet:
        if self._exact is None:
            self._exact = exact_net(self.net)
        return self._exact

    def _layer_weights(self, layer: int) -> list[tuple[int, object, object]]:
        """Layer ``layer``'s (block, W, bias) as rational matrices (python-flint when installed)."""
        net = self.exact_net()
        out = []
        for block, W in net.layers[layer].weights.items():
            if (layer, block) not in self._weights:
                W = np.asarray(W, dtype=object)
                self._weights[(layer, block)] = qmat(W.shape[0], W.shape[1], [Q(Fraction(v)) for v in W.ravel()])
            out.append((block, self._weights[(layer, block)]))
        bias = np.asarray(net.layers[layer].bias, dtype=object)
        return out, qmat(bias.size, 1, [Q(Fraction(v)) for v in bias])

    def _blocks_under(self, prefix: np.ndarray, layers: int) -> list:
        """The blocks' maps (M, m) as rational matrices for the first ``layers`` layers under ``prefix``."""
        key = prefix.tobytes()
        if key in self._blocks:
            return self._blocks[key]
        d = self.net.d
        if layers == 0:
            blocks = [(qmat(d, d, [Q(int(i == j)) for i in range(d) for j in range(d)]), qmat(d, 1, [Q(0)] * d))]
        else:
            size = self.net.layers[layers - 1].size
            blocks = list(self._blocks_under(prefix[:prefix.size - size], layers - 1))
            weights, bias = self._layer_weights(layers - 1)
            M, m = None, bias
            for block, W in weights:
                Mb, mb = blocks[block]
                M = W * Mb if M is None else M + W * Mb
                m = m + W * mb
            on = prefix[prefix.size - size:]
            mask = qmat(size, size, [Q(int(i == j and on[i])) for i in range(size) for j in range(size)])
            blocks.append((mask * M, mask * m))
        self._blocks[key] = blocks
        return blocks

    def unit(self, layer: int, unit: int, prefix: np.ndarray) -> ExactPlane:
        """Unit ``unit`` of layer ``layer`` under ``prefix``: (w, b) with value w . x + b."""
        blocks = self._blocks_under(np.asarray(prefix, dtype=bool), layer)
        weights, bias = self._layer_weights(layer)
        w = [Fraction(0)] * self.net.d
        b = to_fraction(bias[unit, 0])
        for block, W in weights:
            Mb, mb = blocks[block]
            row = qmat(1, W.ncols(), [W[unit, i] for i in range(W.ncols())])
            w = [wi + to_fraction(v) for wi, v in zip(w, (row * Mb).entries())]
            b += to_fraction((row * mb)[0, 0])
        return np.array(w, dtype=object), b

    def from_key(self, key: tuple) -> ExactPlane:
        """The hyperplane of a unit key ``("unit", layer, unit, prefix bytes)``."""
        _, layer, unit, prefix = key
        return self.unit(int(layer), int(unit), np.frombuffer(prefix, dtype=bool))


def float_plane(w, b: float) -> ExactPlane:
    """(w, b) of float64 entries as exact rationals (their binary values).

    Example:
        >>> w, b = float_plane(np.array([0.5, -1.0]), 0.25)
        >>> [str(v) for v in w], str(b)
        (['1/2', '-1'], '1/4')
    """
    return to_exact(np.asarray(w, dtype=np.float64)), Fraction(float(b))


def solve_point(planes: list[ExactPlane]) -> list[Fraction] | None:
    """The point x where every plane's value w . x + b is 0 (d planes in R^d), exactly; None if
    the planes do not meet in one point.

    Example:
        >>> solve_point([float_plane([1.0, 1.0], -1.0), float_plane([1.0, -1.0], 0.0)])
        [Fraction(1, 2), Fraction(1, 2)]
        >>> solve_point([float_plane([1.0, 1.0], -1.0), float_plane([2.0, 2.0], 0.0)]) is None
        True
    """
    d = len(planes)
    M = qmat(d, d, [Q(v) for w, _ in planes for v in w])
    rhs = qmat(d, 1, [Q(-b) for _, b in planes])
    try:
        x = M.solve(rhs)
    except ZeroDivisionError:
        return None
    return [to_fraction(v) for v in x.entries()]


def value_at(w: np.ndarray, b: Fraction, x: list[Fraction]) -> Fraction:
    """w . x + b, exactly.

    Example:
        >>> value_at(*float_plane([1.0, 2.0], -1.0), [Fraction(1, 3), Fraction(1, 3)])
        Fraction(0, 1)
    """
    return sum((Fraction(wi) * xi for wi, xi in zip(w, x)), Fraction(0)) + Fraction(b)
