"""A quick estimate of the cell count before enumeration, from sampled activation patterns.

Random points of the domain land in cells; the number of distinct patterns among them is a lower
bound on the cell count, and how often patterns repeat says how many were missed.  The Chao1
estimator of species richness, ``S + f1^2 / (2 f2)`` (``f1``: patterns seen once, ``f2``: twice;
``S + f1 (f1 - 1) / 2`` when none was seen twice), extrapolates crudely.  It sees large cells
first, so it tends to undercount when cells differ much in size; it is meant to tell a run of
seconds from a run of days, not to predict counts.  Cost: one batched forward pass.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> guess = estimate_cell_count(random_mlp(2, [4, 4], 1, seed=0), Domain.box([-1, -1], [1, 1]))
    >>> guess.distinct <= guess.estimate, 8 <= guess.estimate <= 40      # 12 cells in truth
    (True, True)
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from relucompile.ir.domain import Domain
from relucompile.ir.network import ReluNet

DEFAULT_SAMPLES = 2000
#: at most this many sampled values (points x units) in one forward pass
MAX_SAMPLED_VALUES = 20_000_000


@dataclass(frozen=True)
class CellEstimate:
    """``samples`` points, ``distinct`` patterns among them, ``singletons`` / ``doubletons``
    (patterns seen once / twice) and the extrapolated cell count ``estimate``."""

    samples: int
    distinct: int
    singletons: int
    doubletons: int
    estimate: int

    @property
    def saturated(self) -> bool:
        """Whether (almost) every sample found a new pattern: the count is then far above the
        estimate, which only says "at least this many"."""
        return self.distinct >= 0.9 * self.samples


def chao1(counts: list[int]) -> float:
    """The bias-corrected Chao1 richness estimate from how often each pattern was seen.

    Example:
        >>> chao1([5, 5, 5]), chao1([1, 1, 2, 3]), chao1([1, 1, 1])
        (3.0, 6.0, 6.0)
    """
    distinct = len(counts)
    f1 = sum(1 for c in counts if c == 1)
    f2 = sum(1 for c in counts if c == 2)
    if f2 > 0:
        return distinct + f1 * f1 / (2.0 * f2)
    return distinct + f1 * (f1 - 1) / 2.0


def estimate_cell_count(net: ReluNet, domain: Domain, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> CellEstimate:
    """Sample ``samples`` points of ``domain`` (fewer on very wide nets), count their distinct
    activation patterns and extrapolate (:func:`chao1`).

    Example:
        >>> from relucompile.api.compile import load_network
        >>> from relucompile.examples import tiny_mlp_path
        >>> net = load_network(tiny_mlp_path())
        >>> small = estimate_cell_count(net, Domain.box([0, 0], [0.25, 0.25]))   # 4 cells
        >>> large = estimate_cell_count(net, Domain.box([-4, -4], [4, 4]))
        >>> small.estimate, small.estimate < large.estimate
        (4, True)
    """
    samples = max(10, min(samples, MAX_SAMPLED_VALUES // max(1, net.num_units + net.d)))
    X = domain.sample(samples, np.random.default_rng(seed))
    pattern = np.concatenate(net.pattern(X), axis=1) if net.num_units else np.zeros((len(X), 0), bool)
    packed = np.packbits(pattern, axis=1)
    counts = list(Counter(row.tobytes() for row in packed).values())
    return CellEstimate(samples=len(X), distinct=len(counts), singletons=sum(1 for c in counts if c == 1),
                        doubletons=sum(1 for c in counts if c == 2), estimate=int(round(chao1(counts))))


def budget_warning(guess: CellEstimate, cells_per_second: float, *, max_regions: int | None,
                   time_limit: float | None, domain_option: str = "--box or --domain") -> str | None:
    """One line when the estimated run will not fit ``--max-regions`` or ``--time-limit``
    (``cells_per_second``: the rate measured so far, or a typical one), else None.

    Example:
        >>> guess = CellEstimate(2000, 1990, 1980, 10, 196_000)
        >>> print(budget_warning(guess, 1000.0, max_regions=None, time_limit=60))
        warning: about 196,000 cells or more (estimate from 2,000 sampled points) at about 1,000 cells/s: about 3 min 16 s, past --time-limit 60; use a smaller domain (--box or --domain) or raise the limit
        >>> budget_warning(guess, 1000.0, max_regions=None, time_limit=None) is None
        True
        >>> print(budget_warning(guess, 1000.0, max_regions=100_000, time_limit=None))
        warning: about 196,000 cells or more (estimate from 2,000 sampled points), past --max-regions 100,000 (reached in about 1 min 40 s); use a smaller domain (--box or --domain) or raise the limit
    """
    from relucompile.progress import duration_text, rate_text
    cells = f"about {guess.estimate:,} cells" + (" or more" if guess.saturated else "")
    basis = f"(estimate from {guess.samples:,} sampled points)"
    advice = f"use a smaller domain ({domain_option}) or raise the limit"
    if max_regions is not None and guess.estimate > max_regions:
        when = f" (reached in about {duration_text(max_regions / cells_per_second)})" if cells_per_second > 0 else ""
        return f"warning: {cells} {basis}, past --max-regions {max_regions:,}{when}; {advice}"
    if time_limit is not None and cells_per_second > 0:
        seconds = guess.estimate / cells_per_second
        if seconds > time_limit:
            return (f"warning: {cells} {basis} at about {rate_text(cells_per_second)} cells/s: about "
                    f"{duration_text(seconds)}, past --time-limit {time_limit:g}; {advice}")
    return None
