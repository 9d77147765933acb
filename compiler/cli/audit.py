"""Audit subcommands: ``relucompile explain``, ``relucompile plot`` and ``relucompile report``.

Each is ``run_<name>(argv) -> int`` for :data:`relucompile.cli.main.COMMANDS`, under the error guard
of :mod:`relucompile.cli.base` (user mistakes: one line, exit 2); every output file is written atomically.

Example:
    >>> from relucompile.examples import tiny_mlp_path
    >>> run_explain([tiny_mlp_path(), "--at", "0.1,0.2", "--json"]) == 0   # doctest: +ELLIPSIS
    {...}
    True
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np

from relucompile.cli.base import (add_from_regions_option, add_seed_option, ExitCode, add_json_option, check_limits,
                                  exit_codes_text, guarded, load_for_dataset, load_model, make_parser, max_regions,
                                  model_domain, names, refuse_unused, run_limits)
from relucompile.errors import UserError, regular_input_file
from relucompile.limits import doing
from relucompile.ir.domain import Domain

DOMAIN_HELP = """domain (default: all of R^d; pictures need a bounded one):
  --box LO HI        the box [LO, HI]^d, e.g. --box -1 1
  --domain FILE      JSON: {"lower": [...], "upper": [...]} (a box; sides may have zero width)
                     or {"G": [[...]], "g": [...]} (the polytope G x <= g)
  --vnnlib PROP      the input box of a VNN-LIB property
"""


def attach_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``--at -0.5,1`` -> ``--at=-0.5,1``: argparse takes a value that starts with '-' (and is not a
    plain number) for an option, so negative coordinates are attached to their option.

    Example:
        >>> attach_values(["m.onnx", "--at", "-0.5,1", "--json"], ("--at",))
        ['m.onnx', '--at=-0.5,1', '--json']
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in options and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1][1:2] in "0123456789.;, ":
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _names(text: str | None, count: int, what: str) -> list[str]:
    """``--input-names`` / ``--output-names``, else x1..xd / y1..ym (:func:`relucompile.cli.base.names`)."""
    return names(text, count, "x" if what == "input" else "y", what)


EXIT_CODES = exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR)

# -- explain -----------------------------------------------------------------------------------

EXPLAIN_EPILOG = """examples:
  relucompile explain model.onnx --at "0.1, -0.3"              one input, readable text
  relucompile explain model.onnx --at "0.1,-0.3" --box -1 1    the ball also stays inside [-1, 1]^d
  relucompile explain model.onnx --inputs points.csv --json -o explained.json
      points.csv: one input per line, d numbers (a header line is allowed); or points.npy (N, d)

for each input: the activation pattern, the effective weights W_eff and b_eff with
f(x) = W_eff x + b_eff on the input's cell, the contributions W_eff * x of every input to every
output, the cell's conditions (every unit's sign condition and the domain's rows; the facets are
marked), and the radius of the largest ball around x on which the same rule holds, with the
condition that limits it.  Layers and units count from 0, as in the regions JSON.

