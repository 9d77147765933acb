"""ONNX -> graph IR.

Handles what real exporters produce: IR version 3 onward and opsets 7 onward, initializers
also listed in ``graph.input``, symbolic batch dimensions, nodes that are not topologically
sorted, Constant nodes, weight-first MatMul (the IR keeps MatMul's operand order).  Ops that are
not piecewise linear are refused with one line naming file, node, op and why.

Several graph inputs become one flat input ``concatenated_inputs`` (graph.input order, each
flattened row-major) and several outputs one flat output ``concatenated_outputs``
(graph.output order); docs/ops.md describes the convention.  The shallow ONNX model has the
source's inputs and outputs again (backends/onnx_backend.py).

Example:
    >>> from relucompile.examples import tiny_mlp_path
    >>> load_onnx(tiny_mlp_path())
    Graph('tiny_mlp.onnx', 15 nodes: Input Constant Constant Constant Constant Constant Constant MatMul Add Relu MatMul Add Relu MatMul Add)
"""
from __future__ import annotations

import functools
import io
import os
from typing import Any

import numpy as np
import onnx
import onnx.external_data_helper
from onnx import numpy_helper

from relucompile.errors import ModelError, UserError, regular_input_file
from relucompile.limits import check_time
from relucompile.ir.graph import Graph
from relucompile.ir.signature import ModelSignature
from relucompile.ops.table import NOT_PIECEWISE_LINEAR, OPS, unsupported_attributes

FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def read_model(model: str | os.PathLike | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Load a model from a path (clear error if missing or not ONNX) or pass a ModelProto through."""
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "<ModelProto>"
    proto, _ = read_model_file(model)
    return proto, os.fspath(model)


def read_model_file(path: str | os.PathLike) -> tuple[onnx.ModelProto, bytes]:
    """Read an ONNX file once: the parsed model (external data loaded, as ``onnx.load`` does)
    and the file's bytes (for its hash).  Clear error if missing or not ONNX.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> proto, data = read_model_file(tiny_mlp_path())
        >>> proto.SerializeToString() == data
        True
    """
    path = regular_input_file(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        proto = onnx.load_model(io.BytesIO(data), format=_file_format(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others
        raise UserError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    _check_external_data_files(proto, path)
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, os.path.dirname(path))
    except Exception as exc:  # onnx raises DecodeError and others
        raise UserError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    return proto, data


def _check_external_data_files(proto: onnx.ModelProto, path: str) -> None:
    """Every external-data file the model names is a regular file (not a FIFO or a device that
    would block the read or feed it without end); one line naming the tensor and the file."""
    folder = os.path.dirname(path)
    for tensor in onnx.external_data_helper._get_all_tensors(proto):
        if not onnx.external_data_helper.uses_external_data(tensor):
            continue
        location = onnx.external_data_helper.ExternalDataInfo(tensor).location
        regular_input_file(os.path.join(folder, location),
                           label=f"{path}: tensor '{tensor.name}': external data {location!r}")


def _file_format(path: str) -> str:
    """The serialization format ``onnx.load`` infers from the extension (protobuf by default)."""
    return onnx.serialization.registry.get_format_from_file_extension(os.path.splitext(path)[1]) or "protobuf"


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?") for d in t.shape.dim]


def _attrs(node: onnx.NodeProto, source: str = "") -> dict[str, Any]:
    try:
        return _decode_attrs(node)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise ModelError(source, node.name or (node.output[0] if node.output else ""), node.op_type,
                         f"an attribute cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None


def _decode_attrs(node: onnx.NodeProto) -> dict[str, Any]:
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


def _type_name(elem: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem)
    except ValueError:
        return f"#{elem} (not an ONNX type)"


def _tensor(t: onnx.TensorProto, source: str) -> np.ndarray:
    """An initializer's array; one line naming it when its data does not match its dims or type."""
    try:
        return numpy_helper.to_array(t)
    except Exception as exc:  # onnx raises ValueError, TypeError, KeyError, ... for inconsistent tensors
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ModelError(source, t.name, "initializer", f"its data does not match its dims {list(t.dims)} and "
                         f"type {_type_name(t.data_type)} ({why})") from None


def _constant_value(node: onnx.NodeProto, attrs: dict[str, Any], source: str) -> np.ndarray:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key])
    raise ModelError(source, node.name or node.output[0], "Constant", "unsupported Constant attribute")


