"""Compact cell and hyperplane stores (issue 5, scale): exact round trips, the engine's cells
unchanged, jobs=2 identical, and the streamed regions file equal to the old in-memory document."""
from __future__ import annotations

import io
import json
import pickle
from array import array

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucompile.backends.regions_json import regions_document, write_regions
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.regions.store import Cell, CellStore, Hyperplane, HyperplaneStore, RegionSet, compact_key, expand_key
from relucompile.shallow.net import build_shallow
from relucompile.examples.random_nets import random_mlp


def random_cells(rng: np.random.Generator, n: int, units: int, m: int, d: int, n_h: int) -> list[Cell]:
    cells = []
    for _ in range(n):
        k = int(rng.integers(0, 6))
        cells.append(Cell(rng.random(units) < 0.5, rng.normal(size=(m, d)), rng.normal(size=m),
                          [(int(h), int(s)) for h, s in zip(rng.integers(0, n_h, k), rng.choice([-1, 1], k))],
                          rng.normal(size=d), float(rng.random()), bool(rng.random() < 0.5)))
    return cells


def same_cell(a: Cell, b: Cell) -> bool:
    return (a.pattern.dtype == b.pattern.dtype == bool and np.array_equal(a.pattern, b.pattern)
            and np.array_equal(a.A, b.A) and np.array_equal(a.c, b.c) and a.facets == b.facets
            and np.array_equal(a.interior, b.interior) and a.radius == b.radius and a.bounded == b.bounded
            and type(a.radius) is float and type(a.bounded) is bool)


@pytest.mark.parametrize("units", [0, 5, 8, 13])
def test_cell_store_round_trips_cells_exactly(units):
    rng = np.random.default_rng(units)
    cells = random_cells(rng, 40, units, 2, 3, 9)       # 40 > 16: the arrays grow twice
    store = CellStore(units, 2, 3)
    for cell in cells:
        store.append(cell)
    assert len(store) == 40 and all(same_cell(a, b) for a, b in zip(cells, store))
    assert same_cell(store[-1], cells[-1]) and len(store[3:7]) == 4
    with pytest.raises(IndexError):
        store[40]
    again = pickle.loads(pickle.dumps(store))           # what a pool worker sends back
    assert all(same_cell(a, b) for a, b in zip(cells, again))
    assert again._A.shape[0] == 40                       # trimmed to its cells
    assert store.facet_ptr[-1] == store.facet_h.size == sum(len(c.facets) for c in cells)


def test_append_many_and_extend_from_match_one_at_a_time():
    rng = np.random.default_rng(1)
    cells = random_cells(rng, 30, 11, 1, 2, 7)
    one = CellStore(11, 1, 2, cells)
    bulk = CellStore(11, 1, 2, cells[:3])
    rest = cells[3:]
    bulk.append_many(patterns=np.array([c.pattern for c in rest]), A=np.array([c.A for c in rest]),
                     c=np.array([c.c for c in rest]), interior=np.array([c.interior for c in rest]),
                     radius=np.array([c.radius for c in rest]), bounded=np.array([c.bounded for c in rest]),
                     facet_ptr=np.cumsum([0] + [len(c.facets) for c in rest]),
                     facet_h=np.array([h for c in rest for h, _ in c.facets], dtype=np.int64),
                     facet_side=np.array([s for c in rest for _, s in c.facets], dtype=np.int8))
    assert all(same_cell(a, b) for a, b in zip(one, bulk)) and len(bulk) == 30
    renumber = np.arange(7)[::-1] + 100
    copy = CellStore(11, 1, 2, cells[:2])
    copy.extend_from(one, 5, 12, renumber)
    assert len(copy) == 9
    for a, b in zip(copy[2:], cells[5:12]):
        assert a.facets == [(int(renumber[h]), s) for h, s in b.facets]
        assert np.array_equal(a.pattern, b.pattern) and np.array_equal(a.A, b.A)
    with pytest.raises(ValueError):
        bulk.append_many(patterns=np.zeros((1, 11), bool), A=np.zeros((1, 1, 2)), c=np.zeros((1, 1)),
                         interior=np.zeros((1, 2)), radius=np.ones(1), bounded=np.ones(1, bool),
                         facet_ptr=np.array([1, 2]), facet_h=np.zeros(2), facet_side=np.ones(2))


