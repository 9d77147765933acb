"""ShallowNet -> ONNX (docs/design.md section 4), in one of two layouts.

The model has the source model's input and output names, shapes and dtypes (a drop-in
replacement), computes internally in float64, and is compact (never a dense |R| x |H| matrix).
Only one H3 unit is non-zero at any input; the layouts differ in how they find it.

``layout="index"`` (the default): the point-location tree of :mod:`relucompile.shallow.locate`.
``levels`` unrolled steps (about log2 |R| / arity) each gather the current node's oriented tests
g = w x + b (H1: ``H1_index_*``), turn their signs into the child's slot (H2: ``H2_index_*``;
``g >= 0`` is the reference point's closed side, ``g < 0`` strict, so boundaries follow the
design's tie-break) and gather the child; the leaf's cell (``H3_cell``) selects the row
[A | c] that is applied to [x, 1].  Memory O(batch (arity d + m d)), whatever |R|; the tree is
one int32 array plus a table of test blocks (one per inner node).  There is always exactly one cell, so no
least-violation fallback is needed: in floats a point within rounding of a tested hyperplane may
take the other branch, into a cell that touches it (error of rounding size).

``layout="layers"``: the literal three-layer network, node names after section 2 (every cell
is evaluated; memory O(batch |R|)):

* ``H1_*``: u+ = relu(x), u- = relu(-x), q_h = relu(-h(x));
* ``H2_*``: lambda_h = [q_h > 0] (h < 0), nu_h = [q_h == 0] (h >= 0), by comparisons, since IEEE
  floats have no 0 * inf = 0;
* ``H3_*``: V_a = violated constraints of cell a (closed ones count lambda, strict ones nu); the
  cell with V_a = 0 is chosen; where rounding leaves zero or several such cells, the cell of
  least total violation; its affine map l_a(u+ - u-) is the output.

Outside the domain the output is NaN in both layouts.

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

import base64
import hashlib
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucompile.ir.network import EMBEDDED_SOURCE_KEY
from relucompile.shallow.net import ShallowNet
from relucompile.numeric.tolerances import GEOMETRIC_TOL

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
            version: str = "0", extra_metadata: dict[str, str] | None = None,
            layout: str = "index") -> onnx.ModelProto:
    """Build the shallow ONNX model.  ``signature`` holds the source's input/output names,
    dims and element types (``graph.meta`` of the ONNX frontend, or defaults);
    ``extra_metadata`` is added to ``metadata_props`` (e.g. the certificate of ``--certify``);
    ``layout``: ``"index"`` (default, the point-location tree finds the cell) or ``"layers"``
    (the literal three-layer form: every cell's constraints are tested)."""
    d, m, R, H = shallow.d, shallow.m, shallow.num_cells, shallow.num_hyperplanes
    in_name = signature.get("input_name", "input")
    out_name = signature.get("output_name", "output")
    in_type = signature.get("input_elem_type", TensorProto.FLOAT)
    out_type = signature.get("output_elem_type", in_type)
    embedding = shallow.net.embedding   # compiled over the free coordinates t = x[free] of the input
    full_d = embedding.d if embedding is not None else d
    in_dims = signature.get("input_dims", ["N", full_d])
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

    inputs = _tensors(signature, "inputs", in_name, in_dims)
    outputs = _tensors(signature, "outputs", out_name, out_dims)
    rows = signature.get("batch_rows", 1)
    flat_name = "x" if embedding is None else "x_input"     # the source's input, flattened per sample
    if len(inputs) == 1:
        x64 = node("Cast", [in_name], "x_float64", to=TensorProto.DOUBLE)
        x_flat = node("Reshape", [x64, const("flat_shape", np.array([-1, full_d], np.int64))], flat_name)
    else:   # several inputs: each flattened per sample, concatenated in graph.input order
        parts = []
        for i, (name, dims) in enumerate(inputs):
            size = _per_sample(dims, rows)
            cast = node("Cast", [name], f"x{i}_float64", to=TensorProto.DOUBLE)
            parts.append(node("Reshape", [cast, const(f"x{i}_flat_shape", np.array([-1, size], np.int64))], f"x{i}"))
        x_flat = node("Concat", parts, flat_name, axis=1)
    if embedding is None:
        x, hull_margin = x_flat, None
    else:   # compiled over the free coordinates: check the fixed ones, then take the free ones
        hull_margin = _embedding_margin(embedding, x_flat, in_type, const, node)
        x = node("Gather", [x_flat, const("free_coordinates", embedding.free)], "x", axis=1)
    domain = shallow.domain
    if layout == "index":
        y = _index_output(shallow, x, in_type, const, node)
        if hull_margin is not None:
            y = node("Add", [y, node("Mul", [node("Sqrt", [hull_margin], "input_sqrt_margin"), const("zero_m", np.array(0.0))],
                                         "input_nan_outside")], "out_with_input_domain")
    elif layout == "layers":
        # domain membership (NaN outside)
        if domain.kind == "box":
            dtype = NP_OF.get(in_type, np.float64)
            lo = const("domain_lower", _outward(domain.lower, dtype, -1.0))
            hi = const("domain_upper", _outward(domain.upper, dtype, +1.0))
            ok = node("And", [node("GreaterOrEqual", [x, lo], "domain_ge_lower"),
                              node("LessOrEqual", [x, hi], "domain_le_upper")], "domain_ok_coords")
        elif domain.kind == "polytope":
            G, g = domain.inequalities()
            lhs = node("MatMul", [x, const("domain_G_T", G.T.copy())], "domain_Gx")
            ok = node("LessOrEqual", [lhs, const("domain_g", g + GEOMETRIC_TOL * (1 + np.abs(g)))], "domain_ok_rows")
        else:
            ok = node("Equal", [x, x], "domain_ok_coords")  # False only for NaN inputs
        inside = node("Cast", [node("ReduceMin", [node("Cast", [ok], "domain_ok_int", to=TensorProto.INT32)],
                                    "domain_ok_min", axes=[1], keepdims=0)], "inside", to=TensorProto.BOOL)
        if hull_margin is not None:
            on_hull = node("GreaterOrEqual", [node("Squeeze", [hull_margin, const("ax1s", np.array([1], np.int64))],
                                                   "input_margin_row"), const("zero_h", np.array(0.0))], "input_inside")
            inside = node("And", [inside, on_hull], "inside_input_domain")
        u = node("Sub", [node("Relu", [x], "H1_u_pos"), node("Relu", [node("Neg", [x], "H1_neg_x")], "H1_u_neg")], "H1_u")
        cell = _layers_cell(shallow, x, u, const, node)
        A = node("Gather", [const("H3_effective_A", shallow.A), cell], "H3_A_of_cell", axis=0)
        c = node("Gather", [const("H3_effective_c", shallow.c), cell], "H3_c_of_cell", axis=0)
        u_row = node("Unsqueeze", [u, const("ax1u", np.array([1], np.int64))], "H3_u_row")
        Ax = node("ReduceSum", [node("Mul", [A, u_row], "H3_A_times_u"), const("ax2u", np.array([2], np.int64))],
                  "H3_Ax", keepdims=0)
        y = node("Add", [Ax, c], "out_affine")
        nan = const("nan", np.array(np.nan))
        y = node("Where", [node("Unsqueeze", [inside, const("ax1d", np.array([1], np.int64))], "inside_col"), y, nan],
                 "out_with_domain")
    else:
        raise ValueError(f"unknown layout {layout!r}: 'index' or 'layers'")
    y = node("Cast", [y], "out_cast", to=out_type)
    if len(outputs) == 1:
        nodes.append(helper.make_node("Reshape", [y, const("out_shape", _target_shape(out_dims, m))], [out_name],
                                      name="out"))
    else:   # several outputs: the columns of each, in graph.output order, in its own shape
        sizes = list(signature.get("output_sizes", ()))
        if len(sizes) != len(outputs) or sum(sizes) != m:
            raise ValueError(f"the signature's output sizes {sizes} do not split the {m} outputs")
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        for j, (name, dims) in enumerate(outputs):
            part = node("Slice", [y, const(f"out{j}_start", offsets[j:j + 1]), const(f"out{j}_end", offsets[j + 1:j + 2]),
                                  const(f"out{j}_axis", np.array([1], np.int64))], f"out{j}_columns")
            nodes.append(helper.make_node("Reshape", [part, const(f"out{j}_shape", _target_shape(dims, sizes[j]))],
                                          [name], name=f"out{j}"))
    graph = helper.make_graph(
        nodes, "relucompile_shallow",
        [helper.make_tensor_value_info(name, in_type, _dims(dims)) for name, dims in inputs],
        [helper.make_tensor_value_info(name, out_type, _dims(dims)) for name, dims in outputs], inits)
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
        "layout": layout,
        "batch_rows": str(signature.get("batch_rows", "")),
        "source_name": shallow.net.source_name,
        EMBEDDED_SOURCE_KEY: base64.b64encode(_source_bytes(shallow, signature, version)).decode("ascii"),
    }
    if embedding is not None:   # the domain in the source's coordinates; p and the cells are in x[free]
        meta["domain"] = json.dumps(embedding.domain.to_json())
        meta["free_coordinates"] = json.dumps(embedding.free.tolist())
    meta.update(extra_metadata or {})
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def _tensors(signature, key: str, name: str, dims) -> list[tuple[str, list]]:
    """(name, dims) of every model input or output (``key``: "inputs" or "outputs"); the one
    concatenated tensor when the source has a single one."""
    listed = list(signature.get(key, ()) or ())
    return [(n, list(t)) for n, t in listed] if len(listed) > 1 else [(name, list(dims))]