""" + DOMAIN_HELP + "\n" + EXIT_CODES + "\n"


def explain_parser() -> argparse.ArgumentParser:
    p = make_parser("explain", "Explain the network's output at given inputs: the linear rule it applies "
                "there and how far the input can move before the rule changes.", EXPLAIN_EPILOG, shared=True)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", metavar="X", help='one input as comma-separated numbers, e.g. --at "0.5,-1,2"')
    where.add_argument("--inputs", metavar="FILE", help="many inputs: FILE.npy (array (N, d)) or FILE.csv "
                       "(one input per line), e.g. --inputs points.csv")
    add_json_option(p, "machine-readable JSON instead of text, e.g. --json")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout, e.g. -o x.json")
    p.add_argument("--digits", type=int, default=6, help="significant digits in the text (default 6), e.g. --digits 4")
    p.add_argument("--all-conditions", action="store_true",
                   help="text: list every condition, not only the cell's facets")
    p.add_argument("--no-facets", action="store_true",
                   help="skip marking facets (saves one small LP per condition on large nets)")
    return p


def parse_point(text: str, d: int) -> np.ndarray:
    """``"0.5, -1 2"`` (commas and/or spaces, optional brackets) -> array of d floats.

    Example:
        >>> parse_point("[0.5, -1]", 2).tolist()
        [0.5, -1.0]
    """
    cleaned = text.strip().strip("[]()").replace(",", " ")
    try:
        values = [float(v) for v in cleaned.split()]
    except ValueError:
        raise UserError(f"--at {text!r}: not a list of numbers") from None
    if len(values) != d:
        raise UserError(f"--at: expected {d} numbers (the model's inputs), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise UserError(f"--at {text!r}: the numbers must be finite")
    return np.array(values)


def read_points(path: str, d: int) -> np.ndarray:
    """Inputs from ``.npy`` (any shape with d values per input) or ``.csv``/``.txt`` (one per line).

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
        >>> _ = open(path, "w").write("a,b\\n1,2\\n3,4\\n")
        >>> read_points(path, 2).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    name = os.path.basename(path)
    regular_input_file(path)
    if path.lower().endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{name}: not a readable .npy array ({exc})") from None
        if arr.dtype.kind not in "fiu" or arr.size == 0 or arr.size % d:
            raise UserError(f"{name}: array of shape {arr.shape} and type {arr.dtype} does not hold inputs of {d} numbers")
        X = arr.reshape(-1, d).astype(np.float64)
        if not np.all(np.isfinite(X)):
            raise UserError(f"{name}: the array has non-finite values")
        return X
    rows = []
    try:
        with open(path, newline="") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                cells = [c.strip() for c in row if c.strip()]
                if not cells:
                    continue
                try:
                    values = [float(c) for c in cells]
                except ValueError:
                    if line_no == 1 and not rows:
                        continue  # a header line
                    raise UserError(f"{name}: line {line_no}: not a list of numbers") from None
                if len(values) != d:
                    raise UserError(f"{name}: line {line_no}: expected {d} numbers (the model's inputs), got {len(values)}")
                if not all(math.isfinite(v) for v in values):
                    raise UserError(f"{name}: line {line_no}: the numbers must be finite")
                rows.append(values)
    except UnicodeDecodeError:
        raise UserError(f"{name}: not a text CSV file (use .npy for binary arrays)") from None
    if not rows:
        raise UserError(f"{name}: no inputs found")
    return np.array(rows)


def read_labels(path: str, count: int) -> np.ndarray:
    """One label per sample (``.npy`` or one number per line), integers when every label is one.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "y.csv")
        >>> _ = open(path, "w").write("0\\n2\\n1\\n")
        >>> read_labels(path, 3).tolist()
        [0, 2, 1]
    """
    labels = read_points(path, 1).reshape(-1)
    if len(labels) != count:
        raise UserError(f"{path}: {len(labels)} labels for {count} samples")
    return labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels


