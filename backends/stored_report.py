"""The audit report's cell statistics and rules from a stored Parquet regions dataset, read batch by batch.

:class:`StoredCells` gives :func:`relucompile.backends.report.build_report` what it would otherwise
get by enumerating: the figures of :class:`~relucompile.backends.report.CellStats` and the rules of
the largest cells, for the same cells in the same order (the dataset is the compiled
partition).  What it holds for the whole report, per cell: the packed activation pattern
(ceil(units/8) bytes), the volume share (8 bytes) and a 16-byte digest of the rounded affine map
(distinct maps are counted by digest: two different maps would have to collide in 128 bits);
besides, the hyperplane table and one batch of cells at a time.  Samples are located by their
activation pattern; a sample within rounding of a hyperplane (where the pattern does not decide)
goes to the project's point-location tree (:mod:`relucompile.shallow.locate`), which is then
built from the patterns, interior points and radii of every cell (one more pass over the
dataset).  With 1 or 2 inputs the picture draws every cell, so :meth:`StoredCells.regions` loads
them all (:func:`~relucompile.shallow.stored.shallow_from_dataset`).

Example:
    >>> import os, tempfile
    >>> from relucompile.api.compile import compile_network, save_regions
    >>> from relucompile.examples.random_nets import random_mlp
    >>> net = random_mlp(3, [5], 1, seed=0)
    >>> folder = os.path.join(tempfile.mkdtemp(), "cells.parquet")
    >>> save_regions(compile_network(net, Domain.box([-1] * 3, [1] * 3)), folder)
    >>> stats = StoredCells(folder).cell_stats(net, samples=1000)
    >>> stats.cells, stats.share_method, round(float(stats.shares.sum()), 6)
    (24, 'sampled', 1.0)
"""
from __future__ import annotations

import hashlib
import time
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from relucompile.analysis.cells import DEFAULT_SAMPLES, denoised_map, uniform_points
from relucompile.analysis.explain import affine_text
from relucompile.backends.report import CellStats, Rule, inequality_text, PATTERN_CHUNK
from relucompile.errors import UserError
from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet
from relucompile.limits import check_time
from relucompile.numeric.tolerances import GEOMETRIC_TOL
from relucompile.regions.dataset import iter_cell_batches, read_dataset_meta, read_hyperplane_table
from relucompile.shallow.stored import dataset_domain


#: rows per batch: Arrow's decoding buffers grow with it (65,536 rows of a 4-input net: ~80 MB at
#: peak, 8,192: ~45 MB; no slower)
REPORT_BATCH_ROWS = 8192


