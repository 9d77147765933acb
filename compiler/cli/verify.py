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

from relucompile.cli.base import (add_seed_option, COMMAND_CLOCK, ExitCode, add_json_option, check_limits, exit_codes_text, guarded,
                                  load_model, make_parser, model_domains, names, refuse_unused, run_limits)
from relucompile.errors import UserError

VERIFY_EPILOG = """examples:
  relucompile verify ACASXU_run2a_1_2_batch_2000.onnx prop_2.vnnlib
  relucompile verify net.onnx prop.vnnlib --time-limit 116 --result-file out.txt
  relucompile verify net.onnx prop.vnnlib --json | jq .verdict

output: the first line is the verdict.
  holds      no input of the property's region satisfies its unsafe condition (exact search)
  violated   followed by the counterexample: x (inside the box, rounded to the model's input type)
             and y = the source model's output at x computed by onnxruntime, which satisfies the
             unsafe condition up to 1e-6 relative; each line ends with the names of its values
             (x1..xd and y1..ym, or --input-names / --output-names)
  unknown    only when --time-limit runs out (or, in pathological float cases, when a counterexample
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
  relucompile bounds ACASXU_run2a_1_1_batch_2000.onnx --vnnlib prop_3.vnnlib --objective "y1 - y2" --json

Prints, for each output (named y1..ym, or by --output-names; or each --objective), the exact
minimum and maximum over the domain and
an input attaining each.  The minimum is the value at the printed input (float64) and no input of
the domain has a value below it by more than 1e-9 * (1 + |min|) (likewise for the maximum).
Boxes use branch and bound; polytope domains (--domain with G, g) enumerate every cell.  With
--vnnlib the domain is the property's input region (the union of its boxes).

""" + exit_codes_text(ExitCode.OK, ExitCode.UNKNOWN, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR,
                      UNKNOWN="--time-limit ran out (the printed ranges are then the best values found and the "
                      "proven outer bounds)") + "\n"


# ------------------------------------------------------------------------------------------------
# verify
# ------------------------------------------------------------------------------------------------

def verify_parser() -> argparse.ArgumentParser:
    p = make_parser("verify", "Decide a VNN-LIB property of an ONNX ReLU network exactly: holds, or violated "
                    "with a counterexample re-checked by onnxruntime on the model.", VERIFY_EPILOG, shared=True,
                    domain=False, model_help="the model (piecewise-linear ops only; ONNX, TorchScript or .pt2), "
                                             "e.g. ACASXU_run2a_1_1_batch_2000.onnx")
    p.add_argument("property", help="the VNN-LIB property (input box(es) and unsafe output condition), e.g. prop_3.vnnlib")
    add_json_option(p, "print one JSON object (verdict, seconds, counterexample x/y, case, search stats) "
                       "instead of text, e.g. --json")
    p.add_argument("--result-file", metavar="F",
                   help="also write the VNN-COMP result file (unsat / sat + assignment / timeout), "
                        "e.g. --result-file result.txt")
    add_seed_option(p, "the falsification points")
    p.add_argument("--method", choices=("auto", "input-split", "relu-bab"), default="auto",
                   help="search: bisect the input box (input-split), branch on ReLU phases (relu-bab), or "
                        "pick by the number of free inputs (auto, the default), e.g. --method relu-bab")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes for the input-split search once it runs past a thousand boxes (default 1); "
                        "the verdict is the same for every N, e.g. --jobs 2")
    return p


@guarded
def run_verify(argv: list[str]) -> int:
    """``relucompile verify MODEL PROP.vnnlib [--time-limit S] [--json] [--result-file F]``; returns the exit code.

    ``--time-limit`` (alias ``--timeout``) counts from the process start (loading and parsing included).

    Example:
        >>> run_verify(["--help"])                                       # doctest: +ELLIPSIS
        usage: relucompile verify ...
        0
    """
    args = verify_parser().parse_args(argv)
    from relucompile.backends.files import atomic_write, check_writable
    from relucompile.numeric.memory import keep_freed_memory
    from relucompile.verify.run import verify_property
    keep_freed_memory()                     # the search's numpy temporaries stop costing page faults
    from relucompile.frontends.vnnlib import parse_vnnlib
    check_limits(args)
    refuse_unused(args, "verify", "its search enumerates no cells", "max_regions")
    if args.result_file:
        check_writable(args.result_file)
    prop = parse_vnnlib(args.property)
    net = load_model(args)
    from relucompile.limits import process_age
    from relucompile.progress import activity
    # --time-limit counts from the command's start (the process start for the console script)
    spent = time.perf_counter() - COMMAND_CLOCK[-1] if COMMAND_CLOCK else process_age()
    onnx_source = args.model if args.model.lower().endswith(".onnx") else None   # re-checked by onnxruntime
    note = f"(--time-limit {args.time_limit:g} s)" if args.time_limit is not None else ""
    with activity("verify", enabled=not args.quiet, note=note):
        result = verify_property(net, prop, timeout=args.time_limit, model=onnx_source, seed=args.seed,
                                 method=args.method, already_spent=spent, jobs=args.jobs)
    if args.result_file:
        text = result.vnncomp_text() + "\n"
        atomic_write(args.result_file, lambda f: f.write(text), text=True)
    input_names = names(args.input_names, net.d, "x", "input")
    output_names = names(args.output_names, net.m, "y", "output")
    if args.json:
        out = result.to_json()
        out.update(model=args.model, property=args.property, input_names=input_names, output_names=output_names)
        print(json.dumps(out))
    else:
        print(result.verdict)
        if result.verdict == "violated":
            print(f"x = {_vector(result.x)}  ({', '.join(input_names)})")
            print(f"y = {_vector(result.y)}  ({', '.join(output_names)}; "
                  f"{'onnxruntime' if onnx_source else 'the network in float64'} on {os.path.basename(args.model)})")
            print(f"violates case {result.case + 1} of {len(prop.cases)}; found by {result.stats.get('found_by')}")
        if result.reason:
            print(f"reason: {result.reason}")
        if not args.quiet:
            print(f"time: {result.seconds:.2f} s")
    return {"holds": ExitCode.OK, "violated": ExitCode.VIOLATED}.get(result.verdict, ExitCode.UNKNOWN)


