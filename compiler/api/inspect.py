"""Explain, verify and certify from a model file or a loaded network (the API's second half).

Example:
    >>> from relucompile.examples import tiny_mlp_path
    >>> int(explain_point(tiny_mlp_path(), [0.25, -0.5]).pattern[0].sum())
    2
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from relucompile.analysis.explain import Explanation
from relucompile.analysis.explain import explain_point as explain
from relucompile.api.compile import load_network, speaks_api
from relucompile.certify.checks import Certificate
from relucompile.errors import UserError
from relucompile.certify.checks import certify_shallow as certify
from relucompile.frontends.vnnlib import Property, parse_vnnlib
from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.shallow.net import ShallowNet
from relucompile.verify.run import VerifyResult
from relucompile.verify.run import verify_property as verify


def _network(model: Any) -> ReluNet:
    return model if isinstance(model, ReluNet) else load_network(model)


@speaks_api
def explain_point(model: Any, x: Sequence[float], domain: Domain | None = None, **options: Any) -> Explanation:
    """The linear rule of the model at ``x`` (an :class:`~relucompile.analysis.explain.Explanation`):
    activation pattern, effective weights ``W_eff``/``b_eff`` and how far ``x`` can move.

    ``model``: a path, ModelProto or loaded :class:`ReluNet`.  Options as in
    :func:`relucompile.analysis.explain.explain_point`.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> e = explain_point(tiny_mlp_path(), [0.25, -0.5])
        >>> e.W_eff.shape
        (2, 2)
    """
    net = _network(model)
    size = np.size(np.asarray(x, dtype=object))
    if size != net.d:
        raise UserError(f"x has {size} values but the model has {net.d} inputs (pass a sequence of {net.d} numbers)")
    return explain(net, x, domain, **options)


@speaks_api
def verify_property(model: Any, prop: str | os.PathLike | Property, timeout: float | None = None,
                    seed: int = 0) -> VerifyResult:
    """Decide a VNN-LIB property (a path or a parsed ``Property``) on the model: a
    :class:`~relucompile.verify.run.VerifyResult` with verdict ``holds``, ``violated`` or ``unknown``.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> text = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)"
        ...         "(declare-const Y_1 Real)(assert (>= X_0 -1))(assert (<= X_0 1))"
        ...         "(assert (>= X_1 -1))(assert (<= X_1 1))(assert (>= Y_0 100))")
        >>> from relucompile.frontends.vnnlib import parse_vnnlib_text
        >>> verify_property(tiny_mlp_path(), parse_vnnlib_text(text)).verdict
        'holds'
    """
    if isinstance(prop, (str, os.PathLike)):
        prop = parse_vnnlib(prop)
    source = None if isinstance(model, ReluNet) else model
    return verify(_network(model), prop, timeout=timeout, model=source, seed=seed)


@speaks_api
def certify_shallow(shallow: ShallowNet, progress: Callable[[int, dict], None] | None = None) -> Certificate:
    """Prove a compiled :class:`ShallowNet` exact in rational arithmetic; returns the
    :class:`~relucompile.certify.checks.Certificate` (raises ``CertificationFailed`` on a defect).

    Example:
        >>> from relucompile import compile_model, Domain
        >>> from relucompile.examples import tiny_mlp_path
        >>> certify_shallow(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25]))).cells
        4
    """
    return certify(shallow, progress)
