"""Certified exactness: prove, in exact rational arithmetic, that a regions set is the deep net.

:func:`certify_document` takes the deep network and a regions document (the JSON of
``backends/regions_json.py``, or the same dict in memory) and checks, with exact rationals
(docs/certify.md gives the argument):

0. **input**: model hash and layer widths match, patterns are distinct, the reference point p is
   in the relative interior of the domain.
1. **cell is real**: the stored interior point strictly satisfies every unit's inequality
   ``s_k z_k^a(x) > 0`` recomputed exactly from the pattern (units whose pre-activation is
   constant zero on the domain are vacuous) and every domain inequality; and the stored facets
   imply every other unit's inequality on the cell (an exact box around the cell from LP duals
   checked as Farkas certificates, interval bounds, and a Farkas certificate per unit where the
   box is not enough), so the stored cell *is* the activation region P_a.
2. **affine map**: each stored entry of A, c is the float64 nearest to the exact effective
   map, or (plain compiler output) within the a-priori float-folding bound; the largest difference is reported.
3. **completeness**: every stored facet has a rational point in its relative interior (all
   other inequalities strict, except units vanishing on the whole facet hyperplane); across it,
   the deep net's exact pattern (lexicographic in x + eps n) is a stored cell, or the facet lies
   on the domain boundary.
4. **tie-break**: h(p) != 0 exactly for every facet hyperplane, and each facet's closed/strict
   flag matches the side of p; stored hyperplanes are the nearest floats of the exact ones.

Float arithmetic only proposes candidates (LP optima, interior points) or decides signs whose
magnitude exceeds a rigorous float error bound; every other decision is exact.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.api.compile import compile_network
    >>> from relucompile.ir.domain import Domain
    >>> shallow = compile_network(random_mlp(2, [4, 4], 1, seed=1), Domain.box([-1, -1], [1, 1]))
    >>> cert = certify_shallow(shallow)
    >>> cert.ok, cert.cells == shallow.num_cells
    (True, True)
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from relucompile.backends.regions_json import regions_document
from relucompile.certify.exact import ExactHull, ExactMaps, FoldingBounds
from relucompile.certify.sources import DocumentSource, regions_source
from relucompile.errors import RelucompileError, UserError, read_json_file
from relucompile.frontends.load import load_network
from relucompile.ir.domain import Domain
from relucompile.numeric.lp import LinearProgram
from relucompile.ir.network import ReluNet
from relucompile.numeric.rational import HAVE_FLINT, Q, floats, nearest_float, qmat
from relucompile.numeric.tolerances import GEOMETRIC_TOL, ROUNDING_NOISE, TINY, UNIT_ROUNDOFF, VANISHING_ROW

CHECKS = {0: "input", 1: "cell is real", 2: "affine map", 3: "completeness", 4: "tie-break", 5: "ONNX file"}
_U = UNIT_ROUNDOFF
_SAFETY = 4.0            # factor on the a-priori float error bounds


class CertificationFailed(RelucompileError):
    """The first failing check: ``cell`` (None for global checks), ``check`` number, message."""

    def __init__(self, cell: int | None, check: int, message: str) -> None:
        self.cell, self.check, self.message = cell, check, message
        where = f"cell {cell}: " if cell is not None else ""
        super().__init__(f"{where}check {check} ({CHECKS[check]}): {message}")


@dataclass
class Certificate:
    """Outcome and figures of a certification run (``failure`` is None when it succeeded)."""

    ok: bool = False
    cells: int = 0
    facets: int = 0                  # stored facets, all checked
    unit_facets: int = 0             # checked with their own relative-interior point
    shared_facets: int = 0           # point checked from the neighbour's side (same point)
    domain_facets: int = 0
    hyperplanes: int = 0
    implied_units: int = 0           # (cell, unit) inequalities proven implied by the facets
    farkas_certificates: int = 0     # exact LP dual certificates used for that
    max_map_error: float = 0.0       # max |stored - exact| over all A, c entries
    maps: str = "nearest"            # stored floats are the nearest to the exact values, or "folded":
                                     # within the a-priori bound of float64 folding
    max_bound_ratio: float = 0.0     # folded: max |stored - exact| / bound (<= 1)
    max_hyperplane_error: float = 0.0
    seconds: float = 0.0
    model_sha256: str = ""
    regions_sha256: str = ""
    arithmetic: str = "python-flint" if HAVE_FLINT else "fractions"
    failure: str | None = None

    def summary(self) -> str:
        """One line: the certificate or the first failure."""
        if not self.ok:
            return f"certification FAILED: {self.failure}"
        return (f"certified: {self.cells:,} cells, {self.facets:,} facets checked ({self.unit_facets:,} unit "
                f"facets with their own point, {self.shared_facets:,} shared, {self.domain_facets:,} on the "
                f"domain boundary), {self.hyperplanes:,} hyperplanes, {self.implied_units:,} implied unit "
                f"inequalities ({self.farkas_certificates:,} Farkas certificates); stored maps "
                + ("are the nearest floats of the exact ones" if self.maps == "nearest" else
                   f"within {self.max_bound_ratio:.2g} of the float-folding bound")
                + f" (max |stored - exact| = {self.max_map_error:.3g}); "
                f"{self.seconds:.2f} s")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def metadata(self) -> dict[str, str]:
        """ONNX ``metadata_props`` entries."""
        return {"certificate": json.dumps(self.to_json(), sort_keys=True)}


def regions_sha256(doc: dict) -> str:
    """sha256 of a regions document's canonical JSON, without its ``certificate`` entry.

    >>> regions_sha256({"a": 1, "certificate": {}}) == regions_sha256({"a": 1})
    True
    """
    body = {k: v for k, v in doc.items() if k != "certificate"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def domain_from_json(spec: dict) -> Domain:
    """The Domain of a regions document's ``domain`` entry.

    >>> domain_from_json({"kind": "box", "lower": [0, 0], "upper": [1, 1]}).describe()
    'box [0, 1]^2'
    """
    kind = spec.get("kind")
    if kind == "box":
        return Domain.box(spec["lower"], spec["upper"])
    if kind == "polytope":
        return Domain.polytope(spec["G"], spec["g"])
    return Domain.reals(int(spec["d"]))


# -- exact helpers ----------------------------------------------------------------------------
def _dot(row: list, point: list) -> Any:
    """Exact value of the homogeneous row (a_1..a_k, a_0) at the point."""
    v = row[-1]
    for a, x in zip(row, point):
        v += a * x
    return v


def _proportional(r: list, f: list) -> bool:
    """Exactly r = lambda f for some lambda (homogeneous rows)."""
    piv = next((i for i, v in enumerate(f) if v != 0), None)
    if piv is None:
        return all(v == 0 for v in r)
    return all(r[i] * f[piv] == r[piv] * f[i] for i in range(len(f)))


def _float_values(Zf: np.ndarray, Ef: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (n, k+1) with entrywise error bounds Ef, at points (P, k): float values and a
    rigorous bound on their error (the rows' own error, the rounding of the points to float and
    of the dot products)."""
    k = Zf.shape[1] - 1
    vals = Zf[:, :k] @ pts.T + Zf[:, k:]
    absp = np.abs(pts.T)
    scale = np.abs(Zf[:, :k]) @ absp + np.abs(Zf[:, k:])
    row_err = Ef[:, :k] @ absp + Ef[:, k:]
    return vals, _SAFETY * ((k + 4) * _U * scale + row_err) + TINY


