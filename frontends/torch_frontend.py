"""PyTorch -> ONNX ``ModelProto`` -> the ONNX frontend, so torch models get exactly the ONNX op table.

Three ways in, each ending in one ONNX model that :func:`relucompile.api.compile.load_network` reads:

* an ``nn.Module`` and an example input (Python API): ``torch.export.export`` captures the graph,
  and ``torch.onnx.export(..., dynamo=True)`` translates it.  ``torch.export`` refuses
  data-dependent control flow, so the captured graph is the module's function on every input,
  not only on the example.  Where ``torch.export`` cannot capture a module, the TorchScript tracer
  (``torch.onnx.export(..., dynamo=False)``) is tried with every ``TracerWarning`` raised as an
  error: a trace that depends on the example's values is refused, never compiled wrongly.
* a TorchScript file (``torch.jit.save``): ``torch.jit.load``, then the TorchScript ONNX exporter.
  TorchScript does not record input shapes, so ``input_shape`` (CLI ``--input-shape``) is needed.
* a ``torch.export`` archive (``.pt2``, ``torch.export.save``): ``torch.export.load``, then the
  dynamo exporter; the archive fixes the shape unless it has dynamic dimensions.

A ``torch.save`` pickle (``.pt``/``.pth``: a state_dict or a whole pickled module) is refused with
what to pass instead; it is inspected only with ``torch.load(weights_only=True)``, which never
runs pickled code.  Modules are compiled in inference mode (``eval()``: batch norm uses its
running statistics, dropout is the identity); the module's own mode is restored afterwards.

torch is optional (``pip install 'relucompile[torch]'``); nothing here imports it until a torch
path is taken, and a missing install is one line saying how to install it.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> proto = module_to_onnx(net, torch.zeros(1, 2))
    >>> [n.op_type for n in proto.graph.node]
    ['Gemm', 'Relu', 'Gemm']
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import warnings
import zipfile
from typing import Any, Iterator

import onnx

from relucompile.errors import UserError, regular_input_file

INSTALL_HINT = "pip install 'relucompile[torch]' (torch==2.13.0 and onnxscript; CPU wheel is enough)"
TORCH_EXTENSIONS = (".pt", ".pth", ".pt2", ".ts", ".torchscript", ".jit", ".pkl")
EXPORT_HOWTO = ("pass a TorchScript file (torch.jit.save(torch.jit.script(model), 'model.ts')), a torch.export "
                "archive (torch.export.save(torch.export.export(model, (x,)), 'model.pt2')), an ONNX file, or "
                "from Python relucompile.compile_model(model, domain, example_input=x)")


def require_torch(what: str = "the PyTorch frontend", onnxscript: bool = False) -> Any:
    """Import torch (and check onnxscript) or raise a one-line :class:`UserError` saying how to install.

    Example:
        >>> require_torch().__version__.startswith("2.")
        True
    """
    missing = []
    try:
        import torch
    except ImportError:
        torch, missing = None, ["torch"]
    if onnxscript:
        try:
            import onnxscript  # noqa: F401  (torch.onnx's dynamo exporter needs it)
        except ImportError:
            missing.append("onnxscript")
    if missing:
        raise UserError(f"{what} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                        f"not installed: {INSTALL_HINT}")
    return torch


def is_module(obj: Any) -> bool:
    """True for a ``torch.nn.Module`` (without importing torch when the caller has not).

    Example:
        >>> is_module("model.onnx")
        False
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_torch_file(path: str | os.PathLike) -> bool:
    """True for files the torch frontend reads: a torch extension, or any zip archive (ONNX never is).

    Example:
        >>> is_torch_file("model.pt2"), is_torch_file("model.onnx")
        (True, False)
    """
    path = os.fspath(path)
    if path.lower().endswith(TORCH_EXTENSIONS):
        return True
    return os.path.isfile(path) and zipfile.is_zipfile(path)


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``--input-shape 1,2,6,6`` into positive dimensions (one-line error otherwise).

    Example:
        >>> parse_shape("1, 2,6,6")
        (1, 2, 6, 6)
    """
    try:
        dims = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"--input-shape {text!r}: give positive integers separated by commas, e.g. 1,2,6,6") from None
    if not dims or any(d < 1 for d in dims):
        raise UserError(f"--input-shape {text!r}: every dimension must be a positive integer, e.g. 1,2,6,6")
    return dims


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress prints, warnings and log lines (errors still propagate)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = next((t.strip() for t in text if t.strip()), "")
    return f"{type(exc).__name__}: {line[:300]}" if line else type(exc).__name__


def _named(proto: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """Name the graph after the source so the ONNX frontend's errors name the user's file or class."""
    proto.graph.name = source
    return proto


def _float_dtype(module: Any, torch: Any) -> Any:
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _examples(module: Any, example_input: Any, input_shape: tuple[int, ...] | None, source: str,
              torch: Any) -> tuple[Any, ...]:
    """The example tensors: those given (a tensor or array, or a tuple of them for a module with several
    inputs), else zeros of ``input_shape``.  Integer examples take the module's float dtype."""
    if example_input is None:
        if input_shape is None:
            raise UserError(f"{source}: give an example input (or input_shape) to fix the input shape")
        return (torch.zeros(input_shape, dtype=_float_dtype(module, torch)),)
    given = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    xs = []
    for x in given:
        x = torch.as_tensor(x)
        xs.append((x if x.is_floating_point() else x.to(_float_dtype(module, torch))).detach())
    if input_shape is not None and (len(xs) != 1 or tuple(xs[0].shape) != tuple(input_shape)):
        shapes = ", ".join(str(tuple(x.shape)) for x in xs)
        raise UserError(f"{source}: the example input has shape {shapes} but input_shape is {tuple(input_shape)}")
    return tuple(xs)


