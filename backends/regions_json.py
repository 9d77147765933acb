"""Regions file: every cell in a documented, versioned JSON schema.

Schema ``relucompile.regions`` version 1 (all numbers are the float64 values the compiler
used; JSON keeps them exactly):

* ``model``: source file name, sha256, ``input_dim`` d, ``output_dim`` m, ``layer_widths``.
* ``domain``: ``{"kind": "reals"|"box"|"polytope", ...}`` and ``domain_equalities`` (rows
  ``[a, b]`` with a.x = b for lower-dimensional domains).
* ``reference_point``: the tie-break point p (docs/design.md section 2).
* ``input_embedding`` (only for a large model lowered over its domain's free coordinates,
  :mod:`relucompile.ir.embedding`): ``input_dim`` of the source, ``free_coordinates`` (their
  places in the flattened source input), ``x0`` (the input with the free coordinates at 0) and the
  source ``domain``; everything else in the file is then over the free coordinates.
* ``hyperplanes``: list of ``{"kind": "unit"|"domain", "layer", "unit", "w", "b"}`` with
  h(x) = w.x + b oriented so that h(p) > 0.
* ``cells``: list of ``{"id", "pattern", "A", "c", "facets", "interior_point",
  "chebyshev_radius", "bounded"}``; ``pattern`` is a string with one character per ReLU unit
  (layers concatenated, '1' = active); ``facets`` is a list of ``[h, closed]``: the cell satisfies
  h(x) >= 0 if closed is true, else h(x) <= 0 (and h(x) < 0 in the half-open partition).  On the
  cell, f(x) = A x + c.  ``chebyshev_radius`` is the radius of a ball around ``interior_point``
  inside the cell (in the domain's affine hull, capped at 1 on unbounded domains): the Chebyshev
  radius when the split engine made the cells; the vertex engine (``stats.engine == "vertex"``)
  gives the distance from its interior point, the mean of the cell's vertices, to the nearest
  facet, which is at most the Chebyshev radius.
* ``stats``: engine figures (LPs, seconds, tolerance).
* ``certificate`` (only after ``--certify``): the figures of ``compiler/certify/checks.py``'s
  Certificate, including ``model_sha256`` and ``regions_sha256`` (sha256 of this document's
  canonical JSON without the ``certificate`` entry, see ``relucompile.certify.checks.regions_sha256``).

The file is written incrementally (:func:`write_regions`, chunks of cells straight from the
compact arrays of :class:`relucompile.regions.store.CellStore`), so its size is not bounded by memory.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> net = random_mlp(2, [3], 1, seed=0)
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
    >>> doc = regions_document(shallow, source="m.onnx")
    >>> doc["model"]["source"], doc["model"]["layer_widths"], sorted(c["pattern"] for c in doc["cells"])
    ('m.onnx', [3], ['100', '101', '110', '111'])
"""
from __future__ import annotations

import json
from itertools import islice
from typing import Any, Iterator

import numpy as np

from relucompile.shallow.net import ShallowNet

SCHEMA = "relucompile.regions"
VERSION = 1


