"""Compile a ``torch.nn.Module`` with the module's arguments first (needs ``relucompile[torch]``)."""
from __future__ import annotations

from typing import Any

from relucompile.api.compile import compile_model
from relucompile.ir.domain import Domain
from relucompile.shallow.net import ShallowNet


def compile_torch(module: Any, example_input: Any, domain: Domain | None = None, **options: Any) -> ShallowNet:
    """Compile an ``nn.Module`` at the shape of ``example_input`` into its exact shallow network
    (:func:`relucompile.api.compile.compile_model` with the module's arguments first).

    ``example_input``: a tensor, or a tuple of tensors for a module with several inputs (the domain is
    then over their flattened concatenation, in argument order).  ``domain`` is over the flattened
    input (default all of R^d); options as :func:`relucompile.api.compile.compile_network` (``max_regions``, ``time_limit``,
    ``progress``, ``seed``).

    Example:
        >>> import torch
        >>> from relucompile.ir.domain import Domain
        >>> torch.manual_seed(0) and None
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
        >>> shallow = compile_torch(net, torch.zeros(1, 2), Domain.box([-1, -1], [1, 1]))
        >>> shallow.num_cells > 0
        True
    """
    return compile_model(module, domain, example_input=example_input, **options)