def image_shape(text: str | None, d: int) -> tuple[int, ...] | None:
    """``--image-shape H,W`` as a tuple whose product is ``d`` (None without the option)."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--image-shape: expected integers like 8,8, got {text!r}") from None
    if int(np.prod(shape)) != d:
        raise UserError(f"--image-shape {text}: {int(np.prod(shape))} pixels but the model has {d} inputs")
    return shape


def explain_document(net, explanations, domain: Domain) -> dict:
    """The JSON document of ``relucompile explain --json`` (schema ``relucompile.explain`` v1)."""
    from relucompile.analysis.explain import SCHEMA, VERSION
    return {"schema": SCHEMA, "version": VERSION,
            "model": {"source": net.source, "sha256": net.source_sha256,
                      "input_dim": net.d, "output_dim": net.m, "layer_widths": net.widths},
            "domain": domain.to_json(),
            "input_names": explanations[0].input_names if explanations else [],
            "output_names": explanations[0].output_names if explanations else [],
            "points": [e.to_json() for e in explanations]}


@guarded
def run_explain(argv: list[str]) -> int:
    """``relucompile explain MODEL --at X | --inputs FILE [--json] [-o FILE] ...``."""
    from relucompile.analysis.explain import explain_point
    args = explain_parser().parse_args(attach_values(argv, ("--at",)))
    if args.digits < 1 or args.digits > 17:
        raise UserError("--digits must be between 1 and 17")
    if args.output:
        from relucompile.backends.files import check_writable
        check_writable(args.output)
    refuse_unused(args, "explain", "it enumerates no cells", "max_regions")
    check_limits(args)
    net = load_model(args)
    domain = model_domain(args, net)
    X = parse_point(args.at, net.d)[None, :] if args.at is not None else read_points(args.inputs, net.d)
    names = _names(args.input_names, net.d, "input")
    outs = _names(args.output_names, net.m, "output")
    explanations = []
    from relucompile.progress import activity
    with activity("explain", enabled=not args.quiet) as bar:
        bar.unit, bar.total = "input", len(X)
        for x in X:
            if args.time_limit is not None and time.perf_counter() - bar.start > args.time_limit:
                raise UserError(f"stopped after {args.time_limit:g} s with {len(explanations)} of "
                                f"{len(X)} inputs explained (--time-limit); give fewer inputs or raise the limit")
            explanations.append(explain_point(net, x, domain, facets=not args.no_facets, input_names=names,
                                              output_names=outs))
            bar(len(explanations))
    if args.json:
        text = json.dumps(explain_document(net, explanations, domain), indent=1) + "\n"
    else:
        blocks = []
        for k, e in enumerate(explanations):
            title = f"== input {k + 1} of {len(explanations)} ==\n" if len(explanations) > 1 else ""
            blocks.append(title + e.to_text(args.digits, args.all_conditions))
        source = net.source
        text = f"# {source}: the linear rule at each input (layers and units count from 0)\n" + "\n\n".join(blocks) + "\n"
    if args.output:
        from relucompile.backends.files import atomic_write
        atomic_write(args.output, lambda f: f.write(text), text=True)
    else:
        sys.stdout.write(text)
    return 0


# -- plot and report -------------------------------------------------------------------------

SLICE_HELP = """slices (inputs > 2): --slice "POINT;DIR1;DIR2" draws the plane x = POINT + s*DIR1 + t*DIR2:
  --slice "0,0,0.5,0.3,0;e1;e2"     inputs x1, x2 vary, the others fixed at POINT's values
  --slice ";e1;e3"                  through the centre of the domain's box (empty POINT)
  --slice "0,0,0,0,0;1,1,0,0,0;0,0,1,0,0"   any two independent directions
  default: through the centre of the domain's box, along the first two inputs that vary in it