def _new_lp(k: int) -> LinearProgram:
    """A GLPK problem with iteration and time limits: a degenerate LP that makes the simplex
    cycle falls back to HiGHS instead of running for ever."""
    return LinearProgram(k, cap=1.0, iteration_limit=2000, time_limit_ms=2000)


def _multipliers(rows: list, active: list[int], c: list):
    """Exact lambda >= 0 with sum lambda_i a_i = -c over the active rows, or None."""
    k = len(c)
    if not active:
        return [] if all(v == 0 for v in c) else None
    M = qmat(k, len(active), [rows[i][0][r] for r in range(k) for i in active])
    rhs = qmat(k, 1, [-v for v in c])
    lam = None
    if len(active) == k:
        try:
            lam = M.solve(rhs).entries()
        except (ZeroDivisionError, ValueError):
            lam = None
    if lam is None:
        aug = qmat(k, len(active) + 1, [v for r in range(k) for v in
                                         ([M[r, j] for j in range(len(active))] + [rhs[r, 0]])])
        red, rank = aug.rref()
        lam = [Q(0)] * len(active)
        for r in range(rank):
            piv = next(j for j in range(len(active) + 1) if red[r, j] != 0)
            if piv == len(active):
                return None
            lam[piv] = red[r, len(active)]
        if any(sum((M[r, j] * lam[j] for j in range(len(active))), Q(0)) != rhs[r, 0] for r in range(k)):
            return None
    return None if any(v < 0 for v in lam) else lam


def _farkas_lower_bound(lp: LinearProgram, rows: list, c: list, c_float: np.ndarray):
    """An exact lower bound of c.t over {a.t <= q}, from the LP's optimal basis: solve
    sum lambda_i a_i = -c exactly on the active rows; with lambda >= 0, c.t >= -sum lambda_i q_i.
    Returns (status, bound) with status 'ok', 'unbounded', 'infeasible' or 'failed'."""
    res = lp.minimize(c_float)
    lam, active = None, []
    if res.status == "optimal":
        active = lp.active_rows()
        lam = _multipliers(rows, active, c)
    elif res.status == "unbounded":
        return "unbounded", None
    if lam is None:  # GLPK gave up, or its basis is not exactly optimal: ask HiGHS
        status, active = lp.active_rows_highs(c_float)
        if status != "optimal":
            return status, None
        if len(active) > lp.k:  # degenerate vertex: try the rows of largest multiplier first
            lam = None
        lam = _multipliers(rows, active, c)
        if lam is None:
            return "failed", None
    return "ok", -sum((lv * rows[i][1] for lv, i in zip(lam, active)), Q(0))


class _RowsInT:
    """Exact unit rows in the hull's coordinates t (``rows[j]``) and in x (``rows.x[j]``)."""

    def __init__(self, x_rows, hull: ExactHull) -> None:
        self.x, self.hull = x_rows, hull
        self._cache: dict[int, list] = {}

    def __getitem__(self, j: int) -> list:
        row = self._cache.get(j)
        if row is None:
            row = self._cache[j] = self.hull.row_to_t(self.x[int(j)])
        return row


