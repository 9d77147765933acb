"""The cluster executor (Dask, ``--cluster``): the vertex engine's cells are the same (count, order,
patterns, maps, facets, floats) for 1, 2 and 4 workers of a local cluster as in one process, on
boxes and on R^d; a killed worker's task reruns; the limits hold across workers; the Parquet
dataset's parts are the same files whoever writes them; Ctrl-C leaves no dataset, no temporary
folder and no worker behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import relucompile.regions.vertex_engine as ev  # noqa: E402
from relucompile.errors import RegionLimitError  # noqa: E402
from relucompile.examples.random_nets import random_mlp, to_onnx_model  # noqa: E402
from relucompile.ir.domain import Domain  # noqa: E402
from relucompile.regions.enumerate import Limits, enumerate_regions  # noqa: E402
from relucompile.regions.executor import cluster, in_cluster, run_tasks  # noqa: E402
from test_vertex_kernels import _cells  # noqa: E402

CASES = [(2, [8, 8, 8], 1, False), (3, [6, 6, 6], 1, True)]


@pytest.fixture(autouse=True)
def tasks_from_a_few_cells(monkeypatch):
    """Runs split into tasks from TASK_MIN_CELLS cells on (decided by the driver): small nets too."""
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 16)


@pytest.fixture(scope="module", params=[1, 2, 4], ids=lambda n: f"{n}workers")
def local_cluster(request):
    with cluster("local", request.param) as session:
        yield session


def _domain(d: int, reals: bool) -> Domain:
    return Domain.reals(d) if reals else Domain.box(-np.ones(d), np.ones(d))


def test_without_a_cluster_nothing_changes() -> None:
    with cluster(None):
        assert not in_cluster()
        assert list(run_tasks(abs, [-3, 4], jobs=2)) == [3, 4]


@pytest.mark.parametrize("d, widths, seed, reals", CASES, ids=["box", "reals"])
def test_the_cluster_gives_the_cells_of_one_process(local_cluster, d, widths, seed, reals) -> None:
    net = random_mlp(d, widths, 2, seed=seed)
    domain = _domain(d, reals)
    alone = ev.VertexEngine()(net, domain, jobs=1)
    on_cluster = ev.VertexEngine()(net, domain, jobs=len(local_cluster.client.scheduler_info()["workers"]))
    assert on_cluster.stats["tasks"] > 4
    assert _cells(on_cluster) == _cells(alone)
    assert len(on_cluster.hyperplanes) == len(alone.hyperplanes)


def test_the_split_engine_on_the_cluster(local_cluster) -> None:
    net = random_mlp(2, [5, 5], 1, seed=4)
    domain = Domain.polytope([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], [1.0, 1.0, 1.0])
    alone = enumerate_regions(net, domain, "split", jobs=1)
    on_cluster = enumerate_regions(net, domain, "split", jobs=2)
    assert on_cluster.stats["tasks"] > 1
    assert _cells(on_cluster) == _cells(alone)


def _worker_pids(session) -> list[int]:
    return sorted(session.client.run(os.getpid).values())


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_no_cell() -> None:
    net = random_mlp(3, [6, 6, 6], 2, seed=2)
    domain = _domain(3, False)
    reference = ev.VertexEngine()(net, domain, jobs=1)
    killed: list[int] = []
    with cluster("local", 2) as session:
        victims = _worker_pids(session)

        def kill_one_worker(n: int, info: dict) -> None:
            if not killed and n > 0:      # after the first task's cells: the others are running or queued
                os.kill(victims[0], signal.SIGKILL)
                killed.append(victims[0])

        survived = ev.VertexEngine()(net, domain, progress=kill_one_worker, jobs=2)
        assert killed and victims[0] not in _worker_pids(session)     # the nanny started a new worker
    assert survived.stats["tasks"] > 4
    assert _cells(survived) == _cells(reference)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RELUCOMPILE_HEAVY_TESTS"),
                    reason="70-140 s on 2 cores, kept out of CI's 15 minutes: set RELUCOMPILE_HEAVY_TESTS=1 "
                           "(python -m benchmarks.same_cells checks clusters of 1, 2 and 4 workers)")
def test_acas_prop_3_same_cells_on_the_cluster_as_in_one_process(monkeypatch) -> None:
    """ACAS Xu 1_1 on prop_3's box (71,930 cells, 6 layers of 50) on a local cluster of 2 workers:
    the real tasks, not small ones (tests/test_vertex_parallel.py checks 1, 2, 4 local processes)."""
    from conftest import data_path
    from relucompile import load_network
    from relucompile.frontends.vnnlib import parse_vnnlib
    monkeypatch.setattr(ev, "TASK_MIN_CELLS", 4096)
    net = load_network(data_path("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx"))
    (lower, upper), = parse_vnnlib(data_path("acasxu", "prop_3.vnnlib")).input_boxes()
    domain = Domain.box(lower, upper)
    alone = enumerate_regions(net, domain, jobs=1)
    with cluster("local", 2):
        assert in_cluster()
        on_cluster = enumerate_regions(net, domain, jobs=2)
    assert alone.stats["engine"] == on_cluster.stats["engine"] == "vertex"
    assert on_cluster.stats["tasks"] > 4 and len(alone) == 71_930
    assert _cells(on_cluster) == _cells(alone)
    assert len(on_cluster.hyperplanes) == len(alone.hyperplanes)


def test_the_limits_hold_across_the_workers(local_cluster) -> None:
    net = random_mlp(3, [6, 6, 6], 2, seed=2)
    total = len(ev.VertexEngine()(net, _domain(3, False), jobs=1))
    with pytest.raises(RegionLimitError, match="max-regions"):
        ev.VertexEngine()(net, _domain(3, False), limits=Limits(total - 1, None), jobs=2)
    assert len(ev.VertexEngine()(net, _domain(3, False), limits=Limits(total, None), jobs=2)) == total
    big = random_mlp(4, [16, 16, 16], 1, seed=0)
    start = time.time()
    with pytest.raises(RegionLimitError, match="time-limit"):
        ev.VertexEngine()(big, _domain(4, False), limits=Limits(None, 0.5), jobs=2)
    assert time.time() - start < 30


def test_the_dataset_parts_are_the_same_files_for_any_writer(tmp_path, local_cluster) -> None:
    pytest.importorskip("pyarrow")
    from relucompile.backends.regions_parquet import read_regions_dataset, write_regions_dataset
    from relucompile.shallow.net import build_shallow
    net = random_mlp(2, [8, 8], 1, seed=5)
    shallow = build_shallow(net, enumerate_regions(net, _domain(2, False)))
    on_cluster = str(tmp_path / "cluster.parquet")
    write_regions_dataset(shallow, on_cluster, rows_per_part=7)
    assert len(os.listdir(os.path.join(on_cluster, "cells"))) > 3
    from relucompile.regions import executor
    session = executor._CLUSTER.pop()       # the same run with local processes
    try:
        for jobs in (1, 2):
            here = str(tmp_path / f"local{jobs}.parquet")
            write_regions_dataset(shallow, here, rows_per_part=7, jobs=jobs)
            names = sorted(os.listdir(os.path.join(here, "cells")))
            assert names == sorted(os.listdir(os.path.join(on_cluster, "cells")))
            for name in names:
                with open(os.path.join(here, "cells", name), "rb") as a, \
                        open(os.path.join(on_cluster, "cells", name), "rb") as b:
                    assert a.read() == b.read(), name
            assert read_regions_dataset(here) == read_regions_dataset(on_cluster)
    finally:
        executor._CLUSTER.append(session)


def test_streamed_dataset_cluster_workers_write_the_same_bytes(tmp_path, local_cluster) -> None:
    """Two-phase write on the cluster: the tasks' raw parts and then the parts written by its
    workers; every file equals the in-memory path's (tests/test_regions_parquet.py)."""
    pytest.importorskip("pyarrow")
    from relucompile.backends.regions_parquet import enumerate_to_dataset
    from test_regions_parquet import _dataset_files, two_phase_expected
    net = random_mlp(2, [8, 8, 8], 2, seed=1)
    want = two_phase_expected(tmp_path, net, _domain(2, False))
    folder = str(tmp_path / "cluster.parquet")
    stats = enumerate_to_dataset(net, _domain(2, False), folder, jobs=2, rows_per_part=7, spill_rows=5)
    assert stats["tasks"] > 4
    got = _dataset_files(folder)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name


