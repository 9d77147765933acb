"""What the emitted shallow ONNX costs against its source: file size and onnxruntime time per point.

``python -m benchmarks.shallow_cost`` prints one line per model (the README's table): cells, the
source's and the shallow file's size in bytes, compile time, and microseconds per point at batch 1
and batch 1000, source then shallow, on one onnxruntime thread.  Seconds to run.
"""
from __future__ import annotations

import time

import numpy as np
import onnx
import onnxruntime as ort

from relucompile import Domain, compile_model, shallow_onnx
from relucompile.examples import tiny_mlp_path
from relucompile.examples.random_nets import random_mlp, to_onnx_model


def seconds_per_point(session: ort.InferenceSession, name: str, X: np.ndarray, repeats: int) -> float:
    """Mean wall time per input row of ``repeats`` runs on ``X`` (after one warm-up run).

    Example:
        >>> session = ort.InferenceSession(tiny_mlp_path(), providers=["CPUExecutionProvider"])
        >>> seconds_per_point(session, "x", np.zeros((4, 2), np.float32), 3) > 0
        True
    """
    session.run(None, {name: X})
    start = time.perf_counter()
    for _ in range(repeats):
        session.run(None, {name: X})
    return (time.perf_counter() - start) / repeats / len(X)


def cost(label: str, source: bytes, d: int) -> str:
    """One line: cells, sizes, compile time and time per point of source and shallow model."""
    start = time.perf_counter()
    shallow = compile_model(onnx.load_from_string(source), Domain.box([-1] * d, [1] * d))
    compile_s = time.perf_counter() - start
    emitted = shallow_onnx(shallow).SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(m, options, providers=["CPUExecutionProvider"]) for m in (source, emitted)]
    name = sessions[0].get_inputs()[0].name
    one, batch = np.zeros((1, d), np.float32), np.random.default_rng(0).uniform(-1, 1, (1000, d)).astype(np.float32)
    t1 = [seconds_per_point(s, name, one, 2000) * 1e6 for s in sessions]
    tb = [seconds_per_point(s, name, batch, 20) * 1e6 for s in sessions]
    return (f"{label}: {shallow.num_cells:,} cells; source {len(source):,} B, shallow {len(emitted):,} B; "
            f"compile {compile_s:.2f} s; us per point, batch 1: {t1[0]:.1f} / {t1[1]:.1f}; "
            f"batch 1000: {tb[0]:.3f} / {tb[1]:.3f}")


def main() -> None:
    with open(tiny_mlp_path(), "rb") as f:
        print(cost("tiny_mlp 2-8-8-2, box [-1,1]^2", f.read(), 2))
    print(cost("random MLP d4 16x16, box [-1,1]^4",
               to_onnx_model(random_mlp(4, [16, 16], 1, seed=0)).SerializeToString(), 4))


if __name__ == "__main__":
    main()
