"""The split engine's speed-ups keep its results: parallel runs (``jobs``) give the same cells in
the same order, and the facet certificates agree with the redundancy LP they replace."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucompile.cli.main import main
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.errors import RegionLimitError
from relucompile.regions.facet_certificates import FACET, REDUNDANT, facet_certificates
from relucompile.numeric.lp import LinearProgram
from relucompile.examples.random_nets import random_mlp


def _same(a, b) -> None:
    assert len(a.cells) == len(b.cells)
    assert [h.key for h in a.hyperplanes] == [h.key for h in b.hyperplanes]
    for x, y in zip(a.cells, b.cells):
        assert x.pattern.tobytes() == y.pattern.tobytes()
        assert x.facets == y.facets
        assert np.array_equal(x.A, y.A) and np.array_equal(x.c, y.c)
        assert np.array_equal(x.interior, y.interior) and x.radius == y.radius
        assert x.bounded == y.bounded


@pytest.mark.parametrize("d, widths, domain", [
    (2, [8, 8], Domain.box([-1, -1], [1, 1])),
    (3, [6, 6], Domain.reals(3)),
    (3, [8, 6], Domain.box([-1, 0.5, -1], [1, 0.5, 1])),     # degenerate: x2 fixed
])
def test_jobs_2_gives_the_same_cells_in_the_same_order(d, widths, domain) -> None:
    net = random_mlp(d, widths, 2, seed=3)
    one = enumerate_regions(net, domain, engine="split", jobs=1)
    two = enumerate_regions(net, domain, engine="split", jobs=2)
    assert len(one) > 20 and one.stats["tasks"] > 1
    _same(one, two)


def test_parallel_cells_keep_the_serial_depth_first_order() -> None:
    """Patterns come in the depth-first order of the split tree: ``on`` before ``off`` at the
    first unit where two consecutive cells differ (in the layer that was split)."""
    net = random_mlp(2, [8], 1, seed=5)
    regions = enumerate_regions(net, Domain.box([-1, -1], [1, 1]), engine="split", jobs=2)
    patterns = [c.pattern for c in regions.cells]
    for p, q in zip(patterns, patterns[1:]):
        first = int(np.argmax(p != q))
        assert p[first] and not q[first]


def test_max_regions_stops_a_parallel_run() -> None:
    net = random_mlp(2, [8, 8], 1, seed=3)
    with pytest.raises(RegionLimitError, match="stopped after 10 regions"):
        enumerate_regions(net, Domain.box([-1, -1], [1, 1]), engine="split", limits=Limits(max_regions=10), jobs=2)


def test_cli_rejects_jobs_below_one(tmp_path, capsys) -> None:
    assert main(["model.onnx", "-o", str(tmp_path / "out.onnx"), "--jobs", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "relucompile: error: --jobs must be at least 1"


def _lp_verdicts(A: np.ndarray, b: np.ndarray, tol: float) -> list[int]:
    """The reference: the sequential relaxation LP of ``_SplitRun.irredundant_facets``."""
    lp = LinearProgram(A.shape[1], cap=10.0)
    for a, rhs in zip(A, b):
        lp.add_row(a, rhs)
    out = []
    for i, (a, rhs) in enumerate(lp.rows):
        lp.set_rhs(i, rhs + 1.0)
        res = lp.minimize(-a)
        violation = (-res.value - rhs) if res.status == "optimal" else np.inf
        keep = violation > tol
        lp.set_rhs(i, rhs if keep else None)
        out.append(FACET if keep else REDUNDANT)
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 6), st.integers(0, 12), st.integers(0, 2**31 - 1), st.booleans())
def test_certificates_agree_with_the_redundancy_lp(k: int, extra: int, seed: int, duplicate: bool) -> None:
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(k + 1 + extra, k))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    rhs = rng.uniform(0.1, 1.0, len(normals))
    box = np.vstack([np.eye(k), -np.eye(k)])
    A = np.vstack([box, normals])
    b = np.concatenate([np.full(2 * k, 2.0), rhs])
    if duplicate:
        A, b = np.vstack([A, A[-1]]), np.append(b, b[-1])
    lp = LinearProgram(k, cap=10.0)
    for a, r in zip(A, b):
        lp.add_row(a, r)
    centre, radius = lp.chebyshev()
    assert radius > 0
    rows = np.array([a for a, _ in lp.rows])
    rhs_n = np.array([r for _, r in lp.rows])
    verdict, bounded = facet_certificates(rows, rhs_n, centre, 1e-8)
    reference = _lp_verdicts(rows, rhs_n, 1e-8)
    decided = verdict != 0
    assert np.array_equal(verdict[decided], np.array(reference)[decided])
    assert bounded in (True, None)
    if duplicate:  # a tie: no witness can show either copy alone is a facet
        assert FACET not in (verdict[-1], verdict[-2])


def test_certificates_decide_most_rows() -> None:
    """The point of the certificates: few rows are left to the LP."""
    rng = np.random.default_rng(1)
    k, n = 4, 30
    A = rng.normal(size=(n, k))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    verdict, bounded = facet_certificates(A, rng.uniform(0.2, 1.0, n), np.zeros(k), 1e-8)
    assert bounded is True and np.count_nonzero(verdict == 0) <= 2
    assert np.count_nonzero(verdict == FACET) >= k + 1


@pytest.mark.parametrize("module", ["relucompile.regions.enumerate", "relucompile.regions.split", "relucompile.regions.parallel",
                                    "relucompile.regions.facet_certificates", "relucompile.numeric.lp"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_certificates_show_an_unbounded_cell() -> None:
    s = 2 ** -0.5
    A = np.array([[-1.0, 0.0], [0.0, -1.0], [s, -s]])        # x >= -1, y >= -1, x - y <= sqrt(2)
    verdict, bounded = facet_certificates(A, np.array([1.0, 1.0, 1.0]), np.zeros(2), 1e-8)
    assert bounded is False and verdict.tolist() == [FACET, FACET, FACET]
    box = np.vstack([A, [[0.0, 1.0]]])                         # ... and y <= 1: bounded
    assert facet_certificates(box, np.ones(4), np.zeros(2), 1e-8)[1] is True


def test_without_qhull_the_lps_give_the_same_cells(monkeypatch) -> None:
    """scipy is optional: without it every row the witnesses leave open is solved by its LP."""
    import relucompile.regions.facet_certificates as certificates
    net, box = random_mlp(3, [8, 8], 1, seed=1), Domain.box([-1, -1, -1], [1, 1, 1])
    with_hull = enumerate_regions(net, box, "split")
    monkeypatch.setattr(certificates, "_qhull", lambda: None)
    without = enumerate_regions(net, box, "split")
    assert without.stats["lps"] > 2 * with_hull.stats["lps"]
    assert [(c.pattern.tobytes(), c.facets, c.bounded) for c in with_hull.cells] == \
        [(c.pattern.tobytes(), c.facets, c.bounded) for c in without.cells]