@pytest.mark.slow
def test_a_worker_killed_while_writing_raw_parts_loses_and_duplicates_no_cell(tmp_path) -> None:
    """A killed worker's task reruns and rewrites its raw part: the dataset is still the in-memory one."""
    pytest.importorskip("pyarrow")
    from relucompile.backends.regions_parquet import enumerate_to_dataset
    from test_regions_parquet import _dataset_files, two_phase_expected
    net = random_mlp(3, [6, 6, 6], 2, seed=2)
    want = two_phase_expected(tmp_path, net, _domain(3, False))
    killed: list[int] = []
    with cluster("local", 2) as session:
        victims = _worker_pids(session)

        def kill_one_worker(n: int, info: dict) -> None:
            if not killed and n > 0:
                os.kill(victims[0], signal.SIGKILL)
                killed.append(victims[0])

        stats = enumerate_to_dataset(net, _domain(3, False), str(tmp_path / "cells.parquet"), jobs=2,
                                     progress=kill_one_worker, rows_per_part=7)
        assert killed and victims[0] not in _worker_pids(session)
    assert stats["tasks"] > 4
    got = _dataset_files(str(tmp_path / "cells.parquet"))
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name


def _processes_in_group(group: int) -> list[int]:
    """The live processes of a process group (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                found.append(int(entry))
    return found


def _interrupt_and_wait(run: subprocess.Popen) -> str:
    """Ctrl-C the run's process; assert it failed and left no process of its group; its stderr."""
    os.kill(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode != 0, out + err
    deadline = time.time() + 20
    while _processes_in_group(run.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_in_group(run.pid) == [], "workers left running"
    return err.decode()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "cluster"])
