"""The vertex engine's compiled kernels (numba) give exactly the numpy path's cells.

Both paths run in every test: ``USE_KERNELS`` is switched off with monkeypatch for the numpy
path (what a machine without numba runs).  Cells are compared exactly: patterns, facets (keys
and sides), interior points, radii and maps with ``==``.
"""
from __future__ import annotations

import doctest
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import relucompile.regions.vertex_engine as ev
from relucompile.regions import vertex_kernels
from relucompile.ir.domain import Domain
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.examples.random_nets import random_mlp

needs_numba = pytest.mark.skipif(not vertex_kernels.AVAILABLE, reason="numba is not installed")


def _cells(regions) -> list:
    """Every cell as plain data, in the engine's order."""
    out = []
    for cell in regions.cells:
        facets = [(regions.hyperplanes[h].key, s) for h, s in cell.facets]
        out.append((cell.pattern.tobytes(), facets, cell.interior.tobytes(), float(cell.radius),
                    cell.bounded, cell.A.tobytes(), cell.c.tobytes()))
    return out


def _run(net, domain) -> list | str:
    """The cells, or "degenerate" when the engine refuses the vertex set."""
    try:
        return _cells(ev.VertexEngine()(net, domain))
    except ev.DegenerateVertexSet:
        return "degenerate"


@pytest.fixture(autouse=True)
def kernels_from_the_first_row(monkeypatch):
    """The engine takes the compiled path only past KERNEL_MIN_ROWS rows: here from the start."""
    monkeypatch.setattr(ev, "KERNEL_MIN_ROWS", 0)


def _both_paths(monkeypatch, net, domain) -> tuple[list | str, list | str]:
    monkeypatch.setattr(ev, "USE_KERNELS", True)
    compiled = _run(net, domain)
    monkeypatch.setattr(ev, "USE_KERNELS", False)
    plain = _run(net, domain)
    monkeypatch.setattr(ev, "USE_KERNELS", vertex_kernels.AVAILABLE)
    return compiled, plain


@needs_numba
@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 5), widths=st.lists(st.integers(1, 8), min_size=1, max_size=3),
       seed=st.integers(0, 10_000), reals=st.booleans())
def test_kernels_give_the_numpy_paths_cells(d, widths, seed, reals) -> None:
    mp = pytest.MonkeyPatch()
    try:
        net = random_mlp(d, widths, 2, seed=seed)
        domain = Domain.reals(d) if reals else Domain.box(-np.ones(d), np.ones(d))
        compiled, plain = _both_paths(mp, net, domain)
        assert compiled == plain
        assert len(compiled) >= 1
    finally:
        mp.undo()


@needs_numba
def test_kernels_give_the_numpy_paths_cells_on_a_larger_net_in_chunks(monkeypatch) -> None:
    monkeypatch.setattr(ev, "VERTEX_BUDGET", 2_000)
    net = random_mlp(4, [10, 10, 8], 1, seed=3)
    compiled, plain = _both_paths(monkeypatch, net, Domain.box(-np.ones(4), np.ones(4)))
    assert compiled == plain and len(compiled) > 100


@needs_numba
@pytest.mark.parametrize("seed", [0, 1])
def test_kernels_give_the_numpy_paths_cells_on_all_of_rd(monkeypatch, seed) -> None:
    """R^d with ties at infinity (cut in dual numbers): both paths, the same floats."""
    net = random_mlp(3, [4, 4, 4], 2, seed=seed)
    compiled, plain = _both_paths(monkeypatch, net, Domain.reals(3))
    assert compiled != "degenerate" and compiled == plain and len(compiled) > 20


@needs_numba
def test_kernels_report_a_degenerate_cut(monkeypatch) -> None:
    """Units 2 and 3 pass through a corner of the cells units 0, 1 make: both paths refuse."""
    first = AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [1.0, 1.0]])},
                        np.array([-0.5, -0.5, 0.0, -1.0]))
    net = ReluNet(2, [first], AffineLayer({1: np.ones((1, 4))}, np.zeros(1)))
    for use in (True, False):
        monkeypatch.setattr(ev, "USE_KERNELS", use)
        with pytest.raises(ev.DegenerateVertexSet):
            ev.VertexEngine()(net, Domain.box([-1, -1], [1, 1]))


@needs_numba
def test_unpaired_keys_are_refused() -> None:
    partner = np.full(3, -1, dtype=np.int64)
    keys = np.array([5, 9, 5], dtype=np.uint64)
    assert not vertex_kernels._pair_keys(keys, partner)
    partner = np.full(4, -1, dtype=np.int64)
    assert vertex_kernels._pair_keys(np.array([5, 9, 5, 9], dtype=np.uint64), partner)
    assert partner.tolist() == [2, 3, 0, 1]


def test_docstring_examples() -> None:
    assert doctest.testmod(vertex_kernels).failed == 0


def test_without_numba_the_engine_runs_its_numpy_path(tmp_path) -> None:
    """numba made unimportable in a fresh interpreter: no kernels, the same cells as here."""
    script = tmp_path / "no_numba.py"
    script.write_text(
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "import relucompile.regions.vertex_engine as ev\n"
        "from relucompile.ir.domain import Domain\n"
        "from relucompile.examples.random_nets import random_mlp\n"
        "assert not ev.USE_KERNELS and ev.warm_up() == 0.0\n"
        "r = ev.VertexEngine()(random_mlp(3, [6, 6], 1, seed=5), Domain.box(-np.ones(3), np.ones(3)))\n"
        "print(len(r), sum(len(c.facets) for c in r.cells))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root,
                         env=dict(os.environ, PYTHONPATH=root), timeout=120)
    assert out.returncode == 0, out.stderr
    here = ev.VertexEngine()(random_mlp(3, [6, 6], 1, seed=5), Domain.box(-np.ones(3), np.ones(3)))
    assert out.stdout.split() == [str(len(here)), str(sum(len(c.facets) for c in here.cells))]


def test_small_runs_stay_on_numpy_and_large_ones_compile(monkeypatch) -> None:
    """Below KERNEL_MIN_ROWS vertex rows numba is not used (its first compile costs ~5 s)."""
    net = random_mlp(2, [4, 4], 1, seed=0)
    box = Domain.box([-1, -1], [1, 1])
    monkeypatch.setattr(ev, "KERNEL_MIN_ROWS", 10**9)
    assert ev.VertexEngine()(net, box).stats["compiled"] is False
    monkeypatch.setattr(ev, "KERNEL_MIN_ROWS", 0)
    assert ev.VertexEngine()(net, box).stats["compiled"] is vertex_kernels.AVAILABLE
