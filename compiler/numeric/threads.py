"""One BLAS thread per process: the tool's own parallelism is ``--jobs`` alone.

numpy's BLAS (OpenBLAS, MKL) starts one thread per core for every matrix product; next to the
tool's own worker processes they only compete for the cores, and on small products (the
enumeration's and the verifier's) they cost more than they save: ``verify`` ACAS Xu 1_1 prop_3
took 25.6 s with the default threads and 8.3 s with one (benchmarks/blas_threads.py).

Example:
    >>> import numpy as np
    >>> with single_threaded_blas():
    ...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
    9.0
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

#: the environment variables the BLAS and OpenMP runtimes read when they load
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                         "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with one BLAS thread: libraries already loaded are capped by threadpoolctl
    (restored at the end), libraries loaded later and worker processes read the environment
    variables, which are set for the block unless the user set them.

    Example:
        >>> with single_threaded_blas():
        ...     os.environ["OPENBLAS_NUM_THREADS"] != ""
        True
    """
    added = [name for name in BLAS_THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        import numpy  # noqa: F401  (loads the BLAS, so that threadpoolctl sees it)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:   # an install without the dependency: the environment variables still act
            limiter = contextlib.nullcontext()
        else:
            limiter = threadpool_limits(limits=1, user_api="blas")
        with limiter:
            yield
    finally:
        for name in added:
            os.environ.pop(name, None)