# -- the certifier ------------------------------------------------------------------------------
class _PatternIndex:
    """Cell index of a pattern among all cells' packed patterns (hashes sorted; no dict of bytes)."""

    def __init__(self, bits: np.ndarray) -> None:
        self.bits = np.ascontiguousarray(bits, dtype=np.uint8)
        weights = np.random.default_rng(12345).integers(1, 2**63, size=self.bits.shape[1], dtype=np.uint64) | np.uint64(1)
        self.keys = self._hash(self.bits, weights)
        self.weights = weights
        self.order = np.argsort(self.keys, kind="stable")
        self.sorted = self.keys[self.order]

    @staticmethod
    def _hash(bits: np.ndarray, weights: np.ndarray) -> np.ndarray:
        out = np.zeros(bits.shape[0], dtype=np.uint64)
        for j in range(bits.shape[1]):
            out = (out ^ (bits[:, j].astype(np.uint64) * weights[j])) * np.uint64(0x9E3779B97F4A7C15)
        return out

    def first_repeat(self) -> tuple[int, int] | None:
        """(later cell, earliest cell) of the repeated pattern whose later cell comes first, or None."""
        same = np.nonzero(self.sorted[1:] == self.sorted[:-1])[0]
        run_starts = same[np.concatenate([[True], np.diff(same) > 1])] if same.size else same
        best = None
        for lo in run_starts.tolist():
            hi = lo + 1
            while hi < self.sorted.size and self.sorted[hi] == self.sorted[lo]:
                hi += 1
            seen: dict[bytes, int] = {}
            for a in sorted(self.order[lo:hi].tolist()):
                key = self.bits[a].tobytes()
                if key in seen:
                    if best is None or a < best[0]:
                        best = (a, seen[key])
                    break
                seen[key] = a
        return best

    def get(self, packed: np.ndarray) -> int | None:
        """The cell with these packed bits, or None."""
        key = self._hash(packed.reshape(1, -1), self.weights)[0]
        lo, hi = np.searchsorted(self.sorted, key), np.searchsorted(self.sorted, key, side="right")
        for i in range(lo, hi):
            a = int(self.order[i])
            if np.array_equal(self.bits[a], packed):
                return a
        return None