def _sorted_nodes(graph: onnx.GraphProto, known: set[str], source: str) -> list[onnx.NodeProto]:
    """Nodes in a topological order (files are not always sorted); the file's order among nodes
    that are ready together.  Kahn's algorithm: linear in nodes and edges."""
    import heapq
    nodes = list(graph.node)
    producer: dict[str, int] = {}
    for index, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer.setdefault(o, index)
    waiting = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for index, n in enumerate(nodes):
        for i in set(n.input):
            if i and i not in known and i in producer and producer[i] != index:
                waiting[index] += 1
                users[producer[i]].append(index)
    blocked = {index for index, n in enumerate(nodes)
               if any(i and i not in known and i not in producer for i in n.input)}
    ready = [index for index in range(len(nodes)) if waiting[index] == 0 and index not in blocked]
    heapq.heapify(ready)
    ordered: list[onnx.NodeProto] = []
    while ready:
        index = heapq.heappop(ready)
        ordered.append(nodes[index])
        for user in users[index]:
            waiting[user] -= 1
            if waiting[user] == 0 and user not in blocked:
                heapq.heappush(ready, user)
    if len(ordered) < len(nodes):
        done = {id(n) for n in ordered}
        pending = [n for n in nodes if id(n) not in done]
        available = known | {o for n in ordered for o in n.output}
        missing = sorted({i for n in pending for i in n.input if i and i not in available})
        n = pending[0]
        raise ModelError(source, n.name or n.output[0], n.op_type,
                         f"inputs never produced (cycle or dangling edge): {', '.join(missing[:3])}")
    return ordered


@functools.lru_cache(maxsize=None)
def _schema(op: str, opset: int) -> onnx.defs.OpSchema | None:
    """ONNX's schema of ``op`` at ``opset`` (None if it has none), looked up once per op: a
    lookup costs milliseconds, which a model of 10,000 nodes would pay 20,000 times."""
    try:
        return onnx.defs.get_schema(op, opset, "")
    except Exception:
        return None


def _check_arity(source: str, label: str, op: str, node: onnx.NodeProto, opset: int | None) -> None:
    """The node has as many inputs and outputs as ONNX's schema of ``op`` allows (e.g. Relu: one)."""
    schema = _schema(op, max(int(opset or 0), 1))
    if schema is None:   # no schema at this opset: the op handler checks what it needs
        return
    given = len(node.input)
    while given and not node.input[given - 1]:     # trailing empty names are omitted optional inputs
        given -= 1
    if not schema.min_input <= given <= schema.max_input:
        allowed = (f"{schema.min_input}" if schema.min_input == schema.max_input
                   else f"{schema.min_input} to {schema.max_input}")
        raise ModelError(source, label, op, f"takes {allowed} inputs, got {given}")
    if not node.output or not node.output[0]:
        raise ModelError(source, label, op, "has no output")


def _check_attribute_types(source: str, label: str, op: str, node: onnx.NodeProto, opset: int | None) -> None:
    """Every attribute has the type ONNX's schema of ``op`` gives it (e.g. Gemm's transB is an
    integer: ``transB=1.5`` is refused, not read as true)."""
    schema = _schema(op, max(int(opset or 0), 1))
    if schema is None:   # no schema at this opset: the op handler checks what it needs
        return
    for attribute in node.attribute:
        declared = schema.attributes.get(attribute.name)
        if declared is None or attribute.type == onnx.AttributeProto.UNDEFINED:
            continue
        if int(declared.type) != int(attribute.type):
            raise ModelError(source, label, op, f"attribute {attribute.name} is of type "
                             f"{onnx.AttributeProto.AttributeType.Name(attribute.type)}; ONNX's {op} takes "
                             f"{onnx.AttributeProto.AttributeType.Name(int(declared.type))}")


