"""The public Python API: compile, save, explain, verify, certify (re-exported by ``relucompile``).

Example:
    >>> from relucompile.api import compile_model, explain_point
    >>> from relucompile.examples import tiny_mlp_path
    >>> from relucompile import Domain
    >>> shallow = compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]))
    >>> shallow.num_cells
    98
    >>> explain_point(tiny_mlp_path(), [0.25, -0.5]).output.round(4).tolist()
    [-0.7453, -0.0298]
"""
from relucompile.api.compile import (compile_model, compile_network, load_network, save_onnx, save_regions,
                                     shallow_onnx)
from relucompile.api.inspect import certify_shallow, explain_point, verify_property

__all__ = ["compile_model", "compile_network", "load_network", "save_onnx", "save_regions", "shallow_onnx",
           "explain_point", "verify_property", "certify_shallow"]
