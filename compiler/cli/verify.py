"""Command line: ``relucompile verify`` (decide a VNN-LIB property) and ``relucompile bounds``.

Both subcommands are functions ``run_<name>(argv) -> exit code`` for ``relucompile.cli.main.COMMANDS``,
under the error guard of :mod:`relucompile.cli.base`: user mistakes (bad model, malformed VNN-LIB, bad
options) are one line on stderr, ``relucompile: error: <file>:<line>: <what is wrong>``, and exit code 2,
whether called through ``relucompile`` or directly.

Example:
    >>> import os, tempfile
    >>> from relucompile.examples import tiny_mlp_path
    >>> prop = os.path.join(tempfile.mkdtemp(), "p.vnnlib")
    >>> _ = open(prop, "w").write("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)"
    ...     "(declare-const Y_1 Real)(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))"
    ...     "(assert (<= X_1 1))(assert (>= Y_0 100))")
    >>> run_verify([tiny_mlp_path(), prop])                         # doctest: +ELLIPSIS
    holds
    time: ...
    0
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time
from dataclasses import replace

import numpy as np

from relucompile.cli.base import (ExitCode, add_domain_options, add_json_option, add_model_argument,
                                  add_timeout_option, check_timeout, exit_codes_text, guarded, make_parser)
from relucompile.errors import UserError

VERIFY_EPILOG = """examples:
  relucompile verify ACASXU_run2a_1_2_batch_2000.onnx prop_2.vnnlib
  relucompile verify net.onnx prop.vnnlib --timeout 116 --result-file out.txt
  relucompile verify net.onnx prop.vnnlib --json | jq .verdict

