"""Equations (backends/equations.py): the exact formats ARE the network on the domain, the text
and LaTeX formats are golden-tested on a net whose cells are known by hand.

* SymPy: each output's Piecewise, evaluated in rationals at random points and at every cell
  vertex, equals the deep net evaluated exactly; lambdify gives the float net.
* SMT-LIB: z3 proves f_smt(x) = deep(x) for all x in the domain (unsat of the difference) with
  the deep net encoded here through z3's Python API (relu as If); cvc5 reads the file as well.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
import sympy
import z3

from relucompile.backends.equations import (format_for_path, normalised_inequality, python_names, render_equations,
                                smt_symbol, volume_shares, write_equations, _cells_of)
from relucompile.analysis.cells import uniform_points
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.errors import UserError
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.passes.lowering import exact_net
from relucompile.shallow.net import build_shallow
from conftest import data_path
from exact_tools import cell_vertices, random_rational_points
from relucompile.api.compile import compile_model
from relucompile.examples.random_nets import random_mlp

# -- a net whose cells are known by hand ----------------------------------------------------------
# h1 = relu(x1 - 1/2), h2 = relu(x2 + 1/4);  y1 = h1 - h2,  y2 = 2 h1 + h2 - 1  on [-1, 1]^2.
# Four cells: x1 <> 1/2 times x2 <> -1/4, areas 1.5*1.25, 1.5*0.75, 0.5*1.25, 0.5*0.75 of 4.


def hand_net() -> ReluNet:
    return ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.0], [0.0, 1.0]])}, np.array([-0.5, 0.25]))],
                   AffineLayer({1: np.array([[1.0, -1.0], [2.0, 1.0]])}, np.array([0.0, -1.0])))


def hand_shallow():
    shallow = build_shallow(hand_net(), enumerate_regions(hand_net(), Domain.box([-1, -1], [1, 1])))
    # the tie-break sides below follow from where the reference point lies (DESIGN.md section 2)
    assert shallow.p[0] < 0.5 and shallow.p[1] < -0.25, "reference point moved: update the golden strings"
    return shallow


GOLDEN_TEXT = """\
# equations of the network (relucompile): on each cell, each output is one affine formula
# domain: -1 <= x1 <= 1, -1 <= x2 <= 1
# 4 cell(s), 2 output(s); largest share of the domain's volume first (exact lengths/areas)
# numbers to 6 significant digits; float64 values: the regions JSON (--regions); exact rationals: --format sympy or smtlib
# conditions are half-open: every point of the domain meets those of exactly one cell

cell {a} (46.88% of the domain)
  if   x1 <= 0.5
       x2 > -0.25
  then y1 = -x2 - 0.25
       y2 = x2 - 0.75

cell {b} (28.12% of the domain)
  if   x1 <= 0.5
       x2 <= -0.25
  then y1 = 0
       y2 = -1

cell {c} (15.62% of the domain)
  if   x1 > 0.5
       x2 > -0.25
  then y1 = x1 - x2 - 0.75
       y2 = 2*x1 + x2 - 1.75

cell {d} (9.375% of the domain)
  if   x1 > 0.5
       x2 <= -0.25
  then y1 = x1 - 0.5
       y2 = 2*x1 - 2
"""

GOLDEN_LATEX = r"""% equations of the network (relucompile)
\documentclass{article}
\usepackage{amsmath}
\usepackage{amssymb}
\usepackage[landscape, margin=1.5cm]{geometry}
\begin{document}
\noindent Equations of \texttt{the network} on the domain $-1 \le \rho \le 1,\ -1 \le \theta \le 1$:
4 cell(s), largest share of the domain's volume first (exact lengths/areas); numbers to 3 significant digits. Conditions are half-open: every point of the domain meets those of exactly one cell.

\[
y_{1} = \begin{cases}
  -\theta - 0.25 & \text{cell {a} (46.88\%): } \begin{array}[t]{@{}l@{}}\rho \le 0.5,\\ \theta > -0.25\end{array} \\
  0 & \text{cell {b} (28.12\%): } \begin{array}[t]{@{}l@{}}\rho \le 0.5,\\ \theta \le -0.25\end{array} \\
  \rho - \theta - 0.75 & \text{cell {c} (15.62\%): } \begin{array}[t]{@{}l@{}}\rho > 0.5,\\ \theta > -0.25\end{array} \\
  \rho - 0.5 & \text{cell {d} (9.375\%): } \begin{array}[t]{@{}l@{}}\rho > 0.5,\\ \theta \le -0.25\end{array}
\end{cases}
\]

