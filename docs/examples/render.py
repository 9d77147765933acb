"""Regenerate every example output in README.md and docs/*.md by running the commands it shows.

An example output sits between two markers in the Markdown source::

    <!-- begin output NAME -->
    ...generated text (fences included)...
    <!-- end output -->

and :data:`EXAMPLES` maps NAME to a function that runs the commands and returns that text.
``python docs/examples/render.py`` rewrites the files in place; ``--check`` rewrites nothing
and exits 1 naming every stale example (tests/test_docs_examples.py runs the same check).
``--only NAME`` limits either to some examples.

Run-dependent numbers are compared by one rule (:func:`normalise`): durations (a number followed
by ``s``, ``ms``, ``min`` or ``cells/s``) and UTC dates read as placeholders; everything else,
cell counts, shares and formulas included, must match exactly.  Examples that need the
third-party models (``$RELUCOMPILE_DATA``, not shipped) are skipped when that folder is absent.

The commands run in a temporary folder where ``compiler/`` points at the repository's, so the
paths shown are the ones a reader types from the repository root.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = ["README.md"] + [os.path.join("docs", name) for name in (
    "reading_audit.md", "reading_equations.md", "certify.md", "lens_and_prune.md", "torch.md", "ops.md")]
BEGIN = re.compile(r"<!-- begin output ([\w-]+) -->\n")
END = "<!-- end output -->"
SMALL_BOX = '{"lower": [0, 0], "upper": [0.25, 0.25]}'


def data_folder() -> str | None:
    """The folder of the third-party models: $RELUCOMPILE_DATA, else ../shared/data beside the repository."""
    for path in (os.environ.get("RELUCOMPILE_DATA"), os.path.join(ROOT, "..", "shared", "data")):
        if path and os.path.isdir(os.path.join(path, "acasxu")):
            return os.path.abspath(path)
    return None


class Workspace:
    """A temporary folder to run commands in, with ``compiler/`` linked to the repository's."""

    def __init__(self, in_process: bool = False) -> None:
        self.in_process = in_process          # the tests: same output, without a Python start-up per command
        self.seen: dict[str, str] = {}        # command -> output: a command shown twice runs once
        self.path = tempfile.mkdtemp(prefix="relucompile-docs-")
        os.symlink(os.path.join(ROOT, "compiler"), os.path.join(self.path, "compiler"))
        self.write("small.json", SMALL_BOX + "\n")

    def write(self, name: str, text: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(text)

    def read(self, name: str) -> str:
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def run(self, command: str) -> str:
        """Run ``relucompile ...`` (as typed, $RELUCOMPILE_DATA expanded) and return what it printed."""
        if command in self.seen:
            return self.seen[command]
        args = shlex.split(command)
        assert args[0] == "relucompile", command
        env = dict(os.environ, RELUCOMPILE_DATA=data_folder() or "", COLUMNS="100")
        args = [a.replace("$RELUCOMPILE_DATA", env["RELUCOMPILE_DATA"]) for a in args[1:]]
        if self.in_process:
            code, out, err = self._run_here(args, env)
        else:
            done = subprocess.run([sys.executable, "-m", "relucompile", *args], cwd=self.path, env=env,
                                  capture_output=True, text=True, timeout=900)
            code, out, err = done.returncode, done.stdout, done.stderr
        if code != 0:
            raise RuntimeError(f"{command}: exit {code}\n{err}")
        self.seen[command] = out
        return out

    def _run_here(self, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        """The command line's main() in this process, in the workspace, with its environment."""
        import contextlib
        import io
        from relucompile.cli.main import main as cli_main
        saved_cwd, saved_env = os.getcwd(), dict(os.environ)
        out, err = io.StringIO(), io.StringIO()
        try:
            os.chdir(self.path)
            os.environ.update(env)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli_main(args)
                except SystemExit as exc:          # --help exits through argparse
                    code = exc.code if isinstance(exc.code, int) else 0
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        return code, out.getvalue(), err.getvalue()

    def python(self, code: str) -> str:
        """Run a Python snippet in the workspace and return what it printed."""
        done = subprocess.run([sys.executable, "-c", code], cwd=self.path, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"python snippet failed:\n{done.stderr}")
        return done.stdout


@dataclass
class Example:
    make: Callable[[Workspace], str]
    needs_data: bool = False
    slow: bool = False            # tests run it in the slow tier only


EXAMPLES: dict[str, Example] = {}


def example(name: str, *, needs_data: bool = False, slow: bool = False):
    def register(fn: Callable[[Workspace], str]) -> Callable[[Workspace], str]:
        EXAMPLES[name] = Example(fn, needs_data, slow)
        return fn
    return register


def fence(kind: str, text: str) -> str:
    return f"```{kind}\n{text.rstrip()}\n```"


def session(ws: Workspace, command: str, shown: str | None = None) -> str:
    """``$ command`` and what it printed (``shown``: the command as displayed, e.g. with line breaks)."""
    return f"$ {shown or command}\n{ws.run(command)}"


def clip(line: str, width: int) -> str:
    """A long line cut at ``width`` characters, marked by `` ...``."""
    return line if len(line) <= width else line[:width].rstrip() + " ..."


def lines_from(text: str, start: str, count: int) -> list[str]:
    """``count`` lines from the first that starts with ``start`` (stripped of indentation)."""
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line.lstrip().startswith(start))
    return lines[k:k + count]


def drop_block(text: str, start: str, end: str, replacement: str) -> str:
    """Replace the lines from the first starting with ``start`` to the next line equal to ``end``."""
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(start))
    e = next(i for i in range(k, len(lines)) if lines[i] == end)
    return "\n".join(lines[:k] + [replacement] + lines[e + 1:]) + "\n"


