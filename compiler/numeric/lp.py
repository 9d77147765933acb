"""Small warm-started linear programs (GLPK through swiglpk), one-shot GLPK and HiGHS solves, and
sound bounds from an LP's multipliers.

This is the package's only module that imports an LP solver (swiglpk, highspy,
scipy.optimize); ``tests/test_solver_imports.py`` fails on any other importer.  Callers use the
API below (rows, active rows, row bounds, box bounds, Chebyshev centre, duals), never a
solver's internals.

Region enumeration solves many tiny LPs over one polytope that grows and shrinks like a stack
(depth-first search): :class:`LinearProgram` keeps one GLPK problem, rows are pushed and
popped, and every solve starts from the previous basis.  GLPK was chosen over HiGHS and scipy
for this pattern by ``benchmarks/lp_solvers.py`` (see benchmarks/LP_SOLVERS.md).

Rows are stored normalised to unit length, so slacks are Euclidean distances and one extra
column ``r`` (fixed at 0 except in :meth:`LinearProgram.chebyshev`) gives the Chebyshev ball.

Example:
    >>> lp = LinearProgram(2)
    >>> for a, b in ([1, 0], 1), ([-1, 0], 1), ([0, 1], 1), ([0, -1], 1):
    ...     _ = lp.add_row(np.array(a, float), b)
    >>> res = lp.minimize(np.array([1.0, 1.0]))
    >>> res.status, round(res.value, 9)
    ('optimal', -2.0)
    >>> centre, radius = lp.chebyshev()
    >>> np.round(centre, 9).tolist(), round(radius, 9)
    ([0.0, 0.0], 1.0)
"""
from __future__ import annotations

import ctypes
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import swiglpk as glp

from relucompile import limits
from relucompile.errors import SolverLimitError
from relucompile.numeric.tolerances import (BOUND_FLOOR, BOUND_ROUNDING, LP_ACTIVE, LP_FEASIBILITY,
                                            MIN_SOLVE_SECONDS)

glp.glp_term_out(glp.GLP_OFF)  # GLPK prints basis messages to stdout otherwise


@dataclass
class LPResult:
    status: str  # 'optimal', 'unbounded', 'infeasible', 'limit' (a set_limits limit ran out) or 'failed' (solve_highs)
    value: float = float("nan")
    x: np.ndarray | None = None
    duals: np.ndarray | None = None  # multipliers >= 0 of the rows A t <= b (solve_highs only)


def _int_array(values: list[int]):
    """GLPK 1-based int array (swiglpk's as_intArray returns a bad pointer in 5.0.13)."""
    arr = glp.intArray(len(values) + 1)
    for i, v in enumerate(values, start=1):
        arr[i] = v
    return arr


def _swig_view(arr, n: int, ctype) -> np.ndarray:
    """Zero-copy numpy view of a swiglpk ``intArray``/``doubleArray`` buffer (keep ``arr`` alive);
    filling it costs one numpy assignment instead of a Python loop (benchmarks/lp_solvers.py)."""
    return np.ctypeslib.as_array((ctype * n).from_address(int(arr.this)))


def _double_array(values: list[float]):
    arr = glp.doubleArray(len(values) + 1)
    for i, v in enumerate(values, start=1):
        arr[i] = v
    return arr


_STATUS = {glp.GLP_OPT: "optimal", glp.GLP_UNBND: "unbounded", glp.GLP_NOFEAS: "infeasible",
           glp.GLP_INFEAS: "infeasible"}

_LIMITS = (glp.GLP_ETMLIM, glp.GLP_EITLIM)

SLICE_SECONDS = 0.25
"""A long simplex run returns to Python this often (GLPK's ``tm_lim``) and then resumes from its
basis, so Ctrl-C, SIGTERM and the run's time budget (:mod:`relucompile.limits`) are honoured
within a quarter second even inside one LP."""

_NO_LIMIT = 2**31 - 1


def iteration_cap(rows: int, cols: int) -> int:
    """Simplex iterations an LP of this size may take unless its caller sets a limit: far above
    what a well-posed LP needs (a few times rows + cols), so only a solver that cycles on badly
    scaled numbers reaches it (then :class:`~relucompile.errors.SolverLimitError`).

    Example:
        >>> iteration_cap(5, 3)
        10800
    """
    return 10_000 + 100 * (rows + cols)


