"""The linear lens as files: a JSON document (summary + per-sample rows) and a CSV table.

JSON schema ``relucompile.lens`` version 1::

    {"schema": "relucompile.lens", "version": 1, "model": ..., "summary": {...},
     "unit_activity": [...], "class_mean_weights": [[[...]]] (with labels),
     "samples": [{"index": i, "label": ..., "pattern": "3fa2...", "cell": k, "distance": r,
                  "W_eff": [[...]], "b_eff": [...]}, ...]}

The CSV table has one row per sample: ``index, label, pattern, cell, distance, W_eff[j][i]...,
b_eff[j]...`` (readable by pandas, polars or duckdb).  With several checkpoints the JSON holds one
summary per checkpoint (``"checkpoints": [...]``).

Example:
    >>> import io
    >>> from relucompile.analysis.lens import linear_lens
    >>> from relucompile.examples.random_nets import random_mlp
    >>> lens = linear_lens(random_mlp(2, [4], 1, seed=0), np.array([[0.1, 0.2], [0.3, -0.4]]))
    >>> doc = lens_document(lens, "m.onnx")
    >>> doc["summary"]["samples"], len(doc["samples"])
    (2, 2)
    >>> out = io.StringIO(); write_lens_csv(lens, out); out.getvalue().splitlines()[0]
    'index,label,pattern,cell,distance,W_eff[1][1],W_eff[1][2],b_eff[1]'
"""
from __future__ import annotations

import csv
import math
from typing import IO, Any

import numpy as np

from relucompile.analysis.lens import LinearLens

SCHEMA = "relucompile.lens"
VERSION = 1


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, inf/NaN to None."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lens_document(lens: LinearLens, model: str, max_samples: int | None = None) -> dict[str, Any]:
    """The JSON document (``max_samples``: keep at most this many per-sample rows)."""
    hashes = lens.pattern_hashes()
    count = len(lens.X) if max_samples is None else min(max_samples, len(lens.X))
    samples = [{"index": i, "label": None if lens.labels is None else _plain(lens.labels[i]), "pattern": hashes[i],
                "cell": int(lens.cell_ids[i]), "distance": _plain(float(lens.distance[i])),
                "W_eff": lens.W_eff[i].tolist(), "b_eff": lens.b_eff[i].tolist()} for i in range(count)]
    doc: dict[str, Any] = {"schema": SCHEMA, "version": VERSION, "model": model, "summary": lens.summary(),
                           "unit_activity": lens.unit_activity.tolist(), "samples": samples}
    if lens.labels is not None:
        doc["class_mean_weights"] = lens.class_mean_weights().tolist()
    return doc


def write_lens_csv(lens: LinearLens, f: IO[str]) -> None:
    """One row per sample (see the module docstring)."""
    m, d = lens.W_eff.shape[1:]
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(["index", "label", "pattern", "cell", "distance"]
                    + [f"W_eff[{j + 1}][{i + 1}]" for j in range(m) for i in range(d)]
                    + [f"b_eff[{j + 1}]" for j in range(m)])
    hashes = lens.pattern_hashes()
    for k in range(len(lens.X)):
        label = "" if lens.labels is None else _plain(lens.labels[k])
        writer.writerow([k, label, hashes[k], int(lens.cell_ids[k]), repr(float(lens.distance[k]))]
                        + [repr(v) for v in lens.W_eff[k].reshape(-1).tolist()]
                        + [repr(v) for v in lens.b_eff[k].tolist()])
