"""Compare two ONNX models on a domain with onnxruntime: the largest output difference and where.

``relucompile check SRC.onnx OTHER.onnx`` runs this after a compile: both models are evaluated
at random points of the domain plus, for a box, its corners (all of them up to
:data:`MAX_CORNERS`, else a random subset), each point given to both models in the same input
dtype.  The models may have several inputs and outputs: a point is the concatenation of every
input flattened per sample (graph.input order), a result the concatenation of every output.
A sampled comparison finds differences; it does not prove their absence (``certify`` does).

Example:
    >>> from relucompile.examples import tiny_mlp_path
    >>> from relucompile.ir.domain import Domain
    >>> result = compare_models(tiny_mlp_path(), tiny_mlp_path(), Domain.box([-1, -1], [1, 1]), samples=100)
    >>> result.points, result.max_error, result.within
    (104, 0.0, True)
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np

from relucompile.errors import UserError
from relucompile.ir.domain import Domain
from relucompile.numeric.tolerances import MODEL_AGREEMENT_RTOL

#: a box's corners are all used up to this many (2^12); beyond, ``samples`` random corners
MAX_CORNERS = 4096

#: the default tolerance: |y_other - y_source| <= TOLERANCE * (1 + |y_source|) at every output
TOLERANCE = MODEL_AGREEMENT_RTOL


@dataclass
class Comparison:
    """What :func:`compare_models` found: ``points`` compared (``corners`` of them box corners),
    the largest absolute difference ``max_error`` (inf where one model gives NaN and the other a
    number) at ``worst_x`` on output ``worst_output`` (index into the concatenated outputs) with
    values ``worst_source``/``worst_other``, and whether every difference is within ``tolerance``
    (relative: ``tolerance * (1 + |y_source|)``)."""

    points: int
    corners: int
    max_error: float
    worst_x: np.ndarray
    worst_output: int
    worst_source: float
    worst_other: float
    tolerance: float
    within: bool

    def to_json(self) -> dict:
        """The comparison as JSON-ready values.

        Example:
            >>> from relucompile.examples import tiny_mlp_path
            >>> from relucompile.ir.domain import Domain
            >>> sorted(compare_models(tiny_mlp_path(), tiny_mlp_path(), Domain.box([0, 0], [1, 1]), 5).to_json())
            ['corners', 'max_abs_error', 'points', 'tolerance', 'within', 'worst']
        """
        return {"points": self.points, "corners": self.corners, "max_abs_error": self.max_error,
                "tolerance": self.tolerance, "within": self.within,
                "worst": {"x": self.worst_x.tolist(), "output": self.worst_output,
                          "source": self.worst_source, "other": self.worst_other}}


class _Runner:
    """One model in onnxruntime, fed points of the concatenated per-sample input."""

    def __init__(self, model: str | os.PathLike | bytes) -> None:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        name = os.path.basename(os.fspath(model)) if not isinstance(model, bytes) else "<model>"
        try:
            self.session = ort.InferenceSession(model if isinstance(model, bytes) else os.fspath(model), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:   # onnxruntime's own exception types
            raise UserError(f"{name}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from None
        self.name = name
        self.inputs = []
        for spec in self.session.get_inputs():
            dims = list(spec.shape)
            batched = bool(dims) and not isinstance(dims[0], int)
            per_sample = [d if isinstance(d, int) and d > 0 else 1 for d in (dims[1:] if batched else dims)]
            self.inputs.append((spec.name, batched, per_sample, np.float64 if spec.type == "tensor(double)"
                                else np.float32))
        self.d = sum(int(np.prod(shape)) for _, _, shape, _ in self.inputs)
        self.float32 = any(dtype == np.float32 for *_, dtype in self.inputs)
        leading = {shape[0] if not batched and len(shape) >= 2 else 1 for _, batched, shape, _ in self.inputs}
        self.rows = leading.pop() if len(leading) == 1 else 1    # a fixed batch of rows (input [4, 2])
        self.by_rows = False

    def read_rows(self, d: int) -> None:
        """Take a sample of ``d`` values per row of a fixed batch (a model relucompile read as a
        batch of rows): ``rows`` points go in at once, one per row."""
        if self.d != d and self.rows > 1 and self.d == self.rows * d:
            self.by_rows, self.d = True, d

    def run(self, X: np.ndarray) -> np.ndarray:
        """Outputs (N, total output values) at the rows of X (N, d)."""
        if all(batched for _, batched, _, _ in self.inputs):
            return self._run_batch(X)
        step = self.rows if self.by_rows else 1
        chunks = []
        for start in range(0, len(X), step):
            chunk = X[start:start + step]
            padded = np.vstack([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
            chunks.append(self._run_batch(padded)[:len(chunk)])
        return np.vstack(chunks) if chunks else np.zeros((0, 0))

    def _run_batch(self, X: np.ndarray) -> np.ndarray:
        feeds, offset = {}, 0
        for name, batched, shape, dtype in self.inputs:
            size = int(np.prod(shape)) // (self.rows if self.by_rows else 1)
            part = X[:, offset:offset + size].astype(dtype)
            feeds[name] = part.reshape([len(X)] + shape) if batched else part.reshape(shape)
            offset += size
        outputs = self.session.run(None, feeds)
        return np.hstack([np.asarray(y, np.float64).reshape(len(X), -1) for y in outputs])


def _corners(domain: Domain, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The box's corners (all up to MAX_CORNERS, else ``samples`` random ones); none for other domains."""
    if domain.kind != "box":
        return np.zeros((0, domain.d))
    lo, hi = domain.lower, domain.upper
    if 2 ** domain.d <= MAX_CORNERS:
        picks = np.array(list(itertools.product([False, True], repeat=domain.d)), dtype=bool)
    else:
        picks = rng.integers(0, 2, (samples, domain.d)).astype(bool)
    return np.where(picks, hi, lo)


