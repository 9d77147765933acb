"""Command line: ``relucompile verify`` (decide a VNN-LIB property) and ``relucompile bounds``.

Both subcommands are functions ``run_<name>(argv) -> exit code`` for ``relucompile.cli.main.COMMANDS``.
They report user mistakes (bad model, malformed VNN-LIB, bad options) in one line on stderr,
``relucompile: error: <file>:<line>: <what is wrong>``, and return 2 themselves, so they behave
the same whether called through ``relucompile`` or directly.

Example:
    >>> run_verify(["../shared/data/vnncomp-test/test_small.onnx",
    ...             "../shared/data/vnncomp-test/test_small.vnnlib"])      # doctest: +SKIP
    holds
    0
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Callable

import numpy as np

from relucompile.errors import UserError

EXIT_HOLDS, EXIT_VIOLATED, EXIT_UNKNOWN, EXIT_USER_ERROR, EXIT_INTERNAL = 0, 10, 20, 2, 1

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

exit codes: 0 holds, 10 violated, 20 unknown (timeout), 2 usage or input error (bad model,
malformed VNN-LIB, ...), 1 internal error (a bug)

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

exit codes: 0 success, 20 --timeout ran out (the printed ranges are then the best values found and
the proven outer bounds), 2 usage or input error, 1 internal error (a bug)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USER_ERROR, f"relucompile {self.prog.split()[-1]}: error: {message} "
                                   f"(see relucompile {self.prog.split()[-1]} --help)\n")


def _guard(run: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a subcommand: user errors become one line on stderr and exit code 2."""
    try:
        return run(argv)
    except UserError as exc:
        print(f"relucompile: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SystemExit as exc:       # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)


# ------------------------------------------------------------------------------------------------
# verify
# ------------------------------------------------------------------------------------------------

def verify_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="relucompile verify", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Decide a VNN-LIB property of an ONNX ReLU network exactly: holds, or violated "
                            "with a counterexample re-checked by onnxruntime on the model.",
                epilog=VERIFY_EPILOG)
    p.add_argument("model", help="the ONNX model (piecewise-linear ops only), e.g. ACASXU_run2a_1_1_batch_2000.onnx")
    p.add_argument("property", help="the VNN-LIB property (input box(es) and unsafe output condition), e.g. prop_3.vnnlib")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="give up after S seconds with 'unknown' (exit 20), counted from the process start (loading and "
                        "parsing included), e.g. --timeout 116 (default: none)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (verdict, seconds, counterexample x/y, case, search stats) "
                        "instead of text, e.g. --json")
    p.add_argument("--result-file", metavar="F",
                   help="also write the VNN-COMP result file (unsat / sat + assignment / timeout), "
                        "e.g. --result-file result.txt")
    p.add_argument("--seed", type=int, default=0, help="seed of the random falsification points (default 0)")
    p.add_argument("--method", choices=("auto", "input-split", "relu-bab"), default="auto",
                   help="search: bisect the input box (input-split), branch on ReLU phases (relu-bab), or "
                        "pick by the number of free inputs (auto, the default), e.g. --method relu-bab")
    return p


def run_verify(argv: list[str]) -> int:
    """``relucompile verify MODEL PROP.vnnlib [--timeout S] [--json] [--result-file F]``; returns the exit code.

    Example:
        >>> run_verify(["--help"])                                       # doctest: +ELLIPSIS
        usage: relucompile verify ...
        0
    """
    return _guard(_verify, argv)


def _verify(argv: list[str]) -> int:
    args = verify_parser().parse_args(argv)
    from relucompile.backends.files import atomic_write, check_writable
    from relucompile.verify.run import verify_property
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.api.compile import load_network
    if args.timeout is not None and not args.timeout > 0:
        raise UserError("--timeout must be a positive number of seconds")
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
    return {"holds": EXIT_HOLDS, "violated": EXIT_VIOLATED}.get(result.verdict, EXIT_UNKNOWN)


def _vector(v: np.ndarray) -> str:
    return "[" + ", ".join(repr(float(a)) for a in v) + "]"


# ------------------------------------------------------------------------------------------------
# bounds
# ------------------------------------------------------------------------------------------------

def bounds_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="relucompile bounds", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Exact minimum and maximum of each output of an ONNX ReLU network over a domain, "
                            "with the inputs that attain them.", epilog=BOUNDS_EPILOG)
    p.add_argument("model", help="the ONNX model, e.g. fc_2-2-3.onnx")
    dom = p.add_mutually_exclusive_group(required=True)
    dom.add_argument("--box", nargs=2, type=float, metavar=("LO", "HI"),
                     help="the domain [LO, HI]^d, the same bounds for every input, e.g. --box -1 1")
    dom.add_argument("--domain", metavar="F",
                     help='JSON domain: {"lower": [...], "upper": [...]} (a box) or {"G": [[...]], "g": [...]} '
                          '(the polytope G x <= g), e.g. --domain box.json')
    dom.add_argument("--vnnlib", metavar="PROP",
                     help="the input region of a VNN-LIB property (its boxes), e.g. --vnnlib prop_3.vnnlib")
    p.add_argument("--objective", action="append", metavar="EXPR",
                   help="bound a linear combination of outputs instead of each output; repeatable, "
                        "e.g. --objective 'Y_0 - Y_1' --objective '2*Y_3 + 0.5*Y_4'")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="stop after S seconds in total and print the best values and proven bounds so far "
                        "(exit 20), e.g. --timeout 60")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text, e.g. --json")
    return p


def run_bounds(argv: list[str]) -> int:
    """``relucompile bounds MODEL (--box LO HI | --domain F | --vnnlib PROP) [--objective E] [--json]``.

    Example:
        >>> run_bounds(["--help"])                                       # doctest: +ELLIPSIS
        usage: relucompile bounds ...
        0
    """
    return _guard(_bounds, argv)


def _bounds(argv: list[str]) -> int:
    args = bounds_parser().parse_args(argv)
    from relucompile.ir.domain import Domain
    from relucompile.verify.run import domains_from_vnnlib
    from relucompile.verify.optimize import output_bounds
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.api.compile import load_network
    if args.timeout is not None and not args.timeout > 0:
        raise UserError("--timeout must be a positive number of seconds")
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
    import time
    deadline = None if args.timeout is None else time.perf_counter() + args.timeout
    ranges = None
    for domain in domains:          # a union of boxes: min of the minima, max of the maxima
        left = None if deadline is None else max(deadline - time.perf_counter(), 1e-3)
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
    return EXIT_HOLDS if exact else EXIT_UNKNOWN


def _union(a, b):
    """The range over the union of two domains."""
    from dataclasses import replace
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
