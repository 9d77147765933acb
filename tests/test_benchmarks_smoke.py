"""Smoke test of the benchmark suite (``python -m benchmarks --quick``) and its helpers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from benchmarks import affinitree_peer, report
from benchmarks.cases import QUICK_CASES, find_case, load_case
from benchmarks.run import compare, explain_difference, main, run_worker, select_cases, parse_args
from benchmarks.throughput import with_symbolic_batch
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.errors import UserError
from relucompile.examples.random_nets import random_mlp, to_onnx_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def require_affinitree() -> None:
    """The peer is part of the test extra, so its comparisons run (and fail loudly without it)."""
    assert affinitree_peer.available(), "affinitree is missing: it is in the test extra, pip install '.[test]'"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One ``--quick`` run of the whole command, as a user would start it."""
    folder = tmp_path_factory.mktemp("bench")
    json_path, md_path = folder / "r.json", folder / "r.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--min-seconds", "0.02",
                           "--json", str(json_path), "--markdown", str(md_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc, json.loads(json_path.read_text()), md_path.read_text()


@pytest.mark.slow   # the whole benchmark command in a subprocess (~1 min)
def test_quick_run_writes_every_figure(quick_run):
    proc, doc, md = quick_run
    assert proc.returncode == 0, proc.stderr
    assert doc["schema"] == "relucompile-benchmark/1"
    assert [c["name"] for c in doc["cases"]] == list(QUICK_CASES)
    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["packages"]["numpy"]
    for case in doc["cases"]:
        ours = case["ours"]
        assert ours["status"] == "ok", ours
        assert isinstance(ours["cells"], int) and ours["cells"] > 1
        assert ours["seconds"] > 0 and ours["cells_per_s"] == pytest.approx(ours["cells"] / ours["seconds"])
        assert ours["engine"] == "vertex" and ours["lps"] == 0     # auto: the vertex engine, no LPs
        assert ours["startup_s"] > 0 and ours["load_s"] >= 0
        assert ours["peak_rss_mb"] >= ours["rss_before_mb"] > 10
        tp = case["throughput"]
        assert tp["status"] == "ok", tp
        for key in ("source_b1", "shallow_b1", "source_b1024", "shallow_b1024"):
            assert tp[key]["inputs_per_s"] > 0 and tp[key]["batch"] == int(key.split("_b")[1])
        assert tp["nan_outputs"] == 0 and tp["max_abs_diff"] < 1e-4   # float32 source vs float64 shallow


@pytest.mark.slow   # the whole benchmark command in a subprocess (~1 min)
def test_quick_run_markdown_has_both_tables(quick_run):
    proc, doc, md = quick_run
    assert proc.stdout == md
    assert "| case | cells | affinitree cells |" in md and "| case | start-up s ours / affinitree |" in md
    for case in doc["cases"]:
        rows = [line for line in md.splitlines() if line.startswith(f"| {case['description']} |")]
        assert len(rows) == 2
        assert rows[0].split(" | ")[1] == f"{case['ours']['cells']:,}"
    assert doc["command"].startswith("python -m benchmarks --quick")


@pytest.mark.slow   # the whole benchmark command in a subprocess (~1 min)
def test_quick_cell_count_equals_affinitree(quick_run):
    require_affinitree()
    _, doc, _ = quick_run
    for case in doc["cases"]:
        peer = case["affinitree"]
        assert peer["status"] == "ok", peer
        assert peer["cells"] == case["ours"]["cells"], case["name"]
        assert case["comparison"]["cells_equal"] and case["comparison"]["time_ratio"] > 0


@pytest.mark.parametrize("d,widths,seed,box", [(4, [5, 5], 3, True), (3, [6, 6], 1, True), (2, [6, 6], 2, False)],
                         ids=["d4_5x5_box", "d3_6x6_box", "d2_6x6_reals"])
def test_cell_count_equals_affinitree(d, widths, seed, box):
    """The peer comparison, small and fast: affinitree's terminal count equals the cell count of
    both our engines (box and all of R^d; benchmarks/ compares the large cases)."""
    require_affinitree()
    net = random_mlp(d, widths, 1, seed=seed)
    domain = Domain.box([-1.0] * d, [1.0] * d) if box else Domain.reals(d)
    peer = affinitree_peer.distill(net, domain).num_terminals()
    assert peer > 50                                           # not a trivial net
    assert len(enumerate_regions(net, domain)) == len(enumerate_regions(net, domain, "split")) == peer


def test_quick_box_count_equals_distinct_patterns_on_a_grid():
    """Independent of both tools: every cell of the tiny case is hit by a fine grid."""
    net, domain, _ = load_case(find_case("quick_d2_4x4"))
    regions = enumerate_regions(net, domain)
    assert min(c.radius for c in regions.cells) > 0.01          # so a 0.004 grid hits every cell
    g = np.linspace(-1, 1, 501)
    X = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    patterns = set(map(bytes, np.hstack(net.pattern(X))))
    assert len(patterns) == len(regions)


def test_affinitree_on_a_degenerate_box_counts_cells_of_the_hull():
    require_affinitree()
    net = random_mlp(3, [5, 5], 1, seed=4)
    domain = Domain.box([-1, 0.25, -1], [1, 0.25, 1])          # x1 fixed, like ACAS Xu prop_4
    tree = affinitree_peer.distill(net, domain)
    assert tree.indim() == 2
    assert tree.num_terminals() == len(enumerate_regions(net, domain))
    for G, g in affinitree_peer.terminal_polytopes(tree):      # each path polytope lies in the box (in t)
        assert G.shape[1] == 2 and (G @ np.zeros(2) <= g + 2).all()


def test_plain_layers_refuses_skip_connections():
    from relucompile.ir.network import AffineLayer, ReluNet
    net = ReluNet(1, [AffineLayer({0: np.ones((1, 1))}, np.zeros(1))],
                  AffineLayer({0: np.ones((1, 1)), 1: np.ones((1, 1))}, np.zeros(1)))
    with pytest.raises(ValueError, match="plain MLPs"):
        affinitree_peer.plain_layers(net)


def test_compare_and_explain_a_sliver_difference():
    ours = {"status": "ok", "cells": 9, "seconds": 2.0, "tolerance": 1e-8}
    peer = {"status": "ok", "cells": 10, "seconds": 1.0,
            "slivers": {"checked": 10, "slivers": 1, "tolerance": 1e-8, "complete": True,
                        "smallest": [{"radius": 3e-11, "centre": [0.5, -0.25]}]}}
    cmp = compare(ours, peer)
    assert cmp["difference"] == 1 and not cmp["cells_equal"] and cmp["time_ratio"] == 2.0
    assert "1 of its cells are slivers" in cmp["explanation"] and cmp["explanation"].endswith("explained")
    assert "(0.5, -0.25)" in cmp["explanation"]
    peer["slivers"]["slivers"] = 0
    assert "1 not explained" in explain_difference(ours, peer)
    assert "we count 2 more" in explain_difference({**ours, "cells": 12, "smallest_radii": [1e-9]}, peer)
    assert compare(ours, {"status": "timeout"}) == {}


def test_report_shows_timeouts_and_skips():
    results = [{"name": "x", "description": "d9 9x9 on R^9", "ours": {"status": "timeout", "error": "stopped"},
                "affinitree": {"status": "skipped", "reason": "--no-affinitree"}, "comparison": {},
                "throughput": {"status": "skipped", "reason": "no shallow model"}}]
    row = report.enumeration_table(results, timeout=5).splitlines()[2]
    assert row.startswith("| d9 9x9 on R^9 | timeout (> 5 s) | skipped |")
    assert any("affinitree skipped" in n for n in report.notes(results))


def test_worker_killed_at_its_timeout_is_reported(tmp_path):
    record = run_worker("ours", "quick_d2_4x4", str(tmp_path), ["--no-shallow"], hard_timeout=0.01)
    assert record["status"] == "timeout" and "killed" in record["error"]


def test_user_errors_are_one_line(capsys):
    assert main(["--cases", "no_such_case"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown case 'no_such_case'" in err
    assert main(["--quick", "--timeout", "0"]) == 2
    with pytest.raises(UserError):
        select_cases(parse_args(["--cases", ","]))


def test_symbolic_batch_runs_a_fixed_batch_model():
    model = to_onnx_model(random_mlp(2, [3], 1, seed=0))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].Clear()
        value.type.tensor_type.shape.dim[0].dim_value = 1
    fixed = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    X = np.arange(6, dtype=np.float32).reshape(3, 2) / 6
    with pytest.raises(Exception):
        fixed.run(None, {"x": X})
    free = ort.InferenceSession(with_symbolic_batch(model).SerializeToString(), providers=["CPUExecutionProvider"])
    y = free.run(None, {"x": X})[0]
    assert y.shape == (3, 1)
    assert np.array_equal(y[1:2], fixed.run(None, {"x": X[1:2]})[0])
    onnx.checker.check_model(with_symbolic_batch(model))


@pytest.mark.parametrize("module", ["cases", "report", "throughput", "affinitree_peer", "worker", "run"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(f"benchmarks.{module}"))
    assert result.failed == 0 and result.attempted > 0
