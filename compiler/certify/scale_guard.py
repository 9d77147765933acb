"""Never a silently wrong model from extreme parameter scales (issue 15, numeric range).

A layer whose parameter magnitudes span more than :data:`~relucompile.numeric.tolerances.PARAMETER_SPAN`
(:func:`widest_layer_span`), or whose biases differ that much from their units' weighted input
sums on the domain (:func:`widest_bias_span`: products along paths), can hold features below the
float engines' resolution.  :func:`prove_if_extreme` then checks
the float compilation in exact rationals (:func:`relucompile.certify.checks.certify_shallow`)
and refuses it with a :class:`~relucompile.errors.ModelError` (exit 2) naming the layer if the
proof fails; other compilations pass through untouched.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> widest_layer_span(random_mlp(2, [4], 1, seed=0))[0] < 1e3
    True
"""
from __future__ import annotations

import numpy as np

from relucompile.errors import ModelError
from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.numeric.tolerances import PARAMETER_SPAN


def widest_layer_span(net: ReluNet) -> tuple[float, int]:
    """(span, layer): the largest ratio between the scales of two units of one layer (a unit's
    scale: its largest |weight|), and that layer's index (len(net.layers) for the output layer);
    biases are measured against their units' input sums by :func:`widest_bias_span`.  Tiny weights
    beside large ones in one unit are not counted: a hyperplane is computed with all of its float
    coefficients alike (trained nets hold weights 1e-14 of their unit's largest, harmlessly), while
    units of very different scales meet in the next layer's sums and tolerances."""
    best, where = 1.0, 0
    for index, layer in enumerate(net.layers + [net.output]):
        rows = np.concatenate([np.abs(np.asarray(W, dtype=np.float64)) for W in layer.weights.values()], axis=1)
        values = rows.max(axis=1, initial=0.0)
        values = values[values > 0]
        if values.size and values.max() / values.min() > best:
            best, where = float(values.max() / values.min()), index
    return best, where


def widest_bias_span(net: ReluNet, domain: Domain, samples: int = 256) -> tuple[float, int]:
    """(span, layer): the largest ratio, over units, between the size of a unit's bias and of its
    weighted input sum max |W_j a(x)| at ``samples`` seeded points of ``domain`` (either way
    round), and that layer.  Weights compound along paths while biases do not: a net scaled by 1e8
    in every layer has layer-2 biases 1e8 below their sums, hyperplanes all but concurrent.
    Real models stay below 1e5 (ACAS Xu, MNIST fully connected nets on their input boxes).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> widest_bias_span(random_mlp(2, [4], 1, seed=0), Domain.box([-1, -1], [1, 1]))[0] < 1e3
        True
    """
    blocks = [domain.sample(samples, np.random.default_rng(0))]
    best, where = 1.0, 0
    for index, layer in enumerate(net.layers + [net.output]):
        sums = sum(blocks[b] @ np.asarray(W, dtype=np.float64).T for b, W in layer.weights.items())
        size = np.abs(sums).max(axis=0) if np.ndim(sums) == 2 else np.zeros(layer.size)
        bias = np.abs(np.asarray(layer.bias, dtype=np.float64))
        both = (size > 0) & (bias > 0)
        if both.any():
            ratio = float(np.maximum(size[both] / bias[both], bias[both] / size[both]).max())
            if ratio > best:
                best, where = ratio, index
        blocks.append(np.maximum(sums + np.asarray(layer.bias, dtype=np.float64), 0.0))
    return best, where


def prove_if_extreme(shallow) -> None:
    """Certify ``shallow`` exactly when its network's parameters, or its biases against their
    units' input sums, span more than PARAMETER_SPAN in some layer; raise ModelError (exit 2) naming file, node and op if that proof fails.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.random_nets import random_mlp
        >>> prove_if_extreme(compile_network(random_mlp(2, [4], 1, seed=0), Domain.box([-1, -1], [1, 1])))
    """
    net = shallow.net
    span, layer = max(widest_layer_span(net), widest_bias_span(net, shallow.domain))
    if span <= PARAMETER_SPAN:
        return
    from relucompile.certify.checks import certify_shallow
    certificate = certify_shallow(shallow)
    if certificate.ok:
        return
    node = net.relu_nodes[layer] if layer < len(net.relu_nodes) else ("output layer" if layer == len(net.layers)
                                                                      else f"layer {layer + 1}")
    op = "Relu" if layer < len(net.layers) else "Affine"
    raise ModelError(net.source, node, op,
                     f"its parameters (or biases against their input sums) span {span:.3g} in magnitude, beyond {PARAMETER_SPAN:g} (below the float "
                     f"engines' resolution, numeric/tolerances.py PARAMETER_SPAN), and the exact check of the "
                     f"compilation failed ({certificate.summary()[:160]}); rescale the model's weights")
