#!/usr/bin/env python
"""Micro-benchmark of LP back-ends for the ReLU-network region enumerator.

The enumerator solves very many *tiny* LPs over polyhedra ``{x : A x <= b}``
with ``d = 2..8`` free variables and ``10..300`` rows.  This script compares

* ``scipy``  -- ``scipy.optimize.linprog(method="highs")`` (no warm start);
* ``highspy`` -- one reused ``highspy.Highs`` object (``passModel`` for a fresh
  LP, ``changeColsCost`` / ``addRow`` / ``deleteRows`` for warm starts);
* ``glpk``   -- ``swiglpk`` (GLPK simplex, messages and presolve off, one
  reused problem object, ``glp_set_mat_row`` for rows),

on four access patterns:

1. ``fresh``      -- build a new LP and solve ``min c.x`` from scratch;
2. ``objective``  -- same constraints, 50 objectives in a row (warm start);
3. ``push/pop``   -- DFS step: add ``a.x <= beta``, solve, delete it, add
   ``-a.x <= -beta``, solve, delete it (warm start after add and delete);
4. ``chebyshev``  -- ``max r`` s.t. ``a_i.x + ||a_i|| r <= b_i``, ``0<=r<=1``.

Every timed LP includes building/modifying the model, solving, and reading
back the status, objective value and the primal vector ``x``.  All back-ends
must agree on the status and on the objective (relative tolerance 1e-7).

Run::

    python benchmarks/lp_solvers.py            # writes benchmarks/LP_SOLVERS.md

The run is seeded (``--seed``) and takes well under two minutes.
"""

from __future__ import annotations

import os

# Idle OpenBLAS worker threads spin and steal the second core on small
# machines; the benchmark itself is single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import contextlib
import ctypes
import datetime
import gc
import importlib.metadata
import math
import platform
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
from scipy.optimize import linprog

import highspy
import swiglpk as glp

DIMS: tuple[int, ...] = (2, 5, 8)
ROWS: tuple[int, ...] = (10, 50, 300)
PATTERNS: tuple[str, ...] = ("fresh", "objective", "push/pop", "chebyshev")
BACKENDS: tuple[str, ...] = ("scipy", "highspy", "glpk")
# Each cell is run this often per back-end; per LP the fastest run counts
# (robust against other processes on a shared machine).
REPEATS: dict[str, int] = {"scipy": 2}
DEFAULT_REPEATS = 5
REL_TOL = 1e-7
FEAS_TOL = 1e-6

# Workload size per (pattern, d, m) cell; every back-end solves the same LPs.
N_FRESH = 60  # of which every 10th is infeasible and every 10th unbounded
N_OBJ_SETS, N_OBJ_PER_SET = 4, 50
N_PUSH_BASES, N_PUSH_ROWS = 4, 15  # 2 child LPs per pushed row
N_CHEB = 60  # of which every 10th is infeasible and every 10th unbounded

OPTIMAL, INFEASIBLE, UNBOUNDED = "optimal", "infeasible", "unbounded"


# --------------------------------------------------------------------------
# LP results and instance generation
# --------------------------------------------------------------------------


@dataclass
class LPResult:
    """Normalised outcome of one LP solve.

    ``status`` is ``optimal``/``infeasible``/``unbounded``/``other``;
    ``signal`` is the back-end's raw way of reporting it (for the report).
    """

    status: str
    obj: float
    x: np.ndarray | None
    signal: str


@dataclass
class LP:
    """``min c.x  s.t.  A x <= b,  lb <= x <= ub`` (``None`` bounds = free)."""

    c: np.ndarray
    A: np.ndarray
    b: np.ndarray
    lb: np.ndarray | None = None
    ub: np.ndarray | None = None
    label: str = ""  # designed outcome ("infeasible"/"unbounded") if known