# -- README ------------------------------------------------------------------------------------

QUICK_START = "relucompile compiler/examples/tiny_mlp.onnx --box -1 1 -o out/shallow.onnx --regions out/regions.json"


@example("quick-start")
def _quick_start(ws: Workspace) -> str:
    os.makedirs(os.path.join(ws.path, "out"), exist_ok=True)
    return fence("text", ws.run(QUICK_START))


@example("synopsis")
def _synopsis(ws: Workspace) -> str:
    """Every subcommand's usage, as ``relucompile --help`` and ``relucompile NAME --help`` print it."""
    return fence("text", synopsis_text(ws))


def usage(help_text: str) -> str:
    """The usage paragraph of a --help text, without the word ``usage:``."""
    return help_text.split("\n\n", 1)[0].replace("usage: ", "", 1).rstrip()


def subcommands() -> list[str]:
    from relucompile.cli.main import COMMANDS
    return list(COMMANDS)


def synopsis_text(ws: Workspace) -> str:
    parts = [usage(ws.run("relucompile --help"))]
    parts += [usage(ws.run(f"relucompile {name} --help")) for name in subcommands()]
    return "\n".join(parts) + "\n"


CHECK = "relucompile check compiler/examples/tiny_mlp.onnx out/shallow.onnx"


@example("readme-check")
def _readme_check(ws: Workspace) -> str:
    """The quick start's shallow model checked against its source."""
    os.makedirs(os.path.join(ws.path, "out"), exist_ok=True)
    ws.run(QUICK_START)
    return fence("text", "$ " + CHECK + "\n" + ws.run(CHECK))


def _rules(ws: Workspace, ext: str, *extra: str) -> str:
    ws.run(f"relucompile compiler/examples/tiny_mlp.onnx --domain small.json -o rules.{ext} {' '.join(extra)}".strip())
    return ws.read(f"rules.{ext}")


@example("readme-rules-text")
def _readme_text(ws: Workspace) -> str:
    return fence("text", "\n".join(lines_from(_rules(ws, "txt"), "cell ", 5)))


@example("readme-rules-latex")
def _readme_latex(ws: Workspace) -> str:
    head, first = lines_from(_rules(ws, "tex", "--digits", "4"), "y_{1} = ", 2)
    return fence("latex", head + "\n" + clip(first, 110))


@example("readme-rules-python")
def _readme_python(ws: Workspace) -> str:
    text = _rules(ws, "py")
    head, first = lines_from(text, "y1 = Piecewise(", 3)[0], lines_from(text, "y1 = Piecewise(", 3)[2]
    return fence("python", head + "\n" + clip(first, 110))


@example("readme-rules-smt")
def _readme_smt(ws: Workspace) -> str:
    head, first = lines_from(_rules(ws, "smt2"), "(define-fun y1 ", 2)
    return fence("smt", head + "\n" + clip(first, 110))


EXPLAIN_TINY = 'relucompile explain compiler/examples/tiny_mlp.onnx --at "0.25,-0.5" --box -1 1 --digits 4'


@example("readme-explain")
def _readme_explain(ws: Workspace) -> str:
    out = ws.run(EXPLAIN_TINY).splitlines()
    k = next(i for i, line in enumerate(out) if line.startswith("the rule holds"))
    return fence("text", "\n".join(out[2:k + 2]))


@example("readme-ops-table", slow=True)
def _readme_ops(ws: Workspace) -> str:
    return ws.run("relucompile ops --markdown --conformance").rstrip()


# -- docs/reading_audit.md ---------------------------------------------------------------------

