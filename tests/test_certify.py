"""Certified exactness (compiler/certify/checks.py): honest results certify, every mutation is caught.

The certifier is checked both ways: compiled regions of random nets (with planted degeneracies,
over boxes, R^d, a polytope and a lower-dimensional box) and of real models certify; deleting a
cell, changing one stored float by one ulp, flipping one pattern bit, dropping a facet or
pairing the regions with another model each make ``relucompile certify`` exit 3 naming the
right cell and check.
"""
from __future__ import annotations

import json
import os
from fractions import Fraction

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucompile.backends.regions_json import regions_document
from relucompile.certify.checks import certify_document, certify_shallow, regions_sha256
from relucompile.cli.base import ExitCode

EXIT_CERTIFY_FAILED = ExitCode.CERTIFY_FAILED
from relucompile.cli.main import main
from relucompile.ir.domain import Domain
from relucompile.ir.network import AffineLayer, ReluNet
from conftest import ROOT, data_path
from relucompile.api.compile import compile_network
from relucompile.examples.random_nets import random_mlp
from test_exactness import degenerate_mlps

EXAMPLE = os.path.join(ROOT, "compiler", "examples", "tiny_mlp.onnx")


def _certify_both_ways(net: ReluNet, domain: Domain):
    """Certify the plain compiler output (folded maps) and the --certify form (nearest)."""
    shallow = compile_network(net, domain)
    plain = certify_document(net, regions_document(shallow), maps="folded")
    assert plain.ok, plain.failure
    cert = certify_shallow(shallow)
    assert cert.ok, cert.failure
    assert cert.cells == shallow.num_cells and cert.facets == int(shallow.facet_h.size)
    again = certify_document(net, regions_document(shallow), maps="nearest")
    assert again.ok, again.failure
    return shallow, cert


@pytest.mark.parametrize("d, widths, m, seed", [(2, [6, 6], 1, 0), (2, [5, 5, 5], 2, 1), (3, [6, 5], 1, 2),
                                                (4, [5, 4], 2, 3)])
