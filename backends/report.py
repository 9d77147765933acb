"""The audit report: one self-contained HTML file describing what a network computes where.

Sections: the model (source, sha256, inputs, outputs, hidden widths, domain); cell statistics
(count, bounded/unbounded, facets per cell, distinct affine maps, how the domain's volume is
shared among the cells); a picture (:func:`relucompile.backends.plot.picture`: the partition for 2 inputs,
a 2-D slice for more, the function for 1); and a table of the largest cells with their rules
(the cell's conditions and each output's affine formula).  Images are PNGs embedded as base64,
the style is inline: the file opens anywhere, offline, and can be archived as it is.

Volume shares are exact for 1 and 2 inputs (interval lengths, polygon areas) and otherwise
estimated from uniform samples of the domain with a fixed seed (so the report is reproducible);
a sample is assigned to its cell by its activation pattern.  When the cells of a d > 2 input
domain are too many to enumerate within the limits, the statistics and the table describe the
slice instead, and the report says so.

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> net = random_mlp(2, [4], 1, seed=0)
    >>> html = build_report(net, Domain.box([-1, -1], [1, 1]))
    >>> html.startswith("<!DOCTYPE html>"), "data:image/png;base64," in html
    (True, True)
"""
from __future__ import annotations

import base64
import html
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np

from relucompile.backends.files import atomic_write
from relucompile.backends.plot import (PlaneSlice, Picture, bounding_box, figure_bytes, label_cells, picture,
                           plural, slice_network)
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import Limits, enumerate_regions
from relucompile.limits import check_time, doing, remaining, time_budget
from relucompile.errors import RegionLimitError, TimeLimitError
from relucompile.analysis.cells import DEFAULT_SAMPLES, denoised_map, float_inequality, number_text
from relucompile.analysis.cells import volume_shares as cell_volume_shares
from relucompile.analysis.explain import affine_text, default_names
from relucompile.ir.network import ReluNet
from relucompile.regions.store import RegionSet
from relucompile.version import __version__
from relucompile.numeric.tolerances import GEOMETRIC_TOL, MIN_SOLVE_SECONDS, ROUNDING_NOISE



# -- statistics ------------------------------------------------------------------------------

def volume_shares(net: ReluNet, regions: RegionSet, *, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                  areas: np.ndarray | None = None) -> tuple[np.ndarray | None, str]:
    """Each cell's share of the domain's volume and the method
    (:func:`relucompile.analysis.cells.volume_shares`), samples located by :func:`cells_of`.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> net = random_mlp(2, [3], 1, seed=0)
        >>> shares, method = volume_shares(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
        >>> method, round(float(shares.sum()), 9)
        ('exact', 1.0)
    """
    return cell_volume_shares(net, regions, samples=samples, seed=seed, areas=areas,
                              locate=lambda X: cells_of(net, regions, X))


