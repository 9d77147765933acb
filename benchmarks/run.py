"""The benchmark suite: our region enumeration against affinitree, and the shallow model's speed.

``python -m benchmarks`` (or ``python benchmarks/run.py``) runs every case of
:data:`benchmarks.cases.CASES`: seeded random MLPs of docs/design.md section 5 and ACAS Xu 1_1 on
the prop_3 and prop_4 boxes.  For each case, three fresh processes (so peak memory is per case
and per tool, and a timeout kills cleanly):

1. ours: cells, enumeration seconds (start-up and model loading reported apart), cells/s, LPs
   solved, peak resident memory; then the shallow net and its ONNX model;
2. affinitree (optional peer) on the same network and domain: terminals, seconds, cells/s, peak
   memory; the time ratio ours/affinitree; a count difference is explained by measuring the
   Chebyshev radius of affinitree's cells (slivers thinner than our tolerance);
3. onnxruntime throughput, batch 1 and 1024, of the source model against the shallow model.

Results: a Markdown report on stdout (``--markdown FILE`` too) and ``--json FILE``, both written
after every case, so a long run keeps what it has measured.

Example:
    >>> rc = main(["--quick", "--cases", "quick_d2_4x4", "--no-affinitree", "--min-seconds", "0.01"])  # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import report  # noqa: E402
from benchmarks.cases import CASES, EXTRA_CASES, QUICK_CASES, BenchCase, find_case  # noqa: E402
from relucompile.errors import UserError  # noqa: E402

SCHEMA = "relucompile-benchmark/1"

EPILOG = """examples:
  python -m benchmarks                                   # the full suite, 600 s per case and tool
  python -m benchmarks --cases d2_16x16,d4_16x16 --json out.json --markdown out.md
  python -m benchmarks --quick --no-affinitree           # tiny cases, a few seconds
  python -m benchmarks --cases acasxu_1_1_prop_3 --jobs 2 --timeout 1200
  python -m benchmarks --list                            # the case names
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Benchmark region enumeration against affinitree (cells, seconds, cells/s, LPs, peak "
                    "memory) and the shallow ONNX model against the source model (onnxruntime inputs/s).")
    parser.add_argument("--cases", metavar="NAME,...",
                        help="comma-separated case names (default: the full suite, or the quick one with "
                             "--quick); e.g. --cases d2_16x16,acasxu_1_1_prop_4; see --list")
    parser.add_argument("--quick", action="store_true",
                        help="tiny cases (a 2-input 4x4 net on a box and on R^2) and short throughput "
                             "runs, for the smoke test; e.g. --quick --no-affinitree")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="seconds allowed per case and tool (default 600): our engine stops itself "
                             "after S s of enumeration; a peer process is killed after S s plus the time "
                             "allowed for its sliver analysis; e.g. --timeout 120")
    parser.add_argument("--no-affinitree", action="store_true",
                        help="do not run affinitree (it is skipped anyway, with a note, when not installed)")
    parser.add_argument("--no-throughput", action="store_true",
                        help="skip the shallow model and its onnxruntime throughput (enumeration only)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON, e.g. --json results.json")
    parser.add_argument("--markdown", metavar="FILE", help="write the Markdown report, e.g. --markdown results.md")
    parser.add_argument("--engine", default="auto",
                        help="enumeration engine of relucompile.regions.enumerate.ENGINES (default auto: vertex on boxes and R^d, else split); e.g. --engine split")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="processes for our enumeration, if the engine accepts 'jobs' (default 1); e.g. --jobs 2")
    parser.add_argument("--min-seconds", type=float, default=None, metavar="S",
                        help="time spent measuring each throughput figure (default 1, 0.05 with --quick)")
    parser.add_argument("--memory-gb", type=float, default=4.0, metavar="GB",
                        help="measure the shallow model at a smaller batch when batch 1024 would need more "
                             "than GB of onnxruntime intermediates (default 4; batch x cells x facets); "
                             "e.g. --memory-gb 8")
    parser.add_argument("--workdir", metavar="DIR",
                        help="keep the worker logs and ONNX models here (default: a temporary folder, removed)")
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    parser.add_argument("--render", metavar="FILE.json",
                        help="print (and --markdown) the report of an earlier --json file without running "
                             "anything; e.g. --render results.json --markdown results.md")
    return parser.parse_args(argv)


def select_cases(args: argparse.Namespace) -> list[BenchCase]:
    """The cases to run, in order; UserError for unknown names.

    Example:
        >>> [c.name for c in select_cases(parse_args(["--cases", "d3_16x16,d2_16x16"]))]
        ['d3_16x16', 'd2_16x16']
    """
    if args.cases:
        names = [n.strip() for n in args.cases.split(",") if n.strip()]
        if not names:
            raise UserError("--cases: give at least one case name (see --list)")
        return [find_case(n) for n in names]
    return list((QUICK_CASES if args.quick else CASES).values())


