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
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from relucompile.ir.signature import ModelSignature
from relucompile.ir.values import to_exact

if TYPE_CHECKING:
    from relucompile.ir.embedding import InputEmbedding
    from relucompile.ir.graph import Graph


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
    the source node each ReLU layer came from (one name per layer; empty when built from weights)
    and ``embedding`` (None unless restricted to a domain's affine hull) how the ``d`` inputs sit
    in the source's input: x = x0 + U t (:mod:`relucompile.ir.embedding`)."""

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
    def meta(self) -> Mapping[str, Any]:
        """Read-only legacy view ``{"signature", "source_sha256", "source_name"}`` of the typed
        fields, for code not yet moved to them (verify/run.py); new code reads the fields.

        Example:
            >>> from relucompile.examples.random_nets import random_mlp
            >>> sorted(random_mlp(2, [3], 1).meta)
            ['signature', 'source_name', 'source_sha256']
        """
        return MappingProxyType({"signature": self.signature, "source_sha256": self.source_sha256,
                                 "source_name": self.source_name})

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


def _apply(layer: AffineLayer, blocks: list[np.ndarray]) -> np.ndarray:
    out = None
    for b, W in layer.weights.items():
        term = blocks[b] @ W.T
        out = term if out is None else out + term
    return out + layer.bias
