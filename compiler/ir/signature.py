"""The source model's interface: what the compiled outputs must keep to stand in for it.

A :class:`ModelSignature` records the input/output tensor names, dims and ONNX element types of
the model a network was read from (the ONNX frontend fills it in); the ONNX writers give the
shallow model the same interface.  Every field is ``None`` when unknown (a network built from
weights), and the writers then use their defaults.  It reads as a mapping of the known fields
too (``signature.get("input_name", "input")``), the form the ONNX writers take.

Example:
    >>> sig = ModelSignature(input_name="x", input_dims=("N", 2), input_elem_type=1)
    >>> sig.input_name, sig.get("output_name", "output"), dict(sig)
    ('x', 'output', {'input_name': 'x', 'input_dims': ('N', 2), 'input_elem_type': 1})
    >>> sig.replace(input_dims=(1, 2)).input_dims
    (1, 2)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Dims = tuple  # dims of one tensor: ints, symbolic names (str) or None (unknown)


@dataclass(frozen=True)
class ModelSignature(Mapping):
    """Input/output names, dims and ONNX element types of the source model (None: unknown).

    ``inputs``/``outputs`` list every graph input/output as (name, dims) when the model has
    several (they are concatenated into ``input_name``/``output_name``); ``output_sizes`` the
    number of values of each of them per sample.  ``batch_rows``: the fixed leading dimension B > 1
    of a model that acts row by row, compiled as one sample (the emitted model applies it per row)."""

    input_name: str | None = None
    output_name: str | None = None
    input_dims: Dims | None = None
    output_dims: Dims | None = None
    input_elem_type: int | None = None
    output_elem_type: int | None = None
    opset: int | None = None
    ir_version: int | None = None
    inputs: tuple[tuple[str, Dims], ...] | None = None
    outputs: tuple[tuple[str, Dims], ...] | None = None
    output_sizes: tuple[int, ...] | None = None
    batch_rows: int | None = None

    def replace(self, **changes: Any) -> "ModelSignature":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # -- read-only mapping of the known fields ---------------------------------------------------
    def _known(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key, None) if key in _FIELDS else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._known())

    def __len__(self) -> int:
        return len(self._known())


_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelSignature))
