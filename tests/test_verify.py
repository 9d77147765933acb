"""Verification: exact verdicts on real VNN-COMP / ACAS Xu instances, counterexamples re-checked
independently with onnxruntime, exact output bounds against brute-force cell enumeration, and the
``verify`` / ``bounds`` command lines (exit codes, one-line errors, result files)."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from relucompile.cli.verify import parse_objective, run_bounds, run_verify
from relucompile.ir.domain import Domain
from relucompile.errors import UserError
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.passes.lowering import exact_net
from relucompile.verify.run import domain_from_vnnlib, domains_from_vnnlib, verify_property
from relucompile.verify.optimize import output_bounds
from conftest import data_path
from exact_tools import cell_vertices
from relucompile.frontends.vnnlib import parse_vnnlib, parse_vnnlib_text
from relucompile.api.compile import compile_network, load_network
from relucompile.examples.random_nets import random_mlp, to_onnx_model

ACAS = "ACASXU_run2a_{}_batch_2000.onnx"


def onnx_outputs(model_path: str, x: np.ndarray) -> np.ndarray:
    """The model's output at x by onnxruntime, independently of the verifier."""
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    spec = sess.get_inputs()[0]
    shape = [s if isinstance(s, int) and s > 0 else 1 for s in spec.shape]
    return sess.run(None, {spec.name: x.astype(np.float32).reshape(shape)})[0].ravel().astype(np.float64)


def assert_real_counterexample(model_path: str, prop, result) -> None:
    """x lies in the violated case's box exactly and onnxruntime's output meets its constraints."""
    assert result.verdict == "violated"
    case = prop.cases[result.case]
    assert np.all(result.x >= case.lower) and np.all(result.x <= case.upper)
    assert np.array_equal(result.x.astype(np.float32).astype(np.float64), result.x)   # what ORT really ran
    y = onnx_outputs(model_path, result.x)
    assert np.array_equal(y, result.y)
    assert case.unsafe(result.x, y, tol=1e-6 * (1 + np.abs(y).max()))


# ------------------------------------------------------------------------------------------------
# Real instances
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model,vnnlib,expected", [
    ("test_nano.onnx", "test_nano.vnnlib", "holds"),
    ("test_tiny.onnx", "test_tiny.vnnlib", "holds"),
    ("test_small.onnx", "test_small.vnnlib", "holds"),
    ("test_sat.onnx", "test_prop.vnnlib", "violated"),
    ("test_unsat.onnx", "test_prop.vnnlib", "holds"),
])
def test_vnncomp_test_instances(model, vnnlib, expected) -> None:
    path = data_path("vnncomp-test", model)
    prop = parse_vnnlib(data_path("vnncomp-test", vnnlib))
    result = verify_property(load_network(path), prop, timeout=60, model=path)
    assert result.verdict == expected
    assert result.stats["confirmed_with"] == "onnxruntime"
    if expected == "violated":
        assert_real_counterexample(path, prop, result)


@pytest.mark.parametrize("net,prop,expected", [
    ("1_4", "prop_2", "violated"),     # found by falsification
    ("1_2", "prop_2", "violated"),     # found by the search (nnenum's counterexample is 1e-5 deep)
    ("1_9", "prop_7", "violated"),     # two unsafe cases over almost the whole input space
    ("1_7", "prop_4", "violated"),     # a zero-width input interval
    ("1_5", "prop_1", "holds"),
    ("2_4", "prop_3", "holds"),
    ("1_1", "prop_4", "holds"),
    ("4_5", "prop_10", "holds"),
    pytest.param("1_1", "prop_6", "holds", marks=pytest.mark.slow),   # two input boxes, four output conditions
])
def test_acasxu_instances(net, prop, expected) -> None:
    path = data_path("acasxu", ACAS.format(net))
    p = parse_vnnlib(data_path("acasxu", f"{prop}.vnnlib"))
    result = verify_property(load_network(path), p, timeout=116, model=path)
    assert result.verdict == expected, result.stats
    if expected == "violated":
        assert_real_counterexample(path, p, result)
    else:
        assert result.x is None and result.stats["borderline"] == 0


