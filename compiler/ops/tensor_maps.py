"""Linear tensor maps of convolution and pooling, on float64 or exact (Fraction object) arrays.

Every map here is *linear* in its tensor argument and treats axis 0 as a batch axis, so the
op handlers apply it to a concrete tensor and to all coefficient slices of a symbolic
:class:`~relucompile.ir.values.Affine` tensor at once.  Windows are described by index tables
(:func:`window_index`), the same for Conv, AveragePool and MaxPool, so the three agree on
``pads``, ``strides``, ``dilations``, ``auto_pad`` and ``ceil_mode``.

Example:
    >>> x = np.arange(5.0).reshape(1, 1, 5)                  # N=1, C=1, length 5
    >>> w = np.ones((1, 1, 2))                                # sum of 2 neighbours
    >>> geo = window_geometry((5,), (2,), (1,), (0, 0), (1,), "NOTSET", False)
    >>> conv(x, w, 1, geo).tolist()
    [[[1.0, 3.0, 5.0, 7.0]]]
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Where the windows of a sliding-window op sit on the (unpadded) input.

    ``index[k, o]`` is the flat spatial input index read by kernel offset ``k`` at flat output
    position ``o``; ``S`` (the spatial size) where the offset falls into explicit padding and
    ``S + 1`` where it falls beyond the padded input (only with ``ceil_mode``).
    """

    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    index: np.ndarray
    strides: tuple[int, ...] = ()
    dilations: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.in_spatial))