@settings(max_examples=60, deadline=None)
@given(layer=st.integers(0, 50), unit=st.integers(0, 2**20), bits=st.lists(st.booleans(), max_size=70),
       row=st.integers(0, 10**6))
def test_compact_keys_round_trip(layer, unit, bits, row):
    key = ("unit", layer, unit, np.array(bits, dtype=bool).tobytes())
    assert expand_key(compact_key(key)) == key
    assert len(compact_key(key)) == 13 + (len(bits) + 7) // 8
    assert expand_key(compact_key(("domain", row))) == ("domain", row)
    assert expand_key(compact_key(("other", "x", 1))) == ("other", "x", 1)


def test_hyperplane_store_registers_once_and_builds_hyperplanes():
    store = HyperplaneStore(2)
    key = ("unit", 1, 3, np.array([True, False, True]).tobytes())
    assert store.index(key, np.array([1.0, 2.0]), 3.0) == 0
    assert store.index(("domain", 0), np.array([0.0, 1.0]), -1.0) == 1
    assert store.index(key, np.array([9.0, 9.0]), 9.0) == 0      # known key: first registration kept
    assert len(store) == 2 and store.find(key) == 0 and store.find(("domain", 5)) is None
    h = store[0]
    assert h.key == key and h.w.tolist() == [1.0, 2.0] and h.b == 3.0 and h.kind == "unit"
    assert [x.key for x in store] == [key, ("domain", 0)]
    assert store.W.tolist() == [[1.0, 2.0], [0.0, 1.0]] and store.b.tolist() == [3.0, -1.0]
    back = pickle.loads(pickle.dumps(store))
    assert back.find(key) == 0 and back[1].key == ("domain", 0) and len(back) == 2


def test_region_set_accepts_lists():
    rng = np.random.default_rng(2)
    cells = random_cells(rng, 5, 4, 1, 2, 2)
    hyps = [Hyperplane(("domain", 0), np.array([1.0, 0.0]), 1.0), Hyperplane(("domain", 1), np.array([0.0, 1.0]), 2.0)]
    regions = RegionSet(Domain.reals(2), 2, 1, [4], cells, hyps)
    assert isinstance(regions.cells, CellStore) and len(regions) == 5
    assert regions.hyperplane_index(("domain", 1), np.zeros(2), 0.0) == 1
    first_use: dict[int, None] = {}
    for cell in cells:
        for h, _ in cell.facets:
            first_use.setdefault(h, None)
    assert regions.used_hyperplanes().tolist() == list(first_use)


NETS = [(2, [6, 5], "box"), (3, [5, 4, 3], "box"), (2, [6, 4], "reals"), (3, [4, 4], "reals")]


def domain_for(d: int, kind: str) -> Domain:
    return Domain.box(-np.ones(d), np.ones(d)) if kind == "box" else Domain.reals(d)


@pytest.mark.parametrize("d,widths,kind", NETS)
def test_engine_stores_exactly_the_cells_it_finishes(d, widths, kind, monkeypatch):
    """Every cell as the engine handed it over (the old per-cell objects), keyed by pattern,
    equals the store's cell: pattern, A, c, facets (as hyperplane keys, w, b), interior, radius."""
    net = random_mlp(d, widths, 2, seed=d + len(widths))
    finished = []
    real_add = CellStore.add

    def spy(store, pattern, A, c, facet_h, facet_side, interior, radius, bounded):
        finished.append((store, np.array(pattern), A.copy(), c.copy(), list(facet_h), list(facet_side),
                         interior.copy(), radius, bounded))
        return real_add(store, pattern, A, c, facet_h, facet_side, interior, radius, bounded)

    tables = {}  # each run's own hyperplane table, by its cell store (the sets are kept alive here)
    real_init = RegionSet.__post_init__

    def remember(regions):
        real_init(regions)
        tables[id(regions.cells)] = (regions.hyperplanes, regions)

    monkeypatch.setattr(CellStore, "add", spy)
    monkeypatch.setattr(RegionSet, "__post_init__", remember)
    regions = enumerate_regions(net, domain_for(d, kind), "split")
    monkeypatch.undo()
    by_pattern = {}
    for store, pattern, A, c, fh, fs, interior, radius, bounded in finished:
        by_pattern[pattern.tobytes()] = (store, A, c, fh, fs, interior, radius, bounded)
    assert len(by_pattern) == len(regions) == len(finished) > 10
    for cell in regions.cells:
        store, A, c, fh, fs, interior, radius, bounded = by_pattern[cell.pattern.tobytes()]
        assert np.array_equal(cell.A, A) and np.array_equal(cell.c, c) and np.array_equal(cell.interior, interior)
        assert cell.radius == radius and cell.bounded == bounded
        local = tables[id(store)][0]
        mine = [(regions.hyperplanes[h].key, regions.hyperplanes[h].w.tolist(), regions.hyperplanes[h].b, s)
                for h, s in cell.facets]
        theirs = [(local[h].key, local[h].w.tolist(), local[h].b, s) for h, s in zip(fh, fs)]
        assert mine == theirs


