"""relucompile: exact deep-to-shallow compiler for piecewise-linear (ReLU) networks.

The public API lives here; every name is imported on first use, so ``import relucompile`` (and
the command line's start-up) stays cheap.

Example:
    >>> from relucompile import compile_model, Domain
    >>> from relucompile.examples import tiny_mlp_path
    >>> shallow = compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25]))
    >>> shallow.num_cells
    4
    >>> from relucompile import RelucompileError, ModelError, DomainError, RegionLimitError
    >>> try:
    ...     compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]), max_regions=5)
    ... except RelucompileError as error:
    ...     print(type(error).__name__, "max_regions" in str(error))
    RegionLimitError True
"""
from __future__ import annotations

from relucompile.lazy import lazy_exports
from relucompile.version import __version__

#: public name -> module that defines it
_EXPORTS = {
    "Domain": "relucompile.ir.domain",
    "compile_model": "relucompile.api",
    "compile_network": "relucompile.api",
    "load_network": "relucompile.api",
    "save_onnx": "relucompile.api",
    "save_regions": "relucompile.api",
    "shallow_onnx": "relucompile.api",
    "explain_point": "relucompile.api",
    "verify_property": "relucompile.api",
    "certify_shallow": "relucompile.api",
    "compare_models": "relucompile.verify.compare",
    "ShallowNet": "relucompile.shallow.net",
    "ReluNet": "relucompile.ir.network",
    "RelucompileError": "relucompile.errors",
    "UserError": "relucompile.errors",
    "CertificationFailed": "relucompile.certify.checks",
    "ModelError": "relucompile.errors",
    "DomainError": "relucompile.errors",
    "RegionLimitError": "relucompile.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


__getattr__ = lazy_exports("relucompile", _EXPORTS, globals())[0]


def __dir__() -> list[str]:
    return __all__
