"""Conformance of the ONNX frontend and the op handlers against ONNX's own node tests.

``onnx.backend.test.loader.load_model_tests(kind="node")`` holds the ONNX project's reference
cases (one node, inputs, expected outputs).  For every case whose node is in the handler table
:data:`relucompile.ops.table.OPS`, :func:`check_case` turns weight-like inputs into initializers (only
the data inputs stay network inputs; for Add/Sub/Max/Min/Sum/Mean/Concat every float input is
data), loads the model through the ONNX frontend, and compares

* the IR reference interpreter (float64) and
* the lowered ReluNet (the symbolic path the compiler uses)

with the reference outputs within float32 rounding.  Outcomes: ``pass``, ``fail`` (a bug),
``refused`` (the frontend or handler said the attributes are unsupported: a clear ModelError)
and ``skip`` (not a float case, or an output the compiler does not produce, e.g. MaxPool's
Indices).  ``python -m relucompile.frontends.conformance`` prints the per-op table.

Example (not run as a doctest: reading ONNX's node-test catalogue takes ~15 s of CPU; the
conformance tests in tests/test_ops.py run it):
    >>> counts = conformance_counts(ops=["Abs"])                      # doctest: +SKIP
    >>> counts["Abs"]                                                 # doctest: +SKIP
    {'pass': 1, 'fail': 0, 'refused': 0, 'skip': 0}
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from relucompile.errors import UserError
from relucompile.frontends.onnx_frontend import load_onnx
from relucompile.ops.interpreter import run
from relucompile.ops.table import OPS
from relucompile.passes.lowering import lower
from relucompile.numeric.tolerances import CONFORMANCE_RTOL

ALL_INPUTS_ARE_DATA = {"Add", "Sub", "Max", "Min", "Sum", "Mean", "Concat"}
MAX_LOWERED_INPUT = 1024
FLOAT_DTYPES = (np.float32, np.float64, np.float16)


def load_cases(ops: Iterable[str] | None = None) -> list:
    """ONNX node test cases with exactly one node whose op is in ``ops`` (default: all of OPS)."""
    from onnx.backend.test.loader import load_model_tests
    wanted = set(ops) if ops is not None else set(OPS) - {"Affine"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    out = []
    for case in cases:
        model = case.model if case.model is not None else None
        if model is None or len(model.graph.node) != 1 or model.graph.node[0].op_type not in wanted:
            continue
        out.append(case)
    return out


def _as_initializer_model(model: onnx.ModelProto, inputs: list[np.ndarray]) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """The case's model with weight-like inputs turned into initializers; returns the data inputs."""
    g = model.graph
    op = g.node[0].op_type
    keep, feeds, inits = [], [], []
    for i, (vi, value) in enumerate(zip(g.input, inputs)):
        is_float = np.asarray(value).dtype in FLOAT_DTYPES
        if is_float and (i == 0 or op in ALL_INPUTS_ARE_DATA):
            keep.append(vi)
            feeds.append(np.asarray(value))
        else:
            inits.append(numpy_helper.from_array(np.asarray(value), vi.name))
    graph = helper.make_graph(list(g.node), g.name, keep, list(g.output), inits)
    new = helper.make_model(graph, opset_imports=list(model.opset_import))
    new.ir_version = model.ir_version
    return new, feeds


def check_case(case) -> tuple[str, str]:
    """Run one ONNX node case; returns (outcome, detail)."""
    model = case.model
    node = model.graph.node[0]
    inputs, outputs = case.data_sets[0]
    if len(inputs) < len(model.graph.input):  # optional trailing inputs left out of the data
        return "skip", "inputs missing from the data set"
    if node.op_type != "Split" and (len([o for o in node.output if o]) > 1 or len(model.graph.output) > 1):
        return "skip", "several outputs (e.g. Indices or a mask) are not produced by the compiler"
    want = np.concatenate([np.asarray(o).reshape(-1) for o in outputs]) if outputs else np.zeros(0)
    if want.dtype not in FLOAT_DTYPES or not inputs or np.asarray(inputs[0]).dtype not in FLOAT_DTYPES:
        return "skip", "not a float case"
    if want.size == 0 or any(np.asarray(i).size == 0 and np.asarray(i).dtype in FLOAT_DTYPES for i in inputs):
        return "skip", "empty tensor"
    proto, feeds = _as_initializer_model(model, list(inputs))
    if not feeds:
        return "skip", "no float data input"
    try:
        graph = load_onnx(proto)
        x = np.concatenate([f.astype(np.float64).reshape(-1) for f in feeds])
        got = np.asarray(run(graph, x), dtype=np.float64)
        lowered = got  # symbolic lowering is dense in the input size: only for small inputs
        if x.size <= MAX_LOWERED_INPUT:
            lowered = lower(graph).forward(x.reshape(1, -1))[0]
    except UserError as exc:
        return "refused", str(exc)
    want = want.astype(np.float64)
    if got.size != want.size:
        return "fail", f"shape {list(got.shape)} != reference {list(want.shape)}"
    tol = CONFORMANCE_RTOL * (1.0 + np.abs(want).max(initial=0.0))
    err = max(np.abs(got.reshape(-1) - want.reshape(-1)).max(initial=0.0),
              np.abs(lowered.reshape(-1) - want.reshape(-1)).max(initial=0.0))
    if err <= tol:
        return "pass", ""
    case_tol = case.atol + case.rtol * np.abs(want).max(initial=0.0)
    if err <= case_tol:  # a few cases list hand-rounded reference values (4 digits)
        return "pass", f"max error {err:.3g}: within the case's own tolerance (rounded reference values)"
    return "fail", f"max error {err:.3g} > {tol:.3g}"


def conformance_results(ops: Iterable[str] | None = None) -> dict[str, list[tuple[str, str, str]]]:
    """op -> [(case name, outcome, detail)] over the ONNX node tests of ``ops``."""
    results: dict[str, list] = defaultdict(list)
    for case in load_cases(ops):
        try:
            outcome, detail = check_case(case)
        except Exception as exc:  # a crash is a failure, reported with its type
            outcome, detail = "fail", f"{type(exc).__name__}: {exc}"
        results[case.model.graph.node[0].op_type].append((case.name, outcome, detail))
    return dict(results)


def conformance_counts(ops: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """op -> {"pass": n, "fail": n, "refused": n, "skip": n}."""
    out = {}
    for op, rows in sorted(conformance_results(ops).items()):
        counts = {"pass": 0, "fail": 0, "refused": 0, "skip": 0}
        for _, outcome, _ in rows:
            counts[outcome] += 1
        out[op] = counts
    return out


if __name__ == "__main__":  # python -m relucompile.frontends.conformance [-v]
    import sys
    results = conformance_results()
    for op, rows in sorted(results.items()):
        counts = {k: sum(1 for r in rows if r[1] == k) for k in ("pass", "fail", "refused", "skip")}
        print(f"{op:20s} " + " ".join(f"{k}={v}" for k, v in counts.items()))
        if "-v" in sys.argv:
            for name, outcome, detail in rows:
                if outcome != "pass":
                    print(f"    {name}: {outcome}: {detail}")
