"""Data files named on the command line: sample arrays (.npy or .csv) and image shapes.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "X.csv")
    >>> _ = open(path, "w").write("a,b\\n1,2\\n3,4\\n")
    >>> read_array(path, "--inputs").tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    >>> image_shape("2,2", 4)
    (2, 2)
"""
from __future__ import annotations

import os

import numpy as np

from relucompile.errors import UserError


def read_array(path: str, what: str) -> np.ndarray:
    """The array in ``path`` (.npy, never unpickled; or CSV, a header line allowed); ``what`` names
    the option in errors."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file ({what})")
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        with open(path) as f:
            first = f.readline()
        skip = 1 if any(c.isalpha() for c in first.replace("e", "").replace("E", "")) else 0
        return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=1)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot read {what} ({exc})") from None


def image_shape(text: str | None, d: int) -> tuple[int, ...] | None:
    """``--image-shape H,W`` as a tuple whose product is ``d`` (None without the option)."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--image-shape: expected integers like 8,8, got {text!r}") from None
    if int(np.prod(shape)) != d:
        raise UserError(f"--image-shape {text}: {int(np.prod(shape))} pixels but the model has {d} inputs")
    return shape
