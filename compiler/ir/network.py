"""The canonical piecewise-linear network that region enumeration consumes.

A :class:`ReluNet` is a DAG of ReLU layers.  Block 0 is the (flattened) input x in R^d; block
l >= 1 is the output of ReLU layer l.  Layer l's pre-activation is affine in every earlier
block, ``z_l = sum_b W[l][b] v_b + bias_l`` (a plain MLP uses only block l-1; residual nets use
more), and the output is affine in the blocks likewise.  Under a fixed activation pattern
every block is affine in x: :meth:`ReluNet.effective_maps` gives those maps, the "effective
weights" of the cell.

Example:
    >>> net = ReluNet(d=1, layers=[AffineLayer({0: np.array([[1.0], [-1.0]])}, np.zeros(2))],
    ...               output=AffineLayer({1: np.array([[1.0, 1.0]])}, np.zeros(1)))
    >>> net.forward(np.array([[-2.0], [3.0]])).tolist()      # |x|
    [[2.0], [3.0]]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from relucompile.ir.signature import ModelSignature
from relucompile.ir.values import to_exact

if TYPE_CHECKING:
    from relucompile.ir.embedding import InputEmbedding
    from relucompile.ir.graph import Graph


#: metadata key under which a relucompile-written shallow ONNX model embeds its source model (base64
#: of the ONNX bytes): the frontends read the network back from it, so every command accepts the file
EMBEDDED_SOURCE_KEY = "relucompile_source_onnx"


@dataclass
class AffineLayer:
    """``z = sum_b weights[b] @ v_b + bias``; weights are float64, or Fraction object arrays."""

    weights: dict[int, np.ndarray]
    bias: np.ndarray

    @property
    def size(self) -> int:
        return int(np.shape(self.bias)[0])


@dataclass
class ReluNet:
    """A ReLU network on a flat input of length ``d`` with flat output of length ``m``.

    Where it came from: ``source`` names the model (file name), ``source_sha256`` hashes the
    model file ("" when built from weights), ``signature`` is the source's input/output
    interface, ``graph`` the IR graph it was lowered from (None when built from weights;
    :func:`relucompile.passes.lowering.exact_net` re-lowers it in rationals), ``relu_nodes``
    the source node each ReLU layer came from (one name per layer; empty when built from weights),
    ``source_onnx`` the ONNX bytes it was read from (None when built from weights), which the shallow
    ONNX embeds so relucompile can read its own output back, and ``embedding`` (None unless
    restricted to a domain's affine hull) how the ``d`` inputs sit in the source's input:
    x = x0 + U t (:mod:`relucompile.ir.embedding`)."""

    d: int
    layers: list[AffineLayer]
    output: AffineLayer
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()
    exact: bool = False
    source: str = "<model>"
    source_sha256: str = ""
    signature: ModelSignature = field(default_factory=ModelSignature)
    graph: Graph | None = field(default=None, repr=False, compare=False)
    relu_nodes: list[str] = field(default_factory=list, compare=False)
    source_onnx: bytes | None = field(default=None, repr=False, compare=False)
    embedding: InputEmbedding | None = field(default=None, repr=False, compare=False)

    @property
    def source_name(self) -> str:
        """The name outputs cite beside ``source_sha256``: ``source`` for a network read from a
        model file, "" for one built from weights (it has no file to name).

        Example:
            >>> from relucompile.examples.random_nets import random_mlp
            >>> random_mlp(2, [3], 1).source_name
            ''
        """
        return self.source if self.source_sha256 else ""

    @property
    def m(self) -> int:
        return self.output.size

    @property
    def widths(self) -> list[int]:
        return [layer.size for layer in self.layers]

    @property
    def num_units(self) -> int:
        return sum(self.widths)

    # -- evaluation ------------------------------------------------------------------------
    def forward(self, X: np.ndarray, return_preactivations: bool = False):
        """Evaluate on a batch ``X`` of shape (N, d) in float64 (or Fractions for exact nets)."""
        X = np.asarray(X) if self.exact else np.asarray(X, dtype=np.float64)
        blocks = [X]
        pre = []
        zero = 0 if self.exact else 0.0
        for layer in self.layers:
            z = _apply(layer, blocks)
            pre.append(z)
            blocks.append(np.where(z > 0, z, zero))
        out = _apply(self.output, blocks)
        return (out, pre) if return_preactivations else out

    def pattern(self, X: np.ndarray) -> list[np.ndarray]:
        """Activation pattern (one bool array per layer, True = on) at each row of ``X``."""
        _, pre = self.forward(X, return_preactivations=True)
        return [z > 0 for z in pre]

    def effective_maps(self, pattern: list[np.ndarray]):
        """Affine maps (M_b, m_b) of every block and of the output in x, under ``pattern``.

        Returns ``(blocks, (A, c))`` where ``blocks[l] = (M, m)`` gives v_l = M x + m and the
        output is A x + c.  Pre-activation of layer l is then ``preactivation(l, blocks)``.
        """
        eye = to_exact(np.eye(self.d)) if self.exact else np.eye(self.d)
        zero_vec = eye[0] * 0
        blocks = [(eye, zero_vec)]
        for layer, on in zip(self.layers, pattern):
            M, m = self.preactivation(layer, blocks)
            mask = np.asarray(on, dtype=bool)
            blocks.append((M * mask[:, None], m * mask))
        return blocks, self.preactivation(self.output, blocks)

    @staticmethod
    def preactivation(layer: AffineLayer, blocks: list[tuple[np.ndarray, np.ndarray]]):
        """(M, m) with z = M x + m for ``layer`` given the blocks' affine maps in x."""
        M = None
        m = layer.bias
        for b, W in layer.weights.items():
            Mb, mb = blocks[b]
            M = W @ Mb if M is None else M + W @ Mb
            m = m + W @ mb
        return M, m

    def layer_of_unit(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.layers)), self.widths)


