"""The one point -> cell lookup: a point-location tree built from the cells' activation patterns.

Every node of the tree holds cells that share the pattern of the layers before some layer l and
tests up to ``arity`` units of layer l at once: unit u's pre-activation under that shared prefix
is one affine function z_u(x) for all of the node's cells, and each cell lies on one closed side
of z_u = 0 (its pattern bit), so the sign vector of the tested units sends the node's cells to
disjoint children, without any LP.  A leaf holds one cell.  Depth is about log2 |R| / arity
levels when the tested units split the cells evenly (they are chosen greedily to do so).

Tie-break (DESIGN.md section 2): every test is oriented so that g(p) > 0 at the reference point
p and reads ``g(x) >= 0`` (p's side, closed) against ``g(x) < 0`` (strict).  If x lies in the
half-open cell Q_a, then x + eps (p - x) lies in the interior of P_a and on the side of g that
the test picks, so a is in every node x visits and the leaf is a: the lookup is exact in exact
arithmetic, on every boundary.  In floats a point within rounding of a tested hyperplane may
take the other branch and land in a cell that touches it (the error is of rounding size, as for
the least-violation fallback of the layered form).

Tables (what the ONNX index layout gathers from): ``W (nodes, arity, d)``, ``b (nodes, arity)``
(unused slots: 0 x + 1, always on p's side), ``children (nodes, 2**arity)`` (a leaf points to
itself, so a fixed number of levels can be unrolled) and ``leaf_cell (nodes,)`` (-1 inside).

Example:
    >>> from relucompile.examples.random_nets import random_mlp
    >>> from relucompile.ir.domain import Domain
    >>> from relucompile.regions.enumerate import enumerate_regions
    >>> from relucompile.shallow.net import build_shallow
    >>> net = random_mlp(2, [6, 6], 1, seed=1)
    >>> shallow = build_shallow(net, enumerate_regions(net, Domain.box([-1, -1], [1, 1])))
    >>> index = shallow.locator
    >>> X = np.random.default_rng(0).uniform(-1, 1, (500, 2))
    >>> cells = index.locate(X)
    >>> bool(np.all(shallow.regions.cells.patterns[cells] == np.hstack(net.pattern(X))))
    True
    >>> index.levels <= 2 * int(np.ceil(np.log2(shallow.num_cells)))
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from relucompile.numeric.tolerances import ROUNDING_NOISE, TINY

DEFAULT_ARITY = 4


@dataclass
class PointLocator:
    """The point-location tree of a set of cells (see module docstring)."""

    W: np.ndarray             # (nodes, arity, d) oriented tests g(x) = W x + b, g(p) > 0
    b: np.ndarray             # (nodes, arity)
    children: np.ndarray      # (nodes, 2**arity) int: child of each sign code (bit t: g_t(x) < 0)
    leaf_cell: np.ndarray     # (nodes,) cell of a leaf, -1 for inner nodes
    unit: np.ndarray          # (nodes, arity) global unit index tested (-1: unused slot)
    layer: np.ndarray         # (nodes,) layer of the tested units (-1 for leaves)
    member: np.ndarray        # (nodes,) one cell of the node's subtree (its pattern is the prefix)
    orient: np.ndarray        # (nodes, arity) +-1: g = orient * z_unit
    levels: int               # depth of the deepest leaf (number of tests on the longest path)

    @property
    def arity(self) -> int:
        return int(self.W.shape[1])

    @property
    def num_nodes(self) -> int:
        return int(self.W.shape[0])

    def locate(self, X: np.ndarray) -> np.ndarray:
        """Cell index of every row of X (float64 walk of the tree; rows outside the domain get
        the cell they would be in if the cells extended beyond it).

        Example:
            >>> PointLocator.single_cell(2).locate(np.zeros((3, 2))).tolist()
            [0, 0, 0]
        """
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        powers = 1 << np.arange(self.arity)
        node = np.zeros(X.shape[0], dtype=np.int64)
        for _ in range(self.levels):
            values = np.einsum("ntd,nd->nt", self.W[node], X) + self.b[node]
            node = self.children[node, (values < 0) @ powers]
        return self.leaf_cell[node].astype(np.int64)

    def locate_exact(self, x: Sequence[Fraction], hyperplane: Callable[[int, int, int], tuple],
                     p: Sequence[Fraction]) -> int:
        """Cell of one exact point.  ``hyperplane(layer, unit, member_cell)`` gives the exact
        (w, b) of the unit's pre-activation under that cell's prefix; each test is oriented by
        the exact sign at p (DESIGN.md tie-break)."""
        node = 0
        while self.leaf_cell[node] < 0:
            code = 0
            for t in range(self.arity):
                u = int(self.unit[node, t])
                if u < 0:
                    continue
                w, b = hyperplane(int(self.layer[node]), u, int(self.member[node]))
                value = _dot(w, x) + b
                if value == 0:
                    at_p = _dot(w, p) + b
                    side = 1 if at_p > 0 else (-1 if at_p < 0 else int(self.orient[node, t]))
                else:
                    side = 1 if value > 0 else -1
                code |= int(side * self.orient[node, t] < 0) << t
            node = int(self.children[node, code])
        return int(self.leaf_cell[node])

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """The tree as one int32 array plus a table of test blocks (what the ONNX index layout
        gathers from; no per-leaf test rows, no unused child slots).

        Returns ``(tree, blocks)``: ``blocks (n, arity, d+1)`` holds each inner node's tests as
        rows [w | b]; block 0 is all always-true tests 0 x + 1 (the leaves').  A node is a state
        s (an offset of ``tree``): ``tree[s]`` is its block, ``tree[s + 1 + code]`` the state of
        the child of sign code ``code`` (< 2**k for a node with k tests); a leaf has
        ``tree[s + 1] = s`` and ``tree[s + 2]`` = its cell.  The root is state 0.

        Example:
            >>> tree, blocks = PointLocator.single_cell(2, arity=1).flat()
            >>> tree.tolist(), blocks.tolist()
            ([0, 0, 0], [[[0.0, 0.0, 1.0]]])
        """
        T, d = self.arity, self.W.shape[2]
        inner = self.leaf_cell < 0
        block_of = np.zeros(self.num_nodes, np.int64)
        block_of[inner] = 1 + np.arange(int(inner.sum()))
        always = np.zeros((1, T, d + 1))
        always[0, :, d] = 1.0
        blocks = np.concatenate([always, np.concatenate([self.W, self.b[:, :, None]], axis=2)[inner]])
        used = (self.unit >= 0).sum(axis=1)
        sizes = np.where(inner, 1 + (1 << used), 3)
        state = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        tree = np.zeros(int(sizes.sum()), np.int64)
        tree[state] = block_of
        for node in np.nonzero(inner)[0]:
            s, k = state[node], 1 << used[node]
            tree[s + 1:s + 1 + k] = state[self.children[node, :k]]
        leaves = np.nonzero(~inner)[0]
        tree[state[leaves] + 1], tree[state[leaves] + 2] = state[leaves], self.leaf_cell[leaves]
        return tree.astype(np.int32), blocks

    @staticmethod
    def single_cell(d: int, arity: int = DEFAULT_ARITY) -> "PointLocator":
        """The tree of a one-cell set: a single leaf."""
        return PointLocator(np.zeros((1, arity, d)), np.ones((1, arity)), np.zeros((1, 2 ** arity), np.int64),
                            np.zeros(1, np.int64), np.full((1, arity), -1), np.full(1, -1), np.zeros(1, np.int64),
                            np.ones((1, arity), np.int8), 0)


def _dot(w, x) -> Fraction:
    return sum((wi * xi for wi, xi in zip(w, x)), Fraction(0))


def build_locator(net, regions, p: np.ndarray, arity: int = DEFAULT_ARITY) -> PointLocator:
    """Build the tree over ``regions``' cells of ``net``, tests oriented towards ``p``.

    Units are tested in layer order: a node first separates its cells by the earliest layer on
    which their patterns differ (the units there are the same affine functions for all of them),
    choosing greedily the ``arity`` units whose sign vector splits the cells most evenly.
    """
    R, d = len(regions.cells), net.d
    if R <= 1 or not net.layers:
        return PointLocator.single_cell(d, arity)
    patterns = regions.cells.patterns
    interior = regions.cells.interior
    radius = np.nan_to_num(regions.cells.radius.astype(np.float64), posinf=0.0)
    hull = regions.domain.hull()
    offsets = np.concatenate([[0], np.cumsum(net.widths)]).astype(int)
    powers = 1 << np.arange(arity)

    capacity = 2 * R                      # every inner node has >= 2 children: nodes <= 2R - 1
    W = np.zeros((capacity, arity, d))
    b = np.ones((capacity, arity))
    children = np.zeros((capacity, 2 ** arity), dtype=np.int64)
    leaf = np.full(capacity, -1, dtype=np.int64)
    units = np.full((capacity, arity), -1, dtype=np.int64)
    layers = np.full(capacity, -1, dtype=np.int64)
    members = np.zeros(capacity, dtype=np.int64)
    orients = np.ones((capacity, arity), dtype=np.int8)
    depth_of = np.zeros(capacity, dtype=np.int64)
    n_nodes = 1
    nearest_cache: dict[tuple[int, int], np.ndarray] = {}
    all_codes = np.arange(2 ** arity)

    eye = np.eye(d)
    # stack entries: (node, cells, blocks = affine maps of the blocks of the common prefix, first varying unit)
    stack = [(0, np.arange(R), [(eye, np.zeros(d))], 0)]
    while stack:
        node, cells, blocks, start = stack.pop()
        members[node] = int(cells[0])
        sub = patterns[cells]
        first_row = sub[0]
        varying = np.zeros(patterns.shape[1], dtype=bool)
        varying[start:] = (sub[:, start:] != first_row[start:]).any(axis=0)
        if not varying.any():
            raise ValueError(f"cells {cells[:5].tolist()} share one activation pattern")
        first = int(np.argmax(varying))
        layer = int(np.searchsorted(offsets, first, side="right") - 1)
        # affine maps of the blocks up to `layer`, under the prefix the cells share
        blocks = list(blocks)
        for l in range(len(blocks) - 1, layer):
            M, m = net.preactivation(net.layers[l], blocks)
            on = first_row[offsets[l]:offsets[l + 1]]
            blocks.append((M * on[:, None], m * on))
        M, m = net.preactivation(net.layers[layer], blocks)
        candidates = np.nonzero(varying[offsets[layer]:offsets[layer + 1]])[0]
        bits = sub[:, offsets[layer] + candidates]                  # True: on (z >= 0 on the cell)
        chosen = _choose_units(M[candidates], m[candidates], bits, interior[cells], radius[cells], hull.U, arity)
        units_here = candidates[chosen]
        z_at_p = M[units_here] @ p + m[units_here]
        orient = np.where(z_at_p >= 0, 1, -1).astype(np.int8)
        k = len(units_here)
        W[node, :k] = M[units_here] * orient[:, None]
        b[node, :k] = m[units_here] * orient
        units[node, :k] = offsets[layer] + units_here
        layers[node] = layer
        orients[node, :k] = orient
        side = np.where(bits[:, chosen], 1, -1) * orient              # +1: g >= 0 on the cell
        codes = (side < 0) @ powers[:k]
        order = np.argsort(codes, kind="stable")
        present, first_at, counts = np.unique(codes[order], return_index=True, return_counts=True)
        child_of = np.full(2 ** k, -1, dtype=np.int64)
        for code, at, count in zip(present.tolist(), first_at.tolist(), counts.tolist()):
            child = n_nodes
            n_nodes += 1
            child_of[code] = child
            depth_of[child] = depth_of[node] + 1
            group = cells[order[at:at + count]]
            if count == 1:
                leaf[child] = members[child] = int(group[0])
                children[child] = child
            else:
                stack.append((child, group, blocks, offsets[layer]))
        mask = (k, int(np.bitwise_or.reduce(1 << present)))
        if mask not in nearest_cache:   # codes no cell has (reachable only through rounding): nearest code
            distance = np.array([[bin(c ^ q).count("1") for q in present.tolist()] for c in range(2 ** k)])
            nearest_cache[mask] = present[np.argmin(distance, axis=1)]
        row = child_of[nearest_cache[mask]]
        children[node] = row[all_codes & (2 ** k - 1)]
    n = n_nodes
    index_type = np.int32 if n < 2**31 else np.int64
    return PointLocator(W[:n], b[:n], children[:n].astype(index_type), leaf[:n], units[:n], layers[:n], members[:n],
                        orients[:n], int(depth_of[:n].max()))


def _choose_units(M: np.ndarray, m: np.ndarray, bits: np.ndarray, interior: np.ndarray, radius: np.ndarray,
                  U: np.ndarray, arity: int) -> np.ndarray:
    """Indices (into the candidate rows) of up to ``arity`` units whose joint sign vector splits
    the cells most evenly.  A candidate must really separate the cells: each cell's interior
    point lies on its pattern's side by at least a quarter of its Chebyshev radius (this rules
    out units that vanish identically on the domain, whose pattern bit is arbitrary)."""
    norms = np.linalg.norm(M @ U, axis=1)
    scale = np.linalg.norm(M, axis=1) + np.abs(m) + TINY
    signed = (interior @ M.T + m) * np.where(bits, 1.0, -1.0)
    valid = np.all(signed > 0.25 * radius[:, None] * norms[None, :], axis=0) & (norms > ROUNDING_NOISE * scale)
    if not valid.any():  # float trouble: take the candidate with the widest margin
        valid = np.zeros(len(m), bool)
        valid[int(np.argmax((signed / np.maximum(norms, TINY)).min(axis=0)))] = True
    pool = np.nonzero(valid)[0]
    n = bits.shape[0]
    if n == 2:   # two cells: any valid unit separates them
        return pool[:1].astype(np.int64)
    group = np.zeros(n, dtype=np.int64)
    groups_before = 1
    chosen: list[int] = []
    for step in range(arity):
        if not pool.size:
            break
        width = 2 ** (step + 1)
        codes = group[:, None] * 2 + bits[:, pool]                  # (n, |pool|)
        flat = codes + np.arange(pool.size)[None, :] * width
        counts = np.bincount(flat.ravel(), minlength=pool.size * width).reshape(pool.size, width)
        splits = (counts > 0).sum(axis=1) > groups_before
        if not splits.any():
            break
        score = np.where(splits, counts.max(axis=1), n + 1)
        best = int(np.argmin(score))
        chosen.append(int(pool[best]))
        group = codes[:, best]
        groups_before = int((counts[best] > 0).sum())
        pool = pool[np.arange(pool.size) != best]
    return np.array(chosen, dtype=np.int64)
