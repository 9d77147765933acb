"""onnxruntime throughput (inputs per second) of an ONNX model, at a given batch size.

Models are run on one thread (``intra_op_num_threads=1``): the figures compare models, not
thread pools, and stay steadier on a shared machine.  Models with a fixed batch dimension (ACAS
Xu's input is [1, 1, 1, 5]) are measured through :func:`with_symbolic_batch`, a copy whose first
input and output dimension is symbolic, so batch 1024 runs as one call.

Example:
    >>> from relucompile.examples.random_nets import random_mlp, to_onnx_model
    >>> model = to_onnx_model(random_mlp(2, [4], 1, 0))
    >>> X = np.zeros((8, 2), np.float32)
    >>> rate = inputs_per_second(session(model), X, batch=4, min_seconds=0.01)
    >>> rate["inputs_per_s"] > 0, rate["batch"]
    (True, 4)
"""
from __future__ import annotations

import time

import numpy as np
import onnx


def with_symbolic_batch(model: onnx.ModelProto, name: str = "N") -> onnx.ModelProto:
    """A copy whose graph inputs and outputs have a symbolic first dimension (other dims kept).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp, to_onnx_model
        >>> m = to_onnx_model(random_mlp(2, [4], 1, 0))
        >>> m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
        >>> with_symbolic_batch(m).graph.input[0].type.tensor_type.shape.dim[0].dim_param
        'N'
    """
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    initializers = {init.name for init in copy.graph.initializer}
    for value in [*copy.graph.input, *copy.graph.output]:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = name
    del copy.graph.value_info[:]
    return copy


def session(model: onnx.ModelProto):
    """A single-threaded onnxruntime CPU session of ``model``."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def feed_shape(sess, batch: int, d: int) -> tuple[int, ...]:
    """The input shape for ``batch`` points: the model's dims with the batch first, d last."""
    dims = sess.get_inputs()[0].shape
    shape = [batch] + [v if isinstance(v, int) else 1 for v in dims[1:]]
    if int(np.prod(shape[1:])) != d:
        shape = [batch, d]
    return tuple(shape)


def run_batches(sess, X: np.ndarray, batch: int) -> np.ndarray:
    """Outputs for every row of X (last partial batch dropped), as (n, m) float64."""
    name = sess.get_inputs()[0].name
    shape = feed_shape(sess, batch, X.shape[1])
    outs = [sess.run(None, {name: X[i:i + batch].reshape(shape)})[0].reshape(batch, -1)
            for i in range(0, X.shape[0] - batch + 1, batch)]
    return np.concatenate(outs).astype(np.float64)


def inputs_per_second(sess, X: np.ndarray, batch: int, min_seconds: float = 1.0,
                      max_calls: int = 100_000) -> dict:
    """Run batches of ``batch`` rows of X (cycling) for at least ``min_seconds`` (after one warm-up
    call); returns ``{"batch", "calls", "seconds", "inputs_per_s"}``."""
    name = sess.get_inputs()[0].name
    shape = feed_shape(sess, batch, X.shape[1])
    starts = list(range(0, max(1, X.shape[0] - batch + 1), batch))
    feeds = [{name: np.ascontiguousarray(X[s:s + batch].reshape(shape))} for s in starts]
    sess.run(None, feeds[0])
    calls, start = 0, time.perf_counter()
    while True:
        sess.run(None, feeds[calls % len(feeds)])
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or calls >= max_calls:
            break
    return {"batch": batch, "calls": calls, "seconds": elapsed, "inputs_per_s": calls * batch / elapsed}