def with_output_rows(net: ReluNet, coeffs_y: np.ndarray, coeffs_x: np.ndarray, rhs: np.ndarray) -> ReluNet:
    """The float64 network whose outputs are the rows ``r(x) = coeffs_y f(x) + coeffs_x x - rhs``
    (``coeffs_y`` (k, m), ``coeffs_x`` (k, d), ``rhs`` (k,)), composed into ``net``'s output layer.

    A verification property's linear output conditions become the network's outputs, so the bound
    propagation of :mod:`relucompile.verify.bounds` bounds them directly.

    Example:
        >>> net = ReluNet(1, [], AffineLayer({0: np.array([[2.0]])}, np.array([1.0])))
        >>> rows = with_output_rows(net, np.array([[-1.0]]), np.array([[1.0]]), np.array([3.0]))
        >>> rows.output.weights[0].tolist(), rows.output.bias.tolist()     # -(2x + 1) + x - 3
        ([[-1.0]], [-4.0])
        >>> rows.forward(np.array([[1.0]])).tolist()
        [[-5.0]]
    """
    cy = np.atleast_2d(np.asarray(coeffs_y, dtype=np.float64))
    weights = {b: cy @ np.asarray(W, dtype=np.float64) for b, W in net.output.weights.items()}
    cx = np.atleast_2d(np.asarray(coeffs_x, dtype=np.float64))
    if np.any(cx):
        weights[0] = weights.get(0, np.zeros((cy.shape[0], net.d))) + cx
    bias = cy @ np.asarray(net.output.bias, dtype=np.float64) - np.asarray(rhs, dtype=np.float64)
    layers = [AffineLayer({b: np.asarray(W, dtype=np.float64) for b, W in layer.weights.items()},
                          np.asarray(layer.bias, dtype=np.float64)) for layer in net.layers]
    return ReluNet(net.d, layers, AffineLayer(weights, bias))


def restrict_inputs(net: ReluNet, free: np.ndarray, values: np.ndarray) -> ReluNet:
    """``net`` as a function of its ``free`` inputs only (bool mask over the d inputs): the other
    inputs are fixed at ``values`` and folded into the biases.  ``net`` itself when all are free.

    Example:
        >>> net = ReluNet(2, [], AffineLayer({0: np.array([[1.0, 2.0]])}, np.zeros(1)))   # x0 + 2 x1
        >>> part = restrict_inputs(net, np.array([True, False]), np.array([0.0, 3.0]))
        >>> part.d, part.forward(np.array([[1.0]])).tolist()
        (1, [[7.0]])
    """
    if np.all(free):
        return net

    def fold(layer: AffineLayer) -> AffineLayer:
        weights, bias = dict(layer.weights), layer.bias
        if 0 in weights:
            W = weights[0]
            bias = bias + W[:, ~free] @ values[~free]
            weights[0] = W[:, free]
        return AffineLayer(weights, bias)
    return ReluNet(int(np.sum(free)), [fold(layer) for layer in net.layers], fold(net.output), exact=net.exact)


def _apply(layer: AffineLayer, blocks: list[np.ndarray]) -> np.ndarray:
    out = None
    for b, W in layer.weights.items():
        term = blocks[b] @ W.T
        out = term if out is None else out + term
    return out + layer.bias
