"""Regions as a partitioned Parquet dataset (``--regions cells.parquet``, a folder): one row per cell.

For large runs, where the regions JSON is slow to write and to read; needs ``pyarrow`` (the
``parquet`` extra).  The schema (docs/regions_parquet.md) follows the regions JSON
(:mod:`relucompile.backends.regions_json`) field for field, in typed columns:

* ``relucompile_regions.json``: the JSON document without its hyperplanes and cells (schema,
  model, domain, reference point, stats, certificate) plus ``"parquet": {"version", "cells",
  "parts"}``; its presence marks the folder as a regions dataset.
* ``hyperplanes.parquet``: row h is hyperplane h: ``kind`` (string), ``layer``, ``unit``, ``row``
  (int32, null where not applicable), ``w`` (fixed_size_list<double>[d]), ``b`` (double).
* ``cells/part-NNNNN.parquet``: ``id`` (int64), ``pattern`` (string, one '0'/'1' per unit),
  ``A`` (fixed_size_list<fixed_size_list<double>[d]>[m]), ``c`` (fixed_size_list<double>[m]),
  ``facets`` (list<struct<h: int64, closed: bool>>), ``interior_point``
  (fixed_size_list<double>[d]), ``chebyshev_radius`` (double), ``bounded`` (bool).

Parts hold consecutive cells (``id`` order); floats are the float64 values the compiler used,
as in the JSON.  :func:`read_regions_dataset` gives back the JSON document.

Example:
    >>> import json, os, tempfile
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> from relucompile.backends.regions_json import regions_document
    >>> net = random_mlp(2, [3], 1, seed=0)
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
    >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
    >>> write_regions_dataset(shallow, folder, rows_per_part=3)
    >>> sorted(os.listdir(os.path.join(folder, "cells")))
    ['part-00000.parquet', 'part-00001.parquet']
    >>> read_regions_dataset(folder) == json.loads(json.dumps(regions_document(shallow)))
    True
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from relucompile.backends.regions_json import _footer, _header
from relucompile.errors import UserError
from relucompile.regions.dataset import (MARKER, is_regions_dataset, iter_cell_batches, read_dataset_meta,
                                         read_hyperplane_table)
from relucompile.shallow.net import ShallowNet

PARQUET_VERSION = 1
ROWS_PER_PART = 65_536


def is_regions_path(path: str) -> bool:
    """Whether ``path`` names a Parquet regions dataset (by its ``.parquet`` extension).

    Example:
        >>> is_regions_path("cells.parquet"), is_regions_path("regions.json")
        (True, False)
    """
    return path.lower().rstrip("/").endswith(".parquet")


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UserError("Parquet regions need pyarrow: pip install 'relucompile[parquet]' "
                        "(or give --regions a .json file)") from None
    return pyarrow


def _fixed(pa, values: np.ndarray, *sizes: int):
    """A (nested) fixed_size_list array of float64 from ``values`` of shape (n, *sizes)."""
    array = pa.array(np.ascontiguousarray(values, dtype=np.float64).ravel())
    for size in reversed(sizes):
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return array


def _cells_table(shallow: ShallowNet, lo: int, hi: int):
    pa = _pyarrow()
    store = shallow.regions.cells
    u, n = store.units, hi - lo
    bits = np.unpackbits(store.pattern_bits[lo:hi], axis=1, count=u)
    if u:
        patterns = pa.array(np.frombuffer((bits + 48).astype(np.uint8).tobytes(), dtype=f"S{u}").astype(f"U{u}"))
    else:
        patterns = pa.array([""] * n, pa.string())
    ptr = shallow.cell_ptr
    f0, f1 = int(ptr[lo]), int(ptr[hi])
    facets = pa.ListArray.from_arrays(
        pa.array((ptr[lo:hi + 1] - f0).astype(np.int32)),
        pa.StructArray.from_arrays([pa.array(shallow.facet_h[f0:f1].astype(np.int64)),
                                    pa.array(np.asarray(shallow.facet_closed[f0:f1], dtype=bool))],
                                   names=["h", "closed"]))
    d, m = shallow.d, shallow.m
    return pa.table({
        "id": pa.array(np.arange(lo, hi, dtype=np.int64)),
        "pattern": patterns,
        "A": _fixed(pa, store.A[lo:hi], m, d),
        "c": _fixed(pa, store.c[lo:hi], m),
        "facets": facets,
        "interior_point": _fixed(pa, store.interior[lo:hi], d),
        "chebyshev_radius": pa.array(np.asarray(store.radius[lo:hi], dtype=np.float64)),
        "bounded": pa.array(np.asarray(store.bounded[lo:hi], dtype=bool)),
    })


def _hyperplanes_table(shallow: ShallowNet):
    pa = _pyarrow()
    kinds, layers, units, rows = [], [], [], []
    for key in shallow.keys:
        kinds.append(key[0])
        unit = key[0] == "unit"
        layers.append(int(key[1]) if unit else None)
        units.append(int(key[2]) if unit else None)
        rows.append(None if unit else int(key[1]))
    return pa.table({"kind": pa.array(kinds, pa.string()), "layer": pa.array(layers, pa.int32()),
                     "unit": pa.array(units, pa.int32()), "row": pa.array(rows, pa.int32()),
                     "w": _fixed(pa, np.asarray(shallow.W).reshape(len(kinds), shallow.d), shallow.d),
                     "b": pa.array(np.asarray(shallow.b, dtype=np.float64))})


def write_regions_dataset(shallow: ShallowNet, folder: str, source: str = "", sha256: str = "",
                          certificate: dict[str, Any] | None = None, rows_per_part: int = ROWS_PER_PART) -> None:
    """Write the dataset into ``folder`` (created; must not exist yet), one part per
    ``rows_per_part`` cells, straight from the compact cell arrays (no object per cell).
    (Atomic replacement of an earlier dataset: :func:`save_regions_dataset`.)"""
    pa = _pyarrow()
    os.makedirs(os.path.join(folder, "cells"))
    pa.parquet.write_table(_hyperplanes_table(shallow), os.path.join(folder, "hyperplanes.parquet"))
    n = len(shallow.regions.cells)
    parts = []
    for k, lo in enumerate(range(0, max(n, 1), rows_per_part)):
        name = f"part-{k:05d}.parquet"
        pa.parquet.write_table(_cells_table(shallow, lo, min(lo + rows_per_part, n)),
                               os.path.join(folder, "cells", name))
        parts.append(name)
    meta = _header(shallow, source, sha256)
    meta.update(_footer(shallow, certificate))
    meta["parquet"] = {"version": PARQUET_VERSION, "cells": n, "parts": parts}
    with open(os.path.join(folder, MARKER), "w") as f:
        json.dump(meta, f)


def save_regions_dataset(shallow: ShallowNet, folder: str, source: str = "", sha256: str = "",
                         certificate: dict[str, Any] | None = None) -> None:
    """:func:`write_regions_dataset` through the run's staged outputs: written into a temporary
    folder beside ``folder`` and renamed onto it at the end of the run (an earlier dataset is
    replaced whole; a failed or interrupted run leaves no partial dataset).

    Example:
        >>> import os, tempfile
        >>> from relucompile.api.compile import compile_model
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.ir.domain import Domain
        >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
        >>> shallow = compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25]))
        >>> save_regions_dataset(shallow, folder); save_regions_dataset(shallow, folder)
        >>> len(read_regions_dataset(folder)["cells"])
        4
    """
    from relucompile.backends.files import atomic_write_folder
    _pyarrow()
    atomic_write_folder(folder, lambda staged: write_regions_dataset(shallow, staged, source, sha256, certificate))


def write_dataset_certificate(folder: str, certificate: dict[str, Any]) -> None:
    """Store ``certificate`` in the dataset's marker document (``certify --update``), atomically;
    the cells are not touched (the regions sha256 leaves the certificate out).

    Example:
        >>> import os, tempfile
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.api.compile import compile_network
        >>> from relucompile.ir.domain import Domain
        >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
        >>> write_regions_dataset(compile_network(random_mlp(2, [3], 1, seed=0), Domain.box([-1, -1], [1, 1])), folder)
        >>> write_dataset_certificate(folder, {"ok": True})
        >>> read_regions_dataset(folder)["certificate"]
        {'ok': True}
    """
    from relucompile.backends.files import atomic_write
    meta = read_dataset_meta(folder)
    meta["certificate"] = certificate
    atomic_write(os.path.join(folder, MARKER), lambda f: json.dump(meta, f), text=True)


def read_regions_dataset(folder: str) -> dict[str, Any]:
    """The regions JSON document (:func:`relucompile.backends.regions_json.regions_document`)
    of a dataset, in memory (for small runs and tests; large runs read it batch by batch with
    :func:`relucompile.regions.dataset.iter_cell_batches`)."""
    meta = read_dataset_meta(folder)
    layout = meta.pop("parquet")
    doc = {k: meta.pop(k) for k in list(meta) if k not in ("stats", "certificate")}
    table = read_hyperplane_table(folder, int(doc["model"]["input_dim"]))
    doc["hyperplanes"] = [table.entry(h) for h in range(len(table))]
    doc["cells"] = [entry for batch in iter_cell_batches(folder, meta=dict(doc, parquet=layout))
                    for entry in batch.entries()]
    doc.update(meta)
    return doc
