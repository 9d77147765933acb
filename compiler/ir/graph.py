"""Graph IR: a networkx DiGraph of typed tensor nodes.

Every node is one operation with a name, an ``op`` (the op's kind, named as in ONNX so that
the semantics are the ONNX ones), ``inputs`` (ordered names of producing nodes), ``attrs``
and, for constants, a ``value``.  Tensors carry their full shape with every batch
dimension fixed to 1: the IR describes *one* sample, which is what the compiler needs.

Example:
    >>> g = Graph(source="example")
    >>> _ = g.add("x", "Input", shape=(1, 2))
    >>> _ = g.add("w", "Constant", value=np.eye(2))
    >>> _ = g.add("y", "MatMul", ["x", "w"])
    >>> _ = g.add("r", "Relu", ["y"])
    >>> g.outputs = ["r"]
    >>> g.validate()
    >>> [n for n in g.topological_order()]
    ['x', 'w', 'y', 'r']
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import networkx as nx
import numpy as np

from relucompile.errors import ModelError
from relucompile.ir.signature import ModelSignature


@dataclass
class Node:
    """One IR operation; ``op`` names its semantics (ONNX names), ``origin`` the source node."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    value: np.ndarray | None = None
    shape: tuple[int, ...] | None = None
    origin: str = ""


class Graph:
    """A single-input, single-output dataflow graph of :class:`Node` objects.

    The graph is stored as a ``networkx.DiGraph`` whose node attribute ``node`` holds the
    :class:`Node`; edges go from producer to consumer.  ``source`` names the file it came
    from (used in error messages).
    """

    def __init__(self, source: str = "<model>") -> None:
        self.dag = nx.DiGraph()
        self.source = source
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.signature = ModelSignature()  # the source model's interface (filled by the frontend)

    # -- construction -------------------------------------------------------------------
    def add(self, name: str, op: str, inputs: list[str] | None = None, *, attrs: dict | None = None,
            value: np.ndarray | None = None, shape: tuple[int, ...] | None = None,
            origin: str = "") -> Node:
        """Add a node; its inputs must already exist (graphs are built in topological order)."""
        if name in self.dag:
            raise ModelError(self.source, name, op, "duplicate tensor name")
        node = Node(name, op, list(inputs or []), dict(attrs or {}), value, shape, origin or name)
        if op == "Input":
            self.inputs.append(name)
        self.dag.add_node(name, node=node)
        for src in node.inputs:
            if not src:  # an omitted optional input (ONNX's empty name)
                continue
            if src not in self.dag:
                raise ModelError(self.source, origin or name, op, f"input '{src}' is not produced by any node")
            self.dag.add_edge(src, name)
        return node

    def node(self, name: str) -> Node:
        return self.dag.nodes[name]["node"]

    def nodes(self) -> Iterator[Node]:
        for name in self.topological_order():
            yield self.node(name)

    def topological_order(self) -> list[str]:
        """Node names in a deterministic topological order (ties broken by insertion order)."""
        order = {n: i for i, n in enumerate(self.dag.nodes)}
        try:
            return list(nx.lexicographical_topological_sort(self.dag, key=order.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = [edge[0] for edge in nx.find_cycle(self.dag)]
            raise ModelError(self.source, cycle[0], self.node(cycle[0]).op,
                             f"the graph has a cycle ({' -> '.join(cycle[:4])}{' ...' if len(cycle) > 4 else ''})") from None

    def consumers(self, name: str) -> list[str]:
        return list(self.dag.successors(name))

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer of ``old`` read ``new`` instead (and the graph outputs too)."""
        for consumer in list(self.dag.successors(old)):
            node = self.node(consumer)
            node.inputs = [new if i == old else i for i in node.inputs]
            self.dag.remove_edge(old, consumer)
            self.dag.add_edge(new, consumer)
        self.outputs = [new if o == old else o for o in self.outputs]

    def remove_unused(self) -> None:
        """Drop nodes that no output depends on."""
        keep: set[str] = set()
        for out in self.outputs:
            keep |= nx.ancestors(self.dag, out) | {out}
        keep |= set(self.inputs)
        self.dag.remove_nodes_from([n for n in list(self.dag.nodes) if n not in keep])

    def copy(self) -> "Graph":
        """A graph whose nodes can be changed without changing this one's.  Constant values are
        shared, not copied (values are never written in place): a pass over a 270 MB model
        copies no weights.

        Example:
            >>> g = Graph(); _ = g.add("w", "Constant", value=np.ones(3))
            >>> h = g.copy(); h.node("w").op = "Input"
            >>> g.node("w").op, h.node("w").value is g.node("w").value
            ('Constant', True)
        """
        g = Graph(self.source)
        g.dag = self.dag.copy()
        for name, data in g.dag.nodes(data=True):
            node = data["node"]
            data["node"] = replace(node, inputs=list(node.inputs), attrs=dict(node.attrs))
        g.inputs, g.outputs, g.signature = list(self.inputs), list(self.outputs), self.signature
        return g

    # -- checks ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the graph is acyclic, has exactly one input and one output, and is connected."""
        if not nx.is_directed_acyclic_graph(self.dag):
            raise ModelError(self.source, "", "", "the graph has a cycle")
        if len(self.inputs) != 1:
            names = ", ".join(self.inputs) or "none"
            raise ModelError(self.source, "", "", f"exactly one variable input is supported, found {len(self.inputs)} ({names})")
        if len(self.outputs) != 1:
            raise ModelError(self.source, "", "", f"exactly one output is supported, found {len(self.outputs)} ({', '.join(self.outputs)})")
        out = self.outputs[0]
        if out != self.inputs[0] and self.inputs[0] not in nx.ancestors(self.dag, out):
            raise ModelError(self.source, out, self.node(out).op, "the output does not depend on the input")

    def __repr__(self) -> str:
        ops = [self.node(n).op for n in self.topological_order()]
        return f"Graph({self.source!r}, {len(ops)} nodes: {' '.join(ops)})"
