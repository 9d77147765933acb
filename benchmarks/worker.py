"""One tool on one case, in a fresh process: ``python -m benchmarks.worker MODE CASE OUT.json``.

:mod:`benchmarks.run` starts one worker per (case, tool) so that the peak resident memory
(``VmHWM``) is that tool's on that case alone, and a timeout can kill it cleanly.  Modes:

* ``ours``: enumerate the cells (timed alone), then build the shallow net and save the source and
  shallow ONNX models (symbolic batch) into ``--workdir`` for the ``throughput`` worker;
* ``affinitree``: distil the same network into affinitree's decision tree over the same domain
  and count its terminals; when the count differs from ``--expect``, measure its slivers;
* ``throughput``: onnxruntime inputs/s of the source and the shallow model, batch 1 and 1024.

The JSON written to OUT is rewritten after each phase, so a kill keeps the finished phases.
``startup_s`` is the time from the parent's spawn (``--spawned``, a ``time.time()``) until the
imports are done: interpreter start-up plus imports, never counted in the enumeration time.

Example:
    >>> import json, os, subprocess, sys, tempfile, time
    >>> out = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> _ = subprocess.run([sys.executable, "-m", "benchmarks.worker", "ours", "quick_d2_4x4", out,
    ...                     "--spawned", str(time.time()), "--no-shallow"], check=True)   # doctest: +SKIP
    >>> json.load(open(out))["cells"]                                                    # doctest: +SKIP
    17
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def peak_rss_mb() -> float:
    """Peak resident set size of this process since it started (exec), in MiB.

    Linux's ``VmHWM`` (per address space); not ``ru_maxrss``, which a spawned process inherits
    from its parent's size at fork.

    Example:
        >>> peak_rss_mb() > 1
        True
    """
    from relucompile.regions.parallel import peak_rss_mb as vm_hwm_mb
    return vm_hwm_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_json(path: str, record: dict) -> None:
    """Write ``record`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, default=_plain)
    os.replace(tmp, path)


def _plain(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def symbolic_batch_signature(signature: dict, d: int, m: int) -> dict:
    """The source signature with a symbolic batch dimension (so batch 1024 runs in one call).

    Example:
        >>> symbolic_batch_signature({"input_dims": [1, 1, 1, 5], "output_dims": [1, 5]}, 5, 5)
        {'input_dims': ['N', 1, 1, 5], 'output_dims': ['N', 5]}
    """
    return {"input_dims": ["N", *list(signature.get("input_dims") or [1, d])[1:]],
            "output_dims": ["N", *list(signature.get("output_dims") or [1, m])[1:]]}


def run_ours(args: argparse.Namespace, record: dict) -> None:
    import inspect

    import onnx

    from benchmarks.cases import find_case, load_case
    from benchmarks.throughput import with_symbolic_batch
    from relucompile.regions.enumerate import Limits, enumerate_regions
    from relucompile.errors import RegionLimitError
    from relucompile.shallow.net import build_shallow
    from relucompile import shallow_onnx
    record["startup_s"] = time.time() - args.spawned
    from relucompile.regions import vertex_engine
    record["jit_s"] = vertex_engine.warm_up()    # compiled kernels loaded (numba), not timed below

    start = time.perf_counter()
    net, domain, source = load_case(find_case(args.case))
    record["load_s"] = time.perf_counter() - start
    record["rss_before_mb"] = peak_rss_mb()
    options = {}
    if args.jobs != 1:
        if "jobs" not in inspect.signature(enumerate_regions).parameters:
            raise RuntimeError("enumerate_regions has no 'jobs' parameter (--jobs needs an engine that has one)")
        options["jobs"] = args.jobs
    start = time.perf_counter()
    try:
        regions = enumerate_regions(net, domain, args.engine, Limits(None, args.time_limit), None, **options)
    except RegionLimitError as exc:
        record.update(status="timeout", error=str(exc), seconds=time.perf_counter() - start,
                      peak_rss_mb=peak_rss_mb())
        return
    seconds = time.perf_counter() - start
    cells = len(regions)
    record.update(status="ok", cells=cells, seconds=seconds, cells_per_s=cells / seconds if seconds else None,
                  lps=regions.stats.get("lps"), nodes=regions.stats.get("nodes"),
                  hyperplanes=len(regions.hyperplanes), tolerance=regions.stats.get("tolerance"),
                  engine=regions.stats.get("engine", args.engine), jobs=args.jobs, peak_rss_mb=peak_rss_mb())
    if args.jobs != 1:   # the largest finished child process (forked workers of a parallel engine)
        record["peak_rss_child_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    radii = sorted(float(c.radius) for c in getattr(regions, "cells", []))
    if radii:
        record["smallest_radii"] = radii[:5]
    write_json(args.out, record)
    if args.no_shallow:
        return

    start = time.perf_counter()
    shallow = build_shallow(net, regions)
    record["shallow_build_s"] = time.perf_counter() - start
    net.signature = net.signature.replace(**symbolic_batch_signature(net.signature, net.d, net.m))
    start = time.perf_counter()
    model = shallow_onnx(shallow)
    record["onnx_build_s"] = time.perf_counter() - start
    os.makedirs(args.workdir, exist_ok=True)
    onnx.save(model, os.path.join(args.workdir, "shallow.onnx"))
    onnx.save(with_symbolic_batch(source), os.path.join(args.workdir, "source.onnx"))
    record.update(shallow_onnx_mb=os.path.getsize(os.path.join(args.workdir, "shallow.onnx")) / 2**20,
                  source_onnx_mb=source.ByteSize() / 2**20, max_facets=int(max(
                      (len(c.facets) for c in regions.cells), default=0)),
                  peak_rss_with_shallow_mb=peak_rss_mb())


def run_affinitree(args: argparse.Namespace, record: dict) -> None:
    from benchmarks import affinitree_peer
    from benchmarks.cases import find_case, load_case
    if not affinitree_peer.available():
        record.update(status="skipped", reason="affinitree is not installed (pip install affinitree)")
        return
    affinitree_peer._import()
    record["startup_s"] = time.time() - args.spawned
    record["version"] = affinitree_peer.version()

    start = time.perf_counter()
    net, domain, _ = load_case(find_case(args.case))
    record["load_s"] = time.perf_counter() - start
    record["rss_before_mb"] = peak_rss_mb()
    start = time.perf_counter()
    tree = affinitree_peer.distill(net, domain)
    seconds = time.perf_counter() - start
    cells = tree.num_terminals()
    record.update(status="ok", cells=cells, seconds=seconds, cells_per_s=cells / seconds if seconds else None,
                  tree_nodes=tree.size(), depth=tree.depth(), peak_rss_mb=peak_rss_mb())
    write_json(args.out, record)
    if args.expect is not None and args.expect != cells:
        record["slivers"] = affinitree_peer.sliver_report(tree, args.sliver_tol, time_budget=args.sliver_budget)


def shallow_batch_bytes(batch: int, cells: int, facets: int) -> float:
    """Bytes onnxruntime needs to run the layered shallow model on ``batch`` inputs: its H3 stage makes
    two (batch, cells) float64 tensors per facet slot, all alive at once.  Measured at batch 1024:
    d4 16x16 (11,286 cells, 20 slots) 5.1 GB, d6 12x12 (34,456 cells, 27 slots) 17.5 GB.

    Example:
        >>> round(shallow_batch_bytes(1024, 34456, 27) / 2**30, 1)
        18.7
    """
    return batch * cells * 8.0 * (2 * facets + 16) + 0.3 * 2**30


def fitting_batch(target: int, cells: int, facets: int, limit_gb: float) -> int:
    """``target``, halved until the shallow model's intermediates fit in ``limit_gb`` (at least 1).

    Example:
        >>> fitting_batch(1024, 34456, 27, 4.0), fitting_batch(1024, 333, 7, 4.0)
        (128, 1024)
    """
    batch = target
    while batch > 1 and shallow_batch_bytes(batch, cells, facets) > limit_gb * 2**30:
        batch //= 2
    return batch


def run_throughput(args: argparse.Namespace, record: dict) -> None:
    import numpy as np
    import onnx

    from benchmarks.cases import find_case, load_case, sample_inputs
    from benchmarks.throughput import inputs_per_second, run_batches, session
    record["startup_s"] = time.time() - args.spawned
    case = find_case(args.case)
    source = onnx.load(os.path.join(args.workdir, "source.onnx"))
    shallow = onnx.load(os.path.join(args.workdir, "shallow.onnx"))
    _, domain, _ = load_case(case)
    props = {p.key: p.value for p in shallow.metadata_props}
    cells = int(props.get("num_cells", args.cells))
    if props.get("layout", "layers") == "index":   # memory O(batch), whatever the number of cells
        cells = 0
    X = sample_inputs(domain, 4096, seed=1)
    src, sh = session(source), session(shallow)
    record["status"] = "ok"
    check = fitting_batch(1024, cells, args.facets, args.memory_gb)
    y_src, y_sh = run_batches(src, X[:1024], check), run_batches(sh, X[:1024], check)
    record["max_abs_diff"] = float(np.nanmax(np.abs(y_src - y_sh))) if np.isfinite(y_sh).any() else None
    record["nan_outputs"] = int(np.isnan(y_sh).any(axis=1).sum())
    for target in (1, 1024):
        record[f"source_b{target}"] = inputs_per_second(src, X, target, args.min_seconds)
        batch = fitting_batch(target, cells, args.facets, args.memory_gb)
        rate = inputs_per_second(sh, X, batch, args.min_seconds)
        if batch < target:
            need = shallow_batch_bytes(target, cells, args.facets) / 2**30
            rate["reduced"] = (f"measured at batch {batch}: batch {target} needs about {need:.1f} GB "
                               f"(> --memory-gb {args.memory_gb:g})")
        record[f"shallow_b{target}"] = rate
        write_json(args.out, record)
    record["peak_rss_mb"] = peak_rss_mb()


MODES = {"ours": run_ours, "affinitree": run_affinitree, "throughput": run_throughput}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker",
                                     description="Run one tool on one benchmark case (started by benchmarks.run).")
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("case")
    parser.add_argument("out", help="JSON result file")
    parser.add_argument("--spawned", type=float, default=None, help="time.time() when the parent spawned us")
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--no-shallow", action="store_true")
    parser.add_argument("--expect", type=int, default=None)
    parser.add_argument("--cells", type=int, default=0)
    parser.add_argument("--facets", type=int, default=64, help="largest facet count of a cell")
    parser.add_argument("--sliver-tol", type=float, default=1e-8)
    parser.add_argument("--sliver-budget", type=float, default=300.0)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--memory-gb", type=float, default=4.0)
    args = parser.parse_args(argv)
    if args.spawned is None:
        args.spawned = time.time()
    record: dict = {"tool": args.mode, "case": args.case, "pid": os.getpid()}
    try:
        MODES[args.mode](args, record)
    except Exception as exc:  # reported in the JSON; the parent shows it in the table notes
        record.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    record.setdefault("peak_rss_mb", peak_rss_mb())
    write_json(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
