"""onnxruntime helpers for tests: run a fixed-batch model on many points in one call."""
from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

OUT_SHAPE = "relucompile/out_shape"   # the shallow model's final Reshape target (its source's output dims)


def session(model: str | bytes | onnx.ModelProto) -> ort.InferenceSession:
    """A CPU session of a model path, serialized bytes or ModelProto."""
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def with_free_batch(model: str | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose first input and output take any batch size: their first dimension becomes the
    symbolic 'N' and a shallow model's output Reshape target gets -1 there (its graph already
    flattens the input to (-1, d)); the rest of the graph is unchanged."""
    if isinstance(model, str):
        model = onnx.load(model)
    elif isinstance(model, bytes):
        model = onnx.load_from_string(model)
    else:
        model = copy.deepcopy(model)
    initializers = {init.name for init in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    for value in (graph_input, model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    for init in model.graph.initializer:
        if init.name == OUT_SHAPE:
            init.CopyFrom(numpy_helper.from_array(np.array([-1, *numpy_helper.to_array(init)[1:]]), init.name))
    return model


def run_rows(model: str | bytes | onnx.ModelProto, X: np.ndarray, shape: tuple[int, ...],
             check_rows: int = 3, chunk: int = 1000) -> np.ndarray:
    """The model's output at every row of X (each row reshaped to ``shape``, batch dimension first),
    in batched calls of :func:`with_free_batch`'s copy (``chunk`` rows each: a shallow model's
    per-cell tensors are rows x cells); the first ``check_rows`` rows are also
    run one at a time through the unchanged model and must agree bit for bit (the copy computes
    the same function).  Returns one flattened output row per input row."""
    original = session(model)
    name = original.get_inputs()[0].name
    batched = session(with_free_batch(model))
    batch_name, row_shape = batched.get_inputs()[0].name, tuple(shape[1:])
    y = np.concatenate([batched.run(None, {batch_name: X[i:i + chunk].reshape((-1,) + row_shape)})[0].reshape(
        len(X[i:i + chunk]), -1) for i in range(0, len(X), chunk)])
    for row, x in zip(y[:check_rows], X[:check_rows]):
        single = original.run(None, {name: x.reshape(shape)})[0].ravel()
        assert np.array_equal(row, single, equal_nan=True), "the batched copy differs from the model"
    return y