@example("explain-tiny")
def _explain_tiny(ws: Workspace) -> str:
    return fence("text", session(ws, EXPLAIN_TINY))


ACAS_AT = "0.6000000238418579, 0.019550861790776253, -0.22944623231887817, 0.44999998807907104, -0.5"


@example("explain-acas", needs_data=True)
def _explain_acas(ws: Workspace) -> str:
    args = f'--at "{ACAS_AT}" --input-names rho,theta,psi,v_own,v_int --output-names COC,WL,WR,SL,SR --digits 4'
    model = "$RELUCOMPILE_DATA/acasxu/ACASXU_run2a_1_2_batch_2000.onnx"
    out = ws.run(f"relucompile explain {model} {args}").splitlines()
    k = next(i for i, line in enumerate(out) if line.startswith("the rule holds"))
    shown = (f"relucompile explain {model} \\\n      --at \"{ACAS_AT}\" \\\n"
             "      --input-names rho,theta,psi,v_own,v_int --output-names COC,WL,WR,SL,SR --digits 4")
    return fence("text", "\n".join([f"$ {shown}"] + out[1:4] + ["..."] + out[k:k + 3]))


@example("plot-tiny")
def _plot_tiny(ws: Workspace) -> str:
    return fence("text", session(ws, "relucompile plot compiler/examples/tiny_mlp.onnx --box -1 1 --decision argmax -o partition.png"))


REPORT_TINY = "relucompile report compiler/examples/tiny_mlp.onnx --box -1 1 --decision argmax --top 3 -o report.html"


@example("report-tiny")
def _report_tiny(ws: Workspace) -> str:
    return fence("text", session(ws, REPORT_TINY))


def _cells(row: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]


@example("report-tiny-stats")
def _report_stats(ws: Workspace) -> str:
    ws.run(REPORT_TINY)
    page = ws.read("report.html")
    section = page[page.index("<h2>Cells of"):page.index("<h2>Picture")]
    rows = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows if k != "timings"]
    return "\n".join(lines)


@example("report-tiny-rules")
def _report_rules(ws: Workspace) -> str:
    ws.run(REPORT_TINY)
    page = ws.read("report.html")
    table = page[page.index('<table class="rules">'):]
    table = table[:table.index("</table>")]
    lines = ["| cell | share | active units | if | then |", "|---|---|---|---|---|"]
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        plain = [_cells(f"<td>{c}</td>")[0] for c in cells[:3]]
        rules = [", ".join(f"`{html.unescape(d)}`" for d in re.findall(r"<div>(.*?)</div>", c)) for c in cells[3:]]
        lines.append("| " + " | ".join(plain + rules) + " |")
    return "\n".join(lines)


# -- docs/reading_equations.md -----------------------------------------------------------------

@example("rules-text")
def _rules_text(ws: Workspace) -> str:
    return fence("text", _rules(ws, "txt"))


@example("rules-latex")
def _rules_latex(ws: Workspace) -> str:
    lines = _rules(ws, "tex", "--digits", "4").splitlines()
    k = lines.index("\\[")
    return fence("latex", "\n".join(lines[k:lines.index("\\]", k) + 1]))


@example("rules-python")
def _rules_python(ws: Workspace) -> str:
    text = _rules(ws, "py")
    return fence("python", drop_block(text, "y2 = Piecewise(", ")",
                                      "y2 = Piecewise(...)   # the same cells, the second output's maps"))


@example("rules-python-use")
def _rules_python_use(ws: Workspace) -> str:
    _rules(ws, "py")
    code = ('import numpy, sympy\nfrom sympy import Rational\nns = {}; exec(open("rules.py").read(), ns)\n'
            'x1, x2 = ns["inputs"]\nprint(ns["outputs"]["y1"].subs({x1: Rational(1, 10), x2: Rational(1, 5)}))\n'
            'print(repr(float(sympy.lambdify(ns["inputs"], ns["outputs"]["y1"], "numpy")(0.1, 0.2))))\n'
            'from relucompile import load_network\n'
            'net = load_network("compiler/examples/tiny_mlp.onnx")\n'
            'print(repr(float(net.forward(numpy.array([[0.1, 0.2]]))[0, 0])))\n')
    exact, fast, deep = ws.python(code).split()
    return fence("python", 'ns = {}; exec(open("rules.py").read(), ns)\nx1, x2 = ns["inputs"]\n'
                 f'ns["outputs"]["y1"].subs({{x1: Rational(1, 10), x2: Rational(1, 5)}})     # {exact}\n'
                 f'sympy.lambdify(ns["inputs"], ns["outputs"]["y1"], "numpy")(0.1, 0.2)   # {fast} (the deep net: {deep})')


