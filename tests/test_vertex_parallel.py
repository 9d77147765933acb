"""The vertex engine's tasks: identical cells (count, order, patterns, maps, facets, floats) for
1, 2 and 4 local workers; a killed worker's task reruns (no cell lost or duplicated)."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import relucompile.regions.vertex_engine as ev
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from relucompile.regions.executor import run_tasks
from relucompile.examples.random_nets import random_mlp
from test_vertex_engine import assert_same_cells
from test_vertex_kernels import _cells

CASES = [(2, [8, 8, 8], 1, False), (3, [6, 6, 6], 2, False), (3, [6, 6, 6], 1, True), (2, [7, 7, 7], 4, True)]


@pytest.fixture(autouse=True)
def tasks_from_a_few_cells(monkeypatch):
    """Runs split into tasks from TASK_MIN_CELLS cells on: here on small nets too."""
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 16)


def _domain(d: int, reals: bool) -> Domain:
    return Domain.reals(d) if reals else Domain.box(-np.ones(d), np.ones(d))


@pytest.mark.parametrize("d, widths, seed, reals", CASES, ids=[f"d{c[0]}_s{c[2]}_{'rd' if c[3] else 'box'}" for c in CASES])
def test_same_cells_in_the_same_order_for_1_2_4_workers(d, widths, seed, reals, monkeypatch) -> None:
    net = random_mlp(d, widths, 2, seed=seed)
    domain = _domain(d, reals)
    runs = {jobs: ev.VertexEngine()(net, domain, jobs=jobs) for jobs in (1, 2, 4)}
    assert runs[1].stats["tasks"] > 4 and "fallback" not in runs[1].stats
    assert _cells(runs[1]) == _cells(runs[2]) == _cells(runs[4])
    assert [len(r.hyperplanes) for r in runs.values()] == [len(runs[1].hyperplanes)] * 3
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 10**9)       # the same cells as one untasked run
    whole = ev.VertexEngine()(net, domain)
    assert whole.stats["tasks"] == 0
    assert_same_cells(runs[2], whole)
    assert_same_cells(runs[4], enumerate_regions(net, domain, "split"))


def test_auto_passes_jobs_to_the_vertex_engine() -> None:
    net = random_mlp(2, [8, 8, 8], 1, seed=3)
    one, two = enumerate_regions(net, _domain(2, False)), enumerate_regions(net, _domain(2, False), jobs=2)
    assert two.stats["engine"] == "vertex" and two.stats["jobs"] == 2 and two.stats["tasks"] > 1
    assert _cells(one) == _cells(two)


def _die_once_then_square(task: tuple[int, str]) -> int:
    """Kill this worker process the first time task 2 runs (a marker file says it did)."""
    value, marker = task
    if value == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return value * value


def test_a_killed_worker_reruns_its_task(tmp_path) -> None:
    marker = str(tmp_path / "killed")
    results = list(run_tasks(_die_once_then_square, [(v, marker) for v in range(8)], jobs=2))
    assert os.path.exists(marker)
    assert results == [v * v for v in range(8)]


_REAL_TASK = ev._run_vertex_task
_KILL_MARKER = {"path": ""}


def _vertex_task_killed_once(task: dict):
    """The vertex engine's task, but the worker running the third chunk dies the first time."""
    if task["counts"].size and _KILL_MARKER["path"] and not os.path.exists(_KILL_MARKER["path"]):
        _KILL_MARKER["seen"] = _KILL_MARKER.get("seen", 0) + 1
        if _KILL_MARKER["seen"] >= 3:
            open(_KILL_MARKER["path"], "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    return _REAL_TASK(task)


def test_a_worker_killed_mid_run_loses_and_duplicates_no_cell(tmp_path, monkeypatch) -> None:
    net = random_mlp(3, [6, 6, 6], 2, seed=2)
    domain = _domain(3, False)
    reference = ev.VertexEngine()(net, domain, jobs=1)
    monkeypatch.setitem(_KILL_MARKER, "path", str(tmp_path / "killed"))
    monkeypatch.setattr(ev, "_run_vertex_task", _vertex_task_killed_once)
    survived = ev.VertexEngine()(net, domain, jobs=2)
    assert os.path.exists(_KILL_MARKER["path"]), "no worker was killed"
    assert _cells(survived) == _cells(reference)


def test_max_regions_holds_across_workers() -> None:
    from relucompile.errors import RegionLimitError
    from relucompile.regions.enumerate import Limits
    net = random_mlp(3, [6, 6, 6], 2, seed=2)
    total = len(ev.VertexEngine()(net, _domain(3, False), jobs=1))
    with pytest.raises(RegionLimitError):
        ev.VertexEngine()(net, _domain(3, False), limits=Limits(total - 1, None), jobs=2)
    assert len(ev.VertexEngine()(net, _domain(3, False), limits=Limits(total, None), jobs=2)) == total


class _Boxed:
    """A task result that can be watched with a weak reference."""

    def __init__(self, value: int) -> None:
        self.value = value


def _boxed(task: _Boxed) -> _Boxed:
    return _Boxed(task.value)


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_tasks_holds_no_result_or_task_once_yielded(jobs) -> None:
    """The driver's memory stays one result long (10^7 cells: the executor kept every task's cells
    through its futures list until the run ended)."""
    import gc
    import weakref
    from relucompile.regions.executor import run_tasks as run_all
    tasks = [_Boxed(v) for v in range(4)]
    task_ref = weakref.ref(tasks[0])
    results = run_all(_boxed, tasks, jobs=jobs)
    first = next(results)
    del tasks
    result_ref = weakref.ref(first)
    assert first.value == 0
    del first
    second = next(results)
    gc.collect()
    assert result_ref() is None and task_ref() is None
    assert [second.value] + [r.value for r in results] == [1, 2, 3]


@pytest.mark.slow
def test_acas_prop_3_same_cells_for_1_2_4_workers(monkeypatch) -> None:
    """ACAS Xu 1_1 on prop_3's box (71,930 cells, 6 layers of 50): the real tasks, not small ones."""
    from conftest import data_path
    from relucompile import load_network
    from relucompile.frontends.vnnlib import parse_vnnlib
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 4096)
    net = load_network(data_path("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx"))
    (lower, upper), = parse_vnnlib(data_path("acasxu", "prop_3.vnnlib")).input_boxes()
    domain = Domain.box(lower, upper)
    runs = {jobs: enumerate_regions(net, domain, jobs=jobs) for jobs in (1, 2, 4)}
    assert runs[1].stats["engine"] == "vertex" and runs[1].stats["tasks"] > 4
    assert len(runs[1]) == 71_930
    assert _cells(runs[1]) == _cells(runs[2]) == _cells(runs[4])


def test_time_limit_holds_across_workers() -> None:
    import time
    from relucompile.errors import RegionLimitError
    from relucompile.regions.enumerate import Limits
    net = random_mlp(4, [16, 16, 16], 1, seed=0)
    start = time.time()
    with pytest.raises(RegionLimitError, match="time-limit"):
        ev.VertexEngine()(net, _domain(4, False), limits=Limits(None, 0.5), jobs=2)
    assert time.time() - start < 30
