"""Run `relucompile verify` on the ACAS Xu benchmark (186 instances) and the VNN-COMP test instances.

Every instance of ``acasxu/acasxu_instances.csv`` is decided with its VNN-COMP timeout (116 s)
and compared with ``known_results.csv`` (unsat = holds, sat = violated); counterexamples are
re-checked with onnxruntime on the source model by the verifier itself.  The table (per-instance
verdict, time, correct?, how the counterexample was found, boxes searched) and the total / median
/ worst times are written to ``benchmarks/ACASXU_VERIFY.md`` after every instance, so a partial
run leaves a valid (partial) table.

Usage (from the repository root):

    python benchmarks/acasxu_verify.py                        # all 186 + the 5 test instances
    python benchmarks/acasxu_verify.py --only prop_3 --only 1_1   # instances matching any --only
    python benchmarks/acasxu_verify.py --limit 10 --timeout 30 --out /tmp/acas.md

Example:
    >>> instance_matches(("ACASXU_run2a_1_1_batch_2000.onnx", "prop_3.vnnlib"), ["1_1:prop_3"])
    True
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
#: the real-model data folder (not shipped): $RELUCOMPILE_DATA, else the shared checkout beside the repository
DATA = os.environ.get("RELUCOMPILE_DATA", os.path.join(ROOT, "..", "shared", "data"))

from relucompile.backends.files import atomic_write  # noqa: E402
from relucompile.verify.run import verify_property  # noqa: E402
from relucompile.verify.search import PARALLEL_AFTER_BOXES  # noqa: E402
from relucompile.frontends.vnnlib import parse_vnnlib  # noqa: E402
from relucompile.api.compile import load_network  # noqa: E402
from relucompile.numeric.memory import keep_freed_memory  # noqa: E402

EXPECTED = {"unsat": "holds", "sat": "violated"}


def instance_matches(instance: tuple[str, str], only: list[str]) -> bool:
    """Whether ``(onnx, vnnlib)`` matches one of the ``--only`` patterns.

    A pattern ``NET:PROP`` needs both parts (``1_1:prop_3``); a plain pattern matches either the
    network id (``1_1``), the property (``prop_3``) or a test file name (``test_sat``).
    """
    if not only:
        return True
    onnx, vnnlib = instance
    net = onnx.replace("ACASXU_run2a_", "").replace("_batch_2000.onnx", "")
    prop = vnnlib.replace(".vnnlib", "")
    for pattern in only:
        if ":" in pattern:
            a, b = pattern.split(":", 1)
            if a == net and b == prop:
                return True
        elif pattern in (net, prop) or pattern in onnx or pattern == vnnlib:
            return True
    return False


def load_instances(data: str, with_tests: bool) -> list[dict]:
    """The ACAS Xu instances (and optionally the VNN-COMP test ones) with their known verdicts."""
    acas = os.path.join(data, "acasxu")
    known = {}
    with open(os.path.join(acas, "known_results.csv")) as f:
        for row in csv.DictReader(f):
            known[(row["onnx"], row["vnnlib"])] = EXPECTED[row["vnncomp2022_true_result"]]
    out = []
    with open(os.path.join(acas, "acasxu_instances.csv")) as f:
        for onnx, vnnlib, timeout in csv.reader(f):
            out.append(dict(folder=acas, onnx=onnx, vnnlib=vnnlib, timeout=float(timeout),
                            expected=known[(onnx, vnnlib)]))
    test = os.path.join(data, "vnncomp-test")
    if with_tests and os.path.isdir(test):
        with open(os.path.join(test, "instances.csv")) as f:
            for onnx, vnnlib, timeout in csv.reader(f):
                expected = "violated" if onnx == "test_sat.onnx" else "holds"   # data/README.md
                out.append(dict(folder=test, onnx=onnx, vnnlib=vnnlib, timeout=float(timeout), expected=expected))
    return out


def run_instance(inst: dict, timeout: float | None, jobs: int = 1) -> dict:
    """Decide one instance; returns the table row."""
    model = os.path.join(inst["folder"], inst["onnx"])
    start = time.perf_counter()
    net = load_network(model)
    prop = parse_vnnlib(os.path.join(inst["folder"], inst["vnnlib"]))
    result = verify_property(net, prop, timeout=timeout or inst["timeout"], model=model, jobs=jobs)
    seconds = time.perf_counter() - start
    return dict(inst, verdict=result.verdict, seconds=seconds, correct=result.verdict == inst["expected"],
                found_by=result.stats.get("found_by", ""), boxes=result.stats.get("boxes", 0),
                cells=result.stats.get("cells", 0), lps=result.stats.get("triangle_lps", 0),
                reason=result.reason)


def render(rows: list[dict], total_planned: int, command: str, started: str, jobs: int = 1) -> str:
    """The markdown report: a summary per benchmark set, then one line per instance."""
    lines = ["# ACAS Xu verification benchmark", "",
             f"Command: `{command}`  ", f"Started: {started}; machine: {platform.machine()}, "
             f"{os.cpu_count()} cores (shared with other engineers while measuring), "
             f"Python {platform.python_version()}, "
             + ("one process" if jobs == 1 else f"{jobs} processes once a search passes "
                f"{PARALLEL_AFTER_BOXES} boxes (`--jobs {jobs}`)") + ", OPENBLAS_NUM_THREADS=1.  ",
             "Time per instance: loading the ONNX model and the VNN-LIB file plus `verify_property` "
             "(falsification, exact search, onnxruntime re-check of the counterexample).  ",
             f"Instances run: {len(rows)} of {total_planned} planned.", "",
             "| set | instances | correct | wrong | unknown | holds / violated | total | median | worst |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, subset in (("ACAS Xu", [r for r in rows if "ACASXU" in r["onnx"]]),
                          ("VNN-COMP test", [r for r in rows if "ACASXU" not in r["onnx"]])):
        if not subset:
            continue
        times = [r["seconds"] for r in subset]
        worst = max(subset, key=lambda r: r["seconds"])
        lines.append(f"| {label} | {len(subset)} | {sum(r['correct'] for r in subset)} | "
                     f"{sum(not r['correct'] and r['verdict'] != 'unknown' for r in subset)} | "
                     f"{sum(r['verdict'] == 'unknown' for r in subset)} | "
                     f"{sum(r['verdict'] == 'holds' for r in subset)} / {sum(r['verdict'] == 'violated' for r in subset)} | "
                     f"{sum(times):.2f} s | {statistics.median(times):.2f} s | "
                     f"{worst['seconds']:.2f} s ({_name(worst)}) |")
    over = [r for r in rows if r["seconds"] > r["timeout"]]
    lines += ["", f"Instances over their VNN-COMP timeout: {len(over)}.", "",
              "| network | property | expected | verdict | correct | time (s) | found by | boxes | triangle LPs | exact cells |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        net = r["onnx"].replace("ACASXU_run2a_", "").replace("_batch_2000.onnx", "")
        lines.append(f"| {net} | {r['vnnlib'].replace('.vnnlib', '')} | {r['expected']} | {r['verdict']} | "
                     f"{'yes' if r['correct'] else 'NO'} | {r['seconds']:.2f} | {r['found_by']} | {r['boxes']} | "
                     f"{r['lps']} | {r['cells']} |")
    return "\n".join(lines) + "\n"


def _name(row: dict) -> str:
    return row["onnx"].replace("ACASXU_run2a_", "").replace("_batch_2000.onnx", "") + " " + row["vnnlib"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA,
                   help="folder with acasxu/ and vnncomp-test/ (default: $RELUCOMPILE_DATA)")
    p.add_argument("--only", action="append", default=[],
                   help="run only matching instances: NET (1_1), PROP (prop_3), NET:PROP (3_3:prop_2) or a "
                        "test model name (test_sat); repeatable")
    p.add_argument("--limit", type=int, help="run at most N instances (after --only), e.g. --limit 10")
    p.add_argument("--timeout", type=float, help="seconds per instance (default: the CSV's, 116 s)")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes per instance for a search that runs past a thousand boxes (default 1), e.g. --jobs 2")
    p.add_argument("--no-tests", action="store_true", help="skip the five VNN-COMP test instances")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "ACASXU_VERIFY.md"),
                   help="markdown report (default benchmarks/ACASXU_VERIFY.md)")
    args = p.parse_args(argv)
    keep_freed_memory()                     # as `relucompile verify` does
    instances = [i for i in load_instances(args.data, not args.no_tests)
                 if instance_matches((i["onnx"], i["vnnlib"]), args.only)]
    if args.limit is not None:
        instances = instances[:args.limit]
    command = "python benchmarks/acasxu_verify.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M")
    rows = []
    for inst in instances:
        row = run_instance(inst, args.timeout, args.jobs)
        rows.append(row)
        print(f"{_name(row):40s} {row['verdict']:9s} expected {row['expected']:9s} "
              f"{'ok ' if row['correct'] else 'BAD'} {row['seconds']:7.2f} s {row['found_by']} {row['reason']}",
              flush=True)
        text = render(rows, len(instances), command.strip(), started, args.jobs)
        atomic_write(args.out, lambda f: f.write(text), text=True)
    wrong = [r for r in rows if not r["correct"] and r["verdict"] != "unknown"]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
