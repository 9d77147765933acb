"""The input-split search's joint bound of a conjunction: the chosen row combination against the
exact ``min max`` of linear bounds (an LP), the combined (optimised-slope) bound against sampled
outputs, and a box that only the combination can prune."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucompile.examples.random_nets import random_mlp
from relucompile.ir.network import AffineLayer, ReluNet, with_output_rows
from relucompile.verify.bounds import (best_row_combination, combined_lower_bounds, optimized_combined_lower_bounds,
                                       preactivation_bounds)
from relucompile.verify.budget import Budget
from relucompile.verify.relu_bab import _joint_bound
from relucompile.verify.search import search_box


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 6), q=st.integers(1, 4), n=st.integers(1, 4))
def test_row_combination_is_sound_and_near_the_lp_optimum(seed, d, q, n) -> None:
    """The weights' value is a lower bound of ``max_i (A_i x + c_i)`` at sampled points, at least the best
    single row's, and within a small gap of the exact min-max (one LP per box)."""
    rng = np.random.default_rng(seed)
    A, c = rng.normal(size=(n, q, d)), rng.normal(size=(n, q))
    lo, hi = -rng.random((n, d)), rng.random((n, d))
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    low = np.einsum("nqd,nd->nq", A, mid) - np.einsum("nqd,nd->nq", np.abs(A), half) + c
    w, value = best_row_combination(low, A, c, lo, hi, steps=60)
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1.0)
    assert np.all(value >= low.max(axis=1) - 1e-12)
    for k in range(n):
        X = lo[k] + rng.random((3000, d)) * (hi[k] - lo[k])
        assert np.all(np.max(X @ A[k].T + c[k], axis=1) >= value[k] - 1e-9)
        exact = _joint_bound(A[k], c[k], lo[k], hi[k], Budget(None))
        scale = 1.0 + np.abs(A[k]).sum() + np.abs(c[k]).sum()
        assert value[k] <= exact + 1e-7 * scale
        assert value[k] >= exact - 0.05 * scale


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 5), depth=st.integers(1, 3), k=st.integers(1, 4))
def test_combined_bounds_hold_at_sampled_points(seed, d, depth, k) -> None:
    net = random_mlp(d, [8] * depth, k, seed=seed)
    rng = np.random.default_rng(seed)
    spec = with_output_rows(net, rng.normal(size=(k, k)), np.zeros((k, d)), rng.normal(size=k))
    lo, hi = -rng.uniform(0.2, 1.0, (3, d)), rng.uniform(0.2, 1.0, (3, d))
    bounds = preactivation_bounds(spec, lo, hi)
    weights = rng.random((3, k))
    plain, A, c = combined_lower_bounds(spec, lo, hi, bounds, weights)
    tuned, At, ct = optimized_combined_lower_bounds(spec, lo, hi, bounds, weights, steps=10)
    assert np.all(tuned >= plain)
    for n in range(3):
        X = lo[n] + rng.random((3000, d)) * (hi[n] - lo[n])
        value = spec.forward(X) @ weights[n]
        assert np.all(value >= tuned[n] - 1e-9) and np.all(value >= plain[n] - 1e-9)
        assert np.all(value >= X @ At[n] + ct[n] - 1e-9) and np.all(value >= X @ A[n] + c[n] - 1e-9)


def test_a_conjunction_only_the_combination_proves_is_pruned_at_the_root() -> None:
    """``x <= -0.25 and -x <= -0.25`` is impossible, yet each row alone is satisfiable on [-1, 1]: the
    root box is pruned by the combination (no bisection), and the search says 'safe'."""
    net = ReluNet(1, [], AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2)))
    spec = with_output_rows(net, np.eye(2), np.zeros((2, 1)), np.array([-0.25, -0.25]))
    rows = [np.array([0, 1])]
    out = search_box(spec, np.array([-1.0]), np.array([1.0]), rows, lambda x, case: True)
    assert out.status == "safe"
    assert out.stats["boxes"] == 1 and out.stats["joint_pruned"] == 1
