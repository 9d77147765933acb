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
            "relucompile.backends.report": "matplotlib"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(relucompile.__path__, "relucompile.")
                 if not m.name.endswith("__main__")) + ["relucompile"]


@pytest.mark.parametrize("name", MODULES)
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
