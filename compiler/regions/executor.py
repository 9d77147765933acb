"""Independent tasks run in this process or in a pool of local processes, results in task order.

Both region engines cut their work into tasks whose results do not depend on where or when
they ran (the split engine: subtrees, :mod:`relucompile.regions.parallel`; the vertex engine:
chunks of cells, :mod:`relucompile.regions.vertex_engine`), so one interface serves both:
:func:`run_tasks` maps a function over the tasks and yields the results in task order, from
``jobs`` processes (``concurrent.futures.ProcessPoolExecutor``, forked: the network and the
other shared state go to each worker once, by ``initializer``) or, for ``jobs=1``, here.

Faults: a worker that dies (killed, out of memory) breaks the pool; the tasks whose results
were not yet yielded run again in a fresh pool (at most ``retries`` times), so no result is
lost or yielded twice.

A cluster (Dask distributed, benchmarks/DISTRIBUTED.md says why Dask): within
``with cluster(address, workers):`` every :func:`run_tasks` of this process runs its tasks on
the cluster instead (``address`` "local" starts a local cluster of ``workers`` processes, else
it joins the scheduler at ``address``).  The shared state (``initargs``: the network...) goes
to each worker once (scattered, broadcast), each task carries only its own data; results come
back in task order; the scheduler reruns the tasks of a worker that died.  Stopping early
(an error, a limit, Ctrl-C) cancels the pending tasks; a local cluster's workers end with it,
while on an existing cluster a task already running finishes its chunk (its result is
dropped; the tasks check ``--time-limit`` themselves).  Dask is imported only here, when a
cluster is used.

Example:
    >>> list(run_tasks(abs, [-2, 3, -5], jobs=1))
    [2, 3, 5]
"""
from __future__ import annotations

import contextlib
import multiprocessing
import signal
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator

RETRIES = 3
"""Fresh pools after a worker died before a run gives up (each reruns the unfinished tasks)."""


def _nothing() -> None:
    """The default initializer."""


def run_tasks(fn: Callable[[Any], Any], tasks: Iterable[Any], jobs: int = 1,
              initializer: Callable[..., None] = _nothing, initargs: tuple = (),
              retries: int = RETRIES) -> Iterator[Any]:
    """``fn(task)`` for every task, yielded in task order; ``jobs`` local processes (fork).

    Each worker runs ``initializer(*initargs)`` once before its first task (with ``jobs=1``,
    this process runs it once).  A worker's death reruns every task not yet yielded in a new
    pool; after ``retries`` deaths the BrokenProcessPool propagates.  Closing the generator
    (or an exception in the consumer) cancels the pending tasks and stops the workers.

    Example:
        >>> list(run_tasks(abs, [-1, 2, -3, 4], jobs=2))
        [1, 2, 3, 4]
    """
    tasks = list(tasks)
    if _CLUSTER:
        yield from _CLUSTER[-1].run(fn, tasks, initializer, initargs)
        return
    if jobs <= 1 or len(tasks) <= 1:
        initializer(*initargs)
        for k in range(len(tasks)):
            task, tasks[k] = tasks[k], None      # a task's input is freed once it ran
            yield fn(task)
            del task
        return
    done, deaths = 0, 0
    context = multiprocessing.get_context("fork")
    while done < len(tasks):
        pool = ProcessPoolExecutor(min(jobs, len(tasks) - done), mp_context=context,
                                   initializer=_start_worker, initargs=(initializer,) + tuple(initargs))
        try:
            futures = [pool.submit(fn, task) for task in tasks[done:]]
            for k in range(len(futures)):
                result = futures[k].result()
                futures[k] = None                # no reference to a yielded result stays here
                tasks[done] = None               # nor to its input (never rerun once yielded)
                done += 1
                yield result
                del result
        except BrokenProcessPool:
            deaths += 1
            if deaths > retries:
                raise
        finally:
            _stop(pool)