\[
\mathit{score} = \begin{cases}
  \theta - 0.75 & \text{cell {a} (46.88\%): } \begin{array}[t]{@{}l@{}}\rho \le 0.5,\\ \theta > -0.25\end{array} \\
  -1 & \text{cell {b} (28.12\%): } \begin{array}[t]{@{}l@{}}\rho \le 0.5,\\ \theta \le -0.25\end{array} \\
  2 \rho + \theta - 1.75 & \text{cell {c} (15.62\%): } \begin{array}[t]{@{}l@{}}\rho > 0.5,\\ \theta > -0.25\end{array} \\
  2 \rho - 2 & \text{cell {d} (9.375\%): } \begin{array}[t]{@{}l@{}}\rho > 0.5,\\ \theta \le -0.25\end{array}
\end{cases}
\]

\end{document}
"""


def _cell_ids(shallow) -> dict[str, int]:
    """Cell ids of the hand net's four cells (ids depend on enumeration order, the cells do not)."""
    ids = {}
    for a, cell in enumerate(shallow.regions.cells):
        x1, x2 = cell.interior
        ids["abcd"[(2 if x1 > 0.5 else 0) + (0 if x2 > -0.25 else 1)]] = a
    return ids


def test_text_golden() -> None:
    shallow = hand_shallow()
    assert render_equations(shallow, "text") == GOLDEN_TEXT.format(**_cell_ids(shallow))


def test_latex_golden_with_names() -> None:
    shallow = hand_shallow()
    text = render_equations(shallow, "latex", digits=3, input_names=["rho", "theta"], output_names=["y1", "score"])
    expected = GOLDEN_LATEX
    for key, a in _cell_ids(shallow).items():
        expected = expected.replace("{" + key + "}", str(a))
    assert text == expected


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (Debian: texlive-latex-base)")
def test_latex_compiles_without_overfull_lines(tmp_path) -> None:
    net = random_mlp(3, [6, 6], 2, 0)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0] * 3, [1.0] * 3)))
    text = render_equations(shallow, "latex", input_names=["rho", "v_own", "x3"])
    assert text.count("\\begin{cases}") > 2 * net.m   # long outputs continue in further displays
    (tmp_path / "eq.tex").write_text(text)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "eq.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Overfull" not in (tmp_path / "eq.log").read_text()


def test_digits_round_numbers() -> None:
    net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.array([-1 / 3]))],
                  AffineLayer({1: np.array([[2 / 3]])}, np.zeros(1)))
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1], [1])))
    assert "y1 = 0.667*x1 - 0.222" in render_equations(shallow, "text", digits=3)
    assert "x1 > 0.33333" in render_equations(shallow, "text", digits=5)


# -- SymPy: exact at random points and at every cell vertex ----------------------------------------

def _deep(net: ReluNet):
    exact = exact_net(net)
    return lambda x: list(exact.forward(np.array([x], dtype=object))[0])


def _load_sympy(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, "<equations>", "exec"), namespace)
    return namespace


def _cases() -> list[tuple[str, ReluNet, Domain]]:
    cases = []
    for d, widths, m, seed in [(1, [5, 4], 2, 1), (2, [5, 4], 2, 2), (3, [4, 3], 1, 3), (2, [3, 3, 3], 3, 4)]:
        cases.append((f"random d{d} {widths} m{m}", random_mlp(d, widths, m, seed), Domain.box([-1.0] * d, [1.0] * d)))
    net = random_mlp(3, [4, 3], 2, 5)
    cases.append(("random d3, x1 fixed", net, Domain.box([0.25, -1.0, -1.0], [0.25, 1.0, 1.0])))
    return cases


@pytest.mark.parametrize("case", range(5))
def test_sympy_equals_deep_net_exactly(case: int) -> None:
    _name, net, domain = _cases()[case]
    shallow = build_shallow(net, enumerate_regions(net, domain))
    _check_sympy(shallow, net, np.random.default_rng(case))


