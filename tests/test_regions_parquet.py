"""Regions as a Parquet dataset: read back equal to the regions JSON; pandas reads it; the CLI
writes it with --regions cells.parquet, replaces it whole and leaves no partial dataset."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="the parquet extra (pyarrow) is in the test extra")

from relucompile.backends.files import RunOutputs                                     # noqa: E402
from relucompile.backends.regions_json import regions_document                          # noqa: E402
from relucompile.backends.regions_parquet import (read_regions_dataset, save_regions_dataset,   # noqa: E402
                                                  write_regions_dataset)
from relucompile.cli.main import main                                                   # noqa: E402
from relucompile.examples import tiny_mlp_path                                          # noqa: E402
from relucompile.examples.random_nets import random_mlp                                 # noqa: E402
from relucompile.ir.domain import Domain                                                # noqa: E402
from relucompile.regions.enumerate import enumerate_regions                             # noqa: E402
from relucompile.shallow.net import build_shallow                                       # noqa: E402


def _shallow(d, widths, seed, reals):
    net = random_mlp(d, widths, 2, seed=seed)
    domain = Domain.reals(d) if reals else Domain.box(-np.ones(d), np.ones(d))
    return build_shallow(net, enumerate_regions(net, domain))


@pytest.mark.parametrize("d, widths, seed, reals", [(2, [5, 5], 0, False), (3, [4, 4], 1, True), (1, [3], 2, False)])
def test_read_back_equals_the_json_document(tmp_path, d, widths, seed, reals) -> None:
    shallow = _shallow(d, widths, seed, reals)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, source="m.onnx", sha256="ab", rows_per_part=7)
    assert len(os.listdir(os.path.join(folder, "cells"))) == -(-len(shallow.regions.cells) // 7)
    expected = json.loads(json.dumps(regions_document(shallow, source="m.onnx", sha256="ab")))
    assert read_regions_dataset(folder) == expected


def test_pandas_reads_the_cells_and_hyperplanes(tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    shallow = _shallow(2, [6, 6], 3, False)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, rows_per_part=10)
    cells = pd.read_parquet(os.path.join(folder, "cells"))
    store = shallow.regions.cells
    assert len(cells) == len(store) and list(cells["id"]) == list(range(len(store)))
    assert np.array_equal(np.stack(cells["interior_point"].to_numpy()), store.interior)
    assert np.array_equal(np.array([np.stack(a) for a in cells["A"]]), store.A)
    assert list(cells["bounded"]) == store.bounded.tolist()
    hyperplanes = pd.read_parquet(os.path.join(folder, "hyperplanes.parquet"))
    assert len(hyperplanes) == len(shallow.keys)
    assert set(hyperplanes["kind"]) <= {"unit", "domain"}


def test_cli_writes_and_replaces_the_dataset(tmp_path) -> None:
    folder = str(tmp_path / "cells.parquet")
    args = [tiny_mlp_path(), "--box", "0", "0.25", "-o", str(tmp_path / "s.onnx"), "--regions", folder, "-q"]
    assert main(args) == 0
    first = read_regions_dataset(folder)
    assert len(first["cells"]) == 4 and first["model"]["source"] == os.path.basename(tiny_mlp_path())
    assert main(args + ["--box", "0", "0.5"]) == 0                 # replaced whole
    assert len(read_regions_dataset(folder)["cells"]) >= 4
    assert sorted(os.listdir(tmp_path)) == ["cells.parquet", "s.onnx"]   # nothing staged left


def test_a_failed_run_leaves_no_partial_dataset(tmp_path) -> None:
    shallow = _shallow(2, [4], 0, False)
    folder = str(tmp_path / "cells.parquet")
    save_regions_dataset(shallow, folder)
    before = read_regions_dataset(folder)
    with pytest.raises(RuntimeError):
        with RunOutputs() as outputs:
            outputs.write_folder(folder, lambda staged: write_regions_dataset(_shallow(2, [5, 5], 1, False), staged))
            raise RuntimeError("interrupted")
    assert read_regions_dataset(folder) == before
    assert os.listdir(tmp_path) == ["cells.parquet"]


# -- reading the dataset back: certify, the shallow net (issue 16 point 3) -------------------------------------
from dataclasses import asdict                                                           # noqa: E402

import pyarrow.parquet as pq                                                            # noqa: E402

from relucompile.api.compile import load_network, shallow_onnx                          # noqa: E402
from relucompile.certify.checks import certify_document, certify_source                 # noqa: E402
from relucompile.certify.sources import DatasetSource                                   # noqa: E402
from relucompile.examples.random_nets import to_onnx_model                              # noqa: E402
from relucompile.regions.dataset import cell_part_paths, iter_cell_batches              # noqa: E402
from relucompile.shallow.stored import shallow_from_dataset                             # noqa: E402


def _figures(cert) -> dict:
    """A certificate's fields but its run time."""
    return {k: v for k, v in asdict(cert).items() if k != "seconds"}


