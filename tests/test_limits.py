"""Limits that always hold (issue 15 cases 5 and 8, issue 18 case 1): every LP under GLPK time and
iteration limits and Ctrl-C, ``--time-limit`` counted from the command's start through loading,
lowering, VNN-LIB parsing, enumeration, report, plot and bounds, a memory budget, zip bombs and
special files refused before anything is read.  Each failure: exit 2, one line naming the file or
the option, no traceback, no output file."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import onnx
import pytest

from relucompile.cli.main import main
from relucompile.errors import SolverLimitError, TimeLimitError, UserError
from relucompile.examples import tiny_mlp_path
from relucompile.examples.random_nets import random_mlp, to_onnx_model
from relucompile.limits import memory_budget, time_budget

EXPIRED = dict(seconds=1e-9, already_spent=1.0)     # a budget that ran out before the block


class Hung(Exception):
    """The command did not return within the test's alarm (a blocked read, an endless LP)."""


@contextlib.contextmanager
def alarm(seconds: int) -> None:
    """Turn a hang into a test failure after ``seconds`` (SIGALRM)."""
    def hung(signum, frame):
        raise Hung(f"no answer after {seconds} s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str], hang_after: int = 60) -> tuple[int, str, float]:
    """Exit code, stderr and seconds of one in-process command (as the console script runs it)."""
    err = io.StringIO()
    start = time.perf_counter()
    with alarm(hang_after), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue(), time.perf_counter() - start


def assert_refused(code: int, err: str, *needles: str) -> None:
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def scaled_unit_net(scale: float = 1e8):
    """Issue 15 case 5: a 2-8-8-1 MLP whose first unit (weights and bias) is scaled by ``scale``:
    GLPK's dual simplex cycles on one of its LPs (it ran for ever before)."""
    net = random_mlp(2, [8, 8], 1, seed=1)
    net.layers[0].weights[0][0] *= scale
    net.layers[0].bias[0] *= scale
    return net


def test_cycling_lp_stops_within_the_budget():
    from relucompile.api.compile import compile_network
    start = time.perf_counter()
    with pytest.raises((SolverLimitError, TimeLimitError)) as info, alarm(60):
        compile_network(scaled_unit_net(), time_limit=3)    # GLPK cycled for ever here before
    assert time.perf_counter() - start < 3 + 2
    assert "simplex iterations" in str(info.value) or "--time-limit" in str(info.value)


def test_cycling_model_on_the_command_line(tmp_path):
    model = tmp_path / "scaled.onnx"
    onnx.save(to_onnx_model(scaled_unit_net()), str(model))
    code, err, seconds = run_cli([str(model), "-o", str(tmp_path / "s.onnx"), "--time-limit", "3", "-q"])
    assert_refused(code, err)           # the limit message (or, with a magnitude bound, the refusal)
    assert seconds < 3 + 2 and not (tmp_path / "s.onnx").exists()


def test_lp_honours_the_time_budget_inside_one_solve():
    from relucompile.numeric.lp import LinearProgram
    rng = np.random.default_rng(0)
    lp = LinearProgram(250)
    for _ in range(6000):
        lp.add_row(rng.normal(size=250), 1.0 + rng.random())
    start = time.perf_counter()
    with pytest.raises(TimeLimitError, match="--time-limit 0.3 s ran out"):
        with time_budget(0.3):
            lp.minimize(rng.normal(size=250))    # about 100 s of simplex here without the budget
    assert time.perf_counter() - start < 0.3 + 5.0     # ~100 s without the budget; slack for a loaded machine


BIG_LP = textwrap.dedent("""
    import numpy as np
    from relucompile.numeric.lp import LinearProgram
    rng = np.random.default_rng(0)
    lp = LinearProgram(250)                 # about 100 s of simplex here without the slices
    for _ in range(6000):
        lp.add_row(rng.normal(size=250), 1.0 + rng.random())
    lp.set_limits(seconds=1000)          # a caller's limit: no iteration cap, only Ctrl-C ends it early
    print("solving", flush=True)
    print(lp.minimize(rng.normal(size=250)).status, flush=True)
""")


def test_ctrl_c_interrupts_a_long_lp(tmp_path):
    script = tmp_path / "big_lp.py"
    script.write_text(BIG_LP)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "solving"
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        waited = time.perf_counter() - sent
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err and "optimal" not in out, (out, err)
    assert waited < 2.0, waited      # GLPK returns to Python every 0.25 s (before: at the end of the solve)


def test_784_input_model_on_a_box_stops_at_the_time_limit(tmp_path):
    """Issue 18 case 1: the bounding-box step (2 x 784 LPs per node) ran 11 minutes past the limit."""
    model = tmp_path / "mnist_like.onnx"
    onnx.save(to_onnx_model(random_mlp(784, [100, 100], 10, seed=0)), str(model))
    code, err, seconds = run_cli([str(model), "--box", "0", "0.002", "-o", str(tmp_path / "s.onnx"),
                                  "--time-limit", "2", "-q"])
    assert_refused(code, err, "--time-limit 2 s ran out")
    assert seconds < 4 and not (tmp_path / "s.onnx").exists()


def test_loading_lowering_and_parsing_check_the_budget(tmp_path):
    from relucompile.api.compile import load_network
    from relucompile.frontends.vnnlib import parse_vnnlib
    with pytest.raises(TimeLimitError, match="while loading tiny_mlp.onnx"), time_budget(**EXPIRED):
        load_network(tiny_mlp_path())
    prop = tmp_path / "p.vnnlib"
    prop.write_text("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 -1))(assert (<= X_0 1))"
                    "(assert (>= Y_0 1))")
    with pytest.raises(TimeLimitError, match="while parsing"), time_budget(**EXPIRED):
        parse_vnnlib(prop)
    code, err, _ = run_cli([tiny_mlp_path(), "--box", "-1", "1", "-o", str(tmp_path / "s.onnx"),
                            "--time-limit", "1e-6"])
    assert_refused(code, err, "--time-limit 1e-06 s ran out while loading tiny_mlp.onnx")


@pytest.mark.parametrize("argv, needle", [
    (["report", tiny_mlp_path(), "--box", "-1", "1", "-o", "{tmp}/r.html", "--time-limit", "1e-6"], "--time-limit"),
    (["plot", tiny_mlp_path(), "--box", "-1", "1", "-o", "{tmp}/p.png", "--time-limit", "1e-6"], "--time-limit"),
    (["bounds", tiny_mlp_path(), "--box", "-1", "1", "--timeout", "1e-6"], "--time-limit")   # the hidden alias of --time-limit,
])
def test_report_plot_and_bounds_honour_tiny_limits(tmp_path, argv, needle):
    code, err, _ = run_cli([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert_refused(code, err, needle)
    assert os.listdir(tmp_path) == []


def test_cell_colouring_checks_the_budget():
    from relucompile.backends.plot import colour_cells
    squares = [np.array([[x, 0], [x + 1, 0], [x + 1, 1], [x, 1]], float) for x in range(5)]
    assert colour_cells(squares, 0.01).tolist() == [1, 0, 1, 0, 1]      # neighbours differ
    with pytest.raises(TimeLimitError, match="--time-limit"), time_budget(**EXPIRED):
        colour_cells(squares, 0.01)


def test_memory_budget_stops_the_enumeration_with_a_clear_message(tmp_path):
    from relucompile.api.compile import compile_network
    from relucompile.errors import MemoryLimitError
    from relucompile.ir.domain import Domain
    net = random_mlp(2, [24, 24, 24], 1, seed=0)          # 1,698 cells: the stores double past 64 KiB
    with pytest.raises(MemoryLimitError, match=r"--max-memory 30\)"), memory_budget(30):
        compile_network(net, Domain.box([-2, -2], [2, 2]))
    model = tmp_path / "m.onnx"
    onnx.save(to_onnx_model(net), str(model))
    code, err, _ = run_cli([str(model), "--box", "-2", "2", "-o", str(tmp_path / "s.onnx"), "--max-memory", "30"])
    assert_refused(code, err, "beyond the memory budget of 30 MiB", "raise --max-memory")
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]
    code, err, _ = run_cli([str(model), "--box", "-2", "2", "-o", str(tmp_path / "s.onnx"), "--max-memory", "nan"])
    assert_refused(code, err, "--max-memory")


def zip_bomb(path, blocks: int = 150) -> None:
    """A real zip bomb, ~2.4 MB expanding to 2.5 GB: one member of zeros, deflated as ``blocks``
    identical 16 MiB blocks (each encoded once; a full flush makes them byte-identical).  The CRC
    is left 0: the archive is refused before any member is read."""
    chunk = bytes(2**24)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    data = block * blocks + deflate.flush()
    name, size = b"bomb/data/0", blocks * len(chunk)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, len(data), size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, 0, len(data), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    with open(path, "wb") as f:
        f.write(local + data + central + end)


def test_zip_bomb_archive_is_refused_before_reading(tmp_path):
    bomb = tmp_path / "bomb.pt2"
    zip_bomb(bomb)
    assert bomb.stat().st_size < 3 * 2**20
    code, err, seconds = run_cli([str(bomb), "--box", "0", "1", "-o", str(tmp_path / "s.onnx")])
    assert_refused(code, err, "bomb.pt2", "zip bomb")
    assert seconds < 10 and sorted(os.listdir(tmp_path)) == ["bomb.pt2"]


ROLES = {"model": ["{f}", "-o", "{out}"],
         "--domain": [tiny_mlp_path(), "--domain", "{f}", "-o", "{out}"],
         "--vnnlib": [tiny_mlp_path(), "--vnnlib", "{f}", "-o", "{out}"],
         "verify property": ["verify", tiny_mlp_path(), "{f}"],
         "explain --inputs": ["explain", tiny_mlp_path(), "--inputs", "{f}"],
         "lens --inputs": ["lens", tiny_mlp_path(), "--inputs", "{f}"],
         "bounds --vnnlib": ["bounds", tiny_mlp_path(), "--vnnlib", "{f}"],
         "certify regions": ["certify", tiny_mlp_path(), "{f}"]}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_special_files_are_refused_as_inputs(tmp_path, role):
    folder = tmp_path / "in"
    folder.mkdir()
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    out = str(tmp_path / "s.onnx")
    for special in (str(fifo), "/dev/zero", str(folder)):
        argv = [a.replace("{f}", special).replace("{out}", out) for a in ROLES[role]]
        code, err, seconds = run_cli(argv)          # a read of the FIFO would block for ever
        assert_refused(code, err, special, "not a regular file")
        assert seconds < 10 and not os.path.exists(out)


def test_regular_input_file_names_the_kind(tmp_path):
    from relucompile.errors import regular_input_file
    with pytest.raises(UserError, match="no such file"):
        regular_input_file(tmp_path / "missing.onnx")
    with pytest.raises(UserError, match="a directory, not a regular file"):
        regular_input_file(tmp_path)
    link = tmp_path / "link.onnx"
    link.symlink_to(tiny_mlp_path())
    assert regular_input_file(link) == str(link)           # a link to a regular file is one
