"""Regions file: every cell in a documented, versioned JSON schema.

Schema ``relucompile.regions`` version 1 (all numbers are the float64 values the compiler
used; JSON keeps them exactly):

* ``model``: source file name, sha256, ``input_dim`` d, ``output_dim`` m, ``layer_widths``.
* ``domain``: ``{"kind": "reals"|"box"|"polytope", ...}`` and ``domain_equalities`` (rows
  ``[a, b]`` with a.x = b for lower-dimensional domains).
* ``reference_point``: the tie-break point p (DESIGN.md section 2).
* ``hyperplanes``: list of ``{"kind": "unit"|"domain", "layer", "unit", "w", "b"}`` with
  h(x) = w.x + b oriented so that h(p) > 0.
* ``cells``: list of ``{"id", "pattern", "A", "c", "facets", "interior_point",
  "chebyshev_radius", "bounded"}``; ``pattern`` is a string with one character per ReLU unit
  (layers concatenated, '1' = active); ``facets`` is a list of ``[h, closed]``: the cell satisfies
  h(x) >= 0 if closed is true, else h(x) <= 0 (and h(x) < 0 in the half-open partition).  On the
  cell, f(x) = A x + c.
* ``stats``: engine figures (LPs, seconds, tolerance).
* ``certificate`` (only after ``--certify``): the figures of ``compiler/certify.py``'s
  Certificate, including ``model_sha256`` and ``regions_sha256`` (sha256 of this document's
  canonical JSON without the ``certificate`` entry, see ``compiler.certify.regions_sha256``).

Example:
    >>> doc = regions_document(shallow, source="m.onnx")       # doctest: +SKIP
    >>> doc["cells"][0]["pattern"]                              # doctest: +SKIP
    '1101'
"""
from __future__ import annotations

import json
from typing import Any

from compiler.shallow import ShallowNet

SCHEMA = "relucompile.regions"
VERSION = 1


def regions_document(shallow: ShallowNet, source: str = "", sha256: str = "",
                     certificate: dict[str, Any] | None = None) -> dict[str, Any]:
    regions = shallow.regions
    hull = shallow.domain.hull()
    hyperplanes = []
    for key, w, b in zip(shallow.keys, shallow.W, shallow.b):
        entry: dict[str, Any] = {"kind": key[0]}
        if key[0] == "unit":
            entry.update(layer=int(key[1]), unit=int(key[2]))
        else:
            entry.update(row=int(key[1]))
        entry.update(w=w.tolist(), b=float(b))
        hyperplanes.append(entry)
    cells = []
    for a, cell in enumerate(regions.cells):
        lo, hi = shallow.cell_ptr[a], shallow.cell_ptr[a + 1]
        cells.append({
            "id": a,
            "pattern": "".join("1" if v else "0" for v in cell.pattern),
            "A": cell.A.tolist(),
            "c": cell.c.tolist(),
            "facets": [[int(h), bool(cl)] for h, cl in zip(shallow.facet_h[lo:hi], shallow.facet_closed[lo:hi])],
            "interior_point": cell.interior.tolist(),
            "chebyshev_radius": cell.radius,
            "bounded": bool(cell.bounded),
        })
    doc = {
        "schema": SCHEMA,
        "version": VERSION,
        "model": {"source": source, "sha256": sha256, "input_dim": shallow.d, "output_dim": shallow.m,
                  "layer_widths": list(regions.widths)},
        "domain": shallow.domain.to_json(),
        "domain_equalities": [[a.tolist(), b] for a, b in hull.equalities],
        "reference_point": shallow.p.tolist(),
        "hyperplanes": hyperplanes,
        "cells": cells,
        "stats": {k: v for k, v in regions.stats.items() if isinstance(v, (int, float, str))},
    }
    if certificate is not None:
        doc["certificate"] = certificate
    return doc


def write_regions(shallow: ShallowNet, stream, source: str = "", sha256: str = "",
                  certificate: dict[str, Any] | None = None) -> None:
    """Write the regions document to an open text stream."""
    json.dump(regions_document(shallow, source, sha256, certificate), stream)
