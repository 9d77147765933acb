"""Equations of a shallow network: its cells' linear rules as text, LaTeX, SymPy or SMT-LIB 2.

Every cell of the compiled network is one rule: *if* the cell's inequalities hold, each output is
an affine formula of the inputs.  :func:`render_equations` writes all rules in one of four formats:

* ``text``: one block per cell, largest first (share of the domain's volume, see
  :func:`volume_shares`), the conditions as inequalities in the input names, every output as an
  affine formula, numbers to ``digits`` significant digits.  The float64 values the compiler used
  stay in the regions JSON; the exact rationals are in the ``sympy`` and ``smtlib`` formats.
* ``latex``: a standalone document (amsmath, amssymb, geometry) with one ``cases`` environment
  per output, each cell's conditions stacked beside its formula; an output with many cells
  continues in further ``cases`` displays, since a display cannot break across pages.
* ``sympy``: a Python file with one ``Piecewise`` per output, every coefficient an exact
  ``Rational`` recomputed from the network (:meth:`ShallowNet.exact_affine`,
  :meth:`ShallowNet.exact_hyperplane`); ``exec`` it, evaluate exactly, or ``lambdify`` it.
* ``smtlib``: SMT-LIB 2 (QF_LRA): ``(define-fun <output> ((x1 Real) ...) Real (ite ...))`` per
  output with exact rationals, and ``(define-fun in_domain (...) Bool ...)``; z3 and cvc5 read it.

Conditions follow the half-open tie-break of docs/design.md section 2: a closed constraint reads
``h >= 0``, a strict one ``h < 0``, so each point of the domain meets the conditions of exactly
one cell and the exact formats *are* the network on the domain.  Each inequality is scaled by a
positive number so that its largest coefficient is 1 (a bound on one input reads ``x2 > 0.5``).
The domain's own facets are stated once, not per cell.  In ``text`` and ``latex``, terms below
1e-12 of the largest coefficient of their formula are float rounding noise and are shown as 0.

Example:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))   # |x|
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-2], [3])))
    >>> print(render_equations(shallow, "text").split("\\n\\n", 1)[1])
    cell 0 (60% of the domain)
      if   x1 >= 0
      then y1 = x1
    <BLANKLINE>
    cell 1 (40% of the domain)
      if   x1 < 0
      then y1 = -x1
    <BLANKLINE>
"""
from __future__ import annotations

import keyword
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from relucompile.analysis.cells import Inequality, denoised_map, float_inequality, normalised_inequality, number_text
from relucompile.analysis.cells import volume_shares as cell_volume_shares
from relucompile.analysis.explain import affine_formula
from relucompile.errors import UserError
from relucompile.shallow.net import ShallowNet
from relucompile.backends.files import atomic_write

FORMATS = ("text", "latex", "sympy", "smtlib")
EXTENSIONS = {".txt": "text", ".tex": "latex", ".py": "sympy", ".smt2": "smtlib"}
LATEX_LINES_PER_DISPLAY = 24  # condition lines per cases display; longer outputs continue in another


def format_for_path(path: str | os.PathLike) -> str | None:
    """The equation format implied by a file extension (.txt .tex .py .smt2), else None.

    Example:
        >>> format_for_path("rules.smt2"), format_for_path("out.onnx")
        ('smtlib', None)
    """
    return EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower())


def check_format(fmt: str, allowed: Sequence[str] = FORMATS) -> str:
    """``fmt`` if it is one of ``allowed``, else a one-line :class:`UserError`.

    Example:
        >>> check_format("latex")
        'latex'
    """
    if fmt not in allowed:
        raise UserError(f"unknown equation format {fmt!r}: choose one of {', '.join(allowed)}")
    return fmt


def resolve_names(names: Sequence[str] | None, count: int, prefix: str, what: str) -> list[str]:
    """Validated names (default ``prefix1 .. prefixN``).

    Example:
        >>> resolve_names(None, 2, "x", "input")
        ['x1', 'x2']
    """
    if names is None:
        return [f"{prefix}{i + 1}" for i in range(count)]
    names = [str(v).strip() for v in names]
    if len(names) != count:
        raise UserError(f"{count} {what} name(s) needed, got {len(names)}: {', '.join(names)}")
    if any(not v or "\n" in v for v in names):
        raise UserError(f"{what} names must be non-empty single-line strings")
    if len(set(names)) != count:
        raise UserError(f"{what} names must be distinct: {', '.join(names)}")
    return names


