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
from relucompile.regions.dataset import (MARKER, iter_cell_batches, read_dataset_meta,
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


def _part_rows(shallow: ShallowNet, lo: int, hi: int) -> dict[str, Any]:
    """Cells lo..hi-1 as plain arrays (views): what one part holds, shippable to a worker."""
    store, ptr = shallow.regions.cells, shallow.cell_ptr
    f0, f1 = int(ptr[lo]), int(ptr[hi])
    return {"lo": lo, "units": store.units, "d": shallow.d, "m": shallow.m,
            "pattern_bits": store.pattern_bits[lo:hi], "A": store.A[lo:hi], "c": store.c[lo:hi],
            "ptr": ptr[lo:hi + 1] - f0, "facet_h": shallow.facet_h[f0:f1],
            "facet_closed": shallow.facet_closed[f0:f1], "interior": store.interior[lo:hi],
            "radius": store.radius[lo:hi], "bounded": store.bounded[lo:hi]}


def _cells_table(rows: dict[str, Any]):
    """The Arrow table of one part (``rows``: :func:`_part_rows`)."""
    pa = _pyarrow()
    u, n, lo = rows["units"], len(rows["radius"]), rows["lo"]
    bits = np.unpackbits(rows["pattern_bits"], axis=1, count=u)
    if u:
        patterns = pa.array(np.frombuffer((bits + 48).astype(np.uint8).tobytes(), dtype=f"S{u}").astype(f"U{u}"))
    else:
        patterns = pa.array([""] * n, pa.string())
    facets = pa.ListArray.from_arrays(
        pa.array(np.asarray(rows["ptr"]).astype(np.int32)),
        pa.StructArray.from_arrays([pa.array(np.asarray(rows["facet_h"]).astype(np.int64)),
                                    pa.array(np.asarray(rows["facet_closed"], dtype=bool))],
                                   names=["h", "closed"]))
    d, m = rows["d"], rows["m"]
    return pa.table({
        "id": pa.array(np.arange(lo, lo + n, dtype=np.int64)),
        "pattern": patterns,
        "A": _fixed(pa, rows["A"], m, d),
        "c": _fixed(pa, rows["c"], m),
        "facets": facets,
        "interior_point": _fixed(pa, rows["interior"], d),
        "chebyshev_radius": pa.array(np.asarray(rows["radius"], dtype=np.float64)),
        "bounded": pa.array(np.asarray(rows["bounded"], dtype=bool)),
    })


def part_name(k: int) -> str:
    """The file name of part ``k`` (cells ``k * rows_per_part`` on): fixed by the part's index,
    so the parts and their order are the same whoever writes them.

    Example:
        >>> part_name(3)
        'part-00003.parquet'
    """
    return f"part-{k:05d}.parquet"


_PART_WRITER: dict = {}


def _init_part_writer(folder: str, rows_per_part: int, shallow: ShallowNet | None) -> None:
    """A writer process's state: the dataset's (temporary) folder and, for local processes
    (forked: shared, not copied), the shallow net whose cells it writes."""
    _PART_WRITER.update(folder=folder, rows_per_part=rows_per_part, shallow=shallow)


def _write_part(task) -> str:
    """Write one part into the folder; ``task``: the part's index (its cells are read from the
    shared shallow net) or (index, :func:`_part_rows`) on a cluster; returns the part's name."""
    w = _PART_WRITER
    if isinstance(task, int):
        shallow, rpp = w["shallow"], w["rows_per_part"]
        n = len(shallow.regions.cells)
        k, rows = task, _part_rows(shallow, task * rpp, min(task * rpp + rpp, n))
    else:
        k, rows = task
    name = part_name(k)
    _pyarrow().parquet.write_table(_cells_table(rows), os.path.join(w["folder"], "cells", name))
    return name


def _hyperplanes_table(shallow: ShallowNet):
    pa = _pyarrow()
    keys = shallow.keys
    if hasattr(keys, "store") and hasattr(keys.store, "key_fields"):    # HyperplaneKeys: no tuple per key
        kinds, layer, unit, row = keys.store.key_fields(keys.rows)
    else:
        kinds, layer, unit, row = [], np.full(len(keys), -1), np.full(len(keys), -1), np.full(len(keys), -1)
        for i, key in enumerate(keys):
            kinds.append(key[0])
            if key[0] == "unit":
                layer[i], unit[i] = int(key[1]), int(key[2])
            else:
                row[i] = int(key[1])

    def column(values: np.ndarray):
        return pa.array(values.astype(np.int32), mask=values < 0)

    return pa.table({"kind": pa.array(kinds, pa.string()), "layer": column(layer),
                     "unit": column(unit), "row": column(row),
                     "w": _fixed(pa, np.asarray(shallow.W).reshape(len(kinds), shallow.d), shallow.d),
                     "b": pa.array(np.asarray(shallow.b, dtype=np.float64))})


def write_regions_dataset(shallow: ShallowNet, folder: str, source: str = "", sha256: str = "",
                          certificate: dict[str, Any] | None = None, rows_per_part: int = ROWS_PER_PART,
                          jobs: int = 1) -> None:
    """Write the dataset into ``folder`` (created; must not exist yet), one part per
    ``rows_per_part`` cells, straight from the compact cell arrays (no object per cell).
    (Atomic replacement of an earlier dataset: :func:`save_regions_dataset`.)

    The parts are written by ``jobs`` local processes (forked: they share the cells), or by the
    cluster's workers within :func:`relucompile.regions.executor.cluster` (each task carries its
    part's rows; ``folder`` must be on storage the workers share); the same files for any number
    of workers."""
    from relucompile.regions.executor import in_cluster, run_tasks
    pa = _pyarrow()
    os.makedirs(os.path.join(folder, "cells"))
    pa.parquet.write_table(_hyperplanes_table(shallow), os.path.join(folder, "hyperplanes.parquet"),
                           row_group_size=rows_per_part)
    n = len(shallow.regions.cells)
    count = max(-(-n // rows_per_part), 1)
    if in_cluster():
        tasks: list = [(k, _part_rows(shallow, k * rows_per_part, min(k * rows_per_part + rows_per_part, n)))
                       for k in range(count)]
        state: tuple = (os.path.abspath(folder), rows_per_part, None)
    else:
        tasks, state = list(range(count)), (folder, rows_per_part, shallow)
    results = run_tasks(_write_part, tasks, jobs, _init_part_writer, state)
    try:
        parts = list(results)
    finally:
        results.close()
        _PART_WRITER.clear()
    meta = _header(shallow, source, sha256)
    meta.update(_footer(shallow, certificate))
    meta["parquet"] = {"version": PARQUET_VERSION, "cells": n, "parts": parts}
    with open(os.path.join(folder, MARKER), "w") as f:
        json.dump(meta, f)


def save_regions_dataset(shallow: ShallowNet, folder: str, source: str = "", sha256: str = "",
                         certificate: dict[str, Any] | None = None, jobs: int = 1) -> None:
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
    atomic_write_folder(folder, lambda staged: write_regions_dataset(shallow, staged, source, sha256, certificate,
                                                                     jobs=jobs))


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


def enumerate_to_dataset(net, domain, folder: str, *, engine: str = "auto", limits=None, progress=None,
                         jobs: int = 1, seed: int = 0, source: str = "", sha256: str = "",
                         rows_per_part: int = ROWS_PER_PART, spill_rows: int | None = None) -> dict[str, Any]:
    """Enumerate the cells of ``net`` over ``domain`` straight into a dataset at ``folder``
    (written atomically), the cells never all in memory and, from the vertex engine's tasks, never
    in this process; two passes of ``jobs`` workers (local processes, or a cluster's within
    :func:`relucompile.regions.executor.cluster`; ``folder`` then on storage they share):

    1. the enumeration appends to a :class:`~relucompile.regions.spill.SpillingCellStore` whose
       scratch folder is inside the staged dataset: each task of the vertex engine writes its
       cells to a *raw part* there, numbered by its own hyperplane table, and returns that table
       (small); cells found here (few cells, the split engine) spill to raw parts in chunks;
    2. here: the tables merged (the numbering of the in-memory run), the reference point chosen
       and the hyperplanes oriented as :func:`~relucompile.shallow.net.build_shallow` does (same
       seed, same p), ``hyperplanes.parquet`` written;
    3. the workers turn the raw parts into the Parquet parts (ids, facet numbers, closed flags),
       in parallel, the raw parts deleted as they are done with.

    The dataset is the one ``save_regions_dataset(build_shallow(net, enumerate_regions(net,
    domain)), folder)`` writes, byte for byte; the shallow ONNX model is not built.  Returns the
    regions' stats with the timings.

    Example:
        >>> import os, tempfile
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.ir.domain import Domain
        >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
        >>> stats = enumerate_to_dataset(random_mlp(2, [4, 4], 1, seed=0), Domain.box([-1, -1], [1, 1]), folder,
        ...                              rows_per_part=4, spill_rows=3)
        >>> stats["cells"], len(read_regions_dataset(folder)["cells"]), sorted(os.listdir(folder))
        (12, 12, ['cells', 'hyperplanes.parquet', 'relucompile_regions.json'])
    """
    from relucompile.backends.files import atomic_write_folder
    from relucompile.regions.enumerate import enumerate_regions
    from relucompile.regions.parallel import peak_rss_mb
    from relucompile.regions.spill import SPILL_ROWS, SpillingCellStore
    from relucompile.shallow.net import HyperplaneKeys, oriented_hyperplanes
    import shutil
    import time
    _pyarrow()
    stats: dict[str, Any] = {}

    def fill(staged: str) -> None:
        pa = _pyarrow()
        staged = os.path.abspath(staged)
        os.makedirs(os.path.join(staged, "cells"))
        scratch = os.path.join(staged, "spill")
        store = SpillingCellStore(int(sum(net.widths)), net.m, net.d, scratch, spill_rows or SPILL_ROWS)
        start = time.time()
        regions = enumerate_regions(net, domain, engine, limits, progress, jobs, cells=store)
        store.flush()
        stats.update(enumerate_s=time.time() - start, peak_after_enumerate_mb=round(peak_rss_mb(), 1))
        start = time.time()
        used = store.used_hyperplanes()
        p, position, W, b, positive = oriented_hyperplanes(regions, used, net.d, seed)
        empty = np.zeros(0)
        shallow = ShallowNet(net, regions, W, b, HyperplaneKeys(regions.hyperplanes, used), np.zeros(1, np.int64),
                             empty.astype(np.int64), empty.astype(bool), empty.reshape(0, net.m, net.d),
                             empty.reshape(0, net.m), p)
        pa.parquet.write_table(_hyperplanes_table(shallow), os.path.join(staged, "hyperplanes.parquet"),
                               row_group_size=rows_per_part)
        segments = store.segments()
        shape = {"units": int(sum(net.widths)), "d": net.d, "m": net.m}
        parts = _parts_from_raw(staged, scratch, segments, position, positive, rows_per_part, shape, jobs)
        shutil.rmtree(scratch, ignore_errors=True)     # with any raw part a stopped task left behind
        cells = sum(segment.cells for segment in segments)
        meta = _header(shallow, source, sha256)
        meta.update(_footer(shallow, None))
        meta["parquet"] = {"version": PARQUET_VERSION, "cells": cells, "parts": parts}
        with open(os.path.join(staged, MARKER), "w") as f:
            json.dump(meta, f)
        stats.update(regions.stats, cells=cells, hyperplanes=len(used),
                     facets=sum(segment.facets for segment in segments), write_s=time.time() - start)

    atomic_write_folder(folder, fill)
    return stats


def _parts_from_raw(folder: str, scratch: str, segments: list, position: np.ndarray, positive: np.ndarray,
                    rows_per_part: int, shape: dict, jobs: int) -> list[str]:
    """Write the Parquet parts of the raw parts ``segments`` (in cell order) into ``folder``/cells,
    by ``jobs`` workers (:func:`relucompile.regions.executor.run_tasks`; their temporary files in
    ``scratch``); returns the parts' names.

    A task writes the parts that begin in one raw part (reading the next raw parts for the last
    one's end); a raw part is deleted once the tasks that read it are done."""
    from relucompile.regions.executor import run_tasks
    total = sum(segment.cells for segment in segments)
    if total == 0:
        _write_final_parts_of({"first_part": 0, "parts": 1, "pieces": []}, folder, scratch, rows_per_part, shape)
        for segment in segments:
            os.remove(segment.path)
        return [part_name(0)]
    offsets = np.concatenate([[0], np.cumsum([segment.cells for segment in segments])]).tolist()
    maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def piece(s: int, lo: int, hi: int) -> tuple:
        """Cells lo:hi of raw part s with its maps: its numbers -> the used hyperplanes' rows, and
        whether that row's stored orientation is positive at p."""
        if s not in maps:
            mapping = segments[s].hyperplane_map
            rows = position if mapping is None else position[mapping]
            maps[s] = (rows, positive[np.maximum(rows, 0)] if positive.size else np.zeros(rows.size, bool))
        return (segments[s].path, lo, hi) + maps[s]

    tasks, first_read = [], []
    for s, segment in enumerate(segments):
        first = -(-offsets[s] // rows_per_part)               # the first part beginning in this raw part
        after = -(-offsets[s + 1] // rows_per_part)
        if first >= after:
            continue
        lo, hi = first * rows_per_part, min(after * rows_per_part, total)
        pieces, t = [], s
        while t < len(segments) and offsets[t] < hi:
            if segments[t].cells:
                pieces.append(piece(t, max(lo - offsets[t], 0), min(hi - offsets[t], segments[t].cells)))
            t += 1
        tasks.append({"first_part": first, "parts": after - first, "pieces": pieces})
        first_read.append(s)
    first_read.append(len(segments))
    maps.clear()
    results = run_tasks(_write_final_parts, tasks, jobs, _init_final_writer, (folder, scratch, rows_per_part, shape))
    del tasks
    names: list[str] = []
    try:
        for k, written in enumerate(results):
            names.extend(written)
            for segment in segments[first_read[k]:first_read[k + 1]]:   # no later task reads these
                os.remove(segment.path)
    finally:
        results.close()
        _FINAL_WRITER.clear()
    for segment in segments[:first_read[0]]:
        os.remove(segment.path)
    return names


_FINAL_WRITER: dict = {}


def _init_final_writer(folder: str, scratch: str, rows_per_part: int, shape: dict) -> None:
    """A worker's state for :func:`_write_final_parts`: the staged dataset's folders and layout."""
    _FINAL_WRITER.update(folder=folder, scratch=scratch, rows_per_part=rows_per_part, shape=shape)


def _write_final_parts(task: dict) -> list[str]:
    """A worker's task of :func:`_parts_from_raw`: write its parts; their names."""
    w = _FINAL_WRITER
    return _write_final_parts_of(task, w["folder"], w["scratch"], w["rows_per_part"], w["shape"])


def _write_final_parts_of(task: dict, folder: str, scratch: str, rows_per_part: int, shape: dict) -> list[str]:
    """Parts ``first_part``, ... (``parts`` of them) from the raw cells of ``pieces`` (path, lo,
    hi, row of each hyperplane number, its orientation at p), in order; each written to a
    temporary file in ``scratch`` and renamed (a task run again replaces its parts whole, a
    killed one leaves no file among the parts)."""
    import uuid
    from relucompile.regions.spill import read_raw_part
    runs = []
    for path, lo, hi, rows, positive in task["pieces"]:
        raw = read_raw_part(path)
        ptr = raw["ptr"]
        f0, f1 = int(ptr[lo]), int(ptr[hi])
        fh, fs = raw["fh"][f0:f1], raw["fs"][f0:f1]
        run = {name: raw[name][lo:hi] for name in ("bits", "A", "c", "interior", "radius", "bounded")}
        run.update(ptr=ptr[lo:hi + 1] - f0, fh=rows[fh], closed=(fs > 0) == positive[fh])
        runs.append(run)
        del raw
    cells = _joined(runs) if runs else _no_cells(shape)
    names, written = [], task["first_part"] * rows_per_part
    for k in range(task["parts"]):
        lo, hi = k * rows_per_part, min((k + 1) * rows_per_part, cells["bits"].shape[0])
        name = part_name(task["first_part"] + k)
        table = _cells_table(dict(_raw_rows(_rows(cells, lo, hi)), lo=written, **shape))
        tmp = os.path.join(scratch, f"{name}.{uuid.uuid4().hex}.tmp")
        _pyarrow().parquet.write_table(table, tmp)
        os.replace(tmp, os.path.join(folder, "cells", name))
        names.append(name)
        written += hi - lo
    return names


def _no_cells(shape: dict) -> dict:
    """An empty run of cells (the one part of an empty dataset)."""
    units, d, m, empty = shape["units"], shape["d"], shape["m"], np.zeros(0)
    return {"bits": np.zeros((0, (units + 7) // 8), np.uint8), "A": empty.reshape(0, m, d), "c": empty.reshape(0, m),
            "interior": empty.reshape(0, d), "radius": empty, "bounded": empty.astype(bool),
            "ptr": np.zeros(1, np.int64), "fh": empty.astype(np.int64), "closed": empty.astype(bool)}


def _raw_rows(rows: dict) -> dict:
    """:func:`_rows`' names as :func:`_cells_table` takes them."""
    return {"pattern_bits": rows["bits"], "A": rows["A"], "c": rows["c"], "ptr": rows["ptr"],
            "facet_h": rows["fh"], "facet_closed": rows["closed"], "interior": rows["interior"],
            "radius": rows["radius"], "bounded": rows["bounded"]}


def _rows(chunk: dict, lo: int, hi: int) -> dict:
    """Cells lo:hi of a chunk (``ptr`` from 0 again)."""
    ptr = chunk["ptr"]
    f0, f1 = int(ptr[lo]), int(ptr[hi])
    out = {name: chunk[name][lo:hi] for name in ("bits", "A", "c", "interior", "radius", "bounded")}
    out.update(ptr=ptr[lo:hi + 1] - f0, fh=chunk["fh"][f0:f1], closed=chunk["closed"][f0:f1])
    return out


def _joined(runs: list[dict]) -> dict:
    """Consecutive runs of cells as one."""
    if len(runs) == 1:
        return runs[0]
    out = {name: np.concatenate([run[name] for run in runs])
           for name in ("bits", "A", "c", "interior", "radius", "bounded", "fh", "closed")}
    ends = np.cumsum([0] + [int(run["ptr"][-1]) for run in runs[:-1]])
    out["ptr"] = np.concatenate([runs[0]["ptr"][:1]] + [run["ptr"][1:] + end for run, end in zip(runs, ends)])
    return out
