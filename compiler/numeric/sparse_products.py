"""Products of large sparse float matrices that float64 computes without rounding.

Lowering composes the linear maps between two ReLU layers: a product of the previous layer's
output weights and the next layer's input weights.  Dense, that costs n·m·k multiply-adds even
when both are mostly zeros, as in two-level lattice nets (VNN-COMP's tllverifybench: 8192 x 2048
times 2048 x 4096, block diagonal; 1.4e11 flops, about 10 s here).

A blocked product (each chunk of rows times only the rows of the other factor it reads) groups
the sums otherwise than BLAS does, which in general rounds differently.  So it is used only where
no rounding can happen: every entry of each matrix is a
multiple of a power of two 2^L with magnitude below 2^H, and the inner dimension K keeps every
partial sum below 2^53 multiples of 2^(L_a + L_b).  Then every order of summation gives the exact
product, and it is the same float64 array BLAS returns.

Example:
    >>> a = np.kron(np.eye(300), [[0.5, -1.0]])        # 300 x 600, block diagonal
    >>> b = np.kron(np.eye(300), [[1.0], [2.0]])       # 600 x 300
    >>> np.array_equal(exact_sparse_product(a, b, min_flops=0), a @ b)
    True
    >>> exact_sparse_product(a * 0.1, b, min_flops=0) is None    # 0.05 is no short binary fraction
    True
"""
from __future__ import annotations

import numpy as np

MIN_DENSE_FLOPS = 2 ** 27
"""Below this many multiply-adds the dense product is fast enough (~0.05 s): no checks at all."""

MAX_DENSITY = 0.05
"""Each operand at most this fraction nonzero, or the sparse product is not worth it."""


def _grid(values: np.ndarray) -> tuple[int, int] | None:
    """(L, H) with every value a multiple of 2^L and |value| < 2^H (values nonzero, finite)."""
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    mantissa, exponent = np.frexp(np.abs(values))            # |v| = mantissa 2^exponent, mantissa in [0.5, 1)
    integer = (mantissa * 2.0 ** 53).astype(np.int64)        # exact: 53 significant bits
    lowest = np.log2((integer & -integer).astype(np.float64)).astype(np.int64)   # trailing zero bits
    return int(np.min(exponent - 53 + lowest)), int(np.max(exponent))


def exact_sparse_product(a: np.ndarray, b: np.ndarray, min_flops: int | None = None) -> np.ndarray | None:
    """``a @ b`` for 2-D float64 arrays, by blocks, when both are sparse (block diagonal), the
    product is large and it is exact in float64 (module docstring); None otherwise (the caller
    multiplies densely; ``min_flops``: the size below which dense is used, default
    :data:`MIN_DENSE_FLOPS`).
    The result is column-major (its transpose, a ReLU layer's weights, is contiguous)."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype != np.float64 or b.dtype != np.float64:
        return None
    n, inner = a.shape
    k = b.shape[1]
    if n * inner * k < (MIN_DENSE_FLOPS if min_flops is None else min_flops) or b.shape[0] != inner:
        return None
    if np.count_nonzero(a) > MAX_DENSITY * a.size or np.count_nonzero(b) > MAX_DENSITY * b.size:
        return None
    grid_a, grid_b = _grid(a[a != 0]), _grid(b[b != 0])
    if grid_a is None or grid_b is None:
        return None
    low, high = grid_a[0] + grid_b[0], grid_a[1] + grid_b[1]
    terms = int(np.ceil(np.log2(max(inner, 2))))
    if high + terms - low > 53 or low < -1000 or high + terms > 1000:
        return None
    return _blocked_product(a, b)


def _blocked_product(a: np.ndarray, b: np.ndarray, rows: int = 64) -> np.ndarray | None:
    """``a @ b`` by chunks of ``rows`` rows of ``a``: each chunk times only the rows of ``b`` it
    reads, into only the columns those rows reach (block-diagonal factors: a few small dense
    products).  None when that would cost more than an eighth of the dense product (no block
    structure).  Exact inputs only: the grouping of the sums differs from BLAS's."""
    n, inner = a.shape
    k = b.shape[1]
    budget, work, pieces = n * inner * k // 8, 0, []
    b_nonzero = b != 0
    for start in range(0, n, rows):
        chunk = a[start:start + rows]
        used = np.flatnonzero(chunk.any(axis=0))
        cols = np.flatnonzero(b_nonzero[used].any(axis=0)) if used.size else used
        work += chunk.shape[0] * used.size * cols.size
        if work > budget:
            return None
        pieces.append((start, used, cols))
    transposed = np.zeros((k, n))             # (k, n), C order: the result's transpose
    for start, used, cols in pieces:
        if cols.size:
            chunk = a[start:start + rows]
            block = chunk[:, used] @ b[np.ix_(used, cols)] + 0.0      # + 0.0: -0.0 -> 0.0, as BLAS sums
            transposed[cols, start:start + chunk.shape[0]] = block.T
    return transposed.T