# -- volume shares -----------------------------------------------------------------------------

def volume_shares(shallow: ShallowNet, samples: int = 100_000, seed: int = 0) -> tuple[np.ndarray | None, str]:
    """Each cell's share of the domain's volume, and how it was obtained
    (:func:`relucompile.analysis.cells.volume_shares`: ``"exact"``, ``"sampled"`` or
    ``"unbounded"``); samples are assigned to their cell by the point-location tree
    (:meth:`ShallowNet.select_cells`).

    Example (|x| compiled on [-2, 3]: the cells [0, 3] and [-2, 0)):
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.small_nets import absolute_value
        >>> shallow = compile_network(absolute_value(), Domain.box([-2], [3]))
        >>> shares, method = volume_shares(shallow)
        >>> method, sorted(shares.round(3).tolist(), reverse=True)
        ('exact', [0.6, 0.4])
    """
    return cell_volume_shares(shallow.net, shallow.regions, samples=samples, seed=seed,
                              locate=lambda X: _cells_of(shallow, X))


def _cells_of(shallow: ShallowNet, X: np.ndarray) -> np.ndarray:
    """Cell of each row of X: the shallow net's point-location tree (the one lookup)."""
    return shallow.select_cells(X)


# -- the rules ---------------------------------------------------------------------------------

@dataclass
class Rule:
    """One cell: its conditions and, per output, the affine map ``A[j] . x + c[j]``."""

    cell: int
    share: float | None
    conditions: list[Inequality]
    A: list[list]
    c: list


def cell_rules(shallow: ShallowNet, exact: bool, order: Sequence[int] | None = None,
               shares: np.ndarray | None = None) -> list[Rule]:
    """The rules of all cells in ``order`` (default: by id), exact (Fractions) or float64."""
    rules = []
    for a in (range(shallow.num_cells) if order is None else order):
        conditions = []
        for j in range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1]):
            h = int(shallow.facet_h[j])
            if shallow.keys[h][0] == "domain":   # holds on the whole domain: stated once
                continue
            if exact:
                w, b = shallow.exact_hyperplane(h)
                conditions.append(normalised_inequality(list(w), b, bool(shallow.facet_closed[j])))
            else:
                conditions.append(float_inequality(shallow.W[h], float(shallow.b[h]), bool(shallow.facet_closed[j])))
        if exact:
            A, c = shallow.exact_affine(a)
            A, c = [list(row) for row in A], list(c)
        else:
            maps = [denoised_map(row, const) for row, const in zip(shallow.A[a], shallow.c[a])]
            A, c = [row for row, _ in maps], [const for _, const in maps]
        rules.append(Rule(a, None if shares is None else float(shares[a]), conditions, A, c))
    return rules


@dataclass
class _Context:
    shallow: ShallowNet
    rules: list[Rule]
    inputs: list[str]
    outputs: list[str]
    digits: int
    method: str
    samples: int

    @property
    def source(self) -> str:
        return (self.shallow.net.source_name or "the network").replace("\n", " ")

    def share_text(self, share: float | None, latex: bool = False) -> str:
        if share is None:
            return ""
        pct = "\\%" if latex else "%"
        if self.method == "exact":
            return f"{100 * share:.4g}{pct}"
        if share == 0:
            return f"<{100 / self.samples:.2g}{pct}"
        return f"~{100 * share:.3g}{pct}"

    def order_text(self) -> str:
        if self.method == "unbounded":
            return "listed by cell id (the domain is unbounded, so cells have no volume share)"
        how = ("exact lengths/areas" if self.method == "exact"
               else f"Monte Carlo estimate, {self.samples:,} uniform points, fixed seed")
        return f"largest share of the domain's volume first ({how})"


