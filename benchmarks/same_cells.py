"""Same cells for any worker count, local processes and a Dask cluster: ACAS Xu prop_3 (issue 16).

``python -m benchmarks.same_cells --data ../shared/data`` enumerates ACAS Xu network 1_1 on the
input box of ``prop_3.vnnlib`` (71,930 cells, 6 layers of 50 units) with the vertex engine:

* in one process (``jobs=1``: the reference),
* with 2 and 4 local processes (``jobs=N``),
* on a local Dask cluster of 1, 2 and 4 workers (``--cluster local``'s executor),

and prints one JSON line per run (seconds, tasks, cells, its digest) and a final verdict: the
digest is a sha256 over every cell in the engine's order (pattern bits, map ``A``/``c``,
facets as hyperplane keys and sides, interior point, radius, bounded), so equal digests mean
the same cells, the same order and the same floats, bit for bit. Exit 1 when any digest
differs. The tests check 1/2/4 local processes and a cluster of 2 on this box
(tests/test_vertex_parallel.py, tests/test_distributed.py, both slow); this run adds the
cluster of 1 and 4, which would push CI past its time limit.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> regions = enumerate_regions(random_mlp(2, [4], 1, seed=0), Domain.box([-1, -1], [1, 1]))
    >>> len(cells_digest(regions))
    64
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

#: tasks of real size, as tests/test_vertex_parallel.py sets them for this box
TASK_MIN_CELLS = 4096


def cells_digest(regions) -> str:
    """sha256 over every cell of ``regions`` in order (see the module docstring)."""
    digest = hashlib.sha256()
    for cell in regions.cells:
        digest.update(cell.pattern.tobytes())
        digest.update(cell.A.tobytes())
        digest.update(cell.c.tobytes())
        for h, side in cell.facets:
            digest.update(repr(regions.hyperplanes[h].key).encode())
            digest.update(b"+" if side else b"-")
        digest.update(cell.interior.tobytes())
        digest.update(float(cell.radius).hex().encode())
        digest.update(b"B" if cell.bounded else b"U")
        digest.update(b"|")
    return digest.hexdigest()


def run_once(net, domain, jobs: int, cluster_workers: int | None) -> dict:
    """Enumerate once (on a fresh local cluster of ``cluster_workers`` when given) and describe it."""
    from relucompile.regions.enumerate import enumerate_regions
    from relucompile.regions.executor import cluster
    record: dict = {"jobs": jobs, "cluster_workers": cluster_workers, "load_average": round(os.getloadavg()[0], 2)}
    start = time.time()
    with cluster("local" if cluster_workers else None, cluster_workers or jobs):
        record["cluster_start_s"] = round(time.time() - start, 2)
        start = time.time()
        regions = enumerate_regions(net, domain, "vertex", jobs=jobs)
        record["seconds"] = round(time.time() - start, 2)
    record.update(engine=regions.stats.get("engine"), tasks=regions.stats.get("tasks"), cells=len(regions),
                  hyperplanes=len(regions.hyperplanes), digest=cells_digest(regions))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.same_cells",
                                     description="ACAS Xu prop_3: the same cells for 1/2/4 local processes "
                                                 "and a local Dask cluster of 1/2/4 workers")
    parser.add_argument("--data", default=os.environ.get("RELUCOMPILE_DATA", os.path.join(_ROOT, "..", "shared", "data")),
                        help="the shared data folder (holds acasxu/)")
    parser.add_argument("--json", help="also write the records to this file")
    args = parser.parse_args(argv)
    import relucompile.regions.vertex_engine as vertex_engine
    from relucompile import load_network
    from relucompile.frontends.vnnlib import parse_vnnlib
    from relucompile.ir.domain import Domain
    model = os.path.join(args.data, "acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
    prop = os.path.join(args.data, "acasxu", "prop_3.vnnlib")
    if not (os.path.exists(model) and os.path.exists(prop)):
        print(f"error: ACAS Xu data not found under {args.data}", file=sys.stderr)
        return 2
    vertex_engine.TASK_MIN_CELLS = TASK_MIN_CELLS
    net = load_network(model)
    (lower, upper), = parse_vnnlib(prop).input_boxes()
    domain = Domain.box(lower, upper)
    runs = [(1, None), (2, None), (4, None), (1, 1), (2, 2), (4, 4)]
    records = []
    for jobs, workers in runs:
        record = run_once(net, domain, jobs, workers)
        records.append(record)
        print(json.dumps(record), flush=True)
    same = len({(r["cells"], r["hyperplanes"], r["digest"]) for r in records}) == 1
    verdict = {"same_cells": same, "run_count": len(records), "cells": records[0]["cells"]}
    print(json.dumps(verdict), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"runs": records, **verdict}, handle, indent=1)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