@pytest.mark.parametrize("d, widths, seed, reals", [(2, [5, 5], 0, False), (3, [4, 4], 1, True), (1, [3], 2, False)])
def test_certify_reads_the_dataset_as_it_reads_the_json(tmp_path, d, widths, seed, reals) -> None:
    shallow = _shallow(d, widths, seed, reals)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, source="m.onnx", rows_per_part=7)
    doc = json.loads(json.dumps(regions_document(shallow, source="m.onnx")))
    from_json = certify_document(shallow.net, doc)
    from_parquet = certify_source(shallow.net, DatasetSource(folder, batch_rows=3))   # batches cross parts' ends
    assert from_json.ok and from_json.cells == len(shallow.regions.cells)
    assert _figures(from_parquet) == _figures(from_json)      # regions_sha256 too: the same document


def _rewrite_first_part(folder: str, change) -> None:
    path = cell_part_paths(folder)[0]
    rows = pq.read_table(path).to_pylist()
    change(rows[0])
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)


@pytest.mark.parametrize("what", ["map", "facet", "pattern"])
def test_a_tampered_dataset_fails_as_the_tampered_json_does(tmp_path, what) -> None:
    shallow = _shallow(2, [5, 5], 0, False)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, rows_per_part=4)
    doc = json.loads(json.dumps(regions_document(shallow)))
    unit_facet = next(i for i, (h, _) in enumerate(doc["cells"][0]["facets"]) if doc["hyperplanes"][h]["kind"] == "unit")

    def change(cell: dict) -> None:
        if what == "map":
            cell["A"][0][0] = cell["A"][0][0] + 1e-3
        elif what == "facet":
            del cell["facets"][unit_facet]
        else:
            cell["pattern"] = doc["cells"][1]["pattern"]
    _rewrite_first_part(folder, change)
    change(doc["cells"][0])
    from_json = certify_document(shallow.net, doc)
    from_parquet = certify_source(shallow.net, DatasetSource(folder, batch_rows=5))
    assert not from_json.ok
    assert _figures(from_parquet) == _figures(from_json)


def test_cli_certifies_and_updates_a_dataset(tmp_path, capsys) -> None:
    model = str(tmp_path / "m.onnx")
    import onnx
    onnx.save(to_onnx_model(random_mlp(2, [6, 6], 1, seed=5)), model)
    folder, regions = str(tmp_path / "cells.parquet"), str(tmp_path / "regions.json")
    for layout in ("index", "layers"):
        shallow_onnx = str(tmp_path / f"s_{layout}.onnx")
        assert main([model, "--box", "-1", "1", "-o", shallow_onnx, "--layout", layout, "--regions", folder, "-q"]) == 0
        assert main([model, "--box", "-1", "1", "-o", shallow_onnx, "--layout", layout, "--regions", regions, "-q"]) == 0
        capsys.readouterr()
        assert main(["certify", model, folder, "--onnx", shallow_onnx]) == 0
        parquet_line = capsys.readouterr().out
        assert main(["certify", model, regions, "--onnx", shallow_onnx]) == 0
        json_line = capsys.readouterr().out
        assert parquet_line.startswith("certified") and parquet_line.rsplit(";", 1)[0] == json_line.rsplit(";", 1)[0]
    other = str(tmp_path / "other.onnx")
    assert main([model, "--box", "-1", "0.5", "-o", other, "--regions", str(tmp_path / "x.json"), "-q"]) == 0
    assert main(["certify", model, folder, "--onnx", other]) == 3          # another model's numbers
    assert main(["certify", model, folder, "--update", "-q"]) == 0
    stored = read_regions_dataset(folder)["certificate"]
    assert stored["ok"] and stored["cells"] == len(read_regions_dataset(folder)["cells"])
    assert stored["regions_sha256"] == certify_document(load_network(model), read_regions_dataset(folder)).regions_sha256


