"""Command line: ``relucompile MODEL -o OUT.onnx [--box LO HI | --domain FILE] ...``.

Exit codes: 0 success, 2 usage or input error (one line on stderr naming file, node and op),
1 internal error (a bug: please report it with the model).

Example:
    >>> import os, tempfile
    >>> from relucompile.examples import tiny_mlp_path
    >>> out = os.path.join(tempfile.mkdtemp(), "shallow.onnx")
    >>> main([tiny_mlp_path(), "--box", "0", "0.25", "-o", out, "-q"])
    0
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from relucompile.errors import DomainError, UserError

EPILOG = """examples:
  relucompile model.onnx -o shallow.onnx                  compile over all of R^d
  relucompile model.onnx --box -1 1 -o shallow.onnx       over the box [-1, 1]^d
  relucompile model.onnx --domain box.json -o s.onnx --regions regions.json
      box.json: {"lower": [0, 0], "upper": [1, 2]}  or a polytope {"G": [[1, 1]], "g": [1]}
  relucompile model.onnx --box -1 1 --max-regions 100000 --time-limit 600 -o s.onnx

  relucompile model.onnx --box -1 1 -o rules.txt           readable equations (.txt .tex .py .smt2)
  relucompile net1d.onnx --form two-layer -o two.onnx      1-D nets: minimal one-hidden-layer form
  relucompile model.ts --input-shape 1,2,6,6 --box 0 1 -o s.onnx     TorchScript (also .pt2 archives)

subcommands (relucompile NAME --help):
  explain   the linear rule applied at one input, and how far the input can move
  plot      picture of the partition (2-D, a 2-D slice, or 1-D)
  report    self-contained HTML audit report
  verify    decide a VNN-LIB property exactly (exit 0 holds, 10 violated, 20 unknown)
  bounds    exact min and max of each output over a domain
  ops       the supported ONNX ops and their limits
  certify   prove a regions file exact (exit 0 certified, 3 failed); or compile with --certify

exit codes: 0 success, 2 usage or input error, 1 internal error, 3 --certify failed
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"relucompile: error: {message} (see relucompile --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="relucompile", description="Compile a deep ReLU network (ONNX) into the exactly "
                "equal network with three hidden layers (docs/design.md), and list its activation regions.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="the source model (piecewise-linear ops only): ONNX, a TorchScript file or a "
                                 "torch.export archive (.pt2; needs relucompile[torch]), e.g. model.onnx")
    p.add_argument("--input-shape", metavar="DIMS",
                   help="input shape for a TorchScript file (or a .pt2 with free dimensions), e.g. "
                        "--input-shape 1,2,6,6; ONNX models fix their own shape")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="where to write the shallow ONNX model (.onnx) or its equations (.txt .tex .py "
                        ".smt2), e.g. -o shallow.onnx")
    p.add_argument("--format", choices=["text", "latex", "sympy", "smtlib"],
                   help="write equations instead of ONNX (default: chosen by the extension of -o)")
    p.add_argument("--digits", type=int, default=6,
                   help="significant digits of numbers in text/LaTeX equations (default 6; exact "
                        "values stay in the regions file, the SymPy and the SMT-LIB output)")
    p.add_argument("--form", choices=["three-layer", "two-layer"], default="three-layer",
                   help="three-layer: the shallow net of docs/design.md (default); two-layer: for 1-D inputs, "
                        "the minimal one-hidden-layer net with finite weights (Huang)")
    p.add_argument("--basis", choices=["one-sided", "two-sided"], default="one-sided",
                   help="with --form two-layer: ReLUs all opening to the right (one-sided) or on both "
                        "sides of a pivot breakpoint (two-sided)")
    p.add_argument("--pivot", type=int, metavar="I",
                   help="with --basis two-sided: index (1-based) of the pivot breakpoint (default: middle)")
    dom = p.add_mutually_exclusive_group()
    dom.add_argument("--box", nargs=2, type=float, metavar=("LO", "HI"),
                     help="domain [LO, HI]^d, the same bounds for every input, e.g. --box -1 1 "
                          "(default: all of R^d)")
    dom.add_argument("--domain", metavar="FILE",
                     help='JSON domain: {"lower": [...], "upper": [...]} for a box or '
                          '{"G": [[...]], "g": [...]} for the polytope G x <= g, e.g. --domain box.json')
    dom.add_argument("--vnnlib", metavar="PROP.vnnlib",
                     help="the input region of a VNN-LIB property; a union of boxes that is a box is "
                          "compiled as one model, otherwise one model per box: OUT.box1.onnx, "
                          "OUT.box2.onnx, ... (and REGIONS.box1.json, ...), e.g. --vnnlib prop_6.vnnlib")
    p.add_argument("--regions", metavar="FILE.json",
                   help="also write every cell (pattern, A, c, inequalities, interior point), e.g. "
                        "--regions regions.json")
    p.add_argument("--max-regions", type=int, metavar="N",
                   help="stop with an error after N cells, e.g. --max-regions 100000")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="stop with an error after S seconds of enumeration, e.g. --time-limit 600")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes for the split engine's enumeration (default 1; the vertex engine "
                        "runs in one process); the result is the same for every N, e.g. --jobs 2")
    p.add_argument("--engine", choices=["auto", "vertex", "split"], default="auto",
                   help="region enumeration engine: auto (default: vertex on boxes in up to 12 free "
                        "coordinates, else split), vertex (no LPs, boxes only), split (LPs, any domain, "
                        "--jobs); the cells are the same, e.g. --engine split")
    p.add_argument("--seed", type=int, default=0, help="seed of the tie-break reference point (default 0)")
    p.add_argument("--certify", action="store_true",
                   help="prove the result in exact rational arithmetic (cells, maps, completeness, tie-break; "
                        "see relucompile certify --help), store the maps as the nearest floats of the exact "
                        "ones and write the certificate into the outputs; exit 3 and write nothing if it fails")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    from relucompile.version import __version__
    p.add_argument("--version", action="version", version=f"relucompile {__version__}")
    return p