def render_equations(shallow: ShallowNet, fmt: str, digits: int = 6, input_names: list[str] | None = None,
                     output_names: list[str] | None = None, *, volume_samples: int = 100_000,
                     seed: int = 0) -> str:
    """The cells' rules as ``fmt`` (text, latex, sympy, smtlib): see the module docstring.

    Inputs are named ``input_names`` (default x1..xd; for a network lowered over the free
    coordinates of its domain, x<i> after their place i in the source input), outputs ``output_names`` (default
    y1..ym).  Cells are listed by volume share on a bounded domain (:func:`volume_shares` with
    ``volume_samples`` and ``seed``), else by id; ids are those of the regions JSON.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.small_nets import absolute_value
        >>> shallow = compile_network(absolute_value(), Domain.box([-2], [3]))
        >>> print(render_equations(shallow, "text"))
        # equations of the network (relucompile): on each cell, each output is one affine formula
        ...
        cell 0 (60% of the domain)
          if   x1 >= 0
          then y1 = x1
        <BLANKLINE>
        cell 1 (40% of the domain)
          if   x1 < 0
          then y1 = -x1
        <BLANKLINE>
        >>> render_equations(shallow, "smtlib").count("(define-fun")      # in_domain and y1
        2
    """
    check_format(fmt)
    if not isinstance(digits, int) or not 1 <= digits <= 17:
        raise UserError(f"--digits must be an integer from 1 to 17, got {digits!r}")
    embedding = shallow.net.embedding   # compiled over free coordinates: name them as in the source input
    if input_names is None and embedding is not None:
        input_names = [f"x{i + 1}" for i in embedding.free]
    inputs = resolve_names(input_names, shallow.d, "x", "input")
    outputs = resolve_names(output_names, shallow.m, "y", "output")
    if set(inputs) & set(outputs):
        raise UserError(f"input and output names overlap: {', '.join(sorted(set(inputs) & set(outputs)))}")
    shares, method = volume_shares(shallow, volume_samples, seed)
    order = list(range(shallow.num_cells))
    if shares is not None:
        order.sort(key=lambda a: (-shares[a], a))
    exact = fmt in ("sympy", "smtlib")
    ctx = _Context(shallow, cell_rules(shallow, exact, order, shares), inputs, outputs, digits, method, volume_samples)
    return {"text": _text, "latex": _latex, "sympy": _sympy, "smtlib": _smtlib}[fmt](ctx)


def write_equations(shallow: ShallowNet, path: str, fmt: str | None = None, digits: int = 6,
                    input_names: list[str] | None = None, output_names: list[str] | None = None) -> str:
    """Render and write atomically; ``fmt`` defaults to the one of the extension.  Returns fmt.

    Example:
        >>> import os, tempfile
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.small_nets import absolute_value
        >>> shallow = compile_network(absolute_value(), Domain.box([-2], [3]))
        >>> write_equations(shallow, os.path.join(tempfile.mkdtemp(), "rules.tex"))
        'latex'
    """
    return write_rendering(path, fmt, lambda f: render_equations(shallow, f, digits, input_names, output_names),
                           "the equation format", ".txt .tex .py .smt2")


def write_rendering(path: str, fmt: str | None, render: Callable[[str], str], what: str, extensions: str) -> str:
    """Write ``render(fmt)`` to ``path`` atomically, ``fmt`` defaulting to the extension's
    (UserError naming ``what`` and the known ``extensions`` if it cannot be told).  Returns fmt.

    Example:
        >>> try:
        ...     write_rendering("rules.xyz", None, str.upper, "the format", ".txt")
        ... except UserError as exc:
        ...     print(exc)
        rules.xyz: cannot tell the format from the extension (.txt); give --format text|latex|sympy|smtlib
    """
    fmt = fmt or format_for_path(path)
    if fmt is None:
        raise UserError(f"{path}: cannot tell {what} from the extension ({extensions}); "
                        "give --format text|latex|sympy|smtlib")
    text = render(fmt)
    atomic_write(path, lambda f: f.write(text), text=True)
    return fmt


# -- shared formatting -------------------------------------------------------------------------

affine_terms = affine_formula  # ``c1*x1 - c2*x2 + c0``: see relucompile.analysis.explain.affine_formula


def _domain_rows(shallow: ShallowNet, exact: bool) -> list[Inequality]:
    """The domain as inequalities: per-input bounds for a box, ``G x <= g`` rows otherwise."""
    domain, d = shallow.domain, shallow.d
    num = (lambda v: Fraction(float(v))) if exact else float
    rows = []
    if domain.kind == "box":
        for i in range(d):
            e = [num(1.0) if k == i else num(0.0) for k in range(d)]
            if domain.lower[i] == domain.upper[i]:
                rows.append(Inequality(e, "=", num(domain.lower[i])))
            else:
                rows += [Inequality(e, ">=", num(domain.lower[i])), Inequality(e, "<=", num(domain.upper[i]))]
    elif domain.kind == "polytope":
        rows = [Inequality([num(v) for v in row], "<=", num(rhs)) for row, rhs in zip(domain.G, domain.g)]
    return rows


