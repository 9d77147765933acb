"""Activation regions (cells) and the hyperplanes that bound them, in compact array stores.

A :class:`RegionSet` is the result of region enumeration (docs/design.md section 1): every
full-dimensional cell of the domain with its activation pattern, effective affine map
``f(x) = A x + c``, irredundant inequalities, an interior point and whether it is bounded.

Hyperplanes are identified *structurally*: a unit's hyperplane is keyed by
(layer, unit, pattern of the earlier layers), a domain facet by its row; two cells that share
a facet refer to the same hyperplane by index.  A cell's facet ``(h, s)`` means
``s * (w_h . x + b_h) >= 0`` holds on the cell.

Storage (issue 5, 10^6 cells): no Python object per cell or per hyperplane is kept.
:class:`CellStore` (``RegionSet.cells``) holds growable numpy arrays (doubled when full): packed
pattern bits ``(n, ceil(units/8))``, ``A (n, m, d)``, ``c (n, m)``, ``interior (n, d)``,
``radius (n,)``, ``bounded (n,)`` and the facets in CSR form (``facet_ptr (n+1,)``,
``facet_h``, ``facet_side``).  :class:`HyperplaneStore` (``RegionSet.hyperplanes``) holds
``W (n, d)``, ``b (n,)`` and the keys as short bytes (packed prefix bits) with a key -> index
dict.  Both still behave as sequences: ``len``, iteration and ``store[i]`` give a :class:`Cell`
/ :class:`Hyperplane` built on access (its arrays are views into the store), and
``append(Cell)`` / ``index(key, w, b)`` add one.  Engines that produce cells in batches use the
bulk API :meth:`CellStore.append_many` and read the arrays directly (``cells.A``,
``cells.facet_ptr``, ``hyperplanes.W``...; views of the first ``len`` rows).

Example (one cell at a time, then a batch of two cells with 1 and 2 facets):
    >>> regions = RegionSet(Domain.box([-1], [1]), d=1, m=1, widths=[2])
    >>> h0 = regions.hyperplane_index(("unit", 0, 0, b""), np.array([1.0]), 0.0)
    >>> h1 = regions.hyperplane_index(("domain", 0), np.array([-1.0]), 1.0)
    >>> regions.cells.append(Cell(np.array([True, False]), np.ones((1, 1)), np.zeros(1),
    ...                           [(h0, 1), (h1, 1)], np.array([0.5]), 0.5, True))
    >>> regions.cells.append_many(patterns=np.array([[False, False], [False, True]]),
    ...     A=np.zeros((2, 1, 1)), c=np.zeros((2, 1)), interior=np.array([[-0.5], [-0.2]]),
    ...     radius=np.array([0.5, 0.1]), bounded=np.array([True, True]),
    ...     facet_ptr=np.array([0, 1, 3]), facet_h=np.array([h0, h0, h1]), facet_side=np.array([-1, -1, 1]))
    >>> len(regions), regions.cells[2].facets, regions.cells[2].pattern.tolist()
    (3, [(0, -1), (1, 1)], [False, True])
    >>> regions.cells.facet_ptr.tolist(), regions.hyperplanes[0].key, regions.hyperplanes.W.shape
    ([0, 2, 3, 5], ('unit', 0, 0, b''), (2, 1))

Enumeration fills the stores the same way:
    >>> from relucompile.ir.network import ReluNet, AffineLayer
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
    ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
    >>> regions = enumerate_regions(net, Domain.box([-1], [1]))
    >>> len(regions), [c.A.tolist() for c in regions.cells]
    (2, [[[1.0]], [[0.0]]])
"""
from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.limits import check_growth


@dataclass
class Hyperplane:
    """h(x) = w . x + b; ``key`` is ('unit', layer, index, prefix pattern bytes) or ('domain', row)."""

    key: tuple
    w: np.ndarray
    b: float

    @property
    def kind(self) -> str:
        return self.key[0]


