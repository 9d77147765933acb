"""A cell store that keeps only the newest cells in memory and the rest on disk, in raw parts.

For runs whose cells do not fit in memory (10^7 cells): the engine appends to a
:class:`SpillingCellStore` as to any :class:`~relucompile.regions.store.CellStore`; past
``spill_rows`` cells held, they go to a *raw part* ``chunk-NNNNN.npz`` in ``folder`` (the compact
arrays, uncompressed) and are forgotten.  A worker of the vertex engine writes its task's cells
to a raw part of its own (:func:`write_raw_part`, numbered by the task's local hyperplane table)
and the engine adds it with :meth:`SpillingCellStore.add_raw_part` and the map from that table to
the run's: the cells never pass through this process.  ``len`` counts every cell; :meth:`segments`
lists the raw parts in cell order, :meth:`chunks` gives their cells back (facets in the run's
numbering); :meth:`used_hyperplanes` is
:meth:`~relucompile.regions.store.RegionSet.used_hyperplanes` over all cells (first-use order),
kept as parts are added.  The writer of a Parquet dataset turns the raw parts into its parts
(:func:`relucompile.backends.regions_parquet.enumerate_to_dataset`).

Example:
    >>> import tempfile
    >>> store = SpillingCellStore(2, 1, 1, tempfile.mkdtemp(), spill_rows=2)
    >>> for k in range(5):
    ...     _ = store.add([k % 2, 1], [[float(k)]], [0.0], [k % 3, 3], [1, -1], [0.5], 0.1, True)
    >>> len(store), store.spilled, [chunk["A"].ravel().tolist() for chunk in store.chunks()]
    (5, 4, [[0.0, 1.0], [2.0, 3.0], [4.0]])
    >>> store.used_hyperplanes().tolist()
    [0, 3, 1, 2]
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from relucompile.regions.store import CellStore

SPILL_ROWS = 262_144
RAW_FIELDS = ("bits", "A", "c", "interior", "radius", "bounded", "ptr", "fh", "fs")
"""The arrays of a raw part (``ptr`` from 0, ``fh`` the facets' hyperplanes, ``fs`` their sides)."""


def first_use(facet_h: np.ndarray) -> np.ndarray:
    """The distinct hyperplanes of ``facet_h`` in the order of their first occurrence.

    Example:
        >>> first_use(np.array([4, 2, 4, 7, 2])).tolist()
        [4, 2, 7]
    """
    if facet_h.size == 0:
        return np.zeros(0, dtype=np.int64)
    hs, first = np.unique(facet_h, return_index=True)
    return hs[np.argsort(first, kind="stable")]


def raw_arrays(store: CellStore) -> dict[str, np.ndarray]:
    """A store's cells as the arrays of a raw part (views).

    Example:
        >>> store = CellStore(1, 1, 1)
        >>> _ = store.add([1], [[2.0]], [0.0], [5], [1], [0.5], 0.5, True)
        >>> raw_arrays(store)["fh"].tolist(), sorted(raw_arrays(store)) == sorted(RAW_FIELDS)
        ([5], True)
    """
    return {"bits": store.pattern_bits, "A": store.A, "c": store.c, "interior": store.interior,
            "radius": store.radius, "bounded": store.bounded, "ptr": store.facet_ptr, "fh": store.facet_h,
            "fs": store.facet_side}


def write_raw_part(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write a raw part atomically (a temporary file of its own renamed onto ``path``): a task run
    again, or twice at once, replaces the part with the same bytes and never leaves half of one.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "raw-00000.npz")
        >>> store = CellStore(1, 1, 1)
        >>> _ = store.add([1], [[2.0]], [0.0], [5], [1], [0.5], 0.5, True)
        >>> write_raw_part(path, raw_arrays(store)); write_raw_part(path, raw_arrays(store))
        >>> read_raw_part(path)["A"].tolist(), os.listdir(os.path.dirname(path))
        ([[[2.0]]], ['raw-00000.npz'])
    """
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_raw_part(path: str) -> dict[str, np.ndarray]:
    """The arrays of a raw part (:data:`RAW_FIELDS`)."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


@dataclass
class RawSegment:
    """A raw part of a :class:`SpillingCellStore`: its file, its cells and facets, and the map from
    its facets' hyperplane numbers to the run's (None: numbered as the run already)."""

    path: str
    cells: int
    facets: int
    hyperplane_map: np.ndarray | None = None


class SpillingCellStore(CellStore):
    """A CellStore of at most about ``spill_rows`` cells in memory (see the module docstring).
    Only ``len``, appending and :meth:`chunks` see every cell; the array views and ``store[i]``
    see the cells not yet spilled."""

    def __init__(self, units: int, m: int, d: int, folder: str, spill_rows: int = SPILL_ROWS) -> None:
        super().__init__(units, m, d)
        self.folder, self.spill_rows = os.path.abspath(folder), spill_rows
        os.makedirs(self.folder, exist_ok=True)
        self.spilled, self._segments, self._raw_names = 0, [], 0
        self._rank = np.full(0, -1, dtype=np.int64)     # hyperplane -> first-use rank, -1: unused
        self._order: list[np.ndarray] = []

    def __len__(self) -> int:
        return self.spilled + self._n

    def __iter__(self):
        raise TypeError("a SpillingCellStore is read back with chunks()")

    @property
    def files(self) -> list[str]:
        """The raw parts' paths, in cell order."""
        return [segment.path for segment in self._segments]

    def segments(self) -> list[RawSegment]:
        """The raw parts in cell order (call :meth:`flush` first: the cells held are in none)."""
        return list(self._segments)

    def new_raw_path(self) -> str:
        """A fresh path in the folder for a worker's raw part (``raw-NNNNN.npz``, numbered in the
        order the tasks are made, so a rerun task writes the same file)."""
        self._raw_names += 1
        return os.path.join(self.folder, f"raw-{self._raw_names - 1:05d}.npz")

    def add(self, *args, **kwargs) -> int:
        i = self.spilled + super().add(*args, **kwargs)
        self._maybe_spill()
        return i

    def append_many(self, **kwargs) -> None:
        super().append_many(**kwargs)
        self._maybe_spill()

    def _maybe_spill(self) -> None:
        if self._n >= self.spill_rows:
            self.flush()

    def _note_used(self, hyperplanes: np.ndarray) -> None:
        """Rank the hyperplanes of ``hyperplanes`` (first-use order) not used before."""
        if hyperplanes.size == 0:
            return
        top = int(hyperplanes.max())
        if top >= self._rank.size:
            grown = np.full(max(top + 1, 2 * self._rank.size), -1, dtype=np.int64)
            grown[:self._rank.size] = self._rank
            self._rank = grown
        fresh = hyperplanes[self._rank[hyperplanes] < 0]
        self._rank[fresh] = sum(o.size for o in self._order) + np.arange(fresh.size)
        self._order.append(fresh)

    def flush(self) -> None:
        """Spill the cells held in memory (if any) to the next raw part."""
        n = self._n
        if n == 0:
            return
        self._note_used(first_use(self.facet_h))
        path = os.path.join(self.folder, f"chunk-{len(self._segments):05d}.npz")
        write_raw_part(path, raw_arrays(self))
        self._segments.append(RawSegment(path, n, int(self._nnz)))
        self.spilled += n
        self._n = self._nnz = 0
        self._ptr[0] = 0

    def add_raw_part(self, path: str, cells: int, facets: int, hyperplane_map: np.ndarray,
                     first_used: np.ndarray) -> None:
        """Append the cells of a raw part written elsewhere (after the cells held here):
        ``hyperplane_map`` maps its facets' hyperplane numbers to the run's, ``first_used`` lists
        its hyperplanes (its numbers) in first-use order (:func:`first_use`)."""
        self.flush()
        self._note_used(hyperplane_map[first_used])
        self._segments.append(RawSegment(path, cells, facets, hyperplane_map))
        self.spilled += cells

    def chunks(self) -> Iterator[dict[str, np.ndarray]]:
        """Every cell, raw part by raw part in order (then the cells held): dicts of
        :data:`RAW_FIELDS` (ptr from 0; facets in the run's hyperplane numbers)."""
        for segment in self._segments:
            arrays = read_raw_part(segment.path)
            if segment.hyperplane_map is not None:
                arrays["fh"] = segment.hyperplane_map[arrays["fh"]]
            yield arrays
        if self._n:
            yield raw_arrays(self)

    def used_hyperplanes(self) -> np.ndarray:
        """Indices of hyperplanes that are a facet of some cell, in first-use order (call
        :meth:`flush` first: only spilled cells count)."""
        return np.concatenate(self._order) if self._order else np.zeros(0, dtype=np.int64)

    def clear(self) -> None:
        """Forget every cell, spilled ones too."""
        super().clear()
        self.remove_files(keep_folder=True)
        self.spilled = 0
        self._rank[:] = -1
        self._order = []

    def remove_files(self, keep_folder: bool = False) -> None:
        """Delete the raw parts (and the folder, when empty and not ``keep_folder``)."""
        for path in self.files:
            if os.path.exists(path):
                os.remove(path)
        self._segments = []
        if not keep_folder:
            try:
                os.rmdir(self.folder)
            except OSError:
                pass
