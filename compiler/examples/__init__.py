"""Bundled example model and random test networks.

Example:
    >>> import os
    >>> os.path.basename(tiny_mlp_path())
    'tiny_mlp.onnx'
"""
from __future__ import annotations

import os


def tiny_mlp_path() -> str:
    """Path of the bundled 2-input, 8x8, 2-output ReLU MLP (ONNX)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_mlp.onnx")