class _Certifier:
    def __init__(self, net: ReluNet, source, maps: str, round_stored: bool,
                 progress: Callable[[int, dict], None] | None) -> None:
        self.net, self.source, self.round_stored, self.progress = net, source, round_stored, progress
        self.doc = source.meta
        doc = self.doc
        if maps == "auto":
            maps = doc["certificate"].get("maps", "nearest") if isinstance(doc.get("certificate"), dict) else "folded"
        if maps not in ("nearest", "folded"):
            raise ValueError(f"maps must be 'auto', 'nearest' or 'folded', not {maps!r}")
        self.maps_mode = "nearest" if round_stored else maps
        self.cert = Certificate(maps=self.maps_mode)
        self.maps = ExactMaps(net)
        self.folding = FoldingBounds(net, self.maps)
        self.N = int(self.maps.offsets[-1])
        self.layer_of = np.repeat(np.arange(len(net.widths)), net.widths)
        self.deferred: CertificationFailed | None = None

    def fail(self, cell: int | None, check: int, message: str) -> None:
        raise CertificationFailed(cell, check, message)

    def unit_name(self, j: int) -> str:
        l = int(self.layer_of[j])
        return f"layer {l} unit {j - int(self.maps.offsets[l])}"

    # -- global checks ------------------------------------------------------------------------
    def check_input(self, model_sha256: str) -> None:
        doc, net = self.doc, self.net
        model = doc.get("model", {})
        if doc.get("schema") != "relucompile.regions":
            self.fail(None, 0, "not a relucompile regions document (schema)")
        if model_sha256 and model.get("sha256") and model["sha256"] != model_sha256:
            self.fail(None, 0, f"the regions were compiled from another model (sha256 {model['sha256'][:12]}... "
                               f"in the regions file, {model_sha256[:12]}... for the model given)")
        if list(model.get("layer_widths", [])) != list(net.widths) or model.get("input_dim") != net.d \
                or model.get("output_dim") != net.m:
            self.fail(None, 0, f"layer widths / input / output sizes differ from the model's ({net.widths}, "
                               f"{net.d} inputs, {net.m} outputs)")
        self.domain = domain_from_json(doc["domain"])
        self.hull = ExactHull(self.domain)
        self.k = self.hull.k
        self.dom_rows = [list(a) + [-q] for a, q in self.hull.rows]   # homogeneous: a.t - q <= 0
        p_t = self.hull.to_t(doc["reference_point"])
        if p_t is None:
            self.fail(None, 4, "the reference point p is not on the domain's affine hull")
        for r, row in enumerate(self.dom_rows):
            if not _dot(row, p_t) < 0:
                self.fail(None, 4, f"the reference point p is not in the relative interior of the domain "
                                   f"(domain row {r})")
        self.p_t = p_t
        self.hyperplanes = self.source.hyperplanes
        H = len(self.hyperplanes)
        self.hyperplane_checked = np.zeros(H, dtype=bool)
        self.hyperplane_used = np.zeros(H, dtype=bool)
        self.hyperplane_user = np.full(H, -1, dtype=np.int64)   # first cell naming each unit hyperplane
        bits = self.source.pattern_bits(self.N, lambda a, message: self.fail(a, 0, message))
        self.num_cells = bits.shape[0]
        self.index = _PatternIndex(bits)
        repeat = self.index.first_repeat()
        if repeat is not None:
            self.fail(repeat[0], 0, f"pattern repeats cell {repeat[1]}'s")
        if not self.num_cells:
            self.fail(None, 3, "no cells: the domain is not covered")
        self.marks: dict[int, dict[int, int]] = {}

    # -- per cell -------------------------------------------------------------------------------
    def run(self, model_sha256: str) -> Certificate:
        start = time.perf_counter()
        self.check_input(model_sha256)
        for a, cell in enumerate(self.source.cell_entries()):
            self.check_cell(a, cell)
            if self.progress is not None:
                self.progress(a + 1, {"total": self.num_cells})
        if self.deferred is not None:
            raise self.deferred
        self.cert.hyperplanes = int(self.hyperplane_used.sum())
        self.cert.cells = self.num_cells
        self.cert.seconds = time.perf_counter() - start
        return self.cert

    def pattern(self, a: int) -> np.ndarray:
        """Cell a's pattern as bools."""
        return np.unpackbits(self.index.bits[a], count=self.N).astype(bool)

    def check_cell(self, a: int, cell: dict) -> None:
        bits = self.pattern(a)
        self.bits = bits
        units_x, out = self.maps.cell(bits)
        rows = _RowsInT(units_x, self.hull)
        Zx, Ex, _, out_bound = self.folding.cell(bits)
        Zf, Ef = self.folding.to_t(Zx, Ex, self.hull)
        self.Ef = Ef
        unit_bound = Ex
        sign = np.where(bits, 1, -1)       # numpy, for float work; int(sign[j]) for exact work
        vacuous = np.all(np.abs(Zf) <= _SAFETY * Ef, axis=1)
        for j in np.nonzero(vacuous)[0]:
            if any(v != 0 for v in rows[j]):
                vacuous[j] = False
        self.check_interior(a, cell, rows, Zf, sign, vacuous)
        self.check_map(a, cell, out, out_bound)
        facet_units = self.check_facet_flags(a, cell, rows, units_x, sign, unit_bound)
        lp, lp_rows = self.cell_lp(a, cell, rows, Zf, sign, facet_units)
        self.lp = lp
        self.check_containment(a, lp, lp_rows, rows, Zf, sign, vacuous, facet_units)
        try:
            self.check_facets(a, cell, lp_rows, rows, Zf, sign, vacuous, facet_units)
        except CertificationFailed as exc:
            if self.deferred is None:  # report cell-local failures (checks 0-2, 4) first
                self.deferred = exc

    def check_interior(self, a, cell, rows, Zf, sign, vacuous) -> None:
        t = self.hull.to_t(cell["interior_point"])
        if t is None:
            self.fail(a, 1, "the interior point is not on the domain's affine hull")
        on_but_vacuous = np.nonzero(vacuous & (sign > 0))[0]
        if on_but_vacuous.size:
            j = int(on_but_vacuous[0])
            self.fail(a, 1, f"{self.unit_name(j)} is identically zero on the domain under this pattern, so its "
                            "bit must be 0 (else two patterns could name one region)")
        vals, err = _float_values(Zf, self.Ef, floats(t).reshape(1, -1))
        unsure = np.nonzero(~vacuous & ~(sign * vals[:, 0] > err[:, 0]))[0]
        for j in unsure:
            v = _dot(rows[j], t)
            if not int(sign[j]) * v > 0:
                self.fail(a, 1, f"the interior point does not satisfy {self.unit_name(j)} strictly "
                                f"(pattern bit {int(sign[j] > 0)}, exact pre-activation {float(v):.6g})")
        for r, row in enumerate(self.dom_rows):
            if not _dot(row, t) < 0:
                self.fail(a, 1, f"the interior point is not strictly inside domain row {r}")
        self.t_interior = t

    def _stored_ok(self, stored: float, exact, bound: float) -> tuple[bool, str]:
        """Compare one stored float with its exact value: in 'nearest' mode it must be the
        nearest float64; in 'folded' mode within the float-folding bound."""
        diff = abs(float(Q(stored) - exact))
        nearest = nearest_float(exact)
        if self.maps_mode == "nearest":
            if stored == nearest:
                return True, ""
            ulps = abs(stored - nearest) / float(np.spacing(abs(nearest)))
            return False, (f"= {stored!r} but the exact value rounds to {nearest!r} ({ulps:g} ulp apart; "
                           "the stored value must be the nearest float64)")
        self.cert.max_bound_ratio = max(self.cert.max_bound_ratio, diff / bound if bound > 0 else
                                        (0.0 if diff == 0 else np.inf))
        if diff <= bound:
            return True, ""
        return False, (f"= {stored!r} but the exact value is {nearest!r}: |difference| {diff:.3g} exceeds the "
                       f"float-folding bound {bound:.3g}")

    def check_map(self, a, cell, out, out_bound) -> None:
        d = self.net.d
        stored_A, stored_c = cell["A"], cell["c"]
        ent = out.entries()
        for o in range(self.net.m):
            for i in range(d + 1):
                exact = ent[o * (d + 1) + i]
                stored = float(stored_A[o][i]) if i < d else float(stored_c[o])
                self.cert.max_map_error = max(self.cert.max_map_error, abs(float(Q(stored) - exact)))
                if self.round_stored:
                    if i < d:
                        stored_A[o][i] = nearest_float(exact)
                    else:
                        stored_c[o] = nearest_float(exact)
                    continue
                ok, why = self._stored_ok(stored, exact, float(out_bound[o, i]) if out_bound is not None else 0.0)
                if not ok:
                    what = f"A[{o}][{i}]" if i < d else f"c[{o}]"
                    self.fail(a, 2, f"{what} {why}")

    def check_facet_flags(self, a, cell, rows, units_x, sign, unit_bound) -> dict[int, int]:
        """Check 4 per facet: h(p) != 0, flag closed iff the cell is on p's side, stored
        hyperplane = its exact value (nearest float or within the folding bound).  Returns
        {facet position: unit}."""
        facet_units: dict[int, int] = {}
        ux = units_x
        d = self.net.d
        for f, (h, closed) in enumerate(cell["facets"]):
            if not 0 <= h < len(self.hyperplanes):
                self.fail(a, 0, f"facet {f} names hyperplane {h}, which does not exist")
            hyp = self.hyperplanes[h]
            self.hyperplane_used[h] = True
            if hyp["kind"] == "unit":
                l, u = int(hyp["layer"]), int(hyp["unit"])
                if not (0 <= l < len(self.net.widths) and 0 <= u < self.net.widths[l]):
                    self.fail(a, 0, f"hyperplane {h} names layer {l} unit {u}, which does not exist")
                j = int(self.maps.offsets[l]) + u
                width = int(self.maps.offsets[l])
                if self.hyperplane_user[h] < 0:
                    self.hyperplane_user[h] = a
                if not np.array_equal(self.pattern(int(self.hyperplane_user[h]))[:width], self.bits[:width]):
                    self.fail(a, 4, f"hyperplane {h} ({self.unit_name(j)}) is used by cells whose earlier "
                                    "layers differ: it names two different hyperplanes")
                vp = _dot(rows[j], self.p_t)
                if vp == 0:
                    self.fail(a, 4, f"the reference point p lies on the hyperplane of {self.unit_name(j)} "
                                    f"(hyperplane {h}): p is not generic")
                sigma = 1 if vp > 0 else -1
                if bool(closed) != (int(sign[j]) * sigma > 0):
                    self.fail(a, 4, f"facet {f} ({self.unit_name(j)}) is marked {'closed' if closed else 'strict'} "
                                    "but the cell lies on the other side of p")
                facet_units[f] = j
                if self.hyperplane_checked[h]:
                    continue
                exact = [sigma * v for v in ux[j]]
                bound = unit_bound[j]
            else:
                r = int(hyp["row"])
                if not 0 <= r < len(self.dom_rows):
                    self.fail(a, 0, f"hyperplane {h} names domain row {r}, which does not exist")
                if not closed:
                    self.fail(a, 4, f"facet {f} (domain row {r}) must be closed")
                if self.hyperplane_checked[h]:
                    continue
                G, g = self.domain.hull().Gx[r], self.domain.hull().gx[r]
                exact = [Q(-float(v)) for v in G] + [Q(float(g))]
                bound = np.zeros(d + 1)
            self.hyperplane_checked[h] = True
            for i, ex in enumerate(exact):
                stored = float(hyp["w"][i]) if i < d else float(hyp["b"])
                self.cert.max_hyperplane_error = max(self.cert.max_hyperplane_error, abs(float(Q(stored) - ex)))
                if self.round_stored:
                    if i < d:
                        hyp["w"][i] = nearest_float(ex)
                    else:
                        hyp["b"] = nearest_float(ex)
                    continue
                ok, why = self._stored_ok(stored, ex, float(bound[i]))
                if not ok:
                    self.fail(a, 4, f"hyperplane {h} entry {i} {why}")
        return facet_units

    def cell_lp(self, a, cell, rows, Zf, sign, facet_units):
        """The stored cell S_a (stored unit facets and all domain rows) as an LP in t, with the
        exact rows: list of (a, q, label) with a.t <= q."""
        k = self.k
        lp = _new_lp(k)
        lp_rows = []
        for f, j in facet_units.items():
            ex = [-int(sign[j]) * v for v in rows[j]]          # -s z_j <= 0  ->  a = -s w, q = s w0
            fl = -sign[j] * Zf[j]
            if not np.any(fl[:k]):
                self.fail(a, 3, f"facet {f} ({self.unit_name(j)}) is constant on the domain")
            lp.add_row(fl[:k], -fl[k])
            lp_rows.append((ex[:k], -ex[k], ("unit", j, f), fl[:k], -fl[k]))
        for r, (ar, q) in enumerate(self.hull.rows):
            fl = floats(ar)
            if np.any(fl):
                lp.add_row(fl, float(q))
                lp_rows.append((ar, q, ("domain", r, None), fl, float(q)))
        self.row_A = np.array([r[3] for r in lp_rows]).reshape(len(lp_rows), k)
        self.row_q = np.array([r[4] for r in lp_rows])
        return lp, lp_rows

    def check_containment(self, a, lp, lp_rows, rows, Zf, sign, vacuous, facet_units) -> None:
        """Every non-facet unit's inequality holds on the stored cell (so S_a = P_a)."""
        k = self.k
        lo, hi = np.full(k, -np.inf), np.full(k, np.inf)
        for i in range(k):
            for s in (1, -1):
                c = [Q(s) if j == i else Q(0) for j in range(k)]
                status, bound = _farkas_lower_bound(lp, lp_rows, c, np.array([float(v) for v in c]))
                if status == "infeasible":
                    self.fail(a, 1, "the stored facets describe an empty set")
                if status == "ok":
                    self.cert.farkas_certificates += 1
                    b = nearest_float(bound) * s
                    if s > 0:
                        lo[i] = np.nextafter(b, -np.inf)
                    else:
                        hi[i] = np.nextafter(b, np.inf)
        self.box = (lo, hi)
        RA, Rq = self.row_A, self.row_q
        with np.errstate(invalid="ignore"):
            top = np.where(RA == 0, 0.0, np.where(RA > 0, RA * hi, RA * lo)).sum(axis=1) - Rq
        self.near_rows = ~(top < -GEOMETRIC_TOL * (np.abs(RA).sum(axis=1) + np.abs(Rq)))
        todo = np.nonzero(~vacuous)[0]
        facet_set = set(facet_units.values())
        todo = np.array([j for j in todo if j not in facet_set], dtype=int)
        if todo.size == 0:
            return
        W = sign[todo, None] * Zf[todo]
        lo_t = np.where(W[:, :k] > 0, lo, hi)              # minimising corner of the box
        with np.errstate(invalid="ignore"):
            terms = np.where(W[:, :k] == 0, 0.0, W[:, :k] * lo_t)
        low = terms.sum(axis=1) + W[:, k]
        bound_abs = np.maximum(np.abs(lo), np.abs(hi))
        with np.errstate(invalid="ignore"):
            scale = np.where(W[:, :k] == 0, 0.0, np.abs(W[:, :k]) * bound_abs).sum(axis=1) + np.abs(W[:, k])
        Ef = self.Ef[todo]
        with np.errstate(invalid="ignore"):
            row_err = np.where(Ef[:, :k] == 0, 0.0, Ef[:, :k] * bound_abs).sum(axis=1) + Ef[:, k]
        err = _SAFETY * ((k + 4) * _U * scale + row_err) + TINY
        proven = np.isfinite(low) & np.isfinite(err) & (low > err)
        self.cert.implied_units += int(proven.sum())
        for j in todo[~proven]:
            s = int(sign[j])
            c = [s * v for v in rows[j][:k]]               # minimise s w.t over the stored cell
            status, bound = _farkas_lower_bound(lp, lp_rows, c, sign[j] * Zf[j, :k])
            if status == "unbounded":
                self.fail(a, 1, f"{self.unit_name(j)} changes sign on the stored cell (unbounded): a facet "
                                "is missing")
            if status != "ok":
                self.fail(a, 1, f"could not prove that the stored facets imply {self.unit_name(j)}'s "
                                "inequality (LP dual certificate failed)")
            value = bound + s * rows[j][k]
            if value < 0:
                self.fail(a, 1, f"the stored facets do not imply {self.unit_name(j)}'s inequality: it reaches "
                                f"{float(value):.3g} on the stored cell, so a facet is missing or a sliver "
                                "region was dropped")
            self.cert.farkas_certificates += 1
            self.cert.implied_units += 1

    def check_facets(self, a, cell, lp_rows, rows, Zf, sign, vacuous, facet_units) -> None:
        marks = self.marks.pop(a, {})
        listed = {int(h) for h, _ in cell["facets"]}
        for h, other in marks.items():
            if h not in listed:
                self.fail(a, 3, f"cell {other} shares a facet on hyperplane {h} with this cell, but this "
                                "cell does not list it")
        for f, (h, closed) in enumerate(cell["facets"]):
            self.cert.facets += 1
            if h in marks:
                self.cert.shared_facets += 1
                continue
            pos = next(i for i, r in enumerate(lp_rows) if (r[2][0] == "unit" and r[2][2] == f)
                       or (r[2][0] == "domain" and self.hyperplanes[h]["kind"] == "domain"
                           and r[2][1] == int(self.hyperplanes[h]["row"])))
            self.check_one_facet(a, f, h, pos, lp_rows, rows, Zf, sign, vacuous, facet_units)

    def facet_point(self, pos, lp_rows) -> list | None:
        """A rational point on facet row ``pos`` (float Chebyshev centre within the facet,
        projected exactly onto its hyperplane)."""
        k = self.k
        a_ex, q_ex, _, a_f, q_f = lp_rows[pos]
        if k == 1:
            return [q_ex / a_ex[0]]
        # rows slack on the whole bounding box cannot bind on the facet: leave them out
        near = [int(i) for i in np.nonzero(self.near_rows)[0] if i != pos]
        # first candidate: the interior point projected onto the facet's hyperplane
        c = floats(self.t_interior)
        tc = c - (a_f @ c - q_f) / float(a_f @ a_f) * a_f
        RA, Rq = self.row_A[near], self.row_q[near]
        if np.all(RA @ tc - Rq < -GEOMETRIC_TOL * (np.abs(RA) @ np.abs(tc) + np.abs(Rq))):
            return self._project([Q(float(v)) for v in tc], a_ex, q_ex)
        # second: the largest ball in the cell tangent to the facet touches it in its relative
        # interior (the cell LP with the facet row made an equality)
        lp = self.lp
        a_n = lp.rows[pos][0]
        with lp.row_as_equality(pos):
            centre, radius = lp.chebyshev()
        if centre is not None and radius > 0:
            tc = centre + radius * a_n
            if np.all(RA @ tc - Rq < -ROUNDING_NOISE * (np.abs(RA) @ np.abs(tc) + np.abs(Rq))):
                return self._project([Q(float(v)) for v in tc], a_ex, q_ex)
        _, _, vt = np.linalg.svd(a_f.reshape(1, k))
        N = vt[1:].T
        t0 = a_f * q_f / float(a_f @ a_f)
        sub = _new_lp(k - 1)
        for i in near:
            fl, qr = lp_rows[i][3], lp_rows[i][4]
            row = fl @ N
            rhs = qr - float(fl @ t0)
            if np.linalg.norm(row) <= VANISHING_ROW * max(np.linalg.norm(fl), TINY):
                if rhs < 0:
                    return None
                continue
            sub.add_row(row, rhs)
        centre, radius = sub.chebyshev()
        if centre is None:
            return None
        return self._project([Q(float(v)) for v in t0 + N @ centre], a_ex, q_ex)

    @staticmethod
    def _project(tc: list, a_ex: list, q_ex) -> list:
        """The exact orthogonal projection of the rational point tc onto {a.t = q}."""
        off = sum((ai * ti for ai, ti in zip(a_ex, tc)), Q(0)) - q_ex
        norm2 = sum((ai * ai for ai in a_ex), Q(0))
        return [ti - off * ai / norm2 for ti, ai in zip(tc, a_ex)]

    def check_one_facet(self, a, f, h, pos, lp_rows, rows, Zf, sign, vacuous, facet_units) -> None:
        a_ex, q_ex, label = lp_rows[pos][:3]
        facet_row = list(a_ex) + [-q_ex]                   # homogeneous, <= 0 on the cell
        name = self.unit_name(label[1]) if label[0] == "unit" else f"domain row {label[1]}"
        y = self.facet_point(pos, lp_rows)
        if y is None:
            self.fail(a, 3, f"facet {f} ({name}): no point in its relative interior found (a redundant "
                            "or sliver facet)")
        vals, err = _float_values(Zf, self.Ef, floats(y).reshape(1, -1))
        unsure = np.nonzero(~vacuous & ~(sign * vals[:, 0] > err[:, 0]))[0]
        tight = []
        for j in unsure:
            v = _dot(rows[j], y)
            if v == 0 and _proportional(list(rows[j]), facet_row):
                tight.append(int(j))
            elif not int(sign[j]) * v > 0:
                self.fail(a, 3, f"facet {f} ({name}): the point found on it violates {self.unit_name(j)} "
                                "(not a relative-interior point: redundant or sliver facet)")
        leaves_domain = label[0] == "domain"
        for r, row in enumerate(self.dom_rows):
            v = _dot(row, y)
            if v == 0 and _proportional(row, facet_row):
                leaves_domain = True
            elif not v < 0:
                self.fail(a, 3, f"facet {f} ({name}): the point found on it is not strictly inside domain row {r}")
        if leaves_domain:
            self.cert.domain_facets += 1
            return
        self.cert.unit_facets += 1
        j = label[1]
        # a = neighbour with bit j flipped, unless other units vanish on the facet hyperplane:
        # tight ones, or vacuous units of later layers (they may come alive across)
        later_vacuous = bool(np.any(vacuous[int(self.maps.offsets[int(self.layer_of[j]) + 1]):]))
        simple = tight == [j] and not later_vacuous
        if simple:
            neighbour = self.bits.copy()
            neighbour[j] = ~neighbour[j]
            candidates = [neighbour]
        else:
            x = self.hull.to_x(y)
            v = self.hull.direction_to_x(list(a_ex))    # outward: a.v > 0
            neighbour, ties = self.maps.forward_lexicographic(x, v)
            candidates = []
            for mask in range(1 << min(len(ties), 8)):
                cand = neighbour.copy()
                for bit, unit in enumerate(ties[:8]):
                    if mask >> bit & 1:
                        cand[unit] = True
                candidates.append(cand)
        for cand in candidates:
            b = self.index.get(np.packbits(cand))
            if b is not None:
                if simple and b > a:
                    self.marks.setdefault(b, {})[int(h)] = a
                return
        pattern = "".join("1" if v else "0" for v in candidates[0])
        self.fail(a, 3, f"across facet {f} ({name}) the deep net's pattern {_short(pattern)} is not a cell "
                        "of the set: a region is missing")


