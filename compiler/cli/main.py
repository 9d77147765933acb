"""Command line: ``relucompile MODEL -o OUT.onnx [--box LO HI | --domain FILE] ...`` and its subcommands.

``relucompile NAME ...`` runs the subcommand NAME of :data:`COMMANDS`; each one is imported when it
runs, so start-up (and ``--help``) stays cheap.  Every command runs under one error guard and
returns a code of one table (:mod:`relucompile.cli.base`): 0 success, 2 usage or input error (one
line on stderr naming file, node and op), 1 internal error (a bug: please report it with the model).

Example:
    >>> import os, tempfile
    >>> from relucompile.examples import tiny_mlp_path
    >>> out = os.path.join(tempfile.mkdtemp(), "shallow.onnx")
    >>> main([tiny_mlp_path(), "--box", "0", "0.25", "-o", out, "-q"])
    0
    >>> main(["no-such-model.onnx", "-o", out])
    2
"""
from __future__ import annotations

import importlib
import os
import sys
import time
from typing import Callable

from relucompile.cli.base import (add_from_regions_option, add_seed_option, ExitCode, Parser, announce_estimate,
                                  check_limits, command_clock, exit_codes_text, guarded, load_for_dataset, load_model,
                                  make_parser, max_regions, model_domains, names, refuse_unused, run_limits)
from relucompile.errors import UserError
from relucompile.progress import plural
from relucompile.version import __version__

EPILOG = """examples:
  relucompile model.onnx -o shallow.onnx                  compile over all of R^d
  relucompile model.onnx --box -1 1 -o shallow.onnx       over the box [-1, 1]^d
  relucompile model.onnx --domain box.json -o s.onnx --regions regions.json
      box.json: {"lower": [0, 0], "upper": [1, 2]}  or a polytope {"G": [[1, 1]], "g": [1]}
  relucompile model.onnx --box -1 1 --max-regions 100000 --time-limit 600 -o s.onnx

  relucompile model.onnx --box -1 1 -o rules.txt           readable equations (.txt .tex .py .smt2)
  relucompile model.onnx --from-regions cells.parquet -o rules.txt   from stored cells, not enumerated again
  relucompile net1d.onnx --form two-layer -o two.onnx      1-D nets: minimal one-hidden-layer form
  relucompile model.pt2 --box 0 1 -o s.onnx                 a torch.export archive (no code runs)
  relucompile model.ts --trust-model-code --input-shape 1,2,6,6 --box 0 1 -o s.onnx   TorchScript

subcommands (relucompile NAME --help):
  explain   the linear rule applied at one input, and how far the input can move
  plot      picture of the partition (2-D, a 2-D slice, or 1-D)
  report    self-contained HTML audit report
  verify    decide a VNN-LIB property exactly (exit 0 holds, 10 violated, 20 unknown)
  bounds    exact min and max of each output over a domain
  ops       the supported ONNX ops and their limits
  certify   prove a regions file exact (exit 0 certified, 3 failed); or compile with --certify
  lens      effective weights over data: cells visited, per-class weights and similarity
  prune     the smallest equal deep network on a domain (stable and duplicate units removed)
  check     compare two models on a domain: largest output difference and where (exit 0 within tolerance, 1 not)

""" + exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR, ExitCode.CERTIFY_FAILED,
                      CERTIFY_FAILED="--certify failed") + "\n"


def build_parser() -> Parser:
    p = make_parser(None, "Compile a deep ReLU network (ONNX) into the exactly equal network with three "
                    "hidden layers (docs/design.md), and list its activation regions.", EPILOG, shared=True,
                    vnnlib_help="the input region of a VNN-LIB property; a union of boxes that is a box is "
                                "compiled as one model, otherwise one model per box: OUT.box1.onnx, "
                                "OUT.box2.onnx, ... (and REGIONS.box1.json, ...), e.g. --vnnlib prop_6.vnnlib")
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
    p.add_argument("--layout", choices=["index", "layers"], default="index",
                   help="ONNX output: 'index' (default) finds the one active H3 unit with a point-location "
                        "tree (fast, memory O(batch)); 'layers' is the literal three-layer network that "
                        "evaluates every cell (the textbook form; memory O(batch x cells))")
    p.add_argument("--basis", choices=["one-sided", "two-sided"], default="one-sided",
                   help="with --form two-layer: ReLUs all opening to the right (one-sided) or on both "
                        "sides of a pivot breakpoint (two-sided)")
    p.add_argument("--pivot", type=int, metavar="I",
                   help="with --basis two-sided: index (1-based) of the pivot breakpoint (default: middle)")
    p.add_argument("--regions", metavar="FILE.json|DIR.parquet",
                   help="also write every cell (pattern, A, c, inequalities, interior point): JSON, or "
                        "a partitioned Parquet dataset (a folder, needs pyarrow; for large runs), e.g. "
                        "--regions regions.json or --regions cells.parquet")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="local processes for the enumeration (default 1; both engines, the vertex "
                        "engine from a few thousand cells on); the result is the same for every N, e.g. --jobs 2")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the enumeration's tasks (and write a Parquet dataset's parts) on a Dask cluster: "
                        "'local' starts one of --jobs worker processes, else the scheduler's address joins an "
                        "existing one (the --regions folder must be on storage its workers share); needs "
                        "relucompile[cluster]; the result is the same, e.g. --cluster tcp://10.0.0.5:8786")
    p.add_argument("--engine", choices=["auto", "vertex", "split"], default="auto",
                   help="region enumeration engine: auto (default: vertex on boxes in up to 12 free "
                        "coordinates, else split), vertex (no LPs, boxes only), split (LPs, any domain, "
                        "--jobs); the cells are the same, e.g. --engine split")
    add_from_regions_option(p, "build the shallow model (or equations) from a Parquet regions dataset written by "
                               "relucompile --regions for this model, read batch by batch, instead of enumerating "
                               "again; the domain and reference point are the dataset's, e.g. --from-regions cells.parquet")
    add_seed_option(p, "the tie-break reference point")
    p.add_argument("--certify", action="store_true",
                   help="prove the result in exact rational arithmetic (cells, maps, completeness, tie-break; "
                        "see relucompile certify --help), store the maps as the nearest floats of the exact "
                        "ones and write the certificate into the outputs; exit 3 and write nothing if it fails")
    p.add_argument("--version", action="version", version=f"relucompile {__version__}")
    return p


