"""ONNX -> graph IR.

Handles what real exporters produce: IR version 3 onward and opsets 7 onward, initializers
also listed in ``graph.input``, symbolic batch dimensions, nodes that are not topologically
sorted, Constant nodes, weight-first MatMul (the IR keeps MatMul's operand order).  Ops that are
not piecewise linear are refused with one line naming file, node, op and why.

Example:
    >>> graph = load_onnx("../shared/data/vnncomp-test/test_nano.onnx")   # doctest: +SKIP
    >>> graph                                                              # doctest: +SKIP
    Graph('test_nano.onnx', 4 nodes: Input Constant MatMul Relu)
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.errors import ModelError, UserError
from compiler.ir import Graph
from compiler.ops import NOT_PIECEWISE_LINEAR, OPS

FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def read_model(model: str | os.PathLike | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Load a model from a path (clear error if missing or not ONNX) or pass a ModelProto through."""
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "<ModelProto>"
    path = os.fspath(model)
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    try:
        return onnx.load(path), path
    except Exception as exc:  # onnx raises DecodeError and others
        raise UserError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?") for d in t.shape.dim]


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        out[a.name] = v
    return out


def _constant_value(node: onnx.NodeProto, attrs: dict[str, Any], source: str) -> np.ndarray:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key])
    raise ModelError(source, node.name or node.output[0], "Constant", "unsupported Constant attribute")


def _sorted_nodes(graph: onnx.GraphProto, known: set[str], source: str) -> list[onnx.NodeProto]:
    """Nodes in a topological order (files are not always sorted); stable otherwise."""
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    available = set(known)
    while pending:
        progress = [n for n in pending if all(not i or i in available for i in n.input)]
        if not progress:
            missing = sorted({i for n in pending for i in n.input if i and i not in available})
            n = pending[0]
            raise ModelError(source, n.name or n.output[0], n.op_type,
                             f"inputs never produced (cycle or dangling edge): {', '.join(missing[:3])}")
        ids = {id(n) for n in progress}
        ordered.extend(progress)
        available.update(o for n in progress for o in n.output)
        pending = [n for n in pending if id(n) not in ids]
    return ordered


def load_onnx(model: str | os.PathLike | onnx.ModelProto) -> Graph:
    """Translate an ONNX model to the IR; record its input/output signature in ``graph.meta``."""
    proto, path = read_model(model)
    source = os.path.basename(path) if not isinstance(model, onnx.ModelProto) else path
    g = Graph(source)
    onnx_graph = proto.graph
    init_names = {t.name for t in onnx_graph.initializer}
    inputs = [i for i in onnx_graph.input if i.name not in init_names]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ModelError(source, "", "", f"exactly one network input is supported, found {len(inputs)} ({names})")
    if len(onnx_graph.output) != 1:
        names = ", ".join(o.name for o in onnx_graph.output)
        raise ModelError(source, "", "", f"exactly one network output is supported, found {len(onnx_graph.output)} ({names})")
    inp, out = inputs[0], onnx_graph.output[0]
    elem = inp.type.tensor_type.elem_type
    if elem not in FLOAT_TYPES:
        raise ModelError(source, inp.name, "Input", f"input type {onnx.TensorProto.DataType.Name(elem)} is not a float type")
    dims = _dims(inp)
    if not dims and not inp.type.tensor_type.HasField("shape"):
        raise ModelError(source, inp.name, "Input", "the input has no shape")
    ir_shape = tuple(d if isinstance(d, int) else 1 for d in dims)
    g.add(inp.name, "Input", shape=ir_shape)
    g.meta.update(input_name=inp.name, input_dims=dims, input_elem_type=elem, output_name=out.name,
                  output_dims=_dims(out), output_elem_type=out.type.tensor_type.elem_type or elem,
                  opset=max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0),
                  ir_version=proto.ir_version)
    for t in onnx_graph.initializer:
        g.add(t.name, "Constant", value=numpy_helper.to_array(t))
    produced_by: dict[str, str] = {}
    for node in _sorted_nodes(onnx_graph, {inp.name} | init_names, source):
        label = node.name or node.output[0]
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise ModelError(source, label, op, f"op domain '{node.domain}' is not supported")
        if op in NOT_PIECEWISE_LINEAR:
            raise ModelError(source, label, op, NOT_PIECEWISE_LINEAR[op])
        if op not in OPS or op == "Affine":
            supported = ", ".join(sorted(k for k in OPS if k != "Affine"))
            raise ModelError(source, label, op, f"op not supported (supported: {supported})")
        attrs = _attrs(node)
        if op == "Reshape" and "shape" in attrs:  # opset < 5 carries the shape as an attribute
            g.add(node.output[0] + "/shape", "Constant", value=np.asarray(attrs.pop("shape")))
            node_inputs = [node.input[0], node.output[0] + "/shape"]
        else:
            node_inputs = [produced_by.get(i, i) for i in node.input]
        value = _constant_value(node, attrs, source) if op == "Constant" else None
        g.add(node.output[0], op, [] if op == "Constant" else node_inputs,
              attrs={} if op == "Constant" else attrs, value=value, origin=label)
        for extra in node.output[1:]:
            produced_by[extra] = f"<unsupported second output of {label}>"
    if out.name not in g.dag:
        raise ModelError(source, out.name, "", "the graph output is not produced by any node")
    g.outputs = [out.name]
    for name in g.topological_order():  # secondary outputs (e.g. Dropout's mask) must be unused
        for i in g.node(name).inputs:
            if i.startswith("<unsupported"):
                raise ModelError(source, g.node(name).origin, g.node(name).op, f"uses {i[1:-1]}")
    g.remove_unused()
    return g