def _short(pattern: str) -> str:
    return pattern if len(pattern) <= 64 else pattern[:30] + "..." + pattern[-30:]


def certify_document(net: ReluNet, doc: dict, *, maps: str = "auto", round_stored: bool = False,
                     model_sha256: str = "", progress: Callable[[int, dict], None] | None = None) -> Certificate:
    """Certify a regions document against ``net`` (see module docstring); never raises on a
    failed check: the returned certificate has ``ok=False`` and ``failure`` naming the first
    failing cell and check.  ``maps``: 'nearest' (stored A, c and hyperplanes must be the
    float64 nearest to the exact values: what ``--certify`` writes), 'folded' (within the
    a-priori float-folding bound: plain compiler output) or 'auto' (the mode of the certificate
    the document carries, else folded).  ``round_stored``: replace the stored A, c and hyperplanes
    by the nearest floats of their exact values (in ``doc``) instead of checking them.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.api.compile import compile_network
        >>> from relucompile.backends.regions_json import regions_document
        >>> net = random_mlp(2, [3, 3], 1, seed=4)
        >>> doc = regions_document(compile_network(net, Domain.box([-1, -1], [1, 1])))
        >>> certify_document(net, doc).ok
        True
        >>> del doc["cells"][0]
        >>> certify_document(net, doc).failure.split(":")[1]
        ' check 3 (completeness)'
    """
    return certify_source(net, DocumentSource(doc), maps=maps, round_stored=round_stored,
                          model_sha256=model_sha256, progress=progress)