@dataclass
class Cell:
    pattern: np.ndarray               # bool per unit (all layers concatenated), True = on
    A: np.ndarray                     # (m, d) effective weights
    c: np.ndarray                     # (m,)  effective bias
    facets: list[tuple[int, int]]     # (hyperplane index, side s in {+1, -1})
    interior: np.ndarray              # (d,) a point in the relative interior
    radius: float                     # Chebyshev radius inside the domain's affine hull
    bounded: bool


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` with room for at least ``rows`` rows (capacity doubled; contents kept)."""
    if array.shape[0] >= rows:
        return array
    shape = (max(rows, 2 * array.shape[0], 16),) + array.shape[1:]
    new_bytes = int(np.prod(shape)) * array.itemsize
    if new_bytes >= 2**16:   # the memory budget (relucompile.limits), on every doubling past 64 KiB
        check_growth(new_bytes, f"the region store (growing to {shape[0]:,} rows)")
    out = np.empty(shape, dtype=array.dtype)
    out[:array.shape[0]] = array
    return out


_UNIT, _DOMAIN, _OTHER = 0, 1, 2


def compact_key(key: tuple) -> bytes:
    """A hyperplane key as short bytes: the unit prefix pattern packed 8 units to a byte.

    Example:
        >>> k = ("unit", 2, 5, np.array([True, False, True]).tobytes())
        >>> len(compact_key(k)), expand_key(compact_key(k)) == k
        (14, True)
    """
    if key[0] == "unit" and len(key) == 4 and isinstance(key[3], bytes):
        prefix = np.frombuffer(key[3], dtype=np.uint8)
        return (struct.pack("<BIII", _UNIT, key[1], key[2], prefix.size)
                + np.packbits(prefix.astype(bool)).tobytes())
    if key[0] == "domain" and len(key) == 2:
        return struct.pack("<BI", _DOMAIN, key[1])
    return bytes([_OTHER]) + pickle.dumps(key)


def expand_key(ckey: bytes) -> tuple:
    """The key tuple of :func:`compact_key`'s bytes (prefix: one 0/1 byte per unit, as engines make it)."""
    kind = ckey[0]
    if kind == _UNIT:
        _, layer, unit, n = struct.unpack_from("<BIII", ckey)
        bits = np.unpackbits(np.frombuffer(ckey, dtype=np.uint8, offset=13), count=n)
        return ("unit", layer, unit, bits.astype(bool).tobytes())
    if kind == _DOMAIN:
        return ("domain", struct.unpack_from("<I", ckey, 1)[0])
    return pickle.loads(ckey[1:])


class HyperplaneStore:
    """The hyperplane table: ``W (n, d)``, ``b (n,)``, compact keys and a key -> index dict."""

    def __init__(self, d: int, hyperplanes: Iterable[Hyperplane] = ()) -> None:
        self.d = d
        self._n = 0
        self._W = np.empty((0, d), dtype=np.float64)
        self._b = np.empty(0, dtype=np.float64)
        self._keys: list[bytes] = []
        self._index: dict[bytes, int] = {}
        for h in hyperplanes:
            self.append(h)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Hyperplane:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"hyperplane {i} out of range")
        return Hyperplane(expand_key(self._keys[i]), self._W[i], float(self._b[i]))

    def __iter__(self) -> Iterator[Hyperplane]:
        return (self[i] for i in range(self._n))

    @property
    def W(self) -> np.ndarray:
        """(n, d) normals (a view)."""
        return self._W[:self._n]

    @property
    def b(self) -> np.ndarray:
        """(n,) offsets (a view)."""
        return self._b[:self._n]

    def key(self, i: int) -> tuple:
        """Key tuple of hyperplane i."""
        return expand_key(self._keys[i])

    def compact_key(self, i: int) -> bytes:
        return self._keys[i]

    def find(self, key: tuple) -> int | None:
        """Index of the hyperplane with ``key`` (None if absent)."""
        return self._index.get(compact_key(key))

    def index(self, key: tuple, w: np.ndarray, b: float) -> int:
        """Index of the hyperplane with ``key``, registering it on first sight."""
        return self.index_compact(compact_key(key), w, b)

    def index_compact(self, ckey: bytes, w: np.ndarray, b: float) -> int:
        """:meth:`index` for a key already in compact form."""
        i = self._index.get(ckey)
        if i is None:
            i = self._n
            self._W = _grown(self._W, i + 1)
            self._b = _grown(self._b, i + 1)
            self._W[i] = w
            self._b[i] = b
            self._keys.append(ckey)
            self._index[ckey] = i
            self._n = i + 1
        return i

    def index_many(self, ckeys: list[bytes], W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """:meth:`index_compact` for many keys at once (rows of ``W``, ``b``): the same indices,
        new hyperplanes appended in the keys' order, the arrays grown once.

        Example:
            >>> store = HyperplaneStore(1)
            >>> _ = store.index(("domain", 0), np.ones(1), 0.0)
            >>> keys = [compact_key(("domain", k)) for k in (1, 0, 1, 2)]
            >>> store.index_many(keys, np.arange(4.0)[:, None], np.zeros(4)).tolist(), store.W[:, 0].tolist()
            ([1, 0, 1, 2], [1.0, 0.0, 3.0])
        """
        out = np.empty(len(ckeys), dtype=np.int64)
        new_rows: list[int] = []
        index, n = self._index, self._n
        for r, ckey in enumerate(ckeys):
            i = index.get(ckey)
            if i is None:
                i = index[ckey] = n + len(new_rows)
                new_rows.append(r)
                self._keys.append(ckey)
            out[r] = i
        if new_rows:
            m = n + len(new_rows)
            self._W, self._b = _grown(self._W, m), _grown(self._b, m)
            self._W[n:m] = W[new_rows]
            self._b[n:m] = b[new_rows]
            self._n = m
        return out

    def rows_since(self, known: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        """(compact keys, W, b) of the hyperplanes from index ``known`` on (W and b views): what a
        copy of the table registered beyond its first ``known`` rows, in :meth:`index_many`'s form.

        Example:
            >>> store = HyperplaneStore(1)
            >>> _ = store.index(("domain", 0), np.ones(1), 0.0), store.index(("domain", 1), np.ones(1), 2.0)
            >>> keys, W, b = store.rows_since(1)
            >>> [expand_key(k) for k in keys], W.tolist(), b.tolist()
            ([('domain', 1)], [[1.0]], [2.0])
        """
        return self._keys[known:self._n], self.W[known:], self.b[known:]

    def key_fields(self, rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(kind, layer, unit, row) of the keys of hyperplanes ``rows``, without building tuples:
        -1 where a field does not apply (unit keys have no row, domain keys no layer or unit).

        Example:
            >>> store = HyperplaneStore(1)
            >>> _ = store.index(("unit", 1, 2, b"\\x01"), np.ones(1), 0.0), store.index(("domain", 3), np.ones(1), 0.0)
            >>> kinds, layer, unit, row = store.key_fields(np.array([0, 1]))
            >>> kinds, layer.tolist(), unit.tolist(), row.tolist()
            (['unit', 'domain'], [1, -1], [2, -1], [-1, 3])
        """
        n = len(rows)
        kinds: list[str] = []
        layer, unit, row = np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.full(n, -1, np.int64)
        keys, unpack = self._keys, struct.unpack_from
        for r, i in enumerate(np.asarray(rows).tolist()):
            ckey = keys[i]
            if ckey[0] == _UNIT:
                kinds.append("unit")
                layer[r], unit[r] = unpack("<II", ckey, 1)
            elif ckey[0] == _DOMAIN:
                kinds.append("domain")
                row[r] = unpack("<I", ckey, 1)[0]
            else:
                key = expand_key(ckey)
                kinds.append(key[0])
                if key[0] == "unit":
                    layer[r], unit[r] = key[1], key[2]
                else:
                    row[r] = key[1]
        return kinds, layer, unit, row

    def append(self, h: Hyperplane) -> int:
        return self.index(h.key, h.w, h.b)

    def __getstate__(self) -> dict:
        return {"d": self.d, "W": self.W.copy(), "b": self.b.copy(), "keys": self._keys}

    def __setstate__(self, state: dict) -> None:
        self.d, self._W, self._b, self._keys = state["d"], state["W"], state["b"], state["keys"]
        self._n = len(self._keys)
        self._index = {k: i for i, k in enumerate(self._keys)}


class CellStore:
    """The cells as growable numpy arrays (see the module docstring); ``store[i]`` is a Cell."""

    _ROW_FIELDS = ("_bits", "_A", "_c", "_interior", "_radius", "_bounded")

    def __init__(self, units: int, m: int, d: int, cells: Iterable[Cell] = ()) -> None:
        self.units, self.m, self.d = units, m, d
        self._n = 0
        self._nnz = 0
        self._bits = np.empty((0, (units + 7) // 8), dtype=np.uint8)
        self._A = np.empty((0, m, d), dtype=np.float64)
        self._c = np.empty((0, m), dtype=np.float64)
        self._interior = np.empty((0, d), dtype=np.float64)
        self._radius = np.empty(0, dtype=np.float64)
        self._bounded = np.empty(0, dtype=bool)
        self._ptr = np.zeros(1, dtype=np.int64)
        self._fh = np.empty(0, dtype=np.int64)
        self._fs = np.empty(0, dtype=np.int8)
        for cell in cells:
            self.append(cell)

    # -- sequence API ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"cell {i} out of range")
        lo, hi = self._ptr[i], self._ptr[i + 1]
        return Cell(self.pattern(i), self._A[i], self._c[i],
                    list(zip(self._fh[lo:hi].tolist(), self._fs[lo:hi].tolist())),
                    self._interior[i], float(self._radius[i]), bool(self._bounded[i]))

    def __iter__(self) -> Iterator[Cell]:
        return (self[i] for i in range(self._n))

    def pattern(self, i: int) -> np.ndarray:
        """Bool pattern of cell i."""
        return np.unpackbits(self._bits[i], count=self.units).astype(bool)

    # -- array accessors (views of the first len(self) rows) -------------------------------
    @property
    def pattern_bits(self) -> np.ndarray:
        """(n, ceil(units/8)) uint8: ``np.packbits(pattern)`` per cell."""
        return self._bits[:self._n]

    @property
    def patterns(self) -> np.ndarray:
        """(n, units) bool (a new array)."""
        return np.unpackbits(self.pattern_bits, axis=1, count=self.units).astype(bool)

    @property
    def A(self) -> np.ndarray:
        return self._A[:self._n]

    @property
    def c(self) -> np.ndarray:
        return self._c[:self._n]

    @property
    def interior(self) -> np.ndarray:
        return self._interior[:self._n]

    @property
    def radius(self) -> np.ndarray:
        return self._radius[:self._n]

    @property
    def bounded(self) -> np.ndarray:
        return self._bounded[:self._n]

    @property
    def facet_ptr(self) -> np.ndarray:
        """(n+1,) CSR offsets: cell i's facets are ``facet_h[ptr[i]:ptr[i+1]]`` (and sides)."""
        return self._ptr[:self._n + 1]

    @property
    def facet_h(self) -> np.ndarray:
        return self._fh[:self._nnz]

    @property
    def facet_side(self) -> np.ndarray:
        return self._fs[:self._nnz]

    # -- adding cells ----------------------------------------------------------------------
    def _reserve(self, rows: int, nnz: int) -> None:
        if rows > self._bits.shape[0]:
            for name in self._ROW_FIELDS:
                setattr(self, name, _grown(getattr(self, name), rows))
        if rows + 1 > self._ptr.shape[0]:
            self._ptr = _grown(self._ptr, rows + 1)
        if nnz > self._fh.shape[0]:
            self._fh = _grown(self._fh, nnz)
            self._fs = _grown(self._fs, nnz)

    def add(self, pattern: np.ndarray, A: np.ndarray, c: np.ndarray, facet_h: Iterable[int],
            facet_side: Iterable[int], interior: np.ndarray, radius: float, bounded: bool) -> int:
        """Append one cell from its parts (no Cell object); returns its index."""
        fh = np.asarray(facet_h, dtype=np.int64)
        i, lo = self._n, self._nnz
        self._reserve(i + 1, lo + fh.size)
        self._bits[i] = np.packbits(np.asarray(pattern, dtype=bool))
        self._A[i], self._c[i], self._interior[i] = A, c, interior
        self._radius[i], self._bounded[i] = radius, bounded
        self._fh[lo:lo + fh.size] = fh
        self._fs[lo:lo + fh.size] = np.asarray(facet_side, dtype=np.int8)
        self._nnz = lo + fh.size
        self._ptr[i + 1] = self._nnz
        self._n = i + 1
        return i

    def append(self, cell: Cell) -> None:
        self.add(cell.pattern, cell.A, cell.c, [h for h, _ in cell.facets], [s for _, s in cell.facets],
                 cell.interior, cell.radius, cell.bounded)

    def append_many(self, *, A: np.ndarray, c: np.ndarray, interior: np.ndarray, radius: np.ndarray,
                    bounded: np.ndarray, facet_ptr: np.ndarray, facet_h: np.ndarray, facet_side: np.ndarray,
                    patterns: np.ndarray | None = None, pattern_bits: np.ndarray | None = None) -> None:
        """Append k cells at once: ``patterns`` (k, units) bool or ``pattern_bits`` (k, ceil(units/8))
        packed as ``np.packbits(patterns, axis=1)``; A (k, m, d); c (k, m); interior (k, d);
        radius, bounded (k,); facets in CSR form with ``facet_ptr`` (k+1,) starting at 0."""
        A = np.asarray(A, dtype=np.float64).reshape(-1, self.m, self.d)
        k = A.shape[0]
        if k == 0:
            return
        if pattern_bits is None:
            pattern_bits = np.packbits(np.asarray(patterns, dtype=bool).reshape(k, self.units), axis=1)
        ptr = np.asarray(facet_ptr, dtype=np.int64)
        if ptr.shape != (k + 1,) or ptr[0] != 0:
            raise ValueError("facet_ptr must have k+1 entries starting at 0")
        nnz = int(ptr[-1])
        i, lo = self._n, self._nnz
        self._reserve(i + k, lo + nnz)
        self._bits[i:i + k] = np.asarray(pattern_bits, dtype=np.uint8).reshape(k, -1)
        self._A[i:i + k] = A
        self._c[i:i + k] = np.asarray(c, dtype=np.float64).reshape(k, self.m)
        self._interior[i:i + k] = np.asarray(interior, dtype=np.float64).reshape(k, self.d)
        self._radius[i:i + k] = radius
        self._bounded[i:i + k] = bounded
        self._fh[lo:lo + nnz] = np.asarray(facet_h)[:nnz]
        self._fs[lo:lo + nnz] = np.asarray(facet_side)[:nnz]
        self._ptr[i + 1:i + k + 1] = lo + ptr[1:]
        self._n, self._nnz = i + k, lo + nnz

    def extend_from(self, other: "CellStore", start: int = 0, stop: int | None = None,
                    hyperplane_map: np.ndarray | None = None) -> None:
        """Append ``other``'s cells ``start:stop``, renumbering facet hyperplanes through
        ``hyperplane_map`` (other's index -> this table's index) when given."""
        stop = len(other) if stop is None else stop
        lo, hi = other._ptr[start], other._ptr[stop]
        fh = other._fh[lo:hi]
        self.append_many(pattern_bits=other._bits[start:stop], A=other._A[start:stop], c=other._c[start:stop],
                         interior=other._interior[start:stop], radius=other._radius[start:stop],
                         bounded=other._bounded[start:stop], facet_ptr=other._ptr[start:stop + 1] - lo,
                         facet_h=fh if hyperplane_map is None else hyperplane_map[fh],
                         facet_side=other._fs[lo:hi])

    def clear(self) -> None:
        """Forget every cell (the arrays keep their capacity)."""
        self._n = self._nnz = 0
        self._ptr[0] = 0

    def nbytes(self) -> int:
        """Bytes held by the arrays (capacity included)."""
        return sum(getattr(self, n).nbytes for n in self._ROW_FIELDS + ("_ptr", "_fh", "_fs"))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._ROW_FIELDS:
            state[name] = getattr(self, name)[:self._n].copy()
        state["_ptr"] = self.facet_ptr.copy()
        state["_fh"], state["_fs"] = self.facet_h.copy(), self.facet_side.copy()
        return state


@dataclass
class RegionSet:
    """All cells of one network over one domain, sharing a hyperplane table.

    ``cells`` and ``hyperplanes`` may be given as lists (of Cell / Hyperplane); they are
    converted to a :class:`CellStore` / :class:`HyperplaneStore`."""

    domain: Domain
    d: int
    m: int
    widths: list[int]
    cells: Any = None
    hyperplanes: Any = None
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.cells, CellStore):
            self.cells = CellStore(int(sum(self.widths)), self.m, self.d, self.cells or ())
        if not isinstance(self.hyperplanes, HyperplaneStore):
            self.hyperplanes = HyperplaneStore(self.d, self.hyperplanes or ())

    def __len__(self) -> int:
        return len(self.cells)

    def __iter__(self) -> Iterator[Cell]:
        return iter(self.cells)

    def hyperplane_index(self, key: tuple, w: np.ndarray, b: float) -> int:
        """Index of the hyperplane with ``key``, registering it on first sight."""
        return self.hyperplanes.index(key, w, b)

    def used_hyperplanes(self) -> np.ndarray:
        """Indices of hyperplanes that are a facet of at least one cell, in first-use order."""
        fh = self.cells.facet_h
        if fh.size == 0:
            return np.zeros(0, dtype=np.int64)
        hs, first = np.unique(fh, return_index=True)
        return hs[np.argsort(first, kind="stable")]
