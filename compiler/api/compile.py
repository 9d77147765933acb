"""Python API: compile a model to its shallow network and save the outputs.

Example:
    >>> from relucompile import compile_model, Domain
    >>> from relucompile.examples import tiny_mlp_path
    >>> shallow = compile_model(tiny_mlp_path(), domain=Domain.box([0, 0], [0.25, 0.25]))
    >>> shallow.num_cells
    4
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import onnx

from relucompile.backends.files import atomic_write
from relucompile.backends.onnx_backend import to_onnx
from relucompile.backends.regions_json import write_regions
from relucompile.certify.scale_guard import prove_if_extreme
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.errors import DomainError, UserError
from relucompile.limits import doing, time_budget
from relucompile.ir.network import ReluNet
from relucompile.passes.lowering import canonicalize
from relucompile.progress import Progress, current as current_progress
from relucompile.shallow.net import ShallowNet, build_shallow
from relucompile.api.wording import load_network, speaks_api
from relucompile.version import __version__

#: the enumeration engines ``engine`` may name
ENGINES = ("auto", "vertex", "split")



def _check_options(max_regions: int | None, time_limit: float | None, engine: str, jobs: int) -> None:
    """The compile options are valid, or a UserError naming the parameter and what to pass."""
    if max_regions is not None and not (isinstance(max_regions, int) and max_regions >= 1):
        raise UserError(f"max_regions must be a whole number of at least 1 (or None: no limit), got {max_regions!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and 0 < time_limit < float("inf")):
        raise UserError(f"time_limit must be a positive number of seconds (or None: no limit), got {time_limit!r}")
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if not (isinstance(jobs, int) and jobs >= 1):
        raise UserError(f"jobs must be a whole number of at least 1, got {jobs!r}")


class CallbackProgress:
    """Forwards the enumeration's progress to ``callback(cells, info)``: ``cells`` found so far and
    ``info`` with ``elapsed`` seconds (and the engine's counters, e.g. ``lps``).

    Example:
        >>> seen = []
        >>> bar = CallbackProgress(lambda cells, info: seen.append(cells))
        >>> bar(3, {"lps": 10}); bar.close(); seen
        [3]
    """

    def __init__(self, callback: Callable[[int, dict], Any]) -> None:
        self.callback, self.start = callback, time.perf_counter()

    def __call__(self, count: int, info: dict) -> None:
        self.callback(count, dict(info, elapsed=time.perf_counter() - self.start))

    def close(self) -> None:
        pass


@speaks_api
def compile_network(net: ReluNet, domain: Domain | None = None, *, max_regions: int | None = None,
                    time_limit: float | None = None, progress: bool | Callable[[int, dict], Any] = False,
                    engine: str = "auto", seed: int = 0, jobs: int = 1) -> ShallowNet:
    """Enumerate the cells of ``net`` over ``domain`` (default R^d) and build the shallow net.

    ``max_regions``/``time_limit``: stop with :class:`~relucompile.errors.RegionLimitError` past
    them; ``time_limit`` (seconds) bounds the whole compile, every LP included
    (:mod:`relucompile.limits`); the memory budget is :data:`relucompile.limits.DEFAULT_MEMORY_MB`
    unless a ``memory_budget`` is open.  ``progress``: True draws a progress line on stderr; a
    callable is called as ``progress(cells, info)`` while cells are found (``info["elapsed"]`` in
    seconds).  ``jobs``: processes for the enumeration (the result does not depend on it).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> shallow = compile_network(random_mlp(2, [4, 4], 1, seed=0), Domain.box([-1, -1], [1, 1]))
        >>> shallow.num_cells, shallow.evaluate([[0.5, -0.5]]).shape
        (12, (1, 1))
        >>> counts = []
        >>> _ = compile_network(random_mlp(2, [4, 4], 1, seed=0), progress=lambda cells, info: counts.append(cells))
        >>> counts[-1] > 0
        True
    """
    _check_options(max_regions, time_limit, engine, jobs)
    if net.embedding is not None:   # lowered over the free coordinates of its domain: enumerate over those
        if domain is not None and domain.to_json() != net.embedding.domain.to_json():
            raise DomainError("the network was restricted to another domain's affine hull; load it with this domain")
        domain = net.embedding.free_domain
    domain = domain or Domain.reals(net.d)
    if not isinstance(domain, Domain):
        raise DomainError(f"domain must be a Domain (Domain.box(lower, upper), Domain.polytope(G, g), "
                          f"Domain.reals(d)), got {type(domain).__name__}")
    if domain.d != net.d:
        raise DomainError(f"the domain has dimension {domain.d} but the model has {net.d} inputs "
                          f"(pass a Domain over {net.d} values, e.g. Domain.box([-1] * {net.d}, [1] * {net.d}))")
    ambient = current_progress()   # the command's own line (relucompile.progress.activity), if any
    if callable(progress):
        bar = CallbackProgress(progress)
    else:
        bar = ambient if ambient is not None else Progress(enabled=bool(progress))
    with time_budget(time_limit, hint="use a smaller domain (--box) or raise --time-limit"):
        try:
            regions = enumerate_regions(net, domain, engine, Limits(max_regions, time_limit), bar, jobs=jobs)
        finally:
            if bar is not ambient:
                bar.close()
        if len(regions) == 0:
            raise DomainError(f"{domain.describe()}: no cell wider than the enumeration's tolerance; the domain is "
                              "too thin in some direction (give such inputs zero width, or widen the domain)")
        with doing("building the shallow network"):
            shallow = build_shallow(net, regions, seed=seed)
        prove_if_extreme(shallow)   # parameters spanning beyond the float engines' resolution: proved or refused
        return shallow


@speaks_api
def compile_model(model: str | os.PathLike | onnx.ModelProto | Any, domain: Domain | None = None, *,
                  example_input: Any = None, input_shape: tuple[int, ...] | None = None,
                  batch_axis: bool = True, **options: Any) -> ShallowNet:
    """Compile a ReLU network (ONNX, or torch: see :func:`load_network`) into its exact shallow network.

    ``domain``: a :class:`Domain` over the flattened input (default all of R^d).  Options:
    ``max_regions``, ``time_limit`` (seconds), ``progress`` (True: a line on stderr; or a callable
    ``progress(cells, info)``), ``seed`` (reference point),
    ``jobs`` (processes for the enumeration).  ``batch_axis``: see :func:`load_network` (a fixed
    leading dimension > 1 is a batch of rows; False: the whole input tensor is one sample).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp, to_onnx_model
        >>> model = to_onnx_model(random_mlp(2, [4, 4], 1, seed=0))     # an ONNX ModelProto (or a path)
        >>> compile_model(model, Domain.box([-1, -1], [1, 1]), max_regions=100).num_cells
        12

        A torch module needs an example input (``relucompile[torch]``; not run here):

        >>> shallow = compile_model(torch_module, Domain.box(lo, hi), example_input=x)  # doctest: +SKIP
    """
    net = load_network(model, example_input, input_shape=input_shape, batch_axis=batch_axis, domain=domain)
    return compile_network(net, domain, **options)


def shallow_onnx(shallow: ShallowNet, metadata: dict[str, str] | None = None,
                 layout: str = "index") -> onnx.ModelProto:
    """The shallow network as an ONNX model with the source model's signature (``metadata``:
    extra ``metadata_props``, e.g. ``Certificate.metadata()``).  ``layout="index"`` (default)
    finds the one active H3 unit with the point-location tree (memory O(batch (depth + d + m)));
    ``"layers"`` is the literal three-layer form that evaluates every cell (O(batch |R|)).

    Example:
        >>> from relucompile.examples.random_nets import random_mlp, to_onnx_model
        >>> from relucompile.ir.domain import Domain
        >>> shallow = compile_model(to_onnx_model(random_mlp(2, [4], 1, 0)), Domain.box([-1, -1], [1, 1]))
        >>> [{p.key: p.value for p in shallow_onnx(shallow, layout=k).metadata_props}["layout"]
        ...  for k in ("index", "layers")]
        ['index', 'layers']
    """
    model = to_onnx(shallow, shallow.net.signature, None, __version__, metadata, layout=layout)
    for prop in model.metadata_props:
        if prop.key == "source_sha256":
            prop.value = shallow.net.source_sha256
    return model


def save_onnx(shallow: ShallowNet, path: str, metadata: dict[str, str] | None = None,
              layout: str = "index") -> None:
    """Write the shallow ONNX model atomically (``layout``: see :func:`shallow_onnx`).

    Example:
        >>> import os, tempfile
        >>> from relucompile.examples import tiny_mlp_path
        >>> path = os.path.join(tempfile.mkdtemp(), "shallow.onnx")
        >>> save_onnx(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])), path)
        >>> os.path.getsize(path) > 0
        True
    """
    model = shallow_onnx(shallow, metadata, layout)
    atomic_write(path, lambda f: f.write(model.SerializeToString()))


def save_regions(shallow: ShallowNet, path: str, certificate: dict[str, Any] | None = None, jobs: int = 1) -> None:
    """Write the regions JSON (schema in backends/regions_json.py) atomically, or a Parquet
    dataset (a folder, backends/regions_parquet.py) when ``path`` ends in ``.parquet``, its parts
    written by ``jobs`` local processes (or the workers of the cluster in use: :func:`cluster_session`).

    Example:
        >>> import json, os, tempfile
        >>> from relucompile.examples import tiny_mlp_path
        >>> path = os.path.join(tempfile.mkdtemp(), "regions.json")
        >>> save_regions(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])), path)
        >>> len(json.load(open(path))["cells"])
        4
    """
    net = shallow.net
    from relucompile.backends.regions_parquet import is_regions_path, save_regions_dataset
    if is_regions_path(path):       # a Parquet dataset (a folder), for large runs
        save_regions_dataset(shallow, path, net.source_name, net.source_sha256, certificate, jobs=jobs)
        return
    atomic_write(path, lambda f: write_regions(shallow, f, net.source_name, net.source_sha256, certificate), text=True)


def cluster_session(address: str | None, workers: int = 1):
    """A context in which the enumeration's tasks and the Parquet dataset's parts run on a Dask
    cluster (``address``, or "local": a local cluster of ``workers`` processes; None: local
    processes as ``jobs`` says); see :func:`relucompile.regions.executor.cluster`.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> with cluster_session(None):
        ...     len(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])).regions)
        4
    """
    from relucompile.regions.executor import cluster
    return cluster(address, workers)


__all__ = ["cluster_session", "compile_model", "compile_network", "load_network", "save_onnx", "save_regions", "shallow_onnx",
           "canonicalize"]
