"""A compiled (numba) step of the bounds' back-substitution; optional, loaded by a long search.

:func:`relucompile.verify.bounds._backward` replaces, layer by layer, each ReLU by its linear
relaxation as the sign of the back-propagated coefficient asks.  In numpy that is a gather of the
rows' three relaxation arrays and about eight passes over (rows, units) temporaries, which cost
more than the layer's matrix product itself on ACAS Xu's 50-unit layers.  :func:`relax_rows`
does it in one pass, reading the relaxation of row ``p`` at ``rows[p]`` in place.

The sums run in another order than numpy's, so a bound may differ in its last bits; both stay
sound because the caller lowers every bound by ``BOUND_ROUNDING`` times the magnitude of the
terms summed (``mag``, computed here the same way).  numba is imported only when
:func:`load` is called (the input-split search does so once it runs past a thousand boxes, so
quick verdicts never pay for the import or the compilation); without numba the numpy path stays.

Example:
    >>> import numpy as np
    >>> kernel = load()
    >>> lam = np.array([[2.0, -1.0]])
    >>> relax = (np.array([[1.0, 0.0]]), np.array([[1.0, 0.5]]), np.array([[0.0, 1.0]]))
    >>> if kernel is None:
    ...     print([[2.0, -0.5]], -1.0)
    ... else:
    ...     lam_z, const, mag = kernel(lam, np.array([0]), *relax, np.zeros(2), np.zeros(2))
    ...     print(lam_z.tolist(), float(const[0]))
    [[2.0, -0.5]] -1.0
"""
from __future__ import annotations

from typing import Callable

import numpy as np

_KERNEL: list[Callable | None] = []


def _relax_rows(lam, rows, lower_slope, upper_slope, upper_shift, bias, bias_abs):
    """Per row p (relaxation row ``rows[p]``): ``lam_z = lam+ * lower + lam- * upper``, the
    constant ``sum lam- * shift + lam_z . bias`` and its magnitude ``sum |.|`` of those terms."""
    n_rows, n_units = lam.shape
    lam_z = np.empty((n_rows, n_units))
    const = np.zeros(n_rows)
    mag = np.zeros(n_rows)
    for p in range(n_rows):
        r = rows[p]
        c = 0.0
        m = 0.0
        for j in range(n_units):
            v = lam[p, j]
            if v >= 0.0:
                z = v * lower_slope[r, j]
            else:
                z = v * upper_slope[r, j]
                s = v * upper_shift[r, j]
                c += s
                m += abs(s)
            lam_z[p, j] = z
            c += z * bias[j]
            m += abs(z) * bias_abs[j]
        const[p] = c
        mag[p] = m
    return lam_z, const, mag


def load() -> Callable | None:
    """The compiled :func:`_relax_rows` (compiled once per process, cached on disk), or None
    without numba."""
    if not _KERNEL:
        try:
            import numba
        except ImportError:      # pragma: no cover - exercised where numba is not installed
            _KERNEL.append(None)
        else:
            _KERNEL.append(numba.njit(cache=True, nogil=True)(_relax_rows))
    return _KERNEL[0]


def loaded() -> Callable | None:
    """The kernel if :func:`load` was called in this process (or before its fork), else None."""
    return _KERNEL[0] if _KERNEL else None