"""


def plot_parser() -> argparse.ArgumentParser:
    epilog = ("examples:\n  relucompile plot model.onnx --box -1 1 -o partition.png\n"
              "  relucompile plot acas.onnx --domain box.json --slice \";e1;e2\" -o slice.png\n\n"
              "2 inputs: the cells of the domain, one colour each (neighbours differ), with each output's zero\n"
              "level set; more inputs: the same on a plane (--slice); 1 input: the function and its breakpoints.\n\n"
              + SLICE_HELP + "\n" + DOMAIN_HELP + "\n" + EXIT_CODES + "\n")
    p = make_parser("plot", "Draw the activation cells of a network (and its outputs' zero level sets).", epilog,
                    shared=True, domain_note="required: a picture needs a bounded domain")
    p.add_argument("--slice", metavar="POINT;DIR1;DIR2", help='the plane to draw for inputs > 2, e.g. --slice ";e1;e2"')
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the picture: .png, .svg or .pdf, e.g. -o partition.png")
    p.add_argument("--dpi", type=int, default=100, help="resolution of a PNG (default 100), e.g. --dpi 200")
    p.add_argument("--no-edges", action="store_true", help="do not draw the cells' edges")
    p.add_argument("--no-level-sets", action="store_true", help="do not draw the outputs' zero level sets")
    _add_decision(p)
    return p


def _add_decision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decision", choices=("argmax", "argmin"),
                   help="also draw where the largest (argmax) or smallest (argmin) output changes: a "
                        "classifier's decision boundary (2-D pictures, 2 outputs or more), e.g. --decision argmax")


def _plane(args, net, domain):
    from relucompile.backends.plot import parse_slice
    if args.slice is None:
        return None
    if net.d < 3:
        raise UserError(f"--slice is for models with more than 2 inputs; this one has {net.d}")
    return parse_slice(args.slice, net.d, domain)


@guarded
def run_plot(argv: list[str]) -> int:
    """``relucompile plot MODEL [--box LO HI | --domain F] [--slice P;D1;D2] -o partition.png``."""
    from relucompile.backends.files import check_writable
    from relucompile.backends.plot import plot_format
    args = plot_parser().parse_args(attach_values(argv, ("--slice",)))
    fmt = plot_format(args.output)
    check_writable(args.output)
    check_limits(args)
    if not 10 <= args.dpi <= 1000:
        raise UserError("--dpi must be between 10 and 1000")
    with run_limits(args), doing("drawing the picture"):
        return _plot(args, fmt)


def _plot(args, fmt: str) -> int:
    """The plot command's work, within its limits (see :func:`run_plot`)."""
    from relucompile.backends.files import atomic_write
    from relucompile.backends.plot import figure_bytes, picture
    from relucompile.regions.enumerate import Limits
    from relucompile.progress import activity
    net = load_model(args)
    domain = model_domain(args, net, bounded_for="a picture")
    with activity("plot", enabled=not args.quiet):
        pic = picture(net, domain, _plane(args, net, domain), input_names=_names(args.input_names, net.d, "input"),
                      output_names=_names(args.output_names, net.m, "output"), edges=not args.no_edges,
                      level_sets=not args.no_level_sets, decision=args.decision,
                      limits=Limits(max_regions(args), args.time_limit))
        data = figure_bytes(pic.figure, fmt, args.dpi)
    atomic_write(args.output, lambda f: f.write(data))
    if not args.quiet:
        print(f"{os.path.basename(args.model)}: {pic.title} -> {args.output}")
    return 0


