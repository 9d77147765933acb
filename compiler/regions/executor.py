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

Example:
    >>> list(run_tasks(abs, [-2, 3, -5], jobs=1))
    [2, 3, 5]
"""
from __future__ import annotations

import multiprocessing
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
                                   initializer=initializer, initargs=initargs)
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
