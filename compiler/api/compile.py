"""Python API: compile a model to its shallow network and save the outputs.

Example:
    >>> from relucompile import compile_model, Domain
    >>> from relucompile.examples import tiny_mlp_path
    >>> shallow = compile_model(tiny_mlp_path(), domain=Domain.box([0, 0], [0.25, 0.25]))
    >>> shallow.num_cells
    4
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

import onnx

from relucompile.backends.files import atomic_write
from relucompile.backends.onnx_backend import to_onnx
from relucompile.backends.regions_json import write_regions
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.errors import DomainError, UserError
from relucompile.ir.network import ReluNet
from relucompile.passes.lowering import canonicalize, drop_identities, fold_constants, lower
from relucompile.progress import Progress
from relucompile.shallow.net import ShallowNet, build_shallow
from relucompile.frontends.onnx_frontend import load_onnx, read_model

from relucompile.version import __version__


def load_network(model: str | os.PathLike | onnx.ModelProto | Any, example_input: Any = None, *,
                 input_shape: tuple[int, ...] | None = None) -> ReluNet:
    """Read a model into the canonical :class:`ReluNet`.

    ``model``: an ONNX path or ModelProto; a ``torch.nn.Module`` with ``example_input`` (a tensor
    fixing the input shape); or a TorchScript / ``torch.export`` (.pt2) file, with ``input_shape``
    where the file does not fix it.  Torch models go through ONNX (frontends/torch_frontend.py).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> net = load_network(tiny_mlp_path())
        >>> net.d, net.widths, net.m
        (2, [8, 8], 2)

        A torch module goes with an example input (needs ``relucompile[torch]``, so not run here):

        >>> net = load_network(torch_module, torch.zeros(1, 2, 6, 6))           # doctest: +SKIP
    """
    from relucompile.frontends import torch_frontend as tf
    source_sha256 = None
    if tf.is_module(model):
        model = tf.module_to_onnx(model, example_input, input_shape=input_shape)
    elif example_input is not None:
        raise UserError("example_input goes with a torch.nn.Module; files fix their input shape "
                        "(TorchScript files take input_shape)")
    elif not isinstance(model, onnx.ModelProto) and tf.is_torch_file(model):
        source_sha256 = tf.file_sha256(model) if os.path.isfile(model) else None
        model = tf.file_to_onnx(model, input_shape)
    elif input_shape is not None:
        name = model.graph.name if isinstance(model, onnx.ModelProto) else os.path.basename(model)
        raise UserError(f"{name}: --input-shape is for TorchScript and .pt2 files; an ONNX model fixes its input shape")
    proto, path = read_model(model)
    graph = fold_constants(drop_identities(load_onnx(proto if isinstance(model, onnx.ModelProto) else path)))
    net = lower(graph)
    data = proto.SerializeToString() if isinstance(model, onnx.ModelProto) else open(path, "rb").read()
    net.meta["signature"] = dict(graph.meta)
    net.meta["source_sha256"] = source_sha256 or hashlib.sha256(data).hexdigest()
    net.meta["source_name"] = graph.source
    return net


def compile_network(net: ReluNet, domain: Domain | None = None, *, max_regions: int | None = None,
                    time_limit: float | None = None, progress: bool = False, engine: str = "auto",
                    seed: int = 0, jobs: int = 1) -> ShallowNet:
    """Enumerate the cells of ``net`` over ``domain`` (default R^d) and build the shallow net.

    ``jobs``: processes for the enumeration (the result does not depend on it).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> shallow = compile_network(random_mlp(2, [4, 4], 1, seed=0), Domain.box([-1, -1], [1, 1]))
        >>> shallow.num_cells, shallow.evaluate([[0.5, -0.5]]).shape
        (12, (1, 1))
    """
    domain = domain or Domain.reals(net.d)
    if domain.d != net.d:
        raise DomainError(f"the domain has dimension {domain.d} but the model has {net.d} inputs")
    bar = Progress(enabled=progress)
    try:
        regions = enumerate_regions(net, domain, engine, Limits(max_regions, time_limit), bar, jobs=jobs)
    finally:
        bar.close()
    return build_shallow(net, regions, seed=seed)


def compile_model(model: str | os.PathLike | onnx.ModelProto | Any, domain: Domain | None = None, *,
                  example_input: Any = None, input_shape: tuple[int, ...] | None = None,
                  **options: Any) -> ShallowNet:
    """Compile a ReLU network (ONNX, or torch: see :func:`load_network`) into its exact shallow network.

    ``domain``: a :class:`Domain` over the flattened input (default all of R^d).  Options:
    ``max_regions``, ``time_limit`` (seconds), ``progress`` (bar on stderr), ``seed`` (reference point),
    ``jobs`` (processes for the enumeration).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp, to_onnx_model
        >>> model = to_onnx_model(random_mlp(2, [4, 4], 1, seed=0))     # an ONNX ModelProto (or a path)
        >>> compile_model(model, Domain.box([-1, -1], [1, 1]), max_regions=100).num_cells
        12

        A torch module needs an example input (``relucompile[torch]``; not run here):

        >>> shallow = compile_model(torch_module, Domain.box(lo, hi), example_input=x)  # doctest: +SKIP
    """
    return compile_network(load_network(model, example_input, input_shape=input_shape), domain, **options)


def shallow_onnx(shallow: ShallowNet, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The shallow network as an ONNX model with the source model's signature (``metadata``:
    extra ``metadata_props``, e.g. ``Certificate.metadata()``).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> model = shallow_onnx(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])))
        >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
        (['x'], ['y'])
    """
    sig = shallow.net.meta.get("signature", {})
    model = to_onnx(shallow, sig, None, __version__, metadata)
    for prop in model.metadata_props:
        if prop.key == "source_sha256":
            prop.value = shallow.net.meta.get("source_sha256", "")
    return model


def save_onnx(shallow: ShallowNet, path: str, metadata: dict[str, str] | None = None) -> None:
    """Write the shallow ONNX model atomically.

    Example:
        >>> import os, tempfile
        >>> from relucompile.examples import tiny_mlp_path
        >>> path = os.path.join(tempfile.mkdtemp(), "shallow.onnx")
        >>> save_onnx(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])), path)
        >>> os.path.getsize(path) > 0
        True
    """
    model = shallow_onnx(shallow, metadata)
    atomic_write(path, lambda f: f.write(model.SerializeToString()))


def save_regions(shallow: ShallowNet, path: str, certificate: dict[str, Any] | None = None) -> None:
    """Write the regions JSON (schema in backends/regions_json.py) atomically.

    Example:
        >>> import json, os, tempfile
        >>> from relucompile.examples import tiny_mlp_path
        >>> path = os.path.join(tempfile.mkdtemp(), "regions.json")
        >>> save_regions(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])), path)
        >>> len(json.load(open(path))["cells"])
        4
    """
    meta = shallow.net.meta
    atomic_write(path, lambda f: write_regions(shallow, f, meta.get("source_name", ""), meta.get("source_sha256", ""),
                                               certificate), text=True)


__all__ = ["compile_model", "compile_network", "load_network", "save_onnx", "save_regions", "shallow_onnx",
           "canonicalize"]