def certify_source(net: ReluNet, source, *, maps: str = "auto", round_stored: bool = False,
                   model_sha256: str = "", progress: Callable[[int, dict], None] | None = None) -> Certificate:
    """:func:`certify_document` on a :mod:`relucompile.certify.sources` source: a document in
    memory, or a Parquet dataset read batch by batch (one batch of cells held at a time, plus
    every cell's packed pattern bits).  The certificate is the same for the same regions in
    either format (``regions_sha256`` included).

    Example:
        >>> import os, tempfile
        >>> from relucompile.examples.random_nets import random_mlp
        >>> from relucompile.api.compile import compile_network
        >>> from relucompile.backends.regions_parquet import write_regions_dataset
        >>> from relucompile.certify.sources import DatasetSource
        >>> net = random_mlp(2, [3, 3], 1, seed=4)
        >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
        >>> write_regions_dataset(compile_network(net, Domain.box([-1, -1], [1, 1])), folder)
        >>> cert = certify_source(net, DatasetSource(folder))
        >>> cert.ok, cert.cells
        (True, 15)
    """
    certifier = _Certifier(net, source, maps, round_stored, progress)
    start = time.perf_counter()
    try:
        cert = certifier.run(model_sha256)
        cert.ok = True
    except CertificationFailed as exc:
        cert = certifier.cert
        cert.ok, cert.failure = False, str(exc)
        cert.seconds = time.perf_counter() - start
    cert.model_sha256 = model_sha256 or source.meta.get("model", {}).get("sha256", "")
    cert.regions_sha256 = source.regions_sha256()
    return cert


