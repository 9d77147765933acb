"""Loading a large model: relucompile's load (parse + lower to exact layers) against onnxruntime's
session creation on the same file, measured in the same run.

    python benchmarks/load_large.py                      # 50-2000x4-10 MLP, ~48 MB of float32
    python benchmarks/load_large.py --widths 4000,4000,4000,4000    # ~190 MB

The model is generated into a temporary folder (nothing is downloaded or kept). Each figure is
wall and process (user + system) time of a fresh process, one after the other.
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
import json, os, resource, sys, time
start = time.perf_counter(); cpu = os.times()
if sys.argv[1] == "relucompile":
    from relucompile.api import load_network
    net = load_network(sys.argv[2])
else:
    import onnxruntime
    onnxruntime.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
end = os.times()
print(json.dumps({"wall_s": time.perf_counter() - start,
                  "cpu_s": (end.user - cpu.user) + (end.system - cpu.system),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="2000,2000,2000,2000", help="hidden widths, comma-separated")
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mlp.onnx")
        write_mlp(path, widths)
        size_mb = os.path.getsize(path) / 2**20
        print(f"model: 50-{'-'.join(map(str, widths))}-10, {size_mb:.0f} MB; load average {os.getloadavg()[0]:.1f}")
        for tool in ("onnxruntime", "relucompile"):
            done = subprocess.run([sys.executable, "-c", MEASURE, tool, path], capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout)
            print(f"{tool:12s} wall {figures['wall_s']:6.2f} s  process {figures['cpu_s']:6.2f} s  "
                  f"peak {figures['peak_mb']:6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
