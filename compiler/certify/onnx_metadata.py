"""Bind a shallow ONNX model to a certified regions file: its tensors must *be* the file's numbers.

``relucompile certify MODEL REGIONS.json --onnx SHALLOW.onnx`` certifies the regions file and then
checks that the ONNX model written by ``backends/onnx_backend.py`` carries exactly the same
float64 hyperplanes, affine maps, per-cell constraint lists (closed/strict) and reference point,
so the certificate's statements hold for the function the ONNX model represents (evaluated in
exact arithmetic on its stored numbers); its float64 evaluation still rounds.

Two layouts (``layout`` in the model's metadata): ``layers`` stores the hyperplanes and each
cell's constraint list, all checked; ``index`` (the default) stores the affine maps (checked) and
a point-location tree over unit tests, whose routing is checked by the test suite
(tests/test_locate.py, tests/test_exactness.py), not by this certificate.

Example:
    >>> from relucompile.api import compile_model, shallow_onnx
    >>> from relucompile.backends.regions_json import regions_document
    >>> from relucompile.examples import tiny_mlp_path
    >>> from relucompile.ir.domain import Domain
    >>> shallow = compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25]))
    >>> onnx_mismatch(shallow_onnx(shallow), regions_document(shallow))
    ''
"""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import numpy_helper

from relucompile.backends.onnx_backend import PREFIX


def onnx_mismatch(model: onnx.ModelProto, doc) -> str:
    """'' if the shallow ONNX model holds exactly the regions' numbers, else what differs.
    ``doc``: the regions document, or a :class:`relucompile.certify.sources.DatasetSource`
    (read batch by batch)."""
    if isinstance(doc, dict):
        cells, hyps = doc["cells"], doc["hyperplanes"]
        d = len(doc["reference_point"])
        regions = _Regions(doc["reference_point"], len(cells), len(hyps),
                           lambda: (np.array([h["w"] for h in hyps], dtype=np.float64).reshape(len(hyps), d),
                                    np.array([h["b"] for h in hyps], dtype=np.float64)),
                           lambda: (np.array([c["A"] for c in cells], dtype=np.float64).reshape(len(cells), -1, d),
                                    np.array([c["c"] for c in cells], dtype=np.float64).reshape(len(cells), -1)),
                           lambda: ([[h, closed] for h, closed in c["facets"]] for c in cells))
    else:
        regions = _dataset_regions(doc)
    return _mismatch(model, regions)


class _Regions:
    """What the ONNX comparison needs: p, counts, and callables giving (W, b), (A, c) and the
    cells' facet lists in order."""

    def __init__(self, p, R, H, hyperplanes, maps, facets) -> None:
        self.p, self.R, self.H, self.hyperplanes, self.maps, self.facets = p, R, H, hyperplanes, maps, facets


def _dataset_regions(source) -> _Regions:
    from relucompile.regions.dataset import iter_cell_batches
    folder, meta = source.folder, dict(source.meta, parquet=source.layout)

    def maps():
        A, c = [], []
        for batch in iter_cell_batches(folder, columns=("A", "c"), meta=meta):
            A.append(batch.A)
            c.append(batch.c)
        m, d = int(meta["model"]["output_dim"]), int(meta["model"]["input_dim"])
        return (np.concatenate(A) if A else np.zeros((0, m, d))), (np.concatenate(c) if c else np.zeros((0, m)))

    def facets():
        for batch in iter_cell_batches(folder, columns=("facets",), meta=meta):
            hs, closed, ptr = batch.facet_h.tolist(), batch.facet_closed.tolist(), batch.facet_ptr.tolist()
            for k in range(len(batch)):
                yield [[h, v] for h, v in zip(hs[ptr[k]:ptr[k + 1]], closed[ptr[k]:ptr[k + 1]])]

    table = source.table
    return _Regions(meta["reference_point"], source.num_cells if source.num_cells >= 0 else
                    int(meta["parquet"]["cells"]), len(table), lambda: (table.W, table.b), maps, facets)


def _mismatch(model: onnx.ModelProto, regions: _Regions) -> str:
    inits = {t.name[len(PREFIX):]: numpy_helper.to_array(t) for t in model.graph.initializer
             if t.name.startswith(PREFIX)}
    meta = {p.key: p.value for p in model.metadata_props}
    R, H = regions.R, regions.H
    if meta.get("num_cells") != str(R) or meta.get("num_hyperplanes") != str(H):
        return f"the ONNX model has {meta.get('num_cells')} cells and {meta.get('num_hyperplanes')} hyperplanes, " \
               f"the regions file {R} and {H}"
    if json.loads(meta.get("reference_point", "null")) != regions.p:
        return "the reference point p differs"
    if meta.get("layout") == "index":
        A, c = regions.maps()
        stored = inits.get("H3_effective_Ac")
        if stored is None or not np.array_equal(stored.reshape(R, A.shape[1], -1),
                                                np.concatenate([A, c.reshape(R, -1, 1)], axis=2)):
            return "the affine maps (H3_effective_Ac) differ"
        return ""
    if H:
        W, b = regions.hyperplanes()
        if "H1_hyperplane_W" not in inits or not np.array_equal(inits["H1_hyperplane_W"], W) \
                or not np.array_equal(inits["H1_hyperplane_b"], b):
            return "the hyperplanes (H1_hyperplane_W, H1_hyperplane_b) differ"
    A, c = regions.maps()
    if not (np.array_equal(inits.get("H3_effective_A"), A) and np.array_equal(inits.get("H3_effective_c"), c)):
        return "the affine maps (H3_effective_A, H3_effective_c) differ"
    slots = sorted((int(name.rsplit("_", 1)[1]), value) for name, value in inits.items()
                   if name.startswith("H3_constraint_index_"))
    index = np.array([v for _, v in slots]).reshape(len(slots), R) if slots else np.zeros((0, R), np.int64)
    for a, facets in enumerate(regions.facets()):
        want = [h if closed else H + h for h, closed in facets]
        have = [int(v) for v in index[:, a] if v != 2 * H]
        if have != want:
            return f"cell {a}'s constraints (H3_constraint_index_*) differ: {have} instead of {want}"
    return ""