def check_options(args: argparse.Namespace) -> None:
    """Refuse impossible options before any case runs (one-line UserError)."""
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.min_seconds is not None and args.min_seconds <= 0:
        raise UserError("--min-seconds must be positive")
    from relucompile.regions.enumerate import ENGINES, enumerate_regions
    if args.engine not in ENGINES:
        raise UserError(f"--engine {args.engine}: unknown engine; known: {', '.join(ENGINES)}")
    if args.jobs != 1:
        import inspect
        if "jobs" not in inspect.signature(enumerate_regions).parameters:
            raise UserError("--jobs: this engine version has no parallel mode (enumerate_regions takes no 'jobs')")
    for path in (args.json, args.markdown):
        if path:
            from relucompile.backends.files import check_writable
            check_writable(path)


def run_worker(mode: str, case: str, folder: str, extra: list[str], hard_timeout: float) -> dict:
    """Run one worker process; its JSON record, with ``status`` 'timeout' or 'error' if it was
    killed or crashed (the log's last lines as the error)."""
    os.makedirs(folder, exist_ok=True)
    out, log = os.path.join(folder, f"{mode}.json"), os.path.join(folder, f"{mode}.log")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    cmd = [sys.executable, "-m", "benchmarks.worker", mode, case, out, "--spawned", repr(time.time()), *extra]
    killed = False
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=hard_timeout)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(proc.pid, signal.SIGKILL)   # the worker's own process group (its --jobs children too)
            proc.wait()
    record = {}
    if os.path.exists(out):
        with open(out) as f:
            record = json.load(f)
    if killed:
        if record.get("status") == "ok":
            record["note"] = f"killed after {hard_timeout:.0f} s in a later phase"
        else:
            record.update(status="timeout", error=f"killed after {hard_timeout:.0f} s")
    elif not record or proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-600:].strip().replace("\n", " | ")
        reason = f"exit code {proc.returncode}" if proc.returncode >= 0 else f"killed by signal {-proc.returncode}"
        record.update(status="error", error=f"{reason}: {tail}" if tail else reason)
    return record


def compare(ours: dict, peer: dict) -> dict:
    """Cell counts and time ratio ours/affinitree; a difference comes with its explanation.

    Example:
        >>> compare({"status": "ok", "cells": 10, "seconds": 1.0}, {"status": "ok", "cells": 10, "seconds": 4.0})
        {'cells_equal': True, 'difference': 0, 'time_ratio': 0.25}
    """
    if ours.get("status") != "ok" or peer.get("status") != "ok":
        return {}
    diff = peer["cells"] - ours["cells"]
    out = {"cells_equal": diff == 0, "difference": diff,
           "time_ratio": ours["seconds"] / peer["seconds"] if peer["seconds"] > 0 else None}
    if diff:
        out["explanation"] = explain_difference(ours, peer)
    return out


def explain_difference(ours: dict, peer: dict) -> str:
    """Why affinitree counts ``peer['cells'] - ours['cells']`` more cells, from the sliver report.

    Example:
        >>> explain_difference({"cells": 9, "tolerance": 1e-8},
        ...                    {"cells": 10, "slivers": {"slivers": 1, "tolerance": 1e-8, "complete": True,
        ...                     "smallest": [{"radius": 1e-12, "centre": [0.5, 0.25]}]}})
        'affinitree has 1 more cells: 1 of its cells are slivers (Chebyshev radius <= 1e-08, which our engine drops); the thinnest has radius 1e-12 at (0.5, 0.25); explained'
    """
    diff, tol = peer["cells"] - ours["cells"], ours.get("tolerance")
    if diff < 0:
        radii = ours.get("smallest_radii") or []
        thin = ", ".join(f"{r:.2g}" for r in radii[:3])
        return (f"we count {-diff} more cells than affinitree (our thinnest cells have radii {thin}; "
                f"affinitree prunes thin branches with its own tolerance)")
    slivers = peer.get("slivers")
    if not slivers:
        return f"affinitree has {diff} more cells (no sliver analysis: it was cut short)"
    text = (f"affinitree has {diff} more cells: {slivers['slivers']} of its cells are slivers "
            f"(Chebyshev radius <= {slivers['tolerance']:g}, which our engine drops)")
    if slivers["smallest"]:
        thin = slivers["smallest"][0]
        where = ", ".join(f"{v:.6g}" for v in thin["centre"])
        text += f"; the thinnest has radius {thin['radius']:.2g} at ({where})"
    if not slivers.get("complete"):
        text += f" (only {slivers['checked']} of its cells checked in the time budget)"
    elif slivers["slivers"] == diff:
        text += "; explained"
    else:
        text += f"; {diff - slivers['slivers']} not explained by slivers"
    return text


