"""Loading a large model: relucompile's load (parse + lower to exact layers) against onnxruntime's
session creation on the same file, measured in the same run.

    python benchmarks/load_large.py                                 # 50-2000x4-10 MLP, 49 MB of float32
    python benchmarks/load_large.py --widths 4700,4700,4700,4700    # 266 MB (254 MiB)
    python benchmarks/load_large.py --tll 64                        # two-level lattice N = M = 64, 270 MB
    python benchmarks/load_large.py --tll 64 --tracemalloc          # + Python-level peak of our load

The model is generated into a temporary folder (nothing is downloaded or kept).  Each figure is
wall and process (user + system) time of a fresh process, one after the other, and its peak
resident memory (``VmHWM``: interpreter and imports included; not ``ru_maxrss``, which a child
inherits from the parent that generated the model).  ``ratio`` is our process time over
onnxruntime's.  On this machine most of our time is system time: first-touch page faults of the
float64 weights (user time is 35-70%).

The ``--tll`` models have the shape of VNN-COMP 2022's tllverifybench (two-level lattice nets,
Ferlez et al.; exported by their ``TLLnet`` package as a flat MatMul/Add/Relu chain): n = 2 inputs,
N local linear functions, M selector sets (here M = N), one output.  Layers: linear (n -> N),
selector (N -> N*M, 0/1 columns picking each set's functions, the set's last one repeated to fill
N), then a min tree over each group of N (levels of 4 ReLUs per pair: relu(a+b), relu(-a-b),
relu(b-a), relu(a-b), recombined as (a+b)/2 -+ |a-b|/2; an odd group compares its last two) and a
max tree over the M minima.  The large matrices are block diagonal (kron(I, small)): N = 64 gives
a 4096 x 8192 first comparison layer, 270 MB in float32, the largest size of that benchmark.

Figures (2-core machine shared with other jobs, load average 8-9; process time = user + system;
benchmarks/README.md, "Loading large models", has the method and what changed):

    command                       file    onnxruntime        relucompile                  ratio
    (default)                     49 MB   0.41 s, 134 MB     0.95 s (0.69 + 0.26), 253 MB  2.3x
    --widths 4700,4700,4700,4700  266 MB  1.45 s, 397 MB     4.68 s (1.73 + 2.95), 1083 MB 3.2x
    --tll 64                      270 MB  1.66 s, 447 MB     6.07 s (2.34 + 3.73), 1046 MB 3.7x

Before issue 14 the default case took 7.7-9.8 s of process time (peak 790 MB) and the 266 MB MLP
25.8 s (peak 4056 MB): every ReLU layer
built an n x n identity and multiplied it with the weights (n^3), the passes deep-copied every
weight twice and every weight was converted to float64 up front.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

MEASURE = r"""
import json, os, sys, time
trace = len(sys.argv) > 3
if trace:
    import tracemalloc
start = time.perf_counter(); cpu = os.times()
if sys.argv[1] == "relucompile":
    from relucompile.api import load_network
    if trace:
        tracemalloc.start()
    net = load_network(sys.argv[2])
else:
    import onnxruntime
    onnxruntime.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
