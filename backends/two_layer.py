"""The finite two-layer form of a 1-D network (:mod:`relucompile.analysis.one_d`) as ONNX and as equations.

:func:`two_layer_onnx` emits ``Gemm -> Relu -> Gemm`` with K + 1 hidden units, with the source
model's input and output names, shapes and dtype (a drop-in replacement; internally float64, so
the only rounding is of the exact rational weights to float64 and of the result to the output
dtype).  It has no domain guard: outside the compiled domain it continues the outer pieces
affinely (the domain is in the metadata).  :func:`render_two_layer` lists the breakpoints, the
slopes, the hidden units and each output as ``text`` or ``latex`` (rounded to ``digits``), or
exactly as ``sympy`` (``Max(0, .)`` units) or ``smtlib`` (a ``relu`` helper function).

Example:
    >>> from relucompile.analysis.one_d import assemble
    >>> relu = assemble([Fraction(0)], [[Fraction(0), Fraction(1)]], (None, None), lambda x: [max(x, Fraction(0))])
    >>> model = two_layer_onnx(relu, {"input_name": "x", "input_dims": ["N", 1], "output_dims": ["N", 1]})
    >>> [n.op_type for n in model.graph.node if n.op_type in ("Gemm", "Relu")]
    ['Gemm', 'Relu', 'Gemm']
    >>> print(render_two_layer(relu, "text").split("\\n\\n", 1)[1])
    breakpoints (K = 1):
      t1 = 0
    slopes (s_i right of t_i, s0 left of t1):
      y1: s0 = 0, s1 = 1
    value at the pivot t1:
      y1(0) = 0
    hidden units (K + 1 = 2):
      h1 = relu(-x1)
      h2 = relu(x1)
    outputs:
      y1 = h2
    <BLANKLINE>
"""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucompile.analysis.cells import number_text
from relucompile.backends.equations import (affine_terms, check_format, latex_escape, latex_name, latex_number,
                                python_names, rational_code, resolve_names, smt_affine, smt_number, smt_symbol)
from relucompile.errors import UserError
from relucompile.analysis.one_d import TwoLayerForm
from relucompile.version import __version__
from relucompile.backends.equations import write_rendering
from relucompile.backends.files import atomic_write

OPSET = 17
PREFIX = "relucompile/"
TERMS_PER_LINE = 3   # LaTeX: terms per line of an output's sum
FORMATS = ("text", "latex", "sympy", "smtlib")
_BASIS_TEXT = {
    "one-sided": "f(x) = f(t1) - s0 relu(t1 - x) + s1 relu(x - t1) + sum_{i>=2} (s_i - s_{i-1}) relu(x - t_i)",
    "two-sided": "f(x) = f(tp) - s_{p-1} relu(tp - x) + s_p relu(x - tp) + sum_{i<p} (s_i - s_{i-1}) relu(t_i - x)"
                 " + sum_{i>p} (s_i - s_{i-1}) relu(x - t_i)",
}


def _dims(dims) -> list:
    return [d if isinstance(d, int) else (d if d != "?" else None) for d in dims]