@pytest.mark.parametrize("d, widths, seed, reals", [(2, [5, 5], 0, False), (3, [4, 4], 1, True), (1, [3], 2, False)])
def test_the_shallow_net_rebuilt_from_the_dataset_is_the_compiled_one(tmp_path, d, widths, seed, reals) -> None:
    shallow = _shallow(d, widths, seed, reals)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, rows_per_part=7)
    again = shallow_from_dataset(shallow.net, folder, batch_rows=4)
    for name in ("W", "b", "cell_ptr", "facet_h", "facet_closed", "A", "c", "p"):
        mine, theirs = getattr(again, name), getattr(shallow, name)
        assert mine.dtype == theirs.dtype or name == "facet_h", name
        assert np.array_equal(mine, theirs), name
    assert list(again.keys) == list(shallow.keys)
    store, original = again.regions.cells, shallow.regions.cells
    for name in ("pattern_bits", "interior", "radius", "bounded"):
        assert np.array_equal(getattr(store, name), getattr(original, name)), name
    assert regions_document(again) == regions_document(shallow) | {"stats": regions_document(again)["stats"]}
    X = np.random.default_rng(0).uniform(-1.2, 1.2, (200, d))
    assert np.array_equal(again.evaluate(X), shallow.evaluate(X), equal_nan=True)
    original_onnx, rebuilt_onnx = shallow_onnx(shallow), shallow_onnx(again)
    assert [t.raw_data for t in original_onnx.graph.initializer] == [t.raw_data for t in rebuilt_onnx.graph.initializer]


def test_the_reader_lists_parts_by_name_and_checks_the_ids(tmp_path) -> None:
    shallow = _shallow(2, [5, 5], 0, False)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, rows_per_part=6)
    paths = cell_part_paths(folder)
    assert [os.path.basename(p) for p in paths] == sorted(os.listdir(os.path.join(folder, "cells")))
    ids = np.concatenate([b.ids for b in iter_cell_batches(folder, batch_rows=4)])
    assert ids.tolist() == list(range(len(shallow.regions.cells)))
    os.rename(paths[0], os.path.join(folder, "cells", "part-99999.parquet"))     # now read last
    from relucompile.errors import UserError
    with pytest.raises(UserError, match="ids do not follow"):
        list(iter_cell_batches(folder))


@pytest.mark.parametrize("d, widths, seed, domain, engine", [
    (2, [5, 5], 0, "box", "auto"), (3, [4, 4], 1, "reals", "auto"), (2, [4, 4], 2, "box", "split"),
    (1, [6], 2, "box", "auto")])