def cells_of(net: ReluNet, regions: RegionSet, X: np.ndarray) -> np.ndarray:
    """The cell of each row of X, by the project's one point -> cell lookup (the point-location
    tree of :mod:`relucompile.shallow.locate`, with the design's tie-break on boundaries); -1
    outside the domain.

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[1.0]])}, np.zeros(1)))
        >>> regions = enumerate_regions(net, Domain.box([-1], [1]))
        >>> cells_of(net, regions, np.array([[0.5], [-0.5], [2.0]])).tolist()
        [0, 1, -1]
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    out = np.full(len(X), -1, dtype=np.int64)
    if len(regions):
        out = _cells_by_pattern(net, regions, X)
        unsure = out < 0
        if np.any(unsure):
            from relucompile.shallow.net import build_shallow
            out[unsure] = build_shallow(net, regions).select_cells(X[unsure])
    out[~regions.domain.contains(X, tol=GEOMETRIC_TOL * (1 + np.abs(X).max(initial=0)))] = -1
    return out


def _cells_by_pattern(net: ReluNet, regions: RegionSet, X: np.ndarray) -> np.ndarray:
    """The cell whose activation pattern is the point's, for points whose every pre-activation is
    clearly nonzero (no unit within rounding of its hyperplane: there the locator's tie-break
    decides); -1 for the others.  Such a point lies in the interior of exactly the cell of its
    pattern, so this is the locator's answer at a fraction of its cost for many cells."""
    index = {row.tobytes(): k for k, row in enumerate(regions.cells.pattern_bits)}
    out = np.full(len(X), -1, dtype=np.int64)
    for start in range(0, len(X), PATTERN_CHUNK):      # chunks: (rows x units) arrays stay small
        _, pre = net.forward(X[start:start + PATTERN_CHUNK], return_preactivations=True)
        if not pre:
            out[start:start + PATTERN_CHUNK] = 0
            continue
        Z = np.hstack(pre)
        Z_abs = np.abs(Z)
        clear = Z_abs.min(axis=1) > GEOMETRIC_TOL * (1.0 + Z_abs.max(axis=1))
        bits = np.packbits(Z > 0, axis=1)
        out[start:start + PATTERN_CHUNK] = [index.get(row.tobytes(), -1) if ok else -1
                                            for row, ok in zip(bits, clear.tolist())]
    return out


PATTERN_CHUNK = 4096


@dataclass
class CellStats:
    """Summary figures of a set of cells (see :func:`cell_stats`)."""

    cells: int
    bounded: int
    facets_min: int
    facets_mean: float
    facets_max: int
    distinct_maps: int
    hyperplanes: int
    shares: np.ndarray | None
    share_method: str
    seconds: float            # the enumeration of these cells
    stats_seconds: float = 0.0

    def cells_covering(self, fraction: float) -> int | None:
        """How many of the largest cells together cover ``fraction`` of the domain."""
        if self.shares is None:
            return None
        cumulative = np.cumsum(np.sort(self.shares)[::-1])
        return int(np.searchsorted(cumulative, fraction * cumulative[-1] - ROUNDING_NOISE) + 1)


def cell_stats(net: ReluNet, regions: RegionSet, *, areas: np.ndarray | None = None,
               samples: int = DEFAULT_SAMPLES, seed: int = 0) -> CellStats:
    """Count, boundedness, facets per cell (domain facets included), distinct affine maps
    (equal up to 1e-9 of the largest coefficient), facet hyperplanes in use, volume shares.

    Example:
        >>> from relucompile.examples.random_nets import random_mlp
        >>> net = random_mlp(2, [3], 1, seed=0)
        >>> regions = enumerate_regions(net, Domain.box([-1, -1], [1, 1]))
        >>> stats = cell_stats(net, regions)
        >>> stats.cells == len(regions), stats.share_method, round(float(stats.shares.sum()), 6)
        (True, 'exact', 1.0)
    """
    start = time.perf_counter()
    check_time()
    cells = regions.cells
    facets = np.diff(cells.facet_ptr) if len(regions) else np.zeros(1, dtype=np.int64)
    maps = np.concatenate([cells.A.reshape(len(regions), -1), cells.c.reshape(len(regions), -1)], axis=1)
    scale = float(np.abs(maps).max(initial=0.0)) or 1.0
    distinct = len(np.unique(np.round(maps / (scale * GEOMETRIC_TOL)).astype(np.int64), axis=0)) if len(maps) else 0
    shares, method = volume_shares(net, regions, samples=samples, seed=seed, areas=areas)
    return CellStats(len(regions), int(np.count_nonzero(cells.bounded)), int(facets.min()),
                     float(np.mean(facets)), int(facets.max()), distinct, len(regions.used_hyperplanes()),
                     shares, method, float(regions.stats.get("seconds", 0.0)), time.perf_counter() - start)


# -- rules -------------------------------------------------------------------------------------

