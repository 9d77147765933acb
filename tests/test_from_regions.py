"""``--from-regions DIR.parquet``: the report, the shallow ONNX and the equations built from a stored
regions dataset are those built by compiling again (report: same tables, same pictures; ONNX and
equations: the same bytes); a dataset of another model, or a truncated or corrupt one, is refused
with exit 2 and no output file."""
from __future__ import annotations

import os
import re
import shutil

import numpy as np
import onnx
import pytest

pytest.importorskip("pyarrow")

from relucompile.api.compile import compile_network, save_regions  # noqa: E402
from relucompile.backends.report import cells_of  # noqa: E402
from relucompile.backends.stored_report import StoredCells  # noqa: E402
from relucompile.cli.main import main  # noqa: E402
from relucompile.examples import tiny_mlp_path  # noqa: E402
from relucompile.examples.random_nets import random_mlp, to_onnx_model  # noqa: E402
from relucompile.ir.domain import Domain  # noqa: E402


def _model(folder, d: int, widths: list[int], seed: int) -> str:
    path = os.path.join(str(folder), f"net_d{d}_{'x'.join(map(str, widths))}_s{seed}.onnx")
    onnx.save(to_onnx_model(random_mlp(d, widths, 2, seed=seed)), path)
    return path


def _dataset(tmp_path, model: str, *box: str) -> str:
    folder = str(tmp_path / "cells.parquet")
    assert main([model, "--box", *box, "-o", str(tmp_path / "compiled.onnx"), "--regions", folder, "-q"]) == 0
    return folder


def _report_parts(path: str) -> tuple[str, list[str]]:
    """The report's HTML without its run-dependent rows (date, command line, timings), and its images."""
    text = open(path).read()
    images = re.findall(r'data:image/png;base64,([^"]+)', text)
    text = re.sub(r'data:image/png;base64,[^"]+', "IMAGE", text)
    return re.sub(r"<tr><th>(generated|command|timings)</th><td>.*?</td></tr>", "", text), images


@pytest.mark.parametrize("d, widths, seed", [(2, [5, 5], 0), (3, [6, 6], 1), (4, [5, 5, 5], 2)])
def test_the_report_from_the_dataset_is_the_report_from_compiling(tmp_path, d, widths, seed) -> None:
    model = _model(tmp_path, d, widths, seed)
    folder = _dataset(tmp_path, model, "-1", "1")
    common = ["--samples", "3000", "--seed", "7", "--top", "5", "-q"]
    assert main(["report", model, "--box", "-1", "1", "-o", str(tmp_path / "compiled.html"), *common]) == 0
    assert main(["report", model, "--from-regions", folder, "-o", str(tmp_path / "stored.html"), *common]) == 0
    compiled, stored = _report_parts(str(tmp_path / "compiled.html")), _report_parts(str(tmp_path / "stored.html"))
    assert "<th>cells</th>" in compiled[0] and compiled[0].count("<tr>") > 10 and compiled[1]
    assert stored == compiled
    timings = re.search(r"<tr><th>timings</th><td>(.*?)</td>", open(tmp_path / "stored.html").read()).group(1)
    assert "reading the regions dataset" in timings and "enumeration of the domain" not in timings


@pytest.mark.parametrize("output", ["shallow.onnx", "rules.txt", "rules.smt2", "rules.py"])
def test_the_shallow_model_and_equations_from_the_dataset_are_the_compiled_bytes(tmp_path, output) -> None:
    model = _model(tmp_path, 3, [6, 6], 3)
    folder = str(tmp_path / "cells.parquet")
    compiled, stored = str(tmp_path / f"compiled_{output}"), str(tmp_path / f"stored_{output}")
    assert main([model, "--box", "-1", "1", "--seed", "5", "-o", compiled, "--regions", folder, "-q"]) == 0
    assert main([model, "--from-regions", folder, "-o", stored, "-q"]) == 0
    assert open(stored, "rb").read() == open(compiled, "rb").read()


def test_the_dataset_converts_to_the_regions_json_of_the_compile(tmp_path) -> None:
    model = tiny_mlp_path()
    folder = _dataset(tmp_path, model, "0", "1")
    assert main([model, "--box", "0", "1", "-o", str(tmp_path / "a.onnx"), "--regions", str(tmp_path / "a.json"),
                 "-q"]) == 0
    assert main([model, "--from-regions", folder, "-o", str(tmp_path / "b.onnx"), "--regions",
                 str(tmp_path / "b.json"), "-q"]) == 0
    import json
    a, b = json.load(open(tmp_path / "a.json")), json.load(open(tmp_path / "b.json"))
    assert a["stats"].pop("seconds") >= 0 and b["stats"].pop("seconds") >= 0     # the two compiles' times
    assert b == a
    assert main([model, "--from-regions", folder, "-o", str(tmp_path / "c.onnx"), "--regions", folder, "-q"]) == 2


