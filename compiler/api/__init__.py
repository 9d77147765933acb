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
from __future__ import annotations

from relucompile.lazy import lazy_exports

#: public name -> module that defines it; imported on first use (PEP 562), so a command that only
#: loads a model (verify, bounds) does not pay for the engines, numba and scipy at start-up.
_EXPORTS = {
    "compile_model": "relucompile.api.compile",
    "compile_network": "relucompile.api.compile",
    "save_onnx": "relucompile.api.compile",
    "save_regions": "relucompile.api.compile",
    "shallow_onnx": "relucompile.api.compile",
    "load_network": "relucompile.api.wording",
    "explain_point": "relucompile.api.inspect",
    "verify_property": "relucompile.api.inspect",
    "certify_shallow": "relucompile.api.inspect",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports("relucompile.api", _EXPORTS, globals())
