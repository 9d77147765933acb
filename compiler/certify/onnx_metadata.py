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


def onnx_mismatch(model: onnx.ModelProto, doc: dict) -> str:
    """'' if the shallow ONNX model holds exactly the regions document's numbers, else what differs."""
    inits = {t.name[len(PREFIX):]: numpy_helper.to_array(t) for t in model.graph.initializer
             if t.name.startswith(PREFIX)}
    meta = {p.key: p.value for p in model.metadata_props}
    cells, hyps = doc["cells"], doc["hyperplanes"]
    R, H = len(cells), len(hyps)
    if meta.get("num_cells") != str(R) or meta.get("num_hyperplanes") != str(H):
        return f"the ONNX model has {meta.get('num_cells')} cells and {meta.get('num_hyperplanes')} hyperplanes, " \
               f"the regions file {R} and {H}"
    if json.loads(meta.get("reference_point", "null")) != doc["reference_point"]:
        return "the reference point p differs"
    if meta.get("layout") == "index":
        A = np.array([c["A"] for c in cells], dtype=np.float64).reshape(R, -1, len(doc["reference_point"]))
        c = np.array([c["c"] for c in cells], dtype=np.float64).reshape(R, -1, 1)
        stored = inits.get("H3_effective_Ac")
        if stored is None or not np.array_equal(stored.reshape(R, A.shape[1], -1), np.concatenate([A, c], axis=2)):
            return "the affine maps (H3_effective_Ac) differ"
        return ""
    if H:
        W = np.array([h["w"] for h in hyps], dtype=np.float64)
        b = np.array([h["b"] for h in hyps], dtype=np.float64)
        if "H1_hyperplane_W" not in inits or not np.array_equal(inits["H1_hyperplane_W"], W) \
                or not np.array_equal(inits["H1_hyperplane_b"], b):
            return "the hyperplanes (H1_hyperplane_W, H1_hyperplane_b) differ"
    A = np.array([c["A"] for c in cells], dtype=np.float64)
    c = np.array([c["c"] for c in cells], dtype=np.float64)
    if not (np.array_equal(inits.get("H3_effective_A"), A) and np.array_equal(inits.get("H3_effective_c"), c)):
        return "the affine maps (H3_effective_A, H3_effective_c) differ"
    slots = sorted((int(name.rsplit("_", 1)[1]), value) for name, value in inits.items()
                   if name.startswith("H3_constraint_index_"))
    index = np.array([v for _, v in slots]).reshape(len(slots), R) if slots else np.zeros((0, R), np.int64)
    for a, cell in enumerate(cells):
        want = [h if closed else H + h for h, closed in cell["facets"]]
        have = [int(v) for v in index[:, a] if v != 2 * H]
        if have != want:
            return f"cell {a}'s constraints (H3_constraint_index_*) differ: {have} instead of {want}"
    return ""
