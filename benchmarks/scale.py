"""Scale benchmark (issues 5 and 16): enumerate ~10^6 cells and stream the regions file to disk.

``python -m benchmarks.scale --case d4_32x32x32 --jobs 2 --out /tmp/scale/regions.json`` runs, in
this one process: the case's network through the ONNX frontend (:func:`benchmarks.cases.load_case`),
``enumerate_regions(..., jobs=N)``, :func:`relucompile.shallow.net.build_shallow` (vectorised over the
compact cell store; the shallow ONNX model is not built: at 10^6 cells it is far too large to be
useful) and :func:`relucompile.save_regions` (streamed JSON, written atomically).  It prints one
JSON record: cells, hyperplanes, seconds of each phase, peak memory (``VmHWM`` of this process
and, ``worker_peak_rss_mb``, the largest of the worker processes: local or a ``--cluster local``),
CPU seconds of this process and of the workers, the store's bytes, the regions file's size.

``--max-regions N`` stops the enumeration after N cells (the record then has ``stopped``): a cheap
way to compare the memory per cell of two versions of the code on the same prefix of a run.

Example:
    >>> import json, os, subprocess, sys, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> res = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--case", "quick_d2_4x4",
    ...                       "--out", out], capture_output=True, text=True, check=True)  # doctest: +SKIP
    >>> json.loads(res.stdout)["cells"]                                                 # doctest: +SKIP
    17
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from relucompile.regions.parallel import peak_rss_mb  # noqa: E402  (VmHWM of this process, MiB)


def _progress_every(seconds: float):
    """A progress callback printing the cell count and peak memory at most every ``seconds``."""
    last = [time.time()]

    def progress(n: int, info: dict) -> None:
        if time.time() - last[0] > seconds:
            last[0] = time.time()
            print(f"  {n:,} cells, {peak_rss_mb():.0f} MB peak", file=sys.stderr, flush=True)
    return progress


def run_streamed(case_name: str, jobs: int, out: str, max_regions: int | None, time_limit: float | None,
                 keep: bool = True, engine: str = "auto", spill_rows: int | None = None,
                 cluster: str | None = None) -> dict:
    """Enumerate the case straight into a Parquet dataset (``enumerate_to_dataset``: the tasks
    write their cells to raw parts, the workers turn them into the parts; the driver never holds
    them); the figures as a dict.  ``cluster``: as in :func:`run`."""
    from benchmarks.cases import find_case, load_case
    from relucompile.api.compile import cluster_session
    from relucompile.backends.regions_parquet import enumerate_to_dataset
    from relucompile.regions.enumerate import ENGINES, Limits

    record: dict = {"case": case_name, "jobs": jobs, "max_regions": max_regions, "engine": engine, "streamed": True,
                    "spill_rows": spill_rows, "engine_tol": ENGINES["split"].rel_tol, "cluster": cluster,
                    "load_average_start": os.getloadavg()}
    net, domain, _ = load_case(find_case(case_name))
    record["rss_before_mb"] = round(peak_rss_mb(), 1)
    progress = _progress_every(30.0)

    start, cpu = time.time(), time.process_time()
    with cluster_session(cluster, jobs):
        record["cluster_start_s"] = round(time.time() - start, 1)
        stats = enumerate_to_dataset(net, domain, out, engine=engine, limits=Limits(max_regions, time_limit),
                                     progress=progress, jobs=jobs, spill_rows=spill_rows)
        record.update(total_s=round(time.time() - start, 1))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)   # the workers, ended and waited for
    record.update(cells=stats["cells"], used_hyperplanes=stats["hyperplanes"], facets=stats["facets"],
                  enumerate_s=round(stats["enumerate_s"], 1), write_s=round(stats["write_s"], 1),
                  engine_used=stats.get("engine", "split"), tasks=stats.get("tasks"),
                  peak_after_enumerate_mb=stats.get("peak_after_enumerate_mb"),
                  vertices=stats.get("vertices"),
                  exact_checks=stats.get("exact_checks"), fallback=stats.get("fallback"),
                  regions_file_mb=round(_size(out) / 2**20, 1),
                  total_with_cluster_s=round(time.time() - start, 1),
                  peak_mb=round(peak_rss_mb(), 1), load_average=os.getloadavg()[0],
                  driver_cpu_s=round(time.process_time() - cpu, 1),
                  workers_cpu_s=round(children.ru_utime + children.ru_stime, 1),
                  worker_peak_rss_mb=round(children.ru_maxrss / 1024, 1))
    if not keep:
        shutil.rmtree(out)
    return record


def run(case_name: str, jobs: int, out: str | None, max_regions: int | None, time_limit: float | None,
        keep: bool = True, engine: str = "auto", cluster: str | None = None) -> dict:
    """Enumerate the case, build the shallow net, stream the regions file; the figures as a dict.

    ``cluster``: run the tasks (and the Parquet parts) on a Dask cluster ("local": one of ``jobs``
    workers started here, counted in ``total_s``)."""
    from relucompile.api.compile import cluster_session
    record: dict = {"case": case_name, "jobs": jobs, "cluster": cluster}
    start, cpu = time.time(), time.process_time()
    with cluster_session(cluster, jobs):
        record["cluster_start_s"] = round(time.time() - start, 1)
        record.update(_run(case_name, jobs, out, max_regions, time_limit, keep, engine))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)   # the workers, ended and waited for
    record.update(total_with_cluster_s=round(time.time() - start, 1),
                  driver_cpu_s=round(time.process_time() - cpu, 1),
                  workers_cpu_s=round(children.ru_utime + children.ru_stime, 1),
                  worker_peak_rss_mb=round(children.ru_maxrss / 1024, 1), load_average_end=os.getloadavg())
    return record


def _run(case_name: str, jobs: int, out: str | None, max_regions: int | None, time_limit: float | None,
         keep: bool = True, engine: str = "auto") -> dict:
    """:func:`run` within the cluster session (if any)."""
    from benchmarks.cases import find_case, load_case
    from relucompile.regions.enumerate import Limits, enumerate_regions
    from relucompile.errors import RegionLimitError
    from relucompile.shallow.net import build_shallow
    from relucompile import save_regions

    record: dict = {"case": case_name, "jobs": jobs, "max_regions": max_regions, "engine": engine,
                    "load_average_start": os.getloadavg()}
    net, domain, _ = load_case(find_case(case_name))
    record["rss_before_mb"] = round(peak_rss_mb(), 1)
    progress = _progress_every(30.0)

    start = time.time()
    try:
        regions = enumerate_regions(net, domain, engine, limits=Limits(max_regions, time_limit),
                                    progress=progress, jobs=jobs)
    except RegionLimitError as exc:
        record.update(stopped=str(exc), enumerate_s=round(time.time() - start, 1),
                      peak_mb=round(peak_rss_mb(), 1))
        return record
    record.update(cells=len(regions), hyperplanes=len(regions.hyperplanes), enumerate_s=round(time.time() - start, 1),
                  lps=regions.stats.get("lps"), worker_peak_mb=regions.stats.get("worker_peak_mb"),
                  engine_used=regions.stats.get("engine", "split"), chunks=regions.stats.get("chunks"),
                  vertices=regions.stats.get("vertices"), tasks=regions.stats.get("tasks"),
                  exact_checks=regions.stats.get("exact_checks"), exact_s=regions.stats.get("exact_seconds"),
                  fallback=regions.stats.get("fallback"), peak_after_enumerate_mb=round(peak_rss_mb(), 1))
    radius = regions.cells.radius
    thinnest = np.argsort(radius)[:3]
    record["thinnest_cells"] = [{"cell": int(i), "radius": float(radius[i]),
                                 "interior": regions.cells[int(i)].interior.tolist()} for i in thinnest]
    if hasattr(regions.cells, "nbytes"):
        record["cell_store_mb"] = round(regions.cells.nbytes() / 2**20, 1)
    t = time.time()
    shallow = build_shallow(net, regions)
    record.update(shallow_s=round(time.time() - t, 1), facets=int(shallow.facet_h.size),
                  used_hyperplanes=shallow.num_hyperplanes)
    if out:
        t = time.time()
        save_regions(shallow, out, jobs=jobs)
        record.update(write_s=round(time.time() - t, 1), regions_file_mb=round(_size(out) / 2**20, 1))
        if not keep:
            shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
    record.update(total_s=round(time.time() - start, 1), peak_mb=round(peak_rss_mb(), 1),
                  load_average=os.getloadavg()[0])
    return record


def _size(path: str) -> int:
    """Bytes of a regions file, or of every file of a Parquet regions dataset (a folder)."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def read_back(case_name: str, folder: str) -> dict:
    """Rebuild the case's shallow net from a dataset written by this benchmark
    (:func:`relucompile.shallow.stored.shallow_from_dataset`): cells, seconds, peak memory."""
    from benchmarks.cases import find_case, load_case
    from relucompile.shallow.stored import shallow_from_dataset
    net, _, _ = load_case(find_case(case_name))
    start = time.time()
    shallow = shallow_from_dataset(net, folder)
    return {"case": case_name, "read_back": folder, "cells": len(shallow.regions.cells),
            "load_s": round(time.time() - start, 2), "peak_mb": round(peak_rss_mb(), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description="Enumerate a large case and stream its regions file; print cells, seconds, peak memory "
                    "(example: python -m benchmarks.scale --case d4_32x32x32 --jobs 2 --out /tmp/r.json)")
    parser.add_argument("--case", default="d4_32x32x32", help="a case of benchmarks/cases.py (default d4_32x32x32)")
    parser.add_argument("--jobs", type=int, default=2, help="enumeration processes (default 2)")
    parser.add_argument("--engine", default="auto", choices=["auto", "vertex", "split"],
                        help="enumeration engine (default auto: the vertex engine on this box)")
    parser.add_argument("--out", help="regions file to write, .json or a .parquet dataset (omitted: enumeration "
                                      "and shallow net only)")
    parser.add_argument("--no-keep", action="store_true", help="delete the regions file after measuring its size")
    parser.add_argument("--max-regions", type=int, help="stop after this many cells (memory per cell on a prefix)")
    parser.add_argument("--time-limit", type=float, help="stop after this many seconds of enumeration")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run on a Dask cluster: 'local' starts one of --jobs workers, else the scheduler's "
                             "address (needs relucompile[cluster])")
    parser.add_argument("--json", help="also write the record to this file")
    parser.add_argument("--read-back", metavar="DIR.parquet",
                        help="instead of enumerating: rebuild --case's shallow net from this dataset and measure it")
    parser.add_argument("--stream", action="store_true",
                        help="enumerate straight into the --out Parquet dataset, spilling cells to disk in chunks "
                             "(bounded memory; no shallow net in memory)")
    parser.add_argument("--spill-rows", type=int, help="with --stream: cells held before a spill (default 262144)")
    parser.add_argument("--engine-tol", type=float,
                        help="the engines' relative tolerance (default 1e-8), e.g. 1e-10 (changes which sliver cells "
                             "are kept; vertices within it of a cut are decided exactly, not given up on)")
    args = parser.parse_args(argv)
    if args.read_back:
        print(json.dumps(read_back(args.case, args.read_back)), flush=True)
        return 0
    if args.engine_tol is not None:
        from relucompile.regions.enumerate import ENGINES
        ENGINES["split"].rel_tol = ENGINES["vertex"].rel_tol = args.engine_tol
    if args.stream:
        if not args.out or not args.out.rstrip("/").endswith(".parquet"):
            parser.error("--stream needs --out DIR.parquet")
        record = run_streamed(args.case, args.jobs, args.out, args.max_regions, args.time_limit,
                              keep=not args.no_keep, engine=args.engine, spill_rows=args.spill_rows,
                              cluster=args.cluster)
    else:
        record = run(args.case, args.jobs, args.out, args.max_regions, args.time_limit, keep=not args.no_keep,
                     engine=args.engine, cluster=args.cluster)
    text = json.dumps(record)
    print(text, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
