"""The input-split search on several processes and the compiled relaxation step (issue 14).

* ``search_box(..., jobs=2)``, made to go parallel after a few boxes, gives the verdicts of one
  process, on nets whose property holds and on nets where it does not (the counterexample is
  then confirmed again in the calling process); a candidate the caller rejects is never a "safe".
* :mod:`relucompile.verify.bound_kernels` gives the numpy path's bounds up to float rounding,
  and they hold at sampled points.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relucompile.verify.bound_kernels as bound_kernels
import relucompile.verify.search as search
from relucompile.examples.random_nets import random_mlp
from relucompile.ir.network import with_output_rows
from relucompile.verify.bounds import optimized_combined_lower_bounds, output_lower_bounds, preactivation_bounds

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed")


@pytest.fixture(autouse=True)
def kernel_state_restored():
    """Whether this process has loaded the compiled step is left as the test found it (other
    tests of the same worker then run as they would alone)."""
    before = list(bound_kernels._KERNEL)
    yield
    bound_kernels._KERNEL[:] = before


def _conjunction(seed: int, d: int, quantile: float):
    """A 3-output net on [-1, 1]^d and the conjunction "output 0 exceeds the others by t", t at
    ``quantile`` of the sampled margins (near 1: rarely violated; above 1: holds)."""
    net = random_mlp(d, [12, 12], 3, seed=seed)
    rng = np.random.default_rng(seed)
    lo, hi = -np.ones(d), np.ones(d)
    X = lo + rng.random((4000, d)) * (hi - lo)
    Y = net.forward(X)
    margin = Y[:, 0] - Y[:, 1:].max(axis=1)
    threshold = np.quantile(margin, min(quantile, 1.0)) + max(quantile - 1.0, 0.0)
    cy = np.array([[-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])
    spec = with_output_rows(net, cy, np.zeros((2, d)), np.full(2, -threshold))    # rows: t - (y0 - y_i)
    return spec, lo, hi, X


@pytest.fixture
def parallel_early(monkeypatch):
    """Searches go parallel after 8 boxes (16 waiting), as a long one would."""
    monkeypatch.setattr(search, "PARALLEL_AFTER_BOXES", 8)
    monkeypatch.setattr(search, "PARALLEL_MIN_BOXES", 4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), d=st.integers(2, 3), quantile=st.sampled_from([0.999, 1.0, 1.2]))
def test_two_processes_give_the_verdict_of_one(parallel_early, seed, d, quantile) -> None:
    spec, lo, hi, X = _conjunction(seed, d, quantile)
    rows = [np.array([0, 1])]
    alone = search.search_box(spec, lo, hi, rows, lambda x, case: True)
    confirmed: list[np.ndarray] = []

    def confirm(x, case):
        ok = bool(np.all(spec.forward(x[None])[0, rows[case]] <= 0))
        if ok:
            confirmed.append(x)
        return ok

    both = search.search_box(spec, lo, hi, rows, confirm, jobs=2)
    assert both.status == alone.status
    sampled_violation = np.any(np.all(spec.forward(X)[:, [0, 1]] <= 0, axis=1))
    assert not (sampled_violation and both.status == "safe")
    if both.status == "unsafe":
        assert confirmed and np.array_equal(confirmed[-1], both.x)     # confirmed here, in this process
        assert np.all(spec.forward(both.x[None])[0, [0, 1]] <= 0)


def test_a_long_search_is_shared_between_the_processes(parallel_early) -> None:
    spec, lo, hi, _ = _conjunction(3, 3, 1.2)
    rows = [np.array([0, 1])]
    bound_kernels.load()              # both runs with the compiled step (the parallel one loads it)
    alone = search.search_box(spec, lo, hi, rows, lambda x, case: True)
    both = search.search_box(spec, lo, hi, rows, lambda x, case: True, jobs=2)
    assert alone.status == both.status == "safe"
    assert both.stats["parallel_pieces"] > 2
    assert both.stats["boxes"] == alone.stats["boxes"]        # the same boxes, only shared out


def test_a_counterexample_the_caller_rejects_is_no_safe_verdict(parallel_early) -> None:
    """Workers confirm in their own process; the calling process confirms again.  If it then
    rejects (e.g. a confirmer with state), the search goes on and counts it as unconfirmed."""
    import os
    spec, lo, hi, _ = _conjunction(5, 2, 0.9)
    rows = [np.array([0, 1])]
    caller = os.getpid()
    out = search.search_box(spec, lo, hi, rows, lambda x, case: os.getpid() != caller, jobs=2)
    assert out.status == "safe" and out.stats["unconfirmed"] > 0


def test_deal_gives_every_box_once() -> None:
    spec, lo, hi, _ = _conjunction(1, 2, 1.0)
    s = search._Search(spec, lo, hi, [np.array([0, 1])], lambda x, case: True, None, 256, 60, 1e-9)
    stack = s.root()
    assert s.run(stack, pause_after=0).status in ("paused", "safe", "unsafe")
    boxes = np.concatenate([b.lo for b in stack]) if stack else np.zeros((0, 2))
    pieces = search._deal(stack, 5)
    dealt = np.concatenate([b.lo for piece in pieces for b in piece]) if pieces else np.zeros((0, 2))
    assert sorted(map(tuple, dealt)) == sorted(map(tuple, boxes)) and len(pieces) <= 5


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 4), depth=st.integers(1, 3))
def test_the_compiled_step_gives_the_numpy_bounds(seed, d, depth) -> None:
    net = random_mlp(d, [9] * depth, 2, seed=seed)
    rng = np.random.default_rng(seed)
    lo, hi = -rng.uniform(0.2, 1.0, (3, d)), rng.uniform(0.2, 1.0, (3, d))
    weights = rng.random((3, 2))
    results = {}
    kernel = bound_kernels.load()
    for compiled in (False, True):
        bound_kernels._KERNEL[:] = [kernel if compiled else None]
        bounds = preactivation_bounds(net, lo, hi)
        parent = preactivation_bounds(net, lo, hi, bounds)       # the path with a parent (gathered rows)
        low, A, c = output_lower_bounds(net, lo, hi, parent)
        joint = optimized_combined_lower_bounds(net, lo, hi, parent, weights, steps=4)[0]
        results[compiled] = (bounds, low, joint)
    bound_kernels._KERNEL[:] = [kernel]
    (b0, l0, j0), (b1, l1, j1) = results[False], results[True]
    for (lb0, ub0), (lb1, ub1) in zip(b0, b1):
        assert np.allclose(lb0, lb1, rtol=1e-9, atol=1e-9) and np.allclose(ub0, ub1, rtol=1e-9, atol=1e-9)
    assert np.allclose(l0, l1, rtol=1e-9, atol=1e-9) and np.allclose(j0, j1, rtol=1e-9, atol=1e-9)
    for n in range(3):
        X = lo[n] + rng.random((2000, d)) * (hi[n] - lo[n])
        Y = net.forward(X)
        assert np.all(Y >= l1[n] - 1e-9) and np.all(Y @ weights[n] >= j1[n] - 1e-9)


def test_the_compiled_step_equals_its_numpy_formula() -> None:
    """lam_z, the constant and the rounding magnitude of one layer, against numpy's formulas
    (the magnitude sums |each term|: a wrong one would make the bounds' margin unsound)."""
    rng = np.random.default_rng(0)
    lam = rng.normal(size=(40, 7))
    rows = rng.integers(0, 5, 40)
    lower, upper = rng.random((5, 7)), rng.random((5, 7))
    shift, bias = rng.random((5, 7)), rng.normal(size=7)
    lam_z, const, mag = bound_kernels.load()(lam, rows, lower, upper, shift, bias, np.abs(bias))
    pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
    expect = pos * lower[rows] + neg * upper[rows]
    assert np.allclose(lam_z, expect, rtol=0, atol=1e-15)
    assert np.allclose(const, (neg * shift[rows]).sum(axis=1) + expect @ bias, rtol=1e-13)
    assert np.allclose(mag, np.abs(neg * shift[rows]).sum(axis=1) + np.abs(expect) @ np.abs(bias), rtol=1e-13)
