"""Exact pruning on ACAS Xu: units removed per property box (``relucompile prune``'s counts).

For network 1_1 and each of the ten VNN-LIB properties' input boxes (the first box of prop_6),
the units proven dead / always active / duplicate by sound bounds, and by cell enumeration where
the box has few enough cells (prop_3, prop_4); the pruned network is checked against the source
at 10,000 random points of the box.  Prints a markdown table (benchmarks/README.md, "Pruning").

Run: ``python -m benchmarks.prune_acas [DATA_DIR]`` (default ../shared/data).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from relucompile.analysis.prune import prune_network
from relucompile.api import load_network
from relucompile.frontends.vnnlib import parse_vnnlib
from relucompile.verify.run import domains_from_vnnlib

CELL_PROPS = ("prop_3", "prop_4")   # boxes with < 10^5 cells: enumeration proves stability too


def main(data: str = os.path.join("..", "shared", "data")) -> None:
    net = load_network(os.path.join(data, "acasxu", "ACASXU_run2a_1_1_batch_2000.onnx"))
    print("| property | method | units before -> after | dead | always active | duplicate | max abs diff (10^4 points) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for k in range(1, 11):
        prop = f"prop_{k}"
        domain = domains_from_vnnlib(parse_vnnlib(os.path.join(data, "acasxu", f"{prop}.vnnlib")))[0]
        X = domain.sample(10_000, np.random.default_rng(k))
        for method in ("bounds", "cells") if prop in CELL_PROPS else ("bounds",):
            start = time.perf_counter()
            small, report = prune_network(net, domain, method)
            seconds = time.perf_counter() - start
            r = report.removed()
            diff = float(np.abs(small.forward(X) - net.forward(X)).max())
            print(f"| {prop} | {method} | {net.num_units} -> {small.num_units} | {r['dead']} | {r['always_active']} "
                  f"| {r['duplicate']} | {diff:.1e} | {seconds:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