def regions_document(shallow: ShallowNet, source: str = "", sha256: str = "",
                     certificate: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole regions document as one dict (in memory: for certification and small nets;
    :func:`write_regions` streams the same JSON without building it)."""
    doc = _header(shallow, source, sha256)
    doc["hyperplanes"] = list(hyperplane_entries(shallow))
    doc["cells"] = [cell for chunk in cell_entry_chunks(shallow) for cell in chunk]
    doc.update(_footer(shallow, certificate))
    return doc


def _header(shallow: ShallowNet, source: str, sha256: str) -> dict[str, Any]:
    regions = shallow.regions
    hull = shallow.domain.hull()
    embedding = shallow.net.embedding
    header = {
        "schema": SCHEMA,
        "version": VERSION,
        "model": {"source": source, "sha256": sha256, "input_dim": shallow.d, "output_dim": shallow.m,
                  "layer_widths": list(regions.widths)},
        "domain": shallow.domain.to_json(),
        "domain_equalities": [[a.tolist(), b] for a, b in hull.equalities],
        "reference_point": shallow.p.tolist(),
    }
    if embedding is not None:
        header["input_embedding"] = embedding.to_json()
    return header


def _footer(shallow: ShallowNet, certificate: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"stats": {k: v for k, v in shallow.regions.stats.items() if isinstance(v, (int, float, str))}}
    if certificate is not None:
        out["certificate"] = certificate
    return out


def hyperplane_entries(shallow: ShallowNet) -> Iterator[dict[str, Any]]:
    """The ``hyperplanes`` entries, one dict at a time."""
    for key, w, b in zip(shallow.keys, shallow.W.tolist(), shallow.b.tolist()):
        entry: dict[str, Any] = {"kind": key[0]}
        if key[0] == "unit":
            entry.update(layer=int(key[1]), unit=int(key[2]))
        else:
            entry.update(row=int(key[1]))
        entry.update(w=w, b=b)
        yield entry


def cell_entry_chunks(shallow: ShallowNet, chunk: int = 4096) -> Iterator[list[dict[str, Any]]]:
    """The ``cells`` entries in lists of up to ``chunk`` cells, from the compact arrays.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.ir.domain import Domain
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> from relucompile.shallow.net import build_shallow
        >>> net = random_mlp(2, [3], 1, seed=0)
        >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
        >>> [len(c) for c in cell_entry_chunks(shallow, chunk=3)]      # 4 cells
        [3, 1]
    """
    store = shallow.regions.cells
    ptr, fh, closed = shallow.cell_ptr, shallow.facet_h, shallow.facet_closed
    for lo in range(0, len(store), chunk):
        hi = min(lo + chunk, len(store))
        bits = np.unpackbits(store.pattern_bits[lo:hi], axis=1, count=store.units)
        text = (bits + 48).astype(np.uint8).tobytes().decode("ascii")
        u = store.units
        A, c = store.A[lo:hi].tolist(), store.c[lo:hi].tolist()
        interior, radius, bounded = store.interior[lo:hi].tolist(), store.radius[lo:hi].tolist(), \
            store.bounded[lo:hi].tolist()
        f0 = int(ptr[lo])
        hs, cl, offsets = fh[f0:ptr[hi]].tolist(), closed[f0:ptr[hi]].tolist(), (ptr[lo:hi + 1] - f0).tolist()
        out = []
        for k in range(hi - lo):
            a, b = offsets[k], offsets[k + 1]
            out.append({
                "id": lo + k,
                "pattern": text[k * u:(k + 1) * u],
                "A": A[k],
                "c": c[k],
                "facets": [[h, v] for h, v in zip(hs[a:b], cl[a:b])],
                "interior_point": interior[k],
                "chebyshev_radius": radius[k],
                "bounded": bounded[k],
            })
        yield out


def _write_list(stream, chunks: Iterator[list]) -> None:
    """Write the items of consecutive chunks as JSON list items (", "-separated, no brackets)."""
    first = True
    for chunk in chunks:
        if chunk:
            stream.write(("" if first else ", ") + ", ".join(map(json.dumps, chunk)))
            first = False


def write_regions(shallow: ShallowNet, stream, source: str = "", sha256: str = "",
                  certificate: dict[str, Any] | None = None, chunk: int = 4096) -> None:
    """Write the regions document to an open text stream, incrementally: the same text as
    ``json.dump(regions_document(...), stream)`` without the whole document in memory (one
    write per ``chunk`` hyperplanes or cells).

    Example:
        >>> import io
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.ir.domain import Domain
        >>> from relucompile.regions.enumerate import enumerate_regions
        >>> from relucompile.shallow.net import build_shallow
        >>> net = random_mlp(2, [3], 1, seed=0)
        >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
        >>> buf = io.StringIO(); write_regions(shallow, buf, chunk=3)
        >>> buf.getvalue() == json.dumps(regions_document(shallow))
        True
    """
    dumps = json.dumps
    sep = "{"
    for key, value in _header(shallow, source, sha256).items():
        stream.write(f"{sep}{dumps(key)}: {dumps(value)}")
        sep = ", "
    stream.write(', "hyperplanes": [')
    entries = hyperplane_entries(shallow)
    _write_list(stream, iter(lambda: list(islice(entries, chunk)), []))
    stream.write('], "cells": [')
    _write_list(stream, cell_entry_chunks(shallow, chunk))
    stream.write("]")
    for key, value in _footer(shallow, certificate).items():
        stream.write(f", {dumps(key)}: {dumps(value)}")
    stream.write("}")
