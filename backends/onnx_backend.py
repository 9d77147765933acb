"""ShallowNet -> ONNX (docs/design.md section 4).

The model has the source model's input and output names, shapes and dtypes (a drop-in
replacement), computes internally in float64, and is compact: hyperplanes are one Gemm
(|H| x d), each cell's constraints are Gather indices (|R| x k), the effective maps one table
(|R| x m x d); never a dense |R| x |H| matrix.  Node names follow section 2:

* ``H1_*``: u+ = relu(x), u- = relu(-x), q_h = relu(-h(x));
* ``H2_*``: lambda_h = [q_h > 0] (h < 0), nu_h = [q_h == 0] (h >= 0), by comparisons, since IEEE
  floats have no 0 * inf = 0;
* ``H3_*``: V_a = violated constraints of cell a (closed ones count lambda, strict ones nu); the
  cell with V_a = 0 is chosen; where rounding leaves zero or several such cells, the cell of
  least total violation; its affine map l_a(u+ - u-) is the output;
* outside the domain the output is NaN.

Example (the public API's ``relucompile.shallow_onnx`` passes the source model's signature):
    >>> import onnxruntime as ort
    >>> from relucompile import compile_network, Domain
    >>> from relucompile.examples.random_nets import random_mlp
    >>> net = random_mlp(2, [3], 1, seed=0)
    >>> model = to_onnx(compile_network(net, Domain.box([-1, -1], [1, 1])), {"input_name": "x", "output_name": "y"})
    >>> session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> x = np.array([[0.5, -0.25], [3.0, 0.0]], np.float32)          # the second point is outside the box
    >>> y = session.run(None, {"x": x})[0]
    >>> bool(abs(y[0, 0] - net.forward(x[:1].astype(np.float64))[0, 0]) < 1e-6), bool(np.isnan(y[1, 0]))
    (True, True)
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucompile.shallow.net import ShallowNet

OPSET = 17
PREFIX = "relucompile/"
NP_OF = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}


def _outward(values: np.ndarray, dtype, direction: float) -> np.ndarray:
    """Round bounds to the input dtype, outward, so a point given in that dtype is judged
    inside whenever its exact value is inside up to that rounding."""
    rounded = values.astype(dtype).astype(np.float64)
    bad = (rounded > values) if direction < 0 else (rounded < values)
    stepped = np.nextafter(values.astype(dtype), np.array(direction * np.inf, dtype=dtype)).astype(np.float64)
    return np.where(bad, stepped, rounded)


def _dims(dims) -> list:
    return [d if isinstance(d, int) else (d if d != "?" else None) for d in dims]


def to_onnx(shallow: ShallowNet, signature: dict, source_bytes: bytes | None = None,
            version: str = "0", extra_metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """Build the shallow ONNX model.  ``signature`` holds the source's input/output names,
    dims and element types (``graph.meta`` of the ONNX frontend, or defaults);
    ``extra_metadata`` is added to ``metadata_props`` (e.g. the certificate of ``--certify``)."""
    d, m, R, H = shallow.d, shallow.m, shallow.num_cells, shallow.num_hyperplanes
    in_name = signature.get("input_name", "input")
    out_name = signature.get("output_name", "output")
    in_type = signature.get("input_elem_type", TensorProto.FLOAT)
    out_type = signature.get("output_elem_type", in_type)
    in_dims = signature.get("input_dims", ["N", d])
    out_dims = signature.get("output_dims", ["N", m])
    nodes, inits = [], []

    def const(name: str, value) -> str:  # internal names are prefixed: no clash with the model's
        name = PREFIX + name
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        name = PREFIX + name
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    x64 = node("Cast", [in_name], "x_float64", to=TensorProto.DOUBLE)
    x = node("Reshape", [x64, const("flat_shape", np.array([-1, d], np.int64))], "x")
    # domain membership (NaN outside)
    domain = shallow.domain
    if domain.kind == "box":
        dtype = NP_OF.get(in_type, np.float64)
        lo = const("domain_lower", _outward(domain.lower, dtype, -1.0))
        hi = const("domain_upper", _outward(domain.upper, dtype, +1.0))
        ok = node("And", [node("GreaterOrEqual", [x, lo], "domain_ge_lower"),
                          node("LessOrEqual", [x, hi], "domain_le_upper")], "domain_ok_coords")
    elif domain.kind == "polytope":
        G, g = domain.inequalities()
        lhs = node("MatMul", [x, const("domain_G_T", G.T.copy())], "domain_Gx")
        ok = node("LessOrEqual", [lhs, const("domain_g", g + 1e-9 * (1 + np.abs(g)))], "domain_ok_rows")
    else:
        ok = node("Equal", [x, x], "domain_ok_coords")  # False only for NaN inputs
    inside = node("Cast", [node("ReduceMin", [node("Cast", [ok], "domain_ok_int", to=TensorProto.INT32)],
                                "domain_ok_min", axes=[1], keepdims=0)], "inside", to=TensorProto.BOOL)
    # H1
    u_pos = node("Relu", [x], "H1_u_pos")
    u_neg = node("Relu", [node("Neg", [x], "H1_neg_x")], "H1_u_neg")
    u = node("Sub", [u_pos, u_neg], "H1_u")
    if H:
        h = node("Gemm", [u, const("H1_hyperplane_W", shallow.W), const("H1_hyperplane_b", shallow.b)],
                 "H1_h", transB=1)
        q = node("Relu", [node("Neg", [h], "H1_neg_h")], "H1_q")
        zero = const("zero", np.array(0.0))
        lam = node("Cast", [node("Greater", [q, zero], "H2_lambda_bool")], "H2_lambda", to=TensorProto.DOUBLE)
        nu = node("Cast", [node("Equal", [q, zero], "H2_nu_bool")], "H2_nu", to=TensorProto.DOUBLE)
        relu_h = node("Relu", [h], "H1_relu_h")
        # padded per-cell constraint indices into [lambda | nu | 0] and [q | relu(h) | 0]
        counts = np.diff(shallow.cell_ptr)
        k = int(counts.max()) if R else 0
        batch_zero = node("ReduceSum", [node("Mul", [x, zero], "x_times_zero"), const("ax1", np.array([1], np.int64))],
                          "batch_zero", keepdims=1)
        flags = node("Concat", [lam, nu, batch_zero], "H2_flags", axis=1)
        amounts = node("Concat", [q, relu_h, batch_zero], "H2_amounts", axis=1)
        index = np.full((k, R), 2 * H, dtype=np.int64)
        for a in range(R):
            for slot, j in enumerate(range(shallow.cell_ptr[a], shallow.cell_ptr[a + 1])):
                hh = int(shallow.facet_h[j])
                index[slot, a] = hh if shallow.facet_closed[j] else H + hh
        V, amount = None, None
        for slot in range(k):
            idx = const(f"H3_constraint_index_{slot}", index[slot])
            f = node("Gather", [flags, idx], f"H3_flags_{slot}", axis=1)
            a_ = node("Gather", [amounts, idx], f"H3_amount_{slot}", axis=1)
            V = f if V is None else node("Add", [V, f], f"H3_violations_{slot}")
            amount = a_ if amount is None else node("Add", [amount, a_], f"H3_violation_amount_{slot}")
        claim = node("Cast", [node("Equal", [V, zero], "H3_claim_bool")], "H3_claim", to=TensorProto.DOUBLE)
        n_claim = node("ReduceSum", [claim, const("ax1b", np.array([1], np.int64))], "H3_num_claims", keepdims=0)
        first = node("ArgMax", [claim], "H3_claiming_cell", axis=1, keepdims=0)
        least = node("ArgMin", [amount], "H3_least_violation_cell", axis=1, keepdims=0)
        one = const("one", np.array(1.0))
        cell = node("Where", [node("Equal", [n_claim, one], "H3_unique_claim"), first, least], "H3_cell")
    else:
        cell = node("Cast", [node("ReduceSum", [node("Mul", [x, const("zero_d", np.array(0.0))], "xz"),
                                                const("ax1c", np.array([1], np.int64))], "cellzero", keepdims=0)],
                    "H3_cell", to=TensorProto.INT64)
    A = node("Gather", [const("H3_effective_A", shallow.A), cell], "H3_A_of_cell", axis=0)
    c = node("Gather", [const("H3_effective_c", shallow.c), cell], "H3_c_of_cell", axis=0)
    y = node("Add", [node("Einsum", [A, u], "H3_Ax", equation="nmd,nd->nm"), c], "out_affine")
    nan = const("nan", np.array(np.nan))
    y = node("Where", [node("Unsqueeze", [inside, const("ax1d", np.array([1], np.int64))], "inside_col"), y, nan],
             "out_with_domain")
    y = node("Cast", [y], "out_cast", to=out_type)
    symbolic = [i for i, v in enumerate(out_dims) if not isinstance(v, int)]
    shape = [(-1 if i in symbolic else v) for i, v in enumerate(out_dims)] if len(symbolic) <= 1 else [-1, m]
    nodes.append(helper.make_node("Reshape", [y, const("out_shape", np.array(shape, np.int64))], [out_name],
                                  name="out"))
    graph = helper.make_graph(
        nodes, "relucompile_shallow",
        [helper.make_tensor_value_info(in_name, in_type, _dims(in_dims))],
        [helper.make_tensor_value_info(out_name, out_type, _dims(out_dims))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="relucompile", producer_version=version)
    model.ir_version = 8
    meta = {
        "relucompile_version": version,
        "source_sha256": hashlib.sha256(source_bytes).hexdigest() if source_bytes else "",
        "domain": json.dumps(domain.to_json()),
        "reference_point": json.dumps(shallow.p.tolist()),
        "num_cells": str(R),
        "num_hyperplanes": str(H),
        "layer_sizes": json.dumps(shallow.layer_sizes()),
    }
    meta.update(extra_metadata or {})
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model