@guarded
def run_compile(argv: list[str]) -> int:
    """``relucompile MODEL -o OUT ...``: compile and write the outputs; returns the exit code."""
    args = build_parser().parse_args(argv)
    check_limits(args)
    with run_limits(args):
        return _run_compile(args)


def _run_compile(args) -> int:
    """The compile command's work, within its limits (see :func:`run_compile`)."""
    from relucompile.backends.files import check_writable
    check_limits(args)
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    for path in filter(None, [args.output, args.regions]):
        check_writable(path)
    start = time.perf_counter()
    if args.from_regions:
        if args.regions and os.path.abspath(args.regions) == os.path.abspath(args.from_regions):
            raise UserError(f"--regions {args.regions}: that is the dataset read (--from-regions); name another")
        refuse_unused(args, "--from-regions", "the cells are read, not enumerated", "cluster", "max_regions")
        net, stored_domain = load_for_dataset(args, args.from_regions)
        prop = None
    else:
        prop = _read_property(args)
        net = load_model(args, domain=_known_domain(args, prop))
    d = net.embedding.d if net.embedding is not None else net.d     # the source's inputs
    from relucompile.backends.equations import format_for_path
    equations_format = args.format or (None if args.output.lower().endswith(".onnx")
                                       else format_for_path(args.output))
    if args.format and args.output.lower().endswith(".onnx"):
        raise UserError(f"{args.output}: --format {args.format} writes equations; give a .txt .tex .py or "
                        ".smt2 file, or drop --format to get ONNX")
    if not args.output.lower().endswith(".onnx") and equations_format is None:
        raise UserError(f"{args.output}: cannot tell the output from the extension (.onnx .txt .tex .py "
                        ".smt2); give --format text|latex|sympy|smtlib")
    if args.form == "two-layer" and d != 1:
        raise UserError(f"{os.path.basename(args.model)}: --form two-layer needs a model with one input, "
                        f"this one has {d}")
    if args.form != "two-layer" and (args.basis != "one-sided" or args.pivot is not None):
        raise UserError("--basis and --pivot go with --form two-layer")
    from relucompile.api.compile import cluster_session
    with cluster_session(args.cluster, args.jobs):
        targets = [(stored_domain, args.output, args.regions)] if args.from_regions else _targets(args, net, prop)
        for domain, output, regions in targets:
            code = _compile_one(args, net, domain, output, regions, equations_format, start)
            if code:
                return code
    return 0


def _read_property(args):
    """The ``--vnnlib`` property, parsed once for the whole command (None without it)."""
    if not args.vnnlib:
        return None
    from relucompile.frontends.vnnlib import parse_vnnlib
    return parse_vnnlib(args.vnnlib)


def _known_domain(args, prop):
    """The domain when it is known before loading (``--domain FILE``, or a ``--vnnlib`` property
    whose boxes form one box): a large model is then lowered over its free coordinates only."""
    from relucompile.ir.domain import Domain
    if args.domain:
        return Domain.from_json(args.domain)
    if prop is not None:
        from relucompile.verify.run import domain_from_vnnlib
        try:
            return domain_from_vnnlib(prop)
        except UserError:   # several boxes: each is compiled over every input
            return None
    return None


