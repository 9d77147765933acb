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
    >>> regions = os.path.join(folder, "regions.json")
    >>> main([tiny_mlp_path(), "--box", "0", "0.25", "-o", os.path.join(folder, "s.onnx"), "--regions", regions, "-q"])
    0
    >>> run_certify([tiny_mlp_path(), regions])
    certified: 4 cells, ... facets checked (...); ... s
    0
"""
from __future__ import annotations

import argparse
import json
import sys

from relucompile.certify.checks import EXIT_CERTIFY_FAILED, Certificate, certify_files, certify_shallow
from relucompile.errors import UserError
from relucompile.progress import Progress

EPILOG = """examples:
  relucompile model.onnx --box -1 1 -o shallow.onnx --regions regions.json --certify
  relucompile certify model.onnx regions.json
  relucompile certify model.onnx regions.json --maps folded --update
  relucompile certify model.onnx regions.json --onnx shallow.onnx

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

exit codes: 0 certified, 3 certification failed (the line names the first failing cell and
check), 2 usage or input error, 1 internal error
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"relucompile certify: error: {message} (see relucompile certify --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="relucompile certify", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Prove in exact rational arithmetic that a regions file (from relucompile "
                            "--regions) describes the model exactly and completely over its domain.")
    p.add_argument("model", help="the source ONNX model the regions were compiled from, e.g. model.onnx")
    p.add_argument("regions", help="the regions file written by relucompile --regions, e.g. regions.json")
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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line (the summary is still printed)")
    return p


def run_certify(argv: list[str]) -> int:
    """``relucompile certify MODEL REGIONS.json``: exit 0 certified, 3 failed, 2 user error."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    bar = Progress(enabled=not args.quiet, label="certify")
    try:
        cert, doc = certify_files(args.model, args.regions, maps=args.maps, progress=bar)
    finally:
        bar.close()
    shallow_model = None
    if cert.ok and args.onnx:
        import onnx
        from relucompile.certify.onnx_metadata import onnx_mismatch
        try:
            shallow_model = onnx.load(args.onnx)
        except FileNotFoundError:
            raise UserError(f"{args.onnx}: no such file") from None
        except Exception as exc:
            raise UserError(f"{args.onnx}: not a readable ONNX model ({exc})") from None
        why = onnx_mismatch(shallow_model, doc)
        if why:
            cert.ok, cert.failure = False, f"check 5 (ONNX file): {args.onnx}: {why}"
    print(cert.summary())
    if not cert.ok:
        return EXIT_CERTIFY_FAILED
    if args.update:
        from relucompile.backends.files import atomic_write
        doc["certificate"] = cert.to_json()
        atomic_write(args.regions, lambda f: json.dump(doc, f), text=True)
        if shallow_model is not None:
            from onnx import helper
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


__all__ = ["run_certify", "certify_compiled", "UserError"]
