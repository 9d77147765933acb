"""A cell store that keeps only the newest cells in memory and spills the rest to disk in chunks.

For runs whose cells do not fit in memory (10^7 cells): the engine appends to a
:class:`SpillingCellStore` as to any :class:`~relucompile.regions.store.CellStore`; past
``spill_rows`` cells held, they go to ``chunk-NNNNN.npz`` in ``folder`` (the compact arrays,
uncompressed) and are forgotten.  ``len`` counts every cell; :meth:`chunks` gives them back in
order, one chunk at a time; :meth:`used_hyperplanes` is
:meth:`~relucompile.regions.store.RegionSet.used_hyperplanes` over all cells (first-use
order), kept as the chunks are written.  The writer of a Parquet dataset streams the chunks
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
from typing import Iterator

import numpy as np

from relucompile.regions.store import CellStore

SPILL_ROWS = 262_144


class SpillingCellStore(CellStore):
    """A CellStore of at most about ``spill_rows`` cells in memory (see the module docstring).
    Only ``len``, appending and :meth:`chunks` see every cell; the array views and ``store[i]``
    see the cells not yet spilled."""

    def __init__(self, units: int, m: int, d: int, folder: str, spill_rows: int = SPILL_ROWS) -> None:
        super().__init__(units, m, d)
        self.folder, self.spill_rows = folder, spill_rows
        os.makedirs(folder, exist_ok=True)
        self.spilled, self.files = 0, []
        self._rank = np.full(0, -1, dtype=np.int64)     # hyperplane -> first-use rank, -1: unused
        self._order: list[np.ndarray] = []

    def __len__(self) -> int:
        return self.spilled + self._n

    def __iter__(self):
        raise TypeError("a SpillingCellStore is read back with chunks()")

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

    def flush(self) -> None:
        """Spill the cells held in memory (if any) to the next chunk file."""
        n = self._n
        if n == 0:
            return
        fh = self.facet_h
        if fh.size:
            hs, first = np.unique(fh, return_index=True)
            if hs[-1] >= self._rank.size:
                grown = np.full(max(int(hs[-1]) + 1, 2 * self._rank.size), -1, dtype=np.int64)
                grown[:self._rank.size] = self._rank
                self._rank = grown
            new = self._rank[hs] < 0
            fresh = hs[new][np.argsort(first[new], kind="stable")]
            self._rank[fresh] = sum(o.size for o in self._order) + np.arange(fresh.size)
            self._order.append(fresh)
        path = os.path.join(self.folder, f"chunk-{len(self.files):05d}.npz")
        np.savez(path, bits=self.pattern_bits, A=self.A, c=self.c, interior=self.interior, radius=self.radius,
                 bounded=self.bounded, ptr=self.facet_ptr, fh=fh, fs=self.facet_side)
        self.files.append(path)
        self.spilled += n
        self._n = self._nnz = 0
        self._ptr[0] = 0

    def chunks(self) -> Iterator[dict[str, np.ndarray]]:
        """Every cell, chunk by chunk in order (spilled chunks, then the cells held): dicts of
        ``bits, A, c, interior, radius, bounded, ptr, fh, fs`` (ptr from 0)."""
        for path in self.files:
            with np.load(path) as data:
                yield {name: data[name] for name in data.files}
        if self._n:
            yield {"bits": self.pattern_bits, "A": self.A, "c": self.c, "interior": self.interior,
                   "radius": self.radius, "bounded": self.bounded, "ptr": self.facet_ptr, "fh": self.facet_h,
                   "fs": self.facet_side}

    def used_hyperplanes(self) -> np.ndarray:
        """Indices of hyperplanes that are a facet of some cell, in first-use order (call
        :meth:`flush` first: only spilled cells count)."""
        return np.concatenate(self._order) if self._order else np.zeros(0, dtype=np.int64)

    def clear(self) -> None:
        """Forget every cell, spilled ones too."""
        super().clear()
        for path in self.files:
            os.remove(path)
        self.files, self.spilled = [], 0
        self._rank[:] = -1
        self._order = []

    def remove_files(self) -> None:
        """Delete the chunk files (and the folder, when empty)."""
        for path in self.files:
            os.remove(path)
        self.files = []
        try:
            os.rmdir(self.folder)
        except OSError:
            pass
