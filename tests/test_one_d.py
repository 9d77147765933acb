"""The finite two-layer form of 1-D networks (compiler/analysis/one_d.py, backends/two_layer.py).

The two-layer ONNX model equals the source model in onnxruntime at 10,000 points and at every
breakpoint, with exactly K + 1 hidden units; the form equals the deep net exactly (Fractions)
at every breakpoint, between breakpoints and at random rationals, in both bases.
"""
from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import sympy
import z3

from relucompile.backends.two_layer import render_two_layer, two_layer_onnx, write_two_layer
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.errors import UserError
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.analysis.one_d import two_layer_form
from relucompile.passes.lowering import exact_net
from relucompile.shallow.net import build_shallow
from conftest import data_path
from relucompile.api.compile import compile_model, load_network
from relucompile.examples.random_nets import random_mlp, to_onnx_model


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model: onnx.ModelProto, xs: np.ndarray) -> np.ndarray:
    """Outputs (N, m) of a 1-input model at the points xs, batched when the model allows it."""
    session = _session(model)
    inp = session.get_inputs()[0]
    if isinstance(inp.shape[0], int) and int(np.prod(inp.shape)) == 1:   # fixed shape [1] (VNN-COMP)
        return np.array([np.ravel(session.run(None, {inp.name: np.array([x], np.float32).reshape(inp.shape)})[0])
                         for x in xs])
    out = session.run(None, {inp.name: xs.astype(np.float32).reshape(-1, 1)})[0]
    return out.reshape(len(xs), -1)


def _hidden_units(model: onnx.ModelProto) -> int:
    init = {t.name: t for t in model.graph.initializer}
    return int(init["relucompile/hidden_W"].dims[0])


def _deep(net: ReluNet):
    exact = exact_net(net)
    return lambda x: list(exact.forward(np.array([[Fraction(x)]], dtype=object))[0])