def _per_sample(dims, rows: int) -> int:
    """Values per sample of a tensor of ``dims`` (symbolic dims count 1; a fixed batch of
    ``rows`` rows is split off)."""
    return int(np.prod([v if isinstance(v, int) else 1 for v in dims])) // max(rows, 1)


def _target_shape(dims, size: int) -> np.ndarray:
    """The Reshape target giving a (samples, size) tensor the shape ``dims``: a symbolic dim
    becomes -1; with several symbolic dims, (-1, size)."""
    symbolic = [i for i, v in enumerate(dims) if not isinstance(v, int)]
    shape = [(-1 if i in symbolic else v) for i, v in enumerate(dims)] if len(symbolic) <= 1 else [-1, size]
    return np.array(shape, np.int64)


def _source_bytes(shallow: ShallowNet, signature, version: str) -> bytes:
    """The source model's ONNX bytes to embed, so relucompile can read the file back: those it
    was read from, or for a network built from weights that network written as ONNX (float64
    weights: the same numbers)."""
    if shallow.net.source_onnx is not None:
        return shallow.net.source_onnx
    from relucompile.backends.network_onnx import network_onnx
    model = network_onnx(shallow.net, signature if len(_tensors(signature, "inputs", "", [])) <= 1 else None, version)
    return model.SerializeToString()