def inequality_text(w: Sequence[float], b: float, names: Sequence[str], digits: int = 4) -> str:
    """``w . x + b >= 0`` scaled so its largest coefficient is 1, constant on the right.

    Example:
        >>> inequality_text([-2.0, 1.0], 1.0, ["x1", "x2"])
        'x1 - 0.5*x2 <= 0.5'
    """
    ineq = float_inequality(np.asarray(w, dtype=np.float64), float(b), closed=True)
    return f"{affine_text(ineq.coeffs, 0.0, names, digits)} {ineq.op} {number_text(ineq.rhs, digits)}"


@dataclass
class Rule:
    """One cell as a rule: if ``conditions`` then output j = ``formulas[j]``."""

    cell: int
    share: float | None
    active: int
    conditions: list[str]
    formulas: list[str]


def cell_rules(regions: RegionSet, order: Sequence[int], names: Sequence[str], shares: np.ndarray | None,
               digits: int = 4) -> list[Rule]:
    """The rules of the cells in ``order`` (the domain's own facets are left out: stated once).

    Example:
        >>> from relucompile.ir.network import AffineLayer
        >>> net = ReluNet(1, [AffineLayer({0: np.array([[1.0]])}, np.zeros(1))],
        ...               AffineLayer({1: np.array([[2.0]])}, np.zeros(1)))
        >>> rules = cell_rules(enumerate_regions(net, Domain.box([-1], [1])), [0], ["x"], None)
        >>> rules[0].conditions, rules[0].formulas
        (['x >= 0'], ['2*x'])
    """
    rules = []
    for k in order:
        cell = regions.cells[k]
        conditions = []
        for h, s in cell.facets:
            plane = regions.hyperplanes[h]
            if plane.kind != "domain":
                conditions.append(inequality_text(s * plane.w, s * plane.b, names, digits))
        formulas = [affine_text(*denoised_map(row, const), names, digits) for row, const in zip(cell.A, cell.c)]
        rules.append(Rule(k, None if shares is None else float(shares[k]), int(np.sum(cell.pattern)),
                          conditions, formulas))
    return rules


# -- the report ------------------------------------------------------------------------------

@dataclass
class ReportOptions:
    """What the report shows and how hard it tries (see :func:`build_report`).

    ``max_regions``/``time_limit`` default to none, as for compile: the whole domain is enumerated
    unless the caller bounds the run.  ``command_line``, ``generated_at`` and ``started`` (a
    ``time.perf_counter()`` value: the timings' total counts from there) make the header."""

    plane: PlaneSlice | None = None
    top: int = 12
    digits: int = 4
    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    max_regions: int | None = None
    time_limit: float | None = None
    decision: str | None = None
    input_names: Sequence[str] | None = None
    output_names: Sequence[str] | None = None
    domain_note: str = ""
    lens: Any = None                       # a LinearLens of data samples: adds "The linear lens" section
    lens_image_shape: Sequence[int] | None = None
    stored: Any = None                     # a StoredCells (backends.stored_report): the cells of a regions
                                           # dataset, read instead of enumerated
    command_line: str | None = None
    generated_at: datetime | None = None
    started: float | None = None
    timings: dict[str, float] = field(default_factory=dict)   # filled by build_report (and the caller: "load")
    picture_max_regions: int | None = 200_000                   # the slice picture's own enumeration
    figure_size: tuple[float, float] = (11.0, 6.5)              # inches at 100 dpi: the page's full width


def model_output_names(net: ReluNet) -> list[str]:
    """The model's own names for its outputs when each ONNX output is one number per sample,
    else ``y1 .. ym``.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.api.compile import load_network
        >>> model_output_names(load_network(tiny_mlp_path()))     # one output 'y' of 2 numbers
        ['y1', 'y2']
    """
    outputs = net.signature.outputs or ()
    if len(outputs) == net.m and all(_per_sample_size(dims) == 1 for _, dims in outputs):
        names = [name for name, _ in outputs]
        if len(set(names)) == len(names):
            return names
    return default_names(net.m, "y")