def _targets(args, net, prop=None) -> list[tuple]:
    """(domain, output path, regions path) per model to write: one, or one per box of a --vnnlib
    property whose boxes do not form one box."""
    domains = model_domains(args, net, prop=prop)
    if len(domains) == 1:
        return [(domains[0], args.output, args.regions)]

    def numbered(path, i):
        if not path:
            return path
        stem, ext = os.path.splitext(path)
        return f"{stem}.box{i}{ext}"
    return [(dom, numbered(args.output, i), numbered(args.regions, i)) for i, dom in enumerate(domains, start=1)]


def _compile_one(args, net, domain, output, regions, equations_format, start) -> int:
    """Compile ``net`` over ``domain`` and write ``output`` (ONNX or equations) and ``regions``."""
    from relucompile.api.compile import compile_network, save_onnx, save_regions
    from relucompile.progress import activity
    if args.from_regions:
        from relucompile.shallow.stored import shallow_from_dataset
        with activity("reading regions", enabled=not args.quiet):
            shallow = shallow_from_dataset(net, args.from_regions)
    else:
        with activity("regions", enabled=not args.quiet) as bar:
            announce_estimate(bar, net, domain, args)
            shallow = compile_network(net, domain, max_regions=max_regions(args), time_limit=args.time_limit,
                                      progress=not args.quiet, seed=args.seed, jobs=args.jobs, engine=args.engine)
    certificate = None
    if args.certify:
        from relucompile.cli.certify import certify_compiled
        certificate = certify_compiled(shallow, quiet=args.quiet)
        if certificate is None:
            return ExitCode.CERTIFY_FAILED
    input_names = names(args.input_names, net.d, "x", "input")
    output_names = names(args.output_names, net.m, "y", "output")
    if args.form == "two-layer":
        from relucompile.backends.two_layer import write_two_layer
        from relucompile.analysis.one_d import two_layer_form
        form = two_layer_form(shallow, args.basis, args.pivot)
        write_two_layer(form, output, net.signature, fmt=equations_format, digits=args.digits)
        written = f"two-layer form: {plural(form.num_hidden, 'hidden unit')} ({args.basis})"
    elif equations_format:
        from relucompile.backends.equations import write_equations
        write_equations(shallow, output, equations_format, digits=args.digits, input_names=input_names,
                        output_names=output_names)
        written = f"equations ({equations_format})"
    else:
        save_onnx(shallow, output, certificate and certificate.metadata(), layout=args.layout)
        sizes = shallow.layer_sizes()
        written = f"shallow layers H1={sizes['H1']:,} H2={sizes['H2']:,} H3={sizes['H3']:,} out={sizes['out']}"
    if regions:
        save_regions(shallow, regions, certificate and certificate.to_json(), jobs=args.jobs)
    if not args.quiet:
        bounded = int(shallow.regions.cells.bounded.sum())
        over = shallow.domain.describe()
        if net.embedding is not None:
            over = f"{over} ({net.d:,} free of {net.embedding.d:,} inputs)"
        print(f"{os.path.basename(args.model)} over {over}: {plural(shallow.num_cells, 'cell')} "
              f"({bounded:,} bounded), {plural(shallow.num_hyperplanes, 'hyperplane')}; {written}; "
              f"{time.perf_counter() - start:.2f} s -> {output}" + (f", {regions}" if regions else ""))
        if certificate is not None:
            print(certificate.summary())
    return 0


class LazyCommand:
    """A subcommand imported when it runs: ``run_NAME(argv) -> exit code`` in ``module``."""

    def __init__(self, module: str, function: str) -> None:
        self.module, self.function = module, function

    def __call__(self, argv: list[str]) -> int:
        return getattr(importlib.import_module(self.module), self.function)(argv)

    def __repr__(self) -> str:
        return f"LazyCommand({self.module}:{self.function})"


#: ``relucompile NAME ...`` -> the function that runs it (add a subcommand here)
COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "explain": LazyCommand("relucompile.cli.audit", "run_explain"),
    "plot": LazyCommand("relucompile.cli.audit", "run_plot"),
    "report": LazyCommand("relucompile.cli.audit", "run_report"),
    "verify": LazyCommand("relucompile.cli.verify", "run_verify"),
    "bounds": LazyCommand("relucompile.cli.verify", "run_bounds"),
    "ops": LazyCommand("relucompile.cli.ops", "run_ops"),
    "certify": LazyCommand("relucompile.cli.certify", "run_certify"),
    "lens": LazyCommand("relucompile.cli.lens", "run_lens"),
    "prune": LazyCommand("relucompile.cli.lens", "run_prune"),
    "check": LazyCommand("relucompile.cli.check", "run_check"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``relucompile`` console script (and ``python -m relucompile``); returns
    the exit code (:class:`~relucompile.cli.base.ExitCode`)."""
    with command_clock(from_process_start=argv is None):   # --time-limit counts from here
        argv = list(sys.argv[1:] if argv is None else argv)
        command = COMMANDS.get(argv[0]) if argv else None
        if command is None:
            return int(run_compile(argv))
        return int(guarded(command)(argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