def test_random_nets_on_boxes_certify(d, widths, m, seed) -> None:
    shallow, cert = _certify_both_ways(random_mlp(d, widths, m, seed), Domain.box([-1] * d, [1] * d))
    assert cert.unit_facets + cert.shared_facets + cert.domain_facets == cert.facets
    # the stored maps are now the nearest floats of the exact maps (an independent Fraction path)
    for a in range(0, shallow.num_cells, max(1, shallow.num_cells // 10)):
        A, c = shallow.exact_affine(a)
        assert [float(v) for v in A.ravel()] == shallow.A[a].ravel().tolist()
        assert [float(v) for v in c] == shallow.c[a].tolist()


def test_all_of_rd_with_unbounded_cells() -> None:
    shallow, cert = _certify_both_ways(random_mlp(2, [4, 3], 1, seed=5), Domain.reals(2))
    assert not all(c.bounded for c in shallow.regions.cells)


def test_lower_dimensional_box_and_polytope() -> None:
    net = random_mlp(3, [5, 5], 1, seed=6)
    _certify_both_ways(net, Domain.box([-1, 0.25, -1], [1, 0.25, 1]))       # x_1 fixed, as ACAS prop_4
    _certify_both_ways(net, Domain.polytope([[1, 1, 1], [-1, 0, 0], [0, -1, 0], [0, 0, -1]], [1, 0, 0, 0]))


def test_degenerate_units_certify() -> None:
    """Duplicate, scaled-duplicate and dead units: facets where several units vanish at once
    need the exact lexicographic neighbour pattern."""
    W1 = np.array([[1.0, 0.5], [2.0, 1.0], [1.0, 0.5], [-1.0, 1.0], [0.0, 0.0]])
    b1 = np.array([0.25, 0.5, 0.25, 0.0, -1.0])
    W2 = np.array([[1.0, -1.0, 0.5, 1.0, 3.0], [0.5, 0.5, -1.0, -0.5, 1.0]])
    net = ReluNet(2, [AffineLayer({0: W1}, b1), AffineLayer({1: W2}, np.array([-0.125, 0.0]))],
                  AffineLayer({2: np.array([[1.0, -2.0]])}, np.zeros(1)))
    _certify_both_ways(net, Domain.box([-1, -1], [1, 1]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=degenerate_mlps(max_d=3, max_depth=3, max_width=6), kind=st.sampled_from(["box", "reals", "flat"]))
def test_property_nets_with_planted_degeneracies_certify(net: ReluNet, kind: str) -> None:
    """The property-test nets of test_exactness (dead, duplicate, zero, parallel, concurrent and
    corner units) over a box, all of R^d, and a box with one zero-width side."""
    d = net.d
    if kind == "box":
        domain = Domain.box([-1] * d, [1] * d)
    elif kind == "reals":
        domain = Domain.reals(d)
    else:
        domain = Domain.box([-1] * d, [1] * d)
        domain = Domain.box(np.r_[-1.0, [-1] * (d - 1)][:d] if d > 1 else [0.5], np.r_[-1.0, [1] * (d - 1)][:d]
                            if d > 1 else [0.5])
    _certify_both_ways(net, domain)


def test_point_domain_and_implicit_equality_polytope() -> None:
    net = random_mlp(2, [4, 4], 1, seed=11)
    _certify_both_ways(net, Domain.box([0.25, -0.5], [0.25, -0.5]))
    G = [[1, 1], [-1, -1], [1, 0], [-1, 0], [0, 1], [0, -1]]
    _certify_both_ways(net, Domain.polytope(G, [1, -1, 1, 1, 1, 1]))     # the segment x0 + x1 = 1


# -- real models, through the command line ----------------------------------------------------------
def _compile_certified(model: str, domain_args: list[str], tmp_path, capsys):
    out, regions = tmp_path / "s.onnx", tmp_path / "r.json"
    code = main([model, *domain_args, "-o", str(out), "--regions", str(regions), "--certify"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "certified:" in stdout
    return out, regions


def test_fc_2_2_3_and_fc1_certify_through_the_cli(tmp_path, capsys) -> None:
    box = tmp_path / "box.json"
    box.write_text(json.dumps({"lower": [3, -2], "upper": [4, -1]}))
    for model, args in ((data_path("marabou", "fc_2-2-3.onnx"), ["--domain", str(box)]),
                        (data_path("marabou", "fc1.onnx"), ["--box", "-1", "1"])):
        out, regions = _compile_certified(model, args, tmp_path, capsys)
        doc = json.loads(regions.read_text())
        stamp = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["certificate"])
        assert doc["certificate"]["ok"] and stamp["ok"]
        assert stamp["regions_sha256"] == doc["certificate"]["regions_sha256"] == regions_sha256(doc)
        assert stamp["cells"] == len(doc["cells"])
        assert main(["certify", model, str(regions), "-q"]) == 0
        assert capsys.readouterr().out.startswith("certified:")


def test_vnncomp_test_nets_certify(tmp_path, capsys) -> None:
    for name in ("test_nano.onnx", "test_tiny.onnx", "test_small.onnx"):
        _compile_certified(data_path("vnncomp-test", name), ["--box", "-1", "1"], tmp_path, capsys)


def test_plain_regions_file_certifies_in_folded_mode(tmp_path, capsys) -> None:
    regions = tmp_path / "r.json"
    assert main([EXAMPLE, "--box", "-1", "1", "-o", str(tmp_path / "s.onnx"), "--regions", str(regions), "-q"]) == 0
    assert main(["certify", EXAMPLE, str(regions), "-q"]) == 0
    assert "float-folding bound" in capsys.readouterr().out
    # the compiler's float folding is not the nearest float: nearest mode says which entry differs
    assert main(["certify", EXAMPLE, str(regions), "-q", "--maps", "nearest"]) == EXIT_CERTIFY_FAILED
    assert "check 2 (affine map)" in capsys.readouterr().out
    assert main(["certify", EXAMPLE, str(regions), "-q", "--update"]) == 0
    assert json.loads(regions.read_text())["certificate"]["maps"] == "folded"
    capsys.readouterr()
    assert main(["certify", EXAMPLE, str(regions), "-q"]) == 0      # auto mode reads the certificate


# -- mutations ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certified_example(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cert")
    regions = tmp / "r.json"
    assert main([EXAMPLE, "--box", "-1", "1", "-o", str(tmp / "s.onnx"), "--regions", str(regions), "-q",
                 "--certify"]) == 0
    return json.loads(regions.read_text())


def _certify_mutant(doc: dict, tmp_path, capsys) -> str:
    path = tmp_path / "mutant.json"
    path.write_text(json.dumps(doc))
    code = main(["certify", EXAMPLE, str(path), "-q"])
    out = capsys.readouterr().out
    assert code == EXIT_CERTIFY_FAILED, out
    assert out.startswith("certification FAILED: ")
    return out


def test_unmutated_file_certifies(certified_example, tmp_path, capsys) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(certified_example))
    assert main(["certify", EXAMPLE, str(path), "-q"]) == 0


@pytest.mark.parametrize("victim", [0, 17, 60])
def test_deleting_a_cell_fails_completeness(certified_example, victim, tmp_path, capsys) -> None:
    doc = json.loads(json.dumps(certified_example))
    del doc["cells"][victim]
    out = _certify_mutant(doc, tmp_path, capsys)
    assert "check 3 (completeness)" in out and "is not a cell of the set" in out


@pytest.mark.parametrize("cell, entry", [(3, ("A", 0, 1)), (40, ("c", 1)), (77, ("A", 1, 0))])
def test_one_ulp_in_a_map_fails(certified_example, cell, entry, tmp_path, capsys) -> None:
    doc = json.loads(json.dumps(certified_example))
    target = doc["cells"][cell][entry[0]]
    if entry[0] == "A":
        target[entry[1]][entry[2]] = float(np.nextafter(target[entry[1]][entry[2]], np.inf))
    else:
        target[entry[1]] = float(np.nextafter(target[entry[1]], -np.inf))
    out = _certify_mutant(doc, tmp_path, capsys)
    assert f"cell {cell}: check 2 (affine map)" in out and "1 ulp apart" in out


@pytest.mark.parametrize("cell, bit", [(5, 0), (30, 9), (90, 15)])
def test_flipping_a_pattern_bit_fails(certified_example, cell, bit, tmp_path, capsys) -> None:
    doc = json.loads(json.dumps(certified_example))
    pattern = doc["cells"][cell]["pattern"]
    doc["cells"][cell]["pattern"] = pattern[:bit] + ("0" if pattern[bit] == "1" else "1") + pattern[bit + 1:]
    out = _certify_mutant(doc, tmp_path, capsys)
    assert f"cell {cell}: check " in out
    assert "check 1 (cell is real)" in out or "check 0 (input)" in out   # or it repeats a neighbour's


def test_dropping_a_facet_or_moving_p_or_another_model_fails(certified_example, tmp_path, capsys) -> None:
    doc = json.loads(json.dumps(certified_example))
    unit_facet = next(i for i, (h, _) in enumerate(doc["cells"][8]["facets"])
                      if doc["hyperplanes"][h]["kind"] == "unit")
    del doc["cells"][8]["facets"][unit_facet]
    assert "cell 8: check 1 (cell is real)" in _certify_mutant(doc, tmp_path, capsys)
    doc = json.loads(json.dumps(certified_example))
    doc["cells"][12]["facets"][0][1] = not doc["cells"][12]["facets"][0][1]
    assert "cell 12: check 4 (tie-break)" in _certify_mutant(doc, tmp_path, capsys)
    doc = json.loads(json.dumps(certified_example))
    doc["model"]["sha256"] = "0" * 64
    assert "check 0 (input)" in _certify_mutant(doc, tmp_path, capsys)


def test_certify_user_errors_and_failed_compile_writes_nothing(tmp_path, capsys, monkeypatch) -> None:
    assert main(["certify", EXAMPLE, str(tmp_path / "missing.json")]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{\"schema\": \"other\"}")
    assert main(["certify", EXAMPLE, str(bad)]) == 2
    import relucompile.cli.certify as cli_certify
    from relucompile.certify.checks import Certificate
    monkeypatch.setattr(cli_certify, "certify_shallow",
                        lambda shallow, progress=None: Certificate(ok=False, failure="cell 3: check 3 (x): y"))
    out = tmp_path / "s.onnx"
    assert main([EXAMPLE, "--box", "-1", "1", "-o", str(out), "--certify", "-q"]) == EXIT_CERTIFY_FAILED
    assert "cell 3: check 3" in capsys.readouterr().err and not out.exists()


def test_certificate_agrees_with_exact_evaluation() -> None:
    """Cross-check with the shallow net's own exact evaluator at rational points."""
    net = random_mlp(2, [5, 5], 1, seed=9)
    shallow = compile_network(net, Domain.box([-1, -1], [1, 1]))
    assert certify_shallow(shallow).ok
    from relucompile.passes.lowering import exact_net
    exact = exact_net(net)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = [Fraction(int(v), 997) for v in rng.integers(-997, 998, 2)]
        want = exact.forward(np.array([x], dtype=object))[0]
        assert shallow.evaluate_exact(x) == list(want)


@pytest.mark.slow
def test_acas_xu_prop_4_certifies(tmp_path) -> None:
    """ACAS Xu 1_1 on the prop_4 box (19,143 cells, one input fixed) certifies exactly.

    Only correctness here: the certify / compile time ratio (issue 7's bound, <= 10x) is measured by
    benchmarks/certify_acas.py, on a quiet machine, not inside the test suite.
    """
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.api.compile import load_network
    model = data_path("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
    case = parse_vnnlib(data_path("acasxu", "prop_4.vnnlib")).cases[0]
    shallow = compile_network(load_network(model), Domain.box(case.lower, case.upper))
    cert = certify_shallow(shallow)
    assert cert.ok, cert.failure
    assert cert.cells == shallow.num_cells > 19_000


def test_fraction_fallback_without_python_flint(tmp_path) -> None:
    """RELUCOMPILE_NO_FLINT=1 forces the pure-Fraction arithmetic; the result is the same."""
    import subprocess
    import sys
    regions = tmp_path / "r.json"
    env = dict(os.environ, RELUCOMPILE_NO_FLINT="1", PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-m", "relucompile.cli.main", EXAMPLE, "--box", "-1", "1", "-o",
                          str(tmp_path / "s.onnx"), "--regions", str(regions), "--certify"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(regions.read_text())["certificate"]["arithmetic"] == "fractions"


def test_onnx_file_is_bound_to_the_regions_file(tmp_path, capsys) -> None:
    out, regions = _compile_certified(EXAMPLE, ["--box", "-1", "1"], tmp_path, capsys)
    assert main(["certify", EXAMPLE, str(regions), "--onnx", str(out), "-q"]) == 0
    capsys.readouterr()
    model = onnx.load(str(out))
    changed = 0
    for tensor in model.graph.initializer:   # the maps: H3_effective_A (layers layout) or _Ac (index)
        if tensor.name.endswith(("H3_effective_A", "H3_effective_Ac")):
            A = onnx.numpy_helper.to_array(tensor).copy()
            A.reshape(-1)[37] = np.nextafter(A.reshape(-1)[37], np.inf)
            tensor.CopyFrom(onnx.numpy_helper.from_array(A, tensor.name))
            changed += 1
    assert changed == 1
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    assert main(["certify", EXAMPLE, str(regions), "--onnx", str(bad), "-q"]) == EXIT_CERTIFY_FAILED
    assert "check 5 (ONNX file)" in capsys.readouterr().out


def test_a_vacuous_unit_switched_on_is_refused() -> None:
    """A unit that is identically zero under the pattern must be stored off: otherwise two
    patterns could name one region and the half-open cells would overlap."""
    W1 = np.array([[1.0, -0.5], [0.0, 0.0], [0.5, 1.0]])
    net = ReluNet(2, [AffineLayer({0: W1}, np.array([0.125, 0.0, -0.25]))],
                  AffineLayer({1: np.array([[1.0, 2.0, -1.0]])}, np.zeros(1)))
    shallow = compile_network(net, Domain.box([-1, -1], [1, 1]))
    doc = regions_document(shallow)
    assert certify_document(net, doc).ok
    pattern = doc["cells"][2]["pattern"]
    doc["cells"][2]["pattern"] = pattern[0] + "1" + pattern[2]
    cert = certify_document(net, doc)
    assert not cert.ok and "cell 2: check 1 (cell is real): layer 0 unit 1 is identically zero" in cert.failure


def test_highs_fallback_when_glpk_gives_up(monkeypatch) -> None:
    """A GLPK LP that hits its iteration limit (degenerate cycling) is re-solved by HiGHS; the
    Farkas certificates are checked exactly either way."""
    from relucompile.numeric.lp import LinearProgram, LPResult
    net = random_mlp(3, [5, 5], 1, seed=12)
    shallow = compile_network(net, Domain.box([-1] * 3, [1] * 3))
    monkeypatch.setattr(LinearProgram, "minimize", lambda self, c: LPResult("infeasible"))
    cert = certify_document(net, regions_document(shallow), maps="folded")
    assert cert.ok, cert.failure
    assert cert.farkas_certificates > 0
