"""Compiled (numba) kernels for the vertex engine's per-unit cut; optional.

:mod:`compiler.enumerate_vertex` cuts every crossing cell by one unit with a few dozen numpy
passes over the vertex rows (gathers, one global sort to pair the new vertices' edge keys).  In
d = 8 these passes dominate the run; one compiled loop does the same work in a single pass, pairs
the keys with a hash table instead of a sort and writes the new rows in place.  The kernels give
exactly the numpy path's rows (same order, same float operations), so the cells are identical.

numba is optional: ``AVAILABLE`` is False when it cannot be imported, and the engine then keeps
its numpy path.  Kernels are compiled on first use and cached on disk (``cache=True``); call
:func:`warm_up` to compile them ahead of a timed run.

Example:
    >>> isinstance(AVAILABLE, bool)
    True
"""
from __future__ import annotations

import numpy as np

try:
    import numba
    AVAILABLE = True
except ImportError:      # pragma: no cover - exercised where numba is not installed
    numba = None
    AVAILABLE = False

OK, UNPAIRED = 0, 1     # status codes of :func:`cut_rows`

_SPREAD = np.uint64(0x9E3779B97F4A7C15)   # Fibonacci hashing: keys' table slots


def _jit(fn):
    """``numba.njit(cache=True)`` when numba is importable, else ``fn`` unchanged."""
    return numba.njit(cache=True, nogil=True)(fn) if AVAILABLE else fn


@_jit
def crossing_cells(V, jj, cellv, n_cells, tol):
    """Per cell: some vertex above tol, some below -tol, some within tol (value column jj).

    Example:
        >>> pos, neg, near = crossing_cells(np.array([[1.0], [-1.0], [0.0]]), 0,
        ...                                 np.array([0, 0, 1], dtype=np.int32), 2, 1e-9)
        >>> pos.tolist(), neg.tolist(), near.tolist()
        ([True, False], [True, False], [False, True])
    """
    pos = np.zeros(n_cells, dtype=np.bool_)
    neg = np.zeros(n_cells, dtype=np.bool_)
    near = np.zeros(n_cells, dtype=np.bool_)
    for v in range(cellv.size):
        x = V[v, jj]
        c = cellv[v]
        if x > tol:
            pos[c] = True
        elif x < -tol:
            neg[c] = True
        else:
            near[c] = True
    return pos, neg, near


@_jit
def cut_edges(V, jj, nbr, cross, cellv, n):
    """The edges p -> q (p above, q at or below the cut) of the crossing cells among the first
    n vertex rows, in the numpy path's order (by p, then by slot i): arrays p, q, i.

    Example:
        >>> p, q, i = cut_edges(np.array([[1.0], [-1.0]]), 0, np.array([[1], [0]], dtype=np.int32),
        ...                     np.array([True]), np.array([0, 0], dtype=np.int32), 2)
        >>> p.tolist(), q.tolist(), i.tolist()
        ([0], [1], [0])
    """
    k = nbr.shape[1]
    count = 0
    for v in range(n):
        if cross[cellv[v]] and V[v, jj] > 0:
            for i in range(k):
                if V[nbr[v, i], jj] <= 0:
                    count += 1
    p = np.empty(count, dtype=np.int64)
    q = np.empty(count, dtype=np.int64)
    slot = np.empty(count, dtype=np.int64)
    e = 0
    for v in range(n):
        if cross[cellv[v]] and V[v, jj] > 0:
            for i in range(k):
                w = nbr[v, i]
                if V[w, jj] <= 0:
                    p[e], q[e], slot[e] = v, w, i
                    e += 1
    return p, q, slot


@_jit
def _pair_keys(keys, owner, partner):
    """Pair equal keys through an open-addressing table: partner[a] = b and partner[b] = a.

    Returns False if a key occurs other than exactly twice (owner: any id carried along).
    """
    n = keys.size
    bits = 1
    while (1 << bits) < 2 * n + 2:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    table = np.full(1 << bits, -1, dtype=np.int64)     # index into keys, -1: empty
    paired = 0
    for a in range(n):
        key = keys[a]
        h = np.int64((key * _SPREAD) >> shift)
        while True:
            b = table[h]
            if b < 0:
                table[h] = a
                break
            if keys[b] == key:
                if partner[b] >= 0:
                    return False          # a third occurrence
                partner[a] = b
                partner[b] = a
                paired += 2
                break
            h = (h + 1) & mask
    return paired == n