def _ops(kind: str) -> dict[str, str]:
    return {"text": {">=": ">=", "<=": "<=", ">": ">", "<": "<", "=": "="},
            "latex": {">=": r"\ge", "<=": r"\le", ">": ">", "<": "<", "=": "="}}[kind]


# -- text ----------------------------------------------------------------------------------------

def _text_domain(ctx: _Context, shortest: bool = False) -> str:
    """The domain in words, numbers to the context's digits (``shortest``: the shortest text that
    reads back as the same float64, for the exact formats)."""
    shallow = ctx.shallow
    num = (lambda v: repr(float(v)).removesuffix(".0")) if shortest else (lambda v: number_text(v, ctx.digits))
    if shallow.domain.kind == "reals":
        return f"all of R^{shallow.d}"
    if shallow.domain.kind == "box":
        parts = []
        for i, name in enumerate(ctx.inputs):
            lo, hi = shallow.domain.lower[i], shallow.domain.upper[i]
            parts.append(f"{name} = {num(lo)}" if lo == hi else f"{num(lo)} <= {name} <= {num(hi)}")
        return ", ".join(parts)
    rows = _domain_rows(shallow, False)
    return ", ".join(f"{affine_terms(r.coeffs, 0, ctx.inputs, num)} <= {num(r.rhs)}" for r in rows)


def _fixed_inputs_note(shallow: ShallowNet) -> str:
    """For a network lowered over its domain's free coordinates: the other inputs are fixed by
    the domain (their values are in the domain file), so the formulas do not name them."""
    embedding = shallow.net.embedding
    if embedding is None:
        return ""
    return (f"; the other {embedding.d - embedding.k:,} of the model's {embedding.d:,} inputs are fixed by the "
            "domain (outside it the model is undefined)")


def _text(ctx: _Context) -> str:
    num = lambda v: number_text(v, ctx.digits)  # noqa: E731
    ops = _ops("text")
    m = len(ctx.outputs)
    lines = [f"# equations of {ctx.source} (relucompile): on each cell, each output is one affine formula",
             f"# domain: {_text_domain(ctx)}" + _fixed_inputs_note(ctx.shallow),
             f"# {len(ctx.rules)} cell(s), {m} output(s); {ctx.order_text()}",
             f"# numbers to {ctx.digits} significant digits; float64 values: the regions JSON (--regions); "
             "exact rationals: --format sympy or smtlib",
             "# conditions are half-open: every point of the domain meets those of exactly one cell",
             ""]
    for rule in ctx.rules:
        share = ctx.share_text(rule.share)
        lines.append(f"cell {rule.cell}" + (f" ({share} of the domain)" if share else ""))
        conds = [f"{affine_terms(q.coeffs, 0, ctx.inputs, num)} {ops[q.op]} {num(q.rhs)}" for q in rule.conditions]
        for k, cond in enumerate(conds or ["(everywhere in the domain)"]):
            lines.append(("  if   " if k == 0 else "       ") + cond)
        for j, name in enumerate(ctx.outputs):
            formula = affine_terms(rule.A[j], rule.c[j], ctx.inputs, num)
            lines.append(("  then " if j == 0 else "       ") + f"{name} = {formula}")
        lines.append("")
    return "\n".join(lines)


# -- LaTeX ---------------------------------------------------------------------------------------

GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    r"""Escape LaTeX's special characters for text mode.

    Example:
        >>> latex_escape("fc_2-2-3.onnx 50%")
        'fc\\_2-2-3.onnx 50\\%'
    """
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_name(name: str) -> str:
    r"""A variable name as LaTeX math: ``x1`` -> ``x_{1}``, ``theta`` -> ``\theta``.

    Example:
        >>> latex_name("x12"), latex_name("rho"), latex_name("v_own")
        ('x_{12}', '\\rho', '\\mathit{v\\_own}')
    """
    match = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if match:
        stem, index = match.groups()
        return f"{latex_name(stem)}_{{{index}}}"
    if name in GREEK:
        return "\\" + name
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    return f"\\mathit{{{latex_escape(name)}}}"


