"""Marabou's op-coverage models (../shared/data/marabou, README there): BatchNorm, LeakyRelu,
Conv/MaxPool, branches, several inputs and outputs, dropout and sub compile on a small box
around a point, and the shallow model (ShallowNet.evaluate and the emitted ONNX) matches
onnxruntime on the source model; non-piecewise-linear models stay refused."""
from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest

from relucompile.ir.domain import Domain
from relucompile.errors import ModelError
from conftest import data_path
from relucompile.api.compile import compile_network, load_network, shallow_onnx

# model -> (half-width of the box, free input coordinates or None for all, least cell count)
MODELS = {
    "linear2-3_bn1-linear3-1.onnx": (1.0, None, 1),          # Gemm, BatchNormalization
    "test_sub.onnx": (1.0, None, 1),                           # Sub
    "multiInput_add.onnx": (0.5, None, 50),                     # two inputs, two outputs, Add branches
    "oneInput_twoBranches.onnx": (0.5, [0, 3, 7], 10),          # two branches, two outputs, Cast
    "test_dropout.onnx": (0.5, [406, 407], 1),                 # Dropout (inference)
    "mnist5x20_leaky_relu.onnx": (1.0, [350, 351, 406], 5),   # LeakyRelu
    "conv_mp1.onnx": (0.3, [20, 21], 20),                      # Conv (pads), MaxPool, Transpose
    "cnn_max_mninst2.onnx": (0.01, [406, 407], 2),             # NHWC Transpose, Conv VALID, MaxPool
    "layer-zoo/leakyRelu.onnx": (2.0, None, 16),   # 4 independent units: 2^4
    "layer-zoo/maxpool.onnx": (1.0, [0, 1, 4, 5], 20),
    "layer-zoo/conv.onnx": (1.0, [0, 6, 12], 1),
    "layer-zoo/batchnorm.onnx": (1.0, None, 1),
    "layer-zoo/squeeze_with_axes.onnx": (1.0, None, 1),
    "layer-zoo/unsqueeze.onnx": (1.0, None, 1),
    "layer-zoo/transpose.onnx": (1.0, None, 1),
    "layer-zoo/sub.onnx": (1.0, None, 1),
    "layer-zoo/dropout_training_mode_false.onnx": (1.0, None, 1),
}
REFUSED = {"fc_2-2sigmoids-3.onnx": "Sigmoid", "tanh_test.onnx": "Tanh", "softmax-last-layer.onnx": "Softmax",
           "layer-zoo/sigmoid.onnx": "Sigmoid", "layer-zoo/tanh.onnx": "Tanh",
           "layer-zoo/dropout_training_mode_true.onnx": "Dropout"}


def _source_outputs(path: str | bytes, X: np.ndarray) -> np.ndarray:
    """onnxruntime on the source (or on the shallow model, which has the same inputs and outputs):
    inputs split from the concatenated vector, outputs concatenated (the order documented in docs/ops.md)."""
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rows = []
    for x in X:
        feeds, offset = {}, 0
        for i in sess.get_inputs():
            shape = [s if isinstance(s, int) else 1 for s in i.shape]
            n = int(np.prod(shape))
            feeds[i.name] = x[offset:offset + n].reshape(shape).astype(np.float32)
            offset += n
        rows.append(np.concatenate([o.reshape(-1) for o in sess.run(None, feeds)]))
    return np.array(rows, dtype=np.float64)


def _box(net, half: float, free, seed: int = 0) -> Domain:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0.0, 1.0, net.d).astype(np.float32).astype(np.float64)
    lo, hi = centre.copy(), centre.copy()
    idx = np.arange(net.d) if free is None else np.asarray(free)
    lo[idx] -= half
    hi[idx] += half
    return Domain.box(lo, hi)


#: models whose compile takes minutes (on a loaded 2-core machine its 120 s limit can stop it): slow tier
SLOW_MODELS = {"cnn_max_mninst2.onnx"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MODELS else n
                                  for n in sorted(MODELS)])
def test_model_compiles_on_a_box_and_matches_onnxruntime(name: str) -> None:
    path = data_path("marabou", *name.split("/"))
    half, free, least_cells = MODELS[name]
    net = load_network(path, batch_axis=False)   # the layer-zoo's [2, k] inputs are one sample
    domain = _box(net, half, free)
    shallow = compile_network(net, domain, time_limit=120)
    assert shallow.num_cells >= least_cells
    X = domain.sample(300, np.random.default_rng(1))
    want = _source_outputs(path, X)
    scale = 1.0 + np.abs(want).max()
    got = shallow.evaluate(X).reshape(want.shape)
    assert np.abs(got - want).max() <= 1e-5 * scale
    emitted = _source_outputs(shallow_onnx(shallow).SerializeToString(), X[:50])   # the same inputs and outputs
    assert np.abs(emitted - want[:50]).max() <= 1e-5 * scale


def test_several_inputs_and_outputs_are_concatenated_in_graph_order() -> None:
    net = load_network(data_path("marabou", "multiInput_add.onnx"), batch_axis=False)
    sig = net.signature
    assert sig["input_name"] == "concatenated_inputs" and net.d == 10
    assert [n for n, _ in sig["inputs"]] == ["X1", "X2"] and [n for n, _ in sig["outputs"]] == ["Y", "relu1"]
    x = np.arange(10, dtype=np.float64) / 10 - 0.4
    want = _source_outputs(data_path("marabou", "multiInput_add.onnx"), x[None])[0]
    assert np.allclose(net.forward(x[None])[0], want, atol=1e-6)


@pytest.mark.parametrize("name,op", sorted(REFUSED.items()))
def test_non_piecewise_linear_models_stay_refused(name: str, op: str) -> None:
    with pytest.raises(ModelError) as info:
        load_network(data_path("marabou", *name.split("/")))
    message = str(info.value)
    assert f"({op})" in message and os.path.basename(name) in message and "\n" not in message


def test_fixed_batch_models_of_the_layer_zoo() -> None:
    """Issue 18 case 2: relu.onnx (x[2, 2], elementwise) is a batch of two 2-input rows; transpose.onnx
    mixes its rows and is refused, with what to do."""
    assert load_network(data_path("marabou", "layer-zoo", "relu.onnx")).d == 2
    with pytest.raises(ModelError, match="batch_axis=False"):
        load_network(data_path("marabou", "layer-zoo", "transpose.onnx"))
