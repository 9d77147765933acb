"""Real third-party models: closed forms and bounds from ../shared/data/README.md, and the
emitted ONNX against the source model in onnxruntime (ACAS Xu 1_1 on the prop_4 box)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucompile.ir.domain import Domain
from conftest import data_path
from exact_tools import cell_vertices
from ort_tools import run_rows
from relucompile import compile_model, shallow_onnx

F = Fraction


def _exact_cells(shallow):
    return sorted((tuple(map(tuple, A)), tuple(c)) for A, c in (shallow.exact_affine(a) for a in range(shallow.num_cells)))


@pytest.mark.parametrize("domain", [None, Domain.box([-1.0], [1.0])], ids=["R", "box"])
def test_test_nano_is_relu_of_half_x(domain) -> None:
    shallow = compile_model(data_path("vnncomp-test", "test_nano.onnx"), domain)
    assert _exact_cells(shallow) == [(((F(0),),), (F(0),)), (((F(1, 2),),), (F(0),))]
    for x in (F(-1), F(-1, 3), F(0), F(1, 7), F(1)):
        assert shallow.evaluate_exact([x]) == [max(x / 2, F(0))]


@pytest.mark.parametrize("domain", [None, Domain.box([-1.0], [1.0])], ids=["R", "box"])
def test_test_tiny_is_relu(domain) -> None:
    shallow = compile_model(data_path("vnncomp-test", "test_tiny.onnx"), domain)
    assert _exact_cells(shallow) == [(((F(0),),), (F(0),)), (((F(1),),), (F(0),))]
    for x in (F(-1), F(0), F(1, 3)):
        assert shallow.evaluate_exact([x]) == [max(x, F(0))]


def test_test_small_is_24x_plus_54_5_on_the_box() -> None:
    shallow = compile_model(data_path("vnncomp-test", "test_small.onnx"), Domain.box([-1.0], [1.0]))
    assert _exact_cells(shallow) == [(((F(24),),), (F(109, 2),))]
    unbounded = compile_model(data_path("vnncomp-test", "test_small.onnx"))
    assert unbounded.num_cells >= 1
    for x in (F(-1), F(0), F(1, 3), F(1)):
        assert shallow.evaluate_exact([x]) == [24 * x + F(109, 2)]
        assert unbounded.evaluate_exact([x]) == [24 * x + F(109, 2)]


def test_fc_2_2_3_exact_output_ranges() -> None:
    """README: on [3,4] x [-2,-1], y0 in [2, 6], y1 in [-3, -1], y2 in [1, 3] exactly."""
    shallow = compile_model(data_path("marabou", "fc_2-2-3.onnx"), Domain.box([3.0, -2.0], [4.0, -1.0]))
    values = []
    for a in range(shallow.num_cells):
        A, c = shallow.exact_affine(a)
        values += [list(A @ np.array(v, dtype=object) + c) for v in cell_vertices(shallow, a)]
    lows = [min(v[j] for v in values) for j in range(3)]
    highs = [max(v[j] for v in values) for j in range(3)]
    assert lows == [2, -3, 1] and highs == [6, -1, 3]
    on_r2 = compile_model(data_path("marabou", "fc_2-2-3.onnx"))
    assert on_r2.evaluate_exact([F(3), F(-2)]) == shallow.evaluate_exact([F(3), F(-2)])


@pytest.mark.slow
def test_acasxu_1_1_prop_4_box_matches_onnxruntime() -> None:
    """Independent tools count about 19,142 cells on this box (nnenum); we report ours.  The
    emitted ONNX matches the source in onnxruntime at 1,000 points of the box (float32 input,
    error <= 1e-5 relative to the output scale: both run float32 weights, ours in float64).

    1,000 points, batched: the shallow model costs O(cells x facets) per point (~15 ms here,
    batched or not), so 10,000 points took minutes; tests/test_onnx_backend.py checks 10,000
    points on smaller nets."""
    from relucompile.frontends.vnnlib import parse_vnnlib
    path = data_path("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
    prop = parse_vnnlib(data_path("acasxu", "prop_4.vnnlib"))
    (lo, hi), = prop.input_boxes()
    shallow = compile_model(path, Domain.box(lo, hi))
    print(f"ACAS Xu 1_1 prop_4 box: {shallow.num_cells} cells, {shallow.num_hyperplanes} hyperplanes, "
          f"{shallow.regions.stats['lps']} LPs, {shallow.regions.stats['seconds']:.1f} s")
    assert abs(shallow.num_cells - 19142) <= 20
    rng = np.random.default_rng(0)
    X = rng.uniform(lo, hi, size=(1_000, 5)).astype(np.float32)
    want = run_rows(path, X, (1, 1, 1, 5))                 # batched calls (the fixed batch 1 made free)
    got = run_rows(shallow_onnx(shallow), X, (1, 1, 1, 5), chunk=100)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-5 * scale
    outside = X[:3].copy()
    outside[:, 0] = hi[0] + 0.01
    outside[1, 0], outside[1, 2] = lo[0], 0.5  # the fixed coordinate moved off its value
    assert np.all(np.isnan(run_rows(shallow_onnx(shallow), outside, (1, 1, 1, 5))))
