"""The layering rule of the package, checked on every import statement of its source.

``relucompile`` is assembled from three folders (pyproject.toml's package-dir): ``compiler/`` is the
root, ``frontends/`` and ``backends/`` its subpackages.  Data flows one way, so imports point down:

    rank 0  foundation   relucompile.errors, .progress, .version, .limits, .lazy, relucompile.numeric.*
    rank 1  ir           graph, values, domain, network
    rank 2  ops          one handler per ONNX op, the interpreter
    rank 3  passes       lowering of the graph to an affine/ReLU network
    rank 4  regions      cell stores and the enumeration engines
    rank 5  shallow      the three-hidden-layer net built from the cells
    rank 6  frontends, analysis, backends, verify, certify, examples   (the middle tier)
    rank 7  api          the public Python API
    rank 8  cli          the command line (and ``relucompile.__main__``)

An import is allowed when it stays inside its subpackage or points to a lower rank.  Inside the
middle tier the only allowed edges are those of :data:`MIDDLE_TIER_EDGES` (each with its reason),
a partial order: verify < analysis < backends < certify, frontends < verify, frontends < certify.  Modules
must not import each other in a cycle either, inside a subpackage too (a function-local import
that closes a cycle only hides it).  The root module ``relucompile/__init__.py`` is the public facade: it may import anything (lazily), and no module of
the package may import the bare root ``relucompile`` (that would run the facade from inside).

Every import counts: top-level, function-local, and ``if TYPE_CHECKING`` ones (a cycle hidden in a
function is still a cycle).  Imports of other distributions (numpy, onnx, torch, ...) are ignored.
"""
from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "relucompile"

#: layer of each subpackage (or root module) of relucompile; higher may import lower
RANKS = {
    "foundation": 0, "ir": 1, "ops": 2, "passes": 3, "regions": 4, "shallow": 5,
    "frontends": 6, "analysis": 6, "backends": 6, "verify": 6, "certify": 6, "examples": 6,
    "api": 7, "cli": 8,
}

#: root modules and subpackages that form the foundation layer
FOUNDATION = {"errors", "progress", "version", "numeric", "limits", "lazy"}

#: root modules that belong to another layer than the foundation
ROOT_MODULE_LAYERS = {"__main__": "cli"}

#: the partial order inside the middle tier: (importer, imported) -> why the edge is needed
MIDDLE_TIER_EDGES = {
    ("verify", "frontends"): "verify decides the frontends' VNN-LIB Property (parsed input boxes and output cases)",
    ("certify", "frontends"): "certify reads the source model with the frontends' load_network",
    ("certify", "backends"): "certify checks what the backends write: it rebuilds the regions document "
                             "(backends.regions_json) and reads the ONNX initializer names (onnx_backend.PREFIX)",
    ("backends", "analysis"): "output formats render analysis results: explain's formulas and default names, "
                              "the 1-D two-layer form, the linear lens",
    ("analysis", "verify"): "prune proves unit stability with verify's sound linear bounds (verify.bounds)",
}


#: names that may follow ``relucompile.`` as a subpackage or a root module
SUBPACKAGE_NAMES = set(RANKS) | FOUNDATION | set(ROOT_MODULE_LAYERS)


@dataclass(frozen=True)
class Violation:
    """One import that breaks the rule: where it is and which edge it adds."""
    path: str
    line: int
    importer: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported} ({self.why})"


def package_folders(root: Path, pyproject: Path | None = None) -> dict[str, Path]:
    """Import name -> folder, from pyproject.toml's ``[tool.setuptools.package-dir]``."""
    text = (pyproject or root / "pyproject.toml").read_text()
    if tomllib is not None:
        package_dir = tomllib.loads(text)["tool"]["setuptools"]["package-dir"]
    else:  # the few lines of that table, without a TOML parser
        body = text.split("[tool.setuptools.package-dir]", 1)[1].split("\n[", 1)[0]
        package_dir = {k.strip('"'): v for k, v in re.findall(r'^\s*("?[\w.]+"?)\s*=\s*"([^"]+)"', body, re.M)}
    return {name: root / folder for name, folder in package_dir.items()}


