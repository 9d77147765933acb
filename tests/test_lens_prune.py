"""The linear lens over data and exact pruning (relucompile.analysis.lens / .prune).

Lens statistics are checked against a direct numpy computation (products of masked weight
matrices, pairwise cosine loops); pruned networks against the source in exact rationals at every
cell vertex and at random rational points of the domain.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from exact_tools import cell_vertices, random_rational_points
from relucompile.analysis.lens import lens_over_checkpoints, linear_lens
from relucompile.analysis.prune import ACTIVE, DEAD, prune_network, unit_states
from relucompile.api import compile_network
from relucompile.examples.random_nets import random_mlp
from relucompile.ir.domain import Domain
from relucompile.passes.lowering import exact_net


def direct_effective_weights(net, x):
    """W_eff, b_eff and the nearest-hyperplane distance at x by masked matrix products (plain MLP)."""
    M, m = np.eye(net.d), np.zeros(net.d)
    distances = []
    for l, layer in enumerate(net.layers):
        W = layer.weights[l]
        Z, z = W @ M, W @ m + layer.bias
        for k in range(layer.size):
            norm = np.linalg.norm(Z[k])
            if norm > 0:
                distances.append(abs(Z[k] @ x + z[k]) / norm)
        on = (Z @ x + z) > 0
        M, m = Z * on[:, None], z * on
    Wo = net.output.weights[len(net.layers)]
    return Wo @ M, Wo @ m + net.output.bias, min(distances, default=np.inf)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lens_matches_direct_computation(seed):
    rng = np.random.default_rng(seed)
    net = random_mlp(3, [7, 6], 3, seed=seed)
    X = rng.uniform(-1, 1, (120, 3))
    labels = rng.integers(0, 3, 120)
    lens = linear_lens(net, X, labels)
    for i, x in enumerate(X):
        W, b, dist = direct_effective_weights(net, x)
        assert np.allclose(lens.W_eff[i], W, atol=1e-12) and np.allclose(lens.b_eff[i], b, atol=1e-12)
        assert lens.distance[i] == pytest.approx(dist, rel=1e-9)
    pattern_keys = [tuple(p) for p in lens.patterns]
    assert lens.num_cells == len(set(pattern_keys))
    assert sorted(lens.samples_per_cell.tolist()) == sorted(
        [pattern_keys.count(k) for k in set(pattern_keys)])
    assert np.array_equal(lens.unit_activity, np.mean(
        [np.concatenate([W_z > 0 for W_z in net.forward(x[None], True)[1]], axis=1)[0] for x in X], axis=0))
    flat = lens.W_eff.reshape(len(X), -1)
    cos = lambda u, v: float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))   # noqa: E731
    S = lens.class_similarity()
    for a, b in itertools.product(range(3), repeat=2):
        pairs = [cos(flat[i], flat[j]) for i in np.flatnonzero(labels == a) for j in np.flatnonzero(labels == b)
                 if i != j]
        assert S[a, b] == pytest.approx(np.mean(pairs), rel=1e-9)
    means = lens.class_mean_weights()
    assert np.allclose(means[1], lens.W_eff[labels == 1].mean(axis=0))
    summary = lens.summary()
    assert summary["within_class_similarity"] == pytest.approx(np.mean(np.diag(S)))


def test_lens_distance_stops_at_domain_and_refuses_outside():
    net = random_mlp(2, [5], 1, seed=4)
    domain = Domain.box([-1, -1], [1, 1])
    lens = linear_lens(net, np.array([[0.99, 0.0]]), domain=domain)
    assert lens.distance[0] <= 0.01 + 1e-12
    with pytest.raises(ValueError, match="outside the domain"):
        linear_lens(net, np.array([[2.0, 0.0]]), domain=domain)


def test_lens_over_checkpoints_tracks_each_and_needs_one_architecture():
    X = np.random.default_rng(0).uniform(-1, 1, (40, 2))
    labels = (X[:, 0] > X[:, 1]).astype(int)
    rows = lens_over_checkpoints([random_mlp(2, [6, 6], 2, seed=s) for s in range(3)], X, labels)
    assert [r["checkpoint"] for r in rows] == [0, 1, 2]
    for r, s in zip(rows, range(3)):
        assert r["cells_visited"] == linear_lens(random_mlp(2, [6, 6], 2, seed=s), X, labels).num_cells
    with pytest.raises(ValueError, match="one architecture"):
        lens_over_checkpoints([random_mlp(2, [6], 1), random_mlp(2, [5], 1)], X)


def planted_net(seed: int):
    """A random MLP on [-1, 1]^3 with a dead, an always-active and a duplicate unit in layer 0
    and a duplicate (scaled by 3) in layer 1."""
    net = random_mlp(3, [6, 6], 2, seed=seed)
    W0, b0 = net.layers[0].weights[0], net.layers[0].bias
    b0[0] = -(np.abs(W0[0]).sum() + 0.5)          # z0 <= -0.5 on the box
    b0[1] = np.abs(W0[1]).sum() + 0.5             # z1 >= 0.5 on the box
    W0[2], b0[2] = 0.5 * W0[3], 0.5 * b0[3]       # unit 2 = 0.5 unit 3
    W1, b1 = net.layers[1].weights[1], net.layers[1].bias
    W1[4], b1[4] = 3.0 * W1[5], 3.0 * b1[5]
    return net


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["bounds", "cells"])
def test_prune_removes_planted_units_and_stays_exact(seed, method):
    net = planted_net(seed)
    domain = Domain.box([-1, -1, -1], [1, 1, 1])
    states = unit_states(net, domain, method)
    assert states[0][0] == DEAD and states[0][1] == ACTIVE
    source = exact_net(net)
    small, report = prune_network(source, domain, method)
    counts = report.per_layer
    assert counts[0]["dead"] >= 1 and counts[0]["always_active"] >= 1 and counts[0]["duplicate"] >= 1
    assert counts[1]["duplicate"] + counts[1]["dead"] + counts[1]["always_active"] >= 1
    assert small.num_units < net.num_units and small.exact
    # exact equality at every vertex of every cell of the source, and at random rational points
    shallow = compile_network(net, domain)
    points = [v for a in range(shallow.num_cells) for v in cell_vertices(shallow, a)]
    points += random_rational_points(domain, 60, np.random.default_rng(seed))
    X = np.array(points, dtype=object)
    assert (small.forward(X) == source.forward(X)).all()


def test_prune_keeps_unstable_units_and_does_nothing_on_all_of_rd():
    net = random_mlp(2, [6], 1, seed=7)
    small, report = prune_network(net, Domain.reals(2))
    assert small.widths == net.widths and report.removed()["dead"] == 0
    cells_states = unit_states(net, Domain.box([-1, -1], [1, 1]), "cells")
    bound_states = unit_states(net, Domain.box([-1, -1], [1, 1]), "bounds")
    for c, b in zip(cells_states, bound_states):   # bounds are sound: never claim what cells refute
        assert np.all((b == 0) | (b == c))


def test_prune_exact_against_fraction_evaluation_on_a_polytope():
    net = planted_net(5)
    G = np.array([[1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    g = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    domain = Domain.polytope(G, g)
    source = exact_net(net)
    small, _ = prune_network(source, domain, "bounds")
    rng = np.random.default_rng(0)
    pts = []
    while len(pts) < 40:
        x = [Fraction(int(v), 53) for v in rng.integers(-53, 54, 3)]
        if x[0] + x[1] <= 1:
            pts.append(x)
    X = np.array(pts, dtype=object)
    assert (small.forward(X) == source.forward(X)).all()


# -- command line and the worked example --------------------------------------------------------

def _run(*args, cwd=None):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "relucompile", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_lens_and_prune_commands(tmp_path):
    import json

    import onnxruntime as ort

    from relucompile.examples.random_nets import to_onnx_model
    net = planted_net(0)
    model = tmp_path / "m.onnx"
    model.write_bytes(to_onnx_model(net).SerializeToString())
    X = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    np.save(tmp_path / "X.npy", X)
    np.savetxt(tmp_path / "y.csv", (X[:, 0] > 0).astype(int), fmt="%d")
    done = _run("lens", str(model), "--inputs", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.csv"),
                "-o", str(tmp_path / "lens.json"), "--table", str(tmp_path / "lens.csv"),
                "--checkpoints", str(model), "--plot", str(tmp_path / "lens.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lens.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((tmp_path / "lens.json").read_text())
    lens = linear_lens(net, X, (X[:, 0] > 0).astype(int))
    assert doc["summary"]["cells_visited"] == lens.num_cells and len(doc["samples"]) == 50
    assert [row["cells_visited"] for row in doc["checkpoints"]] == [lens.num_cells] * 2
    assert len((tmp_path / "lens.csv").read_text().splitlines()) == 51
    done = _run("prune", str(model), "--box", "-1", "1", "-o", str(tmp_path / "small.onnx"))
    assert done.returncode == 0, done.stderr
    assert "dead" in done.stdout and "always active" in done.stdout
    small = ort.InferenceSession(str(tmp_path / "small.onnx"), providers=["CPUExecutionProvider"])
    source = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    probe = X.astype(np.float32)
    assert np.allclose(small.run(None, {"x": probe})[0], source.run(None, {"x": probe})[0], atol=1e-5)
    # user mistakes: one line, exit 2, nothing written
    bad = _run("prune", str(model), "-o", str(tmp_path / "nodomain.onnx"))
    assert bad.returncode == 2 and "prune needs a bounded domain" in bad.stderr and not (tmp_path / "nodomain.onnx").exists()
    bad = _run("lens", str(model), "--inputs", str(tmp_path / "missing.npy"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_docs_example_iris(tmp_path):
    """docs/examples/iris_lens_prune.py (docs/lens_and_prune.md) runs end to end."""
    import os
    import subprocess
    import sys
    pytest.importorskip("sklearn", reason="the iris example needs scikit-learn (in the test extra)")
    script = os.path.join(os.path.dirname(__file__), "..", "docs", "examples", "iris_lens_prune.py")
    done = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pruned by cells" in done.stdout and "within-class similarity" in done.stdout
    import re
    counts = re.findall(r": ([\d,]+) cells \(.*hyperplanes", done.stdout)
    assert len(counts) == 2 and counts[0] == counts[1]      # the pruned net has the source's cells


def test_report_has_a_lens_section(tmp_path):
    from relucompile.examples import tiny_mlp_path
    X = np.random.default_rng(0).uniform(-1, 1, (60, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (X[:, 0] > 0).astype(int))
    done = _run("report", tiny_mlp_path(), "--box", "-1", "1", "-o", str(tmp_path / "r.html"),
                "--lens-inputs", str(tmp_path / "X.npy"), "--lens-labels", str(tmp_path / "y.npy"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    lens = linear_lens(load_tiny(), X, (X[:, 0] > 0).astype(int))
    assert "The linear lens over data" in html and html.count("data:image/png") == 2
    assert f"{lens.summary()['within_class_similarity']:.3f}" in html
    bad = _run("report", tiny_mlp_path(), "--box", "-1", "1", "-o", str(tmp_path / "r2.html"),
               "--lens-labels", str(tmp_path / "y.npy"))
    assert bad.returncode == 2 and not (tmp_path / "r2.html").exists()


def load_tiny():
    from relucompile.api import load_network
    from relucompile.examples import tiny_mlp_path
    return load_network(tiny_mlp_path())


def test_lens_with_one_sample_per_class_warns_nothing(tmp_path):
    """A class with a single sample has no within-class pair: NaN, and no numpy warning."""
    import warnings
    from relucompile.analysis.lens import linear_lens
    from relucompile.api import load_network
    from relucompile.examples import tiny_mlp_path
    net = load_network(tiny_mlp_path())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = linear_lens(net, np.array([[0.1, 0.2], [-0.5, 0.5]]), np.array([0, 1])).summary()
    assert np.isnan(summary["within_class_similarity"])
