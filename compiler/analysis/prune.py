"""Exact pruning: the smallest equal deep network on a domain (Huang's parameter redundancy).

On a domain D some ReLU units never switch and some repeat others.  Each is removed without
changing the function on D:

* **dead**: z <= 0 on all of D, so relu(z) = 0: the unit and its outgoing weights go;
* **always active**: z >= 0 on all of D, so relu(z) = z is affine in the unit's inputs: it is
  folded into every consumer (``W_c[:, k] (W_k x_in + b_k)`` moves into the consumer's weights
  on the unit's input blocks; the net may gain skip connections, as a residual net has);
* **duplicate**: z_i = a z_j with a > 0 (same inputs), so relu(z_i) = a relu(z_j): the
  consumers' column of i is added, times a, to that of j;
* **unused**: every consumer's weight on the unit is 0.

Stability is proven, not sampled: ``method="bounds"`` uses sound linear (CROWN) bounds over the
domain's bounding box (float64 with outward rounding, :mod:`relucompile.verify.bounds`);
``method="cells"`` enumerates the cells of D and keeps a unit's state only when every cell has it
(complete, up to the enumeration's sliver tolerance).  On an exact network (Fraction weights,
:func:`relucompile.passes.lowering.exact_net`) every fold and merge is done in rationals, so the
pruned network equals the source exactly on D.

Example:
    >>> from relucompile.ir.network import AffineLayer
    >>> W = np.array([[1.0], [2.0], [1.0], [-1.0]])          # z = x, 2x, x, -x
    >>> net = ReluNet(1, [AffineLayer({0: W}, np.array([0.0, 0.0, 5.0, -5.0]))],
    ...               AffineLayer({1: np.array([[1.0, 1.0, 1.0, 1.0]])}, np.zeros(1)))
    >>> small, report = prune_network(net, Domain.box([-1], [1]))
    >>> report.removed(), small.widths                       # x+5 always on, -x-5 dead, 2x dup of x
    ({'dead': 1, 'always_active': 1, 'duplicate': 1, 'unused': 0}, [1])
    >>> X = np.linspace(-1, 1, 9)[:, None]
    >>> bool(np.allclose(small.forward(X), net.forward(X)))
    True
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from relucompile.analysis.cells import bounding_box
from relucompile.ir.domain import Domain
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.ir.values import to_float
from relucompile.numeric.tolerances import GEOMETRIC_TOL

DEAD, UNSTABLE, ACTIVE = -1, 0, 1


@dataclass
class PruneReport:
    """Units removed per layer, by reason, and the method that proved stability."""

    method: str
    widths_before: list[int]
    widths_after: list[int] = field(default_factory=list)
    per_layer: list[dict[str, int]] = field(default_factory=list)

    def removed(self) -> dict[str, int]:
        """Totals over all layers: dead, always_active, duplicate, unused."""
        keys = ("dead", "always_active", "duplicate", "unused")
        return {k: sum(layer.get(k, 0) for layer in self.per_layer) for k in keys}

    def text(self) -> str:
        """One line per layer, e.g. ``layer 1: 50 -> 31 units (dead 12, always active 7, ...)``."""
        lines = [f"pruned by {self.method}: {sum(self.widths_before)} -> {sum(self.widths_after)} units"]
        for l, (counts, before) in enumerate(zip(self.per_layer, self.widths_before)):
            after = before - sum(counts.values())
            parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)
            lines.append(f"  layer {l + 1}: {before} -> {after} units" + (f" ({parts})" if parts else ""))
        return "\n".join(lines)


def unit_states(net: ReluNet, domain: Domain, method: str = "bounds") -> list[np.ndarray]:
    """Per layer, each unit's proven state on ``domain``: -1 dead, +1 always active, 0 unstable.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [1.0]])}, np.array([2.0, 0.0]))],
        ...               AffineLayer({1: np.ones((1, 2))}, np.zeros(1)))
        >>> [s.tolist() for s in unit_states(net, Domain.box([-1], [1]))]
        [[1, 0]]
    """
    if method == "bounds":
        return _states_by_bounds(net, domain)
    if method == "cells":
        return _states_by_cells(net, domain)
    raise ValueError(f"unknown method {method!r}: use 'bounds' or 'cells'")


def _states_by_bounds(net: ReluNet, domain: Domain) -> list[np.ndarray]:
    from relucompile.verify.bounds import preactivation_bounds
    box = _bounding_box(domain)
    if box is None:   # unbounded: no unit is provably stable on all of it
        return [np.zeros(w, dtype=np.int8) for w in net.widths]
    lo, hi = box
    bounds = preactivation_bounds(_float_net(net), lo[None, :], hi[None, :])
    states = []
    for lower, upper in bounds:
        s = np.zeros(lower.shape[1], dtype=np.int8)
        s[upper[0] <= 0] = DEAD
        s[lower[0] >= 0] = ACTIVE
        states.append(s)
    return states


def _states_by_cells(net: ReluNet, domain: Domain) -> list[np.ndarray]:
    from relucompile.regions.enumerate import enumerate_regions
    patterns = enumerate_regions(_float_net(net), domain).cells.patterns
    states, start = [], 0
    for w in net.widths:
        block = patterns[:, start:start + w]
        s = np.zeros(w, dtype=np.int8)
        s[~block.any(axis=0)] = DEAD
        s[block.all(axis=0)] = ACTIVE
        states.append(s)
        start += w
    return states


def _bounding_box(domain: Domain) -> tuple[np.ndarray, np.ndarray] | None:
    """The domain's bounding box, padded by the LPs' feasibility slack; None if unbounded."""
    lo, hi = bounding_box(domain)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return None
    if domain.kind == "box":
        return lo, hi
    pad = GEOMETRIC_TOL * (1.0 + np.abs(lo) + np.abs(hi))   # a polytope's box comes from LPs (~1e-9 feasible)
    return lo - pad, hi + pad


def _float_net(net: ReluNet) -> ReluNet:
    """The float64 network of an exact one (enumeration and bounds run in floats)."""
    if not net.exact:
        return net
    layers = [AffineLayer({b: to_float(W) for b, W in L.weights.items()}, to_float(L.bias)) for L in net.layers]
    out = AffineLayer({b: to_float(W) for b, W in net.output.weights.items()}, to_float(net.output.bias))
    return dataclasses.replace(net, layers=layers, output=out, exact=False)


def prune_network(net: ReluNet, domain: Domain, method: str = "bounds") -> tuple[ReluNet, PruneReport]:
    """The network equal to ``net`` on ``domain`` with stable, duplicate and unused units removed.

    States are proven on ``net`` (see :func:`unit_states`); the result keeps the input and output
    shapes; layers left without units disappear.
    """
    states = unit_states(net, domain, method)
    layers = [AffineLayer(dict(L.weights), L.bias) for L in net.layers]
    output = AffineLayer(dict(net.output.weights), net.output.bias)
    report = PruneReport(method, net.widths)
    for l in range(len(layers)):
        block = l + 1
        consumers = [c for c in layers[l + 1:] + [output] if block in c.weights]
        counts = {"dead": 0, "always_active": 0, "duplicate": 0, "unused": 0}
        state = states[l]
        keep = np.ones(layers[l].size, dtype=bool)
        counts["dead"] = int((state == DEAD).sum())
        keep &= state != DEAD
        active = np.flatnonzero(state == ACTIVE)
        if active.size:
            _fold_active(layers[l], block, active, consumers)
            keep[active] = False
            counts["always_active"] = int(active.size)
        counts["duplicate"] = _merge_duplicates(layers[l], block, keep, consumers)
        used = np.zeros(layers[l].size, dtype=bool)
        for c in consumers:
            used |= np.any(np.asarray(c.weights[block] != 0), axis=0)
        counts["unused"] = int((keep & ~used).sum())
        keep &= used
        layers[l] = AffineLayer({b: W[keep] for b, W in layers[l].weights.items()}, layers[l].bias[keep])
        for c in consumers:
            c.weights[block] = c.weights[block][:, keep]
        report.per_layer.append(counts)
    small = _drop_empty_layers(net, layers, output)
    report.widths_after = small.widths
    return small, report


def _fold_active(layer: AffineLayer, block: int, units: np.ndarray, consumers: list[AffineLayer]) -> None:
    """relu(z_k) = z_k on the domain: move ``W_c[:, k] z_k`` into each consumer's inputs
    (``block``: the index under which consumers read ``layer``)."""
    for c in consumers:
        coeff = c.weights[block][:, units]                  # (consumer units, folded units)
        for b, W in layer.weights.items():
            term = coeff @ W[units]
            c.weights[b] = c.weights[b] + term if b in c.weights else term
        c.bias = c.bias + coeff @ layer.bias[units]
        c.weights[block] = c.weights[block].copy()
        c.weights[block][:, units] = c.weights[block][:, units] * 0


def _merge_duplicates(layer: AffineLayer, block: int, keep: np.ndarray, consumers: list[AffineLayer]) -> int:
    """Merge units whose incoming weights and bias are positive multiples of another's; returns
    how many were merged away (their ``keep`` entry is cleared)."""
    blocks = sorted(layer.weights)
    rows = np.concatenate([np.asarray(layer.weights[b], dtype=np.float64) for b in blocks] +
                          [np.asarray(layer.bias, dtype=np.float64)[:, None]], axis=1)
    scale = np.abs(rows).max(axis=1)
    seen: dict[bytes, int] = {}
    merged = 0
    for k in np.flatnonzero(keep):
        if scale[k] == 0:
            continue
        key = np.round(rows[k] / scale[k], 12).tobytes()
        j = seen.get(key)
        if j is None:
            seen[key] = k
            continue
        factor = _exact_ratio(layer, blocks, k, j)
        if factor is None:
            continue
        for c in consumers:
            W = c.weights[block] = c.weights[block].copy()
            W[:, j] = W[:, j] + factor * W[:, k]
            W[:, k] = W[:, k] * 0
        keep[k] = False
        merged += 1
    return merged


def _exact_ratio(layer: AffineLayer, blocks: list[int], k: int, j: int) -> Any:
    """a > 0 with row k = a row j exactly (as rationals), else None."""
    rk = [Fraction(v) for b in blocks for v in np.asarray(layer.weights[b][k]).tolist()] + [Fraction(layer.bias[k])]
    rj = [Fraction(v) for b in blocks for v in np.asarray(layer.weights[b][j]).tolist()] + [Fraction(layer.bias[j])]
    pivot = next(i for i, v in enumerate(rj) if v != 0)
    a = rk[pivot] / rj[pivot]
    if a <= 0 or any(x != a * y for x, y in zip(rk, rj)):
        return None
    exact = isinstance(np.asarray(layer.bias).flat[0], Fraction) if np.size(layer.bias) else False
    return a if exact else float(a)


def _drop_empty_layers(net: ReluNet, layers: list[AffineLayer], output: AffineLayer) -> ReluNet:
    """Renumber blocks after removing layers without units."""
    new_index = {0: 0}
    kept = []
    for l, L in enumerate(layers):
        if L.size:
            kept.append(L)
            new_index[l + 1] = len(kept)

    def remap(L: AffineLayer) -> AffineLayer:
        return AffineLayer({new_index[b]: W for b, W in L.weights.items() if b in new_index}, L.bias)

    return dataclasses.replace(net, layers=[remap(L) for L in kept], output=remap(output), graph=None, relu_nodes=[],
                               source_onnx=None)
