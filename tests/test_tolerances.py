"""Tolerances are named once, in relucompile.numeric.tolerances (issue 12): a bare
scientific-notation literal such as ``1e-9`` elsewhere in the package fails this test."""
from __future__ import annotations

import io
import re
import tokenize

from package_sources import package_files

TOLERANCES_MODULE = "relucompile/numeric/tolerances.py"
SMALL_LITERAL = re.compile(r"^[0-9_.]*[eE]-[0-9_]+$")
# Literals that stay, each with why: (module, literal) -> reason.
ALLOWED = {
    ("relucompile/verify/search.py", "1e-3"): "SPLIT_WIDTH_WEIGHT, a tuned tie-break weight of the input to "
                                              "bisect (measured beside it), not a tolerance",
}


def small_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every number literal written with a negative exponent (strings, comments
    and docstrings are not numbers, so examples in them do not count).

    >>> small_literals("x = 1e-9 * y  # not 1e-12\\ns = '1e-6'\\nz = 2.5E-3 + 10e3\\n")
    [(1, '1e-9'), (3, '2.5E-3')]
    """
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NUMBER and SMALL_LITERAL.match(tok.string):
            found.append((tok.start[0], tok.string))
    return found


def test_no_bare_tolerance_literals() -> None:
    offenders, seen = [], set()
    for path, source in package_files():
        seen.add(path)
        if path == TOLERANCES_MODULE:
            continue
        offenders += [f"{path}:{line}: {text}" for line, text in small_literals(source)
                      if (path, text) not in ALLOWED]
    assert TOLERANCES_MODULE in seen
    assert not offenders, ("name these in relucompile/numeric/tolerances.py (one line on why its value):\n"
                           + "\n".join(offenders))


def test_allowed_entries_are_used() -> None:
    sources = dict(package_files())
    stale = [key for key in ALLOWED if key[0] not in sources or key[1] not in {t for _, t in small_literals(sources[key[0]])}]
    assert not stale, f"remove these stale entries: {stale}"


def test_every_tolerance_says_why() -> None:
    """Each constant of the tolerances module carries a docstring line (its reason)."""
    import ast
    tree = ast.parse(dict(package_files())[TOLERANCES_MODULE])
    body = tree.body
    names = [(i, n.targets[0].id) for i, n in enumerate(body) if isinstance(n, ast.Assign)]
    undocumented = [name for i, name in names
                    if not (i + 1 < len(body) and isinstance(body[i + 1], ast.Expr)
                            and isinstance(body[i + 1].value, ast.Constant) and isinstance(body[i + 1].value.value, str))]
    assert names and not undocumented, f"add a line on why: {undocumented}"


def test_the_check_sees_a_planted_literal() -> None:
    assert small_literals("def f(x):\n    return abs(x) < 1e-10\n") == [(2, "1e-10")]