def assert_same_regions(a: RegionSet, b: RegionSet) -> None:
    for name in ("pattern_bits", "A", "c", "interior", "radius", "bounded", "facet_ptr", "facet_h", "facet_side"):
        assert np.array_equal(getattr(a.cells, name), getattr(b.cells, name)), name
    assert [h.key for h in a.hyperplanes] == [h.key for h in b.hyperplanes]
    assert np.array_equal(a.hyperplanes.W, b.hyperplanes.W) and np.array_equal(a.hyperplanes.b, b.hyperplanes.b)


@pytest.mark.parametrize("d,widths,kind", NETS[1:3])
def test_jobs_2_gives_identical_stores(d, widths, kind):
    net = random_mlp(d, widths, 1, seed=7)
    one = enumerate_regions(net, domain_for(d, kind), engine="split", jobs=1)
    two = enumerate_regions(net, domain_for(d, kind), engine="split", jobs=2)
    assert len(one) > 20
    assert_same_regions(one, two)
    assert one.stats["tasks"] > 1


def test_event_log_is_compact():
    from relucompile.regions.split import EVENT_C, EVENT_H, Limits, _SplitRun
    net = random_mlp(2, [5, 4], 1, seed=1)
    run = _SplitRun(net, domain_for(2, "box"), Limits(), None, 1e-8)
    regions = run.execute()
    assert isinstance(run.events, array) and run.events.typecode == "q"
    kinds = [e & 3 for e in run.events]
    assert kinds.count(EVENT_C) == len(regions) and kinds.count(EVENT_H) == len(regions.hyperplanes)
    assert [e >> 2 for e in run.events if e & 3 == EVENT_C] == list(range(len(regions)))


def old_regions_document(shallow, source: str = "", sha256: str = "", certificate=None) -> dict:
    """The regions document exactly as backends/regions_json.py built it before the compact
    stores (list of Cell objects, whole document in memory)."""
    regions = shallow.regions
    hull = shallow.domain.hull()
    hyperplanes = []
    for key, w, b in zip(list(shallow.keys), shallow.W, shallow.b):
        entry = {"kind": key[0]}
        if key[0] == "unit":
            entry.update(layer=int(key[1]), unit=int(key[2]))
        else:
            entry.update(row=int(key[1]))
        entry.update(w=w.tolist(), b=float(b))
        hyperplanes.append(entry)
    cells = []
    for a, cell in enumerate(list(regions.cells)):
        lo, hi = shallow.cell_ptr[a], shallow.cell_ptr[a + 1]
        cells.append({
            "id": a,
            "pattern": "".join("1" if v else "0" for v in cell.pattern),
            "A": cell.A.tolist(),
            "c": cell.c.tolist(),
            "facets": [[int(h), bool(cl)] for h, cl in zip(shallow.facet_h[lo:hi], shallow.facet_closed[lo:hi])],
            "interior_point": cell.interior.tolist(),
            "chebyshev_radius": cell.radius,
            "bounded": bool(cell.bounded),
        })
    doc = {"schema": "relucompile.regions", "version": 1,
           "model": {"source": source, "sha256": sha256, "input_dim": shallow.d, "output_dim": shallow.m,
                     "layer_widths": list(regions.widths)},
           "domain": shallow.domain.to_json(),
           "domain_equalities": [[a.tolist(), b] for a, b in hull.equalities],
           "reference_point": shallow.p.tolist(), "hyperplanes": hyperplanes, "cells": cells,
           "stats": {k: v for k, v in regions.stats.items() if isinstance(v, (int, float, str))}}
    if certificate is not None:
        doc["certificate"] = certificate
    return doc