def _check_sympy(shallow, net: ReluNet, rng: np.random.Generator, n_random: int = 25,
                 text: str | None = None) -> None:
    ns = _load_sympy(text or render_equations(shallow, "sympy"))
    symbols, outputs = ns["inputs"], list(ns["outputs"].values())
    deep = _deep(net)
    if shallow.domain.kind == "reals":
        points = [[Fraction(int(v), 8) for v in rng.integers(-80, 81, net.d)] for _ in range(n_random)]
    else:
        points = random_rational_points(shallow.domain, n_random, rng)
        for a in range(shallow.num_cells):
            points += cell_vertices(shallow, a)
    points = list({tuple(x): list(x) for x in points}.values())   # vertices are shared by cells
    assert len(outputs) == net.m
    for x in points:
        env = {s: sympy.Rational(v.numerator, v.denominator) for s, v in zip(symbols, x)}
        got = [y.xreplace(env) for y in outputs]
        want = deep(x)
        assert all(isinstance(g, sympy.Rational) for g in got), (x, got)
        assert [Fraction(int(g.p), int(g.q)) for g in got] == want, x
    # lambdify-able, and the float function agrees with the float net
    X = shallow.domain.sample(500, rng)
    for j, y in enumerate(outputs):
        f = sympy.lambdify(symbols, y, "numpy")
        got = np.broadcast_to(f(*X.T), (X.shape[0],))
        assert np.allclose(got, net.forward(X)[:, j], rtol=1e-9, atol=1e-9)


def test_sympy_fc_2_2_3_on_boxes_and_reals() -> None:
    path = data_path("marabou", "fc_2-2-3.onnx")
    rng = np.random.default_rng(7)
    for domain in (Domain.box([3.0, -2.0], [4.0, -1.0]), Domain.box([-4.0, -4.0], [4.0, 4.0]), None):
        shallow = compile_model(path, domain)
        _check_sympy(shallow, shallow.net, rng)
    text = render_equations(shallow, "sympy")
    assert "domain = true" in text and "Not(domain)" not in text  # R^2: no domain guard


def test_sympy_check_catches_a_wrong_coefficient() -> None:
    """The check above can fail: one coefficient changed in one cell's map is found."""
    shallow = hand_shallow()
    text = render_equations(shallow, "sympy")
    assert text.count("(2*x1 - 2, cells[") == 1
    wrong = text.replace("(2*x1 - 2, cells[", "(2*x1 - 3, cells[")
    with pytest.raises(AssertionError):
        _check_sympy(shallow, hand_net(), np.random.default_rng(0), text=wrong)


def test_sympy_is_nan_outside_the_domain() -> None:
    ns = _load_sympy(render_equations(hand_shallow(), "sympy"))
    x1, x2 = ns["inputs"]
    assert ns["outputs"]["y1"].xreplace({x1: sympy.Rational(3, 2), x2: 0}) is sympy.nan
    assert ns["outputs"]["y1"].xreplace({x1: sympy.Rational(3, 4), x2: sympy.Rational(-1, 2)}) == sympy.Rational(1, 4)


# -- SMT-LIB: z3 proves equality with an independent encoding of the deep net ------------------------

def z3_number(v: Fraction) -> z3.ArithRef:
    return z3.RealVal(f"{v.numerator}/{v.denominator}")


def z3_deep(net: ReluNet, xs: list) -> list:
    """The deep net in z3's Python API: exact weights, relu as If."""
    exact = exact_net(net)
    blocks = [xs]

    def affine(layer: AffineLayer) -> list:
        out = []
        for k in range(layer.size):
            total = z3_number(layer.bias[k])
            for b, W in layer.weights.items():
                terms = [z3_number(W[k, i]) * v for i, v in enumerate(blocks[b]) if W[k, i] != 0]
                total = total + z3.Sum(terms or [z3.RealVal(0)])
            out.append(total)
        return out

    for layer in exact.layers:
        blocks.append([z3.If(z > 0, z, z3.RealVal(0)) for z in affine(layer)])
    return affine(exact.output)


