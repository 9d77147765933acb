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
