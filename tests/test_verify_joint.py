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


def _random_problem(seed: int, d: int, depth: int, k: int):
    """A random net with k random output rows, three random boxes around 0, their preactivation
    bounds and three random row weightings (the rng goes on for the caller's samples)."""
    net = random_mlp(d, [8] * depth, k, seed=seed)
    rng = np.random.default_rng(seed)
    spec = with_output_rows(net, rng.normal(size=(k, k)), np.zeros((k, d)), rng.normal(size=k))
    lo, hi = -rng.uniform(0.2, 1.0, (3, d)), rng.uniform(0.2, 1.0, (3, d))
    return rng, spec, lo, hi, preactivation_bounds(spec, lo, hi), rng.random((3, k))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 5), depth=st.integers(1, 3), k=st.integers(1, 4))
def test_combined_bounds_hold_at_sampled_points(seed, d, depth, k) -> None:
    rng, spec, lo, hi, bounds, weights = _random_problem(seed, d, depth, k)
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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 5), depth=st.integers(1, 3), k=st.integers(1, 4))
def test_warm_started_slopes_stay_sound_whatever_they_are(seed, d, depth, k) -> None:
    """A warm start (the parent box's slopes) may be anything, even outside [0, 1]: the joint bound
    clips it, so it still holds at sampled points; the slopes handed on lie in [0, 1]."""
    rng, spec, lo, hi, bounds, weights = _random_problem(seed, d, depth, k)
    start = [rng.uniform(-3.0, 4.0, lb.shape) for lb, _ in bounds]
    last: list[np.ndarray] = []
    tuned, At, ct = optimized_combined_lower_bounds(spec, lo, hi, bounds, weights, steps=4,
                                                    start_slopes=start, step=0.05, slopes_out=last)
    assert len(last) == len(bounds) and all(s.shape == lb.shape for s, (lb, _) in zip(last, bounds))
    assert all(np.all((s >= 0) & (s <= 1)) for s in last)
    for n in range(3):
        X = lo[n] + rng.random((3000, d)) * (hi[n] - lo[n])
        value = spec.forward(X) @ weights[n]
        assert np.all(value >= tuned[n] - 1e-9)
        assert np.all(value >= X @ At[n] + ct[n] - 1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 3))
def test_warm_start_keeps_the_search_verdicts(seed, d) -> None:
    """Input-split search with and without warm-started slopes: the same verdict, and 'safe' only
    when no sampled point violates the conjunction (a warm start never hides a counterexample)."""
    import relucompile.verify.search as search
    net = random_mlp(d, [10, 10], 3, seed=seed)
    rng = np.random.default_rng(seed)
    lo, hi = -np.ones(d), np.ones(d)
    X = lo + rng.random((4000, d)) * (hi - lo)
    Y = net.forward(X)
    threshold = np.quantile(Y[:, 0] - Y[:, 1:].max(axis=1), rng.uniform(0.9, 1.0))
    cy = np.array([[-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])       # output 0 exceeds the others by threshold
    spec = with_output_rows(net, cy, np.zeros((2, d)), np.full(2, threshold))
    rows = [np.array([0, 1])]
    verdicts = []
    for warm in (True, False):
        s = search._Search(spec, lo, hi, rows, lambda x, case: True, None, 256, 60, 1e-9)
        s.warm_start = warm
        verdicts.append(s.run().status)
    assert verdicts[0] == verdicts[1]
    violated = np.any(np.all(spec.forward(X)[:, [0, 1]] <= 0, axis=1))
    assert not (violated and verdicts[0] == "safe")
