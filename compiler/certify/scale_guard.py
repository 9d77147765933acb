"""Never a silently wrong model from extreme parameter scales (issue 15, numeric range).

A layer whose parameter magnitudes span more than :data:`~relucompile.numeric.tolerances.PARAMETER_SPAN`
can hold features below the float engines' resolution.  :func:`prove_if_extreme` then checks
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
from relucompile.ir.network import ReluNet
from relucompile.numeric.tolerances import PARAMETER_SPAN


def widest_layer_span(net: ReluNet) -> tuple[float, int]:
    """(span, layer): the largest ratio max |p| / min |p| over the non-zero parameters (weights and
    bias) of one layer, and that layer's index (len(net.layers) for the output layer)."""
    best, where = 1.0, 0
    for index, layer in enumerate(net.layers + [net.output]):
        values = np.concatenate([np.abs(np.asarray(W, dtype=np.float64)).ravel() for W in layer.weights.values()]
                                + [np.abs(np.asarray(layer.bias, dtype=np.float64)).ravel()])
        values = values[values > 0]
        if values.size and values.max() / values.min() > best:
            best, where = float(values.max() / values.min()), index
    return best, where


def prove_if_extreme(shallow) -> None:
    """Certify ``shallow`` exactly when its network's parameters span more than PARAMETER_SPAN
    in some layer; raise ModelError (exit 2) naming file, node and op if that proof fails.

    Example:
        >>> from relucompile import compile_network, Domain
        >>> from relucompile.examples.random_nets import random_mlp
        >>> prove_if_extreme(compile_network(random_mlp(2, [4], 1, seed=0), Domain.box([-1, -1], [1, 1])))
    """
    net = shallow.net
    span, layer = widest_layer_span(net)
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
                     f"its parameters span {span:.3g} in magnitude, beyond {PARAMETER_SPAN:g} (below the float "
                     f"engines' resolution, numeric/tolerances.py PARAMETER_SPAN), and the exact check of the "
                     f"compilation failed ({certificate.summary()[:160]}); rescale the model's weights")
