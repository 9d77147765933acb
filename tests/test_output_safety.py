"""One output-safety layer (relucompile.backends.files.RunOutputs): an output never replaces an
input or a special file, outputs of a run are committed together, and an interrupted run leaves
neither temporary files nor half of its outputs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from relucompile.backends.files import RunOutputs, atomic_write
from relucompile.errors import UserError


def test_output_equal_to_an_input_is_refused_whatever_the_path(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    monkeypatch.chdir(tmp_path)
    os.link(model, tmp_path / "hard.onnx")
    for name in ("m.onnx", "./m.onnx", str(model), "hard.onnx"):
        with pytest.raises(UserError, match="is the input"):
            RunOutputs(inputs=[str(model)]).declare(name)
    assert model.read_bytes() == b"model"


def test_the_same_output_twice_is_refused(tmp_path):
    outputs = RunOutputs()
    outputs.declare(str(tmp_path / "x.onnx"))
    with pytest.raises(UserError, match="named twice"):
        outputs.declare(str(tmp_path / "." / "x.onnx"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_and_links_are_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "real.json"
    target.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for path, reason in ((fifo, "not a regular file"), (link, "symbolic link"), ("/dev/null", "not a regular file"),
                         (tmp_path, "folder")):
        with pytest.raises(UserError, match=reason):
            atomic_write(str(path), lambda f: f.write(b"x"))
    assert target.read_text() == "keep" and link.is_symlink() and stat_is_fifo(fifo)


def stat_is_fifo(path) -> bool:
    import stat
    return stat.S_ISFIFO(os.lstat(path).st_mode)


def test_permissions_of_a_replaced_file_are_kept(tmp_path):
    path = tmp_path / "secret.json"
    path.write_text("old")
    os.chmod(path, 0o600)
    atomic_write(str(path), lambda f: f.write("new"), text=True)
    assert path.read_text() == "new" and (os.stat(path).st_mode & 0o777) == 0o600


def test_a_failed_run_leaves_old_outputs_and_no_new_or_temporary_file(tmp_path):
    old = tmp_path / "s.onnx"
    old.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with RunOutputs() as outputs:
            outputs.write(str(old), lambda f: f.write(b"new"))
            outputs.write(str(tmp_path / "regions.json"), lambda f: f.write(b"{}"))
            raise RuntimeError("disk full")
    assert old.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["s.onnx"]


def test_sigterm_during_a_write_removes_the_temporary_files(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from relucompile.backends.files import RunOutputs, signals_raise
        with signals_raise(), RunOutputs() as outputs:
            outputs.write({str(tmp_path / 'a.onnx')!r}, lambda f: f.write(b"a"))
            def slow(f):
                f.write(b"partial")
                f.flush()
                print("writing", flush=True)
                time.sleep(60)
            outputs.write({str(tmp_path / 'r.json')!r}, slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    time.sleep(0.1)
    assert os.listdir(tmp_path) == []


# -- the command line: every writer goes through one run's RunOutputs ------------------------------

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "compiler", "examples", "tiny_mlp.onnx")


def relucompile(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "relucompile", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("argv", [
    ["m.onnx", "--box", "-1", "1", "-o", "m.onnx"],
    ["m.onnx", "--box", "-1", "1", "-o", "./m.onnx"],
    ["m.onnx", "--box", "-1", "1", "-o", "s.onnx", "--regions", "m.onnx"],
    ["m.onnx", "--box", "-1", "1", "-o", "x.onnx", "--regions", "x.onnx"],
    ["explain", "m.onnx", "--at", "0.1,0.2", "--json", "-o", "m.onnx"],
    ["report", "m.onnx", "--box", "-1", "1", "-o", "m.onnx"],
])
def test_an_output_never_destroys_an_input_or_another_output(tmp_path, argv):
    import shutil
    shutil.copy(EXAMPLE, tmp_path / "m.onnx")
    before = snapshot(tmp_path)
    done = relucompile(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before


def test_verify_result_file_may_not_be_the_model(tmp_path):
    import shutil
    shutil.copy(EXAMPLE, tmp_path / "m.onnx")
    (tmp_path / "p.vnnlib").write_text("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)"
                                       "(declare-const Y_1 Real)(assert (>= X_0 -1))(assert (<= X_0 1))"
                                       "(assert (>= X_1 -1))(assert (<= X_1 1))(assert (>= Y_0 100))")
    before = snapshot(tmp_path)
    done = relucompile("verify", "m.onnx", "p.vnnlib", "--result-file", "m.onnx", cwd=tmp_path)
    assert done.returncode == 2 and snapshot(tmp_path) == before, done.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_named_as_outputs_stay(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    for regions in ("fifo.json", "link.json", "/dev/null"):
        done = relucompile(EXAMPLE, "--box", "-1", "1", "-o", "s.onnx", "--regions", regions, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["fifo.json", "link.json", "real.json"]
    assert (tmp_path / "link.json").is_symlink()


def test_a_failing_run_keeps_previous_outputs(tmp_path):
    (tmp_path / "s.onnx").write_bytes(b"previous model")
    (tmp_path / "r.json").write_bytes(b"previous regions")
    done = relucompile(EXAMPLE, "--box", "-1", "1", "-o", "s.onnx", "--regions", "r.json", "--max-regions", "5",
                       cwd=tmp_path)
    assert done.returncode == 2
    assert snapshot(tmp_path) == {"r.json": b"previous regions", "s.onnx": b"previous model"}


def test_sigterm_mid_run_leaves_no_file(tmp_path):
    from relucompile.examples.random_nets import random_mlp, to_onnx_model
    (tmp_path / "big.onnx").write_bytes(to_onnx_model(random_mlp(4, [32, 32, 32], 2, seed=0)).SerializeToString())
    proc = subprocess.Popen([sys.executable, "-m", "relucompile", "big.onnx", "--box", "-1", "1", "-o", "s.onnx",
                             "--regions", "r.json"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert "no output written" in err
    assert sorted(os.listdir(tmp_path)) == ["big.onnx"]