def _points(form, rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = form.interval
    t = [float(v) for v in form.breakpoints] or [0.0]
    a = float(lo) if lo is not None else min(t) - 5 - (max(t) - min(t))
    b = float(hi) if hi is not None else max(t) + 5 + (max(t) - min(t))
    return rng.uniform(a, b, n)


def _check_two_layer(source: onnx.ModelProto, domain: Domain | None, rng: np.random.Generator,
                     tol: float = 2e-5) -> None:
    """Two-layer ONNX vs source ONNX at 10,000 points and every breakpoint, in both bases (models
    with a fixed input shape [1] run point by point: 1,000 points for the extra bases); K + 1
    units; exact checks of the form against the deep net."""
    shallow = compile_model(source, domain)
    net = shallow.net
    one_sided = two_layer_form(shallow)
    xs = np.concatenate([_points(one_sided, rng, 10_000), [float(t) for t in one_sided.breakpoints]])
    want = _run(source, xs)
    fixed_shape = isinstance(_session(source).get_inputs()[0].shape[0], int)
    bases = [one_sided]
    if one_sided.K:
        bases += [one_sided.with_basis("two-sided"), one_sided.with_basis("two-sided", 1)]
    for n, form in enumerate(bases):
        model = two_layer_onnx(form, net.signature)
        K = form.K
        expected_units = K + 1 if K else (2 if form.interval == (None, None) and any(r[0] for r in form.slopes) else 1)
        assert _hidden_units(model) == form.num_hidden == expected_units
        assert [n.op_type for n in model.graph.node if n.op_type in ("Gemm", "Relu", "MatMul", "Add")] == \
            ["Gemm", "Relu", "Gemm"]
        keep = np.arange(len(xs)) if n == 0 or not fixed_shape else np.r_[0:1000, 10_000:len(xs)]
        got = _run(model, xs[keep])
        assert got.shape == want[keep].shape
        err = np.abs(got - want[keep])
        assert np.all(err <= tol * (1 + np.abs(want[keep]) + np.abs(xs[keep])[:, None])), err.max()
    # exact: at every breakpoint, between breakpoints, at the domain's ends and at random rationals
    deep = _deep(net)
    t = one_sided.breakpoints
    probes = list(t) + [(a + b) / 2 for a, b in zip(t, t[1:])] + [v for v in one_sided.interval if v is not None]
    lo, hi = one_sided.interval
    probes += [x for x in (Fraction(int(v), 64) for v in rng.integers(-640, 641, 20))
               if (lo is None or x >= lo) and (hi is None or x <= hi)]
    for form in bases:
        for x in probes:
            assert form.evaluate(x) == deep(x), (form.basis, form.pivot, x)
    # every listed breakpoint is real: some output's slope changes there
    assert all(any(s[i] != s[i - 1] for s in one_sided.slopes) for i in range(1, one_sided.K + 1))


def test_tiny() -> None:
    """test_tiny.onnx is relu(x): one breakpoint at 0, two hidden units."""
    source = onnx.load(data_path("vnncomp-test", "test_tiny.onnx"))
    form = two_layer_form(compile_model(source))
    assert (form.breakpoints, form.slopes, form.values) == ([Fraction(0)], [[Fraction(0), Fraction(1)]], [Fraction(0)])
    _check_two_layer(source, None, np.random.default_rng(0))
    _check_two_layer(source, Domain.box([-1.0], [1.0]), np.random.default_rng(1))


def test_small() -> None:
    """test_small.onnx: 24 x + 54.5 on [-1, 1] (K = 0, one unit); on R it is 18.5 left of -1.5."""
    source = onnx.load(data_path("vnncomp-test", "test_small.onnx"))
    on_box = two_layer_form(compile_model(source, Domain.box([-1.0], [1.0])))
    assert (on_box.K, on_box.num_hidden, on_box.slopes, on_box.values) == (0, 1, [[Fraction(24)]], [Fraction(61, 2)])
    on_reals = two_layer_form(compile_model(source))
    assert on_reals.breakpoints == [Fraction(-3, 2)] and on_reals.slopes == [[Fraction(0), Fraction(24)]]
    _check_two_layer(source, Domain.box([-1.0], [1.0]), np.random.default_rng(2))
    _check_two_layer(source, None, np.random.default_rng(3))


@pytest.mark.parametrize("widths,m,seed,box", [([8, 8], 1, 0, None), ([8, 8], 2, 1, 3.0), ([6, 6, 6], 1, 2, None),
                                               ([16], 3, 3, 2.0), ([10, 10], 2, 4, 0.5)])
def test_random_1d_nets(widths: list[int], m: int, seed: int, box: float | None) -> None:
    source = to_onnx_model(random_mlp(1, widths, m, seed))
    _check_two_layer(source, None if box is None else Domain.box([-box], [box]), np.random.default_rng(seed))


def _hand_net(hidden: list[tuple[float, float]], out: list[list[float]], bias: list[float]) -> ReluNet:
    W = np.array([[w] for w, _ in hidden])
    b = np.array([c for _, c in hidden])
    return ReluNet(1, [AffineLayer({0: W}, b)], AffineLayer({1: np.array(out)}, np.array(bias)))


def _form(net: ReluNet, domain: Domain | None = None, **kwargs):
    return two_layer_form(build_shallow(net, enumerate_regions(net, domain or Domain.reals(1))), **kwargs)


def test_collinear_cells_are_merged() -> None:
    """relu(x) + 0 relu(x - 1) + relu(x - 2): the pattern changes at 1 but the slope does not."""
    net = _hand_net([(1, 0), (1, -1), (1, -2)], [[1.0, 0.0, 1.0]], [0.0])
    shallow = build_shallow(net, enumerate_regions(net, Domain.reals(1)))
    assert shallow.num_cells == 4
    form = two_layer_form(shallow)
    assert form.breakpoints == [Fraction(0), Fraction(2)] and form.num_hidden == 3
    assert form.slopes == [[Fraction(0), Fraction(1), Fraction(2)]]


def test_affine_function_on_reals_needs_two_units() -> None:
    """relu(x) - relu(-x) = x: two cells with one map, K = 0; on R two units, on [0, 4] one."""
    net = _hand_net([(1, 0), (-1, 0)], [[1.0, -1.0]], [0.5])
    form = _form(net)
    assert form.K == 0 and form.num_hidden == 2
    assert all(form.evaluate(x) == [Fraction(x) + Fraction(1, 2)] for x in (-7, Fraction(-1, 3), 0, 5))
    half_line = _form(net, Domain.polytope([[1.0]], [4.0]))          # x <= 4
    assert half_line.units() == [(-1, Fraction(4))] and half_line.evaluate(-3) == [Fraction(-5, 2)]
    assert _form(net, Domain.box([0.0], [4.0])).units() == [(1, Fraction(0))]


def test_constant_function() -> None:
    constant = _form(_hand_net([(1, -5)], [[1.0]], [2.0]), Domain.box([-1.0], [1.0]))   # relu(x - 5) = 0 there
    assert constant.K == 0 and constant.evaluate(Fraction(1, 3)) == [Fraction(2)]
    model = two_layer_onnx(_form(_hand_net([(0, 1)], [[0.0]], [3.0])), {})   # constant on R: one zero unit
    assert _hidden_units(model) == 1 and np.allclose(_run(model, np.array([-4.0, 9.0])), 3.0)


def test_multi_output_shared_and_restricted() -> None:
    """y1 = relu(x), y2 = relu(x - 1): shared breakpoints {0, 1}; each output alone needs 2 units."""
    net = _hand_net([(1, 0), (1, -1)], [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    form = _form(net)
    assert form.breakpoints == [Fraction(0), Fraction(1)] and form.num_hidden == 3
    assert form.output_breakpoints(0) == [1] and form.output_breakpoints(1) == [2]
    deep = _deep(net)
    for j in range(2):
        alone = form.restrict(j)
        assert alone.num_hidden == 2 and alone.breakpoints == [Fraction(j)]
        assert all(alone.evaluate(x) == [deep(x)[j]] for x in (-2, 0, Fraction(1, 2), 1, 3))


def test_two_sided_basis_structure() -> None:
    """Around pivot t_p: units left of t_p face left (zero right of t_i), the rest face right."""
    source = to_onnx_model(random_mlp(1, [8, 8], 1, 5))
    shallow = compile_model(source)
    one = two_layer_form(shallow)
    assert one.K >= 4
    deep = _deep(shallow.net)
    for p in range(1, one.K + 1):
        form = one.with_basis("two-sided", p)
        units = form.units()
        assert [d for d, _ in units] == [-1] * p + [1] * (one.K + 1 - p)
        assert [t for _, t in units] == one.breakpoints[:p] + one.breakpoints[p - 1:]
        assert form.values == deep(one.breakpoints[p - 1])
        assert all(form.evaluate(x) == one.evaluate(x) for x in one.breakpoints + [Fraction(-100), Fraction(100)])


def test_user_errors() -> None:
    net2 = random_mlp(2, [3], 1, 0)
    with pytest.raises(UserError, match="1-D input"):
        two_layer_form(build_shallow(net2, enumerate_regions(net2, Domain.box([-1, -1], [1, 1]))))
    shallow = compile_model(to_onnx_model(random_mlp(1, [6], 1, 1)))
    with pytest.raises(UserError, match="unknown basis"):
        two_layer_form(shallow, "three-sided")
    with pytest.raises(UserError, match="pivot must be"):
        two_layer_form(shallow, "two-sided", 99)
    with pytest.raises(UserError, match="one-sided basis pivots on t1"):
        two_layer_form(shallow, "one-sided", 2)


# -- renderings ----------------------------------------------------------------------------------------

GOLDEN_TEXT = """\
# two-layer form of the network (relucompile): one hidden layer of 3 ReLU(s), exactly the network on the domain
# domain: -2 <= x1 <= 3
# basis: one-sided, pivot t1: f(x) = f(t1) - s0 relu(t1 - x) + s1 relu(x - t1) + sum_{i>=2} (s_i - s_{i-1}) relu(x - t_i)
# numbers to 6 significant digits; exact rationals: --format sympy or smtlib

breakpoints (K = 2):
  t1 = 0
  t2 = 1
slopes (s_i right of t_i, s0 left of t1):
  y1: s0 = 0, s1 = 2, s2 = 1
value at the pivot t1:
  y1(0) = 0.5
hidden units (K + 1 = 3):
  h1 = relu(-x1)
  h2 = relu(x1)
  h3 = relu(x1 - 1)
outputs:
  y1 = 2*h2 - h3 + 0.5
"""

GOLDEN_LATEX = r"""% two-layer form of the network (relucompile)
\documentclass{article}
\usepackage{amsmath}
\usepackage{amssymb}
\usepackage{longtable}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\begin{document}
\noindent Two-layer form of \texttt{the network} on $-2 \le t \le 3$: 3 hidden ReLU unit(s), two-sided basis around the pivot $t_{2}$; numbers to 6 significant digits. The slope $s_i$ holds right of the breakpoint $t_i$ ($s_0$ left of $t_1$).

\begin{longtable}{r|r|l}
$i$ & $t_i$ & $s_i$ of $y_{1}$ \\
\hline
0 &  & $0$ \\
1 & $0$ & $2$ \\
2 & $1$ & $1$ \\
\end{longtable}

\begin{align*}
y_{1} &= 2.5 + 2 \operatorname{relu}(-t) - 2 \operatorname{relu}(-t + 1) \\
  &\quad + \operatorname{relu}(t - 1)
\end{align*}

\end{document}
"""


def _golden_form():
    # 2 relu(x) - relu(x - 1) + 1/2 on [-2, 3]: breakpoints 0, 1; slopes 0, 2, 1
    return _form(_hand_net([(1, 0), (1, -1)], [[2.0, -1.0]], [0.5]), Domain.box([-2.0], [3.0]))


def test_text_golden() -> None:
    assert render_two_layer(_golden_form(), "text") == GOLDEN_TEXT


def test_latex_golden_two_sided() -> None:
    # pivot t2 = 1: f(1) = 2.5; 2 relu(-x) (slope 2 - 0 left of 0), -2 relu(1 - x), + relu(x - 1)
    form = _golden_form().with_basis("two-sided", 2)
    assert render_two_layer(form, "latex", input_names=["t"]) == GOLDEN_LATEX


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (Debian: texlive-latex-base)")
def test_latex_compiles_without_overfull_lines(tmp_path) -> None:
    net = random_mlp(1, [8, 8], 3, 8)
    form = two_layer_form(build_shallow(net, enumerate_regions(net, Domain.reals(1))))
    assert form.K >= 8
    (tmp_path / "two.tex").write_text(render_two_layer(form, "latex"))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "two.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Overfull" not in (tmp_path / "two.log").read_text()


def test_sympy_and_smtlib_are_exact() -> None:
    net = random_mlp(1, [6, 6], 2, 7)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box([-2.0], [2.0])))
    form = two_layer_form(shallow, "two-sided")
    deep = _deep(net)
    ns: dict = {}
    exec(render_two_layer(form, "sympy"), ns)
    x, = ns["inputs"]
    assert [sympy.Rational(t.numerator, t.denominator) for t in form.breakpoints] == ns["breakpoints"]
    for v in form.breakpoints + [Fraction(-2), Fraction(2), Fraction(1, 7)]:
        got = [y.xreplace({x: sympy.Rational(v.numerator, v.denominator)}) for y in ns["outputs"].values()]
        assert [Fraction(int(g.p), int(g.q)) for g in got] == deep(v)
    f = sympy.lambdify(ns["inputs"], ns["outputs"]["y2"], "numpy")
    X = np.linspace(-2, 2, 101)
    assert np.allclose(f(X), net.forward(X[:, None])[:, 1], atol=1e-12)
    # z3: the SMT-LIB two-layer functions equal the deep net on the domain
    solver = z3.Solver()
    solver.add(z3.parse_smt2_string(render_two_layer(form, "smtlib") + "(declare-const x1 Real)"
                                    "(declare-const o0 Real)(declare-const o1 Real)(assert (in_domain x1))"
                                    "(assert (= o0 (y1 x1)))(assert (= o1 (y2 x1)))"))
    exact = exact_net(net)
    blocks = [[z3.Real("x1")]]
    for layer in exact.layers + [exact.output]:
        (b, W), = layer.weights.items()
        z = [sum((z3.RealVal(str(W[k, i])) * v for i, v in enumerate(blocks[b])), z3.RealVal(str(layer.bias[k])))
             for k in range(layer.size)]
        blocks.append([z3.If(v > 0, v, 0) for v in z] if layer is not exact.output else z)
    h = blocks[-1]
    solver.add(z3.Or(z3.Real("o0") != h[0], z3.Real("o1") != h[1]))
    assert solver.check() == z3.unsat


def test_write_two_layer(tmp_path) -> None:
    source = onnx.load(data_path("vnncomp-test", "test_small.onnx"))
    form = two_layer_form(compile_model(source))
    sig = load_network(source).signature
    assert write_two_layer(form, str(tmp_path / "t.onnx"), sig) == "onnx"
    model = onnx.load(str(tmp_path / "t.onnx"))
    assert [i.name for i in model.graph.input] == [i.name for i in source.graph.input]
    assert [o.name for o in model.graph.output] == [o.name for o in source.graph.output]
    assert model.graph.input[0].type == source.graph.input[0].type
    assert model.graph.output[0].type == source.graph.output[0].type
    props = {p.key: p.value for p in model.metadata_props}
    assert props["breakpoints"] == '["-3/2"]' and props["hidden_units"] == "2"
    assert write_two_layer(form, str(tmp_path / "t.tex"), sig) == "latex"
    with pytest.raises(UserError, match="cannot tell"):
        write_two_layer(form, str(tmp_path / "t.bin"), sig)
    with pytest.raises(UserError, match="unknown equation format"):
        render_two_layer(form, "html")
