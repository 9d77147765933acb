"""Regenerate the bundled example model: ``python compiler/examples/make_examples.py``."""
import os

import onnx

from relucompile.examples.random_nets import random_mlp, to_onnx_model

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    onnx.save(to_onnx_model(random_mlp(2, [8, 8], 2, seed=7)), os.path.join(here, "tiny_mlp.onnx"))