def _per_sample_size(dims: Any) -> int | None:
    """Numbers per sample of an output of ``dims`` (leading dimension the batch), None if unknown."""
    if dims is None:
        return None
    rest = list(dims)[1:]
    if any(not isinstance(v, int) for v in rest):
        return None
    return int(np.prod(rest)) if rest else 1


def build_report(net: ReluNet, domain: Domain, options: ReportOptions | None = None, **overrides: Any) -> str:
    """The audit report of ``net`` over the bounded ``domain`` as one HTML string.

    ``options`` (or keyword overrides of its fields): ``plane`` for inputs > 2 (default: through
    the centre of the domain's box along the first two inputs that vary), ``top`` cells in the
    rules table, ``digits`` of the numbers, ``samples``/``seed`` of the volume estimate,
    ``time_limit`` (seconds) for the whole report, every loop included; ``max_regions`` (none by
    default, as compile) and half of the time left for the full enumeration (past them a d > 2
    report describes the slice and says what was cut; the picture's own enumeration stops at
    ``picture_max_regions``), ``decision`` ("argmax"/"argmin": also draw and label where each
    output wins), names of inputs and outputs (default: the model's output names, else y1..ym),
    a ``domain_note`` shown after the domain, and the header's command line and date;
    ``stored`` (a :class:`~relucompile.backends.stored_report.StoredCells`): the cells of a regions
    dataset compiled over ``domain``, read batch by batch instead of enumerated.
    """
    opts = options or ReportOptions()
    for key, value in overrides.items():
        setattr(opts, key, value)
    with time_budget(opts.time_limit), doing("building the report"):
        return _build_report(net, domain, opts)


