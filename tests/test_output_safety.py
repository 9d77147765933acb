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
        signals_raise()
        with RunOutputs() as outputs:
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
