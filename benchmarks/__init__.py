"""Reproducible speed runs: region enumeration against affinitree, shallow model throughput.

``python -m benchmarks --help`` lists the options; ``benchmarks/README.md`` keeps the latest
figures.  Modules: :mod:`benchmarks.cases` (what is measured), :mod:`benchmarks.worker` (one tool
on one case in a fresh process), :mod:`benchmarks.affinitree_peer` (the peer),
:mod:`benchmarks.throughput` (onnxruntime), :mod:`benchmarks.report` (tables),
:mod:`benchmarks.run` (the command).
"""
