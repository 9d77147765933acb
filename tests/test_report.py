"""Pictures and the audit report: colour regions = cells, slices, rules, headless Chromium rendering."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucompile.backends.plot import (PALETTE, figure_bytes, parse_slice, partition_2d, picture, slice_domain,
                           slice_network)
from relucompile.analysis.cells import uniform_points
from relucompile.backends.equations import volume_shares as equations_volume_shares
from relucompile.backends.report import build_report, cell_rules, cell_stats, cells_of, volume_shares
from relucompile.shallow.net import build_shallow
from relucompile.cli import main as cli
from relucompile.cli.audit import run_plot, run_report
from relucompile.ir.domain import Domain
from relucompile.regions.enumerate import enumerate_regions
from conftest import ROOT, data_path
from relucompile import load_network
from relucompile.examples.random_nets import random_mlp

EXAMPLE = os.path.join(ROOT, "compiler", "examples", "tiny_mlp.onnx")
SQUARE = Domain.box([-1, -1], [1, 1])


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


def colour_components(image: np.ndarray, colours: set[str], min_pixels: int = 1) -> dict[str, int]:
    """Number of 4-connected components of at least ``min_pixels`` pixels of every colour in
    ``colours`` (runs of a row, merged with the runs above by union-find)."""
    codes = image[..., 0].astype(np.int64) << 16 | image[..., 1].astype(np.int64) << 8 | image[..., 2]
    wanted = {int(c[1:], 16) for c in colours}
    parent: list[int] = []

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    previous: list[tuple[int, int, int, int]] = []   # (start, end, code, run id) of the row above
    run_code: list[int] = []
    run_size: list[int] = []
    for row in codes:
        edges = np.flatnonzero(np.diff(row)) + 1
        starts, ends = np.concatenate([[0], edges]), np.concatenate([edges, [row.size]])
        current = []
        for s, e in zip(starts.tolist(), ends.tolist()):
            code = int(row[s])
            if code not in wanted:
                continue
            rid = len(parent)
            parent.append(rid)
            run_code.append(code)
            run_size.append(e - s)
            for ps, pe, pc, pid in previous:
                if pc == code and ps < e and s < pe:
                    ra, rb = find(rid), find(pid)
                    if ra != rb:
                        parent[ra] = rb
            current.append((s, e, code, rid))
        previous = current
    sizes: dict[int, int] = {}
    for r in range(len(parent)):
        root = find(r)
        sizes[root] = sizes.get(root, 0) + run_size[r]
    counts: dict[str, int] = {}
    for root, size in sizes.items():
        if size >= min_pixels:
            key = "#{:06x}".format(run_code[root])
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_colour_components_helper() -> None:
    img = np.zeros((4, 5, 3), np.uint8)
    img[:, :] = (255, 0, 0)
    img[:, 2] = (0, 0, 0)          # a black column splits the red into two regions
    img[0, 2] = (255, 0, 0)        # ... unless a red pixel bridges them
    assert colour_components(img, {"#ff0000"}) == {"#ff0000": 1}
    img[0, 2] = (0, 0, 0)
    assert colour_components(img, {"#ff0000", "#000000"}) == {"#ff0000": 2, "#000000": 1}
    img[2, 0] = (0, 0, 0)          # cut red pixel (3, 0) off: a fragment below min_pixels
    img[3, 1] = (0, 0, 0)
    assert colour_components(img, {"#ff0000"}) == {"#ff0000": 3}
    assert colour_components(img, {"#ff0000"}, min_pixels=2) == {"#ff0000": 2}


# -- the partition picture -------------------------------------------------------------------------

@pytest.mark.parametrize("widths, seed, dpi", [([4], 3, 100), ([4], 5, 100), ([3, 3], 7, 100), ([4, 4], 0, 150)])
def test_colour_regions_match_cell_count(widths, seed, dpi) -> None:
    """Rendered without antialiasing or lines, each cell is one region of its own colour.  Sharp tips
    of thin wedges rasterise to a few loose pixels: fragments under 10 pixels are not regions (every
    cell here has an inscribed ball of radius > 0.015, i.e. > 40 pixels)."""
    net = random_mlp(2, widths, 2, seed=seed)
    pic = picture(net, SQUARE, edges=False, level_sets=False, antialiased=False)
    part = pic.partition
    cells = len(part.regions)
    assert cells >= 6 and min(c.radius for c in part.regions.cells) > 0.015  # every cell is visible
    image = _png_pixels(figure_bytes(pic.figure, "png", dpi))
    colours = {part.rgb(k) for k in range(cells)}
    counts = colour_components(image, colours, min_pixels=10)
    assert sum(counts.values()) == cells, counts
    # the exposed mapping: every cell's interior point is drawn in the cell's colour
    ax = pic.figure.axes[0]
    height = image.shape[0]
    for k, cell in enumerate(part.regions.cells):
        px, py = ax.transData.transform(cell.interior) * dpi / pic.figure.dpi
        assert _hex(image[int(height - py), int(px)]) == part.rgb(k)


def test_neighbours_get_different_colours() -> None:
    net = random_mlp(2, [8, 8], 1, seed=2)
    part = partition_2d(net, SQUARE)
    regions = part.regions
    shared = 0
    for a, ca in enumerate(regions.cells):
        for b in range(a + 1, len(regions)):
            cb = regions.cells[b]
            common = {h for h, s in ca.facets} & {h for h, s in cb.facets}
            for h in common:
                if regions.hyperplanes[h].kind == "unit" and dict(ca.facets)[h] != dict(cb.facets)[h]:
                    from relucompile.backends.plot import polygon_distance
                    if polygon_distance(part.polygons[a], part.polygons[b]) < 1e-9:
                        shared += 1
                        assert part.colours[a] != part.colours[b]
    assert shared > 20
    assert set(part.rgb(k) for k in range(len(regions))) <= set(PALETTE)
    assert part.areas().sum() == pytest.approx(4.0, rel=1e-9)


def test_level_set_segments_are_zeros_of_the_network() -> None:
    net = random_mlp(2, [6, 6], 2, seed=4)
    part = partition_2d(net, SQUARE)
    segments = [s for segs in part.level_sets for s in segs]
    assert segments
    for j, segs in enumerate(part.level_sets):
        for seg in segs:
            mid = seg.mean(axis=0)
            for point in (seg[0], seg[1], mid):
                assert abs(net.forward(point[None])[0, j]) < 1e-9


@pytest.mark.parametrize("decision", ["argmax", "argmin"])
def test_decision_boundary_is_where_the_top_two_outputs_tie(decision) -> None:
    net = random_mlp(2, [6, 6], 3, seed=2)
    part = partition_2d(net, SQUARE, decision=decision)
    assert len(part.decision_boundary) >= 3
    sign = 1.0 if decision == "argmax" else -1.0
    for seg in part.decision_boundary:
        for point in (seg[0], seg[1], seg.mean(axis=0)):
            top = np.sort(sign * net.forward(point[None])[0])[::-1]
            assert top[0] - top[1] < 1e-9
    # away from the boundary the winner is constant on each side: sample a grid and count changes
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 201), [0.123]), -1).reshape(-1, 2)
    winners = np.argmax(sign * net.forward(grid), axis=1)
    crossings = np.nonzero(np.diff(winners))[0]
    assert crossings.size >= 1
    for i in crossings:   # every change of the winner along the line lies on a drawn segment
        a, b = grid[i], grid[i + 1]
        hit = False
        for seg in part.decision_boundary:
            d = seg[1] - seg[0]
            M = np.column_stack([b - a, -d])
            if abs(np.linalg.det(M)) > 1e-15:
                u, v = np.linalg.solve(M, seg[0] - a)
                hit |= -1e-9 <= u <= 1 + 1e-9 and -1e-9 <= v <= 1 + 1e-9
        assert hit


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), d=st.integers(3, 6), s=st.floats(-1, 1), t=st.floats(-1, 1))
def test_slice_network_is_the_network_on_the_plane(seed, d, s, t) -> None:
    net = random_mlp(d, [5, 4], 2, seed=seed)
    rng = np.random.default_rng(seed)
    plane = parse_slice(";" + ",".join(map(str, rng.normal(size=d))) + ";e2", d, Domain.box(-np.ones(d), np.ones(d)))
    st_point = np.array([[s, t]])
    assert np.allclose(slice_network(net, plane).forward(st_point), net.forward(plane.to_x(st_point)), atol=1e-12)


def test_slice_cells_are_cells_of_the_network() -> None:
    net = random_mlp(4, [6, 6], 1, seed=11)
    domain = Domain.box([-1, -2, 0, -1], [1, 2, 1, 1])
    plane = parse_slice("0,0,0.5,0.25;e2;e4", 4, domain)
    assert plane.axes == (1, 3)
    flat_domain = slice_domain(domain, plane)
    assert flat_domain.describe() == "box [-2, 2] x [-1, 1]"
    regions = enumerate_regions(slice_network(net, plane), flat_domain)
    for cell in regions.cells:
        x = plane.to_x(cell.interior)
        assert x[0, 0] == 0.0 and x[0, 2] == 0.5
        assert np.array_equal(np.hstack(net.pattern(x))[0], cell.pattern)
        assert np.allclose(cell.A @ cell.interior + cell.c, net.forward(x)[0])


def test_volume_shares_sampled_agree_with_exact_areas() -> None:
    net = random_mlp(2, [6, 6], 1, seed=5)
    part = partition_2d(net, SQUARE)
    exact, method = volume_shares(net, part.regions, areas=part.areas())
    computed, method2 = volume_shares(net, part.regions)          # the picture's areas, or computed: the same
    assert (method, method2) == ("exact", "exact") and np.abs(exact - computed).max() < 1e-12
    X = uniform_points(SQUARE, 200_000, np.random.default_rng(1))
    sampled = np.bincount(cells_of(net, part.regions, X), minlength=len(part.regions)) / len(X)
    assert np.abs(exact - sampled).max() < 0.005 and sampled.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("d", [2, 3])
def test_equations_and_report_give_the_same_volume_shares(d: int) -> None:
    """One implementation (relucompile.analysis.cells): the equations' and the report's shares agree."""
    net = random_mlp(d, [5, 4], 1, seed=7)
    shallow = build_shallow(net, enumerate_regions(net, Domain.box(-np.ones(d), np.ones(d))))
    from_equations = equations_volume_shares(shallow, samples=20_000, seed=3)
    from_report = volume_shares(net, shallow.regions, samples=20_000, seed=3)
    assert from_equations[1] == from_report[1] == ("exact" if d == 2 else "sampled")
    assert np.array_equal(from_equations[0], from_report[0])


def test_rules_hold_at_interior_points() -> None:
    """The table's conditions and formulas, read back as Python, are true / equal at the cells' interiors."""
    net = random_mlp(3, [5, 5], 2, seed=6)
    domain = Domain.box(-np.ones(3), np.ones(3))
    regions = enumerate_regions(net, domain)
    stats = cell_stats(net, regions, samples=20_000)
    assert stats.cells == len(regions) and stats.facets_min >= 3 and stats.share_method == "sampled"
    rules = cell_rules(regions, range(len(regions)), ["x1", "x2", "x3"], stats.shares, digits=12)
    for rule, cell in zip(rules, regions.cells):
        env = dict(zip(["x1", "x2", "x3"], cell.interior.tolist()))
        assert all(eval(cond, {}, env) for cond in rule.conditions)
        values = [eval(f, {}, env) for f in rule.formulas]
        assert np.allclose(values, net.forward(cell.interior[None])[0], atol=1e-9)


# -- the report ------------------------------------------------------------------------------------

def _report_facts(html: str) -> dict:
    return {"cells": int(re.search(r"<th>cells</th><td>([\d,]+)", html).group(1).replace(",", "")),
            "rows": html.count('<tr><td class="num">'),
            "images": html.count("data:image/png;base64,")}


def test_report_2d_contents() -> None:
    net = random_mlp(2, [6, 6], 2, seed=1)
    html = build_report(net, SQUARE, top=5)
    regions = enumerate_regions(net, SQUARE)
    facts = _report_facts(html)
    assert facts == {"cells": len(regions), "rows": 5, "images": 1}
    assert "exact (interval lengths / polygon areas)" in html and "http" not in html  # self-contained


def test_report_1d_shows_the_function() -> None:
    net = load_network(data_path("vnncomp-test", "test_small.onnx"))
    html = build_report(net, Domain.box([-3], [3]))
    assert "filled dots mark the 1 breakpoint where the slope changes" in html
    assert _report_facts(html)["cells"] == 2


def test_report_many_inputs_falls_back_to_the_slice() -> None:
    net = random_mlp(4, [8, 8], 1, seed=2)
    html = build_report(net, Domain.box(-np.ones(4), np.ones(4)), max_regions=5)
    assert "were not enumerated" in html and "Cells of the slice" in html and "x1, x2 vary; x3 = 0, x4 = 0" in html
    full = build_report(net, Domain.box(-np.ones(4), np.ones(4)), samples=5000)
    assert "Cells of the whole domain" in full and "estimated from 5,000 uniform samples, seed 0" in full


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _screenshot(html_path: str, png_path: str) -> None:
    profile = tempfile.mkdtemp()
    try:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        f"--screenshot={png_path}", "--window-size=1200,2000", "file://" + html_path],
                       check=True, capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
@pytest.mark.parametrize("which", ["fc1", "random"])
def test_report_renders_in_headless_chromium(which, tmp_path) -> None:
    if which == "fc1":
        net = load_network(data_path("marabou", "fc1.onnx"))
    else:
        net = random_mlp(2, [8, 8], 2, seed=0)
    html = build_report(net, SQUARE)
    path = tmp_path / "report.html"
    path.write_text(html)
    shot = tmp_path / "shot.png"
    _screenshot(str(path), str(shot))
    image = _png_pixels(shot.read_bytes())
    assert image.shape[:2] == (2000, 1200)
    # the embedded picture was decoded and drawn: many pixels carry the cells' palette colours
    colours = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE])
    flat = image.reshape(-1, 3).astype(int)
    near = np.zeros(len(flat), bool)
    for c in colours:
        near |= np.abs(flat - c).max(axis=1) <= 2
    assert near.sum() > 50_000


# -- command line ---------------------------------------------------------------------------------

def _run(name, fn, argv, capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, name, fn)
    code = cli.main([name] + argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_plot_and_report(tmp_path, capsys, monkeypatch) -> None:
    png = tmp_path / "p.png"
    code, out, err = _run("plot", run_plot, [EXAMPLE, "--box", "-1", "1", "-o", str(png)], capsys, monkeypatch)
    assert code == 0, err
    assert png.read_bytes()[:4] == b"\x89PNG" and "cells" in out
    html = tmp_path / "r.html"
    code, out, err = _run("report", run_report, [EXAMPLE, "--box", "-1", "1", "-o", str(html), "--top", "3"],
                          capsys, monkeypatch)
    assert code == 0, err
    text = html.read_text()
    assert _report_facts(text)["rows"] == 3


@pytest.mark.parametrize("name, argv, message", [
    ("plot", ["-o", "{tmp}/p.gif"], "unknown picture format '.gif'"),
    ("plot", ["--box", "-1", "1", "--slice", ";e1;e2", "-o", "{tmp}/p.png"], "--slice is for models with more than 2 inputs"),
    ("plot", ["-o", "{tmp}/p.png"], "a picture needs a bounded domain: give --box LO HI, --domain FILE or --vnnlib PROP"),
    ("report", ["-o", "{tmp}/r.html"], "a report needs a bounded domain (for its pictures): give --box LO HI, --domain FILE or --vnnlib PROP"),
    ("report", ["--domain", "{tmp}/open.json", "-o", "{tmp}/r.html"], "unbounded"),
    ("report", ["--top", "0", "-o", "{tmp}/r.html"], "--top must be at least 1"),
    ("report", ["--box", "-1", "1", "--max-regions", "3", "-o", "{tmp}/r.html"], "stopped after 3 regions"),
])
def test_cli_errors_are_one_line_and_leave_no_file(name, argv, message, tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "open.json").write_text('{"G": [[1, 0]], "g": [1]}')
    fn = {"plot": run_plot, "report": run_report}[name]
    code, _, err = _run(name, fn, [EXAMPLE] + [a.replace("{tmp}", str(tmp_path)) for a in argv], capsys, monkeypatch)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["open.json"]


# -- issue 18, case 10: a report an auditor can sign ----------------------------------------------

def _winner_labels(pic) -> list[tuple[str, np.ndarray]]:
    """The decision-region labels drawn on the picture: (text, position) of the bold labels."""
    ax = pic.figure.axes[0]
    return [(t.get_text(), np.array(t.get_position(), dtype=np.float64)) for t in ax.texts
            if t.get_fontweight() == "bold"]


@pytest.mark.parametrize("decision", ["argmax", "argmin"])
def test_decision_regions_are_labelled_with_the_winning_outputs_name(decision) -> None:
    net = random_mlp(2, [6, 6], 3, seed=2)
    names = ["COC", "WL", "WR"]
    pic = picture(net, SQUARE, output_names=names, decision=decision)
    labels = _winner_labels(pic)
    assert labels, "no decision region is labelled"
    pick = np.argmax if decision == "argmax" else np.argmin
    for text, point in labels:     # each label sits where the output it names wins
        assert text == names[int(pick(net.forward(point[None])[0]))]
    grid = np.stack(np.meshgrid(np.linspace(-0.99, 0.99, 60), np.linspace(-0.99, 0.99, 60)), -1).reshape(-1, 2)
    winners, counts = np.unique(pick(net.forward(grid), axis=1), return_counts=True)
    big = {names[k] for k, n in zip(winners, counts) if n > 0.02 * len(grid)}
    assert big <= {text for text, _ in labels}      # every output that wins a visible region is named
    assert "COC" in pic.caption or "WL" in pic.caption


def test_report_names_outputs_after_the_model_by_default() -> None:
    from relucompile.backends.report import model_output_names
    from relucompile.ir.signature import ModelSignature
    net = random_mlp(2, [5], 3, seed=4)
    assert model_output_names(net) == ["y1", "y2", "y3"]                 # built from weights: y1..ym
    net.signature = ModelSignature(outputs=(("COC", ("N", 1)), ("WL", ("N", 1)), ("WR", ("N", 1))))
    assert model_output_names(net) == ["COC", "WL", "WR"]
    html = build_report(net, SQUARE, decision="argmax", top=2)
    assert "<code>COC</code>, <code>WL</code>, <code>WR</code>" in html and "COC = " in html and "<code>y1</code>" not in html
    net.signature = ModelSignature(outputs=(("scores", ("N", 3)),))    # one output of 3 numbers
    assert model_output_names(net) == ["y1", "y2", "y3"]


def test_legend_lists_only_what_is_drawn() -> None:
    # relu outputs: y1 = relu(x1) + 1 is never 0 on the square, y2 = x2 is 0 along x2 = 0
    from relucompile.ir.network import AffineLayer, ReluNet
    net = ReluNet(2, [AffineLayer({0: np.eye(2)}, np.zeros(2))],
                  AffineLayer({0: np.array([[0.0, 0.0], [0.0, 1.0]]), 1: np.array([[1.0, 0.0], [0.0, 0.0]])},
                              np.array([1.0, 0.0])))
    pic = picture(net, SQUARE, output_names=["a", "b"], decision="argmax")
    legend = pic.figure.axes[0].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    drawn = [c.get_label() for c in pic.figure.axes[0].collections if c.get_label() and not c.get_label().startswith("_")]
    assert texts == drawn and "b = 0" in texts and "a = 0" not in texts and not any("never" in t for t in texts)
    assert "a is never 0 here (no line)" in pic.caption
    quiet = picture(net, SQUARE, level_sets=False)                      # nothing labelled is drawn: no legend
    assert quiet.figure.axes[0].get_legend() is None


def test_report_header_has_date_command_versions_and_model_hash(tmp_path, capsys, monkeypatch) -> None:
    import hashlib
    import onnx
    import onnxruntime
    import platform
    from datetime import datetime, timezone
    from relucompile import __version__
    out = tmp_path / "r.html"
    argv = [EXAMPLE, "--box", "-1", "1", "--top", "2", "--decision", "argmax", "-o", str(out)]
    before = datetime.now(timezone.utc).replace(microsecond=0)
    code, _, err = _run("report", run_report, argv, capsys, monkeypatch)
    after = datetime.now(timezone.utc)
    assert code == 0, err
    text = out.read_text()
    stamp = re.search(r"<th>generated</th><td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC</td>", text).group(1)
    assert before <= datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc) <= after
    import html as html_lib
    import shlex
    command = html_lib.unescape(re.search(r"<th>command</th><td><code>(.*?)</code>", text).group(1))
    assert shlex.split(command) == ["relucompile", "report", *argv]
    versions = re.search(r"<th>versions</th><td>(.*?)</td>", text).group(1)
    for name, version in [("relucompile", __version__), ("python", platform.python_version()),
                          ("numpy", np.__version__), ("onnx", onnx.__version__), ("onnxruntime", onnxruntime.__version__)]:
        assert f"{name} {version}" in versions
    digest = hashlib.sha256(open(EXAMPLE, "rb").read()).hexdigest()
    assert re.search(r"<th>model sha256</th><td><code>([0-9a-f]{64})</code>", text).group(1) == digest
    fixed = build_report(random_mlp(2, [3], 1, seed=0), SQUARE,
                         generated_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert "2030-01-02 03:04:05 UTC" in fixed and "(built from Python" in fixed


def test_report_has_the_same_cell_cap_and_limits_as_compile() -> None:
    from relucompile.cli.audit import report_parser
    from relucompile.cli.main import build_parser as compile_parser
    from relucompile.backends.report import ReportOptions
    report = report_parser().parse_args(["m.onnx", "-o", "r.html"])
    compiled = compile_parser().parse_args(["m.onnx", "-o", "s.onnx"])
    assert (report.max_regions, report.time_limit) == (compiled.max_regions, compiled.time_limit) == (None, None)
    assert (ReportOptions().max_regions, ReportOptions().time_limit) == (None, None)
    # a 4-input net of more than 20,000 cells is described whole, not cut to a slice
    net = random_mlp(4, [24, 24], 2, seed=0)
    domain = Domain.box(-np.ones(4), np.ones(4))
    cells = len(enumerate_regions(net, domain))
    assert cells > 20_000
    html = build_report(net, domain, samples=2000, top=2)
    assert _report_facts(html)["cells"] == cells and "Cut:" not in html and "Cells of the whole domain" in html
    # a limit the user sets cuts, and the report says plainly what was cut and why
    cut = build_report(net, domain, samples=2000, top=2, max_regions=1000)
    assert "Cut: the cells of the whole domain were not enumerated (stopped after 1000 regions" in cut
    assert "describe only the slice" in cut


def test_report_timings_add_up_to_the_run(tmp_path, capsys, monkeypatch) -> None:
    import time
    out = tmp_path / "r.html"
    start = time.perf_counter()
    code, _, err = _run("report", run_report, [EXAMPLE, "--box", "-1", "1", "-o", str(out)], capsys, monkeypatch)
    wall = time.perf_counter() - start
    assert code == 0, err
    row = re.search(r"<th>timings</th><td>(.*?)</td>", out.read_text()).group(1)
    phases = {k.strip(): float(v) for k, v in re.findall(r"([a-z -]+?) (\d+\.\d\d) s(?:,|;)", row)}
    total = float(re.search(r"total (\d+\.\d\d) s wall", row).group(1))
    assert {"loading the model", "enumeration and picture", "statistics", "rules and drawing"} <= set(phases)
    assert "start-up" not in phases                       # in-process: no interpreter start-up to count
    assert total <= wall + 0.01 and total >= 0.8 * wall - 0.05          # the run's own wall time
    assert abs(sum(phases.values()) - total) <= 0.05 + 0.05 * total      # the phases make up the total
    # as a command of its own: the total counts from the process start, start-up included
    import sys
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "relucompile", "report", EXAMPLE, "--box", "-1", "1", "-o", str(out)], check=True,
                   capture_output=True, timeout=300)
    wall = time.perf_counter() - start
    row = re.search(r"<th>timings</th><td>(.*?)</td>", out.read_text()).group(1)
    phases = {k.strip(): float(v) for k, v in re.findall(r"([a-z -]+?) (\d+\.\d\d) s(?:,|;)", row)}
    total = float(re.search(r"total (\d+\.\d\d) s wall", row).group(1))
    assert phases["start-up"] > 0 and 0.8 * wall - 0.1 <= total <= wall + 0.01, (row, wall)
    assert abs(sum(phases.values()) - total) <= 0.05 + 0.05 * total


def test_report_picture_uses_the_full_width() -> None:
    html = build_report(random_mlp(2, [4], 2, seed=0), SQUARE)
    png = base64_png(html)
    assert png.shape[1] >= 1000                           # drawn for the page's 1100 px column
    assert "figure img { width: 100%" in html


def base64_png(html: str) -> np.ndarray:
    import base64
    data = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1))
    return _png_pixels(data)


@pytest.mark.slow
def test_report_acas_prop3_describes_all_71930_cells(tmp_path, capsys, monkeypatch) -> None:
    """The README's headline case: ACAS Xu 1_1 on the prop_3 box, every cell, no slice."""
    model = data_path("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
    box = tmp_path / "prop3.json"
    box.write_text('{"lower": [-0.303531156, -0.009549297, 0.493380324, 0.3, 0.3], '
                   '"upper": [-0.298552812, 0.009549297, 0.5, 0.5, 0.5]}')
    out = tmp_path / "acas.html"
    code, _, err = _run("report", run_report, [model, "--domain", str(box), "--decision", "argmin",
                                               "--output-names", "COC,WL,WR,SL,SR", "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    text = out.read_text()
    assert _report_facts(text)["cells"] == 71_930 and "Cut:" not in text and "Cells of the whole domain" in text