def _vector(v: np.ndarray) -> str:
    return "[" + ", ".join(repr(float(a)) for a in v) + "]"


# ------------------------------------------------------------------------------------------------
# bounds
# ------------------------------------------------------------------------------------------------

def bounds_parser() -> argparse.ArgumentParser:
    p = make_parser("bounds", "Exact minimum and maximum of each output of an ONNX ReLU network over a domain, "
                    "with the inputs that attain them.", BOUNDS_EPILOG, shared=True,
                    domain_note="required: the range over all of R^d may be infinite",
                    vnnlib_help="the input region of a VNN-LIB property (its boxes), e.g. --vnnlib prop_3.vnnlib")
    p.add_argument("--objective", action="append", metavar="EXPR",
                   help="bound a linear combination of outputs instead of each output, in the output names "
                        "(y1..ym or --output-names; VNN-LIB's Y_0.. also work); repeatable, "
                        "e.g. --objective 'y1 - y2' --objective '2*y4 + 0.5*y5'")
    add_json_option(p)
    return p


@guarded
def run_bounds(argv: list[str]) -> int:
    """``relucompile bounds MODEL (--box LO HI | --domain F | --vnnlib PROP) [--objective E] [--json]``;
    ``--time-limit S`` (alias ``--timeout``): stop after S seconds in total with the best values and
    the proven bounds so far (exit 20).

    Example:
        >>> run_bounds(["--help"])                                       # doctest: +ELLIPSIS
        usage: relucompile bounds ...
        0
    """
    args = bounds_parser().parse_args(argv)
    from relucompile.verify.optimize import output_bounds
    from relucompile.progress import activity
    from relucompile.numeric.tolerances import MIN_SOLVE_SECONDS
    check_limits(args)
    refuse_unused(args, "bounds", "its search enumerates no cells", "max_regions")
    start = COMMAND_CLOCK[-1] if COMMAND_CLOCK else time.perf_counter()
    with run_limits(args):    # --time-limit counts from the start: loading and parsing included
        net = load_model(args)
        domains = model_domains(args, net, bounded_for="bounds", why="the range over all of R^d may be infinite")
    where = args.domain or args.vnnlib or "--box"
    output_names = names(args.output_names, net.m, "y", "output")
    objectives = ([parse_objective(e, net.m, output_names) for e in args.objective] if args.objective
                  else [(name, np.eye(net.m)[j]) for j, name in enumerate(output_names)])
    deadline = None if args.time_limit is None else start + args.time_limit
    ranges = None
    with activity("bounds", enabled=not args.quiet):
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


_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def parse_objective(text: str, m: int, output_names: list[str] | None = None) -> tuple[str, np.ndarray]:
    """``'y1 - 2*y3'`` -> ``(text, coefficient vector over the m outputs)``: outputs by their names
    (``output_names``, default y1..ym) or VNN-LIB's ``Y_0 .. Y_{m-1}``.

    Example:
        >>> parse_objective("y1 - 2*y3 + .5 y2", 3)[1].tolist()
        [1.0, 0.5, -2.0]
        >>> parse_objective("Y_1 - COC", 2, ["COC", "WL"])[1].tolist()
        [-1.0, 1.0]
    """
    output_names = output_names or [f"y{j}" for j in range(1, m + 1)]
    index = {name: j for j, name in enumerate(output_names)}
    index.update({f"Y_{j}": j for j in range(m)} if not set(output_names) & {f"Y_{j}" for j in range(m)} else {})
    alternatives = "|".join(re.escape(name) for name in sorted(index, key=len, reverse=True))
    term = re.compile(rf"\s*([+-])?\s*(?:({_NUMBER})\s*\*?\s*)?({alternatives}|Y_\d+)(?![\w.])\s*")
    coeffs = np.zeros(m)
    pos = 0
    first = True
    stripped = text.strip()
    example = f"'{output_names[0]} - {output_names[-1]}'"
    while pos < len(stripped):
        match = term.match(stripped, pos)
        if not match or match.end() == pos or (not first and not match.group(1)):
            raise UserError(f"--objective {text!r}: expected a linear combination of outputs such as {example}")
        sign = -1.0 if match.group(1) == "-" else 1.0
        if match.group(3) not in index:
            raise UserError(f"--objective {text!r}: {match.group(3)} does not exist (the model has "
                            f"{m} output{'s' if m != 1 else ''}: {', '.join(output_names)})")
        coeffs[index[match.group(3)]] += sign * (float(match.group(2)) if match.group(2) else 1.0)
        pos, first = match.end(), False
    if first:
        raise UserError(f"--objective is empty: give e.g. {example}")
    return stripped, coeffs
