"""Does relucompile cap numpy's BLAS threads itself?  ``relucompile verify`` on ACAS Xu 1_1 prop_3
with the default environment against ``OPENBLAS_NUM_THREADS=1``; the ratio must stay <= 1.2.

Before the cap (relucompile.numeric.threads) the default run took 25.6 s and the one-thread run
8.3 s: numpy's BLAS threads competed with the tool's work on small matrix products.

Usage (from the repository root; the data folder is $RELUCOMPILE_DATA, else ../shared/data):

    python benchmarks/blas_threads.py                 # one run of each, prints the table
    python benchmarks/blas_threads.py --repeat 3      # the best of 3 of each
    python benchmarks/blas_threads.py --uncapped      # also the API without the cap (the old figure)

Example:
    >>> environment(one_thread=True)["OPENBLAS_NUM_THREADS"]
    '1'
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("RELUCOMPILE_DATA", os.path.join(ROOT, "..", "shared", "data"))
MODEL = os.path.join(DATA, "acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
PROPERTY = os.path.join(DATA, "acasxu", "prop_3.vnnlib")
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
MAX_RATIO = 1.2


def environment(one_thread: bool) -> dict[str, str]:
    """The process environment without any BLAS thread setting, or with ``OPENBLAS_NUM_THREADS=1``."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    if one_thread:
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


#: the same decision through the Python API, which does not cap the threads: the figure before the cap
UNCAPPED = ("import sys\n"
            "from relucompile.api.compile import load_network\n"
            "from relucompile.frontends.vnnlib import parse_vnnlib\n"
            "from relucompile.verify.run import verify_property\n"
            "print(verify_property(load_network(sys.argv[1]), parse_vnnlib(sys.argv[2]), model=sys.argv[1]).verdict)\n")


def timed_verify(one_thread: bool, uncapped: bool = False) -> tuple[float, str]:
    """(wall seconds, verdict) of one ``python -m relucompile verify MODEL PROP`` process (``uncapped``:
    the same search through the API, whose BLAS threads are not capped)."""
    start = time.perf_counter()
    command = ["-c", UNCAPPED] if uncapped else ["-m", "relucompile", "verify"]
    done = subprocess.run([sys.executable, *command, MODEL, PROPERTY], cwd=ROOT,
                          env=environment(one_thread), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    verdict = done.stdout.splitlines()[0] if done.stdout else f"exit {done.returncode}: {done.stderr.strip()}"
    return seconds, verdict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=1, help="runs of each setting; the best counts (default 1)")
    p.add_argument("--uncapped", action="store_true",
                   help="also time the API without the cap (default threads), as the command ran before")
    args = p.parse_args(argv)
    if not (os.path.isfile(MODEL) and os.path.isfile(PROPERTY)):
        print(f"skipped: {MODEL} or {PROPERTY} not found (set RELUCOMPILE_DATA)")
        return 0
    best = {}
    for label, one_thread in (("default", False), ("OPENBLAS_NUM_THREADS=1", True)):
        runs = [timed_verify(one_thread) for _ in range(args.repeat)]
        best[label] = min(s for s, _ in runs)
        print(f"{label:<24} {best[label]:7.2f} s   verdict {runs[0][1]}   (cores: {os.cpu_count()})")
    if args.uncapped:
        seconds, verdict = min(timed_verify(False, uncapped=True) for _ in range(args.repeat))
        print(f"{'uncapped (API, before)':<24} {seconds:7.2f} s   verdict {verdict}")
    ratio = best["default"] / best["OPENBLAS_NUM_THREADS=1"]
    print(f"ratio default / one thread: {ratio:.2f} (limit {MAX_RATIO})")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
