"""``explain``: effective weights at one input, the cell's conditions and the largest ball inside it."""
from __future__ import annotations

import csv
import json
import math
import os
from functools import lru_cache

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings, strategies as st

from relucompile.cli import main as cli
from relucompile.cli.audit import parse_point, read_points, run_explain
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.analysis.explain import explain_point
from relucompile.ir.network import AffineLayer, ReluNet
from conftest import ROOT, data_path
from relucompile import load_network
from relucompile.examples.random_nets import random_mlp

EXAMPLE = os.path.join(ROOT, "compiler", "examples", "tiny_mlp.onnx")


def _counterexamples() -> list[tuple[str, np.ndarray]]:
    path = data_path("acasxu", "counterexamples.csv")
    with open(path, newline="") as f:
        rows = [(os.path.join(os.path.dirname(path), r["onnx"]), np.array(json.loads(r["x_json"]), dtype=np.float64))
                for r in csv.DictReader(f)]
    assert rows, "counterexamples.csv has no rows"
    return rows


@lru_cache(maxsize=None)
def _net(path: str) -> ReluNet:
    return load_network(path)


def _patterns(net: ReluNet, X: np.ndarray) -> np.ndarray:
    return np.hstack(net.pattern(X))


def _unit_ball(rng: np.random.Generator, n: int, basis: np.ndarray, radius: float) -> np.ndarray:
    """n points in the ball of ``radius`` inside span(basis columns): radii up to the full radius."""
    directions = rng.normal(size=(n, basis.shape[1])) @ basis.T
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = radius * np.concatenate([[1.0], rng.uniform(0, 1, n - 1) ** 0.5])
    return directions * radii[:, None]


def _check_ball(net: ReluNet, e, rng: np.random.Generator, n: int = 2000) -> None:
    """No point inside 0.999 r changes the pattern; just past the limiting hyperplane it changes."""
    basis = np.linalg.qr(e.domain.hull().U)[0]
    base = _patterns(net, e.x[None, :])[0]
    if e.radius > 0:
        # random points of the ball, plus the point at 0.999 r toward every condition's hyperplane
        toward = [-(basis @ (basis.T @ c.w)) for c in e.conditions if math.isfinite(c.distance)]
        toward = np.array([v / np.linalg.norm(v) for v in toward]).reshape(-1, e.x.size)
        X = np.vstack([e.x + _unit_ball(rng, n, basis, 0.999 * e.radius), e.x + 0.999 * e.radius * toward])
        assert np.array_equal(_patterns(net, X), np.repeat(base[None, :], len(X), axis=0)), \
            "a point inside the ball changes the rule"
    assert e.limiting, "no limiting condition"
    facets = set(e.facets)   # duplicates of one hyperplane tie: one copy is the facet
    assert any(i in facets for i in e.limiting), "the limiting hyperplane is not a facet"
    for i in e.limiting:
        c = e.conditions[i]
        normal = basis @ (basis.T @ c.w)
        normal /= np.linalg.norm(normal)
        step = e.radius * 1.001 + 1e-12 * (1 + np.abs(e.x).max())
        beyond = e.x - step * normal           # w.x + b decreases along -normal
        assert c.w @ beyond + c.b < 0
        if c.kind == "unit":
            assert not np.array_equal(_patterns(net, beyond[None, :])[0], base), f"{c.label()}: crossing it changes nothing"
        else:
            assert not e.domain.contains(beyond[None, :])[0]


# -- ACAS Xu counterexamples ----------------------------------------------------------------------