def _is_the_report_process() -> bool:
    """True when this process was started as ``relucompile report ...`` (console script or
    ``python -m relucompile``), so its start-up belongs to the report's timings; False when
    another program (a test run, a notebook) calls :func:`run_report` in-process."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program in ("relucompile", "__main__.py") and sys.argv[1:2] == ["report"]


def report_parser() -> argparse.ArgumentParser:
    epilog = ("examples:\n  relucompile report model.onnx --box -1 1 -o report.html\n"
              "  relucompile report acas.onnx --domain box.json --slice \";e1;e2\" --top 20 -o report.html\n"
              "  relucompile report acas.onnx --from-regions cells.parquet -o report.html   (stored cells)\n\n"
              "one self-contained HTML file (pictures embedded): the model, statistics of its cells (count,\n"
              "bounded, facets, distinct affine maps, volume shares), a picture of the partition (2 inputs), of a\n"
              "slice (more inputs) or of the function (1 input), and the largest cells with their rules.\n"
              "With more than 2 inputs, when the whole domain has more cells than --max-regions (or takes longer\n"
              "than half of --time-limit), the statistics and the table describe the slice instead, and the report says so.\n"
              "The header records the date (UTC), this command line, the versions and the model's sha256.\n"
              "--decision argmin --output-names COC,WL,WR,SL,SR labels each decision region with its winner.\n\n"
              + SLICE_HELP + "\n" + DOMAIN_HELP + "\n" + EXIT_CODES + "\n")
    p = make_parser("report", "Write an audit report of a network: its cells, their rules and pictures.", epilog,
                    shared=True, domain_note="required: the report's pictures need a bounded domain")
    p.add_argument("--slice", metavar="POINT;DIR1;DIR2", help='the plane to draw for inputs > 2, e.g. --slice ";e1;e2"')
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="the report, e.g. -o report.html")
    p.add_argument("--top", type=int, default=12, metavar="N", help="cells in the rules table (default 12), e.g. --top 30")
    p.add_argument("--digits", type=int, default=4, help="significant digits (default 4), e.g. --digits 6")
    p.add_argument("--samples", type=int, default=100_000, metavar="N",
                   help="uniform samples for the volume shares of > 2 inputs (default 100000), e.g. --samples 10000")
    add_seed_option(p, "the volume-share samples")
    _add_decision(p)
    add_from_regions_option(p, "the cells of the statistics and the rules table from a Parquet regions dataset "
                               "written by relucompile --regions for this model (read batch by batch, not "
                               "enumerated again); the domain is the dataset's, e.g. --from-regions cells.parquet")
    p.add_argument("--lens-inputs", metavar="X", help="samples (.npy or .csv): add the linear lens over them, e.g. "
                                                        "--lens-inputs X.npy")
    p.add_argument("--lens-labels", metavar="Y", help="their labels (.npy or .csv): per-class weights and similarity")
    p.add_argument("--image-shape", metavar="H,W", help="show per-class mean weights as H x W images, e.g. 8,8")
    return p


@guarded
def run_report(argv: list[str]) -> int:
    """``relucompile report MODEL [--box LO HI | --domain F] [--slice P;D1;D2] -o report.html``."""
    from relucompile.backends.files import check_writable
    args = report_parser().parse_args(attach_values(argv, ("--slice",)))
    check_writable(args.output)
    check_limits(args)
    if args.top < 1:
        raise UserError("--top must be at least 1")
    if args.samples < 100:
        raise UserError("--samples must be at least 100")
    if not 1 <= args.digits <= 17:
        raise UserError("--digits must be between 1 and 17")
    with run_limits(args), doing("building the report"):
        return _report(args, argv)


def _report(args, argv: list[str]) -> int:
    """The report command's work, within its limits (see :func:`run_report`)."""
    import shlex
    import time
    from relucompile.backends.report import ReportOptions, write_report
    from relucompile.limits import process_age
    began = time.perf_counter()
    stored = None
    if args.from_regions:
        from relucompile.backends.stored_report import StoredCells
        net, domain = load_for_dataset(args, args.from_regions)
        stored = StoredCells(args.from_regions)
        loaded = time.perf_counter()
    else:
        net = load_model(args)
        loaded = time.perf_counter()
        domain = model_domain(args, net, bounded_for="a report", why="for its pictures")
    startup = process_age() - (loaded - began)   # interpreter and imports, when this process is the command
    timings = {"start-up": max(0.0, startup)} if _is_the_report_process() else {}
    timings["loading the model"] = loaded - began
    opts = ReportOptions(command_line=shlex.join(["relucompile", "report", *argv]),
                         started=began - timings.get("start-up", 0.0), timings=timings,
                         plane=_plane(args, net, domain), top=args.top, digits=args.digits, samples=args.samples,
                         seed=args.seed, max_regions=max_regions(args), time_limit=args.time_limit,
                         input_names=_names(args.input_names, net.d, "input"),
                         output_names=_names(args.output_names, net.m, "output"), domain_note="",
                         decision=args.decision, stored=stored)
    if args.lens_inputs:
        from relucompile.analysis.lens import linear_lens
        X = read_points(args.lens_inputs, net.d)
        labels = read_labels(args.lens_labels, len(X)) if args.lens_labels else None
        clock = time.perf_counter()
        try:
            opts.lens = linear_lens(net, X, labels, domain)
        except ValueError as exc:
            raise UserError(f"{args.lens_inputs}: {exc}") from None
        opts.timings["linear lens"] = time.perf_counter() - clock
        opts.lens_image_shape = image_shape(args.image_shape, net.d)
    elif args.lens_labels or args.image_shape:
        raise UserError("--lens-labels and --image-shape go with --lens-inputs")
    from relucompile.progress import activity
    with activity("report", enabled=not args.quiet):
        write_report(args.output, net, domain, opts)
    if not args.quiet:
        print(f"{os.path.basename(args.model)} over {domain.describe()}: report -> {args.output}")
    return 0
