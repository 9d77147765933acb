"""Canonicalising passes: each is a function from IR graph to IR graph (as torch.fx passes).

* :func:`drop_identities` removes Identity, inference Dropout and float Casts.
* :func:`fold_constants` evaluates every node whose inputs are all constants.
* :func:`fuse_affine` replaces every linear subgraph between ReLUs (Gemm with alpha/beta/
  transposes, MatMul in either order, Add/Sub/Mul/Div by constants, Flatten/Reshape/...,
  chains of affine maps, residual sums) by one ``Affine`` node per ReLU layer and one for the
  output.  The result is the canonical form: Input -> (Affine -> Relu)* -> Affine.
* :func:`lower` reads a graph into a :class:`~relucompile.ir.network.ReluNet` by symbolic execution.

Example:
    >>> from relucompile.ir.graph import Graph
    >>> g = Graph()
    >>> _ = g.add("x", "Input", shape=(1, 2))
    >>> _ = g.add("w", "Constant", value=np.array([[1.0], [2.0]]))
    >>> _ = g.add("y", "MatMul", ["x", "w"]); _ = g.add("r", "Relu", ["y"])
    >>> _ = g.add("two", "Constant", value=np.array(2.0)); _ = g.add("o", "Mul", ["r", "two"])
    >>> g.outputs = ["o"]
    >>> net = lower(g)
    >>> net.layers[0].weights[0].tolist(), net.output.weights[1].tolist()
    ([[1.0, 2.0]], [[2.0]])
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from relucompile.errors import ModelError, UserError
from relucompile.limits import check_time
from relucompile.ops.interpreter import ConcreteContext, execute
from relucompile.ir.graph import Graph
from relucompile.ir.network import AffineLayer, ReluNet
from relucompile.ir.values import Affine, Value, to_exact
from relucompile.ops.table import OPS, op_dropout

if TYPE_CHECKING:
    from relucompile.ir.embedding import InputEmbedding

IDENTITY_OPS = {"Identity", "Dropout"}


def drop_identities(graph: Graph) -> Graph:
    """Remove ops that pass their first input through unchanged (validated by their handler)."""
    g = graph.copy()
    ctx = ConcreteContext(g.source, exact=False)
    for node in list(g.nodes()):
        passthrough = node.op in IDENTITY_OPS or (node.op == "Cast" and node.attrs.get("to", 1) in (1, 10, 11, 16))
        if passthrough and node.inputs and g.node(node.inputs[0]).op != "Constant":
            if node.op == "Dropout":  # refuses training mode with a clear error
                extra = [g.node(i).value if i and g.node(i).op == "Constant" else None for i in node.inputs[1:]]
                op_dropout(node, [None] + extra, ctx)
            g.replace_uses(node.name, node.inputs[0])
            g.dag.remove_node(node.name)
    return g


def fold_constants(graph: Graph) -> Graph:
    """Replace every node whose inputs are all constants by a Constant node (float64)."""
    g = graph.copy()
    ctx = ConcreteContext(g.source, exact=False)
    for name in g.topological_order():
        check_time()   # the run's time budget (relucompile.limits)
        node = g.node(name)
        if node.op in ("Input", "Constant") or not node.inputs:
            continue
        if all(not i or g.node(i).op == "Constant" for i in node.inputs):
            spec = OPS.get(node.op)
            if spec is None:
                continue
            value = spec.handler(node, [g.node(i).value if i else None for i in node.inputs], ctx)
            node.op, node.value, node.attrs = "Constant", np.asarray(value), {}
            for i in list(g.dag.predecessors(name)):
                g.dag.remove_edge(i, name)
            node.inputs = []
    g.remove_unused()
    return g


class SymbolicContext:
    """Executes the IR on :class:`Affine` values; each Relu opens a new variable block."""

    def __init__(self, source: str, exact: bool) -> None:
        self.source, self.exact = source, exact
        self.layers: list[AffineLayer] = []
        self.relu_nodes: list[str] = []

    def constant(self, value: np.ndarray) -> np.ndarray:
        """The constant in float64 (or exact); a float matrix column-major, so that its transpose,
        the (units, inputs) weights of the ReLU layer it usually becomes, is contiguous and is
        taken without a copy (same values; BLAS products are the same in either layout)."""
        value = np.asarray(value)
        if not self.exact and value.ndim == 2 and value.dtype.kind == "f":
            return np.array(value, dtype=np.float64, order="F")    # a fresh copy, as astype makes
        return ConcreteContext.constant(self, value)  # type: ignore[arg-type]

    def number(self, v: float) -> Any:
        return Fraction(v) if self.exact else float(v)

    def relu(self, node: Any, x: Value) -> Value:
        if not isinstance(x, Affine):  # constant input: fold
            return np.where(x > 0, x, 0 if self.exact else 0.0)
        layer = _flat_layer(x)
        self.layers.append(layer)
        self.relu_nodes.append(node.name)
        return Affine.variable(len(self.layers), layer.size, x.shape, self.exact)


def _flat_layer(x: Affine) -> AffineLayer:
    """The affine map of a symbolic tensor as weights (n_out, n_block) per block."""
    n = int(np.prod(x.shape)) if x.shape else 1
    weights = {b: np.ascontiguousarray(np.asarray(c).reshape(c.shape[0], n).T) for b, c in sorted(x.coefs.items())}
    return AffineLayer(weights, np.asarray(x.const).reshape(n).copy())


MAX_INPUTS = 2 ** 16
"""Largest flattened input lowered: the symbolic maps are dense over all inputs (units x inputs
float64 each), so a 65,536-input model with as many units already needs 32 GiB.  A domain with
few free coordinates lowers over those only (:mod:`relucompile.ir.embedding`), whatever the
model's input size."""


