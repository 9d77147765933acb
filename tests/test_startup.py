"""Start-up cost: commands import only what they use.

The check is on the set of imported modules, not on a clock (timings belong in benchmarks/):
`verify` on a small property must decide it without importing the region engines, numba or
scipy.spatial (together ~1.5 s of process time before the work starts), and the installed
ml_dtypes must not be the 0.7 series (its import alone takes ~1.1 s, paid by every command that
reads ONNX).
"""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

from relucompile.examples import tiny_mlp_path

PROPERTY = """
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 0.0))
(assert (<= X_0 0.1))
(assert (>= X_1 0.0))
(assert (<= X_1 0.1))
(assert (>= Y_0 1000.0))
"""

HEAVY = ("numba", "scipy.spatial", "relucompile.regions.vertex_engine", "relucompile.regions.split",
         "relucompile.api.compile", "distributed", "dask", "ray")
CLUSTER = ("distributed", "dask", "ray")     # imported by --cluster alone


def test_verify_imports_no_engine(tmp_path):
    prop = tmp_path / "p.vnnlib"
    prop.write_text(PROPERTY)
    script = (
        "import sys, json\n"
        "from relucompile.cli.main import main\n"
        "try:\n"
        f"    code = main(['verify', {str(tiny_mlp_path())!r}, {str(prop)!r}])\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    code, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert "holds" in done.stdout, done.stdout + done.stderr
    assert code == 0
    assert heavy == [], f"verify imported {heavy}"


def test_compile_without_cluster_imports_no_distributed_engine(tmp_path):
    script = (
        "import sys, json\n"
        "from relucompile.cli.main import main\n"
        f"code = main([{str(tiny_mlp_path())!r}, '--box', '-1', '1', '-o', {str(tmp_path / 's.onnx')!r}, "
        f"'--regions', {str(tmp_path / 'cells.parquet')!r}, '--jobs', '2', '-q'])\n"
        f"print(json.dumps([code, [m for m in {CLUSTER!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0, done.stderr
    assert loaded == [], f"compile without --cluster imported {loaded}"


def test_ml_dtypes_is_not_the_slow_series():
    major, minor = (int(part) for part in version("ml_dtypes").split(".")[:2])
    assert (major, minor) < (0, 7), "ml_dtypes 0.7 imports in ~1.1 s; pyproject pins <0.7"