def test_ctrl_c_leaves_no_dataset_no_temporary_folder_no_worker(tmp_path, where) -> None:
    pytest.importorskip("pyarrow")
    import onnx
    model = tmp_path / "net.onnx"
    onnx.save(to_onnx_model(random_mlp(4, [32, 32, 32], 1, seed=0)), str(model))
    cli = os.path.join(os.path.dirname(sys.executable), "relucompile")
    command = [cli, str(model), "--box", "-1", "1", "-o", str(tmp_path / "s.onnx"),
               "--regions", str(tmp_path / "cells.parquet"), "--jobs", "2", "-q"]
    if where == "cluster":
        command += ["--cluster", "local"]
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(8 if where == "local" else 15)         # the tasks are running (the run takes minutes)
    assert run.poll() is None, run.communicate()
    group_before = _processes_in_group(run.pid)
    assert len(group_before) > 2, "no workers were running"
    err = _interrupt_and_wait(run)
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"], err


@pytest.mark.slow
def test_cli_cluster_writes_the_dataset_of_one_process(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    import onnx
    from relucompile.backends.regions_parquet import read_regions_dataset
    model = tmp_path / "net.onnx"
    onnx.save(to_onnx_model(random_mlp(3, [40, 4], 1, seed=1)), str(model))   # > 4096 cells after layer 1
    cli = os.path.join(os.path.dirname(sys.executable), "relucompile")
    docs = {}
    for name, extra in [("one", ["--jobs", "1"]), ("cluster", ["--jobs", "2", "--cluster", "local"])]:
        done = subprocess.run([cli, str(model), "--box", "-1", "1", "-o", str(tmp_path / f"{name}.onnx"),
                               "--regions", str(tmp_path / f"{name}.parquet"), "-q", *extra],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        docs[name] = read_regions_dataset(str(tmp_path / f"{name}.parquet"))
    assert docs["cluster"]["stats"]["tasks"] > 4 and docs["cluster"]["stats"]["engine"] == "vertex"
    for field in ("cells", "hyperplanes", "reference_point"):
        assert docs["cluster"][field] == docs["one"][field], field


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "cluster"])
def test_ctrl_c_while_tasks_write_raw_parts_leaves_nothing(tmp_path, where) -> None:
    """The streamed path (two-phase write) stopped by Ctrl-C while the tasks write their raw parts:
    no dataset, no temporary folder (raw parts included), no worker left."""
    pytest.importorskip("pyarrow")
    import glob
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "benchmarks.scale", "--case", "d4_32x32x32", "--jobs", "2", "--stream",
               "--out", str(tmp_path / "cells.parquet")]
    if where == "cluster":
        command += ["--cluster", "local"]
    run = subprocess.Popen(command, cwd=root, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not glob.glob(str(tmp_path / ".cells.parquet.*" / "spill" / "raw-*.npz")) and time.time() < deadline:
        assert run.poll() is None, run.communicate()
        time.sleep(0.5)
    assert glob.glob(str(tmp_path / ".cells.parquet.*" / "spill" / "raw-*.npz")), "no task wrote its raw part"
    err = _interrupt_and_wait(run)
    assert os.listdir(tmp_path) == [], err
