"""Worked example: the linear lens and exact pruning on a real trained classifier.

Trains a small ReLU MLP on scikit-learn's bundled iris data (no download), saves it as ONNX, then
1. reads its effective weights over the data (``relucompile lens``): cells visited, per-class
   mean weights, within- vs between-class similarity, units never/always active;
2. prunes it exactly on the data's bounding box (``relucompile prune``) and checks the pruned
   model against the source on the data and on random points of the box;
3. compiles both to their shallow form (same cell count: same function).

Run: ``python docs/examples/iris_lens_prune.py [OUT_DIR]`` (default ``out/iris``); needs
``scikit-learn`` (in the ``test`` extra).  docs/lens_and_prune.md shows its output.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier

from relucompile.examples.random_nets import to_onnx_model
from relucompile.ir.network import AffineLayer, ReluNet


def train(seed: int = 0) -> tuple[ReluNet, np.ndarray, np.ndarray]:
    """A 4-16-16-3 ReLU MLP trained on standardised iris features (weights rounded to float32)."""
    data = load_iris()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), activation="relu", max_iter=2000, random_state=seed)
    clf.fit(X, data.target)
    f32 = lambda a: np.asarray(a, np.float32).astype(np.float64)   # noqa: E731
    layers = [AffineLayer({i: f32(W.T)}, f32(b)) for i, (W, b) in enumerate(zip(clf.coefs_[:-1], clf.intercepts_[:-1]))]
    out = AffineLayer({len(layers): f32(clf.coefs_[-1].T)}, f32(clf.intercepts_[-1]))
    net = ReluNet(4, layers, out, (1, 4), (1, 3))
    print(f"trained: accuracy {clf.score(X, data.target):.3f} on {len(X)} samples")
    return net, X.astype(np.float32), data.target


def relucompile(*args: str) -> str:
    """Run the command line and return what it printed."""
    done = subprocess.run([sys.executable, "-m", "relucompile", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"relucompile {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main(out_dir: str = os.path.join("out", "iris")) -> None:
    os.makedirs(out_dir, exist_ok=True)
    net, X, y = train()
    model_path = os.path.join(out_dir, "iris_mlp.onnx")
    with open(model_path, "wb") as f:
        f.write(to_onnx_model(net).SerializeToString())
    np.save(os.path.join(out_dir, "X.npy"), X)
    np.save(os.path.join(out_dir, "y.npy"), y)
    box_path = os.path.join(out_dir, "data_box.json")     # the data's bounding box, feature by feature
    with open(box_path, "w") as f:
        json.dump({"lower": X.min(axis=0).tolist(), "upper": X.max(axis=0).tolist()}, f)
    box = ["--domain", box_path]
    print(relucompile("lens", model_path, "--inputs", os.path.join(out_dir, "X.npy"),
                      "--labels", os.path.join(out_dir, "y.npy"), "-o", os.path.join(out_dir, "lens.json")), end="")
    small_path = os.path.join(out_dir, "iris_pruned.onnx")
    print(relucompile("prune", model_path, *box, "--method", "cells", "-o", small_path), end="")
    source = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    pruned = ort.InferenceSession(small_path, providers=["CPUExecutionProvider"])
    probe = np.concatenate([X, np.random.default_rng(0).uniform(X.min(axis=0), X.max(axis=0), (2000, 4)).astype(np.float32)])
    a, b = source.run(None, {"x": probe})[0], pruned.run(None, {"x": probe})[0]
    print(f"pruned vs source on {len(probe)} points: max |difference| {np.abs(a - b).max():.2g} (float32 rounding)")
    for path in (model_path, small_path):
        print(relucompile(path, *box, "-o", os.path.join(out_dir, "shallow_" + os.path.basename(path))), end="")
    with open(os.path.join(out_dir, "lens.json")) as f:
        summary = json.load(f)["summary"]
    print(f"within-class similarity {summary['within_class_similarity']:.3f}, "
          f"between-class {summary['between_class_similarity']:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