def _index_output(shallow: ShallowNet, x: str, in_type, const, node) -> str:
    """f(x) through the point-location tree, as few onnxruntime nodes as possible (each node costs
    about a microsecond at batch 1): ``levels`` unrolled steps gather the node's oriented tests
    g = w x + b (bit set: g < 0; g >= 0 is p's closed side); the bits and the node make the slot
    of the child (leaves point to themselves; the last step reads the cell); then the cell's
    [A | c] applied to [x, 1].  Outside the domain 0 * sqrt(margin) turns the output into NaN.
    Memory O(batch * (arity * d + m * d))."""
    index = shallow.locator
    T, d, m = index.arity, shallow.d, shallow.m
    x1 = node("Pad", [x, const("pad_one", np.array([0, 0, 0, 1], np.int64)), const("one", np.array(1.0))],
              "H1_x_with_one", mode="constant")                                   # (n, d+1)
    x1_row = node("Reshape", [x1, const("x1_row_shape", np.array([-1, 1, 1, d + 1], np.int64))], "H1_x_row")
    margin = _domain_margin(shallow.domain, x1, in_type, const, node)
    tree, blocks = index.flat()
    zero = const("zero", np.array(0.0))
    axes_13 = const("axes_1_3", np.array([1, 3], np.int64))
    current = None
    if index.levels:
        # [x, 1] repeated per test, so the per-level products need no broadcasting (slow in onnxruntime)
        x1_tests = node("Expand", [x1_row, const("tests_shape", np.array([1, 1, T, 1], np.int64))], "H1_x_per_test")
        ones = node("Cast", [node("Less", [node("Slice", [x1, const("s_last", np.array([d], np.int64)),
                                                          const("s_end", np.array([d + 1], np.int64)),
                                                          const("s_ax", np.array([1], np.int64))], "x1_last"),
                                           const("two", np.array(2.0))], "ones_bool")], "ones_int", to=TensorProto.INT32)
        tree_name = const("H2_index_tree", tree)
        blocks_name = const("H1_index_test_blocks", blocks)
        weights = const("H2_index_slot_weights", np.concatenate([1 << np.arange(T), [1, 1]]).astype(np.int32)[:, None])
    for level in range(index.levels):
        if level == 0:   # the root: its tests are one constant matrix
            values = node("MatMul", [x1, const("H1_index_root_tests", blocks[tree[0]].T.copy())], "H1_index_values_0")
        else:
            block = node("Gather", [tree_name, current], f"H1_index_block_{level}", axis=0)          # (n, 1)
            g = node("Gather", [blocks_name, block], f"H1_index_tests_{level}", axis=0)            # (n, 1, T, d+1)
            values = node("ReduceSum", [node("Mul", [g, x1_tests], f"H1_index_products_{level}"), axes_13],
                          f"H1_index_values_{level}", keepdims=0)                                  # (n, T)
        bits = node("Cast", [node("Less", [values, zero], f"H2_index_below_{level}")], f"H2_index_bits_{level}",
                    to=TensorProto.INT32)
        if level == 0:
            code = node("MatMul", [bits, const("H2_index_bit_weights", (1 << np.arange(T)).astype(np.int32)[:, None])],
                        "H2_index_code_0")                                                        # (n, 1)
            k_root = int((index.unit[0] >= 0).sum())
            current = node("Gather", [const("H2_index_root_children", tree[1:1 + (1 << k_root)]), code],
                           "H2_index_node_0", axis=0)
        else:
            joined = node("Concat", [bits, current, ones], f"H2_index_bits_and_node_{level}", axis=1)
            slot = node("MatMul", [joined, weights], f"H2_index_slot_{level}")     # state + 1 + code
            current = node("Gather", [tree_name, slot], f"H2_index_node_{level}", axis=0)
    if current is not None:
        current = node("Gather", [tree_name, node("Add", [current, const("leaf_cell_offset", np.array(2, np.int32))],
                                                  "H3_leaf_cell_slot")], "H3_cell", axis=0)   # (n, 1)
    else:   # one cell: index 0 for every row, as an (n, 1) column
        column = node("Slice", [x1, const("c_first", np.array([d], np.int64)), const("c_end", np.array([d + 1], np.int64)),
                                const("c_ax", np.array([1], np.int64))], "x1_one_column")
        current = node("Cast", [node("Mul", [column, zero], "x1_zero_column")], "H3_cell", to=TensorProto.INT32)
    Ac = np.concatenate([shallow.A, shallow.c[:, :, None]], axis=2)             # (R, m, d+1)
    rule = node("Gather", [const("H3_effective_Ac", Ac), current], "H3_Ac_of_cell", axis=0)   # (n, 1, m, d+1)
    x1_outputs = node("Expand", [x1_row, const("outputs_shape", np.array([1, 1, m, 1], np.int64))], "H3_x_per_output")
    y = node("ReduceSum", [node("Mul", [rule, x1_outputs], "H3_products"), axes_13],
             "out_affine", keepdims=0)
    if margin is None:
        return y
    nan_outside = node("Mul", [node("Sqrt", [margin], "domain_sqrt_margin"), zero], "domain_nan_outside")
    return node("Add", [y, nan_outside], "out_with_domain")