def test_counterexamples_are_rechecked_on_the_source_model(tmp_path) -> None:
    """A candidate that the float64 net accepts but the given ONNX model refutes is never reported."""
    net = random_mlp(2, [6, 6], 1, seed=3)
    lo, hi = -np.ones(2), np.ones(2)
    low = min(float(net.forward(np.random.default_rng(0).uniform(lo, hi, (4000, 2))).min()), 0.0)
    prop = parse_vnnlib_text(_box_text(lo, hi, 1) + f"(assert (<= Y_0 {low + 0.05!r}))")
    assert verify_property(net, prop).verdict == "violated"            # confirmed on the float64 net
    shifted = ReluNet(net.d, net.layers, AffineLayer(net.output.weights, net.output.bias + 100.0))
    model = tmp_path / "shifted.onnx"
    model.write_bytes(to_onnx_model(shifted).SerializeToString())
    result = verify_property(net, prop, model=str(model))
    assert result.verdict == "unknown" and "onnxruntime" in result.reason and result.stats["rejected"] > 0


# ------------------------------------------------------------------------------------------------
# Exact decisions on random nets against brute force over every cell
# ------------------------------------------------------------------------------------------------

def _box_text(lo, hi, m: int) -> str:
    text = "".join(f"(declare-const X_{i} Real)" for i in range(len(lo)))
    text += "".join(f"(declare-const Y_{j} Real)" for j in range(m))
    for i, (a, b) in enumerate(zip(lo, hi)):
        text += f"(assert (>= X_{i} {float(a)!r}))(assert (<= X_{i} {float(b)!r}))"
    return text


def brute_min_max_row(net: ReluNet, domain: Domain, C: np.ndarray, rhs: np.ndarray) -> float:
    """min over the domain of max_i (C f(x) - rhs)_i, one LP per enumerated cell (scipy)."""
    regions = compile_network(net, domain).regions
    G, g = domain.inequalities()
    best = np.inf
    for cell in regions.cells:
        rows = [G] + [(-s * regions.hyperplanes[h].w)[None] for h, s in cell.facets]
        rhs_cell = [g] + [np.array([s * regions.hyperplanes[h].b]) for h, s in cell.facets]
        k = C.shape[0]
        A_ub = np.vstack([np.hstack([np.vstack(rows), np.zeros((sum(len(r) for r in rows), 1))]),
                          np.hstack([C @ cell.A, -np.ones((k, 1))])])
        b_ub = np.concatenate(rhs_cell + [rhs - C @ cell.c])
        res = linprog(np.r_[np.zeros(net.d), 1.0], A_ub=A_ub, b_ub=b_ub,
                      bounds=[(None, None)] * (net.d + 1), method="highs")
        assert res.status == 0
        best = min(best, res.fun)
    return best


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 3), m=st.integers(1, 3), shift=st.sampled_from([-1, 1]))
def test_verdicts_match_brute_force_enumeration(seed, d, m, shift) -> None:
    """Conjunctions 'y_j >= rhs_j' with the unsafe set just empty (holds) or just not (violated)."""
    net = random_mlp(d, [5, 4], m, seed=seed)
    rng = np.random.default_rng(seed)
    lo = -rng.uniform(0.5, 1.5, d)
    hi = rng.uniform(0.5, 1.5, d)
    C = -np.eye(m)[: max(1, m - 1)] + 0.5 * np.eye(m)[-1]        # m-1 rows (or one), mixing outputs
    rhs = rng.normal(0, 0.3, C.shape[0])
    t = brute_min_max_row(net, Domain.box(lo, hi), C, rhs)
    delta = 1e-5 * (1 + abs(t))
    rhs = rhs + t + shift * delta                                 # min-max becomes -shift * delta
    text = _box_text(lo, hi, m)
    for row, r in zip(C, rhs):
        terms = " ".join(f"(* {float(c)!r} Y_{j})" for j, c in enumerate(row) if c != 0)
        text += f"(assert (<= (+ {terms}) {float(r)!r}))"
    result = verify_property(net, parse_vnnlib_text(text))
    assert result.verdict == ("violated" if shift > 0 else "holds")
    if shift > 0:
        y = net.forward(result.x[None])[0]
        assert np.all(C @ y - rhs <= 1e-6 * (1 + np.abs(y).max()))


# ------------------------------------------------------------------------------------------------
# Exact output bounds
# ------------------------------------------------------------------------------------------------