def latex_number(v: float, digits: int) -> str:
    r"""``v`` to ``digits`` significant digits in LaTeX (``1.5 \cdot 10^{-7}``).

    Example:
        >>> latex_number(1.5e-7, 6)
        '1.5 \\cdot 10^{-7}'
    """
    s = number_text(v, digits)
    if "e" in s:
        mantissa, exponent = s.split("e")
        return f"{mantissa} \\cdot 10^{{{int(exponent)}}}"
    return s


def _latex(ctx: _Context) -> str:
    num = lambda v: latex_number(v, ctx.digits)  # noqa: E731
    names = [latex_name(v) for v in ctx.inputs]
    ops = _ops("latex")
    shallow = ctx.shallow
    if shallow.domain.kind == "reals":
        domain = f"$\\mathbb{{R}}^{{{shallow.d}}}$"
    elif shallow.domain.kind == "box":
        parts = []
        for i, name in enumerate(names):
            lo, hi = shallow.domain.lower[i], shallow.domain.upper[i]
            parts.append(f"{name} = {num(lo)}" if lo == hi else f"{num(lo)} \\le {name} \\le {num(hi)}")
        domain = "$" + ",\\ ".join(parts) + "$"
    else:
        domain = "$" + ",\\ ".join(f"{affine_terms(r.coeffs, 0, names, num, ' ')} \\le {num(r.rhs)}"
                                   for r in _domain_rows(shallow, False)) + "$"
    lines = [f"% equations of {ctx.source} (relucompile)",
             "\\documentclass{article}", "\\usepackage{amsmath}", "\\usepackage{amssymb}",
             "\\usepackage[landscape, margin=1.5cm]{geometry}", "\\begin{document}",
             f"\\noindent Equations of \\texttt{{{latex_escape(ctx.source)}}} on the domain {domain}:",
             f"{len(ctx.rules)} cell(s), {latex_escape(ctx.order_text())}; "
             f"numbers to {ctx.digits} significant digits. Conditions are half-open: every point of the domain "
             "meets those of exactly one cell.", ""]
    for j, out in enumerate(ctx.outputs):
        chunks: list[list[str]] = [[]]
        height = 0
        for rule in ctx.rules:
            conds = [f"{affine_terms(q.coeffs, 0, names, num, ' ')} {ops[q.op]} {num(q.rhs)}" for q in rule.conditions]
            share = ctx.share_text(rule.share, latex=True)
            tag = f"\\text{{cell {rule.cell}" + (f" ({share})" if share else "") + ": }"
            where = ("\\begin{array}[t]{@{}l@{}}" + ",\\\\ ".join(conds) + "\\end{array}") if conds \
                else "\\text{everywhere}"
            if chunks[-1] and height + max(len(conds), 1) > LATEX_LINES_PER_DISPLAY:   # displays cannot break pages
                chunks.append([])
                height = 0
            chunks[-1].append(f"  {affine_terms(rule.A[j], rule.c[j], names, num, ' ')} & {tag} {where}")
            height += max(len(conds), 1)
        for k, rows in enumerate(chunks):
            label = latex_name(out) + (" \\ (\\text{continued})" if k else "")
            lines += ["\\[", f"{label} = \\begin{{cases}}", " \\\\\n".join(rows), "\\end{cases}", "\\]", ""]
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"


# -- SymPy ---------------------------------------------------------------------------------------

_SYMPY_RESERVED = {"And", "Not", "Piecewise", "Rational", "Symbol", "nan", "true", "inputs", "outputs", "domain",
                   "cells", "sympy"}


def python_names(names: Sequence[str]) -> list[str]:
    """Distinct Python identifiers for ``names`` (kept when already valid and not reserved).

    Example:
        >>> python_names(["x1", "v own", "domain"])
        ['x1', 'v_own', 'domain_']
    """
    out: list[str] = []
    for name in names:
        ident = re.sub(r"\W", "_", name)
        if not ident or ident[0].isdigit():
            ident = "_" + ident
        while keyword.iskeyword(ident) or ident in _SYMPY_RESERVED or ident in out:
            ident += "_"
        out.append(ident)
    return out


