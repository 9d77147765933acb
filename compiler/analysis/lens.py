"""The linear lens over data: every sample's effective weights, and what they share.

On each activation cell the network is one linear model ``f(x) = W_eff x + b_eff`` (Ye, "a
linear lens"; docs/design.md section 1).  :func:`linear_lens` computes, for a batch of samples
and without enumerating any cell:

* per sample: the activation pattern (a short hash), ``W_eff``, ``b_eff`` and the distance to
  the nearest hyperplane of its cell (how far the sample can move, within the domain's affine
  hull, before its rule changes; as :func:`relucompile.analysis.explain.explain_point`);
* over the data: the distinct cells visited and samples per cell; each unit's activity (the share
  of samples on which it is active: never / always active units are listed); with labels, the
  per-class mean effective weights and the class-by-class mean cosine similarity of the
  flattened ``W_eff`` (within-class: the diagonal, pairs of distinct samples; between-class: the
  rest).

Samples of one cell share one ``(W_eff, b_eff)``: maps are computed once per distinct pattern.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> net = random_mlp(2, [6, 6], 2, seed=3)
    >>> X = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    >>> lens = linear_lens(net, X, labels=(X[:, 0] > 0).astype(int))
    >>> lens.W_eff.shape, lens.num_cells <= 200, sorted(lens.classes)
    ((200, 2, 2), True, [0, 1])
    >>> bool(np.allclose(np.einsum("nij,nj->ni", lens.W_eff, X) + lens.b_eff, net.forward(X)))
    True
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.ir.values import to_float
from relucompile.numeric.tolerances import GEOMETRIC_TOL, ROUNDING_NOISE, TINY


@dataclass
class LinearLens:
    """What :func:`linear_lens` finds; arrays are indexed by sample first."""

    X: np.ndarray                  # (N, d) the samples
    patterns: np.ndarray           # (N, units) bool, True = active
    cell_ids: np.ndarray           # (N,) index into the distinct patterns, in order of first appearance
    W_eff: np.ndarray              # (N, m, d)
    b_eff: np.ndarray              # (N, m)
    distance: np.ndarray           # (N,) distance to the nearest hyperplane of the sample's cell
    labels: np.ndarray | None = None
    classes: list[Any] = field(default_factory=list)

    @property
    def num_cells(self) -> int:
        """Distinct activation cells visited by the data."""
        return int(self.cell_ids.max(initial=-1)) + 1

    @property
    def samples_per_cell(self) -> np.ndarray:
        """(num_cells,) how many samples fall in each visited cell."""
        return np.bincount(self.cell_ids, minlength=self.num_cells)

    @property
    def unit_activity(self) -> np.ndarray:
        """(units,) the share of samples on which each unit is active."""
        return self.patterns.mean(axis=0) if len(self.patterns) else np.zeros(self.patterns.shape[1])

    def pattern_hashes(self) -> list[str]:
        """A 12-hex-digit hash of each sample's pattern (equal patterns, equal hashes)."""
        packed = np.packbits(self.patterns, axis=1)
        return [hashlib.sha256(row.tobytes()).hexdigest()[:12] for row in packed]

    def class_mean_weights(self) -> np.ndarray:
        """(classes, m, d) the mean ``W_eff`` of each class's samples (needs labels)."""
        self._need_labels()
        return np.stack([self.W_eff[self.labels == c].mean(axis=0) for c in self.classes])

    def class_similarity(self) -> np.ndarray:
        """(classes, classes) mean cosine similarity of flattened ``W_eff`` between the samples of
        two classes; on the diagonal over pairs of distinct samples (NaN for a one-sample class)."""
        self._need_labels()
        V = self.W_eff.reshape(len(self.W_eff), -1)
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        U = np.divide(V, norms, out=np.zeros_like(V), where=norms > 0)
        groups = [U[self.labels == c] for c in self.classes]
        sums = [g.sum(axis=0) for g in groups]
        k = len(groups)
        S = np.empty((k, k))
        for i in range(k):
            for j in range(k):
                if i == j:   # sum over ordered pairs of distinct samples: |sum|^2 - sum of |u|^2
                    n = len(groups[i])
                    pairs = n * (n - 1)
                    total = float(sums[i] @ sums[i]) - float(np.einsum("ij,ij->", groups[i], groups[i]))
                    S[i, j] = total / pairs if pairs else np.nan
                else:
                    S[i, j] = float(sums[i] @ sums[j]) / (len(groups[i]) * len(groups[j]))
        return S

    def summary(self) -> dict[str, Any]:
        """Aggregates as plain JSON-ready values."""
        activity = self.unit_activity
        out: dict[str, Any] = {
            "samples": int(len(self.X)), "cells_visited": self.num_cells,
            "largest_cell_samples": int(self.samples_per_cell.max(initial=0)),
            "median_distance": float(np.median(self.distance)) if len(self.distance) else None,
            "units_never_active": np.flatnonzero(activity == 0).tolist(),
            "units_always_active": np.flatnonzero(activity == 1).tolist(),
        }
        if self.labels is not None:
            S = self.class_similarity()
            off = ~np.eye(len(S), dtype=bool)
            out["classes"] = [c.item() if hasattr(c, "item") else c for c in self.classes]
            within = np.diag(S)[~np.isnan(np.diag(S))]   # NaN: a class with one sample has no pair
            out["within_class_similarity"] = float(within.mean()) if within.size else float("nan")
            out["between_class_similarity"] = float(S[off].mean()) if off.any() else None
            out["class_similarity"] = S.tolist()
        return out

    def _need_labels(self) -> None:
        if self.labels is None:
            raise ValueError("class statistics need labels (pass labels= to linear_lens)")


