"""The vertex engine on a seeded random d4 net until a region limit: near vertices decided exactly.

Issue 16 point 5: at 10^5..10^7 cells some vertex lies within the engine's tolerance (1e-8) of
a cutting hyperplane by chance; the engine once gave up there (``DegenerateVertexSet``) and
``auto`` fell back to the split engine for the whole run.  Now such a vertex is decided in exact
rationals.  This prints one JSON line: how the run ended, its cells, and the exact checks and
their seconds; ``old`` refuses at the first near vertex, as the engine did before (same run,
so the layer and unit where it used to stop).  Runs in this process (``--jobs 1``).

    python -m benchmarks.near_vertices 50x50x50 0 400000        # widths, seed, max regions
    python -m benchmarks.near_vertices 50x50x50 0 400000 old
"""
from __future__ import annotations

import json
import sys
import time

from relucompile.errors import RegionLimitError
from relucompile.examples.random_nets import random_mlp
from relucompile.ir.domain import Domain
from relucompile.regions import vertex_engine
from relucompile.regions.split import Limits


def main(argv: list[str]) -> int:
    widths = [int(w) for w in argv[0].split("x")]
    seed, max_regions, old = int(argv[1]), int(argv[2]), argv[3:] == ["old"]
    if old:
        def refuse(run, l, j, *rest):
            raise vertex_engine.DegenerateVertexSet(f"layer {l} unit {j}: a vertex within tol (the old refusal)")
        vertex_engine._VertexRun.decide_near_vertices = refuse
    vertex_engine.warm_up()
    net = random_mlp(4, widths, 1, seed=seed)
    run = vertex_engine._VertexRun(net, Domain.box([-1] * 4, [1] * 4), Limits(max_regions=max_regions), None,
                                   vertex_engine.ENGINE_REL_TOL, 1)
    start = time.time()
    try:
        run.run()
        status = "done"
    except RegionLimitError:
        status = "limit"
    except vertex_engine.DegenerateVertexSet as why:
        status = f"degenerate: {why}"
    print(json.dumps({"net": argv[0], "seed": seed, "status": status, "seconds": round(time.time() - start, 1),
                      "cells": len(run.result.cells), "exact_checks": run.exact_checks,
                      "exact_seconds": round(run.exact_seconds, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
