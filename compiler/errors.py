"""Errors a user can cause, each rendered as one line naming file, node and op.

Example:
    >>> str(ModelError("m.onnx", "sig1", "Sigmoid", "not piecewise linear"))
    "m.onnx: node 'sig1' (Sigmoid): not piecewise linear"
"""
from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input or options: reported in one line, exit code 2."""


class ModelError(UserError):
    """The model cannot be compiled; names the file, the node and the op."""

    def __init__(self, source: str, node: str, op: str, why: str) -> None:
        self.source, self.node_name, self.op, self.why = source, node, op, why
        where = source
        if node:
            where += f": node '{node}'"
        if op:
            where += f" ({op})" if node else f": {op}"
        super().__init__(f"{where}: {why}")


class DomainError(UserError):
    """The input domain given by the user is malformed."""


class RegionLimitError(UserError):
    """Enumeration stopped at a user-given bound (``--max-regions`` or ``--time-limit``)."""
