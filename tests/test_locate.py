"""The point-location tree (relucompile.shallow.locate): the one point -> cell lookup agrees with
the textbook scan of every cell's constraints, is shallow, and its flat encoding (what the ONNX
index layout walks) finds the same cells."""
from __future__ import annotations

import numpy as np
import pytest

from relucompile.examples.random_nets import random_mlp
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.shallow.net import build_shallow


def _walk_flat(locator, X: np.ndarray) -> np.ndarray:
    """The ONNX index layout's walk, in numpy, over ``PointLocator.flat()``."""
    tree, blocks = locator.flat()
    X1 = np.hstack([X, np.ones((len(X), 1))])
    state = np.zeros(len(X), dtype=np.int64)
    powers = 1 << np.arange(locator.arity)
    for _ in range(locator.levels):
        values = np.einsum("ntk,nk->nt", blocks[tree[state]], X1)
        state = tree[state + 1 + (values < 0) @ powers]
    return tree[state + 2]


@pytest.mark.parametrize("d,widths,domain", [(2, [8, 8], "box"), (3, [6, 6, 6], "box"), (2, [8, 8], "reals"),
                                             (3, [6, 6], "polytope")])
def test_tree_agrees_with_the_constraint_scan(d, widths, domain) -> None:
    net = random_mlp(d, widths, 2, seed=7)
    if domain == "box":
        dom = Domain.box([-1.0] * d, [1.0] * d)
    elif domain == "reals":
        dom = Domain.reals(d)
    else:
        dom = Domain.polytope(np.vstack([-np.eye(d), np.ones((1, d))]), np.concatenate([np.ones(d), [1.0]]))
    shallow = build_shallow(net, enumerate_regions(net, dom))
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (3000, d)) * (3.0 if domain == "reals" else 1.0)
    if domain == "polytope":
        X = X[X.sum(axis=1) <= 1.0]
    tree_cells = shallow.select_cells(X)
    assert np.array_equal(tree_cells, shallow.select_cells(X, layout="layers"))
    assert np.array_equal(_walk_flat(shallow.locator, X), tree_cells)
    patterns = shallow.regions.cells.patterns[tree_cells]
    assert np.array_equal(patterns, np.hstack(net.pattern(X)))   # generic points: the pattern's cell
    assert shallow.locator.levels <= int(np.ceil(np.log2(max(shallow.num_cells, 2)))) + len(widths) + 2


def test_unknown_layout_is_refused() -> None:
    net = random_mlp(2, [4], 1, seed=0)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0, -1.0], [1.0, 1.0])))
    with pytest.raises(ValueError, match="layout"):
        shallow.select_cells(np.zeros((1, 2)), layout="dense")