@example("rules-smt")
def _rules_smt(ws: Workspace) -> str:
    lines = _rules(ws, "smt2").splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("(define-fun y2 "))
    return fence("smt2", "\n".join(lines[:k] + ["(define-fun y2 ((x1 Real) (x2 Real)) Real ...)   ; likewise"]))


def _wave(ws: Workspace) -> None:
    if not os.path.exists(os.path.join(ws.path, "wave.onnx")):
        ws.python("from relucompile.examples.random_nets import random_mlp, to_onnx_model\n"
                  "open('wave.onnx', 'wb').write(to_onnx_model(random_mlp(1, [4, 4], 1, seed=11)).SerializeToString())\n")


@example("two-layer-text")
def _two_layer_text(ws: Workspace) -> str:
    _wave(ws)
    ws.run("relucompile wave.onnx --form two-layer -o wave_two_layer.txt")
    return fence("text", ws.read("wave_two_layer.txt"))


@example("two-layer-two-sided")
def _two_layer_two_sided(ws: Workspace) -> str:
    _wave(ws)
    ws.run("relucompile wave.onnx --form two-layer --basis two-sided -o wave_two_sided.txt")
    text = ws.read("wave_two_sided.txt")
    return fence("text", "\n".join(text.splitlines()[text.splitlines().index(lines_from(text, "hidden units", 1)[0]):]))


@example("two-layer-sympy")
def _two_layer_sympy(ws: Workspace) -> str:
    _wave(ws)
    ws.run("relucompile wave.onnx --form two-layer -o wave_two_layer.py")
    return fence("python", ws.read("wave_two_layer.py"))


# -- docs/certify.md ---------------------------------------------------------------------------

@example("certify-tiny")
def _certify_tiny(ws: Workspace) -> str:
    ws.run("relucompile compiler/examples/tiny_mlp.onnx --box -1 1 -o shallow.onnx --regions regions.json -q")
    return fence("text", session(ws, "relucompile certify compiler/examples/tiny_mlp.onnx regions.json"))


# -- docs/lens_and_prune.md -------------------------------------------------------------------

@example("iris", slow=True)
def _iris(ws: Workspace) -> str:
    done = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "examples", "iris_lens_prune.py")],
                          cwd=ws.path, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"iris_lens_prune.py failed:\n{done.stderr}")
    return fence("text", done.stdout)


# -- the machinery -----------------------------------------------------------------------------

def normalise(text: str) -> str:
    """Run-dependent numbers as placeholders: durations and UTC dates (see the module docstring).

    Example:
        >>> normalise("98 cells; 0.09 s -> out.onnx, 1,234 cells/s, 2026-12-03 13:52:51 UTC")
        '98 cells; <seconds> -> out.onnx, <rate>, <date> UTC'
    """
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<date>", text)
    text = re.sub(r"[\d,]+(?:\.\d+)? cells/s\b", "<rate>", text)
    return re.sub(r"\b\d+(?:\.\d+)?(?: ?(?:s|ms|min))\b", "<seconds>", text)


def blocks(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of every generated block in a document's text (the part between the markers)."""
    out = []
    for match in BEGIN.finditer(text):
        end = text.index(END, match.end())
        out.append((match.group(1), match.end(), end))
    return out


def render(path: str, ws: Workspace, only: set[str] | None = None, skip: set[str] = frozenset()) -> tuple[str, str]:
    """The document's current text and its text with the selected examples regenerated."""
    with open(path) as f:
        text = f.read()
    new, last = [], 0
    for name, start, end in blocks(text):
        if name not in EXAMPLES:
            raise KeyError(f"{path}: unknown example {name!r} (not in docs/examples/render.py)")
        new.append(text[last:start])
        wanted = (only is None or name in only) and name not in skip
        ex = EXAMPLES[name]
        new.append(ex.make(ws).rstrip() + "\n" if wanted and not (ex.needs_data and data_folder() is None)
                   else text[start:end])
        last = end
    new.append(text[last:])
    return text, "".join(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if an example is stale")
    parser.add_argument("--only", action="append", metavar="NAME", help="only these examples (repeatable)")
    args = parser.parse_args(argv)
    ws = Workspace()
    stale = []
    for doc in DOCS:
        path = os.path.join(ROOT, doc)
        old, new = render(path, ws, set(args.only) if args.only else None)
        if normalise(old) != normalise(new):
            stale.append(doc)
        if not args.check and old != new:
            with open(path, "w") as f:
                f.write(new)
    if args.check and stale:
        print("stale examples in: " + ", ".join(stale) + " (run python docs/examples/render.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