def lower(graph: Graph, exact: bool = False, embedding: InputEmbedding | None = None) -> ReluNet:
    """Symbolically execute ``graph`` into a :class:`ReluNet` (float64, or exact Fractions).

    ``embedding``: lower over the free coordinates t of a domain's affine hull, x = x0 + U t
    (the fixed coordinates enter as constants); the network then has ``embedding.k`` inputs.
    Raises ModelError if the output is not affine in the ReLU blocks (e.g. a product of two
    network values), which the handlers detect, or if the lowering would need more memory than
    the machine has (:func:`check_lowering_memory`).
    """
    graph.validate()
    ctx = SymbolicContext(graph.source, exact)
    inp = graph.node(graph.inputs[0])
    shape = tuple(inp.shape)
    full = int(np.prod(shape)) if shape else 1
    if embedding is not None and embedding.d != full:
        raise ValueError(f"the embedding has {embedding.d} coordinates but the model {full} inputs")
    d = embedding.k if embedding is not None else full
    if d > MAX_INPUTS:
        raise ModelError(graph.source, inp.origin or inp.name, "Input",
                         f"{d:,} input values: lowering builds dense maps over every input (at least "
                         f"{d * d * 8 / 2**30:,.0f} GiB for a layer as wide as the input); "
                         f"relucompile compiles at most {MAX_INPUTS:,} inputs (fix inputs in the domain to "
                         "compile over the others)")
    if not exact:   # the exact lowering follows a float one that passed
        check_lowering_memory(graph, d)
    out = execute(graph, {inp.name: _input_value(embedding, d, shape, exact)}, ctx)
    out_node = graph.node(graph.outputs[0])
    if not isinstance(out, Affine):
        raise ModelError(graph.source, out_node.origin, out_node.op, "the output does not depend on the input")
    output = _flat_layer(out)
    for layer in ctx.layers + [output]:  # drop blocks with all-zero weights? keep: structure matters
        for b in list(layer.weights):
            if layer.weights[b].size == 0:
                del layer.weights[b]
    net = ReluNet(d=d, layers=ctx.layers, output=output, input_shape=shape if embedding is None else (d,),
                  output_shape=tuple(out.shape), exact=exact, source=graph.source, graph=graph,
                  relu_nodes=ctx.relu_nodes, embedding=embedding)
    return net


def _input_value(embedding: InputEmbedding | None, d: int, shape: tuple[int, ...], exact: bool) -> Affine:
    """The input tensor as a symbolic value: the identity over x, or x0 + U t on a hull."""
    if embedding is None:
        return Affine.variable(0, d, shape, exact)
    x0, U = embedding.x0, embedding.U
    if exact:
        x0, U = to_exact(x0), to_exact(U)
    return Affine(np.asarray(x0).reshape(shape), {0: np.ascontiguousarray(np.asarray(U).T).reshape((d,) + shape)})


class _UnitCounter(ConcreteContext):
    """Runs the graph on numbers, counting the ReLU units the lowering will open."""

    def __init__(self, source: str) -> None:
        super().__init__(source, exact=False)
        self.units = 0
        self.identity_bytes = 0

    def constant(self, value: np.ndarray) -> np.ndarray:
        """The constant as stored (no float64 copy): only the shapes of this run matter."""
        value = np.asarray(value)
        return value.astype(np.int64) if value.dtype.kind in "iub" else value

    def relu(self, node: Any, x: Value) -> Value:
        n = int(np.size(x))
        self.units += n
        self.identity_bytes += 8 * n * n     # the new block's identity map
        return super().relu(node, x)


