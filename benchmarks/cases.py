"""The benchmark cases: seeded random MLPs (docs/design.md section 5) and ACAS Xu 1_1 boxes.

A :class:`BenchCase` names a network and a domain; :func:`load_case` builds both, plus the
source ONNX model whose speed the shallow model is compared with.  Random nets go through the
ONNX frontend (``to_onnx_model`` then ``load_network``), like a user's model would.

Example:
    >>> case = CASES["d2_16x16"]
    >>> case.d, case.widths, case.box
    (2, (16, 16), (-1.0, 1.0))
    >>> net, domain, model = load_case(QUICK_CASES["quick_d2_4x4"])
    >>> net.widths, domain.kind, model.graph.input[0].name
    ([4, 4], 'box', 'x')
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnx

from relucompile.ir.domain import Domain
from relucompile.errors import UserError
from relucompile.ir.network import ReluNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("RELUCOMPILE_DATA", os.path.join(ROOT, "..", "shared", "data"))
ACAS_NET = "ACASXU_run2a_{}_batch_2000.onnx"


@dataclass(frozen=True)
class BenchCase:
    """A random MLP ``d -> widths -> 1`` on ``box`` (None: all of R^d), or an ACAS Xu property box."""

    name: str
    d: int = 0
    widths: tuple[int, ...] = ()
    box: tuple[float, float] | None = (-1.0, 1.0)
    seed: int = 0
    acas: tuple[str, str] | None = None      # (network "1_1", property "prop_3")

    def describe(self) -> str:
        """One line for tables, e.g. ``d4 16x16 on [-1, 1]^4``."""
        if self.acas:
            return f"ACAS Xu {self.acas[0]}, {self.acas[1]} box"
        shape = f"d{self.d} " + "x".join(map(str, self.widths))
        where = f"[{self.box[0]:g}, {self.box[1]:g}]^{self.d}" if self.box else f"R^{self.d}"
        return f"{shape} on {where}"


def _random(d: int, widths: tuple[int, ...], reals: bool = False) -> BenchCase:
    name = f"d{d}_" + "x".join(map(str, widths)) + ("_reals" if reals else "")
    return BenchCase(name, d, widths, None if reals else (-1.0, 1.0))


CASES: dict[str, BenchCase] = {c.name: c for c in [
    _random(2, (16, 16)), _random(2, (32, 32, 32)), _random(3, (16, 16)), _random(4, (16, 16)),
    _random(4, (8, 8, 8)), _random(6, (12, 12)), _random(8, (10, 10)),
    _random(2, (16, 16), reals=True), _random(4, (16, 16), reals=True),
    BenchCase("acasxu_1_1_prop_3", acas=("1_1", "prop_3")),
    BenchCase("acasxu_1_1_prop_4", acas=("1_1", "prop_4")),
]}
"""The full suite, in run order (docs/design.md section 5 shapes, then ACAS Xu)."""

EXTRA_CASES: dict[str, BenchCase] = {c.name: c for c in [_random(4, (32, 32, 32)), _random(4, (48, 48, 48)),
                                                    _random(4, (58, 58, 58))]}
"""Run only when named (``--cases d4_32x32x32``, or ``python -m benchmarks.scale``): the scale
targets of issue 5, 1,439,501 cells, and of issue 16, d4_48x48x48 (6,095,010 cells) and d4_58x58x58
(about 1.2 x 10^7 by the growth from 32 to 48), for ``python -m benchmarks.scale --stream``."""

QUICK_CASES: dict[str, BenchCase] = {
    "quick_d2_4x4": BenchCase("quick_d2_4x4", 2, (4, 4)),
    "quick_d2_4x4_reals": BenchCase("quick_d2_4x4_reals", 2, (4, 4), None),
}
"""Tiny cases for the smoke test (``--quick``): a second each."""


def find_case(name: str) -> BenchCase:
    """The case called ``name`` (full or quick suite); UserError listing the names otherwise.

    Example:
        >>> find_case("d6_12x12").widths
        (12, 12)
    """
    case = CASES.get(name) or EXTRA_CASES.get(name) or QUICK_CASES.get(name)
    if case is None:
        raise UserError(f"unknown case '{name}'; known: {', '.join([*CASES, *EXTRA_CASES, *QUICK_CASES])}")
    return case


def acas_paths(case: BenchCase) -> tuple[str, str]:
    """(ONNX path, VNN-LIB path) of an ACAS Xu case; UserError when the shared data is absent."""
    net_name, prop = case.acas
    model = os.path.join(DATA, "acasxu", ACAS_NET.format(net_name))
    vnnlib = os.path.join(DATA, "acasxu", f"{prop}.vnnlib")
    for path in (model, vnnlib):
        if not os.path.exists(path):
            raise UserError(f"{path}: shared data not found (set RELUCOMPILE_DATA to the real-model data folder)")
    return model, vnnlib


def load_case(case: BenchCase) -> tuple[ReluNet, Domain, onnx.ModelProto]:
    """(network, domain, source ONNX model) of a case."""
    from relucompile import load_network
    if case.acas:
        from relucompile.frontends.vnnlib import parse_vnnlib
        model_path, vnnlib_path = acas_paths(case)
        (lower, upper), = parse_vnnlib(vnnlib_path).input_boxes()
        model = onnx.load(model_path)
        return load_network(model_path), Domain.box(lower, upper), model
    from relucompile.examples.random_nets import random_mlp, to_onnx_model
    model = to_onnx_model(random_mlp(case.d, list(case.widths), 1, case.seed))
    domain = Domain.box(np.full(case.d, case.box[0]), np.full(case.d, case.box[1])) if case.box \
        else Domain.reals(case.d)
    return load_network(model), domain, model


def sample_inputs(domain: Domain, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points of the domain (uniform in a box; [-1, 1]^d for all of R^d), float32-exact.

    Example:
        >>> sample_inputs(Domain.box([0, 0], [1, 2]), 3).shape
        (3, 2)
    """
    rng = np.random.default_rng(seed)
    if domain.kind == "box":
        lo, hi = domain.lower, domain.upper
    else:
        lo, hi = -np.ones(domain.d), np.ones(domain.d)
    X = rng.uniform(lo, hi, (n, domain.d)).astype(np.float32)
    return np.clip(X.astype(np.float64), lo, hi).astype(np.float32)