def _start_worker(initializer: Callable[..., None], *initargs: Any) -> None:
    """A forked worker's start: SIGTERM and SIGHUP back to their defaults (the parent may raise
    on them to clean up, :func:`relucompile.backends.files.signals_raise`; a worker ended by
    :func:`_stop` then just ends, without a traceback), then ``initializer(*initargs)``."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    initializer(*initargs)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the pool's pending tasks and end its workers now (a finished pool has none
    running; after an error or a stop nobody waits for the running ones)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()


_CLUSTER: list = []
"""The cluster sessions entered (:func:`cluster`); the innermost runs the tasks."""

_STATE_KEY: list = [None]
"""The state a cluster worker process holds (the key of the last initializer it ran)."""


def in_cluster() -> bool:
    """Whether :func:`run_tasks` runs on a cluster now (within :func:`cluster`).

    Example:
        >>> in_cluster()
        False
    """
    return bool(_CLUSTER)


class _Boxed:
    """A task's data or the shared state, opaque to the scheduler (not searched for nested tasks)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _unbox(boxed: _Boxed) -> _Boxed:
    """The shared state as a cluster task's result: kept by the scheduler's graph, so a lost copy is
    computed again (scattered data would be gone with its worker)."""
    return boxed


def _with_state(fn: Callable[[Any], Any], key: str, initializer: Callable[..., None], state: _Boxed,
                task: _Boxed) -> Any:
    """On a cluster worker: run ``initializer(*state)`` once per run (``key``), then ``fn(task)``."""
    if _STATE_KEY[0] != key:
        initializer(*state.value)
        _STATE_KEY[0] = key
    return fn(task.value)


NANNY_ENVIRONMENT = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
"""The workers' environment in a local cluster (Dask's default without MALLOC_TRIM_THRESHOLD_)."""


class DaskSession:
    """Tasks on a Dask distributed cluster (a client of ``address``, or a local cluster of
    ``workers`` single-threaded processes for "local")."""

    def __init__(self, address: str, workers: int = 1) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            from relucompile.errors import UserError
            raise UserError("--cluster needs Dask distributed: pip install 'relucompile[cluster]'") from None
        self.local = None
        if address == "local":
            import dask
            # one BLAS thread per worker as Dask sets, but glibc's default malloc: Dask's own default
            # (MALLOC_TRIM_THRESHOLD_ set) turns every large numpy array into a fresh mmap and cost
            # the vertex engine 50% more CPU (benchmarks/DISTRIBUTED.md); start a cluster's workers so too
            with dask.config.set({"distributed.nanny.pre-spawn-environ": NANNY_ENVIRONMENT}):
                self.local = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                                          dashboard_address=":0", silence_logs=40)
            address = self.local.scheduler_address
        self.client = Client(address, set_as_default=False)

    def run(self, fn: Callable[[Any], Any], tasks: list, initializer: Callable[..., None],
            initargs: tuple) -> Iterator[Any]:
        """``fn(task)`` for every task on the cluster, yielded in task order; the state once per
        worker; pending tasks cancelled when the consumer stops early (error, limit, Ctrl-C)."""
        if not tasks:
            return
        import warnings
        key, client = uuid.uuid4().hex, self.client
        n = len(tasks)
        # the tasks and the state travel in the task graph, not scattered: the scheduler can run a
        # task again when its worker dies (scattered data would die with the worker); the state is
        # one task's result, fetched by each worker once
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(Large object|large graph).*")
            state = client.submit(_unbox, _Boxed(initargs), pure=False, key=f"state-{key}")
            futures = client.map(_with_state, [fn] * n, [key] * n, [initializer] * n, [state] * n,
                                 [_Boxed(task) for task in tasks], pure=False,
                                 key=[f"{getattr(fn, '__name__', 'task')}-{key}-{i}" for i in range(n)])
        done = 0
        try:
            for future in futures:
                result = future.result()
                future.release()
                done += 1
                yield result
        finally:
            client.cancel(futures[done:] + [state], force=True)

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


@contextlib.contextmanager
def cluster(address: str | None, workers: int = 1) -> Iterator[Any]:
    """Within the block, :func:`run_tasks` runs on the cluster at ``address`` ("local": a local
    cluster of ``workers`` processes); ``None`` changes nothing (local processes, ``--jobs``).

    Example:
        >>> with cluster(None):
        ...     list(run_tasks(abs, [-1, 2], jobs=1))
        [1, 2]
    """
    if address is None:
        yield None
        return
    session = DaskSession(address, workers)
    _CLUSTER.append(session)
    try:
        yield session
    finally:
        _CLUSTER.remove(session)
        session.close()
