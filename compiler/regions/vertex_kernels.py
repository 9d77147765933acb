"""Compiled (numba) kernels for the vertex engine's per-unit cut; optional.

:mod:`relucompile.regions.vertex_engine` cuts every crossing cell by one unit with a few dozen numpy
passes over the vertex rows (gathers, one global sort to pair the new vertices' edge keys).  In
d = 8 these passes dominate the run; one compiled loop does the same work in a single pass, pairs
the keys with a hash table instead of a sort and writes the new rows in place.  The kernels give
exactly the numpy path's rows (same order, same float operations), so the cells are identical.

numba is optional: ``AVAILABLE`` is False when it cannot be imported, and the engine then keeps
its numpy path.  Kernels are compiled on first use and cached on disk (``cache=True``); call
:func:`relucompile.regions.vertex_engine.warm_up` to compile them ahead of a timed run.

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

OK, UNPAIRED, EDGE_AT_INFINITY = 0, 1, 2     # status codes of :func:`cut_rows`

_SPREAD = np.uint64(0x9E3779B97F4A7C15)   # Fibonacci hashing: keys' table slots


def _jit(fn):
    """``numba.njit(cache=True)`` when numba is importable, else ``fn`` unchanged."""
    return numba.njit(cache=True, nogil=True)(fn) if AVAILABLE else fn


@_jit
def crossing_cells(V, jj, cellv, n_cells, tol):
    """Per cell: some vertex above tol, some below -tol, some within tol (value column jj); and
    per vertex whether its value is above 0 (a compact array: :func:`cut_edges` reads it at
    random neighbours, which the value rows would make cache misses).

    Example:
        >>> pos, neg, near, above = crossing_cells(np.array([[1.0], [-1.0], [0.0]]), 0,
        ...                                        np.array([0, 0, 1], dtype=np.int32), 2, 1e-9)
        >>> pos.tolist(), neg.tolist(), near.tolist(), above.tolist()
        ([True, False], [True, False], [False, True], [True, False, False])
    """
    pos = np.zeros(n_cells, dtype=np.bool_)
    neg = np.zeros(n_cells, dtype=np.bool_)
    near = np.zeros(n_cells, dtype=np.bool_)
    above = np.empty(cellv.size, dtype=np.bool_)
    for v in range(cellv.size):
        x = V[v, jj]
        c = cellv[v]
        above[v] = x > 0
        if x > tol:
            pos[c] = True
        elif x < -tol:
            neg[c] = True
        else:
            near[c] = True
    return pos, neg, near, above


@_jit
def _grown(a, size):
    """A copy of ``a`` with room for ``size`` entries (the first len(a) kept)."""
    out = np.empty(size, dtype=a.dtype)
    out[:a.size] = a
    return out


@_jit
def cut_edges(above, nbr, cross, cellv, child_of, n):
    """The edges p -> q (p above, q at or below the cut: ``above``) of the crossing cells among
    the first n vertex rows, in the numpy path's order (by p, then by slot i): arrays p, q, i.

    In the same pass the vertices at or below the cut move to their cells' lower pieces
    (``cellv[v] = child_of[cellv[v]]``), as the numpy path does after the cut.

    Example:
        >>> cellv = np.array([0, 0], dtype=np.int32)
        >>> p, q, i = cut_edges(np.array([True, False]), np.array([[1], [0]], dtype=np.int32),
        ...                     np.array([True]), cellv, np.array([1]), 2)
        >>> p.tolist(), q.tolist(), i.tolist(), cellv.tolist()
        ([0], [1], [0], [0, 1])
    """
    k = nbr.shape[1]
    p = np.empty(1024, dtype=np.int64)
    q = np.empty(1024, dtype=np.int64)
    slot = np.empty(1024, dtype=np.int64)
    e = 0
    for v in range(n):
        c = cellv[v]
        if not cross[c]:
            continue
        if not above[v]:
            cellv[v] = child_of[c]
            continue
        if e + k > p.size:
            p, q, slot = _grown(p, 2 * (e + k)), _grown(q, 2 * (e + k)), _grown(slot, 2 * (e + k))
        for i in range(k):      # branch-free (a branch here mispredicts: 4x slower): write every
            # edge, keep those that end below
            w = nbr[v, i]
            p[e], q[e], slot[e] = v, w, i
            e += 1 - np.int64(above[w])
    return p[:e], q[:e], slot[:e]


@_jit
def _pair_keys(keys, partner):
    """Pair equal keys: partner[a] = b and partner[b] = a; False if a key occurs other than
    exactly twice.  (One group of :func:`_pair_keys_by_cell`, for tests.)

    Example:
        >>> partner = np.full(4, -1, dtype=np.int64)
        >>> _pair_keys(np.array([5, 9, 5, 9], dtype=np.uint64), partner), partner.tolist()
        (True, [2, 3, 0, 1])
    """
    n = keys.size
    return _pair_keys_by_cell(keys.reshape(n, 1), np.full(n, 1, dtype=np.int64),
                              np.zeros(n, dtype=np.int64), 1, partner)


@_jit
def _pair_keys_by_cell(keys, skip, edge_cell, n_cells, partner):
    """Pair the equal keys of ``keys`` (E, k) but column ``skip[e]`` of row e: for keys[e, t] ==
    keys[f, u], partner[e k + t] = f and partner[f k + u] = e (rows, no divisions later); False if
    a key occurs other than exactly twice.

    Equal keys only occur within a cell (keys are salted by the cell), so the rows are grouped by
    cell (a counting sort) and each cell's keys go through a small open-addressing table that
    stays in cache (one global table or sort over all keys is mostly cache misses).
    """
    E, k = keys.shape
    start = np.zeros(n_cells + 1, dtype=np.int64)
    for e in range(E):
        start[edge_cell[e] + 1] += 1
    biggest = 0
    for c in range(n_cells):
        biggest = max(biggest, start[c + 1])
        start[c + 1] += start[c]
    order = np.empty(E, dtype=np.int64)
    fill = start[:-1].copy()
    for e in range(E):
        c = edge_cell[e]
        order[fill[c]] = e
        fill[c] += 1
    bits = 1
    while (1 << bits) < 2 * biggest * k + 2:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    slots = np.full(1 << bits, -1, dtype=np.int64)       # e k + t, -1: empty
    slot_rows = np.empty(1 << bits, dtype=np.int64)      # e
    slot_keys = np.empty(1 << bits, dtype=np.uint64)
    used = np.empty(biggest * k + 1, dtype=np.int64)      # the slots to clear after a cell
    for c in range(n_cells):
        n_used = 0
        paired = 0
        for r in range(start[c], start[c + 1]):
            e = order[r]
            for t in range(k):
                if t == skip[e]:
                    continue
                key = keys[e, t]
                a = e * k + t
                h = np.int64((key * _SPREAD) >> shift)
                while True:
                    b = slots[h]
                    if b < 0:
                        slots[h] = a
                        slot_rows[h] = e
                        slot_keys[h] = key
                        used[n_used] = h
                        n_used += 1
                        break
                    if slot_keys[h] == key:
                        if partner[b] >= 0:
                            return False          # a third occurrence
                        partner[a] = slot_rows[h]
                        partner[b] = e
                        paired += 2
                        break
                    h = (h + 1) & mask
        for r in range(n_used):
            slots[used[r]] = -1
        if paired != 2 * n_used:
            return False
    return True


@_jit
def cut_rows(p, q, slot, jj, base, X, V, act, hsh, nbr, cellv, cut_local, child_of, R, mix, X1, V1):
    """Write the 2 E new vertex rows base .. base + 2E (upper piece, then lower piece) for the
    edges (p, q, slot) and rewire the old ends' adjacency; the numpy path's
    ``cut_vertices`` step by step (see there).  On R^d (``X1``, ``V1``: the rows' and values'
    drifts, with columns) the points are cut in dual numbers as ``dual_cut_points`` does.
    Returns OK, UNPAIRED when an edge key inside the cut does not occur exactly twice, or
    EDGE_AT_INFINITY (the arrays are then partly written: give up the run).
    """
    E = p.size
    k = act.shape[1]
    D = X.shape[1]
    B = V.shape[1]
    dual = X1.shape[1] > 0
    down = base + E
    # the new vertices' coordinates, values, active sets, hashes and cells
    for e in range(E):
        a, b = p[e], q[e]
        ua, ub = V[a, jj], V[b, jj]
        lam1 = 0.0
        if dual:
            ua1, ub1 = V1[a, jj], V1[b, jj]
            gap = ua - ub
            if gap == 0.0:
                for t in range(D):
                    if X[a, t] != X[b, t]:
                        return EDGE_AT_INFINITY
                lam = ua1 / (ua1 - ub1)
            else:
                lam = ua / gap
                lam1 = (ua * ub1 - ua1 * ub) / (gap * gap)
        else:
            lam = ua / (ua - ub)
        at_q = dual and lam == 1.0
        for t in range(D):
            x = X[b, t] if at_q else X[a, t] + lam * (X[b, t] - X[a, t])
            X[base + e, t] = x
            X[down + e, t] = x
        for t in range(B):
            x = V[b, t] if at_q else V[a, t] + lam * (V[b, t] - V[a, t])
            V[base + e, t] = x
            V[down + e, t] = x
        V[base + e, jj] = 0.0
        V[down + e, jj] = 0.0
        if dual:
            for t in range(D):
                x = X1[a, t] + lam * (X1[b, t] - X1[a, t]) + lam1 * (X[b, t] - X[a, t])
                X1[base + e, t] = x
                X1[down + e, t] = x
            for t in range(B):
                x = V1[a, t] + lam * (V1[b, t] - V1[a, t]) + lam1 * (V[b, t] - V[a, t])
                V1[base + e, t] = x
                V1[down + e, t] = x
            V1[base + e, jj] = 0.0
            V1[down + e, jj] = 0.0
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
    # the edges inside the cut: pair the keys "active set minus one" (cell-salted), cell by cell
    keys = np.empty((E, k), dtype=np.uint64)
    edge_cell = np.empty(E, dtype=np.int64)
    for e in range(E):
        c = cellv[p[e]]
        edge_cell[e] = c
        salt = np.uint64(c) * mix
        for t in range(k):
            keys[e, t] = (hsh[base + e] - R[act[base + e, t]]) ^ salt
    partner = np.full(E * k, -1, dtype=np.int64)
    if not _pair_keys_by_cell(keys, slot, edge_cell, cut_local.size, partner):
        return UNPAIRED
    for e in range(E):
        for t in range(k):
            if t != slot[e]:
                f = partner[e * k + t]
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
def unit_values(Zn, zn, j0, group, cellv, X, out):
    """out[v, b] = Zn[g, j0 + b] . x_v + zn[g, j0 + b] s_v for each vertex row v = (x_v, s_v) of
    a cell of group g: the values of units j0, j0 + 1, ... summed in the numpy path's order
    (offset first, then coordinate by coordinate), so both paths give the same floats.

    Example:
        >>> out = np.zeros((1, 1))
        >>> unit_values(np.array([[[2.0, 1.0]]]), np.array([[0.5]]), 0, np.array([0]),
        ...             np.array([0], dtype=np.int32), np.array([[1.0, 3.0, 1.0]]), out); out.tolist()
        [[5.5]]
    """
    D = X.shape[1] - 1
    for v in range(cellv.size):
        g = group[cellv[v]]
        s = X[v, D]
        for b in range(out.shape[1]):
            acc = zn[g, j0 + b] * s
            for t in range(D):
                acc += Zn[g, j0 + b, t] * X[v, t]
            out[v, b] = acc


@_jit
def cell_sums(cellv, X, n_cells):
    """Per cell the sum of its vertex rows, in vertex order (as ``np.bincount`` sums).

    Example:
        >>> cell_sums(np.array([1, 0, 1], dtype=np.int32), np.array([[1.0], [2.0], [3.0]]), 2).tolist()
        [[2.0], [4.0]]
    """
    out = np.zeros((n_cells, X.shape[1]))
    for v in range(cellv.size):
        c = cellv[v]
        for t in range(X.shape[1]):
            out[c, t] += X[v, t]
    return out


@_jit
def active_marks(cellv, act, n_cells, width):
    """marks[c, i]: local id i is active at some vertex of cell c (``marks[cellv[:, None], act] =
    True`` in one pass).

    Example:
        >>> active_marks(np.array([0, 1], dtype=np.int32), np.array([[0, 2], [1, 2]], dtype=np.int16),
        ...              2, 3).astype(int).tolist()
        [[1, 0, 1], [0, 1, 1]]
    """
    marks = np.zeros((n_cells, width), dtype=np.bool_)
    for v in range(cellv.size):
        c = cellv[v]
        for t in range(act.shape[1]):
            marks[c, act[v, t]] = True
    return marks