def window_geometry(in_spatial, kernel, strides, pads, dilations, auto_pad: str = "NOTSET",
                    ceil_mode: bool = False) -> Geometry:
    """Output size, effective pads and the index table of a sliding window (ONNX semantics).

    ``pads`` is ONNX's ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]``.

    >>> window_geometry((4,), (3,), (2,), (0, 0), (1,), "SAME_UPPER").out_spatial
    (2,)
    """
    n = len(in_spatial)
    begin, end, out = [], [], []
    for i in range(n):
        size, k, s, dil = in_spatial[i], kernel[i], strides[i], dilations[i]
        span = (k - 1) * dil + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // s)
            total = max(0, (o - 1) * s + span - size)
            small = total // 2
            b = small if auto_pad == "SAME_UPPER" else total - small
            e = total - b
        elif auto_pad == "VALID":
            b = e = 0
            o = (size - span) // s + 1
        else:
            b, e = int(pads[i]), int(pads[i + n])
            room = size + b + e - span
            o = (-(-room // s) if ceil_mode else room // s) + 1
            if ceil_mode and (o - 1) * s >= size + b:  # the last window must start inside
                o -= 1
        if o < 1:
            raise ValueError(f"the window ({span}) is larger than the padded input ({size + b + e})")
        begin.append(b), end.append(e), out.append(o)
    S = int(np.prod(in_spatial))
    offsets = list(itertools.product(*[range(k) for k in kernel]))
    positions = list(itertools.product(*[range(o) for o in out]))
    index = np.empty((len(offsets), len(positions)), dtype=np.int64)
    strides_flat = [int(np.prod(in_spatial[i + 1:])) for i in range(n)]
    for ki, off in enumerate(offsets):
        for oi, pos in enumerate(positions):
            flat, state = 0, 0
            for i in range(n):
                j = pos[i] * strides[i] + off[i] * dilations[i] - begin[i]
                if j < 0 or j >= in_spatial[i]:
                    state = max(state, 1 if -begin[i] <= j < in_spatial[i] + end[i] else 2)
                flat += j * strides_flat[i]
            index[ki, oi] = flat if state == 0 else S + state - 1
    return Geometry(tuple(in_spatial), tuple(out), tuple(kernel), tuple(begin), tuple(end), index,
                    tuple(strides), tuple(dilations))


def _zero_like(t: np.ndarray):
    return Fraction(0) if t.dtype == object else 0.0


def _windows(t: np.ndarray, geo: Geometry, channels_last: bool = False):
    """Yield (kernel offset, strided view (B, C, *out)) of the zero-padded ``t``, one per offset;
    with ``channels_last`` the input is (B, *spatial, C) and the views (B, *out, C).

    Memory stays O(B C O) instead of the K-fold im2col tensor (the symbolic batch B can be large).
    """
    n = len(geo.kernel)
    need_end = [max(geo.pads_end[i], (geo.out_spatial[i] - 1) * geo.strides[i]
                    + (geo.kernel[i] - 1) * geo.dilations[i] + 1 - geo.pads_begin[i] - geo.in_spatial[i])
                for i in range(n)]
    if channels_last:
        tp = pad_constant(t, [0, *geo.pads_begin, 0], [0, *need_end, 0], _zero_like(t))
    else:
        tp = pad_constant(t, [0, 0, *geo.pads_begin], [0, 0, *need_end], _zero_like(t))
    lead = (slice(None),) if channels_last else (slice(None), slice(None))
    for off in itertools.product(*[range(k) for k in geo.kernel]):
        where = tuple(slice(off[i] * geo.dilations[i], off[i] * geo.dilations[i]
                            + (geo.out_spatial[i] - 1) * geo.strides[i] + 1, geo.strides[i]) for i in range(n))
        yield off, tp[lead + where]


def conv(t: np.ndarray, w: np.ndarray, group: int, geo: Geometry) -> np.ndarray:
    """ONNX Conv without bias: ``t`` (B, C, *in), ``w`` (M, C/group, *kernel) -> (B, M, *out).

    Computed channels-last, one (B * O, C/group) @ (C/group, M/group) product per kernel offset.
    """
    B, C = t.shape[:2]
    M = w.shape[0]
    Cg, Mg = C // group, M // group
    t_last = np.ascontiguousarray(np.moveaxis(t, 1, -1))
    out = np.full((B,) + geo.out_spatial + (M,), _zero_like(t), dtype=np.result_type(t, w))
    for off, view in _windows(t_last, geo, channels_last=True):
        for g in range(group):
            wk = w[(slice(g * Mg, (g + 1) * Mg), slice(None)) + off]          # (Mg, Cg)
            out[..., g * Mg:(g + 1) * Mg] += view[..., g * Cg:(g + 1) * Cg] @ wk.T
    return np.moveaxis(out, -1, 1)


def conv_transpose(t: np.ndarray, w: np.ndarray, group: int, strides, dilations, pads_begin, out_spatial) -> np.ndarray:
    """ONNX ConvTranspose without bias: scatter every input entry times the kernel, then crop.

    ``t`` (B, C, *in), ``w`` (C, M/group, *kernel); the full (uncropped) output has size
    ``(in - 1) * stride + (k - 1) * dilation + 1`` per axis (plus room for output_padding).

    >>> conv_transpose(np.array([[[1.0, 2.0]]]), np.ones((1, 1, 2)), 1, (1,), (1,), (0,), (3,)).tolist()
    [[[1.0, 3.0, 2.0]]]
    """
    B, C = t.shape[:2]
    in_sp, kernel = t.shape[2:], w.shape[2:]
    Mg = w.shape[1]
    n = len(in_sp)
    full = [max((in_sp[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1, pads_begin[i] + out_spatial[i])
            for i in range(n)]
    out = np.full((B, group * Mg, *full), _zero_like(t), dtype=t.dtype)
    Cg = C // group
    for g in range(group):
        tg = t[:, g * Cg:(g + 1) * Cg]                       # (B, Cg, *in)
        for off in itertools.product(*[range(k) for k in kernel]):
            wk = w[(slice(g * Cg, (g + 1) * Cg), slice(None)) + off]   # (Cg, Mg)
            contrib = np.tensordot(tg, wk, axes=([1], [0]))  # (B, *in, Mg)
            contrib = np.moveaxis(contrib, -1, 1)            # (B, Mg, *in)
            where = tuple(slice(off[i] * dilations[i], off[i] * dilations[i] + (in_sp[i] - 1) * strides[i] + 1,
                                strides[i]) for i in range(n))
            target = (slice(None), slice(g * Mg, (g + 1) * Mg)) + where
            out[target] = out[target] + contrib
    crop = tuple(slice(pads_begin[i], pads_begin[i] + out_spatial[i]) for i in range(n))
    return out[(slice(None), slice(None)) + crop]


def average_pool(t: np.ndarray, geo: Geometry, count_include_pad: bool, exact: bool) -> np.ndarray:
    """ONNX AveragePool: window sums divided by the window's count of input (or padded) cells.

    >>> geo = window_geometry((3,), (2,), (1,), (1, 0), (1,))
    >>> average_pool(np.array([[[2.0, 4.0, 6.0]]]), geo, False, False).tolist()
    [[[2.0, 3.0, 5.0]]]
    """
    total = None
    for _, view in _windows(t, geo):
        total = view.copy() if total is None else total + view
    limit = geo.size + 1 if count_include_pad else geo.size
    counts = (geo.index < limit).sum(axis=0)                 # (O,)
    if exact:
        inv = np.array([Fraction(1, int(c)) for c in counts], dtype=object)
    else:
        inv = 1.0 / counts.astype(np.float64)
    return total * inv.reshape(geo.out_spatial)


def pad_constant(t: np.ndarray, begin, end, value) -> np.ndarray:
    """Pad (positive) or crop (negative) every axis; new cells hold ``value``.

    >>> pad_constant(np.array([1.0, 2.0]), [1], [-1], 9.0).tolist()
    [9.0, 1.0]
    """
    crop = tuple(slice(max(-b, 0), t.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begin, end)))
    t = t[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if t.dtype == object:
        out = np.full(tuple(s + b + e for s, (b, e) in zip(t.shape, width)), value, dtype=object)
        out[tuple(slice(b, b + s) for s, (b, _) in zip(t.shape, width))] = t
        return out
    return np.pad(t, width, mode="constant", constant_values=value)


def pad_mode(t: np.ndarray, begin, end, mode: str) -> np.ndarray:
    """Pad with ``edge``, ``reflect`` or ``wrap`` (ONNX names) — linear maps (index copies).

    >>> pad_mode(np.array([1.0, 2.0, 3.0]), [2], [0], "reflect").tolist()
    [3.0, 2.0, 1.0, 2.0, 3.0]
    """
    if any(b < 0 or e < 0 for b, e in zip(begin, end)):
        raise ValueError("negative pads need mode 'constant'")
    index = [np.pad(np.arange(s), (b, e), mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[mode])
             for s, b, e in zip(t.shape, begin, end)]
    return t[np.ix_(*index)]