def rational_code(v: Fraction) -> str:
    """An exact SymPy literal: ``3`` or ``Rational(1, 3)`` (magnitudes: sign printed apart).

    Example:
        >>> rational_code(Fraction(-1, 3)), rational_code(Fraction(4))
        ('Rational(-1, 3)', '4')
    """
    v = Fraction(v)
    return str(v.numerator) if v.denominator == 1 else f"Rational({v.numerator}, {v.denominator})"


def _sympy_condition(q: Inequality, names: Sequence[str]) -> str:
    op = {">=": ">=", "<=": "<=", ">": ">", "<": "<"}[q.op]
    return f"{affine_terms(q.coeffs, 0, names, rational_code)} {op} {rational_code(q.rhs)}"


def _sympy(ctx: _Context) -> str:
    shallow = ctx.shallow
    py_in = python_names(ctx.inputs)
    py_out = python_names(ctx.outputs)
    while set(py_in) & set(py_out):
        py_out = [v + "_" if v in py_in else v for v in py_out]
    rows = _domain_rows(shallow, exact=True)
    domain_terms = []
    for r in rows:
        lhs = affine_terms(r.coeffs, 0, py_in, rational_code)
        if r.op == "=":
            domain_terms += [f"{lhs} >= {rational_code(r.rhs)}", f"{lhs} <= {rational_code(r.rhs)}"]
        else:
            domain_terms.append(f"{lhs} {r.op} {rational_code(r.rhs)}")
    lines = [f"# Exact piecewise-affine equations of {ctx.source} (relucompile), on the domain",
             f"# {_text_domain(ctx, shortest=True)}.",
             f"# {len(ctx.rules)} cell(s), {ctx.order_text()}.",
             "# Every coefficient is the exact rational the network computes.  The cells' conditions are",
             "# half-open, so on the domain exactly one holds and each Piecewise IS the network there;",
             "# outside the domain the outputs are nan.",
             "#",
             "#   ns = {}; exec(open(PATH).read(), ns)",
             "#   ns[\"outputs\"][NAME].subs(dict(zip(ns[\"inputs\"], POINT)))          # exact",
             "#   sympy.lambdify(ns[\"inputs\"], ns[\"outputs\"][NAME], \"numpy\")(*COLUMNS)  # fast",
             "from sympy import And, Not, Piecewise, Rational, Symbol, nan, true",
             ""]
    lines += [f"{py} = Symbol({name!r}, real=True)" for py, name in zip(py_in, ctx.inputs)]
    lines.append(f"inputs = ({', '.join(py_in)},)")
    lines.append("domain = " + (f"And({', '.join(domain_terms)})" if domain_terms else "true"))
    lines += ["", "# cell id (as in the regions JSON) -> its half-open conditions", "cells = {"]
    for rule in ctx.rules:
        conds = [_sympy_condition(q, py_in) for q in rule.conditions]
        cond = f"And({', '.join(conds)})" if len(conds) > 1 else (conds[0] if conds else "true")
        share = ctx.share_text(rule.share)
        lines.append(f"    {rule.cell}: {cond}," + (f"  # {share} of the domain" if share else ""))
    lines.append("}")
    for j, (py, name) in enumerate(zip(py_out, ctx.outputs)):
        lines += ["", f"{py} = Piecewise("]
        if domain_terms:
            lines.append("    (nan, Not(domain)),")
        for rule in ctx.rules:
            lines.append(f"    ({affine_terms(rule.A[j], rule.c[j], py_in, rational_code)}, cells[{rule.cell}]),")
        lines += ["    (nan, True),", ")"]
    lines += ["", "outputs = {" + ", ".join(f"{name!r}: {py}" for py, name in zip(py_out, ctx.outputs)) + "}", ""]
    return "\n".join(lines)


# -- SMT-LIB 2 -----------------------------------------------------------------------------------

_SMT_SIMPLE = re.compile(r"[A-Za-z~!@$%^&*_+=<>.?/\-][A-Za-z0-9~!@$%^&*_+=<>.?/\-]*")
_SMT_RESERVED = {"in_domain", "ite", "and", "or", "not", "true", "false", "let", "forall", "exists", "par", "as",
                 "_", "!", "BINARY", "DECIMAL", "HEXADECIMAL", "NUMERAL", "STRING", "Real", "Int", "Bool",
                 "=>", "=", "distinct", "+", "-", "*", "/", "<", "<=", ">", ">="}