def run_simplex(lp, parm, seconds: float | None = None, iterations: int | None = None) -> int:
    """``glp_simplex(lp, parm)`` under every limit: the caller's ``seconds`` and ``iterations``
    (then GLPK's ``GLP_ETMLIM``/``GLP_EITLIM``), the run's time budget (raises
    :class:`~relucompile.errors.TimeLimitError`), run in slices of :data:`SLICE_SECONDS` so that
    signals are handled between them.  Returns GLPK's code.

    Example:
        >>> lp = glp.glp_create_prob(); _ = glp.glp_add_cols(lp, 1)
        >>> glp.glp_set_col_bnds(lp, 1, glp.GLP_DB, 0.0, 1.0); glp.glp_set_obj_coef(lp, 1, -1.0)
        >>> parm = glp.glp_smcp(); glp.glp_init_smcp(parm); parm.msg_lev = glp.GLP_MSG_OFF
        >>> run_simplex(lp, parm, seconds=1.0), glp.glp_get_obj_val(lp)
        (0, -1.0)
        >>> glp.glp_delete_prob(lp)
    """
    start = time.perf_counter()
    first_iteration = glp.glp_get_it_cnt(lp)
    parm.it_lim = _NO_LIMIT if iterations is None else max(1, int(iterations))
    while True:
        budget = limits.remaining()
        if budget <= 0:
            limits.check_time()
        own = float("inf") if seconds is None else seconds - (time.perf_counter() - start)
        if own <= 0:
            return glp.GLP_ETMLIM
        parm.tm_lim = max(1, int(1000 * min(SLICE_SECONDS, budget, own)))
        ret = glp.glp_simplex(lp, parm)
        if ret != glp.GLP_ETMLIM:
            return ret
        if iterations is not None:   # resume with the iterations left
            done = glp.glp_get_it_cnt(lp) - first_iteration
            if done >= iterations:
                return glp.GLP_EITLIM
            parm.it_lim = max(1, int(iterations - done))