output: the first line is the verdict.
  holds      no input of the property's region satisfies its unsafe condition (exact search)
  violated   followed by the counterexample: x (inside the box, rounded to the model's input type)
             and y = the source model's output at x computed by onnxruntime, which satisfies the
             unsafe condition up to 1e-6 relative
  unknown    only when --timeout runs out (or, in pathological float cases, when a counterexample
             of the exact search is not confirmed by onnxruntime; the reason is printed)

""" + exit_codes_text(ExitCode.OK, ExitCode.VIOLATED, ExitCode.UNKNOWN, ExitCode.USAGE_ERROR,
                      ExitCode.INTERNAL_ERROR, OK="holds", USAGE_ERROR="usage or input error (bad model, "
                      "malformed VNN-LIB, ...)") + """

result file (VNN-COMP format): 'unsat' (holds), 'sat' followed by ((X_0 v) ... (Y_0 v) ...),
'timeout' or 'unknown'; written atomically.
"""

BOUNDS_EPILOG = """examples:
  relucompile bounds fc_2-2-3.onnx --domain box.json        box.json: {"lower": [3, -2], "upper": [4, -1]}
  relucompile bounds net.onnx --box -1 1
  relucompile bounds ACASXU_run2a_1_1_batch_2000.onnx --vnnlib prop_3.vnnlib --objective "Y_0 - Y_1" --json

Prints, for each output (or each --objective), the exact minimum and maximum over the domain and
an input attaining each.  The minimum is the value at the printed input (float64) and no input of
the domain has a value below it by more than 1e-9 * (1 + |min|) (likewise for the maximum).
Boxes use branch and bound; polytope domains (--domain with G, g) enumerate every cell.  With
--vnnlib the domain is the property's input region (the union of its boxes).

""" + exit_codes_text(ExitCode.OK, ExitCode.UNKNOWN, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR,
                      UNKNOWN="--timeout ran out (the printed ranges are then the best values found and the "
                      "proven outer bounds)") + "\n"


# ------------------------------------------------------------------------------------------------
# verify
# ------------------------------------------------------------------------------------------------

def verify_parser() -> argparse.ArgumentParser:
    p = make_parser("verify", "Decide a VNN-LIB property of an ONNX ReLU network exactly: holds, or violated "
                    "with a counterexample re-checked by onnxruntime on the model.", VERIFY_EPILOG)
    add_model_argument(p, "the ONNX model (piecewise-linear ops only), e.g. ACASXU_run2a_1_1_batch_2000.onnx")
    p.add_argument("property", help="the VNN-LIB property (input box(es) and unsafe output condition), e.g. prop_3.vnnlib")
    add_timeout_option(p, "give up after S seconds with 'unknown' (exit 20), counted from the process start "
                          "(loading and parsing included), e.g. --timeout 116 (default: none)")
    add_json_option(p, "print one JSON object (verdict, seconds, counterexample x/y, case, search stats) "
                       "instead of text, e.g. --json")
    p.add_argument("--result-file", metavar="F",
                   help="also write the VNN-COMP result file (unsat / sat + assignment / timeout), "
                        "e.g. --result-file result.txt")
    p.add_argument("--seed", type=int, default=0, help="seed of the random falsification points (default 0)")
    p.add_argument("--method", choices=("auto", "input-split", "relu-bab"), default="auto",
                   help="search: bisect the input box (input-split), branch on ReLU phases (relu-bab), or "
                        "pick by the number of free inputs (auto, the default), e.g. --method relu-bab")
    return p


@guarded
def run_verify(argv: list[str]) -> int:
    """``relucompile verify MODEL PROP.vnnlib [--timeout S] [--json] [--result-file F]``; returns the exit code.

    Example:
        >>> run_verify(["--help"])                                       # doctest: +ELLIPSIS
        usage: relucompile verify ...
        0
    """
    args = verify_parser().parse_args(argv)
    from relucompile.backends.files import atomic_write, check_writable
    from relucompile.verify.run import verify_property
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.api.compile import load_network
    check_timeout(args)
    if args.result_file:
        check_writable(args.result_file)
    prop = parse_vnnlib(args.property)
    net = load_network(args.model)
    from relucompile.verify.budget import process_age
    result = verify_property(net, prop, timeout=args.timeout, model=args.model, seed=args.seed,
                             method=args.method, already_spent=process_age())
    if args.result_file:
        text = result.vnncomp_text() + "\n"
        atomic_write(args.result_file, lambda f: f.write(text), text=True)
    if args.json:
        out = result.to_json()
        out.update(model=args.model, property=args.property)
        print(json.dumps(out))
    else:
        print(result.verdict)
        if result.verdict == "violated":
            print(f"x = {_vector(result.x)}")
            print(f"y = {_vector(result.y)}  (onnxruntime on {os.path.basename(args.model)})")
            print(f"violates case {result.case + 1} of {len(prop.cases)}; found by {result.stats.get('found_by')}")
        if result.reason:
            print(f"reason: {result.reason}")
        print(f"time: {result.seconds:.2f} s")
    return {"holds": ExitCode.OK, "violated": ExitCode.VIOLATED}.get(result.verdict, ExitCode.UNKNOWN)


def _vector(v: np.ndarray) -> str:
    return "[" + ", ".join(repr(float(a)) for a in v) + "]"


# ------------------------------------------------------------------------------------------------
# bounds
# ------------------------------------------------------------------------------------------------

def bounds_parser() -> argparse.ArgumentParser:
    p = make_parser("bounds", "Exact minimum and maximum of each output of an ONNX ReLU network over a domain, "
                    "with the inputs that attain them.", BOUNDS_EPILOG)
    add_model_argument(p, "the ONNX model, e.g. fc_2-2-3.onnx")
    add_domain_options(p, default_note="", required=True,
                       vnnlib_help="the input region of a VNN-LIB property (its boxes), e.g. --vnnlib prop_3.vnnlib")
    p.add_argument("--objective", action="append", metavar="EXPR",
                   help="bound a linear combination of outputs instead of each output; repeatable, "
                        "e.g. --objective 'Y_0 - Y_1' --objective '2*Y_3 + 0.5*Y_4'")
    add_timeout_option(p, "stop after S seconds in total and print the best values and proven bounds so far "
                          "(exit 20), e.g. --timeout 60")
    add_json_option(p)
    return p


@guarded
def run_bounds(argv: list[str]) -> int:
    """``relucompile bounds MODEL (--box LO HI | --domain F | --vnnlib PROP) [--objective E] [--json]``.

    Example:
        >>> run_bounds(["--help"])                                       # doctest: +ELLIPSIS
        usage: relucompile bounds ...
        0
    """
    args = bounds_parser().parse_args(argv)
    from relucompile.ir.domain import Domain
    from relucompile.verify.run import domains_from_vnnlib
    from relucompile.verify.optimize import output_bounds
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.numeric.tolerances import MIN_SOLVE_SECONDS
    from relucompile.api.compile import load_network
    check_timeout(args)
    prop = parse_vnnlib(args.vnnlib) if args.vnnlib else None
    net = load_network(args.model)
    if args.box:
        domains = [Domain.box([args.box[0]] * net.d, [args.box[1]] * net.d)]
    elif args.domain:
        domains = [Domain.from_json(args.domain)]
    else:
        if prop.num_inputs != net.d:
            raise UserError(f"{args.vnnlib}: the property has {prop.num_inputs} inputs but "
                            f"{os.path.basename(args.model)} has {net.d}")
        domains = domains_from_vnnlib(prop)
    where = args.domain or args.vnnlib or "--box"
    if domains[0].d != net.d:
        raise UserError(f"{where}: the domain has dimension {domains[0].d} but "
                        f"{os.path.basename(args.model)} has {net.d} inputs")
    objectives = [parse_objective(e, net.m) for e in args.objective] if args.objective else None
    deadline = None if args.timeout is None else time.perf_counter() + args.timeout
    ranges = None
    for domain in domains:          # a union of boxes: min of the minima, max of the maxima
        left = None if deadline is None else max(deadline - time.perf_counter(), MIN_SOLVE_SECONDS)
        part = output_bounds(net, domain, objectives, timeout=left)
        ranges = part if ranges is None else [_union(a, b) for a, b in zip(ranges, part)]
    exact = all(r.status == "exact" for r in ranges)
    if args.json:
        print(json.dumps({"model": args.model, "domain": where, "outputs": [r.to_json() for r in ranges],
                          "exact": exact}))
    else:
        for r in ranges:
            line = (f"{r.name}: [{r.minimum!r}, {r.maximum!r}]   min at x = {_vector(r.argmin)}"
                    f"   max at x = {_vector(r.argmax)}" if r.argmin is not None and r.argmax is not None
                    else f"{r.name}: [{r.minimum!r}, {r.maximum!r}]")
            if r.status != "exact":
                line += f"   (timeout: proven range [{r.lower!r}, {r.upper!r}])"
            print(line)
    return ExitCode.OK if exact else ExitCode.UNKNOWN


def _union(a, b):
    """The range over the union of two domains."""
    low = a if a.minimum <= b.minimum else b
    high = a if a.maximum >= b.maximum else b
    status = "exact" if a.status == b.status == "exact" else "timeout"
    return replace(a, minimum=low.minimum, argmin=low.argmin, maximum=high.maximum, argmax=high.argmax,
                   status=status, lower=min(a.lower, b.lower), upper=max(a.upper, b.upper))


_TERM = re.compile(r"\s*([+-])?\s*(?:((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*\*?\s*)?Y_(\d+)\s*")


def parse_objective(text: str, m: int) -> tuple[str, np.ndarray]:
    """``'Y_0 - 2*Y_3'`` -> ``(text, coefficient vector over the m outputs)``.

    Example:
        >>> parse_objective("Y_0 - 2*Y_2 + .5 Y_1", 3)[1].tolist()
        [1.0, 0.5, -2.0]
    """
    coeffs = np.zeros(m)
    pos = 0
    first = True
    stripped = text.strip()
    while pos < len(stripped):
        match = _TERM.match(stripped, pos)
        if not match or match.end() == pos or (not first and not match.group(1)):
            raise UserError(f"--objective {text!r}: expected a linear combination of outputs such as "
                            "'Y_0 - 2*Y_1'")
        sign = -1.0 if match.group(1) == "-" else 1.0
        j = int(match.group(3))
        if j >= m:
            raise UserError(f"--objective {text!r}: Y_{j} does not exist (the model has {m} outputs, Y_0 .. Y_{m - 1})")
        coeffs[j] += sign * (float(match.group(2)) if match.group(2) else 1.0)
        pos, first = match.end(), False
    if first:
        raise UserError("--objective is empty: give e.g. 'Y_0 - Y_1'")
    return stripped, coeffs