def module_files(folders: dict[str, Path]) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (``pkg/__init__.py`` is ``pkg``)."""
    modules: dict[str, Path] = {}
    for name, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder)
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([name, *parts])] = path
    return modules


def layer_of(module: str) -> str | None:
    """The layer (a key of :data:`RANKS`) of a module of the package, ``"root"`` for the facade,
    None outside the package.

    >>> layer_of("relucompile.regions.vertex_engine"), layer_of("relucompile.errors"), layer_of("numpy")
    ('regions', 'foundation', None)
    """
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in FOUNDATION:
        return "foundation"
    return ROOT_MODULE_LAYERS.get(head, head)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything imported in ``tree``, at any depth.

    ``from a.b import c, d`` yields ``a.b.c`` and ``a.b.d`` (each may be a module or a name in
    ``a.b``: :func:`resolve` keeps the longest prefix that is a module).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def resolve(name: str, modules: set[str]) -> str:
    """The module an imported name lives in: its longest prefix that is a module of the package
    (down to ``relucompile.X``; only a name imported from the bare root resolves to the root).

    >>> resolve("relucompile.ir.graph.Graph", {"relucompile", "relucompile.ir.graph"})
    'relucompile.ir.graph'
    >>> resolve("relucompile.compile_model", {"relucompile", "relucompile.api"})
    'relucompile'
    """
    while name not in modules and name.count(".") >= 2:
        name = name.rsplit(".", 1)[0]
    if name not in modules and name.startswith(PACKAGE + ".") and name.split(".")[1] not in SUBPACKAGE_NAMES:
        return PACKAGE  # `from relucompile import compile_model`: the facade
    return name


def import_graph(root: Path, pyproject: Path | None = None) -> dict[tuple[str, str], tuple[str, int]]:
    """Module -> module edges inside the package (every import, any depth), with the first
    (file, line) of each; the facade's own imports are left out (it may import anything)."""
    modules = module_files(package_folders(root, pyproject))
    edges: dict[tuple[str, str], tuple[str, int]] = {}
    for module, path in sorted(modules.items()):
        if module == PACKAGE:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in sorted(imported_modules(tree, module, path.name == "__init__.py")):
            if layer_of(name) is None:
                continue
            target = resolve(name, set(modules))
            if target != module:
                edges.setdefault((module, target), (os.path.relpath(path, root), line))
    return edges


def check_layering(root: Path, pyproject: Path | None = None) -> list[Violation]:
    """Every upward import, import of the bare root, cycle between layers and cycle between
    modules under ``root``."""
    edges = import_graph(root, pyproject)
    violations: list[Violation] = []
    layer_edges: dict[tuple[str, str], tuple[str, int, str, str]] = {}
    for (module, target), (rel, line) in edges.items():
        source_layer, target_layer = layer_of(module), layer_of(target)
        if target_layer == "root":
            violations.append(Violation(rel, line, module, target, "the public facade; import the "
                                        "defining module instead"))
            continue
        if source_layer == target_layer:
            continue
        layer_edges.setdefault((source_layer, target_layer), (rel, line, module, target))
        why = _upward(source_layer, target_layer)
        if why:
            violations.append(Violation(rel, line, module, target, why))
    for cycle in _cycles(set(layer_edges)):
        rel, line, module, target = layer_edges[(cycle[0], cycle[1])]
        violations.append(Violation(rel, line, module, target, "layer cycle " + " -> ".join(cycle + [cycle[0]])))
    for cycle in _cycles(set(edges)):
        rel, line = edges[(cycle[0], cycle[1])]
        violations.append(Violation(rel, line, cycle[0], cycle[1], "module cycle " + " -> ".join(cycle + [cycle[0]])))
    return violations


