"""One entry for every supported model: ONNX, a torch module, TorchScript or a .pt2 archive -> ReluNet.

The frontends parse (ONNX directly, torch through ONNX), the passes lower the graph; the source's
signature (``net.signature``), name and sha256 go onto the network for the outputs and the certificate.

Example:
    >>> from relucompile.examples import tiny_mlp_path
    >>> net = load_network(tiny_mlp_path())
    >>> net.d, net.widths, net.m
    (2, [8, 8], 2)
"""
from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import numpy as np
import onnx

from relucompile.errors import DomainError, ModelError, UserError, regular_input_file
from relucompile.limits import check_time, doing
from relucompile.frontends import torch_frontend as tf
from relucompile.frontends.batch import batch_rows, row_by_row_mismatch, with_batch_one
from relucompile.frontends.onnx_frontend import load_onnx, read_model_file
from relucompile.ir.domain import Domain
from relucompile.ir.embedding import InputEmbedding
from relucompile.ir.graph import Graph
from relucompile.ir.network import EMBEDDED_SOURCE_KEY, ReluNet
from relucompile.ops.interpreter import ConcreteContext, execute
from relucompile.passes.lowering import drop_identities, fold_constants, lower

def embedded_source(proto: onnx.ModelProto) -> bytes | None:
    """The source ONNX model a relucompile-written shallow model carries (None for any other model).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> embedded_source(onnx.load(tiny_mlp_path())) is None
        True
    """
    if proto.producer_name != "relucompile":
        return None
    for prop in proto.metadata_props:
        if prop.key == EMBEDDED_SOURCE_KEY:
            return base64.b64decode(prop.value)
    return None


RESTRICT_ABOVE_INPUTS = 1024
"""Models with more inputs than this are lowered over the free coordinates of a lower-dimensional
domain (fixed box sides, a polytope slice; :mod:`relucompile.ir.embedding`): memory proportional
to the free dimension instead of the input size.  Smaller models keep every input, so their
regions files and equations stay in the source's coordinates (the emitted ONNX model is the same
function either way)."""


def load_network(model: str | os.PathLike | onnx.ModelProto | Any, example_input: Any = None, *,
                 input_shape: tuple[int, ...] | None = None, trust_code: bool = False,
                 batch_axis: bool = True, domain: Domain | None = None) -> ReluNet:
    """Read a model into the canonical :class:`ReluNet`.

    ``model``: an ONNX path or ModelProto; a ``torch.nn.Module`` with ``example_input`` (a tensor
    fixing the input shape); or a TorchScript / ``torch.export`` (.pt2) file, with ``input_shape``
    where the file does not fix it.  Torch models go through ONNX (frontends/torch_frontend.py).
    ``trust_code``: load TorchScript files, which run code from the file while they load (only
    for files whose author you trust; ONNX and .pt2 never run code from the file).
    ``batch_axis``: a fixed leading dimension B > 1 of the input is a batch (the model must act on
    each row alone; one row is compiled, frontends/batch.py); False reads the whole tensor as one
    sample.  A shallow ONNX model relucompile wrote gives back the network it was compiled from.
    ``domain``: the domain the network will be compiled on; a large model on a lower-dimensional
    domain is lowered over its free coordinates only (:func:`network_from_graph`).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> load_network(tiny_mlp_path()).widths
        [8, 8]
    """
    if isinstance(model, (str, os.PathLike)):
        regular_input_file(model)
        with doing(f"loading {os.path.basename(os.fspath(model))}"):
            return _load(model, example_input, input_shape, trust_code, batch_axis, domain)
    with doing("loading the model"):
        return _load(model, example_input, input_shape, trust_code, batch_axis, domain)