def _random_directions(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    """``k`` random row vectors with random norms in [0.5, 2]."""
    a = rng.normal(size=(k, d))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return a * rng.uniform(0.5, 2.0, size=(k, 1))


def random_polytope(
    rng: np.random.Generator, d: int, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bounded polytope with ``m`` rows containing a point ``x0``.

    ``d + 1`` rows form a (randomly rotated) positively spanning set, which
    makes the polytope bounded; the other rows are random hyperplanes close
    to ``x0`` (as for neuron hyperplanes cutting a region).  Needs m >= d+1.
    """
    x0 = rng.normal(size=d)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    span = np.vstack([np.eye(d), -np.ones((1, d)) / math.sqrt(d)]) @ q.T
    A = np.vstack([span, _random_directions(rng, m - d - 1, d)])
    slack = np.concatenate(
        [rng.uniform(1.0, 3.0, size=d + 1), rng.uniform(0.01, 1.0, size=m - d - 1)]
    )
    perm = rng.permutation(m)
    A, slack = A[perm], slack[perm]
    return A, A @ x0 + slack, x0


def infeasible_polytope(rng: np.random.Generator, d: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """A polytope made empty by replacing two rows with ``a.x <= t``, ``-a.x <= -t-0.5``."""
    A, b, x0 = random_polytope(rng, d, m)
    a = _random_directions(rng, 1, d)[0]
    t = float(a @ x0)
    i, j = rng.choice(m, size=2, replace=False)
    A[i], b[i] = a, t
    A[j], b[j] = -a, -t - 0.5
    return A, b


def unbounded_polyhedron(
    rng: np.random.Generator, d: int, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A non-empty polyhedron with recession direction ``-e_1`` and an objective
    ``c`` with ``c.(-e_1) < 0``, i.e. ``min c.x`` is unbounded."""
    x0 = rng.normal(size=d)
    A = _random_directions(rng, m, d)
    A[:, 0] = np.abs(A[:, 0])
    b = A @ x0 + rng.uniform(0.01, 1.0, size=m)
    c = np.zeros(d)
    c[0] = 1.0
    c[1:] = 0.1 * rng.normal(size=d - 1)
    return A, b, c


def chebyshev_lp(A: np.ndarray, b: np.ndarray, label: str = "") -> LP:
    """Chebyshev-centre LP over ``A x <= b``: variables ``(x, r)``, ``min -r``."""
    m, d = A.shape
    Ac = np.hstack([A, np.linalg.norm(A, axis=1, keepdims=True)])
    c = np.zeros(d + 1)
    c[-1] = -1.0
    lb = np.full(d + 1, -np.inf)
    ub = np.full(d + 1, np.inf)
    lb[-1], ub[-1] = 0.0, 1.0
    return LP(c, Ac, b.copy(), lb, ub, label)


# --------------------------------------------------------------------------
# Back-ends
# --------------------------------------------------------------------------


class Backend(Protocol):
    """What the enumerator needs from an LP back-end."""

    name: str

    def load(self, lp: LP) -> None:
        """Replace the current model by ``lp`` (cold start)."""

    def solve(self) -> LPResult:
        """Solve the current model and read back status, objective and x."""

    def set_objective(self, c: np.ndarray) -> None:
        """Change all objective coefficients (keep the basis)."""

    def push_row(self, a: np.ndarray, beta: float) -> None:
        """Append the row ``a.x <= beta`` (keep the basis)."""

    def pop_row(self) -> None:
        """Delete the last row (keep what can be kept of the basis)."""

    def iterations(self) -> int:
        """Simplex iterations of the last solve (called outside timing)."""


class ScipyBackend:
    """``scipy.optimize.linprog(method='highs')``: every solve is from scratch."""

    name = "scipy"

    def __init__(self) -> None:
        self.c = np.zeros(0)
        self.A = np.zeros((0, 0))
        self.b = np.zeros(0)
        self.bounds: list[tuple[float | None, float | None]] | tuple[None, None] = (None, None)
        self._nit = 0

    def load(self, lp: LP) -> None:
        self.c, self.A, self.b = lp.c, lp.A, lp.b
        if lp.lb is None:
            self.bounds = (None, None)
        else:
            self.bounds = [
                (None if math.isinf(lo) else lo, None if math.isinf(hi) else hi)
                for lo, hi in zip(lp.lb.tolist(), lp.ub.tolist())
            ]

    def set_objective(self, c: np.ndarray) -> None:
        self.c = c

    def push_row(self, a: np.ndarray, beta: float) -> None:
        self.A = np.vstack([self.A, a])
        self.b = np.append(self.b, beta)

    def pop_row(self) -> None:
        self.A, self.b = self.A[:-1], self.b[:-1]

    def solve(self) -> LPResult:
        res = linprog(self.c, A_ub=self.A, b_ub=self.b, bounds=self.bounds, method="highs")
        self._nit = int(res.nit)
        signal = f"res.status={res.status}"
        if res.status == 0:
            return LPResult(OPTIMAL, float(res.fun), res.x, signal)
        status = {2: INFEASIBLE, 3: UNBOUNDED}.get(res.status, "other")
        return LPResult(status, math.nan, None, f"{signal} ({res.message.split('.')[0]})")

    def iterations(self) -> int:
        return self._nit


class HighspyBackend:
    """One reused ``highspy.Highs`` object (threads=1, presolve off).

    With ``switch_method`` the primal simplex (``simplex_strategy=4``) is used
    after objective changes and the dual simplex (``1``) otherwise.
    """

    name = "highspy"

    def __init__(self, switch_method: bool = True) -> None:
        self.switch_method = switch_method
        self._strategy = 1
        self.h = highspy.Highs()
        options = (("output_flag", False), ("threads", 1), ("presolve", "off"), ("simplex_strategy", 1))
        for key, value in options:
            self.h.setOptionValue(key, value)
        self.inf = highspy.kHighsInf
        self.d = 0
        self.idx = np.zeros(0, dtype=np.int32)
        self.ok = highspy.HighsModelStatus.kOptimal
        self.status_map = {
            highspy.HighsModelStatus.kOptimal: OPTIMAL,
            highspy.HighsModelStatus.kInfeasible: INFEASIBLE,
            highspy.HighsModelStatus.kUnbounded: UNBOUNDED,
        }

    def load(self, lp: LP) -> None:
        m, d = lp.A.shape
        self._use_strategy(1)
        self.d = d
        self.idx = np.arange(d, dtype=np.int32)
        lb = np.full(d, -self.inf) if lp.lb is None else lp.lb
        ub = np.full(d, self.inf) if lp.ub is None else lp.ub
        # passModel(num_col, num_row, num_nz, a_format (2 = row-wise), sense (1 = min),
        #           offset, cost, col_lower, col_upper, row_lower, row_upper,
        #           a_start, a_index, a_value, integrality)
        st = self.h.passModel(
            d, m, m * d, 2, 1, 0.0, lp.c, lb, ub, np.full(m, -self.inf), lp.b,
            np.arange(0, m * d, d, dtype=np.int32), np.tile(self.idx, m),
            np.ascontiguousarray(lp.A).ravel(), np.zeros(d, dtype=np.int32),
        )
        assert st == highspy.HighsStatus.kOk, st

    def _use_strategy(self, strategy: int) -> None:
        """simplex_strategy 1 = dual, 4 = primal (only if switch_method)."""
        if self.switch_method and strategy != self._strategy:
            self.h.setOptionValue("simplex_strategy", strategy)
            self._strategy = strategy

    def set_objective(self, c: np.ndarray) -> None:
        self._use_strategy(4)
        self.h.changeColsCost(self.d, self.idx, c)

    def push_row(self, a: np.ndarray, beta: float) -> None:
        self._use_strategy(1)
        self.h.addRow(-self.inf, beta, self.d, self.idx, a)

    def pop_row(self) -> None:
        self.h.deleteRows(1, np.array([self.h.getNumRow() - 1], dtype=np.int32))

    def solve(self) -> LPResult:
        h = self.h
        run_status = h.run()
        ms = h.getModelStatus()
        if ms == self.ok:
            return LPResult(
                OPTIMAL, h.getObjectiveValue(), np.array(h.getSolution().col_value), str(ms)
            )
        signal = f"{ms} (run() -> {run_status})"
        return LPResult(self.status_map.get(ms, "other"), math.nan, None, signal)

    def iterations(self) -> int:
        return int(self.h.getInfo().simplex_iteration_count)


def swig_view(arr: glp.intArray | glp.doubleArray, n: int, ctype: type) -> np.ndarray:
    """Zero-copy numpy view on the C buffer of a swiglpk ``intArray``/``doubleArray``.

    ``int(arr.this)`` is the buffer address; keep ``arr`` alive while the view
    is used.  Writing ``view[1:k+1] = values`` fills the 1-based GLPK array in
    a single numpy operation.
    """
    return np.ctypeslib.as_array((ctype * n).from_address(int(arr.this)))


class GlpkBackend:
    """GLPK simplex via swiglpk on one reused ``glp_prob``.

    Arrays are passed through preallocated swig buffers written via numpy
    views (see :func:`swig_view`).

    Basis handling (``glp_simplex`` never repairs a stored basis itself):

    * ``pop_repair="pivot"``: before deleting a row whose auxiliary variable
      is non-basic, pivot it into the basis (``glp_eval_tab_col`` +
      ``glp_prim_rtest`` choose the leaving variable), so that the basis stays
      valid after ``glp_del_rows``;
    * ``pop_repair="adv"`` / ``"std"``: just delete the row; when the next
      ``glp_simplex`` returns ``GLP_EBADB`` (more basic variables than rows)
      rebuild the basis with ``glp_adv_basis`` / ``glp_std_basis`` and retry.

    With ``switch_method`` the simplex method follows the warm start: primal
    after an objective change (the basis stays primal feasible), dual
    (``GLP_DUALP``) for fresh LPs and after adding a row.

    ``GLP_ESING``/``GLP_ECOND`` are handled like ``GLP_EBADB``.  With the dual
    simplex, an LP without finite optimum can end with status ``GLP_INFEAS``
    (primal infeasible basis, dual ``GLP_NOFEAS``), which does not say whether
    the LP is infeasible or unbounded; it is then re-solved with the primal
    simplex.  All these events are counted in ``events``.
    """

    name = "glpk"

    def __init__(self, pop_repair: str = "adv", switch_method: bool = True) -> None:
        glp.glp_term_out(glp.GLP_OFF)  # glp_adv_basis prints even with msg_lev off
        self.P = glp.glp_create_prob()
        self.parm = glp.glp_smcp()
        glp.glp_init_smcp(self.parm)
        self.parm.msg_lev = glp.GLP_MSG_OFF
        self.parm.presolve = glp.GLP_OFF
        self.parm.meth = self.method = glp.GLP_DUALP
        self.switch_method = switch_method
        self.pop_repair = pop_repair
        self.d = 0
        self.events: Counter[str] = Counter()
        self._cap = 0
        self._grow(16 * 9)
        # Row buffers for glp_set_mat_row: ind = 1..d is constant.
        self._ind = glp.intArray(17)
        swig_view(self._ind, 17, ctypes.c_int)[:] = np.arange(17)
        self._val = glp.doubleArray(17)
        self._val_v = swig_view(self._val, 17, ctypes.c_double)
        self._num = glp.intArray(2)
        self._it0 = 0
        self._status_map = {glp.GLP_OPT: OPTIMAL, glp.GLP_NOFEAS: INFEASIBLE, glp.GLP_UNBND: UNBOUNDED}
        self._status_names = {
            getattr(glp, k): k
            for k in ("GLP_UNDEF", "GLP_FEAS", "GLP_INFEAS", "GLP_NOFEAS", "GLP_OPT", "GLP_UNBND")
        }
        self._err_names = {glp.GLP_EBADB: "EBADB", glp.GLP_ESING: "ESING", glp.GLP_ECOND: "ECOND"}

    def _grow(self, n: int) -> None:
        """Make sure the 1-based work buffers hold ``n`` entries."""
        if n + 1 <= self._cap:
            return
        self._cap = 2 * (n + 1)
        self._ia, self._ja = glp.intArray(self._cap), glp.intArray(self._cap)
        self._ar = glp.doubleArray(self._cap)
        self._ia_v = swig_view(self._ia, self._cap, ctypes.c_int)
        self._ja_v = swig_view(self._ja, self._cap, ctypes.c_int)
        self._ar_v = swig_view(self._ar, self._cap, ctypes.c_double)

    def load(self, lp: LP) -> None:
        P = self.P
        m, d = lp.A.shape
        self.d = d
        if self.switch_method:
            self.parm.meth = self.method = glp.GLP_DUALP
        glp.glp_erase_prob(P)
        glp.glp_add_cols(P, d)
        for j, cj in enumerate(lp.c.tolist(), start=1):
            glp.glp_set_obj_coef(P, j, cj)
        if lp.lb is None:
            for j in range(1, d + 1):
                glp.glp_set_col_bnds(P, j, glp.GLP_FR, 0.0, 0.0)
        else:
            for j, (lo, hi) in enumerate(zip(lp.lb.tolist(), lp.ub.tolist()), start=1):
                if math.isinf(lo) and math.isinf(hi):
                    glp.glp_set_col_bnds(P, j, glp.GLP_FR, 0.0, 0.0)
                else:  # only the Chebyshev radius is bounded here
                    glp.glp_set_col_bnds(P, j, glp.GLP_DB, lo, hi)
        glp.glp_add_rows(P, m)
        up = glp.GLP_UP
        for i, bi in enumerate(lp.b.tolist(), start=1):
            glp.glp_set_row_bnds(P, i, up, 0.0, bi)
        nnz = m * d
        self._grow(nnz)
        self._ia_v[1 : nnz + 1] = np.repeat(np.arange(1, m + 1, dtype=np.int32), d)
        self._ja_v[1 : nnz + 1] = np.tile(np.arange(1, d + 1, dtype=np.int32), m)
        self._ar_v[1 : nnz + 1] = lp.A.ravel()
        glp.glp_load_matrix(P, nnz, self._ia, self._ja, self._ar)

    def set_objective(self, c: np.ndarray) -> None:
        for j, cj in enumerate(c.tolist(), start=1):
            glp.glp_set_obj_coef(self.P, j, cj)
        if self.switch_method:  # basis stays primal feasible: primal simplex
            self.parm.meth = self.method = glp.GLP_PRIMAL

    def push_row(self, a: np.ndarray, beta: float) -> None:
        if self.switch_method:  # basis stays dual feasible: dual simplex
            self.parm.meth = self.method = glp.GLP_DUALP
        i = glp.glp_add_rows(self.P, 1)
        glp.glp_set_row_bnds(self.P, i, glp.GLP_UP, 0.0, beta)
        self._val_v[1 : self.d + 1] = a
        glp.glp_set_mat_row(self.P, i, self.d, self._ind, self._val)

    def pop_row(self) -> None:
        P = self.P
        k = glp.glp_get_num_rows(P)
        if self.pop_repair == "pivot" and glp.glp_get_row_stat(P, k) != glp.GLP_BS:
            self._pivot_row_into_basis(k)
        self._num[1] = k
        glp.glp_del_rows(P, 1, self._num)

    def _pivot_row_into_basis(self, k: int) -> None:
        """Make the (non-basic, at its upper bound) auxiliary variable of row ``k``
        basic by one primal pivot, so that deleting row ``k`` keeps a valid basis."""
        P = self.P
        if not glp.glp_bf_exists(P) and glp.glp_factorize(P) != 0:
            return  # leave it to the EBADB fallback
        m = glp.glp_get_num_rows(P)
        self._grow(m + self.d)
        ind, val = self._ia, self._ar
        n = glp.glp_eval_tab_col(P, k, ind, val)
        # Relaxing a.x <= beta moves its auxiliary variable down: dir = -1.
        # glp_prim_rtest aborts the process unless the basic solution is primal feasible.
        piv = 0
        if glp.glp_get_prim_stat(P) == glp.GLP_FEAS:
            piv = glp.glp_prim_rtest(P, n, ind, val, -1, 1e-9)
        if piv == 0:  # no blocking variable: take the largest |alpha| (non-singular)
            piv = 1 + int(np.argmax(np.abs(self._ar_v[1 : n + 1])))
        q = int(self._ia_v[piv])
        moves_up = -float(self._ar_v[piv]) > 0.0  # d x_q = alpha * d x_k, d x_k < 0
        if q <= m:
            kind, set_stat = glp.glp_get_row_type(P, q), glp.glp_set_row_stat
            j = q
        else:
            kind, set_stat = glp.glp_get_col_type(P, q - m), glp.glp_set_col_stat
            j = q - m
        stat = {
            glp.GLP_FR: glp.GLP_NF,
            glp.GLP_UP: glp.GLP_NU,
            glp.GLP_LO: glp.GLP_NL,
            glp.GLP_FX: glp.GLP_NS,
        }.get(kind, glp.GLP_NU if moves_up else glp.GLP_NL)
        set_stat(P, j, stat)
        glp.glp_set_row_stat(P, k, glp.GLP_BS)
        self.events["pivot before delete"] += 1

    def solve(self) -> LPResult:
        P = self.P
        self._it0 = glp.glp_get_it_cnt(P)
        ret = glp.glp_simplex(P, self.parm)
        if ret in self._err_names:
            self.events[f"glp_simplex -> GLP_{self._err_names[ret]}, basis rebuilt"] += 1
            if self.pop_repair == "std":
                glp.glp_std_basis(P)
            else:
                glp.glp_adv_basis(P, 0)
            ret = glp.glp_simplex(P, self.parm)
        if ret != 0:
            return LPResult("other", math.nan, None, f"glp_simplex -> {ret}")
        st = glp.glp_get_status(P)
        if st == glp.GLP_OPT:
            x = np.array([glp.glp_get_col_prim(P, j) for j in range(1, self.d + 1)])
            return LPResult(OPTIMAL, glp.glp_get_obj_val(P), x, "glp_get_status=GLP_OPT")
        signal = f"glp_simplex -> 0, glp_get_status={self._status_names.get(st, st)}"
        if st not in self._status_map and self.method != glp.GLP_PRIMAL:
            # Dual simplex proved dual infeasibility only: infeasible or unbounded?
            self.events["inconclusive dual status, primal re-solve"] += 1
            self.parm.meth = glp.GLP_PRIMAL
            ret = glp.glp_simplex(P, self.parm)
            self.parm.meth = self.method
            st = glp.glp_get_status(P) if ret == 0 else -1
            signal += f", then GLP_PRIMAL: {self._status_names.get(st, st)}"
        return LPResult(self._status_map.get(st, "other"), math.nan, None, signal)

    def iterations(self) -> int:
        return glp.glp_get_it_cnt(self.P) - self._it0


def make_backends() -> dict[str, Backend]:
    """One instance of each back-end (reused for the whole run)."""
    return {"scipy": ScipyBackend(), "highspy": HighspyBackend(), "glpk": GlpkBackend()}


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------

def workload(pattern: str, d: int, m: int, seed: int) -> list[dict]:
    """Deterministic instance data for one (pattern, d, m) cell."""
    rng = np.random.default_rng([seed, PATTERNS.index(pattern), d, m])
    items: list[dict] = []
    if pattern in ("fresh", "chebyshev"):
        n = N_FRESH if pattern == "fresh" else N_CHEB
        for k in range(n):
            if k % 10 == 8:
                A, b = infeasible_polytope(rng, d, m)
                c, label = rng.normal(size=d), INFEASIBLE
            elif k % 10 == 9:
                A, b, c = unbounded_polyhedron(rng, d, m)
                label = UNBOUNDED
            else:
                A, b, _ = random_polytope(rng, d, m)
                c, label = rng.normal(size=d), ""
            if pattern == "fresh":
                items.append({"lp": LP(c, A, b, label=label)})
            else:  # Chebyshev radius is capped at 1, so never unbounded
                items.append({"lp": chebyshev_lp(A, b, INFEASIBLE if label == INFEASIBLE else "")})
    elif pattern == "objective":
        for _ in range(N_OBJ_SETS):
            A, b, _ = random_polytope(rng, d, m)
            items.append({"lp": LP(rng.normal(size=d), A, b), "objs": rng.normal(size=(N_OBJ_PER_SET, d))})
    elif pattern == "push/pop":
        for _ in range(N_PUSH_BASES):
            A, b, x0 = random_polytope(rng, d, m)
            rows = _random_directions(rng, N_PUSH_ROWS, d)
            # Hyperplanes near x0: usually both sides are feasible, sometimes one is empty.
            betas = rows @ x0 + 0.7 * np.linalg.norm(rows, axis=1) * rng.normal(size=N_PUSH_ROWS)
            items.append({"lp": LP(rng.normal(size=d), A, b), "rows": rows, "betas": betas})
    else:
        raise ValueError(pattern)
    return items


def run_cell(
    backend: Backend, pattern: str, items: list[dict]
) -> tuple[list[int], list[LPResult], list[int], list[LP]]:
    """Run one workload on one back-end.

    Returns per-LP times (ns), results, simplex iterations, and the LP that
    was solved (for the feasibility check of x).
    """
    times: list[int] = []
    results: list[LPResult] = []
    iters: list[int] = []
    lps: list[LP] = []
    clock = time.perf_counter_ns

    def record(t: int, res: LPResult, lp: LP) -> None:
        times.append(t)
        results.append(res)
        iters.append(backend.iterations())
        lps.append(lp)

    gc.disable()
    try:
        for item in items:
            lp: LP = item["lp"]
            if pattern in ("fresh", "chebyshev"):
                t0 = clock()
                backend.load(lp)
                res = backend.solve()
                record(clock() - t0, res, lp)
            elif pattern == "objective":
                backend.load(lp)
                backend.solve()  # initial solve, untimed
                for c in item["objs"]:
                    t0 = clock()
                    backend.set_objective(c)
                    res = backend.solve()
                    record(clock() - t0, res, LP(c, lp.A, lp.b))
            else:  # push/pop
                backend.load(lp)
                backend.solve()  # parent solve, untimed
                for a, beta in zip(item["rows"], item["betas"].tolist()):
                    for sa, sb in ((a, beta), (-a, -beta)):
                        t0 = clock()
                        backend.push_row(sa, sb)
                        res = backend.solve()
                        t1 = clock()
                        it = backend.iterations()
                        t2 = clock()
                        backend.pop_row()
                        t3 = clock()
                        times.append((t1 - t0) + (t3 - t2))
                        results.append(res)
                        iters.append(it)
                        lps.append(LP(lp.c, np.vstack([lp.A, sa]), np.append(lp.b, sb)))
    finally:
        gc.enable()
    return times, results, iters, lps


def objectives_agree(r1: LPResult, r2: LPResult) -> bool:
    """Same status and, if optimal, objective equal to REL_TOL (relative, floor 1)."""
    if r1.status != r2.status:
        return False
    if r1.status != OPTIMAL:
        return True
    return abs(r1.obj - r2.obj) <= REL_TOL * max(1.0, abs(r1.obj), abs(r2.obj))


def x_is_consistent(res: LPResult, lp: LP) -> bool:
    """The returned minimiser is feasible and attains the returned objective."""
    if res.status != OPTIMAL:
        return True
    x = np.asarray(res.x, dtype=float)
    n = lp.A.shape[1]
    if x.shape != (n,):
        return False
    scale = 1.0 + np.abs(lp.b)
    if np.any(lp.A @ x - lp.b > FEAS_TOL * scale):
        return False
    if lp.lb is not None and (np.any(x < lp.lb - FEAS_TOL) or np.any(x > lp.ub + FEAS_TOL)):
        return False
    return abs(float(lp.c @ x) - res.obj) <= 1e-6 * max(1.0, abs(res.obj))


# --------------------------------------------------------------------------
# Side measurements: per-call overhead and swiglpk array passing
# --------------------------------------------------------------------------


def time_per_call(fn: Callable[[], object], n: int, batches: int = 5) -> float:
    """Microseconds per call of ``fn``: best of ``batches`` batches of ``n`` calls
    (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    best = math.inf
    gc.disable()
    try:
        for _ in range(batches):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t0) / n)
    finally:
        gc.enable()
    return best * 1e6


def measure_overheads(backends: dict[str, Backend], seed: int) -> list[tuple[str, str, float]]:
    """Per-call costs on an already-solved LP (d=5, m=50): no-op re-solve and readback."""
    rng = np.random.default_rng([seed, 99])
    A, b, _ = random_polytope(rng, 5, 50)
    lp = LP(rng.normal(size=5), A, b)
    out: list[tuple[str, str, float]] = []
    for name, be in backends.items():
        be.load(lp)
        be.solve()
        n = 40 if name == "scipy" else 1000
        out.append((name, "re-solve unchanged LP + readback", time_per_call(be.solve, n)))
    h = backends["highspy"].h  # type: ignore[attr-defined]
    P = backends["glpk"].P  # type: ignore[attr-defined]
    parm = backends["glpk"].parm  # type: ignore[attr-defined]
    calls: list[tuple[str, str, Callable[[], object], int]] = [
        ("highspy", "run() only (0 iterations)", h.run, 1000),
        ("highspy", "getObjectiveValue()", h.getObjectiveValue, 4000),
        ("highspy", "getInfo().objective_function_value", lambda: h.getInfo().objective_function_value, 1000),
        ("highspy", "np.array(getSolution().col_value)", lambda: np.array(h.getSolution().col_value), 4000),
        ("highspy", "getModelStatus()", h.getModelStatus, 4000),
        ("glpk", "glp_simplex only (0 iterations)", lambda: glp.glp_simplex(P, parm), 4000),
        ("glpk", "[glp_get_col_prim(P, j) for j in 1..5]",
         lambda: [glp.glp_get_col_prim(P, j) for j in range(1, 6)], 4000),
        ("glpk", "swiglpk.get_col_primals(P) (one call)", lambda: glp.get_col_primals(P), 4000),
    ]
    out += [(b, label, time_per_call(fn, n)) for b, label, fn, n in calls]
    return out


def measure_swig_arrays() -> tuple[list[tuple[str, int, float]], str]:
    """Compare ways of getting numpy data into GLPK's 1-based swig arrays.

    Returns timings (method, length, us) and a note on whether
    ``swiglpk.as_doubleArray`` produces correct data.
    """
    rng = np.random.default_rng(0)
    out: list[tuple[str, int, float]] = []
    # Correctness of as_doubleArray/as_intArray: round trip through GLPK.
    P = glp.glp_create_prob()
    glp.glp_add_cols(P, 3)
    glp.glp_add_rows(P, 1)
    ind_ok = glp.intArray(4)
    for j in range(1, 4):
        ind_ok[j] = j
    glp.glp_set_mat_row(P, 1, 3, ind_ok, glp.as_doubleArray([5.0, 6.0, 7.0]))
    back_v, back_i = glp.doubleArray(4), glp.intArray(4)
    k = glp.glp_get_mat_row(P, 1, back_i, back_v)
    got = sorted((back_i[t], back_v[t]) for t in range(1, k + 1))
    ok = got == [(1, 5.0), (2, 6.0), (3, 7.0)]
    probe = glp.as_doubleArray([5.0, 6.0, 7.0])
    note = (
        f"`as_doubleArray([5.0, 6.0, 7.0])` read back as {[probe[t] for t in range(4)]} "
        f"(index 0 unused); GLPK stored row {got}: {'correct' if ok else 'WRONG DATA'}"
    )
    glp.glp_delete_prob(P)

    for n in (8, 2400):
        vals = rng.normal(size=n)
        idx = np.arange(1, n + 1, dtype=np.int32)
        pre_d, pre_i = glp.doubleArray(n + 1), glp.intArray(n + 1)
        view_d = swig_view(pre_d, n + 1, ctypes.c_double)
        view_i = swig_view(pre_i, n + 1, ctypes.c_int)
        reps = 4000 if n == 8 else 60

        def new_loop() -> None:
            a, ia = glp.doubleArray(n + 1), glp.intArray(n + 1)
            for t, (v, j) in enumerate(zip(vals.tolist(), idx.tolist()), start=1):
                a[t] = v
                ia[t] = j

        def pre_loop() -> None:
            for t, (v, j) in enumerate(zip(vals.tolist(), idx.tolist()), start=1):
                pre_d[t] = v
                pre_i[t] = j

        def as_arrays() -> None:
            glp.as_doubleArray(vals.tolist())
            glp.as_intArray(idx.tolist())

        def numpy_view() -> None:
            view_d[1 : n + 1] = vals
            view_i[1 : n + 1] = idx

        def fresh_view() -> None:
            a, ia = glp.doubleArray(n + 1), glp.intArray(n + 1)
            swig_view(a, n + 1, ctypes.c_double)[1:] = vals
            swig_view(ia, n + 1, ctypes.c_int)[1:] = idx

        for label, fn in (
            ("new intArray/doubleArray + element loop", new_loop),
            ("preallocated arrays + element loop", pre_loop),
            ("swiglpk.as_intArray/as_doubleArray(arr.tolist())", as_arrays),
            ("new arrays + numpy view (ctypes.from_address(int(a.this)))", fresh_view),
            ("preallocated arrays + numpy view, slice assignment", numpy_view),
        ):
            out.append((label, n, time_per_call(fn, reps)))
    return out, note


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def machine_info() -> list[str]:
    """nproc, CPU, python and package versions."""
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}" for p in ("numpy", "scipy", "highspy", "swiglpk")
    )
    load = "?"
    with contextlib.suppress(OSError):
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    return [
        f"- nproc: {os.cpu_count()} ({cpu}); load average at the end of the run: {load}",
        f"- python: {platform.python_version()} ({platform.platform()})",
        f"- packages: {versions}; GLPK {glp.glp_version()}; HiGHS (highspy) "
        f"{highspy.Highs().version()}",
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """Render a GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


@dataclass
class CellStats:
    """Timing and bookkeeping of one (pattern, back-end, d, rows) cell."""

    us: float  # mean microseconds per LP, best of REPEATS runs
    iters: float  # mean simplex iterations per LP
    n: int  # LPs per run
    events: Counter[str]  # GLPK basis repairs etc. during one run


@dataclass
class Checks:
    """Cross-checks aggregated over all cells."""

    disagreements: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    bad_x: Counter[str] = field(default_factory=Counter)
    label_mismatch: Counter[str] = field(default_factory=Counter)
    signals: dict[str, dict[str, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    n_lps: int = 0
    status_counts: Counter[str] = field(default_factory=Counter)

    def record(self, name: str, results: list[LPResult], lps: list[LP]) -> None:
        """Collect status signals, x-consistency and designed-label checks."""
        for res, lp in zip(results, lps):
            self.signals[name][res.status][res.signal] += 1
            if not x_is_consistent(res, lp):
                self.bad_x[name] += 1
            if lp.label and res.status != lp.label:
                self.label_mismatch[name] += 1

    def compare(self, where: str, ref: list[LPResult], name: str, other: list[LPResult]) -> None:
        """Count status/objective disagreements of ``other`` against highspy."""
        for k, (r1, r2) in enumerate(zip(ref, other)):
            if not objectives_agree(r1, r2):
                self.disagreements[name] += 1
                if len(self.examples) < 10:
                    self.examples.append(
                        f"{where} #{k}: highspy {r1.status} {r1.obj!r} vs {name} {r2.status} {r2.obj!r}"
                    )


def time_cell(
    backend: Backend, pattern: str, items: list[dict], repeats: int
) -> tuple[CellStats, list[LPResult], list[LP]]:
    """Run a workload ``repeats`` times.

    The reported time is the mean over the LPs of each LP's fastest run;
    results, iterations and events are those of the first run.
    """
    events = getattr(backend, "events", Counter())
    best: np.ndarray | None = None
    for rep in range(repeats):
        before = Counter(events)
        times, results, iters, lps = run_cell(backend, pattern, items)
        t = np.asarray(times, dtype=float)
        best = t if best is None else np.minimum(best, t)
        if rep == 0:
            first = (results, lps, float(np.mean(iters)), Counter(events) - before)
    assert best is not None
    results, lps, mean_iters, ev = first
    return CellStats(float(np.mean(best)) / 1e3, mean_iters, len(results), ev), results, lps


CellKey = tuple[str, str, int, int]  # (pattern, back-end, d, rows)


def run_benchmark(seed: int) -> tuple[dict[CellKey, CellStats], Checks, dict[str, Backend]]:
    """All (pattern, back-end, d, rows) cells, plus GLPK pop-repair variants
    on the push/pop pattern."""
    backends = make_backends()
    variants: dict[str, Backend] = {
        "glpk/std_basis": GlpkBackend(pop_repair="std"),
        "glpk/pivot": GlpkBackend(pop_repair="pivot"),
    }
    warm = workload("fresh", 5, 50, seed + 1)[:10]
    for be in (*backends.values(), *variants.values()):
        run_cell(be, "fresh", warm)  # first-call initialisation
    stats: dict[CellKey, CellStats] = {}
    checks = Checks()
    for pattern in PATTERNS:
        for d in DIMS:
            for m in ROWS:
                items = workload(pattern, d, m, seed)
                todo = dict(backends)
                if pattern == "push/pop":
                    todo.update(variants)
                res_by: dict[str, list[LPResult]] = {}
                for name, be in todo.items():
                    reps = REPEATS.get(name, DEFAULT_REPEATS)
                    cell, res_by[name], lps = time_cell(be, pattern, items, reps)
                    stats[(pattern, name, d, m)] = cell
                    checks.record(name, res_by[name], lps)
                ref = res_by["highspy"]
                checks.n_lps += len(ref)
                checks.status_counts.update(r.status for r in ref)
                for name in res_by:
                    if name != "highspy":
                        checks.compare(f"{pattern} d={d} m={m}", ref, name, res_by[name])
    return stats, checks, backends


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the report and write LP_SOLVERS.md."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=12345)
    default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "LP_SOLVERS.md")
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--no-write", action="store_true", help="only print to stdout")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    stats, checks, backends = run_benchmark(args.seed)
    t_main = time.perf_counter() - t_start
    overheads = measure_overheads(backends, args.seed)
    arrays, as_array_note = measure_swig_arrays()
    elapsed = time.perf_counter() - t_start

    report = render_report(
        stats, checks, overheads, arrays, as_array_note,
        command="python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        seed=args.seed, t_main=t_main, elapsed=elapsed,
    )
    print(report)
    if not args.no_write:
        with open(args.out, "w") as fh:
            fh.write(report)
        print(f"written to {args.out}", file=sys.stderr)


def geo_mean(xs: list[float]) -> float:
    """Geometric mean of positive numbers."""
    return float(np.exp(np.mean(np.log(xs))))


def summarise(stats: dict[CellKey, CellStats]) -> str:
    """Per pattern: which back-end wins how often, and the speed ratios."""
    sizes = [(d, m) for d in DIMS for m in ROWS]
    rows = []
    for p in PATTERNS:
        t = {b: [stats[(p, b, d, m)].us for d, m in sizes] for b in BACKENDS}
        wins = Counter(min(BACKENDS, key=lambda b: t[b][k]) for k in range(len(sizes)))
        hg = [h / g for h, g in zip(t["highspy"], t["glpk"])]
        sg = [s / g for s, g in zip(t["scipy"], t["glpk"])]
        rows.append([
            p,
            ", ".join(f"{b} {wins[b]}" for b in BACKENDS if wins[b]),
            f"{min(t['glpk']):.0f} - {max(t['glpk']):.0f}",
            f"{min(t['highspy']):.0f} - {max(t['highspy']):.0f}",
            f"{min(t['scipy']):.0f} - {max(t['scipy']):.0f}",
            f"{geo_mean(hg):.1f} ({min(hg):.1f} - {max(hg):.1f})",
            f"{geo_mean(sg):.0f} ({min(sg):.0f} - {max(sg):.0f})",
        ])
    main = markdown_table(
        ["pattern", "fastest (cells of 9)", "glpk us", "highspy us", "scipy us",
         "highspy / glpk geo-mean (range)", "scipy / glpk geo-mean (range)"],
        rows,
    )
    warm_rows = []
    for b in ("glpk", "highspy"):
        row = [b]
        for p in ("objective", "push/pop"):
            r = [stats[(p, b, d, m)].us / stats[("fresh", b, d, m)].us for d, m in sizes]
            row.append(f"{geo_mean(r):.2f} ({min(r):.2f} - {max(r):.2f})")
        warm_rows.append(row)
    warm = markdown_table(
        ["backend", "objective / fresh time, geo-mean (range)", "push/pop / fresh time, geo-mean (range)"],
        warm_rows,
    )
    return f"{main}\n\nWarm start versus building the same size of LP from scratch:\n\n{warm}"


def render_report(
    stats: dict[CellKey, CellStats],
    checks: Checks,
    overheads: list[tuple[str, str, float]],
    arrays: list[tuple[str, int, float]],
    as_array_note: str,
    command: str,
    seed: int,
    t_main: float,
    elapsed: float,
) -> str:
    """The Markdown report (also printed to stdout)."""
    sizes = [(d, m) for d in DIMS for m in ROWS]
    rows: list[list[str]] = []
    for pattern in PATTERNS:
        for d, m in sizes:
            t = {b: stats[(pattern, b, d, m)].us for b in BACKENDS}
            best = min(t, key=lambda b: t[b])
            rows.append(
                [pattern, str(d), str(m)]
                + [f"{t[b]:.1f}" for b in BACKENDS]
                + [best, f"{t['highspy'] / t['glpk']:.1f}", f"{t['scipy'] / t[best]:.0f}"]
            )
    timing_table = markdown_table(
        ["pattern", "d", "rows"] + [f"{b} [us]" for b in BACKENDS]
        + ["fastest", "highspy / glpk", "scipy / fastest"],
        rows,
    )
    iter_table = markdown_table(
        ["pattern", "d", "rows"] + list(BACKENDS),
        [
            [p, str(d), str(m)] + [f"{stats[(p, b, d, m)].iters:.1f}" for b in BACKENDS]
            for p in PATTERNS
            for d, m in sizes
        ],
    )
    variants = ("glpk", "glpk/std_basis", "glpk/pivot", "highspy")
    var_rows = []
    for d, m in sizes:
        cells = {v: stats[("push/pop", v, d, m)] for v in variants}
        row = [str(d), str(m)]
        for v in variants:
            c = cells[v]
            nrep = sum(k for e, k in c.events.items() if "GLP_E" in e)
            npiv = c.events.get("pivot before delete", 0)
            extra = f" ({nrep}/{c.n} EBADB)" if v.startswith("glpk") and v != "glpk/pivot" else ""
            if v == "glpk/pivot":
                extra = f" ({npiv}/{c.n} pivots, {nrep} EBADB)"
            row.append(f"{c.us:.1f}{extra}")
        row += [f"{cells[v].iters:.1f}" for v in variants]
        var_rows.append(row)
    variant_table = markdown_table(
        ["d", "rows"]
        + [f"{v} [us]" for v in ("glpk (adv_basis)", "glpk (std_basis)", "glpk (pivot)", "highspy")]
        + [f"iters {v}" for v in ("adv", "std", "pivot", "highspy")],
        var_rows,
    )
    event_totals: dict[str, Counter[str]] = defaultdict(Counter)
    for (p, b, _, _), c in stats.items():
        event_totals[f"{b} / {p}"].update(c.events)
    event_lines = "\n".join(
        f"* `{k}`: " + ", ".join(f"{e}: {n}" for e, n in sorted(v.items()))
        for k, v in sorted(event_totals.items())
        if v
    )
    sig_rows = [
        [b, status, f"`{sig}`", str(cnt)]
        for b in (*BACKENDS, "glpk/std_basis", "glpk/pivot")
        for status in (OPTIMAL, INFEASIBLE, UNBOUNDED, "other")
        for sig, cnt in sorted(checks.signals[b].get(status, Counter()).items())
    ]
    signal_table = markdown_table(["backend", "normalised status", "raw signal", "count"], sig_rows)
    ov_table = markdown_table(
        ["backend", "operation (d=5, rows=50)", "us / call"],
        [[b, op, f"{us:.2f}"] for b, op, us in overheads],
    )
    arr_table = markdown_table(
        ["method (fill a 1-based intArray + doubleArray)", "length", "us / call"],
        [[label, str(n), f"{us:.2f}"] for label, n, us in arrays],
    )
    names = (*BACKENDS, "glpk/std_basis", "glpk/pivot")
    agree = (
        f"{checks.n_lps} distinct LPs in the main table ({dict(checks.status_counts)} according to highspy). "
        f"Status or objective disagreements with highspy (relative tolerance {REL_TOL:g}, floor 1): "
        + ", ".join(f"{b} {checks.disagreements[b]}" for b in names if b != "highspy")
        + f". Returned x violating A x <= b by more than {FEAS_TOL:g} (relative) or not attaining "
        f"the returned objective: " + ", ".join(f"{b} {checks.bad_x[b]}" for b in names)
        + ". Designed infeasible/unbounded LPs classified otherwise: "
        + ", ".join(f"{b} {checks.label_mismatch[b]}" for b in names)
        + "."
    )
    examples = "\n".join("* " + e for e in checks.examples) or "(no disagreements)"
    summary_table = summarise(stats)
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"""# LP back-end micro-benchmark for the region enumerator

Generated by `benchmarks/lp_solvers.py` on {now} with `{command}`
(seed {seed}; main benchmark {t_main:.0f} s, total {elapsed:.0f} s).

## Machine

{chr(10).join(machine_info())}

## Set-up

* LPs: `min c.x s.t. A x <= b` with free columns; `d` variables, `rows` rows.
  Bounded polytopes contain `d+1` positively spanning rows (randomly rotated)
  plus random hyperplanes near an interior point; row norms in [0.5, 2].
* `fresh`: {N_FRESH} LPs per cell, 10% infeasible and 10% unbounded; time = build + solve + readback.
* `objective`: {N_OBJ_SETS} constraint sets x {N_OBJ_PER_SET} objectives; time = change costs + warm
  solve + readback (the first solve of each set is untimed).
* `push/pop`: {N_PUSH_BASES} parent LPs x {N_PUSH_ROWS} rows x 2 children; time per child LP = add row +
  warm solve + readback + delete row. Hyperplanes pass near the parent's interior point, so some
  children are infeasible.
* `chebyshev`: {N_CHEB} LPs per cell (`d+1` columns, radius in [0, 1]), 10% of them infeasible; fresh build.
* Readback always includes status, objective value and the primal vector `x` as a numpy array.
* Times: every cell is run {DEFAULT_REPEATS} times ({REPEATS['scipy']} for scipy); per LP the fastest run
  counts, and the table shows the mean of these over the LPs of the cell (robust against other load on
  the machine, see the load average above).
* scipy: `linprog(c, A_ub, b_ub, bounds, method="highs")` with default options.
* highspy and glpk use the primal simplex after an objective change and the dual simplex
  otherwise (HiGHS `simplex_strategy` 4 / 1, GLPK `meth` `GLP_PRIMAL` / `GLP_DUALP`). This was
  about 2x (GLPK) and 1.3x (HiGHS) faster for the objective pattern than dual-only in a trial run.
* highspy: one `Highs()` object with `threads=1, presolve="off", output_flag=False`; `passModel`
  (row-wise arrays) for fresh LPs; `changeColsCost`, `addRow`, `deleteRows` for warm starts;
  `getObjectiveValue()` and `getSolution().col_value` for readback.
* glpk: one `glp_prob`; `glp_simplex` with `msg_lev=GLP_MSG_OFF, presolve=GLP_OFF`;
  fresh LPs via `glp_erase_prob` + per-row `glp_set_row_bnds` + one `glp_load_matrix`;
  `glp_add_rows` + `glp_set_mat_row` / `glp_del_rows` for push/pop; numpy data written into
  preallocated swig arrays through numpy views; `x` read with `glp_get_col_prim`.
  After `GLP_EBADB` the main `glpk` column calls `glp_adv_basis(P, 0)` and retries. When the dual
  simplex ends with the inconclusive `GLP_INFEAS`, the LP is re-solved with `GLP_PRIMAL`.

## Summary

{summary_table}

Pitfalls found while writing this benchmark (highspy 1.16 / HiGHS 1.16, swiglpk 5.0.13 / GLPK 5.0):

* swiglpk `as_intArray` / `as_doubleArray` are broken in this build: they return a wrapper around
  the address of a Python object, not the filled C buffer, so GLPK receives garbage (checked
  below). Use preallocated `intArray`/`doubleArray` and write them through numpy views.
* `glp_simplex` does not repair an invalid stored basis: after `glp_del_rows` of a row that was
  non-basic (about half of all pops here) the next solve returns `GLP_EBADB` and does nothing.
  `glp_adv_basis(P, 0)` produced the all-slack basis on these LPs (same iteration counts as
  `glp_std_basis`), i.e. a cold start. Pivoting the row into the basis before deleting it keeps
  the warm start and needs no retry.
* `glp_adv_basis` prints to the terminal even with `msg_lev = GLP_MSG_OFF`; call
  `glp_term_out(GLP_OFF)` once. GLPK errors such as calling `glp_prim_rtest` on a primal
  infeasible basis abort the whole Python process (no exception).
* With the dual simplex (`GLP_DUALP`/`GLP_DUAL`) an LP without finite optimum can end with
  `glp_get_status() == GLP_INFEAS` and `glp_get_dual_stat() == GLP_NOFEAS`: "infeasible or
  unbounded". Re-solving with `GLP_PRIMAL` gives `GLP_NOFEAS` or `GLP_UNBND`. Always check
  the return code of `glp_simplex` (0 does not mean optimal) and then `glp_get_status`.
* HiGHS: set `threads=1` on the first `Highs` object of the process. In a separate trial on this
  machine the default (2 threads) took about 84 us per no-op `run()` and `threads=1` about 48 us.
  Changing `threads` after the scheduler exists makes every `run()` return
  `kError` with model status `kNotset`, so check the return value. `passModel` with an empty
  `integrality` array also returns `kError`. `getInfo()` costs several microseconds (see the overheads
  table), so read the objective with `getObjectiveValue()`. Each `run()` reads the CPU topology from `/sys` (5 `openat` per
  call, seen with strace), part of its fixed overhead of several tens of microseconds.
* highspy reported `kInfeasible` / `kUnbounded` for every such LP here (also with presolve on, in
  a trial run). Its status enum also has `kUnboundedOrInfeasible`, so the enumerator should handle
  that value too. scipy reports `res.status` 2 (infeasible) / 3 (unbounded).

## Mean microseconds per LP

{timing_table}

## Mean simplex iterations per LP

{iter_table}

## Push/pop: GLPK basis invalidation after `glp_del_rows`

Deleting a row whose auxiliary variable is non-basic (the added cut was active at the optimum)
leaves more basic variables than rows. `glp_simplex` does not repair this: it returns `GLP_EBADB`.
Compared here: rebuild with `glp_adv_basis` (main table), rebuild with `glp_std_basis`, and
`pivot`, which avoids the invalid basis: before deleting a non-basic row, one primal pivot
(`glp_eval_tab_col` + `glp_prim_rtest`) moves the row's auxiliary variable into the basis.
HiGHS's `deleteRows` keeps a usable basis without help.

{variant_table}

Events over the whole run:

{event_lines}

## Agreement

{agree}

{examples}

## How infeasible / unbounded LPs are signalled

{signal_table}

## Per-call overheads

{ov_table}

## Passing numpy arrays into swiglpk

{as_array_note}.

Fastest way found: allocate the swig arrays once and write numpy data into them through a
zero-copy numpy view of their C buffer (`int(arr.this)` is the buffer address):

```python
buf = swiglpk.doubleArray(n + 1)
view = np.ctypeslib.as_array((ctypes.c_double * (n + 1)).from_address(int(buf.this)))
view[1:k + 1] = values          # GLPK arrays are 1-based; keep `buf` alive while `view` is used
swiglpk.glp_set_mat_row(P, i, k, ind_buf, buf)
```

(`ctypes.c_int` for `intArray`.) For dense rows the index array `1..d` is constant and is filled
once. To read a solution back, `swiglpk.get_col_primals(P)` (one call, returns a list) is cheaper
than a `glp_get_col_prim` loop (see the overheads table above). The benchmark uses the loop.

{arr_table}
"""


if __name__ == "__main__":
    main()
