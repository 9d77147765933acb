"""Seeded fuzzing of the command line with broken and hostile inputs (tests/fuzz_inputs.py).

For every variant, run in-process as the console script would: the exit code is 0 or 2 (never 1,
an internal error, nor a crash), stderr is at most one line with no traceback, a failed run
leaves no new or changed file, and the input files are untouched.  ``FUZZ_VARIANTS`` per input
kind (default 500) with fixed seeds: a failure names the seed that reproduces it.
"""
from __future__ import annotations

import contextlib
import io
import os
import random

import pytest

from fuzz_inputs import base_models, mutate_domain, mutate_model, mutate_vnnlib
from relucompile.cli.main import main

VARIANTS = int(os.environ.get("FUZZ_VARIANTS", "500"))
LIMITS = ["--max-regions", "60", "--time-limit", "10", "-q"]


def run_cli(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, err.getvalue()


def snapshot(folder) -> dict[str, bytes]:
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))}


def check_variant(tmp, argv: list[str], inputs: list[str], label: str, failures: list[str]) -> None:
    before = snapshot(tmp)
    code, err = run_cli(argv)
    after = snapshot(tmp)
    problems = []
    if code not in (0, 2):
        problems.append(f"exit {code}")
    if "Traceback" in err or err.count("\n") > 1:
        problems.append("more than one line on stderr")
    if code != 0 and after != before:
        problems.append(f"files changed after a failure: {sorted(set(after) ^ set(before)) or 'contents'}")
    if any(after.get(name) != before[name] for name in inputs):
        problems.append("an input changed")
    if problems:
        failures.append(f"{label}: {', '.join(problems)}: {err.strip()[:300]}")
    for name in set(after) - set(before):      # a successful run's outputs: keep the folder small
        os.unlink(os.path.join(tmp, name))


@pytest.mark.slow
def test_fuzz_models(tmp_path):
    models = base_models()
    failures: list[str] = []
    for seed in range(VARIANTS):
        rng = random.Random(seed)
        data = mutate_model(rng, models[seed % len(models)])
        path = tmp_path / "m.onnx"
        path.write_bytes(data)
        check_variant(str(tmp_path), [str(path), "--box", "0", "0.1", "-o", str(tmp_path / "s.onnx"), *LIMITS],
                      ["m.onnx"], f"model seed {seed}", failures)
        path.unlink()
    assert not failures, f"{len(failures)} of {VARIANTS} variants failed:\n" + "\n".join(failures[:30])


@pytest.mark.slow
def test_fuzz_domains_and_properties(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(base_models()[0].SerializeToString())
    failures: list[str] = []
    for seed in range(VARIANTS):
        rng = random.Random(seed)
        domain = tmp_path / "d.json"
        domain.write_text(mutate_domain(rng, 2))
        check_variant(str(tmp_path), [str(model), "--domain", str(domain), "-o", str(tmp_path / "s.onnx"), *LIMITS],
                      ["m.onnx", "d.json"], f"domain seed {seed}", failures)
        prop = tmp_path / "p.vnnlib"
        prop.write_text(mutate_vnnlib(rng, 2, 2), errors="surrogateescape")
        argv = ([str(model), "--vnnlib", str(prop), "-o", str(tmp_path / "s.onnx"), *LIMITS] if seed % 2 else
                ["verify", str(model), str(prop), "--timeout", "10"])
        check_variant(str(tmp_path), argv, ["m.onnx", "p.vnnlib"], f"vnnlib seed {seed}", failures)
        domain.unlink()
        prop.unlink()
    assert not failures, f"{len(failures)} of {2 * VARIANTS} variants failed:\n" + "\n".join(failures[:30])