def _read(model, example_input, input_shape, trust_code) -> tuple[onnx.ModelProto, bytes, str | None, str | None]:
    """The model as ONNX: (proto, its bytes, the file's name, the sha256 of a torch file)."""
    source_sha256 = None
    if tf.is_module(model):
        model = tf.module_to_onnx(model, example_input, input_shape=input_shape)
    elif example_input is not None:
        raise UserError("example_input goes with a torch.nn.Module; files fix their input shape "
                        "(TorchScript files take input_shape)")
    elif not isinstance(model, onnx.ModelProto) and tf.is_torch_file(model):
        source_sha256 = tf.file_sha256(model) if os.path.isfile(model) else None
        model = tf.file_to_onnx(model, input_shape, trust_code=trust_code)
    elif input_shape is not None:
        name = model.graph.name if isinstance(model, onnx.ModelProto) else os.path.basename(model)
        raise UserError(f"{name}: --input-shape is for TorchScript and .pt2 files; an ONNX model fixes its input shape")
    if isinstance(model, onnx.ModelProto):
        proto, data, source = model, model.SerializeToString(), None
    else:  # read and parse the file once; its bytes give the hash
        proto, data = read_model_file(model)
        source = os.path.basename(os.fspath(model))
    return proto, data, source, source_sha256


def _load(model, example_input, input_shape, trust_code, batch_axis, domain) -> ReluNet:
    proto, data, source, source_sha256 = _read(model, example_input, input_shape, trust_code)
    embedded = embedded_source(proto)
    if embedded is not None:   # a shallow model relucompile wrote: read back the network it was compiled from
        meta = {prop.key: prop.value for prop in proto.metadata_props}
        net = load_network(onnx.load_from_string(embedded), batch_axis=meta.get("batch_rows") != "1", domain=domain)
        net.source = meta.get("source_name") or source or net.source     # the source's name and hash, as compiled
        net.source_sha256 = meta.get("source_sha256") or net.source_sha256
        return net
    check_time()
    graph = _graph(proto, source)
    check_time()
    sha256 = source_sha256 or hashlib.sha256(data).hexdigest()
    rows = batch_rows(proto) if batch_axis else 1
    if rows == 1:   # the parsed model is needed no more: its weights (a copy of the file) are freed
        proto = None
    if embedding_for(graph, domain) is not None:   # a large model on a lower-dimensional domain
        net = network_from_graph(graph, sha256, domain)
    else:
        net = _lower_rows(proto, source, batch_axis, graph, rows)
    net.source_sha256 = sha256
    net.source_onnx = data
    return net


def load_graph(model: str | os.PathLike | onnx.ModelProto | Any, example_input: Any = None, *,
               input_shape: tuple[int, ...] | None = None, trust_code: bool = False) -> tuple[Graph, str]:
    """Read a model into its IR graph (constants folded) and the sha256 of its file (or its ONNX
    bytes): the first half of :func:`load_network`, before the domain is known.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> graph, sha256 = load_graph(tiny_mlp_path())
        >>> input_size(graph), len(sha256)
        (2, 64)
    """
    proto, data, source, source_sha256 = _read(model, example_input, input_shape, trust_code)
    return _graph(proto, source), source_sha256 or hashlib.sha256(data).hexdigest()


def _graph(proto: onnx.ModelProto, source: str | None) -> Graph:
    return fold_constants(drop_identities(load_onnx(proto, source=source)))


def _lower_rows(proto: onnx.ModelProto | None, source: str | None, batch_axis: bool = True,
                graph: Graph | None = None, rows: int | None = None) -> ReluNet:
    """The network of one sample: the model itself, or for a fixed batch of B > 1 rows that it
    treats row by row (frontends/batch.py) the model read with batch 1, with the source's
    signature and ``batch_rows`` B (refused with what to do when it mixes its rows).
    ``graph`` and ``rows``, when given, are ``proto``'s (``proto`` may then be None if rows is 1)."""
    graph = graph if graph is not None else _graph(proto, source)
    net = lower(graph)
    signature = graph.signature
    if rows is None:
        rows = batch_rows(proto) if batch_axis else 1
    if not batch_axis:
        signature = signature.replace(batch_rows=1)   # recorded, so the shallow model reads back the same way
    if rows > 1:
        try:
            row_net = lower(row_graph := _graph(with_batch_one(proto), source))
        except UserError as exc:
            row_net, mismatch = None, f"it fails on one row ({str(exc)[:160]})"
        if row_net is not None:
            mismatch = row_by_row_mismatch(net, row_net, rows, _input_sizes(row_graph),
                                           _output_sizes(row_graph) or [row_net.m])
        if mismatch:
            name = signature.inputs[0][0] if signature.inputs else ""
            raise ModelError(graph.source, name, "Input",
                             f"a fixed leading dimension of {rows} is read as a batch only when the model acts "
                             f"on each row alone, and here {mismatch}; export the model with batch size 1 (or a "
                             f"symbolic batch dimension) to compile one sample, or, if the {rows} rows form one sample, "
                             f"give the input a leading dimension of 1 (Python API: batch_axis=False)")
        net, graph = row_net, row_graph
        signature = signature.replace(batch_rows=rows)
    net.signature = signature.replace(output_sizes=tuple(_output_sizes(graph)))
    if net.signature.output_name is not None and net.signature.output_dims is None:
        net.signature = net.signature.replace(output_dims=inferred_output_dims(net))
    return net