@contextlib.contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """Inference mode for the export; the module's own train/eval flags are restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _dynamo_onnx(program: Any, source: str, torch: Any) -> onnx.ModelProto:
    """ONNX from a ``torch.export.ExportedProgram`` via the dynamo exporter (onnxscript)."""
    require_torch(f"{source}: exporting to ONNX with torch.onnx (dynamo)", onnxscript=True)
    try:
        with _quiet():
            onnx_program = torch.onnx.export(program, dynamo=True, verbose=False, optimize=True)
    except Exception as exc:
        raise UserError(f"{source}: torch.onnx could not translate the exported graph to ONNX ({_first_line(exc)})") from None
    return onnx_program.model_proto


def _torchscript_onnx(model: Any, xs: tuple[Any, ...], source: str, torch: Any) -> onnx.ModelProto:
    """ONNX via the TorchScript exporter; a ``TracerWarning`` (trace depends on x's values) is an error."""
    buffer = io.BytesIO()
    names = ["input"] if len(xs) == 1 else [f"input_{i}" for i in range(len(xs))]
    with _quiet():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        torch.onnx.export(model, xs, buffer, dynamo=False, input_names=names, do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


def module_to_onnx(module: Any, example_input: Any = None, *, input_shape: tuple[int, ...] | None = None,
                   source: str | None = None) -> onnx.ModelProto:
    """Export an ``nn.Module`` (or a loaded TorchScript module) at the example's shape to ONNX.

    Example:
        >>> import torch
        >>> proto = module_to_onnx(torch.nn.ReLU(), input_shape=(1, 3))
        >>> [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
        [1, 3]
    """
    torch = require_torch()
    source = source or getattr(module, "original_name", None) or type(module).__name__  # scripted: class name
    xs = _examples(module, example_input, input_shape, source, torch)
    shapes = ", ".join(str(tuple(x.shape)) for x in xs)
    with _eval_mode(module), torch.no_grad():
        if isinstance(module, torch.jit.ScriptModule):
            try:
                return _named(_torchscript_onnx(module, xs, source, torch), source)
            except Exception as exc:
                raise UserError(f"{source}: torch.onnx could not export the TorchScript module at input shape "
                                f"{shapes} ({_first_line(exc)})") from None
        try:
            program = torch.export.export(module, xs)
        except Exception as export_exc:  # fall back to the (value-checked) TorchScript tracer
            try:
                return _named(_torchscript_onnx(module, xs, source, torch), source)
            except Exception as trace_exc:
                raise UserError(f"{source}: cannot capture the module's graph: torch.export failed "
                                f"({_first_line(export_exc)}); the TorchScript tracer failed "
                                f"({_first_line(trace_exc)})") from None
        return _named(_dynamo_onnx(program, source, torch), source)


MAX_ARCHIVE_BYTES = 4 * 2**30
"""A torch archive expands to at most this many bytes (members' uncompressed sizes summed)."""
MAX_COMPRESSION_RATIO = 200
"""A member larger than 1 MiB may be at most this many times larger than its compressed bytes
(torch saves its archives uncompressed; a zip bomb reaches ratios of 1000 and more)."""
MAX_ARCHIVE_MEMBERS = 100_000


def check_archive(path: str) -> None:
    """Refuse a zip archive that would expand past :data:`MAX_ARCHIVE_BYTES`, has a member
    compressed more than :data:`MAX_COMPRESSION_RATIO` times, or has more than
    :data:`MAX_ARCHIVE_MEMBERS` members (a zip bomb); read from the archive's directory only,
    before any member is read.  One line naming the file and what is wrong.

    Example:
        >>> import io, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "bomb.pt2")
        >>> with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        ...     z.writestr("bomb/data/0", bytes(20 * 2**20))
        >>> check_archive(path)                                    # doctest: +ELLIPSIS
        Traceback (most recent call last):
        relucompile.errors.UserError: ...bomb.pt2: member 'bomb/data/0' expands 20,971,520 bytes from ... (... times); refused as a possible zip bomb (at most 200 times)
    """
    name = path
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"{name}: not a readable zip archive ({_first_line(exc)})") from None
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise UserError(f"{name}: the archive has {len(members):,} members (at most {MAX_ARCHIVE_MEMBERS:,}); "
                        "refused as a possible zip bomb")
    total = sum(m.file_size for m in members)
    if total > MAX_ARCHIVE_BYTES:
        raise UserError(f"{name}: the archive expands to {total:,} bytes (at most {MAX_ARCHIVE_BYTES:,}); refused "
                        "as a possible zip bomb")
    for m in members:
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > 2**20 and ratio > MAX_COMPRESSION_RATIO:
            raise UserError(f"{name}: member '{m.filename[:80]}' expands {m.file_size:,} bytes from "
                            f"{m.compress_size:,} ({ratio:,.0f} times); refused as a possible zip bomb "
                            f"(at most {MAX_COMPRESSION_RATIO} times)")


def _archive_kind(path: str) -> str:
    """'export' (torch.export.save), 'torchscript' (torch.jit.save), 'pickle' (torch.save) or 'other'."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        return "pickle" if head[:1] == b"\x80" else "other"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith(("serialized_exported_program.json", "/archive_format")) or "/models/" in n for n in names):
        return "export"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "pickle"
    return "other"


def _refuse_pickle(path: str, name: str, torch: Any) -> UserError:
    """Say what a torch.save file holds (looked at with weights_only=True only) and what to pass instead."""
    try:
        with _quiet():
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return UserError(f"{name}: a pickled Python object (a whole nn.Module?), which relucompile does not unpickle "
                         f"(that would run arbitrary code); {EXPORT_HOWTO}")
    if isinstance(obj, dict) and obj and all(torch.is_tensor(v) for v in obj.values()):
        return UserError(f"{name}: holds only a state_dict ({len(obj)} tensors), which has the weights but not the "
                         f"network; {EXPORT_HOWTO}")
    return UserError(f"{name}: holds a {type(obj).__name__} saved with torch.save, not a network; {EXPORT_HOWTO}")


def _program_input_shapes(program: Any) -> list[tuple[Any, ...]]:
    user = set(program.graph_signature.user_inputs)
    return [tuple(n.meta["val"].shape) for n in program.graph.nodes if n.op == "placeholder" and n.name in user]


class _UnpicklingRefused(Exception):
    """Raised inside torch.export.load where it would unpickle an arbitrary object."""


@contextlib.contextmanager
def _without_unpickling(torch: Any) -> Iterator[None]:
    """Run ``torch.export.load`` so that it cannot execute code hidden in the archive.

    torch 2.13's loader unpickles payloads flagged ``use_pickle`` with ``torch.load(...,
    weights_only=False)``, opaque constants with ``pickle.loads``, custom objects with
    ``torch._C._pickle_load_obj``, and falls back to ``weights_only=False`` for old archives; a
    crafted .pt2 could run arbitrary code through any of them.  Here every ``torch.load`` is
    forced to ``weights_only=True`` (tensors and plain containers only) and the other two refuse.
    The patches are process-global while the archive loads (the CLI is single-threaded).
    """
    from torch.export.pt2_archive import _package

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _UnpicklingRefused("the archive holds pickled Python objects")

    real_load, real_pickle, real_obj = torch.load, _package.pickle, torch._C._pickle_load_obj

    def weights_only_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return real_load(f, *args, **kwargs)

    torch.load, _package.pickle, torch._C._pickle_load_obj = weights_only_load, _RefusingPickle(refuse), refuse
    try:
        yield
    finally:
        torch.load, _package.pickle, torch._C._pickle_load_obj = real_load, real_pickle, real_obj


class _RefusingPickle:
    """Stands in for the ``pickle`` module: ``loads`` refuses, the rest is the real module."""

    def __init__(self, refuse: Any) -> None:
        self.loads = refuse

    def __getattr__(self, attr: str) -> Any:
        import pickle
        return getattr(pickle, attr)


def _load_archive(path: str, name: str, torch: Any) -> Any:
    """``torch.export.load`` without unpickling or native code: AOTInductor packages (compiled .so
    files) are refused before loading, pickled payloads while loading."""
    with zipfile.ZipFile(path) as archive:
        if any("/data/aotinductor/" in n or n.startswith("data/aotinductor/") for n in archive.namelist()):
            raise UserError(f"{name}: holds AOTInductor-compiled code, which relucompile does not load; save the "
                            f"exported program alone (torch.export.save)")
    try:
        with _quiet(), _without_unpickling(torch):
            return torch.export.load(path)
    except _UnpicklingRefused:
        raise UserError(f"{name}: the archive holds pickled Python objects, which relucompile does not unpickle "
                        f"(that would run arbitrary code); re-save it with torch.export.save") from None
    except Exception as exc:
        why = _first_line(exc)
        if "weights_only" in str(exc) or "Unpickl" in str(exc) or "magic number" in str(exc):
            why = "it holds pickled objects that are not plain tensors, which relucompile does not unpickle"
        raise UserError(f"{name}: not a readable torch.export archive ({why})") from None


def _export_archive_to_onnx(path: str, name: str, input_shape: tuple[int, ...] | None,
                            torch: Any) -> onnx.ModelProto:
    program = _load_archive(path, name, torch)
    shapes = _program_input_shapes(program)
    fixed = all(isinstance(d, int) for shape in shapes for d in shape)
    if input_shape is not None and (len(shapes) != 1 or (fixed and tuple(shapes[0]) != tuple(input_shape))):
        raise UserError(f"{name}: the archive fixes the input shape {', '.join(map(str, shapes))}; --input-shape "
                        f"{','.join(map(str, input_shape))} disagrees (drop it or re-export)")
    if not fixed:
        dims = [",".join(str(d) if isinstance(d, int) else "?" for d in shape) for shape in shapes]
        if len(shapes) != 1:
            raise UserError(f"{name}: the archive's input shapes ({'; '.join(dims)}) have free dimensions; "
                            f"re-export it with static shapes (--input-shape fixes single-input archives only)")
        if input_shape is None:
            raise UserError(f"{name}: the archive's input shape ({dims[0]}) has free dimensions; give them with "
                            f"--input-shape, e.g. --input-shape {dims[0].replace('?', '1')}")
        dtype = program.graph.find_nodes(op="placeholder")[-1].meta["val"].dtype
        try:
            with _quiet(), torch.no_grad():
                program = torch.export.export(program.module(), (torch.zeros(input_shape, dtype=dtype),))
        except Exception as exc:
            raise UserError(f"{name}: cannot specialise the archive to --input-shape "
                            f"{','.join(map(str, input_shape))} ({_first_line(exc)})") from None
    return _named(_dynamo_onnx(program, name, torch), name)


TRUST_HOWTO = ("TorchScript runs code from the file while it loads (torch.jit.load can call functions the "
               "file names); pass --trust-model-code (API: trust_code=True) only for a file whose author you "
               "trust, or export the model as ONNX or as a .pt2 archive (torch.export.save), which load without "
               "running code")


def file_to_onnx(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None, *,
                 trust_code: bool = False) -> onnx.ModelProto:
    """ONNX from a TorchScript file or a ``.pt2`` archive; refuses torch.save pickles with what to pass instead.

    A TorchScript file is loaded only with ``trust_code=True``: ``torch.jit.load`` can run code the
    file names (e.g. write files) before relucompile sees the model.  ``.pt2`` archives are read
    without unpickling anything.

    Example (needs ``relucompile[torch]`` and a saved model, so not run here; tests/test_torch.py
    saves and reads both kinds):
        >>> proto = file_to_onnx("model.pt2")               # doctest: +SKIP
        >>> proto = file_to_onnx("model.ts", (1, 2, 6, 6), trust_code=True)  # doctest: +SKIP
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    regular_input_file(path)
    if zipfile.is_zipfile(path):
        check_archive(path)
    torch = require_torch(f"{name}: reading a PyTorch file")
    kind = _archive_kind(path)
    if kind == "pickle":
        raise _refuse_pickle(path, name, torch)
    if kind == "export":
        return _export_archive_to_onnx(path, name, input_shape, torch)
    if kind != "torchscript":
        raise UserError(f"{name}: not a TorchScript file, a torch.export archive (.pt2) or ONNX; {EXPORT_HOWTO}")
    if not trust_code:
        raise UserError(f"{name}: not loaded: {TRUST_HOWTO}")
    if input_shape is None:
        raise UserError(f"{name}: a TorchScript file does not record its input shape; give it with --input-shape "
                        f"(e.g. --input-shape 1,2,6,6 for one 2-channel 6x6 image), or save the model as a .pt2 "
                        f"archive (torch.export.save), which records it")
    try:
        module = torch.jit.load(path, map_location="cpu")
    except Exception as exc:
        raise UserError(f"{name}: not a readable TorchScript file ({_first_line(exc)})") from None
    return module_to_onnx(module, input_shape=input_shape, source=name)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (recorded in the outputs as the source's fingerprint).

    Example:
        >>> len(file_sha256(__file__))
        64
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
