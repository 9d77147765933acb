"""The shallow network rebuilt from stored cells: a Parquet regions dataset, read batch by batch.

:func:`shallow_from_dataset` fills a :class:`~relucompile.regions.store.CellStore` straight from
the dataset's column batches (packed pattern bits, float64 arrays, CSR facets: no Python object
per cell) and assembles the :class:`~relucompile.shallow.net.ShallowNet` from the stored,
already oriented hyperplanes, closed/strict flags and reference point, so it is the network that
was compiled, number for number, without enumerating again.  The hyperplane table of the
rebuilt regions holds the stored (used, oriented) hyperplanes; a unit hyperplane's structural
key takes its earlier layers' pattern from the first cell that names it.

Example:
    >>> import os, tempfile
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> from relucompile.backends.regions_parquet import write_regions_dataset
    >>> net = random_mlp(2, [4, 4], 1, seed=0)
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
    >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
    >>> write_regions_dataset(shallow, folder, rows_per_part=5)
    >>> again = shallow_from_dataset(net, folder, batch_rows=3)
    >>> again.num_cells == shallow.num_cells, bool(np.array_equal(again.facet_closed, shallow.facet_closed))
    (True, True)
"""
from __future__ import annotations

import struct

import numpy as np

from relucompile.errors import UserError
from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.regions.dataset import BATCH_ROWS, iter_cell_batches, read_dataset_meta, read_hyperplane_table
from relucompile.regions.store import CellStore, HyperplaneStore, RegionSet, compact_key
from relucompile.shallow.net import HyperplaneKeys, ShallowNet


def dataset_domain(spec: dict) -> Domain:
    """The Domain of a regions document's ``domain`` entry.

    Example:
        >>> dataset_domain({"kind": "box", "lower": [0, 0], "upper": [1, 1]}).describe()
        'box [0, 1]^2'
    """
    kind = spec.get("kind")
    if kind == "box":
        return Domain.box(spec["lower"], spec["upper"])
    if kind == "polytope":
        return Domain.polytope(spec["G"], spec["g"])
    return Domain.reals(int(spec["d"]))


def _compact_keys(net: ReluNet, table, cells: CellStore, first_user: np.ndarray) -> list[bytes]:
    """The compact structural key of every stored hyperplane (:func:`compact_key`), per layer
    at once: a unit's earlier-layer pattern is that of the first cell naming it."""
    keys: list[bytes] = [b""] * len(table)
    offsets = np.concatenate([[0], np.cumsum(net.widths)]).astype(int)
    for h in np.nonzero(~table.is_unit)[0].tolist():
        keys[h] = compact_key(("domain", int(table.row[h])))
    units = np.nonzero(table.is_unit)[0]
    for layer in np.unique(table.layer[units]).tolist():
        hs = units[table.layer[units] == layer]
        width = int(offsets[layer])
        owners = first_user[hs]
        if np.any(owners < 0):
            raise UserError(f"hyperplane {int(hs[owners < 0][0])} is no cell's facet")
        prefix = np.unpackbits(cells.pattern_bits[owners], axis=1, count=width) if width else \
            np.zeros((hs.size, 0), np.uint8)
        packed = np.packbits(prefix, axis=1).tobytes()
        step = (width + 7) // 8
        for k, (h, unit) in enumerate(zip(hs.tolist(), table.unit[hs].tolist())):
            keys[h] = struct.pack("<BIII", 0, layer, unit, width) + packed[k * step:(k + 1) * step]
    return keys


def check_dataset_model(net: ReluNet, meta: dict, folder: str) -> None:
    """A UserError (one line) unless the dataset of marker ``meta`` was compiled from ``net``: the
    model sha256 when both are known (as ``relucompile certify`` checks it), and the layer sizes.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> net = random_mlp(2, [3], 1, seed=0)
        >>> check_dataset_model(net, {"model": {"sha256": "", "layer_widths": [3], "input_dim": 2,
        ...                                     "output_dim": 1}}, "cells.parquet")
        >>> check_dataset_model(net, {"model": {"sha256": "", "layer_widths": [4], "input_dim": 2,
        ...                                     "output_dim": 1}}, "cells.parquet")
        Traceback (most recent call last):
        relucompile.errors.UserError: cells.parquet: the regions are of another network (layer widths [4], 2 inputs, 1 outputs)
    """
    model = meta.get("model", {})
    stored, given = model.get("sha256"), getattr(net, "source_sha256", "")
    if stored and given and stored != given:
        raise UserError(f"{folder}: the regions were compiled from another model (sha256 {stored[:12]}... in "
                        f"the dataset, {given[:12]}... for the model given)")
    if list(model.get("layer_widths", [])) != list(net.widths) or model.get("input_dim") != net.d \
            or model.get("output_dim") != net.m:
        raise UserError(f"{folder}: the regions are of another network (layer widths {model.get('layer_widths')}, "
                        f"{model.get('input_dim')} inputs, {model.get('output_dim')} outputs)")


def shallow_from_dataset(net: ReluNet, folder: str, batch_rows: int = BATCH_ROWS) -> ShallowNet:
    """The ShallowNet of a regions dataset written for ``net`` (see the module docstring)."""
    meta = read_dataset_meta(folder)
    check_dataset_model(net, meta, folder)
    d, m, units = net.d, net.m, int(sum(net.widths))
    domain = dataset_domain(meta["domain"])
    table = read_hyperplane_table(folder, d)
    cells = CellStore(units, m, d)
    n = int(meta.get("parquet", {}).get("cells", 0))
    if n:
        cells._reserve(n, 0)
    H = len(table)
    first_user = np.full(H, -1, dtype=np.int64)
    for batch in iter_cell_batches(folder, batch_rows, meta=meta):
        if batch.facet_h.size and (batch.facet_h.min() < 0 or batch.facet_h.max() >= H):
            raise UserError(f"{folder}: a facet names a hyperplane outside the table of {H}")
        start = len(cells)
        cells.append_many(pattern_bits=batch.pattern_bits, A=batch.A, c=batch.c, interior=batch.interior,
                          radius=batch.radius, bounded=batch.bounded, facet_ptr=batch.facet_ptr,
                          facet_h=batch.facet_h, facet_side=np.where(batch.facet_closed, 1, -1).astype(np.int8))
        fresh = batch.facet_h[first_user[batch.facet_h] < 0]
        if fresh.size:
            owner = np.repeat(np.arange(len(batch)), np.diff(batch.facet_ptr))[first_user[batch.facet_h] < 0]
            hs, at = np.unique(fresh, return_index=True)
            first_user[hs] = start + owner[at]
    hyperplanes = HyperplaneStore(d)
    hyperplanes.__setstate__({"d": d, "W": table.W, "b": table.b, "keys": _compact_keys(net, table, cells, first_user)})
    if len(hyperplanes._index) != H:
        raise UserError(f"{folder}: the hyperplane table names a hyperplane twice")
    stats = {k: v for k, v in meta.get("stats", {}).items()}
    regions = RegionSet(domain, d, m, list(net.widths), cells, hyperplanes, stats)
    return ShallowNet(net, regions, hyperplanes.W, hyperplanes.b, HyperplaneKeys(hyperplanes, np.arange(H)),
                      cells.facet_ptr.copy(), cells.facet_h, cells.facet_side > 0,
                      cells.A, cells.c, np.asarray(meta["reference_point"], dtype=np.float64))