def test_enumerating_straight_into_a_dataset_writes_the_same_dataset(tmp_path, d, widths, seed, domain, engine) -> None:
    from relucompile.backends.regions_parquet import enumerate_to_dataset
    net = random_mlp(d, widths, 2, seed=seed)
    domain = Domain.reals(d) if domain == "reals" else Domain.box(-np.ones(d), np.ones(d))
    expected, streamed = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    save_regions_dataset(build_shallow(net, enumerate_regions(net, domain, engine)), expected)
    stats = enumerate_to_dataset(net, domain, streamed, engine=engine, rows_per_part=4, spill_rows=3)
    got, want = read_regions_dataset(streamed), read_regions_dataset(expected)
    assert stats["cells"] == len(want["cells"]) > 3           # more than one spilled chunk
    for key in ("stats",):
        got.pop(key), want.pop(key)
    assert got == want
    assert sorted(os.listdir(streamed)) == ["cells", "hyperplanes.parquet", "relucompile_regions.json"]
    assert len(os.listdir(os.path.join(streamed, "cells"))) == -(-stats["cells"] // 4)


@pytest.mark.parametrize("reader", ["polars", "duckdb"])
def test_polars_and_duckdb_read_the_dataset(tmp_path, reader) -> None:
    """The docs' snippets (docs/regions_parquet.md); skipped where the package is not installed."""
    module = pytest.importorskip(reader)
    shallow = _shallow(2, [6, 6], 3, False)
    folder = str(tmp_path / "cells.parquet")
    write_regions_dataset(shallow, folder, rows_per_part=10)
    store = shallow.regions.cells
    glob = os.path.join(folder, "cells", "*.parquet")
    if reader == "polars":
        cells = module.read_parquet(glob)
        facets = cells.select(module.col("facets").list.len())["facets"].to_list()
        bounded = module.scan_parquet(glob).filter(module.col("bounded")).select(module.len()).collect().item()
    else:
        cells = module.sql(f"SELECT id, len(facets) AS n, bounded FROM '{glob}' ORDER BY id").fetchall()
        facets = [row[1] for row in cells]
        bounded = module.sql(f"SELECT count(*) FROM '{glob}' WHERE bounded").fetchall()[0][0]
        assert [row[0] for row in cells] == list(range(len(store)))
    assert facets == np.diff(shallow.cell_ptr).tolist()
    assert bounded == int(store.bounded.sum())


def test_build_shallow_refuses_spilled_cells(tmp_path) -> None:
    from relucompile.regions.spill import SpillingCellStore
    net = random_mlp(2, [5, 5], 1, seed=0)
    store = SpillingCellStore(10, 1, 2, str(tmp_path / "spill"), spill_rows=4)
    regions = enumerate_regions(net, Domain.box([-1, -1], [1, 1]), cells=store)
    assert store.spilled > 0 and len(regions) == len(enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
    with pytest.raises(ValueError, match="spilled"):
        build_shallow(net, regions)


def _dataset_files(folder: str) -> dict:
    """Every file of a dataset by its path in the folder: bytes, the marker document without its stats."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    meta = json.loads(files.pop("relucompile_regions.json"))
    meta.pop("stats")
    files["relucompile_regions.json"] = meta
    return files


def two_phase_expected(tmp_path, net, domain) -> dict:
    """The dataset the in-memory path writes (7 cells a part), as :func:`_dataset_files`."""
    folder = str(tmp_path / "in_memory.parquet")
    write_regions_dataset(build_shallow(net, enumerate_regions(net, domain)), folder, rows_per_part=7)
    return _dataset_files(folder)


@pytest.mark.parametrize("d, widths, seed, reals", [(2, [8, 8, 8], 1, False), (3, [6, 6, 6], 1, True)],
                         ids=["box", "reals"])
def test_tasks_write_raw_parts_and_the_dataset_is_the_same_bytes_for_any_jobs(tmp_path, monkeypatch, d, widths,
                                                                             seed, reals) -> None:
    """Two-phase write: the vertex engine's tasks write their cells to raw parts, the workers turn
    them into the parts; every file equals the in-memory path's, byte for byte, for 1, 2, 4 jobs."""
    import relucompile.regions.vertex_engine as ev
    from relucompile.backends.regions_parquet import enumerate_to_dataset
    from relucompile.regions import spill
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 16)
    net = random_mlp(d, widths, 2, seed=seed)
    domain = Domain.reals(d) if reals else Domain.box(-np.ones(d), np.ones(d))
    want = two_phase_expected(tmp_path, net, domain)
    added = []
    add_raw_part = spill.SpillingCellStore.add_raw_part
    monkeypatch.setattr(spill.SpillingCellStore, "add_raw_part",
                        lambda self, path, *rest: added.append(path) or add_raw_part(self, path, *rest))
    for jobs in (1, 2, 4):
        added.clear()
        folder = str(tmp_path / f"jobs{jobs}.parquet")
        stats = enumerate_to_dataset(net, domain, folder, jobs=jobs, rows_per_part=7, spill_rows=5)
        assert stats["tasks"] > 4 and len(added) == stats["tasks"]     # every task's cells came as a raw part
        assert stats["cells"] > 4 * 7
        got = _dataset_files(folder)
        assert sorted(got) == sorted(want)                # no raw part or scratch folder left
        for name in want:
            assert got[name] == want[name], (jobs, name)


def test_a_streamed_run_over_max_regions_leaves_nothing(tmp_path, monkeypatch) -> None:
    import relucompile.regions.vertex_engine as ev
    from relucompile.backends.regions_parquet import enumerate_to_dataset
    from relucompile.errors import RegionLimitError
    from relucompile.regions.enumerate import Limits
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 16)
    net = random_mlp(2, [8, 8, 8], 2, seed=1)
    domain = Domain.box(-np.ones(2), np.ones(2))
    total = len(enumerate_regions(net, domain))
    with pytest.raises(RegionLimitError, match="max-regions"):
        enumerate_to_dataset(net, domain, str(tmp_path / "cells.parquet"), jobs=2, limits=Limits(total - 1, None))
    assert os.listdir(tmp_path) == []
    stats = enumerate_to_dataset(net, domain, str(tmp_path / "cells.parquet"), jobs=2, limits=Limits(total, None))
    assert stats["cells"] == total
