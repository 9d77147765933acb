"""Run `relucompile verify` on a VNN-COMP category and print a table against the known results.

A category folder holds ``onnx/`` and ``vnnlib/`` (or the files themselves), ``instances.csv``
(``onnx,vnnlib,timeout``) and optionally ``known_results.csv``: either
``onnx,vnnlib,result,timeout_s,nnenum,nnenum_s,...`` (result ``holds``/``violated``, nnenum ``h``/``v``)
or ACAS Xu's ``...,onnx,vnnlib,vnncomp2022_true_result,...`` (``unsat``/``sat``).  Every instance is
one fresh process (``relucompile verify --timeout CAP --json``), as in the competition: the time
is the process's wall time, start-up and loading included; the verifier re-checks every
counterexample with onnxruntime itself.  A verdict that disagrees with a known result is *wrong*.

Usage (from the repository root):

    python benchmarks/vnncomp_category.py ../shared/data/mnist_fc --only 256x2 --cap 60
    python benchmarks/vnncomp_category.py ../shared/data/vnncomp-test --cap 30
    python benchmarks/vnncomp_category.py ../shared/data/mnist_fc --known-only --limit 10 --method relu-bab

Example:
    >>> known_verdict({"result": "holds"}), known_verdict({"vnncomp2022_true_result": "sat"})
    ('holds', 'violated')
    >>> nnenum_time({"nnenum": "h", "nnenum_s": "0.4"}), nnenum_time({"nnenum": "timeout", "nnenum_s": ""})
    (0.4, None)
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERDICTS = {"holds": "holds", "unsat": "holds", "violated": "violated", "sat": "violated"}


def known_verdict(row: dict) -> str | None:
    """'holds' / 'violated' from a known_results row, or None when unknown."""
    for key in ("result", "vnncomp2022_true_result", "vnncomp2021_consensus"):
        if row.get(key, "").strip() in VERDICTS:
            return VERDICTS[row[key].strip()]
    return None


def nnenum_time(row: dict) -> float | None:
    """nnenum's time on the instance when it decided it, else None."""
    if row.get("nnenum", "").strip() in ("h", "v", "holds", "violated") and row.get("nnenum_s", "").strip():
        return float(row["nnenum_s"])
    return None


def _read(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def instances(folder: str) -> list[dict]:
    """Rows ``{onnx, vnnlib, timeout, known, nnenum_s}`` of the category, in instances.csv order
    (known_results.csv rows are matched by their onnx/vnnlib file names)."""
    known: dict[tuple[str, str], dict] = {}
    known_path = os.path.join(folder, "known_results.csv")
    if os.path.exists(known_path):
        for row in _read(known_path):
            known[(os.path.basename(row["onnx"]), os.path.basename(row["vnnlib"]))] = row
    rows = []
    with open(os.path.join(folder, "instances.csv"), newline="") as f:
        for fields in csv.reader(f):
            if len(fields) < 2 or fields[0] == "onnx":
                continue
            key = (os.path.basename(fields[0]), os.path.basename(fields[1]))
            k = known.get(key, {})
            rows.append(dict(onnx=fields[0], vnnlib=fields[1], timeout=float(fields[2]) if len(fields) > 2 else None,
                             known=known_verdict(k) if k else None, nnenum_s=nnenum_time(k) if k else None,
                             nnenum=k.get("nnenum", "") if k else ""))
    return rows


def run_instance(folder: str, row: dict, cap: float, method: str) -> dict:
    """One fresh ``relucompile verify`` process: verdict, wall seconds, how it was decided."""
    exe = os.path.join(os.path.dirname(sys.executable), "relucompile")
    cmd = [exe if os.path.exists(exe) else sys.executable, *([] if os.path.exists(exe) else ["-m", "relucompile.cli.main"]),
           "verify", os.path.join(folder, row["onnx"]), os.path.join(folder, row["vnnlib"]),
           "--timeout", str(cap), "--json", "--method", method]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap + 30, env=env)
    except subprocess.TimeoutExpired:
        return dict(verdict="killed", seconds=time.perf_counter() - start, how="")
    seconds = time.perf_counter() - start
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return dict(verdict="error", seconds=seconds, how=proc.stderr.strip().splitlines()[-1:] or "")
    stats = out.get("stats", {})
    method_used = stats.get("method", "")
    how = f"{method_used}/{stats.get('found_by', 'search')}" if out["verdict"] != "unknown" else out.get("reason", "")
    return dict(verdict=out["verdict"], seconds=seconds, how=how)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="the category folder (instances.csv, known_results.csv, onnx/, vnnlib/)")
    p.add_argument("--cap", type=float, default=120.0, help="seconds per instance (default 120)")
    p.add_argument("--only", action="append", default=[], help="run instances whose onnx/vnnlib contains this text")
    p.add_argument("--known-only", action="store_true", help="skip instances without a known verdict")
    p.add_argument("--limit", type=int, help="at most this many instances")
    p.add_argument("--method", default="auto", help="relucompile verify --method (default auto)")
    args = p.parse_args(argv)
    rows = instances(args.folder)
    if args.only:
        rows = [r for r in rows if any(o in r["onnx"] or o in r["vnnlib"] for o in args.only)]
    if args.known_only:
        rows = [r for r in rows if r["known"]]
    if args.limit:
        rows = rows[:args.limit]
    print(f"| instance | known | ours | s | decided by | nnenum s |")
    print(f"|---|---|---|---|---|---|")
    results = []
    for row in rows:
        cap = min(args.cap, row["timeout"] or args.cap)
        res = run_instance(args.folder, row, cap, args.method)
        res.update(row)
        results.append(res)
        nn = f"{row['nnenum_s']:.1f}" if row["nnenum_s"] is not None else (row["nnenum"] or "-")
        print(f"| {os.path.basename(row['onnx'])} {os.path.basename(row['vnnlib'])} | {row['known'] or '?'} | "
              f"{res['verdict']} | {res['seconds']:.1f} | {res['how']} | {nn} |", flush=True)
    decided = [r for r in results if r["verdict"] in ("holds", "violated")]
    wrong = [r for r in decided if r["known"] and r["verdict"] != r["known"]]
    ours = [r["seconds"] for r in decided]
    theirs = [r["nnenum_s"] for r in results if r["nnenum_s"] is not None]
    print()
    print("| | instances | decided | wrong | median s (decided) | total s (decided) |")
    print("|---|---|---|---|---|---|")
    print(f"| ours | {len(results)} | {len(decided)} | {len(wrong)} | "
          f"{statistics.median(ours) if ours else float('nan'):.1f} | {sum(ours):.1f} |")
    print(f"| nnenum (known_results) | {len(results)} | {len(theirs)} | - | "
          f"{statistics.median(theirs) if theirs else float('nan'):.1f} | {sum(theirs):.1f} |")
    for r in wrong:
        print(f"WRONG: {r['onnx']} {r['vnnlib']}: ours {r['verdict']}, known {r['known']}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