def _upward(source: str, target: str) -> str:
    """Why ``source -> target`` breaks the rule ('' when it does not)."""
    if source not in RANKS:
        return f"{source} has no layer in RANKS"
    if target not in RANKS:
        return f"{target} has no layer in RANKS"
    if RANKS[source] > RANKS[target]:
        return ""
    if RANKS[source] == RANKS[target]:
        if (source, target) in MIDDLE_TIER_EDGES:
            return ""
        return f"{source} -> {target} is not in MIDDLE_TIER_EDGES"
    return f"upward: {source} (rank {RANKS[source]}) -> {target} (rank {RANKS[target]})"


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """One cycle per strongly connected group of the layer graph (empty when it is acyclic)."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
    cycles: list[list[str]] = []
    seen_groups: set[frozenset[str]] = set()
    for start in sorted(graph):
        path = _path_back(graph, start)
        if path and frozenset(path) not in seen_groups:
            seen_groups.add(frozenset(path))
            cycles.append(path)
    return cycles


def _path_back(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A shortest cycle through ``start`` (breadth-first), or None."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for succ in graph.get(node, []):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1]
                if succ not in parents:
                    parents[succ] = node
                    nxt.append(succ)
        frontier = nxt
    return None


# -- the tests ---------------------------------------------------------------------------------

def test_imports_point_down_and_have_no_cycle():
    violations = check_layering(REPO)
    assert not violations, "layering violations:\n" + "\n".join(map(str, violations))


PLANTED_PYPROJECT = """
[tool.setuptools.package-dir]
relucompile = "core"
"relucompile.frontends" = "front"
"""


def _plant(root: Path, files: dict[str, str]) -> None:
    (root / "pyproject.toml").write_text(PLANTED_PYPROJECT)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_reports_a_planted_upward_import_root_import_and_cycle(tmp_path):
    _plant(tmp_path, {
        "core/__init__.py": "from relucompile.cli import main\n",          # the facade: allowed
        "core/errors.py": "",
        "core/ir/__init__.py": "",
        "core/ir/graph.py": "import numpy\nfrom ..errors import UserError\n",  # fine
        "core/ops/__init__.py": "",
        "core/ops/table.py": "def f():\n    from relucompile.regions.store import CellStore\n",  # upward
        "core/regions/__init__.py": "",
        "core/regions/store.py": "from relucompile.ir import graph\n",
        "core/certify/__init__.py": "",
        "core/certify/checks.py": "from relucompile.backends import onnx_backend\n",
        "core/cli/__init__.py": "def main():\n    import relucompile\n",   # the bare root
        "front/__init__.py": "",
        "front/vnnlib.py": "from relucompile.certify import checks\n",   # frontends -> certify ...
        "core/certify/extra.py": "from relucompile.frontends.vnnlib import parse\n",  # ... and back
        "core/regions/engine.py": "from relucompile.regions import kernels\n",
        "core/regions/kernels.py": "def warm_up():\n    from . import engine\n",         # a hidden cycle
    })
    found = [str(v) for v in check_layering(tmp_path)]
    text = "\n".join(found)
    assert any(s.startswith(os.path.join("core", "ops", "table.py") + ":2: relucompile.ops.table imports "
                            "relucompile.regions.store (upward: ops (rank 2) -> regions (rank 4))")
               for s in found), text
    assert any(s.startswith(os.path.join("core", "cli", "__init__.py") + ":2:") and "facade" in s
               for s in found), text
    assert any("layer cycle certify -> frontends -> certify" in s for s in found), text
    assert any(s.startswith(os.path.join("core", "regions", "engine.py") + ":1:") and "module cycle "
               "relucompile.regions.engine -> relucompile.regions.kernels -> relucompile.regions.engine" in s
               for s in found), text
    assert not any("graph.py" in s or "store.py" in s or s.startswith(os.path.join("core", "__init__.py"))
                   for s in found), text


def test_checker_reports_a_relative_upward_import(tmp_path):
    _plant(tmp_path, {"core/__init__.py": "", "core/ir/__init__.py": "", "core/api/__init__.py": "",
                      "core/ir/net.py": "from ..api import compile_model\n"})
    assert [str(v) for v in check_layering(tmp_path)] == [
        os.path.join("core", "ir", "net.py") + ":1: relucompile.ir.net imports relucompile.api "
        "(upward: ir (rank 1) -> api (rank 7))"]


def test_every_subpackage_has_a_layer():
    modules = module_files(package_folders(REPO))
    layers = {layer_of(m) for m in modules}
    assert layers - {"root"} <= set(RANKS), layers - set(RANKS)


def test_pyproject_packages_are_the_folders_with_an_init():
    text = (REPO / "pyproject.toml").read_text()
    if tomllib is not None:
        listed = tomllib.loads(text)["tool"]["setuptools"]["packages"]
    else:
        body = text.split("packages = [", 1)[1].split("]", 1)[0]
        listed = re.findall(r'"([\w.]+)"', body)
    folders = package_folders(REPO)
    on_disk = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            on_disk.add(".".join([name, *parts]))
    assert len(listed) == len(set(listed)), "pyproject.toml lists a package twice"
    assert set(listed) == on_disk, (f"in pyproject.toml but no __init__.py: {sorted(set(listed) - on_disk)}; "
                                    f"folders with __init__.py not listed: {sorted(on_disk - set(listed))}")