def test_bounds_fc_2_2_3_exact(tmp_path, capsys) -> None:
    model = data_path("marabou", "fc_2-2-3.onnx")
    box = tmp_path / "box.json"
    box.write_text(json.dumps({"lower": [3, -2], "upper": [4, -1]}))
    assert run_bounds([model, "--domain", str(box), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got = [(Fraction(o["min"]), Fraction(o["max"])) for o in doc["outputs"]]
    assert got == [(2, 6), (-3, -1), (1, 3)]
    exact = exact_net(load_network(model))
    for o in doc["outputs"]:                            # the reported inputs attain them, in rationals
        j = int(o["name"][1:]) - 1                     # outputs are named y1..ym
        for key, want in (("argmin", o["min"]), ("argmax", o["max"])):
            x = np.array([[Fraction(v) for v in o[key]]], dtype=object)
            assert exact.forward(x)[0, j] == Fraction(want)
    assert run_bounds([model, "--domain", str(box)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("y1: [2.0, 6.0]")


def _exact_vertex_ranges(net: ReluNet, domain: Domain) -> list[tuple[Fraction, Fraction]]:
    shallow = compile_network(net, domain)
    exact = exact_net(net)
    values = []
    for a in range(shallow.num_cells):
        for v in cell_vertices(shallow, a):
            values.append(exact.forward(np.array([v], dtype=object))[0])
    return [(min(col), max(col)) for col in zip(*values)]


@pytest.mark.parametrize("seed,d,widths,fixed", [(0, 2, [6, 5], False), (1, 2, [4, 4, 4], False),
                                                  (2, 3, [5, 4], False), (3, 3, [6, 6], True)])
def test_bounds_equal_min_max_over_cell_vertices(seed, d, widths, fixed) -> None:
    net = random_mlp(d, widths, 2, seed=seed)
    lo, hi = -np.ones(d), np.ones(d) * 0.75
    if fixed:
        lo[1] = hi[1] = 0.25                                  # a lower-dimensional box
    domain = Domain.box(lo, hi)
    ranges = output_bounds(net, domain)
    truth = _exact_vertex_ranges(net, domain)
    samples = net.forward(domain.sample(20_000, np.random.default_rng(seed)))
    for r, (mn, mx), col in zip(ranges, truth, samples.T):
        assert r.status == "exact"
        assert abs(r.minimum - float(mn)) <= 1e-9 * (1 + abs(float(mn)))
        assert abs(r.maximum - float(mx)) <= 1e-9 * (1 + abs(float(mx)))
        assert col.min() >= r.minimum and col.max() <= r.maximum          # sampling never exceeds
        assert domain.contains(r.argmin[None])[0] and domain.contains(r.argmax[None])[0]
        j = int(r.name[2:])
        assert net.forward(r.argmin[None])[0, j] == r.minimum
        assert net.forward(r.argmax[None])[0, j] == r.maximum


def test_bounds_on_a_polytope_domain_and_objectives() -> None:
    net = random_mlp(2, [5, 5], 2, seed=7)
    triangle = Domain.polytope([[-1, 0], [0, -1], [1, 1]], [0, 0, 1])
    (r,) = output_bounds(net, triangle, [parse_objective("Y_0 - 2*Y_1", 2)])
    shallow = compile_network(net, triangle)
    exact = exact_net(net)
    values = [exact.forward(np.array([v], dtype=object))[0] for a in range(shallow.num_cells)
              for v in cell_vertices(shallow, a)]
    combo = [y0 - 2 * y1 for y0, y1 in values]
    assert abs(r.minimum - float(min(combo))) <= 1e-9 and abs(r.maximum - float(max(combo))) <= 1e-9
    X = np.random.default_rng(0).dirichlet(np.ones(3), 20_000)[:, :2]          # uniform in the triangle
    sampled = net.forward(X) @ np.array([1.0, -2.0])
    assert r.minimum <= sampled.min() and sampled.max() <= r.maximum
    assert triangle.contains(r.argmin[None], tol=1e-9)[0] and triangle.contains(r.argmax[None], tol=1e-9)[0]


def test_parse_objective_errors() -> None:
    assert parse_objective("-Y_1 + 3 * Y_0", 2)[1].tolist() == [3.0, -1.0]
    for bad in ("Y_0 *", "Y_0 Y_1", "2", "Y_7", ""):
        with pytest.raises(UserError):
            parse_objective(bad, 2)


# ------------------------------------------------------------------------------------------------
# Domains from VNN-LIB
# ------------------------------------------------------------------------------------------------

def test_domain_from_vnnlib() -> None:
    d4 = domain_from_vnnlib(parse_vnnlib(data_path("acasxu", "prop_4.vnnlib")))
    assert d4.kind == "box" and d4.lower[2] == d4.upper[2] == 0.0 and d4.hull().k == 4
    p6 = parse_vnnlib(data_path("acasxu", "prop_6.vnnlib"))
    with pytest.raises(UserError, match="not convex"):
        domain_from_vnnlib(p6)
    assert len(domains_from_vnnlib(p6)) == 2


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

def test_cli_violated_with_result_file(tmp_path, capsys) -> None:
    model, prop = data_path("vnncomp-test", "test_sat.onnx"), data_path("vnncomp-test", "test_prop.vnnlib")
    out = tmp_path / "result.txt"
    assert run_verify([model, prop, "--result-file", str(out)]) == 10
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "violated" and lines[1].startswith("x = [") and lines[2].startswith("y = [")
    text = out.read_text().split()
    assert text[0] == "sat"
    values = dict(zip([t.lstrip("(") for t in text[1::2]], [float(t.rstrip(")")) for t in text[2::2]]))
    x = np.array([values[f"X_{i}"] for i in range(5)])
    y = onnx_outputs(model, x)
    assert np.array_equal(y, np.array([values[f"Y_{j}"] for j in range(5)]))
    assert parse_vnnlib(prop).violated_by(x, y, tol=1e-6)


def test_cli_holds_json_and_timeout(tmp_path, capsys) -> None:
    model, prop = data_path("vnncomp-test", "test_unsat.onnx"), data_path("vnncomp-test", "test_prop.vnnlib")
    out = tmp_path / "result.txt"
    assert run_verify([model, prop, "--json", "--result-file", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "holds" and "counterexample" not in doc and out.read_text() == "unsat\n"
    hard = data_path("acasxu", ACAS.format("3_3"))
    assert run_verify([hard, data_path("acasxu", "prop_2.vnnlib"), "--timeout", "0.3", "--result-file", str(out)]) == 20
    assert capsys.readouterr().out.startswith("unknown\n") and out.read_text() == "timeout\n"


def test_cli_jobs_share_a_long_search_and_keep_the_timeout(tmp_path, capsys) -> None:
    """ACAS Xu 3_3 prop_2 (55k boxes) with --jobs 2: a timeout inside the worker processes
    still answers within T + 2 s; --jobs 0 is a usage error; 4_2 prop_2 holds on 2 processes."""
    import time
    hard, prop = data_path("acasxu", ACAS.format("3_3")), data_path("acasxu", "prop_2.vnnlib")
    start = time.perf_counter()
    assert run_verify([hard, prop, "--timeout", "3", "--jobs", "2", "-q"]) == 20
    assert time.perf_counter() - start < 3 + 2
    assert capsys.readouterr().out.startswith("unknown\n")
    assert run_verify([hard, prop, "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err
    assert run_verify([data_path("acasxu", ACAS.format("4_2")), prop, "--jobs", "2", "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "holds" and doc["stats"]["parallel_pieces"] > 1


def test_console_script_with_jobs_ends_its_workers_quietly() -> None:
    """The worker processes of ``verify --jobs 2`` end with the search (SIGTERM from the pool):
    nothing on stderr, where they used to print the parent's cleanup handler's traceback."""
    import shutil
    import subprocess
    script = shutil.which("relucompile")
    if script is None:
        pytest.skip("the relucompile console script is not on PATH")
    done = subprocess.run([script, "verify", data_path("acasxu", ACAS.format("4_2")),
                           data_path("acasxu", "prop_2.vnnlib"), "--jobs", "2", "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "holds\n"
    assert done.stderr == "", done.stderr


def test_cli_help_documents_exit_codes(capsys) -> None:
    assert run_verify(["--help"]) == 0
    text = capsys.readouterr().out
    for needle in ("--time-limit", "--json", "--result-file", "0 holds", "10 violated", "20 unknown", "e.g."):
        assert needle in text
    assert run_bounds(["--help"]) == 0
    text = capsys.readouterr().out
    for needle in ("--box", "--domain", "--vnnlib", "--objective", "exit codes", "e.g."):
        assert needle in text


BAD_VNNLIB = {
    "unbalanced": ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1)\n", 3, "unbalanced"),
    "unknown variable": ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1))\n"
                         "(assert (>= X_0 0))\n(assert (<= Y_3 0))\n", 5, "Y_3"),
    "non-linear": ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1))\n"
                   "(assert (>= X_0 0))\n(assert (<= (* Y_0 Y_0) 1))\n", 5, "non-linear"),
    "empty box": ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 0))\n"
                  "(assert (>= X_0 1))\n(assert (<= Y_0 1))\n", 4, "empty input box"),
}


@pytest.mark.parametrize("kind", sorted(BAD_VNNLIB))
def test_cli_malformed_vnnlib_exit_2(kind, tmp_path, capsys) -> None:
    text, line, needle = BAD_VNNLIB[kind]
    prop = tmp_path / "bad.vnnlib"
    prop.write_text(text)
    out = tmp_path / "result.txt"
    model = data_path("vnncomp-test", "test_nano.onnx")
    assert run_verify([model, str(prop), "--result-file", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and "Traceback" not in err
    assert err.startswith(f"relucompile: error: {prop}:{line}: ") and needle in err
    assert not out.exists()


@pytest.mark.parametrize("argv,needle", [
    (["{model}", "{acas_prop}"], "the model has 1 input and 1 output"),
    (["missing.onnx", "{prop}"], "no such file"),
    (["{model}", "{prop}", "--timeout", "-1"], "--time-limit"),
    (["{model}", "{prop}", "--result-file", "/nonexistent/dir/r.txt"], "does not exist"),
])
def test_cli_user_errors_exit_2(argv, needle, capsys) -> None:
    subst = {"model": data_path("vnncomp-test", "test_nano.onnx"), "prop": data_path("vnncomp-test", "test_nano.vnnlib"),
             "acas_prop": data_path("acasxu", "prop_1.vnnlib")}
    assert run_verify([a.format(**subst) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err and err.startswith("relucompile")


# ------------------------------------------------------------------------------------------------
# Soundness of the bounds the search prunes with
# ------------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.integers(1, 4), depth=st.integers(1, 3), m=st.integers(1, 3))
def test_bounds_hold_at_sampled_points(seed, d, depth, m) -> None:
    """Pre-activation bounds (also when refined from a parent box), linear row bounds, gradient
    bounds and the triangle LP never exceed what the network does at sampled points."""
    from relucompile.ir.network import with_output_rows
    from relucompile.verify.bounds import (gradient_magnitude, output_gradients, output_lower_bounds,
                                           preactivation_bounds)
    from relucompile.verify.lp_relaxation import triangle_lp
    rng = np.random.default_rng(seed)
    net = random_mlp(d, [int(w) for w in rng.integers(2, 9, depth)], m, seed=seed)
    k = int(rng.integers(1, 4))
    spec = with_output_rows(net, rng.normal(size=(k, m)), rng.normal(size=(k, d)) * (rng.random() < 0.3),
                            rng.normal(size=k))
    root_lo, root_hi = -rng.uniform(0.1, 2, d), rng.uniform(0.1, 2, d)
    a, b = rng.uniform(root_lo, root_hi, (2, 6, d))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    lo[0], hi[0] = root_lo, root_hi
    parent = [(np.repeat(x, 6, 0), np.repeat(y, 6, 0)) for x, y in preactivation_bounds(spec, root_lo[None], root_hi[None])]
    for bounds in (preactivation_bounds(spec, lo, hi), preactivation_bounds(spec, lo, hi, parent)):
        low, A, c = output_lower_bounds(spec, lo, hi, bounds)
        for n in range(6):
            X = np.vstack([lo[n] + rng.random((400, d)) * (hi[n] - lo[n]), lo[n], hi[n]])
            r, pre = spec.forward(X, return_preactivations=True)
            for z, (lb, ub) in zip(pre, bounds):
                assert np.all(z >= lb[n]) and np.all(z <= ub[n])
            assert np.all(r >= low[n]) and np.all(r >= X @ A[n].T + c[n] - 1e-9)
            rows = np.zeros(len(X), int)
            bound = gradient_magnitude(spec, [(lb[n:n + 1], ub[n:n + 1]) for lb, ub in bounds], np.zeros(1, int))[0]
            assert np.all(np.abs(output_gradients(spec, X, rows)) <= bound + 1e-9)
            (t, x), = triangle_lp(spec, lo[n], hi[n], [(lb[n], ub[n]) for lb, ub in bounds], [np.arange(k)])
            assert t <= r.max(axis=1).min()


def test_constraints_on_inputs_and_cases_without_output_constraints() -> None:
    net = random_mlp(2, [4], 2, seed=0)
    head = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
            "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))")
    always = parse_vnnlib_text(head + "(assert (or (and (<= X_1 1) (>= Y_0 1000)) (and (<= X_1 0.5))))")
    result = verify_property(net, always)
    assert result.verdict == "violated" and result.case == 1 and result.x[1] <= 0.5
    mixed = parse_vnnlib_text(head + "(assert (<= X_1 1))(assert (<= (- Y_0 (* 1000 X_0)) -100))")
    result = verify_property(net, mixed)
    assert result.verdict == "violated" and result.y[0] - 1000 * result.x[0] <= -100