class LinearProgram:
    """min c.t subject to pushed rows a.t <= b, with t free in R^k (one GLPK problem)."""

    def __init__(self, k: int, cap: float = 1.0, iteration_limit: int | None = None,
                 time_limit_ms: int | None = None) -> None:
        """``k`` free variables; ``cap`` bounds the Chebyshev radius; the limits stop a simplex that
        cycles on a degenerate LP (the solve then reports a non-optimal status)."""
        self.k = k
        self.cap = cap
        self._lp = glp.glp_create_prob()
        glp.glp_set_obj_dir(self._lp, glp.GLP_MIN)
        glp.glp_add_cols(self._lp, k + 1)
        for j in range(1, k + 1):
            glp.glp_set_col_bnds(self._lp, j, glp.GLP_FR, 0.0, 0.0)
        glp.glp_set_col_bnds(self._lp, k + 1, glp.GLP_FX, 0.0, 0.0)
        self._ind = _int_array(list(range(1, k + 2)))
        self._row = glp.doubleArray(k + 2)             # the row buffer of add_row, filled through a view
        self._row_view = _swig_view(self._row, k + 2, ctypes.c_double)
        self._row_view[k + 1] = 1.0
        self._parm = glp.glp_smcp()
        glp.glp_init_smcp(self._parm)
        self._parm.msg_lev = glp.GLP_MSG_OFF
        self._parm.meth = glp.GLP_DUALP
        self._parm.tol_bnd = LP_FEASIBILITY
        self._parm.tol_dj = LP_FEASIBILITY
        self._seconds = None if time_limit_ms is None else time_limit_ms / 1000.0
        self._iterations = iteration_limit
        self._caller_limits = iteration_limit is not None or time_limit_ms is not None
        self.rows: list[tuple[np.ndarray, float]] = []
        self._A = np.empty((16, k))                     # the rows again, stacked (see matrix())
        self._b = np.empty(16)
        self._obj = [0.0] * (k + 1)                     # the objective GLPK holds now
        self.solves = 0
        # GLPK needs at least one row; this one (0 <= 1) is never removed
        glp.glp_add_rows(self._lp, 1)
        glp.glp_set_row_bnds(self._lp, 1, glp.GLP_UP, 0.0, 1.0)

    def __del__(self) -> None:
        try:
            glp.glp_delete_prob(self._lp)
        except Exception:
            pass

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    def add_row(self, a: np.ndarray, b: float) -> int:
        """Push a.t <= b (normalised); returns its row position (0-based)."""
        norm = float(np.linalg.norm(a))
        if norm == 0.0:
            raise ValueError("zero row")
        a = np.asarray(a, dtype=np.float64) / norm
        b = float(b) / norm
        i = glp.glp_add_rows(self._lp, 1)
        self._row_view[1:self.k + 1] = a
        glp.glp_set_mat_row(self._lp, i, self.k + 1, self._ind, self._row)
        glp.glp_set_row_bnds(self._lp, i, glp.GLP_UP, 0.0, b)
        n = len(self.rows)
        if n == self._A.shape[0]:
            self._A = np.vstack([self._A, np.empty_like(self._A)])
            self._b = np.concatenate([self._b, np.empty_like(self._b)])
        self._A[n], self._b[n] = a, b
        self.rows.append((a, b))
        return n

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """The pushed rows as arrays (A, b), normalised (views: copy them to keep them).

        Example:
            >>> lp = LinearProgram(2)
            >>> _ = lp.add_row(np.array([3.0, 4.0]), 10.0)
            >>> [v.tolist() for v in lp.matrix()]
            [[[0.6, 0.8]], [2.0]]
        """
        n = len(self.rows)
        return self._A[:n], self._b[:n]

    def pop_rows(self, count: int = 1) -> None:
        """Remove the last ``count`` rows."""
        if count <= 0:
            return
        total = glp.glp_get_num_rows(self._lp)
        idx = _int_array(list(range(total - count + 1, total + 1)))
        glp.glp_del_rows(self._lp, count, idx)
        del self.rows[-count:]

    def set_rhs(self, i: int, b: float | None) -> None:
        """Change row i's right-hand side (normalised units); ``None`` frees the row."""
        if b is None:
            glp.glp_set_row_bnds(self._lp, i + 2, glp.GLP_FR, 0.0, 0.0)
        else:
            glp.glp_set_row_bnds(self._lp, i + 2, glp.GLP_UP, 0.0, float(b))

    @contextmanager
    def row_as_equality(self, i: int) -> Iterator[None]:
        """Within the block, row i (0-based) holds with equality: a.t = b.

        Example:
            >>> lp = LinearProgram(1)
            >>> _ = lp.add_row(np.array([1.0]), 2.0)
            >>> _ = lp.add_row(np.array([-1.0]), 2.0)
            >>> with lp.row_as_equality(0):
            ...     float(lp.minimize(np.array([1.0])).value)
            2.0
            >>> float(lp.minimize(np.array([1.0])).value)
            -2.0
        """
        b = self.rows[i][1]
        glp.glp_set_row_bnds(self._lp, i + 2, glp.GLP_FX, b, b)
        try:
            yield
        finally:
            glp.glp_set_row_bnds(self._lp, i + 2, glp.GLP_UP, 0.0, b)

    def active_rows(self) -> list[int]:
        """Rows at their bound in the optimal basis of the last solve (0-based, ``rows`` order).

        Example:
            >>> lp = LinearProgram(1)
            >>> _ = lp.add_row(np.array([1.0]), 2.0)
            >>> _ = lp.add_row(np.array([-1.0]), 2.0)
            >>> _ = lp.minimize(np.array([1.0]))
            >>> lp.active_rows()
            [1]
        """
        return [i for i in range(self.num_rows) if glp.glp_get_row_stat(self._lp, i + 2) == glp.GLP_NU]

    def box_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per coordinate, the least and largest value over the rows (-inf/+inf where unbounded or
        infeasible), and the optimal points found (one row each).

        Example:
            >>> lp = LinearProgram(2)
            >>> for a, b in ([1, 1], 1), ([-1, 0], 0), ([0, -1], 0):
            ...     _ = lp.add_row(np.array(a, float), b)
            >>> lo, hi, points = lp.box_bounds()
            >>> lo.tolist(), hi.tolist(), points.shape
            ([0.0, 0.0], [1.0, 1.0], (4, 2))
        """
        lo, hi, points = np.empty(self.k), np.empty(self.k), []
        for i in range(self.k):
            e = np.zeros(self.k)
            e[i] = 1.0
            low, high = self.minimize(e), self.minimize(-e)
            lo[i] = low.value if low.status == "optimal" else -np.inf
            hi[i] = -high.value if high.status == "optimal" else np.inf
            points += [r.x for r in (low, high) if r.x is not None]
        return lo, hi, np.array(points, dtype=float).reshape(len(points), self.k)

    def active_rows_highs(self, c: np.ndarray) -> tuple[str, list[int]]:
        """Status of min c.t over the rows and its active rows, solved afresh by HiGHS: the
        fallback when GLPK gives up or its basis is not exactly optimal.  A row is active when its
        multiplier is positive or its slack is zero (both up to :data:`LP_ACTIVE`).

        Example:
            >>> lp = LinearProgram(1)
            >>> _ = lp.add_row(np.array([1.0]), 2.0)
            >>> _ = lp.add_row(np.array([-1.0]), 2.0)
            >>> lp.active_rows_highs(np.array([1.0]))
            ('optimal', [1])
        """
        A, b = self.matrix()
        res = solve_highs(c, A, b)
        if res.status != "optimal":
            return res.status, []
        slack = b - A @ res.x
        return "optimal", [i for i in range(len(b)) if res.duals[i] > LP_ACTIVE or abs(slack[i]) <= LP_ACTIVE]
    def set_limits(self, seconds: float | None = None, iterations: int | None = None) -> None:
        """Stop every later solve after ``seconds`` (GLPK's ``tm_lim``) or ``iterations`` simplex
        iterations; such a solve reports status ``'limit'`` (no claim). ``None`` lifts a limit.

        Example:
            >>> lp = LinearProgram(1)
            >>> _ = lp.add_row(np.array([1.0]), 1.0)
            >>> lp.set_limits(seconds=10.0, iterations=1000)
            >>> lp.minimize(np.array([-1.0])).status
            'optimal'
        """
        self._seconds = seconds
        self._iterations = iterations
        self._caller_limits = seconds is not None or iterations is not None

    def _simplex(self) -> int:
        """One simplex run under the limits (:func:`run_simplex`): the caller's, else the
        :func:`iteration_cap` of this LP's size."""
        iterations = self._iterations if self._caller_limits else iteration_cap(self.num_rows + 1, self.k + 1)
        return run_simplex(self._lp, self._parm, self._seconds, iterations)

    def _solve(self) -> int:
        """Solve, recovering from numerical trouble; returns GLPK's code.  Without caller limits,
        a solver that cycles past :func:`iteration_cap` raises :class:`SolverLimitError` (its
        answer would be no answer, and taking it for one would give wrong cells)."""
        self.solves += 1
        ret = self._simplex()
        if ret == glp.GLP_EITLIM and not self._caller_limits:
            ret = glp.GLP_EFAIL   # one more try: the standard basis and the primal simplex (below)
        elif ret in _LIMITS:
            return ret
        if ret in (glp.GLP_EBADB, glp.GLP_ESING, glp.GLP_ECOND):
            glp.glp_adv_basis(self._lp, 0)
            ret = self._simplex()
        if ret != 0:  # numerical trouble: restart from the standard basis with primal simplex
            glp.glp_std_basis(self._lp)
            self._parm.meth = glp.GLP_PRIMAL
            ret = self._simplex()
            self._parm.meth = glp.GLP_DUALP
            if ret in _LIMITS:
                return self._limit_reached(ret)
        if glp.glp_get_status(self._lp) not in (glp.GLP_OPT, glp.GLP_UNBND):
            # the dual simplex reports a primal-unbounded LP as "no feasible solution" when it
            # starts from a basis that is not dual feasible: settle the status with the primal
            self._parm.meth = glp.GLP_PRIMAL
            ret = self._simplex()
            self._parm.meth = glp.GLP_DUALP
            if ret in _LIMITS:
                return self._limit_reached(ret)
        return ret

    def _limit_reached(self, ret: int) -> int:
        """A caller's limit: its code; the default iteration cap: :class:`SolverLimitError`."""
        if self._caller_limits:
            return ret
        raise SolverLimitError(f"a linear program ({self.num_rows} rows, {self.k} variables) did not finish in "
                               f"{iteration_cap(self.num_rows + 1, self.k + 1):,} simplex iterations: GLPK cycles "
                               "on this model's numbers (weights or biases of very different magnitudes?)")

    def _set_objective(self, c: np.ndarray, r_cost: float) -> None:
        new = np.asarray(c, dtype=np.float64).tolist()
        new.append(float(r_cost))
        old = self._obj
        for j, v in enumerate(new):  # only the coefficients that change (one swig call each)
            if v != old[j]:
                glp.glp_set_obj_coef(self._lp, j + 1, v)
        self._obj = new

    def _x(self) -> np.ndarray:
        return np.array([glp.glp_get_col_prim(self._lp, j) for j in range(1, self.k + 1)])

    def minimize(self, c: np.ndarray) -> LPResult:
        """min c.t over the current rows."""
        self._set_objective(c, 0.0)
        if self._solve() in _LIMITS:
            return LPResult("limit")
        status = _STATUS.get(glp.glp_get_status(self._lp), "infeasible")
        if status != "optimal":
            return LPResult(status)
        return LPResult(status, glp.glp_get_obj_val(self._lp), self._x())

    def chebyshev(self) -> tuple[np.ndarray | None, float]:
        """Centre and radius (capped at ``cap``) of the largest ball inside the rows; radius -1
        if the rows are infeasible."""
        glp.glp_set_col_bnds(self._lp, self.k + 1, glp.GLP_DB, 0.0, self.cap)
        self._set_objective(np.zeros(self.k), -1.0)
        self._solve()
        status = glp.glp_get_status(self._lp)
        result = (self._x(), glp.glp_get_col_prim(self._lp, self.k + 1)) if status == glp.GLP_OPT else (None, -1.0)
        glp.glp_set_col_bnds(self._lp, self.k + 1, glp.GLP_FX, 0.0, 0.0)
        return result


def solve_highs(c: np.ndarray, A: np.ndarray, b: np.ndarray,
                bounds: list[tuple[float | None, float | None]] | None = None) -> LPResult:
    """min c.t subject to A t <= b (variables free unless ``bounds`` gives (lower, upper) pairs,
    None for no bound), one-shot through HiGHS (scipy); ``duals`` are the rows' multipliers >= 0.

    Example:
        >>> res = solve_highs(np.array([1.0]), np.array([[1.0], [-1.0]]), np.array([2.0, 2.0]))
        >>> res.status, float(res.value), res.duals.tolist()
        ('optimal', -2.0, [0.0, 1.0])
    """
    from scipy.optimize import linprog
    k = len(c)
    res = linprog(c, A_ub=A.reshape(len(b), k), b_ub=b, bounds=bounds or [(None, None)] * k, method="highs")
    status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(res.status, "failed")
    if status != "optimal":
        return LPResult(status)
    return LPResult(status, float(res.fun), np.asarray(res.x), -np.asarray(res.ineqlin.marginals))


def chebyshev_center(G: np.ndarray, g: np.ndarray, cap: float = 1e6) -> tuple[np.ndarray, float]:
    """Chebyshev centre and radius of {t : G t <= g} (one-shot helper)."""
    lp = LinearProgram(G.shape[1], cap=cap)
    for row, rhs in zip(G, g):
        if np.any(row):
            lp.add_row(row, rhs)
        elif rhs < 0:
            return np.zeros(G.shape[1]), -1.0
    centre, radius = lp.chebyshev()
    return (centre if centre is not None else np.zeros(G.shape[1])), radius


@dataclass
class BoundedLPResult:
    """Result of :func:`solve_bounded_lp`: status as in :class:`LPResult`; ``x`` the primal point;
    ``multipliers`` (>= 0, one per row) of the rows ``A x <= b`` at the optimum."""

    status: str
    value: float = float("nan")
    x: np.ndarray | None = None
    multipliers: np.ndarray | None = None


def solve_bounded_lp(cost: np.ndarray, A: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     time_limit: float | None = None, iteration_limit: int | None = None,
                     solver: str = "glpk") -> BoundedLPResult:
    """``min cost . x  s.t.  A x <= b,  lower <= x <= upper`` (one-shot; bounds may be +-inf).

    Column bounds stay bounds (not rows), so a problem over a 784-dimensional box with a few rows
    stays small.  ``time_limit`` (seconds) / ``iteration_limit`` make the solver stop with status
    ``'limit'``.  The multipliers let a caller recompute a bound valid whatever the solver's
    tolerances (:func:`weak_duality_bound`).  ``solver``: 'glpk', or 'highs' for dense LPs with
    more rows (a reused HiGHS instance without presolve, a third of ``linprog``'s overhead on
    small LPs; ``iteration_limit`` does not apply).

    Example:
        >>> for solver in ("glpk", "highs"):
        ...     res = solve_bounded_lp(np.array([1.0, 1.0]), np.array([[-1.0, -1.0]]), np.array([-1.0]),
        ...                            np.zeros(2), np.array([5.0, 5.0]), solver=solver)
        ...     print(res.status, round(res.value, 9), np.round(res.multipliers, 9).tolist())
        optimal 1.0 [1.0]
        optimal 1.0 [1.0]
    """
    if solver == "highs":
        return _solve_bounded_highs(cost, A, b, lower, upper, time_limit)
    if solver != "glpk":
        raise ValueError(f"unknown solver {solver!r}: use 'glpk' or 'highs'")
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    nr, nc = A.shape
    lp = glp.glp_create_prob()
    try:
        glp.glp_set_obj_dir(lp, glp.GLP_MIN)
        glp.glp_add_cols(lp, nc)
        for j in range(nc):
            lo, hi = float(lower[j]), float(upper[j])
            kind = (glp.GLP_FR if lo == -np.inf and hi == np.inf else glp.GLP_LO if hi == np.inf
                    else glp.GLP_UP if lo == -np.inf else glp.GLP_FX if lo == hi else glp.GLP_DB)
            glp.glp_set_col_bnds(lp, j + 1, kind, lo if np.isfinite(lo) else 0.0, hi if np.isfinite(hi) else 0.0)
            glp.glp_set_obj_coef(lp, j + 1, float(cost[j]))
        if nr:
            glp.glp_add_rows(lp, nr)
            for i in range(nr):
                glp.glp_set_row_bnds(lp, i + 1, glp.GLP_UP, 0.0, float(b[i]))
            rows_i, cols_j = np.nonzero(A)
            nnz = rows_i.size
            ia, ja, ar = glp.intArray(nnz + 1), glp.intArray(nnz + 1), glp.doubleArray(nnz + 1)
            _swig_view(ia, nnz + 1, ctypes.c_int)[1:] = rows_i + 1
            _swig_view(ja, nnz + 1, ctypes.c_int)[1:] = cols_j + 1
            _swig_view(ar, nnz + 1, ctypes.c_double)[1:] = A[rows_i, cols_j]
            glp.glp_load_matrix(lp, nnz, ia, ja, ar)
        parm = glp.glp_smcp()
        glp.glp_init_smcp(parm)
        parm.msg_lev = glp.GLP_MSG_OFF
        parm.presolve = glp.GLP_OFF
        ret = run_simplex(lp, parm, time_limit, iteration_limit)
        if ret in _LIMITS:
            return BoundedLPResult("limit")
        if ret != 0:
            glp.glp_std_basis(lp)
            ret = run_simplex(lp, parm, time_limit, iteration_limit)
            if ret in _LIMITS:
                return BoundedLPResult("limit")
        status = _STATUS.get(glp.glp_get_status(lp), "infeasible") if ret == 0 else "error"
        if status != "optimal":
            return BoundedLPResult(status)
        x = np.array([glp.glp_get_col_prim(lp, j + 1) for j in range(nc)])
        multipliers = np.array([max(0.0, -glp.glp_get_row_dual(lp, i + 1)) for i in range(nr)])
        return BoundedLPResult(status, glp.glp_get_obj_val(lp), x, multipliers)
    finally:
        glp.glp_delete_prob(lp)


_HIGHS: list = []          # the one reused HiGHS instance of _solve_bounded_highs


def _solve_bounded_highs(cost: np.ndarray, A: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                         time_limit: float | None) -> BoundedLPResult:
    """:func:`solve_bounded_lp` by highspy (dense rows, no presolve), or by ``linprog`` when highspy
    is not installed; any status but optimal is reported as 'failed' (or 'limit')."""
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    nr, nv = A.shape
    try:
        import highspy
    except ImportError:
        from scipy.optimize import linprog
        res = linprog(cost, A_ub=A, b_ub=b, method="highs",
                      bounds=[(None if lo == -np.inf else lo, None if hi == np.inf else hi)
                              for lo, hi in zip(lower, upper)])
        if res.status != 0:
            return BoundedLPResult("limit" if res.status == 1 else "failed")
        return BoundedLPResult("optimal", float(res.fun), np.asarray(res.x),
                               np.maximum(-np.asarray(res.ineqlin.marginals), 0.0))
    if not _HIGHS:
        h = _quiet_highs(highspy)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")
        _HIGHS.append(h)
    h = _HIGHS[0]
    h.setOptionValue("time_limit", float("inf") if time_limit is None else max(float(time_limit), MIN_SOLVE_SECONDS))
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = nv, nr
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.where(np.isneginf(lower), -inf, lower).astype(np.float64)
    lp.col_upper_ = np.where(np.isposinf(upper), inf, upper).astype(np.float64)
    lp.row_lower_ = np.full(nr, -inf)
    lp.row_upper_ = np.asarray(b, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.arange(0, nr * nv + 1, nv, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(nv, dtype=np.int32), nr)
    lp.a_matrix_.value_ = A.ravel()
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        return BoundedLPResult("limit" if status == highspy.HighsModelStatus.kTimeLimit else "failed")
    solution = h.getSolution()
    x = np.array(solution.col_value)
    return BoundedLPResult("optimal", float(np.asarray(cost, dtype=np.float64) @ x), x,
                           np.maximum(-np.array(solution.row_dual), 0.0))


def _quiet_highs(highspy):
    """A Highs object without the banner its constructor prints to file descriptor 1."""
    import os
    import sys
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def weak_duality_bound(A: np.ndarray, b: np.ndarray, multipliers: np.ndarray, objective_rows: int,
                       lower: np.ndarray, upper: np.ndarray, relative_margin: float = BOUND_ROUNDING,
                       absolute_margin: float = BOUND_FLOOR) -> float:
    """A lower bound of ``min t  s.t.  A (x, t) <= b,  lower <= x <= upper`` from *any* multipliers
    (weak duality), so a solver's tolerances never make it unsound.

    ``t`` is the last column of ``A``, and the last ``objective_rows`` rows are the ones carrying
    ``-t`` (``r_i(x) <= t``); their multipliers are scaled to sum to 1, negative ones count as 0.
    The bound ``-mu . b + min over the box of (A^T mu) . x`` is lowered by ``relative_margin`` times
    the magnitude of its terms plus ``absolute_margin``; ``-inf`` when the objective rows get no
    weight.

    Example:
        >>> A = np.array([[1.0, -1.0], [-1.0, -1.0]])        # t >= x and t >= -x, x in [-1, 2]
        >>> b = np.zeros(2)
        >>> res = solve_bounded_lp(np.array([0.0, 1.0]), A, b, np.array([-1.0, -np.inf]), np.array([2.0, np.inf]))
        >>> bound = weak_duality_bound(A, b, res.multipliers, 2, np.array([-1.0]), np.array([2.0]))
        >>> -1e-9 < bound <= 0.0                              # min |x| = 0
        True
    """
    mu = np.maximum(np.asarray(multipliers, np.float64), 0.0)
    total = float(np.sum(mu[-objective_rows:]))
    if not total > 0:
        return -np.inf
    mu = mu / total
    g = A[:, :-1].T @ mu
    value = -float(mu @ b) + float(np.sum(np.minimum(g * lower, g * upper)))
    scale = float(np.abs(mu) @ np.abs(b)) + float(np.sum(np.maximum(np.abs(g * lower), np.abs(g * upper))))
    return value - relative_margin * scale - absolute_margin