def _input_sizes(graph: Graph) -> list[int]:
    """Values per sample of each model input, in graph.input order."""
    dims = [dims for _, dims in graph.signature.inputs or ()]
    return [int(np.prod([d if isinstance(d, int) else 1 for d in shape])) for shape in dims]


def _output_sizes(graph: Graph) -> list[int]:
    """Values per sample of each model output, in graph.output order (from a run at zero)."""
    names = [name for name, _ in graph.signature.outputs or ()]
    if len(names) <= 1:
        return []
    inp = graph.node(graph.inputs[0])
    sizes, wanted = {inp.name: int(np.prod(inp.shape))}, set(names)

    def observe(node, value) -> None:
        if node.name in wanted:
            sizes[node.name] = int(np.size(value))

    execute(graph, {inp.name: np.zeros(inp.shape)}, ConcreteContext(graph.source, exact=False), observe=observe)
    return [sizes[name] for name in names]     # one run for all outputs


def input_size(graph: Graph) -> int:
    """The number of values in the graph's (flattened) input."""
    shape = graph.node(graph.inputs[0]).shape or ()
    return int(np.prod(shape)) if shape else 1


def embedding_for(graph: Graph, domain: Domain | None) -> InputEmbedding | None:
    """How :func:`network_from_graph` restricts ``graph`` to ``domain``: None (every input) unless
    the model has more than :data:`RESTRICT_ABOVE_INPUTS` inputs and the domain is lower-dimensional.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.ir.domain import Domain
        >>> embedding_for(load_graph(tiny_mlp_path())[0], Domain.box([0, 1], [1, 1])) is None
        True
    """
    if domain is None or input_size(graph) <= RESTRICT_ABOVE_INPUTS:
        return None
    if domain.d != input_size(graph):
        raise DomainError(f"the domain has dimension {domain.d} but {graph.source} has {input_size(graph)} inputs")
    return InputEmbedding.of(domain, tuple(graph.node(graph.inputs[0]).shape or ()))


def network_from_graph(graph: Graph, sha256: str, domain: Domain | None = None) -> ReluNet:
    """Lower ``graph`` into a :class:`ReluNet`; over ``domain``'s free coordinates when the model
    has more than :data:`RESTRICT_ABOVE_INPUTS` inputs and the domain is lower-dimensional
    (``net.embedding`` then says how they sit in the input).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.ir.domain import Domain
        >>> graph, sha256 = load_graph(tiny_mlp_path())
        >>> network_from_graph(graph, sha256, Domain.box([0, 1], [1, 1])).d      # 2 inputs: not restricted
        2
    """
    net = lower(graph, embedding=embedding_for(graph, domain))
    net.signature = graph.signature
    if net.signature.output_name is not None and net.signature.output_dims is None:
        net.signature = net.signature.replace(output_dims=inferred_output_dims(net))
    net.source_sha256 = sha256
    return net


def inferred_output_dims(net: ReluNet) -> tuple:
    """Output dims for a model whose output declares no shape: the lowered output's shape, with
    the input's symbolic batch dimension in front when the input has one (the IR computes one
    sample, batch dimensions of size 1), so the shallow model never turns the output into a scalar.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.ir.signature import ModelSignature
        >>> net = random_mlp(2, [3], 4)
        >>> net.output_shape, net.signature = (1, 4), ModelSignature(input_dims=("N", 2))
        >>> inferred_output_dims(net)
        ('N', 4)
    """
    dims: list = list(net.output_shape) or [net.m]
    input_dims = net.signature.input_dims or ()
    if input_dims and not isinstance(input_dims[0], int) and len(dims) > 1 and dims[0] == 1:
        dims[0] = input_dims[0]
    return tuple(dims)
