"""Read a Parquet regions dataset (docs/regions_parquet.md) batch by batch, as numpy arrays.

The one reader of the dataset's cells: :func:`cell_part_paths` lists the part files of
``cells/`` in sorted name order (whoever wrote them: the driver or parallel workers, named by
task index) and :func:`iter_cell_batches` turns their rows into :class:`CellBatch` arrays, never
a Python object per cell, so a command holds one batch at a time.  :func:`read_hyperplane_table`
gives the hyperplane table as arrays, :func:`read_dataset_meta` the marker document.  pyarrow
(the ``parquet`` extra) is imported on first use.

Example:
    >>> import os, tempfile
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> from relucompile.backends.regions_parquet import write_regions_dataset
    >>> net = random_mlp(2, [3], 1, seed=0)
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
    >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
    >>> write_regions_dataset(shallow, folder, rows_per_part=3)
    >>> [(b.ids.tolist(), b.facet_ptr.tolist()) for b in iter_cell_batches(folder, batch_rows=2)]
    [([0, 1], [0, 3, 7]), ([2], [0, 5]), ([3], [0, 4])]
    >>> table = read_hyperplane_table(folder)
    >>> table.is_unit.tolist(), table.entry(0)["kind"]
    ([False, True, True, False, False, False], 'domain')
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from relucompile.errors import UserError

MARKER = "relucompile_regions.json"
SCHEMA, VERSION = "relucompile.regions", 1
BATCH_ROWS = 65_536
CELL_COLUMNS = ("id", "pattern", "A", "c", "facets", "interior_point", "chebyshev_radius", "bounded")


def pyarrow_modules():
    """(pyarrow, pyarrow.parquet), or a UserError saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UserError("Parquet regions need pyarrow: pip install 'relucompile[parquet]' "
                        "(or use a regions .json file)") from None
    return pyarrow, pyarrow.parquet


def is_regions_dataset(path: str) -> bool:
    """Whether ``path`` is a regions dataset folder (it holds the marker document).

    Example:
        >>> is_regions_dataset("/")
        False
    """
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MARKER))


def read_dataset_meta(folder: str) -> dict[str, Any]:
    """The marker document: the regions JSON without its hyperplanes and cells, plus ``parquet``."""
    if not is_regions_dataset(folder):
        raise UserError(f"{folder}: not a regions dataset (no {MARKER})")
    try:
        with open(os.path.join(folder, MARKER)) as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder}: unreadable {MARKER} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA or meta.get("version") != VERSION:
        raise UserError(f"{folder}: unknown regions schema {meta.get('schema')} {meta.get('version')}"
                        if isinstance(meta, dict) else f"{folder}: {MARKER} is not a JSON object")
    return meta


def cell_part_paths(folder: str) -> list[str]:
    """The dataset's cell part files, in sorted name order (the order of the cells)."""
    cells = os.path.join(folder, "cells")
    if not os.path.isdir(cells):
        raise UserError(f"{folder}: not a regions dataset (no cells/ folder)")
    return [os.path.join(cells, name) for name in sorted(os.listdir(cells)) if name.endswith(".parquet")]


