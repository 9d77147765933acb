"""Decide a VNN-LIB property of a ReLU network exactly: ``holds``, or ``violated`` with a checked input.

A property (:mod:`relucompile.frontends.vnnlib`) is violated iff some case has an input x in its box where
all of its linear output constraints hold.  :func:`verify_property`

1. groups the cases by input box (one search per box, all its cases at once) and folds inputs
   of zero width into the first layer (ACAS Xu property 4 fixes one input);
2. tries cheap falsification (:mod:`relucompile.verify.attack`);
3. runs the exact branch and bound of :mod:`relucompile.verify.search` over input boxes: sound
   linear bounds (:mod:`relucompile.verify.bounds`) and, on boxes with few unstable units, the
   triangle LP (:mod:`relucompile.verify.lp_relaxation`) prune boxes where the unsafe condition cannot hold;
   boxes on which the network is affine, or still undecided after many bisections, are decided
   by one LP per activation cell (:mod:`relucompile.verify.exact`); the search stops at the first
   counterexample;
   that is the 'input-split' method, chosen for boxes with few free inputs; above
   :data:`INPUT_SPLIT_MAX_DIM` (method 'relu-bab', e.g. MNIST's 784 inputs) a capped
   projected-gradient attack (:func:`relucompile.verify.attack.pgd_attack`) is followed by branch and
   bound on ReLU phases (:mod:`relucompile.verify.relu_bab`) and, if that runs out of its share
   of the time, by more attack; ``method`` overrides the choice, ``stats['method']`` records it;
4. re-checks every candidate counterexample on the *source* ONNX model with onnxruntime before
   reporting it (when ``model`` is given; otherwise with the float64 network).

Counterexample tolerance: the input is rounded to the model's input type (float32 for ACAS Xu)
toward the inside of the box, so it lies in the box exactly; each unsafe constraint
``c_y . y + c_x . x <= rhs`` must then hold on onnxruntime's output up to
``CONFIRM_RTOL * max(1, |rhs|, |c_y| . |y| + |c_x| . |x|)``
(:data:`~relucompile.numeric.tolerances.CONFIRM_RTOL`, 1e-6).

The verdict is ``unknown`` only when ``timeout`` runs out, or in the pathological case where the
exact search met a float64 counterexample that onnxruntime does not confirm (``reason`` says so).
:func:`verify_property` shows a verdict of each kind.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.errors import UserError
from relucompile.progress import plural
from relucompile.ir.network import ReluNet, restrict_inputs, with_output_rows
from relucompile.numeric.tolerances import CONFIRM_RTOL
from relucompile.verify.attack import falsify, pgd_attack
from relucompile.verify.budget import Budget
from relucompile.verify.relu_bab import relu_bab
from relucompile.verify.search import merge_stats, search_box
from relucompile.frontends.vnnlib import Property


@dataclass
class VerifyResult:
    """The verdict ('holds' | 'violated' | 'unknown'), a counterexample ``x``/``y`` when violated
    (``y`` from onnxruntime on the source model), the case it violates, time and search stats."""

    verdict: str
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    case: int | None = None
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``relucompile verify --json`` prints).

        Example:
            >>> VerifyResult("holds", seconds=0.5).to_json()["verdict"]
            'holds'
        """
        out: dict[str, Any] = {"verdict": self.verdict, "seconds": round(self.seconds, 6), "stats": self.stats}
        if self.x is not None:
            out.update(counterexample={"x": [float(v) for v in self.x], "y": [float(v) for v in self.y]},
                       case=self.case)
        if self.reason:
            out["reason"] = self.reason
        return out

    def vnncomp_text(self) -> str:
        """The VNN-COMP result file: ``unsat``, ``sat`` with the assignment, ``timeout`` or ``unknown``.

        Example:
            >>> print(VerifyResult("violated", np.array([0.5]), np.array([-1.0])).vnncomp_text())
            sat
            ((X_0 0.5)
             (Y_0 -1.0))
        """
        if self.verdict == "holds":
            return "unsat"
        if self.verdict == "violated":
            pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(self.x)]
            pairs += [f"(Y_{i} {float(v)!r})" for i, v in enumerate(self.y)]
            return "sat\n(" + "\n ".join(pairs) + ")"
        return "timeout" if self.reason.startswith("timeout") else "unknown"


# ------------------------------------------------------------------------------------------------
# Counterexample re-check
# ------------------------------------------------------------------------------------------------

