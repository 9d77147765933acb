"""Benchmark results -> Markdown tables, comparison notes and the machine description.

Example:
    >>> fmt_seconds(0.01234), fmt_seconds(12.345), fmt_count(71930), fmt_rate(1.5e6)
    ('0.012', '12.3', '71,930', '1.5M')
"""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata

PACKAGES = ["numpy", "scipy", "onnx", "onnxruntime", "swiglpk", "highspy", "affinitree"]


def fmt_seconds(s: float | None) -> str:
    """Seconds with three significant digits (at least 3 decimals below 1 s)."""
    if s is None:
        return "-"
    return f"{s:.3f}" if s < 1 else f"{s:.3g}" if s < 100 else f"{s:.0f}"


def fmt_count(n: int | None) -> str:
    """An integer with thousands separators."""
    return "-" if n is None else f"{n:,}"


def fmt_rate(r: float | None) -> str:
    """A rate per second with k/M suffixes."""
    if r is None:
        return "-"
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if r >= scale:
            return f"{r / scale:.3g}{suffix}" if r / scale < 100 else f"{r / scale:.0f}{suffix}"
    return f"{r:.3g}"


def fmt_mb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb:.0f}"


def machine() -> dict:
    """Where the figures were measured: CPUs, memory, load, Python and package versions.

    Example:
        >>> m = machine()
        >>> m["nproc"] >= 1 and "numpy" in m["packages"]
        True
    """
    info = {"nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu": _cpu_model(), "memory_gb": _memory_gb(), "load_average": list(os.getloadavg()),
            "python": platform.python_version(), "platform": platform.platform(),
            "packages": {}}
    for name in PACKAGES:
        try:
            info["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["packages"][name] = None
    from relucompile.version import __version__
    info["packages"]["relucompile"] = __version__
    info["git"] = _git_revision()
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_revision() -> str | None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+uncommitted changes" if dirty else "")) or None


def now() -> str:
    """The current local time, ISO format to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _status(tool: dict | None, timeout: float | None) -> str | None:
    """'timeout (> S s)', 'error', 'skipped' or None when the tool ran fine."""
    if not tool:
        return "not run"
    status = tool.get("status")
    if status == "ok":
        return None
    if status == "timeout":
        return f"timeout (> {timeout:g} s)" if timeout else "timeout"
    return status or "error"


def enumeration_table(results: list[dict], timeout: float | None = None) -> str:
    """Table 1: cells, seconds, cells/s, LPs and peak memory, ours against affinitree."""
    head = ("| case | cells | affinitree cells | ours s | affinitree s | ours/affinitree time | "
            "ours cells/s | affinitree cells/s | LPs | ours peak MB | affinitree peak MB |")
    lines = [head, "|" + "|".join(["---"] * 11) + "|"]
    for r in results:
        ours, peer = r.get("ours") or {}, r.get("affinitree") or {}
        o_bad, p_bad = _status(ours, timeout), _status(peer, timeout)
        cmp = r.get("comparison", {})
        ratio = cmp.get("time_ratio")
        lines.append("| " + " | ".join([
            r["description"],
            o_bad or fmt_count(ours.get("cells")),
            p_bad or fmt_count(peer.get("cells")) + ("" if cmp.get("cells_equal", True) else " (differs)"),
            o_bad or fmt_seconds(ours.get("seconds")),
            p_bad or fmt_seconds(peer.get("seconds")),
            "-" if ratio is None else f"{ratio:.2f}",
            o_bad or fmt_rate(ours.get("cells_per_s")),
            p_bad or fmt_rate(peer.get("cells_per_s")),
            fmt_count(ours.get("lps")),
            fmt_mb(ours.get("peak_rss_mb")),
            fmt_mb(peer.get("peak_rss_mb")) if not peer.get("status") == "skipped" else "-",
        ]) + " |")
    return "\n".join(lines)


def shallow_table(results: list[dict]) -> str:
    """Table 2: start-up, shallow model size and onnxruntime throughput, source against shallow."""
    head = ("| case | start-up s ours / affinitree | load s | shallow build s | hyperplanes | shallow ONNX MB | "
            "source b1 inputs/s | shallow b1 inputs/s | source b1024 inputs/s | shallow b1024 inputs/s | "
            "max abs diff |")
    lines = [head, "|" + "|".join(["---"] * 11) + "|"]
    for r in results:
        ours, tp, peer = r.get("ours") or {}, r.get("throughput") or {}, r.get("affinitree") or {}

        def rate(key: str) -> str:
            entry = tp.get(key) or {}
            if "skipped" in entry:
                return "skipped"
            text = fmt_rate(entry.get("inputs_per_s"))
            return f"{text} (b{entry['batch']})" if entry.get("reduced") else text
        diff = tp.get("max_abs_diff")
        lines.append("| " + " | ".join([
            r["description"], f"{fmt_seconds(ours.get('startup_s'))} / {fmt_seconds(peer.get('startup_s'))}",
            fmt_seconds(ours.get("load_s")),
            fmt_seconds(ours.get("shallow_build_s")), fmt_count(ours.get("hyperplanes")),
            "-" if ours.get("shallow_onnx_mb") is None else f"{ours['shallow_onnx_mb']:.2f}",
            rate("source_b1"), rate("shallow_b1"), rate("source_b1024"), rate("shallow_b1024"),
            "-" if diff is None else f"{diff:.1e}",
        ]) + " |")
    return "\n".join(lines)


def notes(results: list[dict]) -> list[str]:
    """One line per count difference (with its explanation), failure or skipped measurement."""
    out = []
    for r in results:
        name = r["name"]
        cmp = r.get("comparison") or {}
        if cmp.get("explanation"):
            out.append(f"{name}: {cmp['explanation']}")
        for tool in ("ours", "affinitree", "throughput"):
            entry = r.get(tool) or {}
            if entry.get("status") in ("error", "timeout"):
                out.append(f"{name}: {tool} {entry['status']}: {entry.get('error', '')}".rstrip(": "))
            elif entry.get("status") == "skipped":
                out.append(f"{name}: {tool} skipped: {entry.get('reason', '')}")
        for key in ("shallow_b1", "shallow_b1024"):
            entry = (r.get("throughput") or {}).get(key) or {}
            if entry.get("skipped") or entry.get("reduced"):
                out.append(f"{name}: {key.replace('_b', ' model, batch ')} {entry.get('skipped') or entry['reduced']}")
        nan = (r.get("throughput") or {}).get("nan_outputs")
        if nan:
            out.append(f"{name}: the shallow model returned NaN for {nan} of 1024 sampled inputs")
    return out


def markdown(doc: dict) -> str:
    """The whole report: header (date, command, machine), the two tables and the notes."""
    m = doc["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    timeout = doc["options"].get("timeout")
    parts = [
        f"Measured {doc['date']} with `{doc['command']}` (total {fmt_seconds(doc.get('total_s'))} s).",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, load average at start "
        f"{', '.join(f'{v:.2f}' for v in m['load_average'])}; Python {m['python']}; {pkgs}; "
        f"git {m.get('git') or 'unknown'}.",
        "",
        "Enumeration (seconds exclude interpreter start-up and model loading; peak MB is the "
        "process's maximum resident set, interpreter and imports included; ours/affinitree below 0.5 "
        "means at least 2x faster):",
        "",
        enumeration_table(doc["cases"], timeout),
        "",
        "Start-up and the shallow model (onnxruntime, 1 thread; inputs sampled in the domain; "
        "max abs diff = largest |shallow - source| over 1024 inputs):",
        "",
        shallow_table(doc["cases"]),
    ]
    lines = notes(doc["cases"])
    if lines:
        parts += ["", "Notes:", ""] + [f"* {line}" for line in lines]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m benchmarks")