@dataclass
class CellBatch:
    """Consecutive cells as arrays: ``ids`` (n,), ``pattern_bits`` (n, ceil(units/8)) packed as
    ``np.packbits(pattern, axis=1)``, ``A`` (n, m, d), ``c`` (n, m), facets in CSR form
    (``facet_ptr`` (n+1,) from 0, ``facet_h`` int64, ``facet_closed`` bool), ``interior`` (n, d),
    ``radius`` (n,), ``bounded`` (n,).  Columns not read are None."""

    ids: np.ndarray
    units: int
    pattern_bits: np.ndarray | None = None
    A: np.ndarray | None = None
    c: np.ndarray | None = None
    facet_ptr: np.ndarray | None = None
    facet_h: np.ndarray | None = None
    facet_closed: np.ndarray | None = None
    interior: np.ndarray | None = None
    radius: np.ndarray | None = None
    bounded: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def patterns(self) -> np.ndarray:
        """(n, units) bool patterns."""
        return np.unpackbits(self.pattern_bits, axis=1, count=self.units).astype(bool)

    def entries(self) -> list[dict[str, Any]]:
        """The cells' regions-JSON entries (the values ``json.load`` gives for the same cells;
        a dict per cell of this batch only: for checks that work cell by cell).

        Example:
            >>> batch = CellBatch(np.array([7]), 3, np.packbits([[1, 0, 1]], axis=1), np.ones((1, 1, 2)),
            ...                   np.zeros((1, 1)), np.array([0, 1]), np.array([4]), np.array([True]),
            ...                   np.zeros((1, 2)), np.ones(1), np.array([True]))
            >>> batch.entries()[0]["pattern"], batch.entries()[0]["facets"]
            ('101', [[4, True]])
        """
        n, u = len(self), self.units
        text = (self.patterns().astype(np.uint8) + 48).tobytes().decode("ascii") if u else ""
        A, c, interior = self.A.tolist(), self.c.tolist(), self.interior.tolist()
        radius, bounded, ids = self.radius.tolist(), self.bounded.tolist(), self.ids.tolist()
        hs, closed, ptr = self.facet_h.tolist(), self.facet_closed.tolist(), self.facet_ptr.tolist()
        return [{"id": ids[k], "pattern": text[k * u:(k + 1) * u], "A": A[k], "c": c[k],
                 "facets": [[h, v] for h, v in zip(hs[ptr[k]:ptr[k + 1]], closed[ptr[k]:ptr[k + 1]])],
                 "interior_point": interior[k], "chebyshev_radius": radius[k], "bounded": bounded[k]}
                for k in range(n)]


def _floats(column, *shape: int) -> np.ndarray:
    """A (nested) fixed_size_list<double> column as a float64 array (n, *shape)."""
    n = len(column)
    values = column
    for _ in shape:
        values = values.flatten()
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64).reshape((n,) + shape)


def _pattern_bits(column, units: int, where: str) -> np.ndarray:
    """Packed bits of a string column of '0'/'1' patterns, all ``units`` long."""
    n = len(column)
    if units == 0:
        return np.zeros((n, 0), dtype=np.uint8)
    _, offsets, data = column.buffers()
    start = column.offset
    offsets = np.frombuffer(offsets, dtype=np.int32)[start:start + n + 1]
    if np.any(np.diff(offsets) != units):
        raise UserError(f"{where}: a pattern does not have {units} characters")
    chars = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(n, units)
    if np.any((chars != 48) & (chars != 49)):
        raise UserError(f"{where}: a pattern holds characters other than 0 and 1")
    return np.packbits(chars == 49, axis=1)


def _facets(column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ptr from 0, h int64, closed bool) of a list<struct<h, closed>> column."""
    ptr = np.asarray(column.offsets.to_numpy(), dtype=np.int64)
    ptr = ptr - ptr[0]
    h, closed = column.flatten().flatten()
    return ptr, np.asarray(h.to_numpy(zero_copy_only=False), dtype=np.int64), \
        np.asarray(closed.to_numpy(zero_copy_only=False), dtype=bool)


def iter_cell_batches(folder: str, batch_rows: int = BATCH_ROWS, columns: tuple[str, ...] = CELL_COLUMNS,
                      meta: dict[str, Any] | None = None) -> Iterator[CellBatch]:
    """The cells of the dataset, in id order, ``batch_rows`` at a time (batches do not cross
    parts), reading only ``columns`` (``id`` always).  Checks that ids run 0, 1, ... across parts
    and that the count matches the marker's ``parquet.cells``."""
    meta = read_dataset_meta(folder) if meta is None else meta
    model = meta.get("model", {})
    d, m, units = int(model["input_dim"]), int(model["output_dim"]), int(sum(model["layer_widths"]))
    wanted = ["id"] + [c for c in columns if c != "id"]
    expected = 0
    for path in cell_part_paths(folder):
        for batch in _part_batches(path, batch_rows, wanted):
            col = {name: batch.column(name) for name in wanted}
            ids = np.asarray(col["id"].to_numpy(zero_copy_only=False), dtype=np.int64)
            if ids.size and not (ids[0] == expected and np.all(np.diff(ids) == 1)):
                raise UserError(f"{path}: cell ids do not follow on from the earlier parts "
                                f"(expected {expected}, found {int(ids[0])})")
            expected += ids.size
            out = CellBatch(ids, units)
            if "pattern" in col:
                out.pattern_bits = _pattern_bits(col["pattern"], units, path)
            if "A" in col:
                out.A = _floats(col["A"], m, d)
            if "c" in col:
                out.c = _floats(col["c"], m)
            if "facets" in col:
                out.facet_ptr, out.facet_h, out.facet_closed = _facets(col["facets"])
            if "interior_point" in col:
                out.interior = _floats(col["interior_point"], d)
            if "chebyshev_radius" in col:
                out.radius = np.asarray(col["chebyshev_radius"].to_numpy(zero_copy_only=False), dtype=np.float64)
            if "bounded" in col:
                out.bounded = np.asarray(col["bounded"].to_numpy(zero_copy_only=False), dtype=bool)
            yield out
    stated = meta.get("parquet", {}).get("cells")
    if stated is not None and stated != expected:
        raise UserError(f"{folder}: {expected} cells in the parts, {stated} in {MARKER}")


