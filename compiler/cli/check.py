"""``relucompile check SRC.onnx OTHER.onnx``: do two models agree on a domain (onnxruntime, sampled)?

Example:
    >>> import contextlib, io
    >>> from relucompile.examples import tiny_mlp_path
    >>> with contextlib.redirect_stdout(io.StringIO()) as out:
    ...     code = run_check([tiny_mlp_path(), tiny_mlp_path(), "--box", "-1", "1", "--samples", "10"])
    >>> code, out.getvalue().splitlines()[-1]
    (0, 'max abs error 0 over 14 points: within the tolerance')
"""
from __future__ import annotations

import json
import os

from relucompile.cli.base import (add_seed_option, BOX_HELP, DOMAIN_FILE_HELP, ExitCode, add_json_option, exit_codes_text, guarded,
                                  make_parser)
from relucompile.errors import UserError

EPILOG = """examples:
  relucompile model.onnx --box -1 1 -o shallow.onnx && relucompile check model.onnx shallow.onnx
  relucompile check model.onnx shallow.onnx --box -1 1 --samples 10000 --seed 1

Both models run in onnxruntime at N random points of the domain plus the box's corners (all of
them up to 4,096, else N random corners).  Without --box/--domain the domain a relucompile
shallow model records is used.  A sampled check finds differences; `relucompile certify` proves
their absence.

""" + exit_codes_text(ExitCode.OK, ExitCode.INTERNAL_ERROR, ExitCode.USAGE_ERROR,
                      OK="within the tolerance", INTERNAL_ERROR="the models differ beyond it (as cmp and diff; "
                      "an internal error says so on stderr)")


def build_parser():
    """The parser of ``relucompile check``.

    Example:
        >>> build_parser().parse_args(["a.onnx", "b.onnx", "--samples", "5"]).samples
        5
    """
    from relucompile.verify.compare import TOLERANCE
    p = make_parser("check", "Compare two models on a domain: the largest output difference and where "
                             "(onnxruntime, random points and the box's corners).", EPILOG)
    p.add_argument("source", help="the reference model, e.g. model.onnx")
    p.add_argument("other", help="the model to check against it, e.g. shallow.onnx")
    where = p.add_mutually_exclusive_group()      # two models: not the shared one-model option group
    where.add_argument("--box", nargs=2, type=float, metavar=("LO", "HI"),
                       help=BOX_HELP + " (default: the domain recorded in a relucompile shallow model)")
    where.add_argument("--domain", metavar="FILE", help=DOMAIN_FILE_HELP)
    p.add_argument("--samples", type=int, default=1000, metavar="N",
                   help="random points of the domain (default 1000), e.g. --samples 10000")
    add_seed_option(p, "the points the models are compared at")
    p.add_argument("--tolerance", type=float, default=TOLERANCE, metavar="T",
                   help=f"pass when |y_other - y_source| <= T (1 + |y_source|) at every output (default {TOLERANCE:g})")
    add_json_option(p)
    return p


def _recorded_domain(*paths: str):
    """The domain in the metadata of the first relucompile-written model among ``paths``, or None."""
    import onnx
    from relucompile.ir.domain import Domain
    for path in paths:
        try:
            model = onnx.load(path, load_external_data=False)
        except Exception:   # not readable here: onnxruntime reports it below
            continue
        meta = {p.key: p.value for p in model.metadata_props}
        if model.producer_name == "relucompile" and "domain" in meta:
            spec = json.loads(meta["domain"])
            if spec.get("kind") == "box":
                return Domain.box(spec["lower"], spec["upper"])
            if spec.get("kind") == "polytope":
                return Domain.polytope(spec["G"], spec["g"])
    return None


@guarded
def run_check(argv: list[str]) -> int:
    """``relucompile check``: exit 0 when the models agree within the tolerance, 1 otherwise."""
    from relucompile.ir.domain import Domain
    from relucompile.verify.compare import compare_models, _Runner
    args = build_parser().parse_args(argv)
    for path in (args.source, args.other):
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such file")
    if args.samples < 0:
        raise UserError("--samples must be at least 0")
    if not args.tolerance >= 0:
        raise UserError("--tolerance must be at least 0")
    if args.domain:
        domain = Domain.from_json(args.domain)
    elif args.box:
        recorded = _recorded_domain(args.other, args.source)
        runner = _Runner(args.source)
        if recorded is not None:
            runner.read_rows(recorded.d)       # a fixed batch of rows: the domain is over one row
        d = runner.d
        domain = Domain.box([args.box[0]] * d, [args.box[1]] * d)
    else:
        domain = _recorded_domain(args.other, args.source)
        if domain is None:
            raise UserError("give the domain to compare on (--box LO HI or --domain FILE): neither model is a "
                            "relucompile shallow model that records one")
    result = compare_models(args.source, args.other, domain, samples=args.samples, seed=args.seed,
                            tolerance=args.tolerance)
    if args.json:
        print(json.dumps(dict(result.to_json(), source=args.source, other=args.other, domain=domain.to_json())))
    else:
        corners = f" and {result.corners:,} corners" if result.corners else ""
        print(f"{os.path.basename(args.other)} against {os.path.basename(args.source)} on {domain.describe()}: "
              f"{result.points - result.corners:,} random points{corners} (seed {args.seed})")
        if result.max_error > 0:
            x = ", ".join(f"{v:.9g}" for v in result.worst_x)
            print(f"largest difference at x = [{x}], y{result.worst_output + 1}: "
                  f"{result.worst_other:.9g} instead of {result.worst_source:.9g}")
        verdict = "within the tolerance" if result.within else \
            f"NOT within the tolerance {result.tolerance:g} x (1 + |y|)"
        print(f"max abs error {result.max_error:.3g} over {result.points:,} points: {verdict}")
    return ExitCode.OK if result.within else 1
