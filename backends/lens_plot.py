"""Pictures of the linear lens (matplotlib, ``pip install "relucompile[report]"``).

One figure: the class-by-class similarity matrix of ``W_eff``; the per-class mean effective
weights of each class's own output (as images when ``image_shape`` is given, e.g. (8, 8) for
scikit-learn's digits, else as bars per input); and, over checkpoints, the within- and
between-class similarity and the cells visited.

Example:
    >>> from relucompile.analysis.lens import linear_lens
    >>> from relucompile.examples.random_nets import random_mlp
    >>> X = np.random.default_rng(0).uniform(-1, 1, (60, 4))
    >>> lens = linear_lens(random_mlp(4, [6], 2, seed=0), X, (X[:, 0] > 0).astype(int))
    >>> figure = lens_figure(lens, image_shape=(2, 2))
    >>> len(figure.axes) >= 3
    True
"""
from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np

from relucompile.analysis.lens import LinearLens


def lens_figure(lens: LinearLens, image_shape: Sequence[int] | None = None,
                checkpoints: list[dict[str, Any]] | None = None, class_names: Sequence[str] | None = None):
    """The lens figure (see the module docstring); needs labels for the class panels."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    classes = lens.classes
    names = list(class_names) if class_names else [str(c) for c in classes]
    k = len(classes)
    panels = (1 if k else 0) + k + (1 if checkpoints else 0)
    fig = Figure(figsize=(3.2 * max(panels, 1), 3.2), layout="constrained")
    axes = fig.subplots(1, max(panels, 1), squeeze=False)[0]
    col = 0
    if k:
        S = lens.class_similarity()
        ax = axes[col]; col += 1
        image = ax.imshow(S, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(k), names, rotation=45, ha="right"); ax.set_yticks(range(k), names)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{S[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(S[i, j]) > 0.6 else "black")
        ax.set_title("cosine similarity of W_eff")
        fig.colorbar(image, ax=ax, shrink=0.8)
        means = lens.class_mean_weights()
        for c, name in enumerate(names):
            ax = axes[col]; col += 1
            row = means[c, c] if means.shape[1] == k else means[c].mean(axis=0)   # the class's own output
            if image_shape is not None and int(np.prod(image_shape)) == row.size:
                bound = float(np.abs(row).max()) or 1.0
                ax.imshow(row.reshape(tuple(image_shape)), cmap="RdBu_r", vmin=-bound, vmax=bound)
                ax.set_xticks([]); ax.set_yticks([])
            else:
                ax.bar(range(1, row.size + 1), row)
                ax.set_xlabel("input")
            ax.set_title(f"mean W_eff, class {name}")
    if checkpoints:
        ax = axes[col]
        steps = [row["checkpoint"] for row in checkpoints]
        if "within_class_similarity" in checkpoints[0]:
            ax.plot(steps, [row["within_class_similarity"] for row in checkpoints], "o-", label="within class")
            ax.plot(steps, [row["between_class_similarity"] for row in checkpoints], "s-", label="between classes")
            ax.set_ylabel("cosine similarity")
        twin = ax.twinx()
        twin.plot(steps, [row["cells_visited"] for row in checkpoints], "^:", color="grey", label="cells visited")
        twin.set_ylabel("cells visited")
        ax.set_xlabel("checkpoint")
        ax.set_title("over checkpoints")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=7)
    return fig


def lens_png(lens: LinearLens, **options: Any) -> bytes:
    """The figure as PNG bytes (for a file or the HTML report)."""
    buffer = io.BytesIO()
    lens_figure(lens, **options).savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def lens_img_tag(lens: LinearLens, **options: Any) -> str:
    """An inline ``<img>`` of the figure (self-contained HTML)."""
    data = base64.b64encode(lens_png(lens, **options)).decode("ascii")
    return f'<img alt="linear lens" style="max-width:100%" src="data:image/png;base64,{data}">'
