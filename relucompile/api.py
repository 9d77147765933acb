"""Python API: compile a model to its shallow network and save the outputs.

Example:
    >>> from relucompile import compile_model, Domain
    >>> shallow = compile_model("../shared/data/marabou/fc_2-2-3.onnx",
    ...                         domain=Domain.box([3, -2], [4, -1]))   # doctest: +SKIP
    >>> shallow.num_cells                                              # doctest: +SKIP
    2
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

import onnx

from backends.files import atomic_write
from backends.onnx_backend import to_onnx
from backends.regions_json import write_regions
from compiler.domain import Domain
from compiler.enumerate import Limits, enumerate_regions
from compiler.errors import DomainError
from compiler.network import ReluNet
from compiler.passes import canonicalize, drop_identities, fold_constants, lower
from compiler.progress import Progress
from compiler.shallow import ShallowNet, build_shallow
from frontends.onnx_frontend import load_onnx, read_model

from relucompile import __version__


def load_network(model: str | os.PathLike | onnx.ModelProto) -> ReluNet:
    """Read an ONNX model (path or ModelProto) into the canonical :class:`ReluNet`.

    Example:
        >>> net = load_network("../shared/data/vnncomp-test/test_small.onnx")  # doctest: +SKIP
        >>> net.d, net.widths, net.m                                            # doctest: +SKIP
        (1, [2, 2], 1)
    """
    proto, path = read_model(model)
    graph = fold_constants(drop_identities(load_onnx(proto if isinstance(model, onnx.ModelProto) else path)))
    net = lower(graph)
    data = proto.SerializeToString() if isinstance(model, onnx.ModelProto) else open(path, "rb").read()
    net.meta["signature"] = dict(graph.meta)
    net.meta["source_sha256"] = hashlib.sha256(data).hexdigest()
    net.meta["source_name"] = graph.source
    return net


def compile_network(net: ReluNet, domain: Domain | None = None, *, max_regions: int | None = None,
                    time_limit: float | None = None, progress: bool = False, engine: str = "split",
                    seed: int = 0) -> ShallowNet:
    """Enumerate the cells of ``net`` over ``domain`` (default R^d) and build the shallow net."""
    domain = domain or Domain.reals(net.d)
    if domain.d != net.d:
        raise DomainError(f"the domain has dimension {domain.d} but the model has {net.d} inputs")
    bar = Progress(enabled=progress)
    try:
        regions = enumerate_regions(net, domain, engine, Limits(max_regions, time_limit), bar)
    finally:
        bar.close()
    return build_shallow(net, regions, seed=seed)


def compile_model(model: str | os.PathLike | onnx.ModelProto, domain: Domain | None = None,
                  **options: Any) -> ShallowNet:
    """Compile an ONNX ReLU network into its exact shallow network.

    ``domain``: a :class:`Domain` (default all of R^d).  Options: ``max_regions``,
    ``time_limit`` (seconds), ``progress`` (bar on stderr), ``seed`` (reference point).
    """
    return compile_network(load_network(model), domain, **options)


def shallow_onnx(shallow: ShallowNet, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The shallow network as an ONNX model with the source model's signature (``metadata``:
    extra ``metadata_props``, e.g. ``Certificate.metadata()``)."""
    sig = shallow.net.meta.get("signature", {})
    model = to_onnx(shallow, sig, None, __version__, metadata)
    for prop in model.metadata_props:
        if prop.key == "source_sha256":
            prop.value = shallow.net.meta.get("source_sha256", "")
    return model


def save_onnx(shallow: ShallowNet, path: str, metadata: dict[str, str] | None = None) -> None:
    """Write the shallow ONNX model atomically."""
    model = shallow_onnx(shallow, metadata)
    atomic_write(path, lambda f: f.write(model.SerializeToString()))


def save_regions(shallow: ShallowNet, path: str, certificate: dict[str, Any] | None = None) -> None:
    """Write the regions JSON (schema in backends/regions_json.py) atomically."""
    meta = shallow.net.meta
    atomic_write(path, lambda f: write_regions(shallow, f, meta.get("source_name", ""), meta.get("source_sha256", ""),
                                               certificate), text=True)


__all__ = ["compile_model", "compile_network", "load_network", "save_onnx", "save_regions", "shallow_onnx",
           "canonicalize"]