@pytest.mark.slow
def test_explain_reproduces_onnxruntime_at_acasxu_counterexamples() -> None:
    """W_eff x + b_eff equals onnxruntime's output (<= 1e-5) at every counterexample, each with its own network."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for path, x in _counterexamples():
        net = _net(path)
        e = explain_point(net, x)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        y_ort = session.run(None, {inp.name: x.astype(np.float32).reshape(1, 1, 1, 5)})[0].reshape(-1)
        worst = max(worst, float(np.max(np.abs(e.W_eff @ x + e.b_eff - y_ort))))
        assert np.allclose(e.output, net.forward(x[None, :])[0], rtol=0, atol=1e-12)
        assert np.allclose(e.contributions.sum(axis=1) + e.b_eff, e.output, rtol=0, atol=1e-12)
        _check_ball(net, e, rng)
    assert worst <= 1e-5, worst


def test_explain_counterexample_against_its_property_box() -> None:
    """With the property's box as domain the domain rows count too.  The counterexamples are float32:
    the first lies 1.2e-8 below the float64 box's x4 >= 0.45 (explain says so, radius 0); in the box
    rounded outward to float32 it is inside, on the faces x4 = float32(0.45) and x5 = -0.5, which
    limit the ball to radius 0."""
    from relucompile.frontends.vnnlib import parse_vnnlib
    path = data_path("acasxu", "counterexamples.csv")
    with open(path, newline="") as f:
        row = next(csv.DictReader(f))
    folder = os.path.dirname(path)
    lo, hi = parse_vnnlib(os.path.join(folder, row["vnnlib"])).input_boxes()[0]
    net = _net(os.path.join(folder, row["onnx"]))
    x = np.array(json.loads(row["x_json"]))
    outside = explain_point(net, x, Domain.box(lo, hi))
    assert not outside.inside_domain and outside.radius == 0.0
    assert [outside.conditions[i].label() for i in outside.limiting] == ["domain row 3"]
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)   # float32 bounds, rounded outward
    lo32 = np.where(lo32 > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32).astype(np.float64)
    hi32 = np.where(hi32 < hi, np.nextafter(hi32, np.float32(np.inf)), hi32).astype(np.float64)
    e = explain_point(net, x, Domain.box(lo32, hi32))
    assert e.inside_domain and sum(c.kind == "domain" for c in e.conditions) == 10
    assert e.radius == 0.0 and [e.conditions[i].label() for i in e.limiting] == ["domain row 3", "domain row 4"]
    _check_ball(net, e, np.random.default_rng(2))


# -- small nets with known answers ----------------------------------------------------------------

def _abs_net() -> ReluNet:
    """f(x) = relu(x1 + 10 x2) - relu(-x1 - 10 x2) = x1 + 10 x2 (two units, one hyperplane)."""
    return ReluNet(2, [AffineLayer({0: np.array([[1.0, 10.0], [-1.0, -10.0]])}, np.zeros(2))],
                   AffineLayer({1: np.array([[1.0, -1.0]])}, np.zeros(1)))


def test_radius_is_measured_inside_the_domains_hull() -> None:
    """With x2 fixed by the domain, moving toward the hyperplane x1 + 10 x2 = 0 means moving x1 only."""
    net = _abs_net()
    free = explain_point(net, [0.5, 0.0])
    assert free.radius == pytest.approx(0.5 / math.sqrt(101), rel=1e-12)
    fixed = explain_point(net, [0.5, 0.0], Domain.box([-2, 0], [2, 0]))
    assert fixed.radius == pytest.approx(0.5, rel=1e-12)
    assert [fixed.conditions[i].label() for i in fixed.limiting] == ["layer 0 unit 0 active", "layer 0 unit 1 inactive"]
    # the rows fixing x2 never limit the ball (they are constant on the hull)
    assert all(math.isinf(c.distance) for c in fixed.conditions if c.kind == "domain" and c.w[1] != 0)
    _check_ball(net, fixed, np.random.default_rng(1))


def test_point_outside_the_domain_has_radius_zero_and_names_the_row() -> None:
    e = explain_point(_abs_net(), [3.0, 0.0], Domain.box([-1, -1], [1, 1]))
    assert not e.inside_domain and e.radius == 0.0
    assert [e.conditions[i].label() for i in e.limiting] == ["domain row 2"]
    assert "OUTSIDE" in e.to_text()


def test_rule_without_boundary_has_infinite_radius_and_null_json() -> None:
    net = ReluNet(1, [AffineLayer({0: np.array([[0.0]])}, np.array([1.0]))],   # a unit that is always on
                  AffineLayer({1: np.array([[2.0]])}, np.array([0.5])))
    e = explain_point(net, [0.3])
    assert math.isinf(e.radius) and e.limiting == [] and e.output.tolist() == [2.5]
    doc = json.loads(json.dumps(e.to_json()))
    assert doc["radius"] is None and doc["conditions"][0]["distance"] is None
    assert "holds everywhere" in e.to_text()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 4), width=st.integers(2, 6), depth=st.integers(1, 3))
def test_random_nets_ball_and_effective_weights(seed: int, d: int, width: int, depth: int) -> None:
    net = random_mlp(d, [width] * depth, 2, seed=seed)
    rng = np.random.default_rng(seed)
    domain = Domain.box(-np.ones(d), np.ones(d))
    x = rng.uniform(-0.9, 0.9, d)
    e = explain_point(net, x, domain)
    assert np.allclose(e.output, net.forward(x[None, :])[0], atol=1e-12)
    blocks, (A, c) = net.effective_maps([p for p in e.pattern])
    assert np.array_equal(e.W_eff, A) and np.array_equal(e.b_eff, c)
    assert e.radius <= float(np.min(1 - np.abs(x))) + 1e-12
    _check_ball(net, e, rng, n=300)


def test_facets_agree_with_the_enumerated_cell() -> None:
    """At every cell's interior point, the conditions marked irredundant are exactly the cell's facets."""
    net = random_mlp(2, [6, 5], 1, seed=3)
    domain = Domain.box([-1, -1], [1, 1])
    regions = enumerate_regions(net, domain)
    assert len(regions) > 10
    for cell in regions.cells:
        e = explain_point(net, cell.interior, domain)
        assert np.array_equal(np.concatenate(e.pattern), cell.pattern)
        assert np.allclose(e.W_eff, cell.A) and np.allclose(e.b_eff, cell.c)
        mine = {("domain", c.index) if c.kind == "domain" else ("unit", c.layer, c.index)
                for c in (e.conditions[i] for i in e.facets)}
        theirs = {key[:2] if key[0] == "domain" else key[:3]
                  for key in (regions.hyperplanes[h].key for h, _ in cell.facets)}
        assert mine == theirs
        # the interior point is the cell's Chebyshev centre: the ball at x is the cell's largest ball
        assert e.radius == pytest.approx(cell.radius, rel=1e-6, abs=1e-9)


# -- text, JSON and the command line ----------------------------------------------------------------

def _run(argv, capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "explain", run_explain)
    code = cli.main(["explain"] + argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_text_names_and_contributions(capsys, monkeypatch) -> None:
    code, out, err = _run([EXAMPLE, "--at", "0.1, -0.3", "--box", "-1", "1", "--input-names", "age,income",
                           "--output-names", "deny,accept", "--digits", "4"], capsys, monkeypatch)
    assert code == 0, err
    assert "age = 0.1, income = -0.3" in out and "deny" in out and "contributions W_eff * x" in out
    assert "the rule holds on the ball of radius" in out and "facet(s) among 20 conditions" in out


def test_cli_json_many_points_from_csv_and_npy(tmp_path, capsys, monkeypatch) -> None:
    csv_path = tmp_path / "points.csv"
    csv_path.write_text("x1,x2\n0.1,-0.3\n0.5, 0.5\n")
    out_path = tmp_path / "e.json"
    code, out, err = _run([EXAMPLE, "--inputs", str(csv_path), "--json", "-o", str(out_path)], capsys, monkeypatch)
    assert code == 0, err
    assert out == ""
    doc = json.loads(out_path.read_text())
    assert doc["schema"] == "relucompile.explain" and len(doc["points"]) == 2
    net = load_network(EXAMPLE)
    for point in doc["points"]:
        x = np.array(point["x"])
        assert np.allclose(np.array(point["W_eff"]) @ x + np.array(point["b_eff"]), net.forward(x[None])[0])
        assert point["radius"] > 0 and all(point["conditions"][i]["facet"] for i in point["limiting"])
    npy = tmp_path / "points.npy"
    np.save(npy, np.array([[0.1, -0.3], [0.5, 0.5]], dtype=np.float32).reshape(2, 1, 2))
    code, out, _ = _run([EXAMPLE, "--inputs", str(npy), "--json"], capsys, monkeypatch)
    assert code == 0 and len(json.loads(out)["points"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["--at", "0.1"], "--at: expected 2 numbers (the model's inputs), got 1"),
    (["--at", "0.1,abc"], "not a list of numbers"),
    (["--at", "0.1,0.2", "--input-names", "a"], "--input-names: expected 2 distinct"),
    (["--at", "0.1,0.2", "--box", "1", "-1"], "box is empty"),
])
def test_cli_errors_are_one_line(argv, message, capsys, monkeypatch) -> None:
    code, out, err = _run([EXAMPLE] + argv, capsys, monkeypatch)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_negative_first_coordinate(capsys, monkeypatch) -> None:
    code, out, err = _run([EXAMPLE, "--at", "-0.5,1", "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out)["points"][0]["x"] == [-0.5, 1.0]


def test_cli_bad_csv_names_file_and_line(tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("1,2\n3\n")
    out_path = tmp_path / "never.json"
    code, _, err = _run([EXAMPLE, "--inputs", str(path), "--json", "-o", str(out_path)], capsys, monkeypatch)
    assert code == 2 and "bad.csv: line 2: expected 2 numbers" in err and not out_path.exists()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_parse_helpers() -> None:
    assert parse_point("(1 2 3)", 3).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(Exception, match="finite"):
        parse_point("1,inf", 2)
    with pytest.raises(Exception, match="no such file"):
        read_points("/nonexistent/p.csv", 2)
