"""``relucompile lens`` (effective weights over data) and ``relucompile prune`` (the smallest
equal deep network on a domain).

Example:
    >>> run_prune(["--help"])     # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import json
import os
import sys


from relucompile.cli.audit import image_shape, read_labels, read_points
from relucompile.cli.base import ExitCode, exit_codes_text, load_model, make_parser, model_domain, refuse_unused
from relucompile.errors import UserError

LENS_EPILOG = """examples:
  relucompile lens model.onnx --inputs X.npy                       per-sample rules and aggregates
  relucompile lens model.onnx --inputs X.csv --labels y.csv -o lens.json --table lens.csv
  relucompile lens a.onnx --checkpoints b.onnx c.onnx --inputs X.npy --labels y.npy -o evolution.json

per sample: the activation pattern (hash), W_eff, b_eff and the distance to the nearest hyperplane
of its cell; over the data: cells visited, samples per cell, unit activity (never / always active
units), and with labels the per-class mean W_eff and the within- vs between-class cosine similarity.
No cell enumeration is needed.

""" + exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR)

PRUNE_EPILOG = """examples:
  relucompile prune model.onnx --box -1 1 -o smaller.onnx
  relucompile prune model.onnx --domain box.json --method cells -o smaller.onnx

removes units that never switch on the domain (dead: relu(z) = 0; always active: relu(z) = z,
folded into the next layers) and duplicate or unused units; the result equals the source on the
domain (exactly, up to the float64 rounding of folded weights).  Stability is proven by sound
bounds (--method bounds, the default) or by enumerating the cells (--method cells).

""" + exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR)


def run_lens(argv: list[str]) -> int:
    """``relucompile lens MODEL --inputs X [--labels y] [-o lens.json] [--table lens.csv]``."""
    p = make_parser("lens", "The linear lens over data: every sample's effective weights and their statistics.",
                    LENS_EPILOG, shared=True, domain_note="optional: distances then also stop at the domain's boundary")
    p.add_argument("--inputs", required=True, metavar="X", help="samples: .npy (N, d) or .csv (N rows of d numbers)")
    p.add_argument("--labels", metavar="Y", help="one label per sample: .npy or .csv")
    p.add_argument("--checkpoints", nargs="+", metavar="MODEL", default=[],
                   help="more checkpoints of the same architecture: one summary per model, in order")
    p.add_argument("-o", "--output", metavar="OUT.json", help="write the JSON document (schema in backends/lens_tables.py)")
    p.add_argument("--table", metavar="OUT.csv", help="write one CSV row per sample")
    p.add_argument("--plot", metavar="OUT.png", help="similarity matrix, per-class mean weights (and checkpoints) "
                                                     "as a picture; needs matplotlib")
    p.add_argument("--image-shape", metavar="H,W", help="show mean weights as H x W images, e.g. --image-shape 8,8")
    args = p.parse_args(argv)
    refuse_unused(args, "lens", "it enumerates no cells", "max_regions", "time_limit")
    from relucompile.analysis.lens import lens_over_checkpoints, linear_lens
    from relucompile.backends.files import atomic_write
    from relucompile.backends.lens_tables import lens_document, write_lens_csv
    net = load_model(args)
    X = read_points(args.inputs, net.d)
    labels = read_labels(args.labels, len(X)) if args.labels else None
    domain = model_domain(args, net)
    domain = None if domain.kind == "reals" else domain
    from relucompile.progress import activity
    try:
        with activity("lens", enabled=not args.quiet):
            lens = linear_lens(net, X, labels, domain)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    doc = lens_document(lens, os.path.basename(args.model))
    if args.checkpoints:
        nets = [net] + [load_model(argparse.Namespace(model=path, input_shape=args.input_shape,
                                                       trust_model_code=args.trust_model_code))
                        for path in args.checkpoints]
        try:
            doc["checkpoints"] = lens_over_checkpoints(nets, X, labels, domain)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        for row, path in zip(doc["checkpoints"], [args.model] + args.checkpoints):
            row["model"] = os.path.basename(path)
    if args.output:
        atomic_write(args.output, lambda f: json.dump(doc, f, indent=1), text=True)
    if args.table:
        atomic_write(args.table, lambda f: write_lens_csv(lens, f), text=True)
    if args.plot:
        try:
            from relucompile.backends.lens_plot import lens_png
        except ImportError:
            raise UserError("--plot needs matplotlib: pip install 'relucompile[report]'") from None
        shape = image_shape(args.image_shape, net.d)
        png = lens_png(lens, image_shape=shape, checkpoints=doc.get("checkpoints"))
        atomic_write(args.plot, lambda f: f.write(png))
    if not args.quiet:
        s = doc["summary"]
        line = (f"{os.path.basename(args.model)}: {s['samples']:,} samples in {s['cells_visited']:,} cells "
                f"(largest holds {s['largest_cell_samples']:,}); units never active {len(s['units_never_active'])}, "
                f"always active {len(s['units_always_active'])} of {net.num_units}")
        if labels is not None:
            line += (f"; W_eff cosine similarity within classes {s['within_class_similarity']:.3f}, "
                     f"between {s['between_class_similarity']:.3f}")
        print(line)
        for row in doc.get("checkpoints", []):
            print(f"  {row['model']}: {row['cells_visited']:,} cells"
                  + (f", within {row['within_class_similarity']:.3f} between {row['between_class_similarity']:.3f}"
                     if labels is not None else ""))
    return 0


def run_prune(argv: list[str]) -> int:
    """``relucompile prune MODEL --box LO HI | --domain FILE -o smaller.onnx``."""
    p = make_parser("prune", "The smallest equal deep network on a domain: stable, duplicate and unused units removed.",
                    PRUNE_EPILOG, shared=True, domain_note="required: pruning holds on this domain only")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the pruned ONNX model")
    p.add_argument("--method", choices=["bounds", "cells"], default="bounds",
                   help="how stability is proven: sound linear bounds (default, fast) or cell enumeration (complete)")
    args = p.parse_args(argv)
    refuse_unused(args, "prune", "its enumeration (--method cells) runs without limits", "max_regions", "time_limit")
    from relucompile.analysis.prune import prune_network
    from relucompile.backends.files import atomic_write
    from relucompile.backends.network_onnx import network_onnx
    from relucompile.version import __version__
    net = load_model(args)
    domain = model_domain(args, net, bounded_for="prune", why="on all of R^d no unit is stable")
    from relucompile.progress import activity
    with activity("prune", enabled=not args.quiet):
        small, report = prune_network(net, domain, args.method)
    model = network_onnx(small, net.signature, __version__)
    atomic_write(args.output, lambda f: f.write(model.SerializeToString()))
    if not args.quiet:
        print(f"{os.path.basename(args.model)} over {domain.describe()}: " + report.text() + f"\n-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_lens(sys.argv[1:]))