def _smt_problem(text: str, d: int, m: int, names: list[str] | None = None, functions: list[str] | None = None) -> str:
    """The equations plus: x in the domain, o_j = f_j(x)."""
    names = names or [f"x{i + 1}" for i in range(d)]
    functions = functions or [f"y{j + 1}" for j in range(m)]
    xs = " ".join(smt_symbol(v) for v in names)
    extra = [f"(declare-const {smt_symbol(v)} Real)" for v in names]
    extra += [f"(declare-const o{j} Real)" for j in range(m)]
    extra.append(f"(assert (in_domain {xs}))")
    extra += [f"(assert (= o{j} ({smt_symbol(f)} {xs})))" for j, f in enumerate(functions)]
    return text + "\n".join(extra) + "\n"


def _z3_differs(text: str, net: ReluNet, names: list[str] | None = None) -> z3.CheckSatResult:
    names = names or [f"x{i + 1}" for i in range(net.d)]
    solver = z3.Solver()
    solver.set("timeout", 30_000)
    solver.add(z3.parse_smt2_string(_smt_problem(text, net.d, net.m, names)))
    xs = [z3.Real(v) for v in names]
    deep = z3_deep(net, xs)
    solver.add(z3.Or([z3.Real(f"o{j}") != deep[j] for j in range(net.m)]))
    return solver.check()


def dyadic_mlp(d: int, widths: list[int], m: int, seed: int) -> ReluNet:
    """random_mlp with every weight rounded to a multiple of 1/8.  z3's simplex slows down with
    the size of the rationals: float32 weights make 100-bit rationals after two layers (a d = 3,
    8-ReLU net with 71 cells took over 60 s; with these weights 0.6 s)."""
    net = random_mlp(d, widths, m, seed)
    def q(layer: AffineLayer) -> AffineLayer:
        return AffineLayer({b: np.round(W * 8) / 8 for b, W in layer.weights.items()}, np.round(layer.bias * 8) / 8)

    return ReluNet(d, [q(L) for L in net.layers], q(net.output))


@pytest.mark.parametrize("d,seed", [(1, 11), (2, 12), (3, 13)])
def test_z3_proves_smtlib_equals_deep_net(d: int, seed: int) -> None:
    net = dyadic_mlp(d, [4, 4], 2, seed)   # 8 ReLUs
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-2.0] * d, [2.0] * d)))
    assert shallow.num_cells >= 5
    text = render_equations(shallow, "smtlib")
    assert _z3_differs(text, net) == z3.unsat
    # the proof can fail: a coefficient off by 2^-20 in one cell is found
    lines = text.splitlines()
    first_value = next(i for i, line in enumerate(lines) if line.startswith("  (ite")) + 1
    lines[first_value] = f"    (+ {lines[first_value].strip()} (/ 1.0 1048576.0))"
    assert _z3_differs("\n".join(lines) + "\n", net) == z3.sat


@pytest.mark.parametrize("domain", [Domain.reals(2), Domain.polytope([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], [1.0, 0, 0])],
                         ids=["reals", "triangle"])
def test_z3_proves_on_unbounded_and_polytope_domains(domain: Domain) -> None:
    net = dyadic_mlp(2, [4, 4], 2, 5)
    shallow = build_shallow(net, enumerate_regions(net, domain))
    assert _z3_differs(render_equations(shallow, "smtlib"), net) == z3.unsat


def test_z3_proves_float32_weights() -> None:
    """float32 weights: exact rationals with long numerators and denominators."""
    net = random_mlp(3, [3, 3], 2, 13)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-2.0] * 3, [2.0] * 3)))
    assert shallow.num_cells >= 10
    assert _z3_differs(render_equations(shallow, "smtlib"), net) == z3.unsat


def test_z3_proves_fc_2_2_3() -> None:
    shallow = compile_model(data_path("marabou", "fc_2-2-3.onnx"), Domain.box([-4.0, -4.0], [4.0, 4.0]))
    assert shallow.num_cells == 2   # its two ReLUs read x1 + x2 and -(x1 + x2): one line
    names = ["a", "b"]
    text = render_equations(shallow, "smtlib", input_names=names, output_names=["u", "v", "w"])
    solver = z3.Solver()
    solver.add(z3.parse_smt2_string(_smt_problem(text, 2, 3, names, ["u", "v", "w"])))
    deep = z3_deep(shallow.net, [z3.Real("a"), z3.Real("b")])
    solver.add(z3.Or([z3.Real(f"o{j}") != deep[j] for j in range(3)]))
    assert solver.check() == z3.unsat


