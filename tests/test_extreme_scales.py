"""Issue 15, numeric range: seeded random nets with extreme scales (weights and biases 1e-8..1e8
per layer, per entry or per unit; boxes up to the coordinate bound 1e6) either compile exactly
(shallow == deep in rationals at every cell vertex and at random points) or are refused with a
ModelError (exit 2) naming the layer; never a wrong model.  Without the guard of
relucompile.certify.scale_guard about one in seven of these nets compiled wrong."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest

from exact_tools import cell_vertices, random_rational_points
from relucompile import Domain, compile_network
from relucompile.certify.scale_guard import widest_bias_span, widest_layer_span
from relucompile.errors import ModelError
from relucompile.examples.random_nets import random_mlp, to_onnx_model
from relucompile.numeric.tolerances import PARAMETER_SPAN
from relucompile.passes.lowering import exact_net


def float32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(np.float32).astype(np.float64)


def extreme_net(seed: int):
    """A small random MLP rescaled by powers of ten in [1e-8, 1e8] (per layer, entry or unit),
    on a box [-h, h]^d with h in 1e-3..1e6."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 3))
    net = random_mlp(d, [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 3)))], 1, seed)
    mode = int(rng.integers(0, 3))
    for layer in net.layers + [net.output]:
        for block, W in layer.weights.items():
            if mode == 0:      # one scale per layer for the weights, another for the bias
                layer.weights[block] = float32(W * 10.0 ** rng.integers(-8, 9))
                layer.bias = float32(layer.bias * 10.0 ** rng.integers(-8, 9))
            elif mode == 1:    # a scale per weight
                layer.weights[block] = float32(W * 10.0 ** rng.integers(-8, 9, W.shape))
            else:              # a scale per unit (weights and bias together)
                scale = 10.0 ** rng.integers(-8, 9, (W.shape[0], 1))
                layer.weights[block], layer.bias = float32(W * scale), float32(layer.bias * scale[:, 0])
    half = float(10.0 ** rng.integers(-3, 7))
    return net, Domain.box([-half] * d, [half] * d)


def wrong_points(shallow, net, domain, seed: int) -> list:
    """Points (cell vertices, random rational points) where the shallow net differs from the deep
    one in exact rationals, or where no single cell claims the point."""
    deep = exact_net(net)
    points = [v for a in range(shallow.num_cells) for v in cell_vertices(shallow, a)]
    points += random_rational_points(domain, 20, np.random.default_rng(seed))
    wrong = []
    for x in points:
        try:
            got = shallow.evaluate_exact(x)
        except Exception:     # zero or two cells claim x: a compiler bug
            wrong.append(x)
            continue
        if got != list(deep.forward(np.array([x], dtype=object))[0]):
            wrong.append(x)
    return wrong


def test_extreme_scales_compile_exactly_or_are_refused():
    outcomes = {"exact": 0, "refused": 0}
    for seed in range(120):
        net, domain = extreme_net(seed)
        try:
            shallow = compile_network(net, domain, time_limit=60)
        except ModelError as exc:
            span = max(widest_layer_span(net)[0], widest_bias_span(net, domain)[0])
            assert "span" in str(exc) and span > PARAMETER_SPAN, (seed, str(exc))
            outcomes["refused"] += 1
            continue
        assert not wrong_points(shallow, net, domain, seed), f"seed {seed}: a wrong model"
        outcomes["exact"] += 1
    # the mix is a real test: most compile, some are refused (the guard is exercised)
    assert outcomes["exact"] >= 60 and outcomes["refused"] >= 10, outcomes


def test_a_sliver_net_is_refused_on_the_command_line(tmp_path):
    """Seed 14: biases 1e-4 beside weights 1e3..1e6 put hyperplanes 1e-7 apart on [-100, 100];
    the float compilation dropped a cell (0 cells claimed x = 1.9e-7).  Now: exit 2, one line."""
    net, domain = extreme_net(14)
    assert domain.describe() == "box [-100, 100]^1"
    path = tmp_path / "extreme.onnx"
    onnx.save(to_onnx_model(net), str(path))
    done = subprocess.run([sys.executable, "-m", "relucompile", str(path), "--box", "-100", "100", "-o",
                           str(tmp_path / "s.onnx")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "extreme.onnx" in done.stderr and "span" in done.stderr and not (tmp_path / "s.onnx").exists()


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_every_layer_scaled_alike_is_refused_not_wrong(scale):
    """Scaling every layer by 1e8 compounds along paths (layer-2 sums 1e16, biases 1e8: hyperplanes
    all but concurrent); the float compilation was wrong by 30% at cell vertices.  Now refused."""
    net = random_mlp(2, [5, 5], 1, seed=3)
    for layer in net.layers + [net.output]:
        layer.weights = {b: float32(W * scale) for b, W in layer.weights.items()}
        layer.bias = float32(layer.bias * scale)
    domain = Domain.box([-1, -1], [1, 1])
    try:
        shallow = compile_network(net, domain)
    except ModelError as exc:
        assert "span" in str(exc)
        return
    assert not wrong_points(shallow, net, domain, 0)


def test_balanced_rescaling_compiles_exactly():
    """Layer 1 times 2**40, layer 2 times 2**-40 (weights and biases alike): the same function
    and cells, no extreme span; compiled, not refused, and exact."""
    net = random_mlp(2, [5, 5], 1, seed=3)
    first, second = net.layers[0], net.layers[1]
    first.weights = {b: W * 2.0 ** 40 for b, W in first.weights.items()}
    first.bias = first.bias * 2.0 ** 40
    second.weights = {b: W * 2.0 ** -40 for b, W in second.weights.items()}
    domain = Domain.box([-1, -1], [1, 1])
    shallow = compile_network(net, domain)
    assert shallow.num_cells > 1 and not wrong_points(shallow, net, domain, 0)