def smt_symbol(name: str) -> str:
    """``name`` as an SMT-LIB symbol (quoted with ``|...|`` when it is not a simple symbol).

    Example:
        >>> smt_symbol("x1"), smt_symbol("v own")
        ('x1', '|v own|')
    """
    if _SMT_SIMPLE.fullmatch(name) and name not in _SMT_RESERVED:
        return name
    return "|" + name.replace("|", "_").replace("\\", "_") + "|"


def smt_number(v: Fraction) -> str:
    """An exact SMT-LIB real: ``3.0``, ``(- 3.0)``, ``(/ 1.0 3.0)``, ``(- (/ 1.0 3.0))``.

    Example:
        >>> smt_number(Fraction(-1, 3))
        '(- (/ 1.0 3.0))'
    """
    v = Fraction(v)
    mag = abs(v)
    text = f"{mag.numerator}.0" if mag.denominator == 1 else f"(/ {mag.numerator}.0 {mag.denominator}.0)"
    return f"(- {text})" if v < 0 else text


def smt_affine(coeffs: Sequence[Fraction], const: Fraction, names: Sequence[str]) -> str:
    """``(+ (* a x) ... c)`` with exact rationals.

    Example:
        >>> smt_affine([Fraction(1), Fraction(-2)], Fraction(1, 2), ["x", "y"])
        '(+ x (* (- 2.0) y) (/ 1.0 2.0))'
    """
    terms = []
    for v, name in zip(coeffs, names):
        if v == 1:
            terms.append(name)
        elif v == -1:
            terms.append(f"(- {name})")
        elif v != 0:
            terms.append(f"(* {smt_number(v)} {name})")
    if const != 0 or not terms:
        terms.append(smt_number(const))
    return terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"


def _smt_conjunction(parts: list[str]) -> str:
    return "true" if not parts else parts[0] if len(parts) == 1 else f"(and {' '.join(parts)})"


def _smtlib(ctx: _Context) -> str:
    if "in_domain" in ctx.inputs + ctx.outputs:
        raise UserError("SMT-LIB output: the name in_domain is taken by the domain's function")
    shallow = ctx.shallow
    names = [smt_symbol(v) for v in ctx.inputs]
    funcs = [smt_symbol(v) for v in ctx.outputs]
    params = " ".join(f"({v} Real)" for v in names)
    zero = Fraction(0)
    domain = []
    for r in _domain_rows(shallow, exact=True):
        lhs = smt_affine(r.coeffs, zero, names)
        domain.append(f"({r.op} {lhs} {smt_number(r.rhs)})")
    lines = [f"; Exact piecewise-affine equations of {ctx.source} (relucompile), SMT-LIB 2, QF_LRA.",
             f"; Domain: {_text_domain(ctx, shortest=True)}.",
             f"; {len(ctx.rules)} cell(s), {ctx.order_text()}.",
             "; The cells' conditions are half-open, so on the domain exactly one holds and each output",
             "; function IS the network there (the last cell is the final else branch); outside the",
             "; domain the functions mean nothing: assert in_domain.",
             ";",
             f"; Example: can {ctx.outputs[0]} exceed 1 on the domain?",
             *[f";   (declare-const {v} Real)" for v in names],
             f";   (assert (in_domain {' '.join(names)}))",
             f";   (assert (> ({funcs[0]} {' '.join(names)}) 1.0))",
             ";   (check-sat)",
             "(set-logic QF_LRA)",
             f"(define-fun in_domain ({params}) Bool",
             f"  {_smt_conjunction(domain)})"]
    for j, func in enumerate(funcs):
        lines.append(f"(define-fun {func} ({params}) Real")
        for k, rule in enumerate(ctx.rules):
            conds = [f"({q.op} {smt_affine(q.coeffs, zero, names)} {smt_number(q.rhs)})" for q in rule.conditions]
            value = smt_affine(rule.A[j], rule.c[j], names)
            share = ctx.share_text(rule.share)
            note = f"  ; cell {rule.cell}" + (f", {share} of the domain" if share else "")
            if k < len(ctx.rules) - 1:
                lines.append(f"  (ite {_smt_conjunction(conds)}{note}")
                lines.append(f"    {value}")
            else:  # the last cell is the else branch; close its ites and the define-fun
                lines.append(f"  {value}{')' * len(ctx.rules)}{note} (else branch)")
    return "\n".join(lines) + "\n"