def _all_finite(value: np.ndarray) -> bool:
    """No NaN or infinity in a float array; a finite sum proves it without a full-size temporary
    (a NaN or infinity makes the sum non-finite; an overflowing sum falls back to the full check)."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.sum(value))) or bool(np.all(np.isfinite(value)))


def _check_finite(source: str, label: str, op: str, node: onnx.NodeProto, attrs: dict[str, Any],
                  constants: dict[str, np.ndarray], finite: set[str] | None = None) -> None:
    """Every float parameter of a node is finite (a NaN or infinite weight would make the shallow
    model return NaN where the source returns numbers); Clip's bounds may be +-inf (no bound).
    ``finite``: names of constants already found finite (each is scanned once), added to."""
    for position, name in enumerate(node.input):
        value = constants.get(name)
        if value is None or value.dtype.kind != "f" or (finite is not None and name in finite):
            continue
        if _all_finite(value):
            if finite is not None:
                finite.add(name)
            continue
        if op == "Clip" and position in (1, 2) and not np.any(np.isnan(value)):
            continue
        what = "NaN" if np.any(np.isnan(value)) else "infinite"
        raise ModelError(source, label, op, f"input {name!r} holds {what} values; parameters must be finite")
    for key, value in attrs.items():
        array = np.asarray(value) if isinstance(value, (float, list, np.ndarray)) else None
        if array is None or array.dtype.kind != "f" or np.all(np.isfinite(array)):
            continue
        if op == "Clip" and key in ("min", "max") and not np.any(np.isnan(array)):
            continue
        raise ModelError(source, label, op, f"attribute {key} is {array.reshape(-1)[0]!r}; parameters must be finite")


INPUTS_NAME = "concatenated_inputs"
OUTPUTS_NAME = "concatenated_outputs"


def _concatenated_inputs(g: Graph, inputs: list, shapes: list[tuple[int, ...]]) -> None:
    """Several inputs: one flat Input ``concatenated_inputs`` = [flatten(x_1), ..., flatten(x_k)]
    (graph.input order, each flattened in row-major order), sliced back into the original tensors."""
    total = sum(int(np.prod(s)) for s in shapes)
    g.add(INPUTS_NAME, "Input", shape=(total,))
    offset = 0
    for inp, shape in zip(inputs, shapes):
        size = int(np.prod(shape))
        base = f"{INPUTS_NAME}/{inp.name}"
        for key, value in (("starts", [offset]), ("ends", [offset + size]), ("axes", [0]), ("shape", list(shape))):
            g.add(f"{base}/{key}", "Constant", value=np.array(value, dtype=np.int64))
        g.add(f"{base}/slice", "Slice", [INPUTS_NAME, f"{base}/starts", f"{base}/ends", f"{base}/axes"], origin=inp.name)
        g.add(inp.name, "Reshape", [f"{base}/slice", f"{base}/shape"], origin=inp.name)
        offset += size
    g.signature = g.signature.replace(input_name=INPUTS_NAME, input_dims=(total,))


def _concatenated_outputs(g: Graph, names: list[str]) -> None:
    """Several outputs: one flat output ``concatenated_outputs`` in graph.output order."""
    g.add(f"{OUTPUTS_NAME}/flat", "Constant", value=np.array([-1], dtype=np.int64))
    flats = []
    for name in names:
        g.add(f"{OUTPUTS_NAME}/{name}", "Reshape", [name, f"{OUTPUTS_NAME}/flat"], origin=name)
        flats.append(f"{OUTPUTS_NAME}/{name}")
    g.add(OUTPUTS_NAME, "Concat", flats, attrs={"axis": 0})
    g.outputs = [OUTPUTS_NAME]
    g.signature = g.signature.replace(output_name=OUTPUTS_NAME, output_dims=(None,))


def load_onnx(model: str | os.PathLike | onnx.ModelProto, source: str | None = None) -> Graph:
    """Translate an ONNX model to the IR; record its input/output signature in ``graph.signature``.
    ``source`` names the model in messages (default: the file's name, or the ModelProto's graph name)."""
    proto, path = read_model(model)
    if source is None:
        source = os.path.basename(path) if not isinstance(model, onnx.ModelProto) else path
    g = Graph(source)
    onnx_graph = proto.graph
    init_names = {t.name for t in onnx_graph.initializer}
    inputs = [i for i in onnx_graph.input if i.name not in init_names]
    if not inputs:
        raise ModelError(source, "", "", "the model has no network input")
    if not onnx_graph.output:
        raise ModelError(source, "", "", "the model has no output")
    for inp in inputs:
        elem = inp.type.tensor_type.elem_type
        if elem not in FLOAT_TYPES:
            raise ModelError(source, inp.name, "Input", f"input type {_type_name(elem)} is not a float type")
        if not inp.type.tensor_type.HasField("shape"):
            raise ModelError(source, inp.name, "Input", "the input has no shape")
        if any(d == 0 for d in _dims(inp)):
            raise ModelError(source, inp.name, "Input", "the input is an empty tensor")
    ir_shapes = [tuple(d if isinstance(d, int) else 1 for d in _dims(i)) for i in inputs]
    elem = inputs[0].type.tensor_type.elem_type
    out = onnx_graph.output[0] if len(onnx_graph.output) == 1 else None
    g.signature = ModelSignature(
        input_elem_type=elem, output_elem_type=(out or onnx_graph.output[0]).type.tensor_type.elem_type or elem,
        opset=max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0),
        ir_version=proto.ir_version,
        inputs=tuple((i.name, tuple(_dims(i))) for i in inputs), outputs=tuple((o.name, tuple(_dims(o))) for o in onnx_graph.output))
    if len(inputs) == 1:
        g.add(inputs[0].name, "Input", shape=ir_shapes[0])
        g.signature = g.signature.replace(input_name=inputs[0].name, input_dims=tuple(_dims(inputs[0])))
    else:
        _concatenated_inputs(g, inputs, ir_shapes)
    if out is not None:   # an output without a declared shape gets its shape from the lowering
        declared = tuple(_dims(out)) if out.type.tensor_type.HasField("shape") else None
        g.signature = g.signature.replace(output_name=out.name, output_dims=declared)
    constants: dict[str, np.ndarray] = {}
    for t in onnx_graph.initializer:
        check_time()
        constants[t.name] = _tensor(t, source)
        g.add(t.name, "Constant", value=constants[t.name])
    produced_by: dict[str, str] = {}
    finite: set[str] = set()
    for node in _sorted_nodes(onnx_graph, {i.name for i in inputs} | init_names, source):
        check_time()   # the run's time budget (relucompile.limits)
        label = node.name or node.output[0]
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise ModelError(source, label, op, f"op domain '{node.domain}' is not supported")
        if op in NOT_PIECEWISE_LINEAR:
            raise ModelError(source, label, op, NOT_PIECEWISE_LINEAR[op])
        if op not in OPS or op == "Affine":
            supported = ", ".join(sorted(k for k in OPS if k != "Affine"))
            raise ModelError(source, label, op, f"op not supported (supported: {supported})")
        attrs = _attrs(node, source)
        unknown = unsupported_attributes(op, attrs) if op != "Constant" else []
        if unknown:
            raise ModelError(source, label, op, f"attribute {', '.join(unknown)} is not supported")
        _check_finite(source, label, op, node, attrs, constants, finite)
        _check_arity(source, label, op, node, g.signature.opset)
        _check_attribute_types(source, label, op, node, g.signature.opset)
        if op == "Reshape" and "shape" in attrs:  # opset < 5 carries the shape as an attribute
            g.add(node.output[0] + "/shape", "Constant", value=np.asarray(attrs.pop("shape")))
            node_inputs = [node.input[0], node.output[0] + "/shape"]
        else:
            node_inputs = [produced_by.get(i, i) for i in node.input]
        value = _constant_value(node, attrs, source) if op == "Constant" else None
        if value is not None:
            constants[node.output[0]] = value
        if op == "Split":  # one IR node per output, each computing its own part
            for index, name in enumerate(node.output):
                if name:
                    g.add(name, op, node_inputs, attrs=dict(attrs, output_index=index, num_parts=len(node.output)),
                          origin=label)
            continue
        g.add(node.output[0], op, [] if op == "Constant" else node_inputs,
              attrs={} if op == "Constant" else attrs, value=value, origin=label)
        for extra in node.output[1:]:
            produced_by[extra] = f"<unsupported second output of {label}>"
    input_names = {i.name for i in inputs}
    for o in onnx_graph.output:
        if not o.name or o.name in input_names:
            raise ModelError(source, o.name, "Output", "a graph output must be a named tensor that is not an input")
        if o.name not in g.dag:
            raise ModelError(source, o.name, "", "the graph output is not produced by any node")
    if len(onnx_graph.output) == 1:
        g.outputs = [onnx_graph.output[0].name]
    else:
        _concatenated_outputs(g, [o.name for o in onnx_graph.output])
    for name in g.topological_order():  # secondary outputs (e.g. Dropout's mask) must be unused
        for i in g.node(name).inputs:
            if i.startswith("<unsupported"):
                raise ModelError(source, g.node(name).origin, g.node(name).op, f"uses {i[1:-1]}")
    g.remove_unused()
    return g