def test_stored_cells_locate_points_on_boundaries_as_the_compiled_cells_do(tmp_path) -> None:
    """Samples within rounding of a hyperplane go to the point-location tree (built from the
    stored patterns, interior points and radii): the same cells as the compiled regions give."""
    net = random_mlp(3, [6, 6], 1, seed=4)
    domain = Domain.box([-1] * 3, [1] * 3)
    shallow = compile_network(net, domain)
    folder = str(tmp_path / "cells.parquet")
    save_regions(shallow, folder)
    stored = StoredCells(folder, batch_rows=5)
    stats = stored.cell_stats(net, samples=500)
    assert stats.cells == shallow.num_cells
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 3))
    W1, b1 = net.layers[0].weights[0], net.layers[0].bias            # points on first-layer hyperplanes
    for i in range(len(X)):
        j = i % W1.shape[0]
        X[i] -= (W1[j] @ X[i] + b1[j]) / (W1[j] @ W1[j]) * W1[j]
    X = np.vstack([X, [[2.0, 0, 0]]])                                  # outside the domain
    expected = cells_of(net, shallow.regions, X)
    from relucompile.backends.stored_report import _cells_by_pattern
    by_pattern = _cells_by_pattern(net, stored.bits, X)
    assert np.count_nonzero((by_pattern < 0) & (expected >= 0)) > 100      # the tree decides these
    assert stored.cells_of(net, X).tolist() == expected.tolist()


def _refused(capsys, argv: list[str], output: str, message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(output)


@pytest.mark.parametrize("command", ["compile", "report"])
def test_a_dataset_of_another_model_is_refused(tmp_path, capsys, command) -> None:
    model = _model(tmp_path, 3, [6, 6], 1)
    folder = _dataset(tmp_path, model, "-1", "1")
    for other, message in [(_model(tmp_path, 3, [6, 6], 2), "compiled from another model (sha256"),
                           (_model(tmp_path, 3, [6, 5], 1), "compiled from another model (sha256")]:
        out = str(tmp_path / ("out.onnx" if command == "compile" else "out.html"))
        argv = ([other, "--from-regions", folder, "-o", out] if command == "compile"
                else ["report", other, "--from-regions", folder, "-o", out])
        _refused(capsys, argv + ["-q"], out, message)
    out = str(tmp_path / "out.html")
    _refused(capsys, ["report", model, "--from-regions", folder, "--box", "0", "1", "-o", out, "-q"], out,
             "the dataset's domain is box [-1, 1]^3, not the --box given")


def _truncate_first_part(folder: str) -> None:
    cells = os.path.join(folder, "cells")
    part = os.path.join(cells, sorted(os.listdir(cells))[0])
    data = open(part, "rb").read()
    open(part, "wb").write(data[:len(data) // 2])


def _drop_last_part(folder: str) -> None:
    cells = os.path.join(folder, "cells")
    os.remove(os.path.join(cells, sorted(os.listdir(cells))[-1]))


def _garble_hyperplanes(folder: str) -> None:
    open(os.path.join(folder, "hyperplanes.parquet"), "wb").write(b"not parquet")


@pytest.mark.parametrize("damage, message", [(_truncate_first_part, "unreadable Parquet part"),
                                             (_drop_last_part, "cells in the parts"),
                                             (_garble_hyperplanes, "unreadable Parquet file")],
                         ids=["truncated-part", "missing-part", "corrupt-hyperplanes"])
@pytest.mark.parametrize("command", ["compile", "report"])
def test_a_truncated_or_corrupt_dataset_is_refused(tmp_path, capsys, damage, message, command) -> None:
    model = _model(tmp_path, 3, [6, 6], 1)
    folder = str(tmp_path / "cells.parquet")
    net = random_mlp(3, [6, 6], 2, seed=1)
    from relucompile.backends.regions_parquet import write_regions_dataset
    from relucompile.api import load_network
    write_regions_dataset(compile_network(load_network(model), Domain.box([-1] * 3, [1] * 3)), folder,
                          sha256=load_network(model).source_sha256, rows_per_part=10)
    assert net.d == 3 and len(os.listdir(os.path.join(folder, "cells"))) > 1
    damage(folder)
    out = str(tmp_path / ("out.onnx" if command == "compile" else "out.html"))
    argv = ([model, "--from-regions", folder, "-o", out] if command == "compile"
            else ["report", model, "--from-regions", folder, "-o", out])
    _refused(capsys, argv + ["-q"], out, message)


def test_not_a_dataset_is_refused(tmp_path, capsys) -> None:
    out = str(tmp_path / "out.onnx")
    os.makedirs(tmp_path / "empty")
    _refused(capsys, [tiny_mlp_path(), "--from-regions", str(tmp_path / "empty"), "-o", out, "-q"], out,
             "not a regions dataset")
    shutil.rmtree(tmp_path / "empty")
    regions = str(tmp_path / "regions.json")
    assert main([tiny_mlp_path(), "--box", "0", "1", "-o", str(tmp_path / "s.onnx"), "--regions", regions, "-q"]) == 0
    _refused(capsys, [tiny_mlp_path(), "--from-regions", regions, "-o", out, "-q"], out,
             "--from-regions reads a Parquet regions dataset (a folder)")


def test_enumeration_options_are_refused_with_a_dataset(tmp_path, capsys) -> None:
    folder = _dataset(tmp_path, tiny_mlp_path(), "0", "1")
    out = str(tmp_path / "out.onnx")
    for option in (["--max-regions", "10"], ["--cluster", "local"]):
        _refused(capsys, [tiny_mlp_path(), "--from-regions", folder, *option, "-o", out, "-q"], out,
                 "--from-regions has no use for it")