def linear_lens(net: ReluNet, X: np.ndarray, labels: Sequence | np.ndarray | None = None,
                domain: Domain | None = None) -> LinearLens:
    """The effective weights of ``net`` at every row of ``X`` and their aggregates (module docstring).

    ``domain`` (optional) adds its rows to every cell (the distance then also stops at the domain's
    boundary) and restricts distances to its affine hull; samples outside it are refused.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.array([-1.0]))],
        ...               AffineLayer({1: np.array([[3.0]])}, np.zeros(1)))     # 3 relu(x - 1)
        >>> lens = linear_lens(net, np.array([[0.0], [0.5], [3.0]]))
        >>> lens.W_eff[:, 0, 0].tolist(), lens.b_eff[:, 0].tolist(), lens.distance.tolist()
        ([0.0, 0.0, 3.0], [0.0, 0.0, -3.0], [1.0, 0.5, 2.0])
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != net.d:
        raise ValueError(f"the samples must be an array of shape (N, {net.d}); got {X.shape}")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(X):
            raise ValueError(f"{len(labels)} labels for {len(X)} samples")
    if domain is not None and not domain.contains(X, tol=GEOMETRIC_TOL).all():
        bad = int(np.flatnonzero(~domain.contains(X, tol=GEOMETRIC_TOL))[0])
        raise ValueError(f"sample {bad} lies outside the domain {domain.describe()}")
    patterns = np.concatenate([p for p in net.pattern(X)], axis=1) if net.layers else np.zeros((len(X), 0), bool)
    _, first, cell_ids = np.unique(patterns, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))          # renumber cells by first appearance
    cell_ids = order[cell_ids.reshape(-1)]
    W_eff = np.empty((len(X), net.m, net.d))
    b_eff = np.empty((len(X), net.m))
    distance = np.full(len(X), np.inf)
    basis = _hull_basis(domain, net.d)
    G, g = domain.inequalities() if domain is not None else (np.zeros((0, net.d)), np.zeros(0))
    splits = np.cumsum(net.widths)[:-1]
    for cell in range(len(first)):
        rows = np.flatnonzero(cell_ids == cell)
        pattern = np.split(patterns[rows[0]], splits) if net.layers else []
        blocks, (A, c) = net.effective_maps(pattern)
        W_eff[rows], b_eff[rows] = to_float(A).reshape(net.m, net.d), to_float(c).reshape(net.m)
        hyper_W = [to_float(ReluNet.preactivation(layer, blocks[:l + 1])[0]).reshape(layer.size, net.d)
                   for l, layer in enumerate(net.layers)] + [G]
        hyper_b = [to_float(ReluNet.preactivation(layer, blocks[:l + 1])[1]).reshape(layer.size)
                   for l, layer in enumerate(net.layers)] + [-g]
        Wh, bh = np.concatenate(hyper_W), np.concatenate(hyper_b)
        along = np.linalg.norm(Wh @ basis, axis=1)
        flat = along <= ROUNDING_NOISE * np.maximum(np.linalg.norm(Wh, axis=1), TINY)
        if (~flat).any():
            values = np.abs(X[rows] @ Wh[~flat].T + bh[~flat])
            distance[rows] = (values / along[~flat]).min(axis=1)
    classes = sorted(set(labels.tolist())) if labels is not None else []
    return LinearLens(X, patterns, cell_ids, W_eff, b_eff, distance, labels, classes)


def _hull_basis(domain: Domain | None, d: int) -> np.ndarray:
    """Orthonormal directions of the domain's affine hull (all of R^d without a domain)."""
    if domain is None:
        return np.eye(d)
    U = domain.hull().U
    return np.linalg.qr(U)[0] if U.shape[1] else U


def lens_over_checkpoints(nets: Sequence[ReluNet], X: np.ndarray, labels: Sequence | np.ndarray | None = None,
                          domain: Domain | None = None) -> list[dict[str, Any]]:
    """:meth:`LinearLens.summary` of each checkpoint of one architecture, in order (training time).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> X = np.random.default_rng(1).uniform(-1, 1, (50, 2))
        >>> rows = lens_over_checkpoints([random_mlp(2, [4], 1, seed=s) for s in (0, 1)], X)
        >>> [r["samples"] for r in rows]
        [50, 50]
    """
    nets = list(nets)
    shapes = {(n.d, tuple(n.widths), n.m) for n in nets}
    if len(shapes) > 1:
        raise ValueError(f"checkpoints of one architecture are compared; got (inputs, widths, outputs) {sorted(shapes)}")
    return [dict(linear_lens(n, X, labels, domain).summary(), checkpoint=i) for i, n in enumerate(nets)]
