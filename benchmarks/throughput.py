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


# -- the throughput table: source against both shallow layouts, one subprocess per figure ------------

LAYER_LIMIT_GB = 4.0   # the layered form is skipped where batch 1024 would need more onnxruntime memory


def measure_in_subprocess(model_path: str, case: str, batch: int, min_seconds: float) -> dict:
    """inputs/s of one model at one batch, and the peak resident memory (VmHWM, MiB) of the fresh
    process that loaded onnxruntime and ran it."""
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--measure", model_path, "--case", case,
                          "--batch", str(batch), "--min-seconds", repr(min_seconds)],
                         capture_output=True, text=True, cwd=_ROOT, check=False)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure_main(model_path: str, case_name: str, batch: int, min_seconds: float) -> None:
    import json
    from benchmarks.cases import find_case, load_case, sample_inputs
    from relucompile.regions.parallel import peak_rss_mb
    _, domain, _ = load_case(find_case(case_name))
    X = sample_inputs(domain, 4096, seed=1)
    sess = session(onnx.load(model_path))
    # best of 5 windows: on a shared machine a window may lose the core to other processes
    windows = [inputs_per_second(sess, X, batch, min_seconds / 5) for _ in range(5)]
    rate = max(windows, key=lambda r: r["inputs_per_s"])
    rate["windows_inputs_per_s"] = [r["inputs_per_s"] for r in windows]
    rate["peak_mb"] = peak_rss_mb()
    print(json.dumps(rate))


def throughput_case(case_name: str, workdir: str, min_seconds: float = 1.0, layer_limit_gb: float = LAYER_LIMIT_GB) -> dict:
    """Compile one case, write the source (symbolic batch) and both shallow layouts, measure each in
    its own process at batch 1 and 1024.  Returns one row of the table."""
    import os
    from benchmarks.cases import find_case, load_case
    from benchmarks.worker import shallow_batch_bytes, symbolic_batch_signature
    from relucompile.api.compile import compile_network, shallow_onnx
    case = find_case(case_name)
    net, domain, source = load_case(case)
    start = time.perf_counter()
    shallow = compile_network(net, domain, progress=False)
    compile_s = time.perf_counter() - start
    net.signature = net.signature.replace(**symbolic_batch_signature(net.signature, net.d, net.m))
    start = time.perf_counter()
    index_model = shallow_onnx(shallow)
    index_s = time.perf_counter() - start
    layers_model = shallow_onnx(shallow, layout="layers")
    os.makedirs(workdir, exist_ok=True)
    paths = {}
    for name, model in (("source", with_symbolic_batch(source)), ("index", index_model), ("layers", layers_model)):
        paths[name] = os.path.join(workdir, f"{case_name}.{name}.onnx")
        onnx.save(model, paths[name])
    facets = int(np.diff(shallow.cell_ptr).max()) if shallow.num_cells else 0
    row = {"case": case_name, "describe": case.describe(), "cells": shallow.num_cells, "compile_s": compile_s,
           "index_build_s": index_s, "levels": shallow.locator.levels, "arity": shallow.locator.arity,
           "mb": {k: os.path.getsize(p) / 2**20 for k, p in paths.items()}}
    need_gb = shallow_batch_bytes(1024, shallow.num_cells, facets) / 2**30
    for name in ("source", "index", "layers"):
        for batch in (1, 1024):
            if name == "layers" and need_gb > layer_limit_gb:
                row[f"{name}_b{batch}"] = {"skipped": f"needs ~{need_gb:.0f} GB"}
                continue
            row[f"{name}_b{batch}"] = measure_in_subprocess(paths[name], case_name, batch, min_seconds)
    return row


def _rate(cell: dict) -> str:
    if "skipped" in cell:
        return f"skipped: {cell['skipped']}"
    if "error" in cell:
        return "error"
    value = cell["inputs_per_s"]
    return f"{value / 1e6:.2f}M" if value >= 1e6 else (f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}")


def markdown_table(rows: list[dict]) -> str:
    """The README table: inputs/s at batch 1 and 1024, ratios of the default (index) layout to the
    source, peak MiB of the batch-1024 process, model sizes."""
    lines = ["| case | cells | levels | source b1 / b1024 | index b1 / b1024 | index/source b1 / b1024 | "
             "layers b1 / b1024 | peak MiB b1024: source / index / layers | MB: source / index / layers |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def ratio(b):
            s, i = r[f"source_b{b}"], r[f"index_b{b}"]
            return f"{i['inputs_per_s'] / s['inputs_per_s']:.2f}" if "inputs_per_s" in s and "inputs_per_s" in i else "-"
        peak = " / ".join(f"{r[f'{k}_b1024']['peak_mb']:.0f}" if "peak_mb" in r[f"{k}_b1024"] else "-"
                          for k in ("source", "index", "layers"))
        layers = (_rate(r["layers_b1"]) if "skipped" in r["layers_b1"]
                  else f"{_rate(r['layers_b1'])} / {_rate(r['layers_b1024'])}")
        lines.append(f"| {r['describe']} | {r['cells']:,} | {r['levels']} | {_rate(r['source_b1'])} / "
                     f"{_rate(r['source_b1024'])} | {_rate(r['index_b1'])} / {_rate(r['index_b1024'])} | "
                     f"{ratio(1)} / {ratio(1024)} | {layers} | {peak} | "
                     + " / ".join(f"{r['mb'][k]:.2f}" for k in ("source", "index", "layers")) + " |")
    return "\n".join(lines)


_ROOT = __import__("os").path.dirname(__import__("os").path.dirname(__import__("os").path.abspath(__file__)))


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.throughput [--cases a,b] [--json F] [--markdown F]``: the table."""
    import argparse
    import json
    import os
    import tempfile
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=main.__doc__)
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: every case)")
    parser.add_argument("--min-seconds", type=float, default=1.5, help="per figure: best of 5 windows of S/5")
    parser.add_argument("--layer-limit-gb", type=float, default=LAYER_LIMIT_GB)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        _measure_main(args.measure, args.case, args.batch, args.min_seconds)
        return 0
    from benchmarks.cases import CASES
    names = args.cases.split(",") if args.cases else list(CASES)
    workdir = args.workdir or tempfile.mkdtemp(prefix="relucompile_throughput_")
    rows = []
    for name in names:
        rows.append(throughput_case(name, workdir, args.min_seconds, args.layer_limit_gb))
        print(json.dumps(rows[-1]), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write(markdown_table(rows) + "\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