class StoredCells:
    """A regions dataset's cells for the report (see the module docstring for what is held)."""

    def __init__(self, folder: str, batch_rows: int = REPORT_BATCH_ROWS) -> None:
        self.folder, self.batch_rows = folder, batch_rows
        self.meta = read_dataset_meta(folder)
        self.domain: Domain = dataset_domain(self.meta["domain"])
        self.d = int(self.meta["model"]["input_dim"])
        self.table = read_hyperplane_table(folder, self.d, batch_rows)
        self.bits: np.ndarray | None = None
        self.seconds = float(self.meta.get("stats", {}).get("seconds", 0.0))

    def _batches(self, columns: tuple[str, ...]):
        for batch in iter_cell_batches(self.folder, self.batch_rows, columns, meta=self.meta):
            check_time()
            yield batch

    def regions(self, net: ReluNet):
        """Every cell as a RegionSet (for 1 and 2 inputs: the picture draws each cell)."""
        from relucompile.shallow.stored import shallow_from_dataset
        return shallow_from_dataset(net, self.folder, self.batch_rows).regions

    # -- statistics ------------------------------------------------------------------------------
    def cell_stats(self, net: ReluNet, *, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> CellStats:
        """:func:`relucompile.backends.report.cell_stats` of the stored cells (inputs > 2)."""
        start = time.perf_counter()
        n, bounded, scale = 0, 0, 0.0
        facets_min, facets_max, facets_sum = None, 0, 0
        used = np.zeros(len(self.table), dtype=bool)
        bits = []
        for batch in self._batches(("pattern", "A", "c", "facets", "bounded")):
            n += len(batch)
            bounded += int(np.count_nonzero(batch.bounded))
            counts = np.diff(batch.facet_ptr)
            if counts.size:
                facets_min = int(counts.min()) if facets_min is None else min(facets_min, int(counts.min()))
                facets_max, facets_sum = max(facets_max, int(counts.max())), facets_sum + int(counts.sum())
            used[batch.facet_h] = True
            scale = max(scale, float(np.abs(batch.A).max(initial=0.0)), float(np.abs(batch.c).max(initial=0.0)))
            bits.append(batch.pattern_bits)
        self.bits = np.concatenate(bits) if bits else np.zeros((0, 0), np.uint8)
        distinct = self._distinct_maps(scale or 1.0) if n else 0
        shares, method = self._volume_shares(net, n, samples, seed)
        return CellStats(n, bounded, facets_min or 0, facets_sum / max(n, 1), facets_max, distinct,
                         int(np.count_nonzero(used)), shares, method, self.seconds, time.perf_counter() - start)

    def _distinct_maps(self, scale: float) -> int:
        """Cells' (A, c) equal up to 1e-9 of the largest coefficient, counted by 128-bit digests."""
        digests = []
        for batch in self._batches(("A", "c")):
            maps = np.concatenate([batch.A.reshape(len(batch), -1), batch.c.reshape(len(batch), -1)], axis=1)
            rows = np.ascontiguousarray(np.round(maps / (scale * GEOMETRIC_TOL)).astype(np.int64))
            digests.append(np.frombuffer(b"".join(hashlib.blake2b(row.tobytes(), digest_size=16).digest()
                                                  for row in rows), dtype=np.uint8).reshape(-1, 16))
        return len(np.unique(np.concatenate(digests), axis=0))

    def _volume_shares(self, net: ReluNet, n: int, samples: int, seed: int) -> tuple[np.ndarray | None, str]:
        """:func:`relucompile.analysis.cells.volume_shares` for inputs > 2, samples located by
        :meth:`cells_of`."""
        if not self.domain.bounded:
            return None, "unbounded"
        if n == 1 or self.domain.hull().k == 0:
            return np.ones(n) / n, "exact"
        X = uniform_points(self.domain, samples, np.random.default_rng(seed))
        cells = self.cells_of(net, X)
        counts = np.bincount(cells[cells >= 0], minlength=n)
        return counts / max(int(counts.sum()), 1), "sampled"

    def cells_of(self, net: ReluNet, X: np.ndarray) -> np.ndarray:
        """The cell of each row of X (:func:`relucompile.backends.report.cells_of`: by pattern where
        no pre-activation is within rounding of zero, else by the point-location tree; -1 outside
        the domain).  Needs :meth:`cell_stats` first (the patterns)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.full(len(X), -1, dtype=np.int64)
        n = self.bits.shape[0]
        if n:
            out = _cells_by_pattern(net, self.bits, X)
            unsure = out < 0
            if np.any(unsure):
                out[unsure] = self._locator(net).locate(X[unsure])
        out[~self.domain.contains(X, tol=GEOMETRIC_TOL * (1 + np.abs(X).max(initial=0)))] = -1
        return out

    def _locator(self, net: ReluNet):
        """The point-location tree of the stored cells, oriented towards the stored reference point."""
        from relucompile.shallow.locate import DEFAULT_ARITY, build_locator
        interior, radius = [], []
        for batch in self._batches(("interior_point", "chebyshev_radius")):
            interior.append(batch.interior)
            radius.append(batch.radius)
        units = int(sum(net.widths))
        cells = SimpleNamespace(patterns=np.unpackbits(self.bits, axis=1, count=units).astype(bool),
                                interior=np.concatenate(interior), radius=np.concatenate(radius))
        regions = SimpleNamespace(cells=_Cells(cells), domain=self.domain)
        return build_locator(net, regions, np.asarray(self.meta["reference_point"], dtype=np.float64), DEFAULT_ARITY)

    # -- rules -------------------------------------------------------------------------------------
    def rules(self, order: Sequence[int], names: Sequence[str], shares: np.ndarray | None,
              digits: int = 4) -> list[Rule]:
        """:func:`relucompile.backends.report.cell_rules` of the stored cells ``order`` (one pass,
        keeping only those cells)."""
        wanted = {int(k): i for i, k in enumerate(order)}
        found: dict[int, Rule] = {}
        table = self.table
        for batch in self._batches(("pattern", "A", "c", "facets")):
            if not len(batch):
                continue
            lo, hi = int(batch.ids[0]), int(batch.ids[-1]) + 1
            for k in [k for k in wanted if lo <= k < hi]:
                r = k - lo
                conditions = []
                a, b = int(batch.facet_ptr[r]), int(batch.facet_ptr[r + 1])
                for h, closed in zip(batch.facet_h[a:b].tolist(), batch.facet_closed[a:b].tolist()):
                    if table.is_unit[h]:
                        s = 1.0 if closed else -1.0
                        conditions.append(inequality_text(s * table.W[h], s * float(table.b[h]), names, digits))
                formulas = [affine_text(*denoised_map(row, const), names, digits)
                            for row, const in zip(batch.A[r], batch.c[r])]
                active = int(np.unpackbits(batch.pattern_bits[r], count=batch.units).sum())
                found[k] = Rule(k, None if shares is None else float(shares[k]), active, conditions, formulas)
        missing = set(wanted) - set(found)
        if missing:
            raise UserError(f"{self.folder}: no cell {min(missing)} in the dataset")
        return [found[int(k)] for k in order]


class _Cells:
    """The columns :func:`relucompile.shallow.locate.build_locator` reads, and the cell count."""

    def __init__(self, columns: SimpleNamespace) -> None:
        self.patterns, self.interior, self.radius = columns.patterns, columns.interior, columns.radius

    def __len__(self) -> int:
        return int(self.patterns.shape[0])


def _cells_by_pattern(net: ReluNet, bits: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The cell whose packed pattern is each point's, for points with every pre-activation clearly
    nonzero (:func:`relucompile.backends.report.cells_of`); -1 for the others.  The patterns are
    sorted once (no dict of bytes): a lookup is a binary search."""
    rows = np.ascontiguousarray(bits)
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel() if rows.shape[1] else None
    order = np.argsort(keys, kind="stable") if keys is not None else None
    ordered = keys[order] if keys is not None else None
    out = np.full(len(X), -1, dtype=np.int64)
    for start in range(0, len(X), PATTERN_CHUNK):
        _, pre = net.forward(X[start:start + PATTERN_CHUNK], return_preactivations=True)
        if not pre or keys is None:
            out[start:start + PATTERN_CHUNK] = 0
            continue
        Z = np.hstack(pre)
        Z_abs = np.abs(Z)
        clear = Z_abs.min(axis=1) > GEOMETRIC_TOL * (1.0 + Z_abs.max(axis=1))
        probe = np.ascontiguousarray(np.packbits(Z > 0, axis=1)).view(keys.dtype).ravel()
        at = np.minimum(np.searchsorted(ordered, probe), len(ordered) - 1)
        hit = clear & (ordered[at] == probe)
        out[start:start + PATTERN_CHUNK] = np.where(hit, order[at], -1)
    return out
