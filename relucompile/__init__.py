"""relucompile: exact deep-to-shallow compiler for piecewise-linear networks.

Example:
    >>> from relucompile import compile_model, Domain, save_onnx
    >>> shallow = compile_model("model.onnx", Domain.box([-1, -1], [1, 1]))   # doctest: +SKIP
    >>> save_onnx(shallow, "shallow.onnx")                                    # doctest: +SKIP
"""
__version__ = "0.1.0"

from compiler.domain import Domain  # noqa: E402
from relucompile.api import (compile_model, compile_network, load_network, save_onnx,  # noqa: E402
                             save_regions, shallow_onnx)

__all__ = ["Domain", "compile_model", "compile_network", "load_network", "save_onnx", "save_regions",
           "shallow_onnx", "__version__"]
