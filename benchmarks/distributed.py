"""Ray or Dask for the cluster executor (issue 16): task overhead, data transfer, a real run.

``python -m benchmarks.distributed --engine dask`` (or ``ray``, or ``local`` for the process
pool) starts a local cluster of ``--workers`` processes and prints one JSON record:

* ``start_s``: starting the local cluster and connecting to it;
* ``empty_task_ms``: one empty task's round trip, submitted and awaited one at a time (latency),
  and ``empty_batch_ms``: per task, 500 empty tasks submitted at once (throughput);
* ``transfer_s``: a task that receives a chunk of vertex rows (``--mb`` MiB of float64) and
  returns it, averaged over 5 round trips (what a vertex-engine task ships at most);
* ``workers_cpu_s``: CPU seconds of the worker processes, all phases (0 for Ray: not our children);
* ``real_s`` (workers warmed up: the compiled kernels loaded): :func:`relucompile.regions.enumerate.enumerate_regions` of a random
  d4 [24, 24, 24] net on [-1, 1]^4 (the vertex engine's 32 tasks) through the executor,
  with its cell count (the same for every engine: the results are checked equal).

Ray runs through a small adapter here (:class:`RaySession`, the interface of
:class:`relucompile.regions.executor.DaskSession`); only Dask ships with relucompile.

Example:
    >>> RaySession.__name__
    'RaySession'
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from relucompile.regions import executor  # noqa: E402


class RaySession:
    """The cluster executor's session on Ray (a local Ray instance of ``workers`` CPUs)."""

    def __init__(self, workers: int) -> None:
        import ray
        self.ray = ray
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        self.remote = ray.remote(max_retries=3)(executor._with_state)

    def run(self, fn, tasks, initializer, initargs):
        ray, key = self.ray, uuid.uuid4().hex
        state = ray.put(executor._Boxed(initargs))
        refs = [self.remote.remote(fn, key, initializer, state, executor._Boxed(task)) for task in tasks]
        done = 0
        try:
            for ref in refs:
                result = ray.get(ref)
                done += 1
                yield result
        finally:
            for ref in refs[done:]:
                ray.cancel(ref)

    def close(self) -> None:
        self.ray.shutdown()


def _nothing(_: object = None) -> None:
    """An empty task."""


def _echo(payload: np.ndarray) -> np.ndarray:
    """A task that ships its payload back."""
    return payload


def _warm(_: object) -> float:
    """Load the vertex engine's compiled kernels in a worker (as a long-lived cluster has them)."""
    from relucompile.regions.vertex_engine import warm_up
    return warm_up()


def _noop_init() -> None:
    """No shared state."""


def measure(engine: str, workers: int, mb: float) -> dict:
    """The figures of one engine (see the module docstring)."""
    from relucompile.examples.random_nets import random_mlp
    from relucompile.ir.domain import Domain
    from relucompile.regions.enumerate import enumerate_regions
    record: dict = {"engine": engine, "workers": workers, "load_average": os.getloadavg()[0]}
    t = time.time()
    session = None
    if engine == "dask":
        session = executor.DaskSession("local", workers)
    elif engine == "ray":
        session = RaySession(workers)
    if session is not None:
        executor._CLUSTER.append(session)
    record["start_s"] = round(time.time() - t, 2)
    try:
        list(executor.run_tasks(_nothing, [None] * workers, workers, _noop_init))    # warm
        t = time.time()
        for _ in range(50):
            list(executor.run_tasks(_nothing, [None, None], workers, _noop_init))
        record["empty_task_ms"] = round((time.time() - t) / 50 * 1e3, 2)
        t = time.time()
        list(executor.run_tasks(_nothing, [None] * 500, workers, _noop_init))
        record["empty_batch_ms"] = round((time.time() - t) / 500 * 1e3, 3)
        payload = np.random.default_rng(0).standard_normal(int(mb * 2**20 / 8))
        list(executor.run_tasks(_echo, [payload, payload[:1]], workers, _noop_init))    # warm
        t = time.time()
        for _ in range(5):
            back = list(executor.run_tasks(_echo, [payload, payload[:1]], workers, _noop_init))
        record["transfer_s"] = round((time.time() - t) / 5, 3)
        assert np.array_equal(back[0], payload)
        net = random_mlp(4, [24, 24, 24], 1, seed=0)
        list(executor.run_tasks(_warm, [None] * workers * 4, workers, _noop_init))   # numba kernels loaded
        t, cpu = time.time(), time.process_time()
        regions = enumerate_regions(net, Domain.box([-1] * 4, [1] * 4), "vertex", jobs=workers)
        record.update(real_s=round(time.time() - t, 2), real_driver_cpu_s=round(time.process_time() - cpu, 2),
                      cells=len(regions), tasks=regions.stats.get("tasks"))
    finally:
        if session is not None:
            executor._CLUSTER.remove(session)
            t = time.time()
            session.close()
            record["stop_s"] = round(time.time() - t, 2)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)     # the workers once ended (not Ray's)
    record["workers_cpu_s"] = round(children.ru_utime + children.ru_stime, 1)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed",
                                     description="task overhead, transfer and a real run on Ray, Dask or local processes")
    parser.add_argument("--engine", choices=["dask", "ray", "local"], default="dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mb", type=float, default=40.0, help="MiB shipped to a worker and back (default 40)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.engine, args.workers, args.mb)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