def test_z3_in_domain_is_the_box_and_quoted_names() -> None:
    net = random_mlp(2, [3], 1, 21)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0, 0.5], [2.0, 0.75])))
    names = ["v own", "psi"]
    text = render_equations(shallow, "smtlib", input_names=names)
    assert "(define-fun in_domain ((|v own| Real) (psi Real)) Bool" in text
    assert _z3_differs(text, net, names) == z3.unsat
    solver = z3.Solver()
    solver.add(z3.parse_smt2_string(text + "(declare-const a Real)(declare-const b Real)"
                                    "(assert (distinct (in_domain a b) (and (<= -1.0 a 2.0) (<= 0.5 b 0.75))))"))
    assert solver.check() == z3.unsat


def _cvc5_run(text: str) -> list[str]:
    cvc5 = pytest.importorskip("cvc5")
    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    symbols = cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(solver, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "equations")
    answers = []
    while True:
        command = parser.nextCommand()
        if command.isNull():
            return answers
        out = command.invoke(solver, symbols).strip()
        if out:
            answers.append(out)


def test_cvc5_reads_smtlib_and_bounds_the_output() -> None:
    """y1 = relu(x1 - 1/2) - relu(x2 + 1/4) is at most 1/2 on [-1, 1]^2, reached at (1, -1/4)."""
    text = render_equations(hand_shallow(), "smtlib")
    ask = ("(declare-const x1 Real)(declare-const x2 Real)(assert (in_domain x1 x2))"
           "(assert (> (y1 x1 x2) {}))(check-sat)")
    assert _cvc5_run(text + ask.format("(/ 1.0 2.0)")) == ["unsat"]
    assert _cvc5_run(text + ask.format("(/ 49.0 100.0)")) == ["sat"]


def _smt_deep_text(net: ReluNet) -> str:
    """The deep net as SMT-LIB text (for cvc5), written independently of the backend."""
    exact = exact_net(net)

    def num(v: Fraction) -> str:
        body = f"(/ {abs(v.numerator)}.0 {v.denominator}.0)"
        return f"(- {body})" if v < 0 else body

    lines, blocks = [], [[f"x{i + 1}" for i in range(net.d)]]
    for l, layer in enumerate(exact.layers + [exact.output]):
        names = []
        for k in range(layer.size):
            terms = [num(layer.bias[k])] + [f"(* {num(W[k, i])} {v})" for b, W in layer.weights.items()
                                            for i, v in enumerate(blocks[b])]
            z = f"(+ {' '.join(terms)})"
            name = f"z{l}_{k}"
            last = l == len(exact.layers)
            lines.append(f"(define-fun {name} () Real {z if last else f'(ite (> {z} 0.0) {z} 0.0)'})")
            names.append(name)
        blocks.append(names)
    return "\n".join(lines), blocks[-1]


def test_cvc5_proves_smtlib_equals_deep_net() -> None:
    net = random_mlp(2, [4, 4], 1, 31)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-2.0, -2.0], [2.0, 2.0])))
    text = render_equations(shallow, "smtlib")
    deep, outs = _smt_deep_text(net)
    problem = (text + "(declare-const x1 Real)(declare-const x2 Real)(assert (in_domain x1 x2))\n" + deep
               + f"\n(assert (distinct (y1 x1 x2) {outs[0]}))(check-sat)")
    assert _cvc5_run(problem) == ["unsat"]


# -- volume shares, ordering, files, errors ---------------------------------------------------------

def test_volume_shares_methods() -> None:
    shares, method = volume_shares(hand_shallow())
    assert method == "exact" and sorted(shares.round(12).tolist()) == [0.09375, 0.15625, 0.28125, 0.46875]
    net = random_mlp(3, [5, 4], 1, 41)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0] * 3, [1.0] * 3)))
    shares, method = volume_shares(shallow, samples=20_000)
    assert method == "sampled" and abs(shares.sum() - 1) < 1e-12
    assert volume_shares(build_shallow(net, enumerate_regions(net, Domain.reals(3)))) == (None, "unbounded")