def _domain_margin(domain, x1: str, in_type, const, node) -> str | None:
    """min over the domain's rows of (g - G x) as an (n, 1) column: >= 0 inside, < 0 (or NaN)
    outside; box bounds are rounded outward to the input dtype as in the layered form.  None on
    all of R^d (then NaN inputs give NaN through the arithmetic)."""
    if domain.kind == "box":
        dtype = NP_OF.get(in_type, np.float64)
        lo, hi = _outward(domain.lower, dtype, -1.0), _outward(domain.upper, dtype, +1.0)
        d = len(lo)
        rows = np.zeros((d + 1, 2 * d))
        rows[:d, :d], rows[d, :d] = np.eye(d), -lo          # x - lo >= 0
        rows[:d, d:], rows[d, d:] = -np.eye(d), hi          # hi - x >= 0
    elif domain.kind == "polytope":
        G, g = domain.inequalities()
        rows = np.vstack([-G.T, (g + GEOMETRIC_TOL * (1 + np.abs(g)))[None, :]])
    else:
        return None
    slack = node("MatMul", [x1, const("domain_rows", rows)], "domain_slack")
    return node("ReduceMin", [slack], "domain_margin", axes=[1], keepdims=1)


def _embedding_margin(embedding, x_full: str, in_type, const, node) -> str:
    """The source domain's margin on the full input as an (n, 1) column: >= 0 inside (on the
    affine hull, fixed inputs at their values), < 0 or NaN outside or for a NaN/inf input.  A box
    is checked coordinate-wise (memory O(d), never a d x d matrix)."""
    domain = embedding.domain
    if domain.kind == "box":
        dtype = NP_OF.get(in_type, np.float64)
        lo = const("input_lower", _outward(domain.lower, dtype, -1.0))
        hi = const("input_upper", _outward(domain.upper, dtype, +1.0))
        slack = node("Min", [node("Sub", [x_full, lo], "input_above_lower"),
                             node("Sub", [hi, x_full], "input_below_upper")], "input_slack")
    else:
        G, g = domain.inequalities()
        slack = node("Sub", [const("input_g", g + GEOMETRIC_TOL * (1 + np.abs(g))),
                             node("MatMul", [x_full, const("input_G_T", G.T.copy())], "input_Gx")], "input_slack")
    margin = node("ReduceMin", [slack], "input_margin_min", axes=[1], keepdims=1)
    nan_probe = node("ReduceSum", [node("Mul", [x_full, const("zero_in", np.array(0.0))], "input_times_zero"),
                                   const("ax1n", np.array([1], np.int64))], "input_nan_probe", keepdims=1)
    return node("Add", [margin, nan_probe], "input_margin")


def _layers_cell(shallow: ShallowNet, x: str, u: str, const, node) -> str:
    """The cell index by the literal three-layer form: every cell's constraint flags (H1, H2),
    the cell with no violated constraint (H3), least total violation where rounding leaves
    zero or several such cells.  Memory O(batch * |R|)."""
    R, H = shallow.num_cells, shallow.num_hyperplanes
    if not H:
        return node("Cast", [node("ReduceSum", [node("Mul", [x, const("zero_d", np.array(0.0))], "xz"),
                                                const("ax1c", np.array([1], np.int64))], "cellzero", keepdims=0)],
                    "H3_cell", to=TensorProto.INT64)
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
    return cell