def _part_batches(path: str, batch_rows: int, columns: list[str] | None = None) -> Iterator[Any]:
    """The record batches of one Parquet file; a truncated or corrupt file (or a missing column)
    is a UserError naming it."""
    pa, pq = pyarrow_modules()
    try:
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: unreadable Parquet part ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None


@dataclass
class HyperplaneTable:
    """The dataset's hyperplanes as arrays: ``is_unit`` (bool: kind 'unit', else 'domain'),
    ``layer``, ``unit``, ``row`` (int64, -1 where not applicable), ``W`` (H, d), ``b`` (H,)."""

    is_unit: np.ndarray
    layer: np.ndarray
    unit: np.ndarray
    row: np.ndarray
    W: np.ndarray
    b: np.ndarray

    def __len__(self) -> int:
        return int(self.is_unit.shape[0])

    def entry(self, h: int) -> dict[str, Any]:
        """Hyperplane h as its regions-JSON entry (``kind``, ``layer``/``unit`` or ``row``, ``w``, ``b``)."""
        out: dict[str, Any] = {"kind": "unit" if self.is_unit[h] else "domain"}
        if self.is_unit[h]:
            out.update(layer=int(self.layer[h]), unit=int(self.unit[h]))
        else:
            out.update(row=int(self.row[h]))
        out.update(w=self.W[h].tolist(), b=float(self.b[h]))
        return out


def read_hyperplane_table(folder: str, d: int | None = None, batch_rows: int = BATCH_ROWS) -> HyperplaneTable:
    """``hyperplanes.parquet`` as a :class:`HyperplaneTable`, filled batch by batch (Arrow's
    decoding buffers stay one batch long)."""
    pa, pq = pyarrow_modules()
    if d is None:
        d = int(read_dataset_meta(folder)["model"]["input_dim"])
    path = os.path.join(folder, "hyperplanes.parquet")
    try:
        H = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{path}: unreadable Parquet file ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
    out = HyperplaneTable(np.zeros(H, bool), np.full(H, -1, np.int64), np.full(H, -1, np.int64),
                          np.full(H, -1, np.int64), np.zeros((H, d)), np.zeros(H))
    at = 0
    for batch in _part_batches(path, batch_rows):
        n = batch.num_rows
        kinds = batch.column("kind").dictionary_encode()
        names = kinds.dictionary.to_pylist()
        if set(names) - {"unit", "domain"}:
            raise UserError(f"{folder}: unknown hyperplane kinds {sorted(set(names) - {'unit', 'domain'})}")
        codes = np.asarray(kinds.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        out.is_unit[at:at + n] = np.array([name == "unit" for name in names], dtype=bool)[codes] if n else False
        for name, target in (("layer", out.layer), ("unit", out.unit), ("row", out.row)):
            target[at:at + n] = np.asarray(batch.column(name).fill_null(-1).to_numpy(zero_copy_only=False))
        if n:
            out.W[at:at + n] = _floats(batch.column("w"), d)
            out.b[at:at + n] = np.asarray(batch.column("b").to_numpy(zero_copy_only=False), dtype=np.float64)
        at += n
    return out
