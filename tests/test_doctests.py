"""Every docstring example of the installed package runs (scikit-learn style: each public function
has one).  The examples use only fixtures the package ships (``relucompile.examples``), so they run
from any working directory."""
from __future__ import annotations

import doctest
import importlib
import os
import pkgutil

import pytest

import relucompile

OPTIONAL = {"relucompile.frontends.torch_frontend": "torch", "relucompile.api.from_torch": "torch", "relucompile.backends.plot": "matplotlib",
            "relucompile.backends.report": "matplotlib", "relucompile.backends.regions_parquet": "pyarrow",
            "relucompile.backends.stored_report": "pyarrow"}
# frontends/ and backends/ are mapped into relucompile from their own folders: an editable install
# does not list them under relucompile.__path__, so each package root is walked on its own.
ROOTS = ["relucompile", "relucompile.frontends", "relucompile.backends"]
MODULES = sorted({m.name for root in ROOTS
                  for m in pkgutil.walk_packages(importlib.import_module(root).__path__, root + ".")
                  if not m.name.endswith("__main__")} | set(ROOTS))


#: modules whose examples take seconds (torch's ONNX export), outside the fast tier
SLOW = {"relucompile.frontends.torch_frontend"}


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in MODULES])
def test_docstring_examples(name: str, tmp_path, monkeypatch) -> None:
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name], reason=f"{name}'s examples need {OPTIONAL[name]}")
    monkeypatch.chdir(tmp_path)          # examples must not depend on the working directory
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
