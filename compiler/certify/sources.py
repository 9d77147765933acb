"""Where certification reads the cells from: a regions document in memory, or a Parquet dataset
streamed batch by batch (:mod:`relucompile.regions.dataset`).

Both give the certifier the same things: ``meta`` (the document without cells and
hyperplanes), ``hyperplanes`` (entry h as its JSON dict, on access), every cell's packed pattern
bits (one small array: the neighbour lookups of check 3 need them all) and the cells one at a
time, in id order, as their JSON entries (built per batch; only one batch is held).  The regions
sha256 of a dataset is that of the equivalent JSON document, hashed as the cells stream past
(:class:`CanonicalHash`), so a certificate names the same regions whichever format held them.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.api.compile import compile_network
    >>> from relucompile.backends.regions_json import regions_document
    >>> from relucompile.certify.checks import regions_sha256
    >>> from relucompile.ir.domain import Domain
    >>> doc = regions_document(compile_network(random_mlp(2, [3], 1, seed=0), Domain.box([-1, -1], [1, 1])))
    >>> source = DocumentSource(doc)
    >>> source.num_cells, source.pattern_bits().shape, next(source.cell_entries())["id"]
    (4, (4, 1), 0)
    >>> source.regions_sha256() == regions_sha256(doc)
    True
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from relucompile.regions.dataset import CellBatch, iter_cell_batches, read_dataset_meta, read_hyperplane_table

_CANONICAL = {"sort_keys": True, "separators": (",", ":")}


class CanonicalHash:
    """sha256 of ``json.dumps(doc, sort_keys=True, separators=(",", ":"))`` for a document given
    as its small entries (``meta``) and two long lists, ``cells`` and ``hyperplanes``, fed in
    pieces: the keys are written in sorted order, so the lists' items must come in the order of
    their keys ("cells" first, then whatever meta keys sort before "hyperplanes", ...).

    Example:
        >>> doc = {"schema": "s", "cells": [{"id": 0}, {"id": 1}], "hyperplanes": [], "domain": {"kind": "reals"}}
        >>> h = CanonicalHash({"schema": "s", "domain": {"kind": "reals"}})
        >>> h.items("cells", [{"id": 0}]); h.items("cells", [{"id": 1}]); h.items("hyperplanes", [])
        >>> h.hexdigest() == hashlib.sha256(json.dumps(doc, **_CANONICAL).encode()).hexdigest()
        True
    """

    def __init__(self, meta: dict[str, Any], lists: Sequence[str] = ("cells", "hyperplanes")) -> None:
        self.sha = hashlib.sha256()
        self.keys = sorted(list(meta) + list(lists))
        self.meta, self.lists = meta, set(lists)
        self.at, self.open, self.first, self.digest = -1, False, True, None

    def _write_keys(self, stop: int) -> None:
        """Close the open list, then write the entries of keys ``at+1 .. stop-1`` whole."""
        if self.open:
            self.sha.update(b"]")
            self.open = False
        for i in range(self.at + 1, stop):
            name = self.keys[i]
            value = [] if name in self.lists else self.meta[name]
            self.sha.update((("{" if i == 0 else ",") + json.dumps(name) + ":"
                             + json.dumps(value, **_CANONICAL)).encode())
        self.at = max(self.at, stop - 1)

    def items(self, key: str, entries: Sequence[dict]) -> None:
        """Append ``entries`` to the list ``key``."""
        i = self.keys.index(key)
        if i < self.at or self.digest is not None:
            raise ValueError(f"the list {key!r} comes before the entries already hashed")
        if i > self.at:
            self._write_keys(i)
            self.sha.update((("{" if i == 0 else ",") + json.dumps(key) + ":[").encode())
            self.at, self.open, self.first = i, True, True
        if entries:
            text = ",".join(json.dumps(e, **_CANONICAL) for e in entries)
            self.sha.update((("" if self.first else ",") + text).encode())
            self.first = False

    def hexdigest(self) -> str:
        """The digest (the document is closed: no more items)."""
        if self.digest is None:
            self._write_keys(len(self.keys))
            self.sha.update(b"}" if self.keys else b"{}")
            self.digest = self.sha.hexdigest()
        return self.digest


class DocumentSource:
    """A regions document (dict) in memory."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.meta = doc
        self.hyperplanes = doc["hyperplanes"]
        self.num_cells = len(doc["cells"])

    def pattern_strings(self) -> Iterator[str]:
        return (cell["pattern"] for cell in self.doc["cells"])

    def pattern_bits(self, units: int | None = None, fail: Callable[[int, str], None] | None = None) -> np.ndarray:
        """(n, ceil(units/8)) packed patterns; ``fail(cell, message)`` on a malformed one."""
        cells = self.doc["cells"]
        units = len(cells[0]["pattern"]) if units is None and cells else (units or 0)
        out = np.zeros((len(cells), (units + 7) // 8), dtype=np.uint8)
        for a, cell in enumerate(cells):
            pat = cell["pattern"]
            if len(pat) != units or set(pat) - {"0", "1"}:
                if fail is not None:
                    fail(a, f"pattern has {len(pat)} characters, expected {units} of 0/1")
                raise ValueError(f"cell {a}: malformed pattern")
            out[a] = np.packbits(np.frombuffer(pat.encode(), dtype=np.uint8) == ord("1"))
        return out

    def cell_entries(self) -> Iterator[dict[str, Any]]:
        return iter(self.doc["cells"])

    def regions_sha256(self) -> str:
        body = {k: v for k, v in self.doc.items() if k != "certificate"}
        return hashlib.sha256(json.dumps(body, **_CANONICAL).encode()).hexdigest()


class _HyperplaneEntries(Sequence):
    """Entry h of a dataset's hyperplane table as its JSON dict, built on access."""

    def __init__(self, table) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, h):
        if isinstance(h, slice):
            return [self[i] for i in range(*h.indices(len(self)))]
        return self.table.entry(int(h))


class DatasetSource:
    """A Parquet regions dataset (a folder), read batch by batch."""

    def __init__(self, folder: str, batch_rows: int = 8192) -> None:
        self.folder, self.batch_rows = folder, batch_rows
        meta = read_dataset_meta(folder)
        self.layout = meta.pop("parquet", {})
        self.meta = meta
        self.table = read_hyperplane_table(folder, int(meta["model"]["input_dim"]))
        self.hyperplanes = _HyperplaneEntries(self.table)
        self.num_cells = int(self.layout.get("cells", -1))
        self._hash: CanonicalHash | None = None
        self._stream: Iterator[dict[str, Any]] | None = None

    def _batches(self, columns) -> Iterator[CellBatch]:
        return iter_cell_batches(self.folder, self.batch_rows, columns, meta=dict(self.meta, parquet=self.layout))

    def pattern_bits(self, units: int | None = None, fail: Callable[[int, str], None] | None = None) -> np.ndarray:
        """(n, ceil(units/8)) packed patterns of every cell (the pattern column alone is read)."""
        parts = [b.pattern_bits for b in self._batches(("pattern",))]
        bits = np.concatenate(parts) if parts else np.zeros((0, (int(units or 0) + 7) // 8), np.uint8)
        self.num_cells = bits.shape[0]
        return bits

    def cell_entries(self) -> Iterator[dict[str, Any]]:
        """The cells' JSON entries in id order (one batch held at a time), hashed as they pass."""
        self._hash = CanonicalHash({k: v for k, v in self.meta.items() if k != "certificate"})
        self._stream = self._entries(self._hash)
        return self._stream

    def _entries(self, sha: CanonicalHash) -> Iterator[dict[str, Any]]:
        for batch in self._batches(tuple(c for c in ("id", "pattern", "A", "c", "facets", "interior_point",
                                                     "chebyshev_radius", "bounded"))):
            entries = batch.entries()
            sha.items("cells", entries)
            yield from entries
        sha.items("cells", [])

    def regions_sha256(self) -> str:
        """sha256 of the equivalent regions JSON document without its certificate
        (:func:`relucompile.certify.checks.regions_sha256`)."""
        if self._hash is None:
            self.cell_entries()
        for _ in self._stream:       # the cells a failed run did not reach
            pass
        sha = self._hash
        table, chunk = self.table, 4096
        for lo in range(0, len(table), chunk):
            sha.items("hyperplanes", [table.entry(h) for h in range(lo, min(lo + chunk, len(table)))])
        sha.items("hyperplanes", [])
        return sha.hexdigest()


def regions_source(path: str):
    """A :class:`DatasetSource` for a dataset folder; None for anything else (a JSON file)."""
    from relucompile.regions.dataset import is_regions_dataset
    return DatasetSource(path) if is_regions_dataset(path) else None