def certify_shallow(shallow, progress: Callable[[int, dict], None] | None = None) -> Certificate:
    """Certify a freshly compiled ShallowNet; on success its A, c and hyperplanes are replaced by
    the nearest floats of their exact values (what ``--certify`` writes).

    Example: see the module docstring."""
    net = shallow.net
    doc = regions_document(shallow, net.source_name, net.source_sha256)
    cert = certify_document(net, doc, round_stored=True, model_sha256=net.source_sha256,
                            progress=progress)
    if cert.ok:
        for a, cell in enumerate(doc["cells"]):
            shallow.A[a] = np.array(cell["A"], dtype=np.float64).reshape(shallow.m, shallow.d)
            shallow.c[a] = np.array(cell["c"], dtype=np.float64)
            shallow.regions.cells.A[a] = shallow.A[a]     # (the same memory when build_shallow made them)
            shallow.regions.cells.c[a] = shallow.c[a]
        for h, hyp in enumerate(doc["hyperplanes"]):
            shallow.W[h] = np.array(hyp["w"], dtype=np.float64)
            shallow.b[h] = float(hyp["b"])
        cert.regions_sha256 = regions_sha256(regions_document(shallow, net.source_name, net.source_sha256))
    return cert


def certify_files(model_path: str, regions_path: str, *, maps: str = "auto",
                  progress: Callable[[int, dict], None] | None = None) -> tuple[Certificate, Any]:
    """Certify a regions JSON file, or a Parquet regions dataset (a folder, read batch by
    batch), against an ONNX model; returns (certificate, document or dataset source).

    Example:
        >>> import os, tempfile
        >>> from relucompile.api.compile import compile_model, save_regions
        >>> from relucompile.examples import tiny_mlp_path
        >>> regions = os.path.join(tempfile.mkdtemp(), "regions.json")
        >>> save_regions(compile_model(tiny_mlp_path(), Domain.box([0, 0], [0.25, 0.25])), regions)
        >>> cert, doc = certify_files(tiny_mlp_path(), regions)
        >>> cert.ok, cert.cells, len(doc["cells"])
        (True, 4, 4)
    """
    source = regions_source(regions_path)
    if source is None:
        doc = read_json_file(regions_path, UserError, "not a valid regions JSON file")
        if not isinstance(doc, dict) or doc.get("schema") != "relucompile.regions":
            raise UserError(f"{regions_path}: not a relucompile regions file (schema 'relucompile.regions')")
        source = DocumentSource(doc)
    meta = source.meta
    embedding = meta.get("input_embedding")   # a large model compiled over its domain's free coordinates
    try:
        source_domain = domain_from_json(embedding["domain"]) if isinstance(embedding, dict) else None
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{regions_path}: malformed input_embedding ({type(exc).__name__}: {exc})") from None
    net = load_network(model_path, domain=source_domain)
    try:
        cert = certify_source(net, source, maps=maps, model_sha256=net.source_sha256, progress=progress)
    except (KeyError, TypeError, IndexError) as exc:
        raise UserError(f"{regions_path}: malformed regions file ({type(exc).__name__}: {exc})") from None
    return cert, (source.doc if isinstance(source, DocumentSource) else source)