def test_monte_carlo_agrees_with_exact_areas() -> None:
    net = random_mlp(2, [6, 5], 1, 42)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0, -1.0], [1.0, 1.0])))
    exact, method = volume_shares(shallow)
    assert method == "exact"
    n = 40_000
    X = uniform_points(shallow.domain, n, np.random.default_rng(0))
    mc = np.bincount(_cells_of(shallow, X), minlength=shallow.num_cells) / n
    sigma = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(mc - exact) <= 5 * sigma + 1e-12)


def test_polytope_domain_shares_and_sympy() -> None:
    net = random_mlp(2, [4, 3], 1, 43)
    domain = Domain.polytope([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], [1.0, 0.0, 0.0])   # triangle
    shallow = build_shallow(net, enumerate_regions(net, domain))
    shares, method = volume_shares(shallow)
    assert method == "exact" and abs(shares.sum() - 1) < 1e-12
    ns = _load_sympy(render_equations(shallow, "sympy"))
    x1, x2 = ns["inputs"]
    inside = {x1: sympy.Rational(1, 5), x2: sympy.Rational(1, 3)}
    assert Fraction(str(ns["outputs"]["y1"].xreplace(inside))) == _deep(net)([Fraction(1, 5), Fraction(1, 3)])[0]
    assert ns["outputs"]["y1"].xreplace({x1: sympy.Rational(2, 3), x2: sympy.Rational(2, 3)}) is sympy.nan


def test_cells_listed_by_id_on_unbounded_domain() -> None:
    net = random_mlp(2, [4], 1, 44)
    shallow = build_shallow(net, enumerate_regions(net, Domain.reals(2)))
    text = render_equations(shallow, "text")
    assert [int(v) for v in re.findall(r"^cell (\d+)", text, re.M)] == list(range(shallow.num_cells))
    assert "domain: all of R^2" in text and "% of the domain" not in text


def test_normalised_inequality_is_exact_and_keeps_the_half_space() -> None:
    q = normalised_inequality([Fraction(1, 3), Fraction(-2, 3)], Fraction(1, 6), closed=False)
    assert (q.coeffs, q.op, q.rhs) == ([Fraction(-1, 2), Fraction(1)], ">", Fraction(1, 4))
    # x/3 - 2y/3 + 1/6 < 0  <=>  -x/2 + y > 1/4
    for x, y in [(Fraction(0), Fraction(1)), (Fraction(1), Fraction(0)), (Fraction(0), Fraction(1, 4))]:
        assert (x / 3 - 2 * y / 3 + Fraction(1, 6) < 0) == (-x / 2 + y > Fraction(1, 4))


def test_format_for_path_and_write(tmp_path) -> None:
    assert [format_for_path(p) for p in ("a.txt", "b.TEX", "c.py", "d.smt2", "e.onnx")] == \
        ["text", "latex", "sympy", "smtlib", None]
    shallow = hand_shallow()
    path = tmp_path / "rules.smt2"
    assert write_equations(shallow, str(path)) == "smtlib"
    assert path.read_text().startswith("; Exact")
    with pytest.raises(UserError, match="cannot tell the equation format"):
        write_equations(shallow, str(tmp_path / "rules.out"))
    assert not (tmp_path / "rules.out").exists()


@pytest.mark.parametrize("kwargs,message", [
    ({"fmt": "html"}, "unknown equation format"),
    ({"fmt": "text", "input_names": ["a"]}, "2 input name"),
    ({"fmt": "text", "output_names": ["a", "a"]}, "distinct"),
    ({"fmt": "text", "input_names": ["a", "b"], "output_names": ["b", "c"]}, "overlap"),
    ({"fmt": "text", "digits": 0}, "--digits"),
    ({"fmt": "smtlib", "output_names": ["in_domain", "z"]}, "in_domain"),
])
def test_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        render_equations(hand_shallow(), **kwargs)


def test_python_names_for_odd_input_names() -> None:
    assert python_names(["x1", "2nd", "lambda", "inputs"]) == ["x1", "_2nd", "lambda_", "inputs_"]
    net = random_mlp(2, [3], 1, 45)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1.0, -1.0], [1.0, 1.0])))
    ns = _load_sympy(render_equations(shallow, "sympy", input_names=["lambda", "v own"], output_names=["Piecewise"]))
    assert [str(s) for s in ns["inputs"]] == ["lambda", "v own"] and list(ns["outputs"]) == ["Piecewise"]