def _domain(args, d_hint: int | None):
    from relucompile.ir.domain import Domain
    if args.domain:
        return Domain.from_json(args.domain)
    if args.box:
        lo, hi = args.box
        if d_hint is None:
            raise DomainError("--box needs the model's input size")
        return Domain.box([lo] * d_hint, [hi] * d_hint)
    return None


def run_compile(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from relucompile.backends.files import check_writable
    from relucompile.api.compile import load_network
    if args.max_regions is not None and args.max_regions < 1:
        raise UserError("--max-regions must be at least 1")
    if args.time_limit is not None and args.time_limit <= 0:
        raise UserError("--time-limit must be positive")
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    for path in filter(None, [args.output, args.regions]):
        check_writable(path)
    start = time.perf_counter()
    from relucompile.frontends.torch_frontend import parse_shape
    net = load_network(args.model, input_shape=parse_shape(args.input_shape) if args.input_shape else None)
    domain = _domain(args, net.d)
    if domain is not None and domain.d != net.d:
        raise DomainError(f"{args.domain or '--box'}: the domain has dimension {domain.d} but "
                          f"{os.path.basename(args.model)} has {net.d} inputs")
    from relucompile.backends.equations import format_for_path
    equations_format = args.format or (None if args.output.lower().endswith(".onnx")
                                       else format_for_path(args.output))
    if args.format and args.output.lower().endswith(".onnx"):
        raise UserError(f"{args.output}: --format {args.format} writes equations; give a .txt .tex .py or "
                        ".smt2 file, or drop --format to get ONNX")
    if not args.output.lower().endswith(".onnx") and equations_format is None:
        raise UserError(f"{args.output}: cannot tell the output from the extension (.onnx .txt .tex .py "
                        ".smt2); give --format text|latex|sympy|smtlib")
    if args.form == "two-layer" and net.d != 1:
        raise UserError(f"{os.path.basename(args.model)}: --form two-layer needs a model with one input, "
                        f"this one has {net.d}")
    if args.form != "two-layer" and (args.basis != "one-sided" or args.pivot is not None):
        raise UserError("--basis and --pivot go with --form two-layer")
    for domain, output, regions in _targets(args, net, domain):
        code = _compile_one(args, net, domain, output, regions, equations_format, start)
        if code:
            return code
    return 0


def _targets(args, net, domain) -> list[tuple]:
    """(domain, output path, regions path) per model to write: one, or one per box of --vnnlib."""
    if not args.vnnlib:
        return [(domain, args.output, args.regions)]
    from relucompile.verify.run import domain_from_vnnlib, domains_from_vnnlib
    from relucompile.frontends.vnnlib import parse_vnnlib
    prop = parse_vnnlib(args.vnnlib)
    if prop.num_inputs != net.d:
        raise DomainError(f"{args.vnnlib}: the property has {prop.num_inputs} inputs but "
                          f"{os.path.basename(args.model)} has {net.d}")
    try:
        return [(domain_from_vnnlib(prop), args.output, args.regions)]
    except UserError:  # a union of boxes that is not convex: one model per box
        pass

    def numbered(path, i):
        if not path:
            return path
        stem, ext = os.path.splitext(path)
        return f"{stem}.box{i}{ext}"
    return [(dom, numbered(args.output, i), numbered(args.regions, i))
            for i, dom in enumerate(domains_from_vnnlib(prop), start=1)]


def _compile_one(args, net, domain, output, regions, equations_format, start) -> int:
    """Compile ``net`` over ``domain`` and write ``output`` (ONNX or equations) and ``regions``."""
    from relucompile.api.compile import compile_network, save_onnx, save_regions
    shallow = compile_network(net, domain, max_regions=args.max_regions, time_limit=args.time_limit,
                              progress=not args.quiet, seed=args.seed, jobs=args.jobs,
                              engine=args.engine)
    certificate = None
    if args.certify:
        from relucompile.cli.certify import certify_compiled
        certificate = certify_compiled(shallow, quiet=args.quiet)
        if certificate is None:
            return 3
    if args.form == "two-layer":
        from relucompile.backends.two_layer import write_two_layer
        from relucompile.analysis.one_d import two_layer_form
        write_two_layer(two_layer_form(shallow, args.basis, args.pivot), output,
                        net.meta["signature"], fmt=equations_format, digits=args.digits)
    elif equations_format:
        from relucompile.backends.equations import write_equations
        write_equations(shallow, output, equations_format, digits=args.digits)
    else:
        save_onnx(shallow, output, certificate and certificate.metadata())
    if regions:
        save_regions(shallow, regions, certificate and certificate.to_json())
    if not args.quiet:
        sizes = shallow.layer_sizes()
        bounded = int(shallow.regions.cells.bounded.sum())
        print(f"{os.path.basename(args.model)} over {shallow.domain.describe()}: {shallow.num_cells:,} cells "
              f"({bounded:,} bounded), {shallow.num_hyperplanes:,} hyperplanes; shallow layers "
              f"H1={sizes['H1']:,} H2={sizes['H2']:,} H3={sizes['H3']:,} out={sizes['out']}; "
              f"{time.perf_counter() - start:.2f} s -> {output}" + (f", {regions}" if regions else ""))
        if certificate is not None:
            print(certificate.summary())
    return 0


def _commands() -> dict:
    """Subcommands: ``relucompile NAME ...``; each is ``run_NAME(argv) -> exit code``."""
    from relucompile.cli.audit import run_explain, run_plot, run_report
    from relucompile.cli.certify import run_certify
    from relucompile.cli.ops import run_ops
    from relucompile.cli.verify import run_bounds, run_verify
    return {"explain": run_explain, "plot": run_plot, "report": run_report,
            "verify": run_verify, "bounds": run_bounds, "ops": run_ops, "certify": run_certify}


COMMANDS = _commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``relucompile`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    try:
        return command(argv[1:]) if command else run_compile(argv)
    except UserError as exc:
        print(f"relucompile: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relucompile: interrupted; no output written", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so, keep the traceback available
        if os.environ.get("RELUCOMPILE_DEBUG"):
            traceback.print_exc()
        print(f"relucompile: internal error: {type(exc).__name__}: {exc} (a bug; rerun with "
              "RELUCOMPILE_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
