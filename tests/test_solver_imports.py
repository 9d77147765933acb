"""relucompile.numeric.lp is the only module that imports an LP solver (issue 12): every other
module goes through its API, so solver choice, tolerances and status handling live in one place."""
from __future__ import annotations

import ast

from package_sources import package_files

SOLVERS = ("swiglpk", "highspy", "scipy.optimize")
LP_MODULE = "relucompile/numeric/lp.py"


def solver_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a solver in ``source``, function-local ones included.

    >>> solver_imports("import numpy\\ndef f():\\n    from scipy.optimize import linprog\\n")
    [(3, 'scipy.optimize')]
    >>> solver_imports("from scipy import optimize\\nimport swiglpk as glp\\n")
    [(1, 'scipy.optimize'), (2, 'swiglpk')]
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            hit = next((s for s in SOLVERS if name == s or name.startswith(s + ".")), None)
            if hit:
                found.append((node.lineno, hit))
                break
    return sorted(found)


def test_only_the_lp_module_imports_solvers() -> None:
    offenders, seen = [], set()
    for path, source in package_files():
        seen.add(path)
        if path == LP_MODULE:
            continue
        offenders += [f"{path}:{line} imports {module}" for line, module in solver_imports(source)]
    assert LP_MODULE in seen
    assert not offenders, "use relucompile.numeric.lp instead:\n" + "\n".join(offenders)


def test_the_check_sees_a_planted_import() -> None:
    planted = "def solve():\n    import highspy\n    return highspy.Highs()\n"
    assert solver_imports(planted) == [(2, "highspy")]
    assert solver_imports(dict(package_files())[LP_MODULE])