class _Confirmer:
    """Re-checks candidate inputs on the source model (onnxruntime) or the float64 network."""

    def __init__(self, net: ReluNet, prop: Property, model: Any = None) -> None:
        self.net, self.prop, self.model = net, prop, model
        self.session = None
        self.float32 = net.signature.input_elem_type != 11           # 11 = ONNX double; None: float32
        self.found: tuple[np.ndarray, np.ndarray, int] | None = None

    @property
    def method(self) -> str:
        return "onnxruntime" if self.model is not None else "float64 network"

    def open_session(self) -> None:
        """Load the source model in onnxruntime (on the first candidate only: holds never pays)."""
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        model = self.model
        source = os.fspath(model) if isinstance(model, (str, os.PathLike)) else \
            model if isinstance(model, bytes) else model.SerializeToString()
        if self.net.source_onnx is not None:   # the bytes the network was read from (a shallow model's source)
            source = self.net.source_onnx
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        self.float32 = spec.type != "tensor(double)"
        shape = [s if isinstance(s, int) and s > 0 else 1 for s in spec.shape]
        self.rows = self.net.signature.batch_rows or 1   # a fixed batch of rows: each row gets x
        self.shape = shape if math.prod(shape) == self.net.d * self.rows else [1, self.net.d]

    def outputs(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            return self.net.forward(x[None])[0]
        if self.session is None:
            self.open_session()
        dtype = np.float32 if self.float32 else np.float64
        rows = getattr(self, "rows", 1) if math.prod(self.shape) != self.net.d else 1
        feed = np.tile(x.astype(dtype), rows).reshape(self.shape)
        out = self.session.run(None, {self.input_name: feed})[0]
        if rows > 1:
            return np.asarray(out, dtype=np.float64).reshape(rows, -1)[0]
        return np.asarray(out, dtype=np.float64).ravel()

    def __call__(self, x: np.ndarray, case: int) -> bool:
        c = self.prop.cases[case]
        x = _round_inside(np.asarray(x, np.float64), c.lower, c.upper, self.float32)
        if not (np.all(x >= c.lower) and np.all(x <= c.upper)):
            return False
        y = self.outputs(x)
        if y.size != self.prop.num_outputs or not np.all(np.isfinite(y)):
            return False
        for con in c.constraints:
            lhs = float(con.coeffs_y @ y + con.coeffs_x @ x)
            scale = max(1.0, abs(con.rhs), float(np.abs(con.coeffs_y) @ np.abs(y) + np.abs(con.coeffs_x) @ np.abs(x)))
            if lhs > con.rhs + CONFIRM_RTOL * scale:
                return False
        self.found = (x, y, case)
        return True


def _round_inside(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, float32: bool) -> np.ndarray:
    """``x`` clipped to the box and, for float32 models, rounded to float32 values inside it."""
    x = np.clip(x, lower, upper)
    if not float32:
        return x
    r = x.astype(np.float32)
    up = r.astype(np.float64) < lower
    r[up] = np.nextafter(r[up], np.float32(np.inf))
    down = r.astype(np.float64) > upper
    r[down] = np.nextafter(r[down], np.float32(-np.inf))
    return r.astype(np.float64)


# ------------------------------------------------------------------------------------------------
# Cases grouped by input box, zero-width inputs folded away
# ------------------------------------------------------------------------------------------------

@dataclass
class _Group:
    spec: ReluNet                # outputs: the spec rows, as functions of the free inputs
    lo: np.ndarray               # free inputs only
    hi: np.ndarray
    free: np.ndarray             # bool mask over the d inputs
    fixed_values: np.ndarray     # (d,) values of the fixed inputs
    cases: list[int]             # global case indices
    case_rows: list[np.ndarray]  # row indices of each case in spec

    def expand(self, t: np.ndarray) -> np.ndarray:
        x = self.fixed_values.copy()
        x[self.free] = t
        return x


def _groups(net: ReluNet, prop: Property) -> list[_Group]:
    by_box: dict[tuple, list[int]] = {}
    for i, case in enumerate(prop.cases):
        by_box.setdefault(case.box_key(), []).append(i)
    groups = []
    for members in by_box.values():
        rows: dict[tuple, int] = {}
        cy, cx, rhs, case_rows = [], [], [], []
        for i in members:
            idx = []
            # a case without output constraints is violated by any input of its box: row 0 <= 0
            constraints = [(c.exact, c.coeffs_y, c.coeffs_x, c.rhs) for c in prop.cases[i].constraints] or \
                [("always", np.zeros(net.m), np.zeros(net.d), 0.0)]
            for key, coeffs_y, coeffs_x, bound in constraints:
                if key not in rows:
                    rows[key] = len(rows)
                    cy.append(coeffs_y)
                    cx.append(coeffs_x)
                    rhs.append(bound)
                idx.append(rows[key])
            case_rows.append(np.array(idx, dtype=int))
        spec = with_output_rows(net, np.array(cy), np.array(cx), np.array(rhs))
        lower, upper = prop.cases[members[0]].lower, prop.cases[members[0]].upper
        free = lower < upper
        fixed_values = np.where(free, 0.0, lower)
        groups.append(_Group(restrict_inputs(spec, free, fixed_values), lower[free].copy(), upper[free].copy(),
                             free, fixed_values, members, case_rows))
    return groups


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------

METHODS = ("auto", "input-split", "relu-bab")
"""Search methods: 'input-split' bisects the input box (:mod:`relucompile.verify.search`), 'relu-bab'
branches on ReLU phases (:mod:`relucompile.verify.relu_bab`); 'auto' picks per input box by the
number of free inputs (:data:`INPUT_SPLIT_MAX_DIM`)."""

INPUT_SPLIT_MAX_DIM = 12
"""'auto' bisects input boxes with at most this many free inputs (ACAS Xu: 5) and branches on ReLU
phases above (MNIST: 784, where bisection prunes nothing)."""

ATTACK_SHARE, ATTACK_SECONDS = 0.05, 1.0
"""Before the ReLU-phase search, the projected-gradient attack gets this share of the time left,
at most ATTACK_SECONDS (ATTACK_SECONDS without a timeout)."""

BAB_SHARE = 0.85
"""The ReLU-phase search stops at this share of the time left after the first attack; the rest goes
to a second, longer attack (a search that has not finished by then rarely does)."""


def choose_method(free_inputs: int, method: str = "auto") -> str:
    """The search for an input box with ``free_inputs`` free inputs: ``method`` unless 'auto'.

    Example:
        >>> choose_method(5), choose_method(784), choose_method(784, "input-split")
        ('input-split', 'relu-bab', 'input-split')
    """
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    return "input-split" if free_inputs <= INPUT_SPLIT_MAX_DIM else "relu-bab"


def verify_property(net: ReluNet, prop: Property, timeout: float | None = None, model: Any = None,
                    seed: int = 0, method: str = "auto", already_spent: float = 0.0, jobs: int = 1) -> VerifyResult:
    """Decide ``prop`` on ``net`` (see the module docstring); ``model``: the source ONNX (path,
    bytes or ModelProto) that counterexamples are re-checked on with onnxruntime.

    ``method``: one of :data:`METHODS`; ``already_spent``: seconds of the ``timeout`` already used
    (e.g. loading the model), so the verdict comes ``timeout`` seconds after that clock started.
    ``jobs``: processes for the input-split search once it runs past a thousand boxes (same
    verdict for every value). ``stats['method']`` says which search decided.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.frontends.vnnlib import parse_vnnlib_text
        >>> net = random_mlp(2, [8, 8], 1, seed=1)                  # f ranges over about [0.27, 0.61]
        >>> box = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)"
        ...        "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))(assert (<= X_1 1))")
        >>> verify_property(net, parse_vnnlib_text(box + "(assert (>= Y_0 100))")).verdict
        'holds'
        >>> result = verify_property(net, parse_vnnlib_text(box + "(assert (<= Y_0 0.3))"))
        >>> result.verdict, bool(net.forward(result.x[None])[0, 0] <= 0.3)
        ('violated', True)
    """
    budget = Budget(timeout, already_spent)
    start = budget.start
    if prop.num_inputs != net.d or prop.num_outputs != net.m:
        raise UserError(f"{prop.path}: the property has {plural(prop.num_inputs, 'input')} and "
                        f"{plural(prop.num_outputs, 'output')} but the model has {plural(net.d, 'input')} and "
                        f"{plural(net.m, 'output')}")
    if timeout is not None and timeout <= 0:
        raise UserError("the timeout must be positive")
    if jobs < 1:
        raise UserError("--jobs must be at least 1")
    choose_method(1, method)
    deadline = budget.deadline
    confirm = _Confirmer(net, prop, model)
    groups = _groups(net, prop)
    stats: dict[str, Any] = {"cases": len(prop.cases), "boxes_searched": len(groups),
                             "confirmed_with": confirm.method}
    methods = [choose_method(int(g.lo.size), method) for g in groups]
    stats["method"] = methods[0] if len(set(methods)) == 1 else methods

    def finish(verdict: str, reason: str = "", phase: str = "") -> VerifyResult:
        stats["seconds_total"] = time.perf_counter() - start
        if phase:
            stats["found_by"] = phase
        if confirm.found is not None and verdict == "violated":
            x, y, case = confirm.found
            return VerifyResult(verdict, x, y, case, time.perf_counter() - start, stats, reason)
        return VerifyResult(verdict, seconds=time.perf_counter() - start, stats=stats, reason=reason)

    def timed_out() -> VerifyResult:
        return finish("unknown", reason=f"timeout after {timeout:g} s")

    if budget.expired():
        return timed_out()
    rng = np.random.default_rng(seed)
    for g, how in zip(groups, methods):
        if how != "input-split":
            continue                     # the ReLU-phase search runs its own (capped) attack
        check = _group_check(g, confirm)
        x, _ = falsify(g.spec, g.lo, g.hi, g.case_rows, check, rng, deadline=deadline)
        if x is not None:
            return finish("violated", phase="falsification")
    for g, how in zip(groups, methods):
        if budget.expired():
            return timed_out()
        check = _group_check(g, confirm)
        if how == "input-split":
            out = search_box(g.spec, g.lo, g.hi, g.case_rows, check, deadline=deadline, jobs=jobs)
        else:
            left = budget.remaining()
            x, _ = pgd_attack(g.spec, g.lo, g.hi, g.case_rows, check, rng, deadline=deadline,
                              seconds=ATTACK_SECONDS if left == np.inf else min(ATTACK_SHARE * left, ATTACK_SECONDS))
            if x is not None:
                return finish("violated", phase="attack")
            left = budget.remaining()
            out = relu_bab(g.spec, g.lo, g.hi, g.case_rows, check,
                           budget if left == np.inf else Budget(BAB_SHARE * left))
            if out.status == "timeout" and not budget.expired():
                x, _ = pgd_attack(g.spec, g.lo, g.hi, g.case_rows, check, rng, seconds=np.inf, deadline=deadline)
                if x is not None:
                    merge_stats(stats, out.stats)
                    return finish("violated", phase="attack")
        merge_stats(stats, out.stats)
        if out.status == "unsafe":
            return finish("violated", phase="search")
        if out.status == "timeout":
            return timed_out()
    if stats.get("unconfirmed", 0):
        return finish("unknown", reason="the exact search found inputs violating the property in float64 "
                                        "arithmetic that onnxruntime does not confirm (within rounding)")
    if stats.get("unresolved_leaves", 0):
        return finish("unknown", reason="some exact LP decisions were too close to 0 to tell in float64")
    return finish("holds")


def _group_check(group: _Group, confirm: _Confirmer):
    def check(t: np.ndarray, local_case: int) -> bool:
        return confirm(group.expand(t), group.cases[local_case])
    return check


def domain_from_vnnlib(prop: Property) -> Domain:
    """The input region of ``prop`` as one box :class:`Domain` (to compile over it).

    Several cases with the same box give that box.  Distinct boxes are merged when their union is
    a box (they differ in one input only and their intervals touch or overlap); otherwise the
    region is not convex and this raises :class:`UserError` -- compile each box of
    :func:`domains_from_vnnlib` separately.

    Example:
        >>> from relucompile.frontends.vnnlib import parse_vnnlib_text
        >>> p = parse_vnnlib_text("(declare-const X_0 Real)(declare-const Y_0 Real)"
        ...     "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 1) (<= X_0 3))))(assert (<= Y_0 0))")
        >>> domain_from_vnnlib(p).describe()
        'box [0, 3]^1'
    """
    boxes = [(lo.copy(), hi.copy()) for lo, hi in prop.input_boxes()]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                union = _box_union(boxes[i], boxes[j])
                if union is not None:
                    boxes[i] = union
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    if len(boxes) > 1:
        raise UserError(f"{prop.path}: the input region is a union of {len(boxes)} boxes that is not convex; "
                        "compile one model per box (--domain with each box of the property)")
    return Domain.box(*boxes[0])


def domains_from_vnnlib(prop: Property) -> list[Domain]:
    """One box :class:`Domain` per distinct input box of ``prop`` (in order of appearance).

    Example:
        >>> from relucompile.frontends.vnnlib import parse_vnnlib_text
        >>> p = parse_vnnlib_text("(declare-const X_0 Real)(declare-const Y_0 Real)"
        ...     "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))(assert (<= Y_0 0))")
        >>> [d.describe() for d in domains_from_vnnlib(p)]
        ['box [0, 1]^1', 'box [2, 3]^1']
    """
    return [Domain.box(lo, hi) for lo, hi in prop.input_boxes()]


def _box_union(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """The union of two boxes if it is a box, else None."""
    (alo, ahi), (blo, bhi) = a, b
    if np.all(alo <= blo) and np.all(bhi <= ahi):
        return a
    if np.all(blo <= alo) and np.all(ahi <= bhi):
        return b
    differ = np.nonzero((alo != blo) | (ahi != bhi))[0]
    if differ.size == 1:
        i = differ[0]
        if max(alo[i], blo[i]) <= min(ahi[i], bhi[i]):
            lo, hi = alo.copy(), ahi.copy()
            lo[i], hi[i] = min(alo[i], blo[i]), max(ahi[i], bhi[i])
            return lo, hi
    return None