def _in_dtype(X: np.ndarray, domain: Domain, float32: bool) -> np.ndarray:
    """The points as the models receive them: rounded to float32 when a model takes float32, and
    kept inside a box (a bound rounds inward)."""
    if not float32:
        return X
    X32 = X.astype(np.float32)
    if domain.kind == "box":
        lo = domain.lower.astype(np.float32)
        lo = np.where(lo.astype(np.float64) < domain.lower, np.nextafter(lo, np.float32(np.inf)), lo)
        hi = domain.upper.astype(np.float32)
        hi = np.where(hi.astype(np.float64) > domain.upper, np.nextafter(hi, np.float32(-np.inf)), hi)
        X32 = np.clip(X32, lo, hi)
    return X32.astype(np.float64)


def compare_models(source: str | os.PathLike | bytes, other: str | os.PathLike | bytes, domain: Domain,
                   samples: int = 1000, seed: int = 0, tolerance: float = TOLERANCE) -> Comparison:
    """Run both ONNX models (paths or bytes) at ``samples`` random points of ``domain`` and the
    box's corners; the largest difference and where (see :class:`Comparison`).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.ir.domain import Domain
        >>> compare_models(tiny_mlp_path(), tiny_mlp_path(), Domain.box([0, 0], [1, 1]), samples=10).within
        True
    """
    if not (isinstance(samples, int) and samples >= 0):
        raise UserError(f"samples must be a whole number of at least 0, got {samples!r}")
    if not tolerance >= 0:
        raise UserError(f"tolerance must be at least 0, got {tolerance!r}")
    if domain.kind == "reals":
        raise UserError("comparing needs a bounded domain to sample (a box or a polytope)")
    first, second = _Runner(source), _Runner(other)
    for runner in (first, second):
        runner.read_rows(domain.d)
        if runner.d != domain.d:
            raise UserError(f"{runner.name} takes {runner.d} input values per sample but the domain has {domain.d}")
    rng = np.random.default_rng(seed)
    corners = _corners(domain, samples, rng)
    X = np.vstack([domain.sample(samples, rng) if samples else np.zeros((0, domain.d)), corners])
    X = _in_dtype(X, domain, first.float32 or second.float32)
    want, got = first.run(X), second.run(X)
    if want.shape != got.shape:
        raise UserError(f"{first.name} gives {want.shape[1]} output values per sample, {second.name} {got.shape[1]}")
    diff = np.abs(got - want)
    diff = np.where(np.isnan(got) != np.isnan(want), np.inf, np.nan_to_num(diff, nan=0.0))
    scaled = diff / (1.0 + np.nan_to_num(np.abs(want), nan=0.0))
    flat = int(np.argmax(diff)) if diff.size else 0
    row, column = divmod(flat, max(want.shape[1], 1))
    empty = diff.size == 0
    return Comparison(points=len(X), corners=len(corners), max_error=0.0 if empty else float(diff.max()),
                      worst_x=X[row] if len(X) else np.zeros(domain.d), worst_output=column,
                      worst_source=float(want[row, column]) if not empty else 0.0,
                      worst_other=float(got[row, column]) if not empty else 0.0, tolerance=tolerance,
                      within=bool(empty or scaled.max() <= tolerance))
