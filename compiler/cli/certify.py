"""Command line: ``relucompile certify MODEL REGIONS.json`` and the ``--certify`` compile flag.

``run_certify`` proves, in exact rational arithmetic, that a regions file is the deep network
(docs/certify.md): every cell is a real activation region with its stored facets, every affine
map is exact up to the stated float rounding, the cells cover the domain, and the tie-break
point is generic.  It prints one summary line and exits 0 (certified) or 3 (failed: the line
names the first failing cell and check).

Example:
    >>> import os, tempfile
    >>> from relucompile.cli.main import main
    >>> from relucompile.examples import tiny_mlp_path
    >>> folder = tempfile.mkdtemp()
    >>> regions, shallow = os.path.join(folder, "regions.json"), os.path.join(folder, "s.onnx")
    >>> main([tiny_mlp_path(), "--box", "0", "0.25", "-o", shallow, "--regions", regions, "-q"])
    0
    >>> run_certify([tiny_mlp_path(), regions, "-q"])              # doctest: +ELLIPSIS
    certified: 4 cells, ...
    0
"""
from __future__ import annotations

import json
import sys

import onnx
from onnx import helper

from relucompile.backends.files import atomic_write
from relucompile.certify.checks import Certificate, certify_files, certify_shallow
from relucompile.certify.onnx_metadata import onnx_mismatch
from relucompile.cli.base import (ExitCode, Parser, add_model_argument, add_quiet_option, exit_codes_text, guarded,
                                  make_parser)
from relucompile.errors import UserError, regular_input_file
from relucompile.progress import Progress

EPILOG = """examples:
  relucompile model.onnx --box -1 1 -o shallow.onnx --regions regions.json --certify
  relucompile certify model.onnx regions.json
  relucompile certify model.onnx regions.json --maps folded --update
  relucompile certify model.onnx regions.json --onnx shallow.onnx
  relucompile certify model.onnx cells.parquet          (a Parquet dataset, read batch by batch)

checks (exact rationals; python-flint when installed, else fractions):
  0 input        model sha256 and layer sizes match; patterns distinct; p inside the domain
  1 cell is real the interior point satisfies every unit's inequality of the pattern strictly,
                 and the stored facets imply all the others (Farkas certificates)
  2 affine map   A, c recomputed exactly from the pattern: the stored floats are the nearest
                 float64 (--maps nearest) or within the float-folding bound (--maps folded)
  3 completeness every facet has a rational relative-interior point; across it the deep net's
                 exact pattern is a stored cell, or the facet is on the domain boundary
  4 tie-break    h(p) != 0 exactly for every hyperplane; closed/strict flags match p's side
  5 ONNX file    (--onnx) the shallow model holds exactly the regions file's numbers

""" + exit_codes_text(ExitCode.OK, ExitCode.CERTIFY_FAILED, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR,
                      OK="certified", CERTIFY_FAILED="certification failed (the line names the first failing "
                      "cell and check)") + "\n"


def build_parser() -> Parser:
    p = make_parser("certify", "Prove in exact rational arithmetic that a regions file (from relucompile "
                    "--regions) describes the model exactly and completely over its domain.", EPILOG)
    add_model_argument(p, "the source ONNX model the regions were compiled from, e.g. model.onnx")
    p.add_argument("regions", help="the regions file written by relucompile --regions: a JSON file or a Parquet "
                                   "dataset folder (read batch by batch), e.g. regions.json or cells.parquet")
    p.add_argument("--maps", choices=["auto", "nearest", "folded"], default="auto",
                   help="how stored A, c and hyperplanes must match their exact values: nearest = the "
                        "nearest float64 (what --certify writes; a 1-ulp change fails), folded = within the "
                        "a-priori error bound of float64 folding (plain compiler output); auto (default) = "
                        "nearest if the file already carries a certificate, else folded")
    p.add_argument("--onnx", metavar="SHALLOW.onnx",
                   help="also check that this shallow ONNX model (relucompile -o) holds exactly the regions "
                        "file's hyperplanes, maps, constraint lists and p, e.g. --onnx shallow.onnx")
    p.add_argument("--update", action="store_true",
                   help="on success, write the certificate into the regions file (and the --onnx model's "
                        "metadata), atomically, e.g. --update")
    add_quiet_option(p)   # the certify verdict line is the result: printed also with -q
    return p


@guarded
def run_certify(argv: list[str]) -> int:
    """``relucompile certify MODEL REGIONS`` (a .json file or a .parquet dataset folder): exit 0
    certified, 3 failed, 2 user error."""
    args = build_parser().parse_args(argv)
    bar = Progress(enabled=not args.quiet, label="certify")
    try:
        cert, doc = certify_files(args.model, args.regions, maps=args.maps, progress=bar)
    finally:
        bar.close()
    shallow_model = None
    if cert.ok and args.onnx:
        regular_input_file(args.onnx)
        try:
            shallow_model = onnx.load(args.onnx)
        except Exception as exc:
            raise UserError(f"{args.onnx}: not a readable ONNX model ({exc})") from None
        why = onnx_mismatch(shallow_model, doc)
        if why:
            cert.ok, cert.failure = False, f"check 5 (ONNX file): {args.onnx}: {why}"
    print(cert.summary())
    if not cert.ok:
        return ExitCode.CERTIFY_FAILED
    if args.update:
        if isinstance(doc, dict):
            doc["certificate"] = cert.to_json()
            atomic_write(args.regions, lambda f: json.dump(doc, f), text=True)
        else:   # a Parquet dataset: the certificate goes into its marker document
            from relucompile.backends.regions_parquet import write_dataset_certificate
            write_dataset_certificate(args.regions, cert.to_json())
        if shallow_model is not None:
            props = {p.key: p.value for p in shallow_model.metadata_props}
            props.update(cert.metadata())
            del shallow_model.metadata_props[:]
            helper.set_model_props(shallow_model, props)
            atomic_write(args.onnx, lambda f: f.write(shallow_model.SerializeToString()))
    return 0


def certify_compiled(shallow, quiet: bool = False) -> Certificate | None:
    """``--certify``: certify a fresh compilation (rounding its maps to the nearest floats of
    the exact ones); prints the failure and returns None when it fails."""
    bar = Progress(enabled=not quiet, label="certify")
    try:
        cert = certify_shallow(shallow, progress=bar)
    finally:
        bar.close()
    if not cert.ok:
        print(f"relucompile: {cert.summary()}; no output written", file=sys.stderr)
        return None
    return cert


__all__ = ["run_certify", "certify_compiled"]