def two_layer_onnx(form: TwoLayerForm, signature: dict, version: str | None = None) -> onnx.ModelProto:
    """``Gemm -> Relu -> Gemm`` computing the form; ``signature`` = ``net.signature``.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.analysis.one_d import two_layer_form
        >>> from relucompile.examples.small_nets import bent_line
        >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
        >>> model = two_layer_onnx(form, {"input_name": "x", "output_name": "y"})   # or the source's signature
        >>> [n.op_type for n in model.graph.node if n.op_type in ("Gemm", "Relu")]
        ['Gemm', 'Relu', 'Gemm']
    """
    if version is None:
        version = __version__
    units = form.units()
    weights, bias = form.output_layer()
    in_name = signature.get("input_name", "input")
    out_name = signature.get("output_name", "output")
    in_type = signature.get("input_elem_type", TensorProto.FLOAT)
    out_type = signature.get("output_elem_type", in_type)
    in_dims = signature.get("input_dims", ["N", 1])
    out_dims = signature.get("output_dims", ["N", form.m])
    P = PREFIX  # internal names are prefixed: no clash with the model's input or output name
    inits = [
        numpy_helper.from_array(np.array([[float(d)] for d, _ in units]), P + "hidden_W"),
        numpy_helper.from_array(np.array([float(-d * t) for d, t in units]), P + "hidden_b"),
        numpy_helper.from_array(np.array([[float(w) for w in row] for row in weights]), P + "output_W"),
        numpy_helper.from_array(np.array([float(b) for b in bias]), P + "output_b"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), P + "column_shape"),
    ]
    symbolic = [i for i, v in enumerate(out_dims) if not isinstance(v, int)]
    shape = [(-1 if i in symbolic else v) for i, v in enumerate(out_dims)] if len(symbolic) <= 1 else [-1, form.m]
    inits.append(numpy_helper.from_array(np.array(shape, np.int64), P + "output_shape"))
    nodes = [
        helper.make_node("Cast", [in_name], [P + "x_float64"], name=P + "cast_input", to=TensorProto.DOUBLE),
        helper.make_node("Reshape", [P + "x_float64", P + "column_shape"], [P + "x_column"], name=P + "x_column"),
        helper.make_node("Gemm", [P + "x_column", P + "hidden_W", P + "hidden_b"], [P + "hidden_preactivation"],
                         name=P + "hidden_gemm", transB=1),
        helper.make_node("Relu", [P + "hidden_preactivation"], [P + "hidden"], name=P + "hidden_relu"),
        helper.make_node("Gemm", [P + "hidden", P + "output_W", P + "output_b"], [P + "y_float64"],
                         name=P + "output_gemm", transB=1),
        helper.make_node("Cast", [P + "y_float64"], [P + "y_cast"], name=P + "cast_output", to=out_type),
        helper.make_node("Reshape", [P + "y_cast", P + "output_shape"], [out_name], name=P + "output"),
    ]
    graph = helper.make_graph(nodes, "relucompile_two_layer",
                              [helper.make_tensor_value_info(in_name, in_type, _dims(in_dims))],
                              [helper.make_tensor_value_info(out_name, out_type, _dims(out_dims))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="relucompile", producer_version=version)
    model.ir_version = 8
    lo, hi = form.interval
    helper.set_model_props(model, {
        "relucompile_version": version,
        "form": "two-layer",
        "basis": form.basis,
        "pivot": str(form.pivot),
        "source": form.source,
        "source_sha256": form.source_sha256,
        "domain": json.dumps({"lower": None if lo is None else str(lo), "upper": None if hi is None else str(hi)}),
        "breakpoints": json.dumps([str(t) for t in form.breakpoints]),
        "hidden_units": str(len(units)),
    })
    onnx.checker.check_model(model)
    return model


def render_two_layer(form: TwoLayerForm, fmt: str, digits: int = 6, input_names: list[str] | None = None,
                     output_names: list[str] | None = None) -> str:
    """The form as ``text`` / ``latex`` (numbers to ``digits`` significant digits) or exactly as
    ``sympy`` / ``smtlib``: breakpoints, slopes, hidden units and outputs.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.analysis.one_d import two_layer_form
        >>> from relucompile.examples.small_nets import bent_line
        >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
        >>> print(render_two_layer(form, "text"))
        # two-layer form of the network (relucompile): one hidden layer of 3 ReLU(s), exactly the network on the domain
        ...
        hidden units (K + 1 = 3):
          h1 = relu(-x1)
          h2 = relu(x1)
          h3 = relu(x1 - 1)
        outputs:
          y1 = 2*h2 - h3 + 0.5
          y2 = h3
        <BLANKLINE>
    """
    check_format(fmt, FORMATS)
    if not isinstance(digits, int) or not 1 <= digits <= 17:
        raise UserError(f"--digits must be an integer from 1 to 17, got {digits!r}")
    x, = resolve_names(input_names, 1, "x", "input")
    outputs = resolve_names(output_names, form.m, "y", "output")
    if x in outputs:
        raise UserError(f"input and output names overlap: {x}")
    return {"text": _text, "latex": _latex, "sympy": _sympy, "smtlib": _smtlib}[fmt](form, digits, x, outputs)


def write_two_layer(form: TwoLayerForm, path: str, signature: dict, fmt: str | None = None, digits: int = 6,
                    input_names: list[str] | None = None, output_names: list[str] | None = None) -> str:
    """Write the ONNX model (``.onnx``) or the equations (format from ``fmt`` or the extension)
    atomically; returns what was written (``onnx`` or the format).

    Example:
        >>> import os, tempfile
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.analysis.one_d import two_layer_form
        >>> from relucompile.examples.small_nets import bent_line
        >>> form = two_layer_form(compile_network(bent_line(), Domain.reals(1)))
        >>> write_two_layer(form, os.path.join(tempfile.mkdtemp(), "two_layer.onnx"), {})
        'onnx'
    """
    if fmt is None and path.lower().endswith(".onnx"):
        model = two_layer_onnx(form, signature)
        atomic_write(path, lambda f: f.write(model.SerializeToString()))
        return "onnx"
    return write_rendering(path, fmt, lambda f: render_two_layer(form, f, digits, input_names, output_names),
                           "the output", ".onnx .txt .tex .py .smt2")


# -- renderings ------------------------------------------------------------------------------------

def _domain_text(form: TwoLayerForm, x: str, num) -> str:
    lo, hi = form.interval
    if lo is None and hi is None:
        return "all of R"
    if lo is not None and hi is not None:
        return f"{x} = {num(lo)}" if lo == hi else f"{num(lo)} <= {x} <= {num(hi)}"
    return f"{x} >= {num(lo)}" if lo is not None else f"{x} <= {num(hi)}"


def _pivot_text(form: TwoLayerForm) -> str:
    if form.K == 0:
        return "the domain's end" if form.interval != (None, None) else "0"
    return f"t{form.pivot}"


def _unit_terms(form: TwoLayerForm, x: str, number, times: str = "*") -> list[str]:
    """Each hidden unit's argument, e.g. ``x1 - 0.5`` or ``-x1 + 2``."""
    return [affine_terms([Fraction(d)], -d * t, [x], number, times) for d, t in form.units()]


def _text(form: TwoLayerForm, digits: int, x: str, outputs: list[str]) -> str:
    num = lambda v: number_text(v, digits)  # noqa: E731
    K, n = form.K, form.num_hidden
    weights, bias = form.output_layer()
    lines = [f"# two-layer form of {form.source or 'the network'} (relucompile): one hidden layer of {n} ReLU(s), "
             "exactly the network on the domain",
             f"# domain: {_domain_text(form, x, num)}",
             f"# basis: {form.basis}" + (f", pivot {_pivot_text(form)}: {_BASIS_TEXT[form.basis]}" if K else
                                         f" (no breakpoint: f is affine, anchored at {_pivot_text(form)})"),
             f"# numbers to {digits} significant digits; exact rationals: --format sympy or smtlib",
             "",
             f"breakpoints (K = {K}):"]
    lines += [f"  t{i + 1} = {num(t)}" for i, t in enumerate(form.breakpoints)] or ["  (none)"]
    lines.append("slopes (s_i right of t_i, s0 left of t1):" if K else "slope:")
    for j, name in enumerate(outputs):
        row = ", ".join(f"s{i} = {num(s)}" for i, s in enumerate(form.slopes[j]))
        bends = form.output_breakpoints(j)
        extra = "" if form.m == 1 or len(bends) == K else \
            "  (bends at " + (", ".join(f"t{i}" for i in bends) or "no breakpoint") + ")"
        lines.append(f"  {name}: {row}{extra}")
    lines.append(f"value at the pivot {_pivot_text(form)}:" if K else "value at the anchor:")
    lines += [f"  {name}({num(form.anchor)}) = {num(v)}" for name, v in zip(outputs, form.values)]
    lines.append(f"hidden units ({'K + 1 = ' if K else ''}{n}):")
    hidden = [f"h{k + 1}" for k in range(n)]
    lines += [f"  {h} = relu({arg})" for h, arg in zip(hidden, _unit_terms(form, x, num))]
    lines.append("outputs:")
    lines += [f"  {name} = {affine_terms(row, b, hidden, num)}" for name, row, b in zip(outputs, weights, bias)]
    return "\n".join(lines) + "\n"


def _latex(form: TwoLayerForm, digits: int, x: str, outputs: list[str]) -> str:
    num = lambda v: latex_number(v, digits)  # noqa: E731
    X = latex_name(x)
    K = form.K
    weights, bias = form.output_layer()
    units = [f"\\operatorname{{relu}}({arg})" for arg in _unit_terms(form, X, num, " ")]
    lo, hi = form.interval
    domain = ("$\\mathbb{R}$" if lo is None and hi is None else
              f"${num(lo)} \\le {X} \\le {num(hi)}$" if lo is not None and hi is not None else
              f"${X} \\ge {num(lo)}$" if lo is not None else f"${X} \\le {num(hi)}$")
    source = latex_escape(form.source or "the network")
    lines = [f"% two-layer form of {form.source or 'the network'} (relucompile)",
             "\\documentclass{article}", "\\usepackage{amsmath}", "\\usepackage{amssymb}", "\\usepackage{longtable}",
             "\\usepackage[margin=2cm]{geometry}", "\\allowdisplaybreaks", "\\begin{document}",
             f"\\noindent Two-layer form of \\texttt{{{source}}} on {domain}: {len(units)} hidden ReLU unit(s), "
             f"{form.basis} basis" + (f" around the pivot $t_{{{form.pivot}}}$" if K else
                                       " (no breakpoint: the function is affine)")
             + f"; numbers to {digits} significant digits."
             + (" The slope $s_i$ holds right of the breakpoint $t_i$ ($s_0$ left of $t_1$)." if K else ""), ""]
    lines += [f"\\begin{{longtable}}{{r|r|{'l' * form.m}}}",
              "$i$ & $t_i$ & " + " & ".join(f"$s_i$ of ${latex_name(name)}$" for name in outputs) + " \\\\",
              "\\hline"]
    for i in range(K + 1):
        t = f"${num(form.breakpoints[i - 1])}$" if i else ""
        lines.append(f"{i} & {t} & " + " & ".join(f"${num(s[i])}$" for s in form.slopes) + " \\\\")
    lines += ["\\end{longtable}", ""]
    for name, row, b in zip(outputs, weights, bias):
        terms = ([] if b == 0 else [(b < 0, num(abs(b)))])
        terms += [(w < 0, u if num(abs(w)) == "1" else f"{num(abs(w))} {u}") for w, u in zip(row, units)
                  if w != 0 and num(abs(w)) != "0"]
        terms = terms or [(False, "0")]
        body = ""
        for k, (negative, term) in enumerate(terms):
            if k and k % TERMS_PER_LINE == 0:
                body += " \\\\\n  &\\quad"
            body += (" - " if negative else (" + " if k else " ")) + term
        lines += ["\\begin{align*}", f"{latex_name(name)} &={body}", "\\end{align*}"]
    lines += ["", "\\end{document}"]
    return "\n".join(lines) + "\n"


def _sympy(form: TwoLayerForm, digits: int, x: str, outputs: list[str]) -> str:
    px, = python_names([x])
    py_out = [v + "_" if v == px else v for v in python_names(outputs)]
    weights, bias = form.output_layer()
    units = [f"Max(0, {arg})" for arg in _unit_terms(form, px, rational_code)]
    lo, hi = form.interval
    conds = ([f"{px} >= {rational_code(lo)}"] if lo is not None else []) + \
            ([f"{px} <= {rational_code(hi)}"] if hi is not None else [])
    lines = [f"# Exact two-layer form of {form.source or 'the network'} (relucompile): one hidden layer of "
             f"{len(units)} ReLU(s), {form.basis} basis.",
             "# Equal to the network on `domain`; outside it, the outer pieces continue affinely.",
             "#   ns = {}; exec(open(PATH).read(), ns); sympy.lambdify(ns[\"inputs\"], ns[\"outputs\"][NAME])",
             "from sympy import And, Max, Rational, Symbol, true",
             "",
             f"{px} = Symbol({x!r}, real=True)",
             f"inputs = ({px},)",
             "domain = " + (f"And({', '.join(conds)})" if len(conds) > 1 else conds[0] if conds else "true"),
             "breakpoints = [" + ", ".join(rational_code(t) for t in form.breakpoints) + "]",
             "slopes = {" + ", ".join(f"{name!r}: [" + ", ".join(rational_code(s) for s in form.slopes[j]) + "]"
                                      for j, name in enumerate(outputs)) + "}",
             ""]
    for py, row, b in zip(py_out, weights, bias):
        lines.append(f"{py} = {affine_terms(row, b, units, rational_code)}")
    lines += ["", "outputs = {" + ", ".join(f"{name!r}: {py}" for py, name in zip(py_out, outputs)) + "}", ""]
    return "\n".join(lines)


def _smtlib(form: TwoLayerForm, digits: int, x: str, outputs: list[str]) -> str:
    clash = {"relu", "in_domain"} & set([x] + outputs)
    if clash:
        raise UserError(f"SMT-LIB output: the names {', '.join(sorted(clash))} are taken by helper functions")
    X = smt_symbol(x)
    weights, bias = form.output_layer()
    units = [f"(relu {smt_affine([Fraction(d)], -d * t, [X])})" for d, t in form.units()]
    lo, hi = form.interval
    conds = ([f"(>= {X} {smt_number(lo)})"] if lo is not None else []) + \
            ([f"(<= {X} {smt_number(hi)})"] if hi is not None else [])
    domain = "true" if not conds else conds[0] if len(conds) == 1 else f"(and {' '.join(conds)})"
    lines = [f"; Exact two-layer form of {form.source or 'the network'} (relucompile), SMT-LIB 2, QF_LRA:",
             f"; one hidden layer of {len(units)} ReLU(s), {form.basis} basis; equal to the network where",
             "; in_domain holds; breakpoints: " + (", ".join(str(t) for t in form.breakpoints) or "none"),
             "(set-logic QF_LRA)",
             "(define-fun relu ((z Real)) Real (ite (> z 0.0) z 0.0))",
             f"(define-fun in_domain (({X} Real)) Bool {domain})"]
    for name, row, b in zip(outputs, weights, bias):
        terms = [u if w == 1 else f"(* {smt_number(w)} {u})" for w, u in zip(row, units) if w != 0]
        if b != 0 or not terms:
            terms.append(smt_number(b))
        body = terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"
        lines.append(f"(define-fun {smt_symbol(name)} (({X} Real)) Real {body})")
    return "\n".join(lines) + "\n"