def run_case(case: BenchCase, args: argparse.Namespace, workdir: str) -> dict:
    """All measurements of one case (three worker processes)."""
    folder = os.path.join(workdir, case.name)
    min_seconds = args.min_seconds or (0.05 if args.quick else 1.0)
    result: dict = {"name": case.name, "description": case.describe()}
    ours = run_worker("ours", case.name, folder,
                      ["--time-limit", repr(args.timeout), "--engine", args.engine, "--jobs", str(args.jobs),
                       "--workdir", folder] + (["--no-shallow"] if args.no_throughput else []),
                      hard_timeout=2 * args.timeout + 60)
    result["ours"] = ours
    if args.no_affinitree:
        result["affinitree"] = {"status": "skipped", "reason": "--no-affinitree"}
    else:
        expect = ["--expect", str(ours["cells"]), "--sliver-tol", repr(ours.get("tolerance") or 1e-8)] \
            if ours.get("status") == "ok" else []
        budget = min(300.0, args.timeout / 2)
        result["affinitree"] = run_worker("affinitree", case.name, folder, expect + ["--sliver-budget", repr(budget)],
                                          hard_timeout=args.timeout + budget + 60)
    result["comparison"] = compare(ours, result["affinitree"])
    if args.no_throughput:
        result["throughput"] = {"status": "skipped", "reason": "--no-throughput"}
    elif ours.get("status") == "ok" and "shallow_onnx_mb" in ours:
        result["throughput"] = run_worker(
            "throughput", case.name, folder,
            ["--workdir", folder, "--min-seconds", repr(min_seconds), "--memory-gb", repr(args.memory_gb),
             "--cells", str(ours["cells"]), "--facets", str(ours.get("max_facets", 64))], hard_timeout=args.timeout + 60)
    else:
        result["throughput"] = {"status": "skipped", "reason": "no shallow model (our enumeration did not finish)"}
    return result


def progress_line(i: int, n: int, r: dict) -> str:
    """One line per finished case, for stderr."""
    def part(tool: str) -> str:
        e = r.get(tool) or {}
        if e.get("status") != "ok":
            return f"{tool} {e.get('status', 'not run')}"
        return f"{tool} {e['cells']:,} cells in {e['seconds']:.3g} s"
    ratio = (r.get("comparison") or {}).get("time_ratio")
    return (f"[{i}/{n}] {r['name']}: {part('ours')}; {part('affinitree')}"
            + (f"; ours/affinitree {ratio:.2f}" if ratio is not None else ""))


def write_outputs(doc: dict, args: argparse.Namespace) -> str:
    """Write --json and --markdown (atomically); returns the Markdown text."""
    from relucompile.backends.files import atomic_write
    text = report.markdown(doc)
    if args.json:
        atomic_write(args.json, lambda f: json.dump(doc, f, indent=1), text=True)
    if args.markdown:
        atomic_write(args.markdown, lambda f: f.write(text), text=True)
    return text


def render(args: argparse.Namespace) -> int:
    """Re-print the report of a saved ``--json`` file (``--render``)."""
    try:
        with open(args.render) as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise UserError(f"{args.render}: cannot read a benchmark JSON file ({exc})") from None
    if doc.get("schema") != SCHEMA:
        raise UserError(f"{args.render}: not a benchmark result (schema {doc.get('schema')!r}, expected {SCHEMA})")
    args.json = None
    print(write_outputs(doc, args), end="")
    return 0


def run_benchmark(argv: list[str]) -> int:
    """Run the suite (see ``--help``); 0 when every tool ran (timeouts and skips included),
    1 when a worker failed.  Raises UserError for bad options."""
    args = parse_args(argv)
    if args.list:
        for group, cases in (("suite", CASES), ("only when named", EXTRA_CASES), ("--quick", QUICK_CASES)):
            for case in cases.values():
                print(f"{case.name:24s} {case.describe():32s} {group}")
        return 0
    if args.render:
        return render(args)
    cases = select_cases(args)
    check_options(args)
    if not args.no_affinitree:
        from benchmarks import affinitree_peer
        if not affinitree_peer.available():
            print("affinitree is not installed (pip install affinitree): its columns are skipped", file=sys.stderr)
    doc = {"schema": SCHEMA, "date": report.now(), "command": " ".join(["python -m benchmarks", *argv]).strip(),
           "machine": report.machine(),
           "options": {"timeout": args.timeout, "engine": args.engine, "jobs": args.jobs, "quick": args.quick,
                       "affinitree": not args.no_affinitree, "throughput": not args.no_throughput},
           "cases": []}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relucompile-bench-") as tmp:
        workdir = args.workdir or tmp
        for i, case in enumerate(cases, 1):
            result = run_case(case, args, workdir)
            doc["cases"].append(result)
            doc["total_s"] = time.perf_counter() - start
            print(progress_line(i, len(cases), result), file=sys.stderr, flush=True)
            text = write_outputs(doc, args)
    doc["machine"]["load_average_end"] = list(os.getloadavg())
    text = write_outputs(doc, args)
    print(text, end="")
    failed = any((r.get(t) or {}).get("status") == "error" for r in doc["cases"]
                 for t in ("ours", "affinitree", "throughput"))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: a user error is one line on stderr and exit code 2."""
    try:
        return run_benchmark(sys.argv[1:] if argv is None else argv)
    except UserError as exc:
        print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m benchmarks: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