def old_build_shallow_arrays(regions: RegionSet):
    """build_shallow's CSR arrays as the per-cell loop over Cell objects computed them."""
    used = []
    for cell in regions.cells:
        for h, _ in cell.facets:
            if h not in used:
                used.append(h)
    return used


@pytest.mark.parametrize("d,widths,kind", [(2, [6, 5], "box"), (3, [4, 4], "reals"), (2, [4, 3], "plane")])
def test_streamed_regions_file_equals_the_old_document(d, widths, kind):
    net = random_mlp(d, widths, 2, seed=11)
    domain = (Domain.polytope(np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]),
                              np.array([0.5, -0.5, 1.0, 1.0])) if kind == "plane" else domain_for(d, kind))
    regions = enumerate_regions(net, domain)
    shallow = build_shallow(net, regions)
    assert shallow.regions.used_hyperplanes().tolist() == old_build_shallow_arrays(regions)
    certificate = {"ok": True, "cells": len(regions)}
    stream = io.StringIO()
    write_regions(shallow, stream, "m.onnx", "ab12", certificate)
    old = json.dumps(old_regions_document(shallow, "m.onnx", "ab12", certificate))
    assert stream.getvalue() == old
    assert json.dumps(regions_document(shallow, "m.onnx", "ab12", certificate)) == old
    doc = json.loads(old)
    assert len(doc["cells"]) == len(regions) > 3 and doc["cells"][-1]["id"] == len(regions) - 1


def test_write_regions_streams_in_pieces():
    net = random_mlp(2, [8, 8], 1, seed=3)
    shallow = build_shallow(net, enumerate_regions(net, domain_for(2, "box")))
    writes = []

    class Recorder(io.StringIO):
        def write(self, text):
            writes.append(len(text))
            return super().write(text)

    import relucompile.backends.regions_json as rj
    chunks = list(rj.cell_entry_chunks(shallow, chunk=7))
    assert [len(c) for c in chunks[:-1]] == [7] * (len(chunks) - 1) and sum(map(len, chunks)) == len(shallow.regions)
    whole = io.StringIO()
    write_regions(shallow, whole)
    recorder = Recorder()
    write_regions(shallow, recorder, chunk=7)
    assert recorder.getvalue() == whole.getvalue()
    assert len(writes) > 10 and max(writes) < sum(writes) / 2      # never the whole document at once


def test_build_shallow_uses_the_store_arrays():
    net = random_mlp(2, [6, 6], 1, seed=5)
    regions = enumerate_regions(net, domain_for(2, "box"))
    shallow = build_shallow(net, regions)
    assert np.shares_memory(shallow.A, regions.cells._A)       # no copy of the maps
    for a, cell in enumerate(regions.cells):
        lo, hi = shallow.cell_ptr[a], shallow.cell_ptr[a + 1]
        for (h, s), j, closed in zip(cell.facets, shallow.facet_h[lo:hi], shallow.facet_closed[lo:hi]):
            w, b = regions.hyperplanes[h].w, regions.hyperplanes[h].b
            orient = 1.0 if w @ shallow.p + b > 0 else -1.0
            assert np.array_equal(shallow.W[j], orient * w) and closed == (s * orient > 0)
            assert shallow.keys[j] == regions.hyperplanes[h].key
    X = np.random.default_rng(0).uniform(-1, 1, (300, 2))
    assert np.allclose(shallow.evaluate(X), net.forward(X), atol=1e-9)


def test_scale_benchmark_runs_a_small_case(tmp_path):
    from benchmarks.scale import run
    record = run("quick_d2_4x4", 1, str(tmp_path / "r.json"), None, None)
    assert record["cells"] == len(json.load(open(tmp_path / "r.json"))["cells"]) > 5
    assert record["peak_mb"] >= record["rss_before_mb"] > 0 and record["regions_file_mb"] >= 0
    stopped = run("quick_d2_4x4", 1, None, 3, None)
    assert "stopped after 3 regions" in stopped["stopped"]


def test_scale_benchmark_streams_a_small_case(tmp_path):
    pytest.importorskip("pyarrow")
    from benchmarks.scale import run_streamed
    from relucompile.backends.regions_parquet import read_regions_dataset
    out = str(tmp_path / "cells.parquet")
    record = run_streamed("quick_d2_4x4", 2, out, None, None)
    assert record["cells"] == len(read_regions_dataset(out)["cells"]) > 5
    assert record["driver_cpu_s"] >= 0 and record["peak_mb"] >= record["rss_before_mb"] > 0
