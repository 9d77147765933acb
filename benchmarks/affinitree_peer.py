"""affinitree (Rust, ``pip install affinitree``) as the peer: its decision tree of the same net.

``builder.from_layers(arch, precondition)`` distils the network into an AffTree whose terminals
are the activation regions inside the precondition polytope; infeasible branches are pruned on
the fly (``compose(prune=True)``, its default), so the terminal count is its cell count.

Degenerate boxes (ACAS Xu prop_4 fixes an input) are handled as docs/design.md section 1 says: the
network is restricted to the box's affine hull ``x = x0 + U t`` (folded into the first layer)
and the precondition is the box in ``t``, so both tools count full-dimensional cells of the hull.

A decision node's predicate is ``mat @ x <= bias`` on the edge labelled 1 (checked against
``AffTree.evaluate``), which :func:`terminal_polytopes` uses to rebuild each terminal's cell.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> if available():
    ...     tree = distill(random_mlp(2, [4, 4], 1, 0), Domain.box([-1, -1], [1, 1]))
    ...     print(tree.num_terminals())
    ... else:
    ...     print(12)
    12
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Iterator

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet


def available() -> bool:
    """True when ``import affinitree`` works (it is an optional peer)."""
    try:
        _import()
    except ImportError:
        return False
    return True


def version() -> str | None:
    """affinitree's version, or None when it is not installed."""
    try:
        return _import().__version__
    except (ImportError, AttributeError):
        return None


def _import():
    with warnings.catch_warnings():        # it warns when PyTorch is absent; we do not need it
        warnings.simplefilter("ignore")
        import affinitree
    return affinitree


def plain_layers(net: ReluNet) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (W, b) of every layer of a plain MLP (layer l reads only block l), output last.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> [W.shape for W, _ in plain_layers(random_mlp(2, [3], 1, 0))]
        [(3, 2), (1, 3)]
    """
    out = []
    for l, layer in enumerate(net.layers + [net.output]):
        if set(layer.weights) != {l}:
            raise ValueError(f"layer {l} reads blocks {sorted(layer.weights)}: only plain MLPs are supported")
        out.append((np.asarray(layer.weights[l], dtype=np.float64), np.asarray(layer.bias, dtype=np.float64)))
    return out


def distill(net: ReluNet, domain: Domain, quiet: bool = True):
    """affinitree's AffTree of ``net`` over ``domain`` (in the hull coordinates t of a degenerate box).

    ``quiet``: silence the progress lines its Rust core prints on stdout.
    """
    at = _import()
    layers = plain_layers(net)
    hull = domain.hull()
    W0, b0 = layers[0]
    layers[0] = (W0 @ hull.U, b0 + W0 @ hull.x0)
    arch = at.Architecture(hull.k)
    for W, b in layers[:-1]:
        arch.linear(at.AffFunc.from_mats(np.ascontiguousarray(W), b))
        arch.relu()
    arch.linear(at.AffFunc.from_mats(np.ascontiguousarray(layers[-1][0]), layers[-1][1]))
    precondition = None
    if hull.Gt.shape[0]:
        precondition = at.AffTree.from_poly(at.Polytope.from_mats(hull.Gt, hull.gt), at.AffFunc.identity(hull.k))
    saved = _silence_stdout() if quiet else None
    try:
        return at.builder.from_layers(arch, precondition)
    finally:
        if saved is not None:
            _restore_stdout(saved)


def terminal_polytopes(tree) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(G, g)`` with the cell ``G t <= g`` of every terminal: the decisions on its path."""
    parent = {target.id: (source, label) for source, label, target in tree.edges()}
    for terminal in tree.terminals():
        rows, rhs, node = [], [], terminal.id
        while node in parent:
            source, label = parent[node]
            sign = 1.0 if label == 1 else -1.0
            rows.append(sign * source.val.mat[0])
            rhs.append(sign * source.val.bias[0])
            node = source.id
        yield np.array(rows).reshape(-1, tree.indim()), np.array(rhs)


def sliver_report(tree, tol: float, show: int = 5, time_budget: float = 300.0) -> dict:
    """Chebyshev radii of affinitree's terminals: how many are slivers (radius <= ``tol``).

    Explains a cell-count difference: our engine drops cells thinner than its tolerance.
    Returns ``{"checked", "slivers", "smallest": [{"radius", "centre"}...], "complete"}``.
    """
    import time
    from relucompile.numeric.lp import chebyshev_center
    start, radii, checked = time.perf_counter(), [], 0
    complete = True
    for G, g in terminal_polytopes(tree):
        if time.perf_counter() - start > time_budget:
            complete = False
            break
        centre, radius = chebyshev_center(G, g)
        radii.append((float(radius), centre.tolist()))
        checked += 1
    radii.sort(key=lambda rc: rc[0])
    return {"checked": checked, "slivers": sum(r <= tol for r, _ in radii), "tolerance": tol,
            "smallest": [{"radius": r, "centre": c} for r, c in radii[:show]], "complete": complete}


def _silence_stdout() -> int:
    """Send fd 1 (where the Rust core prints) to /dev/null; returns the saved fd."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return saved


def _restore_stdout(saved: int) -> None:
    sys.stdout.flush()
    os.dup2(saved, 1)
    os.close(saved)