@_jit
def cut_rows(p, q, slot, jj, base, X, V, act, hsh, nbr, cellv, cut_local, child_of, R, mix):
    """Write the 2 E new vertex rows base .. base + 2E (upper piece, then lower piece) for the
    edges (p, q, slot) and rewire the old ends' adjacency; the numpy path's
    ``cut_vertices`` step by step (see there).  Returns OK, or UNPAIRED when an edge key inside
    the cut does not occur exactly twice (the arrays are then partly written: give up the run).
    """
    E = p.size
    k = act.shape[1]
    D = X.shape[1]
    B = V.shape[1]
    down = base + E
    # the new vertices' coordinates, values, active sets, hashes and cells
    for e in range(E):
        a, b = p[e], q[e]
        ua, ub = V[a, jj], V[b, jj]
        lam = ua / (ua - ub)
        for t in range(D):
            x = X[a, t] + lam * (X[b, t] - X[a, t])
            X[base + e, t] = x
            X[down + e, t] = x
        for t in range(B):
            x = V[a, t] + lam * (V[b, t] - V[a, t])
            V[base + e, t] = x
            V[down + e, t] = x
        V[base + e, jj] = 0.0
        V[down + e, jj] = 0.0
        c = cellv[a]
        cut = cut_local[c]
        dropped = act[a, slot[e]]
        for t in range(k):
            act[base + e, t] = act[a, t]
            act[down + e, t] = act[a, t]
        act[base + e, slot[e]] = cut
        act[down + e, slot[e]] = cut
        h = hsh[a] - R[dropped] + R[cut]
        hsh[base + e] = h
        hsh[down + e] = h
        cellv[base + e] = c
        cellv[down + e] = child_of[c]
    # the edges inside the cut: pair the keys "active set minus one" (cell-salted)
    m = E * (k - 1)
    keys = np.empty(m, dtype=np.uint64)
    owner = np.empty(m, dtype=np.int64)       # e * k + t: new vertex e, slot t
    n_keys = 0
    for e in range(E):
        salt = np.uint64(cellv[p[e]]) * mix
        for t in range(k):
            if t != slot[e]:
                keys[n_keys] = (hsh[base + e] - R[act[base + e, t]]) ^ salt
                owner[n_keys] = e * k + t
                n_keys += 1
    partner = np.full(m, -1, dtype=np.int64)
    if not _pair_keys(keys, owner, partner):
        return UNPAIRED
    for r in range(m):
        e, t = owner[r] // k, owner[r] % k
        f = owner[partner[r]] // k
        nbr[base + e, t] = base + f
        nbr[down + e, t] = down + f
    # across the cut: e joins p (upper piece) and q (lower piece); q's slot for p first
    slot_q = np.empty(E, dtype=np.int64)
    for e in range(E):
        slot_q[e] = 0
        for t in range(k):
            if nbr[q[e], t] == p[e]:
                slot_q[e] = t
                break
    for e in range(E):
        nbr[base + e, slot[e]] = p[e]
        nbr[down + e, slot[e]] = q[e]
        nbr[p[e], slot[e]] = base + e
        nbr[q[e], slot_q[e]] = down + e
    return OK


@_jit
def move_lower_vertices(V, jj, cross, cellv, child_of, n):
    """The crossing cells' vertices at or below the cut (among the first n rows) move to the
    cells' lower pieces.

    Example:
        >>> cellv = np.array([0, 0], dtype=np.int32)
        >>> move_lower_vertices(np.array([[1.0], [-1.0]]), 0, np.array([True]), cellv,
        ...                     np.array([1]), 2); cellv.tolist()
        [0, 1]
    """
    for v in range(n):
        c = cellv[v]
        if cross[c] and V[v, jj] <= 0:
            cellv[v] = child_of[c]


def warm_up() -> float:
    """Compile (or load from the disk cache) every kernel on a tiny cut; the seconds it took.

    Example:
        >>> warm_up() >= 0.0
        True
    """
    import time
    start = time.process_time()
    if not AVAILABLE:
        return 0.0
    from compiler.domain import Domain
    from compiler.enumerate_vertex import VertexEngine
    from compiler.network import AffineLayer, ReluNet
    net = ReluNet(2, [AffineLayer({0: np.array([[1.0, 0.3], [0.2, 1.0]])}, np.array([0.1, -0.2]))],
                  AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
    VertexEngine()(net, Domain.box([-1, -1], [1, 1]))
    return time.process_time() - start