def lowering_bytes(graph: Graph, d: int) -> int:
    """An upper estimate of the memory the float64 lowering of ``graph`` over ``d`` inputs needs:
    every tensor is kept as a dense map over the inputs and every earlier ReLU unit (8 bytes a
    coefficient; twice, since a handler holds its input's map and the new one while mapping),
    plus each ReLU layer's identity map.  Found by one float run on a zero input (memory of one
    sample).  Measured: 4.0 GiB estimated, 4.1 GB peak for a 16,384-input Conv net.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.frontends.onnx_frontend import load_onnx
        >>> lowering_bytes(fold_constants(load_onnx(tiny_mlp_path())), 2) < 2 ** 20
        True
    """
    counter = _UnitCounter(graph.source)
    inp = graph.node(graph.inputs[0])
    total = 0

    def observe(node: Any, value: Value) -> None:
        nonlocal total
        if node.op not in ("Input", "Constant"):
            total += 2 * 8 * int(np.size(value)) * (d + counter.units + 1)

    try:
        with np.errstate(all="ignore"):   # zeros in the weights' float type: no float64 copy of a weight
            execute(graph, {inp.name: np.zeros(tuple(inp.shape), _weight_dtype(graph))}, counter, observe=observe)
    except UserError:   # the lowering itself names what is wrong with the model
        return 0
    return total + counter.identity_bytes + 8 * int(np.prod(inp.shape)) * (d + 1)


def _weight_dtype(graph: Graph) -> np.dtype:
    """The float type of the graph's largest float constant (float64 when it has none)."""
    floats = [node.value for node in graph.nodes() if node.op == "Constant" and node.value is not None
              and np.asarray(node.value).dtype.kind == "f"]
    return np.asarray(max(floats, key=np.size)).dtype if floats else np.dtype(np.float64)


def available_memory() -> int:
    """Bytes of memory available to this process (Linux ``MemAvailable``; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2 ** 62


def check_lowering_memory(graph: Graph, d: int, available: int | None = None) -> None:
    """Refuse up front (ModelError, exit 2) a lowering that needs more memory than is available,
    with the estimate (:func:`lowering_bytes`), instead of failing with a MemoryError mid-way."""
    need = lowering_bytes(graph, d)
    have = available_memory() if available is None else available
    if need > have:
        inp = graph.node(graph.inputs[0])
        raise ModelError(graph.source, inp.origin or inp.name, "Input",
                         f"lowering over {d:,} input coordinates needs about {need / 2**30:,.1f} GiB of memory, "
                         f"{have / 2**30:,.1f} GiB are available; fix inputs in the domain (zero-width box "
                         "sides) so the network lowers over fewer coordinates, or use a smaller model")


def exact_net(net: ReluNet) -> ReluNet:
    """The same network with exact rational weights (re-lowered from its IR graph)."""
    if net.exact:
        return net
    graph = net.graph
    if graph is None:  # built directly from weights: they are exact binary fractions
        conv = lambda L: AffineLayer({b: to_exact(W) for b, W in L.weights.items()}, to_exact(L.bias))
        return ReluNet(net.d, [conv(L) for L in net.layers], conv(net.output), net.input_shape,
                       net.output_shape, True, net.source, net.source_sha256, net.signature)
    return lower(graph, exact=True, embedding=net.embedding)


def fuse_affine(graph: Graph) -> Graph:
    """Canonical form: Input -> (Affine -> Relu)* -> Affine -> Reshape(output shape)."""
    net = lower(graph)
    g = Graph(graph.source)
    inp = graph.node(graph.inputs[0])
    g.add(inp.name, "Input", shape=inp.shape)
    g.add("flat_shape", "Constant", value=np.array([net.d]))
    g.add("v0", "Reshape", [inp.name, "flat_shape"], shape=(net.d,))
    names = ["v0"]
    for l, layer in enumerate(net.layers + [net.output], start=1):
        last = l == len(net.layers) + 1
        z = "output_affine" if last else f"z{l}"
        g.add(z, "Affine", [names[b] for b in layer.weights],
              attrs={"weights": list(layer.weights.values()), "bias": layer.bias}, shape=(layer.size,))
        if not last:
            g.add(f"v{l}", "Relu", [z], shape=(layer.size,))
            names.append(f"v{l}")
    g.add("out_shape", "Constant", value=np.array(net.output_shape, dtype=np.int64))
    g.add("output", "Reshape", ["output_affine", "out_shape"], shape=net.output_shape)
    g.outputs = ["output"]
    return g


def canonicalize(graph: Graph) -> Graph:
    """The standard pipeline of passes."""
    return fuse_affine(fold_constants(drop_identities(graph)))