end = os.times()
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(json.dumps({"wall_s": time.perf_counter() - start,
                  "cpu_s": (end.user - cpu.user) + (end.system - cpu.system),
                  "user_s": end.user - cpu.user, "system_s": end.system - cpu.system,
                  "peak_mb": int(status) / 1024,
                  "traced_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20 if trace and sys.argv[1] == "relucompile" else None}))
"""


def write_mlp(path: str, widths: list[int], inputs: int = 50, outputs: int = 10, seed: int = 0) -> None:
    """A random ReLU MLP ``inputs -> widths... -> outputs`` as MatMul/Add/Relu, float32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    sizes = [inputs, *widths, outputs]
    nodes, inits, x = [], [], "x"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        inits += [numpy_helper.from_array((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"B{i}")]
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"B{i}"], [f"a{i}"])]
        x = f"a{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, outputs])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def min_max_level(group: int, groups: int, take_max: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """One level of a lattice's min (max) tree over ``groups`` groups of ``group`` values:
    (comparison weights with ReLUs after them, recombination weights, values left per group).

    Each pair (a, b) gives relu(a+b), relu(-a-b), relu(b-a), relu(a-b); min(a, b) is
    (a+b)/2 - |a-b|/2 and max(a, b) is (a+b)/2 + |a-b|/2.  An odd group's last pair is its last
    two values (the one compared twice changes no minimum).

    >>> compare, combine, left = min_max_level(3, 1, take_max=False)
    >>> x = np.array([[3.0, -1.0, 2.0]])
    >>> (np.maximum(x @ compare, 0) @ combine).tolist(), left
    ([[-1.0, -1.0]], 2)
    """
    pairs = [(2 * k, 2 * k + 1) for k in range(group // 2)] + ([(group - 2, group - 1)] if group % 2 else [])
    compare = np.zeros((group, 4 * len(pairs)))
    combine = np.zeros((4 * len(pairs), len(pairs)))
    sign = 0.5 if take_max else -0.5
    for k, (a, b) in enumerate(pairs):
        compare[[a, b], 4 * k + 0] = 1.0
        compare[[a, b], 4 * k + 1] = -1.0
        compare[a, 4 * k + 2], compare[b, 4 * k + 2] = -1.0, 1.0
        compare[a, 4 * k + 3], compare[b, 4 * k + 3] = 1.0, -1.0
        combine[4 * k:4 * k + 4, k] = [0.5, -0.5, sign, sign]
    eye = np.eye(groups)
    return np.kron(eye, compare), np.kron(eye, combine), len(pairs)


def write_tll(path: str, functions: int, selectors: int | None = None, inputs: int = 2, seed: int = 0,
              dtype: type = np.float32) -> None:
    """A random two-level lattice net (max over ``selectors`` sets of the min of the set's
    affine functions, ``functions`` of them) as a MatMul/Add/Relu chain shaped as tllverifybench's
    (see the module docstring)."""
    import onnx
    from onnx import helper, numpy_helper
    rng = np.random.default_rng(seed)
    N, M = functions, selectors or functions
    selector = np.zeros((N, N * M))
    for j in range(M):
        chosen = np.flatnonzero(rng.random(N) < 0.5)
        chosen = chosen if chosen.size else np.array([rng.integers(N)])
        picks = np.concatenate([chosen, np.full(N - chosen.size, chosen[-1])])
        selector[picks, j * N + np.arange(N)] = 1.0
    matrices = [(rng.standard_normal((inputs, N)), rng.standard_normal(N), False), (selector, np.zeros(N * M), False)]
    for take_max, group, groups in ((False, N, M), (True, M, 1)):
        while group > 1:
            compare, combine, group = min_max_level(group, groups, take_max)
            matrices += [(compare, np.zeros(compare.shape[1]), True), (combine, np.zeros(combine.shape[1]), False)]
    nodes, inits, x = [], [], "x"
    for i, (weights, bias, relu) in enumerate(matrices):
        inits += [numpy_helper.from_array(weights.astype(dtype), f"W{i}"), numpy_helper.from_array(bias.astype(dtype), f"B{i}")]
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"B{i}"], [f"a{i}"])]
        x = f"a{i}"
        if relu:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(nodes, "tll", [helper.make_tensor_value_info("x", elem, [1, inputs])],
                              [helper.make_tensor_value_info(x, elem, [1, 1])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def measure(tool: str, path: str, trace: bool = False) -> dict:
    """The figures of one fresh process loading ``path`` with ``tool``."""
    done = subprocess.run([sys.executable, "-c", MEASURE, tool, path] + (["trace"] if trace else []),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="2000,2000,2000,2000", help="hidden widths of the MLP, comma-separated")
    parser.add_argument("--tll", type=int, metavar="N", help="a two-level lattice net with N = M instead of the MLP")
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python-level peak of our load (slower)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        if args.tll:
            write_tll(path, args.tll)
            name = f"two-level lattice N = M = {args.tll}"
        else:
            widths = [int(w) for w in args.widths.split(",")]
            write_mlp(path, widths)
            name = f"MLP 50-{'-'.join(map(str, widths))}-10"
        size_mb = os.path.getsize(path) / 1e6
        print(f"model: {name}, {size_mb:.0f} MB; load average {os.getloadavg()[0]:.1f}")
        figures = {}
        for tool in ("onnxruntime", "relucompile"):
            figures[tool] = f = measure(tool, path, args.tracemalloc)
            traced = f" (tracemalloc peak {f['traced_peak_mb']:.0f} MB)" if f.get("traced_peak_mb") else ""
            print(f"{tool:12s} wall {f['wall_s']:6.2f} s  process {f['cpu_s']:6.2f} s (user {f['user_s']:.2f}, "
                  f"system {f['system_s']:.2f})  peak {f['peak_mb']:6.0f} MB{traced}")
        ratio = figures["relucompile"]["cpu_s"] / max(figures["onnxruntime"]["cpu_s"], 1e-3)
        print(f"ratio (process time, relucompile / onnxruntime): {ratio:.1f}x; "
              f"our peak / file size: {figures['relucompile']['peak_mb'] * 2**20 / 1e6 / size_mb:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
