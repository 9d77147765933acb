"""Reference interpreter of the IR, in float64 or in exact rationals.

This is the meaning of a deep model: the compiler's output is tested against it.

Example:
    >>> import numpy as np
    >>> from relucompile.ir.graph import Graph
    >>> g = Graph()
    >>> _ = g.add("x", "Input", shape=(2,)); _ = g.add("r", "Relu", ["x"]); g.outputs = ["r"]
    >>> run(g, np.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    >>> from fractions import Fraction
    >>> run(g, [Fraction(-1, 3), Fraction(1, 3)], exact=True).tolist()
    [0, Fraction(1, 3)]
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

from relucompile.errors import ModelError, UserError
from relucompile.limits import check_time
from relucompile.ir.graph import Graph
from relucompile.ops.table import OPS
from relucompile.ir.values import Value, to_exact


class ConcreteContext:
    """Evaluates ops on numbers: float64, or Fractions when ``exact``."""

    def __init__(self, source: str, exact: bool) -> None:
        self.source, self.exact = source, exact

    def constant(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if value.dtype.kind in "iub":
            return value.astype(np.int64) if not self.exact else to_exact(value)
        return to_exact(value) if self.exact else value.astype(np.float64)

    def number(self, v: float) -> Any:
        return Fraction(v) if self.exact else float(v)

    def relu(self, node: Any, x: Value) -> Value:
        return np.where(x > 0, x, 0 if self.exact else 0.0)


def execute(graph: Graph, feeds: dict[str, Value], ctx: Any,
            observe: Callable[[Any, Value], None] | None = None) -> Value:
    """Run every node in topological order with ``ctx``; return the output value.
    ``observe(node, value)`` is called on every computed value (e.g. to measure sizes).

    Memory stays near one layer's weights: a Constant is converted (``ctx.constant``) just
    before its first consumer runs, not all up front, and every value is dropped once its last
    consumer has run.  Linear in the graph: each node and edge is visited once.
    """
    values: dict[str, Value] = dict(feeds)
    order = list(graph.nodes())
    uses: dict[str, int] = {}
    for node in order:
        for i in node.inputs:
            if i:
                uses[i] = uses.get(i, 0) + 1
    keep = set(graph.outputs)
    deferred = {node.name: node for node in order
                if node.op == "Constant" and not node.inputs and node.name not in keep and uses.get(node.name)}

    def compute(node: Any) -> None:
        spec = OPS.get(node.op)
        if spec is None:
            raise ModelError(graph.source, node.origin, node.op, "op not supported")
        try:
            values[node.name] = spec.handler(node, [values[i] if i else None for i in node.inputs], ctx)
        except UserError:
            raise
        except (ValueError, IndexError, TypeError, KeyError, ArithmeticError) as exc:
            # numpy refusing the node's operands: shapes, axes or attributes that do not fit together
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(graph.source, node.origin, node.op,
                             f"its inputs and attributes do not fit together ({why})") from None
        if observe is not None:
            observe(node, values[node.name])

    for node in order:
        check_time()   # the run's time budget (relucompile.limits)
        if node.name in values or node.name in deferred:
            continue
        for i in node.inputs:
            if i in deferred and i not in values:
                compute(deferred[i])
        compute(node)
        for i in node.inputs:
            if i and i not in keep:
                uses[i] -= 1
                if uses[i] == 0:
                    values.pop(i, None)
    return values[graph.outputs[0]]


def run(graph: Graph, x: Sequence | np.ndarray, exact: bool = False) -> np.ndarray:
    """Evaluate ``graph`` at one input (any shape with the input's number of entries).

    Returns the output tensor in the IR's shape (batch dimensions of size 1).
    """
    ctx = ConcreteContext(graph.source, exact)
    inp = graph.node(graph.inputs[0])
    arr = np.array(list(np.asarray(x, dtype=object).ravel()), dtype=object) if exact else np.asarray(x, dtype=np.float64)
    if exact:
        arr = to_exact(arr)
    return execute(graph, {inp.name: arr.reshape(inp.shape)}, ctx)
