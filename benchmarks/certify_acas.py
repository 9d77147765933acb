"""Time ``--certify`` against compilation on ACAS Xu 1_1 over the prop_4 box (issue 7).

Compiles the network over the input box of ``prop_4.vnnlib`` (19,143 cells, one input fixed:
a 4-dimensional domain in R^5), then certifies the result exactly, and prints both times
(process CPU seconds and wall seconds; CPU is the fair figure on a shared machine) and their
ratio.  The acceptance bound of issue 7 is certify <= 10 x compile.

Usage (from the repository root):

    python benchmarks/certify_acas.py                       # network 1_1, prop_4
    python benchmarks/certify_acas.py --network 1_2 --property prop_3 --max-cells 30000

Example:
    >>> ratio_line(25.0, 100.0)
    'certify / compile = 4.0x (acceptance: <= 10x)'
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from relucompile.certify.checks import certify_shallow  # noqa: E402
from relucompile.ir.domain import Domain  # noqa: E402
from relucompile.frontends.vnnlib import parse_vnnlib  # noqa: E402
from relucompile.api.compile import compile_network, load_network  # noqa: E402

DATA = os.environ.get("RELUCOMPILE_DATA", os.path.join(ROOT, "..", "shared", "data"))


def ratio_line(compile_seconds: float, certify_seconds: float) -> str:
    """The summary line comparing the two times."""
    return f"certify / compile = {certify_seconds / compile_seconds:.1f}x (acceptance: <= 10x)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", default="1_1", help="ACAS Xu network i_j (default 1_1)")
    p.add_argument("--property", default="prop_4", help="VNN-LIB property whose first input box is the domain")
    p.add_argument("--max-cells", type=int, default=None, help="stop compilation after N cells")
    args = p.parse_args(argv)
    model = os.path.join(DATA, "acasxu", f"ACASXU_run2a_{args.network}_batch_2000.onnx")
    prop = os.path.join(DATA, "acasxu", f"{args.property}.vnnlib")
    for path in (model, prop):
        if not os.path.exists(path):
            print(f"certify_acas: {path} not found (set RELUCOMPILE_DATA)", file=sys.stderr)
            return 2
    case = parse_vnnlib(prop).cases[0]
    net = load_network(model)
    cpu, wall = time.process_time(), time.perf_counter()
    shallow = compile_network(net, Domain.box(case.lower, case.upper), max_regions=args.max_cells)
    compile_cpu, compile_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"compile: {shallow.num_cells:,} cells, {compile_cpu:.1f} s CPU, {compile_wall:.1f} s wall")
    cpu, wall = time.process_time(), time.perf_counter()
    cert = certify_shallow(shallow)
    certify_cpu, certify_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"certify: {certify_cpu:.1f} s CPU, {certify_wall:.1f} s wall; {cert.summary()}")
    print(ratio_line(compile_cpu, certify_cpu))
    return 0 if cert.ok else 3


if __name__ == "__main__":
    sys.exit(main())
