"""``relucompile ops``: the supported ops and their limits, generated from the handler table.

The same function renders the README / docs/ops.md table (``--markdown``), optionally with
the ONNX node-test conformance counts (``--conformance``, see frontends/conformance.py), so
the documentation cannot drift from :data:`relucompile.ops.table.OPS`.

Example:
    >>> print(ops_table(["Abs"]))
    op   kind  limits
    Abs  PWL   2 relu(z) - z: 1 ReLU
    >>> print(ops_markdown(["Abs"], {"Abs": {"pass": 1, "fail": 0, "refused": 0, "skip": 0}}))
    | op | kind | limits | ONNX node tests passed/run |
    |---|---|---|---|
    | Abs | PWL | 2 relu(z) - z: 1 ReLU | 1/1 |
"""
from __future__ import annotations

from relucompile.cli.base import ExitCode, exit_codes_text, guarded, make_parser
from relucompile.ops.table import NOT_PIECEWISE_LINEAR, OPS

INTERNAL = {"Affine"}

EPILOG = """examples:
  relucompile ops                          the table, one op per line
  relucompile ops --markdown               the same as a Markdown table (README, docs/ops.md)
  relucompile ops --markdown --conformance with the ONNX node-test pass counts (about 10 s)

""" + exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR) + "\n"


def supported_ops() -> list[str]:
    """Names of the ONNX ops the compiler accepts, sorted.

    >>> "MaxPool" in supported_ops() and "Affine" not in supported_ops()
    True
    """
    return sorted(op for op in OPS if op not in INTERNAL)


def _kind(op: str) -> str:
    return "PWL" if OPS[op].kind == "pwl" else "linear"


def ops_table(ops: list[str] | None = None) -> str:
    """Plain-text table: op, kind (linear or PWL unit), limits."""
    ops = ops or supported_ops()
    rows = [("op", "kind", "limits")] + [(op, _kind(op), OPS[op].limits or "-") for op in ops]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)


def ops_markdown(ops: list[str] | None = None, counts: dict[str, dict[str, int]] | None = None) -> str:
    """Markdown table of ``ops`` (default all); with ``counts`` a column of ONNX node tests passed
    out of those run (float cases; a refused case counts as run and not passed)."""
    ops = ops or supported_ops()
    head = "| op | kind | limits |" + (" ONNX node tests passed/run |" if counts is not None else "")
    rule = "|---|---|---|" + ("---|" if counts is not None else "")
    lines = [head, rule]
    for op in ops:
        line = f"| {op} | {_kind(op)} | {OPS[op].limits or '-'} |"
        if counts is not None:
            c = counts.get(op)
            line += f" {c['pass']}/{c['pass'] + c['fail'] + c['refused']} |" if c else " - |"
        lines.append(line)
    return "\n".join(lines)


@guarded
def run_ops(argv: list[str]) -> int:
    """Print the supported ops (``relucompile ops [--markdown] [--conformance]``).

    >>> run_ops(["--markdown"])  # doctest: +ELLIPSIS
    | op | kind | limits |
    |---|---|---|
    | Abs | PWL | 2 relu(z) - z: 1 ReLU |
    ...
    0
    """
    p = make_parser("ops", "List the ONNX ops relucompile compiles exactly, with their limits (from the "
                    "handler table).", EPILOG)
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (for README.md), e.g. --markdown")
    p.add_argument("--conformance", action="store_true",
                   help="run the ONNX node tests of every op and add the number passed, e.g. --markdown --conformance")
    args = p.parse_args(argv)
    counts = None
    if args.conformance:
        from relucompile.frontends.conformance import conformance_counts
        from relucompile.progress import activity
        with activity("ops --conformance"):
            counts = conformance_counts()
    if args.markdown:
        print(ops_markdown(counts=counts))
    else:
        print(ops_table())
        if counts is not None:
            print("\nONNX node tests (pass/fail/refused/skip):")
            for op, c in counts.items():
                print(f"  {op}: {c['pass']}/{c['fail']}/{c['refused']}/{c['skip']}")
        print(f"\nrefused as not piecewise linear: {', '.join(sorted(NOT_PIECEWISE_LINEAR))}")
    return 0