def _build_report(net: ReluNet, domain: Domain, opts: ReportOptions) -> str:
    """:func:`build_report` within its time budget."""
    started = opts.started if opts.started is not None else time.perf_counter()
    timings = opts.timings
    names = list(opts.input_names) if opts.input_names else default_names(net.d, "x")
    outs = list(opts.output_names) if opts.output_names else model_output_names(net)
    # the whole report stops at time_limit; the whole domain's enumeration (d > 2) at half of what
    # is left of it, leaving the rest for the slice that replaces it
    left = remaining()
    whole = None if opts.time_limit is None else max(left / 2, MIN_SOLVE_SECONDS) if net.d > 2 else left
    limits = Limits(opts.max_regions, whole)
    bounding_box(domain)  # a clear error for unbounded domains, before any work
    regions, scope, note = None, "domain", ""
    stored = opts.stored
    streamed = stored is not None and net.d > 2    # statistics and rules read from the dataset batch by batch
    if stored is not None and net.d <= 2:   # the picture draws every cell: all are loaded
        clock = time.perf_counter()
        regions = stored.regions(net)
        timings["reading the regions dataset"] = time.perf_counter() - clock
    elif net.d > 2 and stored is None:
        clock = time.perf_counter()
        try:
            regions = enumerate_regions(net, domain, limits=limits)
        except TimeLimitError as exc:
            if remaining() <= 0:    # the report's own budget, not the enumeration's share of it
                raise
            note = (f"The cells of the whole domain were not enumerated ({exc}); the statistics and the "
                    "table below describe the slice shown in the picture.")
        except RegionLimitError as exc:
            note = (f"Cut: the cells of the whole domain were not enumerated ({exc}); the statistics and the "
                    "table below describe only the slice shown in the picture, not the whole domain.")
        timings["enumeration of the domain"] = time.perf_counter() - clock
    clock = time.perf_counter()
    pic = picture(net, domain, opts.plane, regions=regions if net.d <= 2 else None, input_names=names,
                  output_names=outs, limits=limits if net.d <= 2 else Limits(opts.picture_max_regions, opts.time_limit),
                  decision=opts.decision, size=opts.figure_size)
    check_time()
    timings["enumeration and picture" if net.d <= 2 else "picture of the slice"] = time.perf_counter() - clock
    areas = pic.partition.areas() if pic.partition is not None and pic.kind == "partition" else None
    if streamed:   # the whole domain's cells
        table_names = names
        stats = stored.cell_stats(net, samples=opts.samples, seed=opts.seed)
        timings["reading the regions dataset"] = stats.stats_seconds
    elif regions is None and pic.kind == "slice":
        regions, scope = pic.regions, "slice"
        table_net, table_names = slice_network(net, pic.plane), list(pic.plane.axis_labels(names))
        areas = pic.partition.areas()
        stats = cell_stats(table_net, regions, areas=areas, samples=opts.samples, seed=opts.seed)
    else:
        regions = regions if regions is not None else pic.regions
        table_names = names
        stats = cell_stats(net, regions, areas=areas, samples=opts.samples, seed=opts.seed)
    if not streamed:
        timings["statistics"] = stats.stats_seconds
    clock = time.perf_counter()
    order = (np.argsort(-stats.shares, kind="stable") if stats.shares is not None
             else np.arange(stats.cells))[:opts.top]
    check_time()
    if streamed:
        rules = stored.rules([int(k) for k in order], table_names, stats.shares, opts.digits)
    else:
        rules = cell_rules(regions, [int(k) for k in order], table_names, stats.shares, opts.digits)
    same_cells = pic.partition is not None and pic.regions is regions   # the table's cells are drawn
    if same_cells:
        label_cells(pic, [rule.cell for rule in rules])
    png = figure_bytes(pic.figure, "png", dpi=100)
    timings["rules and drawing"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - started
    return _html(net, domain, opts, names, outs, stats, scope, note, pic, png, rules, same_cells)


def write_report(path: str, net: ReluNet, domain: Domain, options: ReportOptions | None = None, **overrides: Any) -> None:
    """Build the report and write it atomically to ``path``."""
    text = build_report(net, domain, options, **overrides)
    atomic_write(path, lambda f: f.write(text), text=True)


def versions() -> dict[str, str]:
    """Versions of relucompile, Python and the libraries that read and run the model (for the
    report's header: an audit must be reproducible).

    Example:
        >>> sorted(versions())
        ['numpy', 'onnx', 'onnxruntime', 'python', 'relucompile']
    """
    from importlib.metadata import PackageNotFoundError, version
    out = {"relucompile": __version__, "python": platform.python_version()}
    for package in ("numpy", "onnx", "onnxruntime"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


STYLE = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1.5em; color: #1d1d1d; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.6em;
     border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
p.lead { color: #444; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
table.kv th { width: 15em; font-weight: 600; }
table.rules td.num { text-align: right; white-space: nowrap; }
code, td.rule { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.88em; }
td.rule div { white-space: normal; padding-left: 1.5em; text-indent: -1.5em; }
span.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #888;
              vertical-align: -0.1em; margin-right: 0.3em; }
figure { margin: 1em 0; } figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.92em; max-width: 60em; }
p.note { background: #fff7d6; border: 1px solid #e6d48a; padding: 0.5em 0.8em; }
footer { margin-top: 2.5em; color: #777; font-size: 0.85em; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _kv(rows: list[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _share(share: float | None, method: str) -> str:
    if share is None:
        return "n/a"
    return f"{100 * share:.3g}%" if method == "exact" or share > 0 else "&lt;1 sample"


def _html(net: ReluNet, domain: Domain, opts: ReportOptions, names: list[str], outs: list[str], stats: CellStats,
          scope: str, note: str, pic: Picture, png: bytes, rules: list[Rule], same_cells: bool) -> str:
    sig, source = net.signature, net.source
    units = sum(net.widths)
    when = (opts.generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    run_rows = [
        ("generated", when.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("command", f"<code>{_esc(opts.command_line)}</code>" if opts.command_line
         else "(built from Python: <code>relucompile.backends.report.build_report</code>)"),
        ("versions", ", ".join(f"{_esc(k)} {_esc(v)}" for k, v in versions().items())),
        ("model sha256", f"<code>{_esc(net.source_sha256 or 'n/a (not read from a file)')}</code>"),
    ]
    model_rows = [
        ("source", f"<code>{_esc(source)}</code>"),
        ("inputs", f"{net.d}: " + ", ".join(f"<code>{_esc(n)}</code>" for n in names)
         + (f" (ONNX input <code>{_esc(sig.input_name)}</code>)" if sig.input_name is not None else "")),
        ("outputs", f"{net.m}: " + ", ".join(f"<code>{_esc(n)}</code>" for n in outs)
         + (f" (ONNX output <code>{_esc(sig.output_name)}</code>)" if sig.output_name is not None else "")),
        ("hidden layers", f"{len(net.widths)} ReLU layers, widths {_esc(net.widths)} ({plural(units, 'unit')})"),
        ("domain", _esc(domain.describe()) + (f" <em>{_esc(opts.domain_note)}</em>" if opts.domain_note else "")),
    ]
    where = "the whole domain" if scope == "domain" else "the slice"
    if stats.shares is None:
        share_text = "undefined (unbounded domain)"
    else:
        how = ("exact (interval lengths / polygon areas)" if stats.share_method == "exact"
               else f"estimated from {opts.samples:,} uniform samples, seed {opts.seed}")
        half, most = stats.cells_covering(0.5), stats.cells_covering(0.9)
        median = float(np.median(stats.shares))
        median_text = (f"{100 * median:.3g}%" if median > 0 or stats.share_method == "exact"
                       else f"below one sample (&lt; {100 / opts.samples:.2g}%)")
        share_text = (f"largest cell {100 * float(stats.shares.max()):.3g}%, median {median_text}; the {plural(half, 'largest cell')} cover half "
                      f"of {where}, {most:,} cover 90%; {how}")
    stat_rows = [
        ("cells", f"{stats.cells:,} (full-dimensional activation regions of {where})"),
        ("bounded / unbounded", f"{stats.bounded:,} / {stats.cells - stats.bounded:,}"),
        ("facets per cell", f"min {stats.facets_min}, mean {stats.facets_mean:.2f}, max {stats.facets_max} "
                            "(domain facets included)"),
        ("distinct affine maps", f"{stats.distinct_maps:,} (cells with equal (A, c) compute the same formula)"),
        ("hyperplanes", f"{stats.hyperplanes:,} distinct facet hyperplanes"),
        ("volume shares", share_text),
        ("timings", _timings_text(opts.timings)),
    ]
    b64 = base64.b64encode(png).decode("ascii")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>relucompile audit report: {_esc(source)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Audit report: <code>{_esc(source)}</code></h1>",
        '<p class="lead">A ReLU network is piecewise linear: its input domain splits into activation cells, '
        "and on each cell every output is one affine formula of the inputs. This report lists those "
        "cells, their rules and a picture of the partition, computed exactly by relucompile.</p>",
        "<h2>This report</h2>", _kv(run_rows),
        "<h2>Model</h2>", _kv(model_rows),
        f"<h2>Cells of {where}</h2>",
    ]
    if note:
        parts.append(f'<p class="note">{_esc(note)}</p>')
    parts += [_kv(stat_rows), "<h2>Picture</h2>",
              f'<figure><img alt="{_esc(pic.caption)}" src="data:image/png;base64,{b64}">'
              f"<figcaption>{_esc(pic.caption)}</figcaption></figure>"]
    parts.append(_rules_table(rules, outs, stats, pic, scope, opts, same_cells))
    if opts.lens is not None:
        parts.append(_lens_section(opts.lens, opts.lens_image_shape, outs))
    parts.append(f"<footer>relucompile {__version__}. Numbers are rounded to {opts.digits} significant digits; "
                 "the exact cells are in the regions JSON (<code>relucompile MODEL --regions FILE.json</code>), "
                 "the exact rules in <code>--format sympy|smtlib</code>, and any single input is explained by "
                 "<code>relucompile explain MODEL --at x1,x2,...</code></footer></body></html>")
    return "\n".join(parts) + "\n"


def _timings_text(timings: dict[str, float]) -> str:
    """``enumeration of the domain 3.61 s, picture 0.40 s, ...; total 5.2 s`` (wall seconds)."""
    parts = [f"{_esc(k)} {v:.2f} s" for k, v in timings.items() if k != "total"]
    total = timings.get("total")
    return ", ".join(parts) + (f"; total {total:.2f} s wall" if total is not None else "")


def _lens_section(lens: Any, image_shape: Sequence[int] | None, outs: list[str]) -> str:
    """The linear lens over the given samples: aggregates and the lens figure (similarity matrix,
    per-class mean effective weights)."""
    from relucompile.backends.lens_plot import lens_img_tag
    s = lens.summary()
    rows = [("samples", f"{s['samples']:,}"), ("cells visited", f"{s['cells_visited']:,} (the largest holds "
                                                                  f"{s['largest_cell_samples']:,} samples)"),
            ("units never active on the data", str(len(s["units_never_active"]))),
            ("units always active on the data", str(len(s["units_always_active"])))]
    if lens.labels is not None:
        rows += [("cosine similarity of W_eff within classes", f"{s['within_class_similarity']:.3f}"),
                 ("between classes", f"{s['between_class_similarity']:.3f}" if s["between_class_similarity"] is not None
                  else "-")]
    names = [outs[int(c)] if isinstance(c, (int, np.integer)) and 0 <= int(c) < len(outs) and len(lens.classes) == len(outs)
             else str(c) for c in lens.classes]
    figure = lens_img_tag(lens, image_shape=image_shape, class_names=names) if lens.labels is not None else ""
    return ("<h2>The linear lens over data</h2><p>On each cell the network is the linear model "
            "W_eff x + b_eff; these are the effective weights at the given samples (no enumeration).</p>"
            + _kv(rows) + figure)


def _rules_table(rules: list[Rule], outs: list[str], stats: CellStats, pic: Picture, scope: str,
                 opts: ReportOptions, same_cells: bool) -> str:
    order = "largest share first" if stats.shares is not None else "by cell id"
    head = (f"<h2>The {plural(len(rules), 'largest cell') if stats.shares is not None else plural(len(rules), 'cell')}"
            f" and their rules</h2><p>{order}; of {stats.cells:,} in all. Conditions are the cell's facets (the "
            "domain's own bounds are left out); on the cell each output equals its formula.")
    if same_cells:
        head += " The picture shows each listed cell's number at its centre."
    if scope == "slice" and pic.plane is not None:
        head += f" Coordinates are those of the slice: {_esc(pic.plane.describe(opts.input_names or default_names(len(pic.plane.point), 'x')))}."
    head += "</p>"
    colours = {k: pic.partition.rgb(k) for k in range(len(pic.partition.regions))} if same_cells else {}
    rows = ["<tr><th>cell</th><th>share</th><th>active units</th><th>if</th><th>then</th></tr>"]
    for rule in rules:
        swatch = f'<span class="swatch" style="background:{colours[rule.cell]}"></span>' if rule.cell in colours else ""
        conds = "".join(f"<div>{_esc(c)}</div>" for c in rule.conditions) or "<div>(the whole domain)</div>"
        forms = "".join(f"<div>{_esc(n)} = {_esc(f)}</div>" for n, f in zip(outs, rule.formulas))
        rows.append(f'<tr><td class="num">{swatch}{rule.cell}</td><td class="num">{_share(rule.share, stats.share_method)}'
                    f'</td><td class="num">{rule.active}</td><td class="rule">{conds}</td><td class="rule">{forms}</td></tr>')
    return head + '<table class="rules">' + "".join(rows) + "</table>"
