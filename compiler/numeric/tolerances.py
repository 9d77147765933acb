"""The package's float tolerances, named once, each with why it has its value.

Float arithmetic only proposes (cells, points, LP optima); exact rationals decide where it
matters (docs/design.md, float policy).  These tolerances say when a float quantity counts as
zero, as on a hyperplane, or as clearly non-zero.  ``tests/test_tolerances.py`` fails on a bare
scientific-notation literal (``1e-9``) anywhere else in the package: name it here instead.

Example:
    >>> ROUNDING_NOISE < GEOMETRIC_TOL < ENGINE_REL_TOL
    True
    >>> UNIT_ROUNDOFF == 2.0 ** -53
    True
"""
from __future__ import annotations

UNIT_ROUNDOFF = 2.0 ** -53
"""Unit roundoff of float64: the relative error of one correctly rounded operation."""

TINY = 1e-300
"""A positive floor far above the subnormals (~4.9e-324): keeps a division or a strict
comparison finite where the true value may be exactly 0."""

ROUNDING_NOISE = 1e-12
"""Relative size below which a float64 quantity is rounding noise: ~4500 unit roundoffs, the
error of a dot product of a few thousand terms; used to zero printed coefficients, to call a row
flat, and to treat a value as 0 relative to its scale."""

VANISHING_ROW = 1e-13
"""Relative norm below which a projected row is parallel to the facet it is projected on (a
tenth of :data:`ROUNDING_NOISE`: only rows that vanish up to rounding are dropped)."""

GEOMETRIC_TOL = 1e-9
"""Relative slack for "on the hyperplane" and "inside the domain" tests on float points: the
accuracy of GLPK's solutions (:data:`LP_FEASIBILITY`) and of float-composed affine maps, so
points that a float solver put on a boundary are recognised as such."""

LP_FEASIBILITY = 1e-9
"""GLPK's primal and dual feasibility tolerance (``tol_bnd``, ``tol_dj``): ten times tighter
than GLPK's default 1e-7, since the rows are unit-normalised and results feed exact checks."""

LP_ACTIVE = 1e-12
"""A row is active at a HiGHS optimum when its multiplier exceeds this or its slack is below it
(:data:`ROUNDING_NOISE`: a looser cut adds rows the exact Farkas solve then rejects)."""

ENGINE_REL_TOL = 1e-8
"""The enumeration engines' relative tolerance for a unit's sign on a cell (times the cell's
radius, at most 1): ten times :data:`GEOMETRIC_TOL`, so an LP's own error never flips a sign."""

MIN_TOL_SCALE = 1e-12
"""Floor of the length scale the engines' tolerance is relative to (a domain of width 0 would
otherwise give tolerance 0)."""

FACET_MARGIN_FLOOR = 1e-10
"""Least margin a facet certificate requires of a separating point, whatever the engine's
tolerance (between :data:`ROUNDING_NOISE` and :data:`GEOMETRIC_TOL`)."""

REFERENCE_MARGIN = 1e-6
"""A reference point p is accepted once every hyperplane is at least this far from it relative
to the domain's inradius: far enough that the exact sign of h(p) is never in doubt."""

CONFORMANCE_RTOL = 1e-5
"""Relative tolerance of the op conformance tests against onnxruntime, which computes in float32
(unit roundoff ~6e-8; 1e-5 leaves room for a few hundred accumulated roundings)."""

MODEL_AGREEMENT_RTOL = 1e-5
"""Default tolerance of ``relucompile check`` between two models run in onnxruntime: float32
models (unit roundoff ~6e-8) agree within a few hundred roundings, as :data:`CONFORMANCE_RTOL`."""

ONNX_NORM_EPSILON = 1e-5
"""The ONNX specification's default ``epsilon`` of the normalisation ops (a model constant, not a
tolerance of ours; named here so the literal is declared once)."""

MAX_COORDINATE = 1e6
"""Largest domain coordinate accepted (box bounds; a polytope row's distance from the origin).
Vertex values carry relative rounding of ~1e-16 times the coordinates' size, which must stay far
below the engines' sign tolerance (:data:`ENGINE_REL_TOL`, 1e-8): at 1e6 the margin is 100x; from
~1e13 cells were silently lost or merged.  Wider inputs should be rescaled."""

MIN_SIDE = 1e-9
"""Least non-zero width of a box side: the engines drop cells thinner than their tolerance
(:data:`ENGINE_REL_TOL` times the domain's size, floored at :data:`MIN_TOL_SCALE`), so a side far
thinner than 1 is refused rather than enumerated to nothing; zero width (a fixed input) is fine."""

BOUND_ROUNDING = 1e-10
"""Relative outward margin of every float64 bound of the verifier (CROWN bounds, LP dual bounds),
times the magnitude of the terms summed: ~10^6 unit roundoffs, far above the rounding of sums of
a few thousand products, so a float bound never claims more than the exact one."""

BOUND_FLOOR = 1e-12
"""Absolute margin added to :data:`BOUND_ROUNDING`'s, for bounds whose terms all vanish (a
relative margin of 0 would leave their rounding uncovered)."""

BRANCH_TIE_BREAK = 1e-12
"""Weight of an unstable unit's interval width in its branching score: ranks the units whose
back-propagated coefficient is 0 by width, and is far too small to outrank a coefficient's score."""

SIGN_ROUNDING = 1e-13
"""Absolute slack, times 1 + |bias|, of a pre-activation's sign at an LP optimum in the verifier's
exact cell search: the rounding of evaluating ``M x + m`` (a tenth of :data:`ROUNDING_NOISE`)."""

LP_DECISION_TOL = 1e-9
"""The verifier's stated tolerance of a 'holds': an exact LP decision (a cell's or a fully split
node's ``min max_i r_i``) above it drops the cell, one in ``[0, LP_DECISION_TOL]`` is counted as
borderline; GLPK's own accuracy (:data:`LP_FEASIBILITY`)."""

OPTIMUM_RTOL = 1e-9
"""Default relative tolerance of the exact output minimum and maximum (verify.optimize): a box is
dropped when its bound is within this of the incumbent, times 1 + |incumbent| (the LPs' accuracy,
:data:`LP_FEASIBILITY`)."""

CONFIRM_RTOL = 1e-6
"""Relative tolerance of the onnxruntime re-check of a counterexample: onnxruntime computes in
float32 (unit roundoff ~6e-8), so an exact float64 counterexample may miss by a few float32 ulps."""

MIN_SOLVE_SECONDS = 1e-3
"""Least time limit handed to a solve (seconds; a duration, not a float tolerance): a spent or
nearly spent budget still gives a positive limit, which every solver accepts (then stops at once)."""

PARAMETER_SPAN = 1e7
"""Largest span of magnitudes within one layer of the lowered network up to which a float64
compilation is trusted as it is: the ratio of the largest to the smallest unit scale (a unit's
largest |weight|; tiny weights within a unit are harmless and not counted), and of a unit's bias to its weighted input sum on the domain (either way round; weights compound
along paths, biases do not).  The engines resolve relative differences down to
:data:`ENGINE_REL_TOL` (1e-8): a span beyond 1/ENGINE_REL_TOL can put a feature below that
resolution (a bias of 1e-6 on weights of 1e3 places hyperplanes 1e-9 apart on a box of width 100;
a weight of 1e-7 beside 1e8; every layer scaled by 1e8), and cells that thin were silently
dropped (seeded nets with weights 1e-8..1e8: about one in seven compiled wrong, every one with a
span above 9e7).  Ten times inside that: beyond it the compilation is proved in exact rationals
(the certificate of ``--certify``) and refused (exit 2, naming the layer) if the proof fails.
Real models stay far below it (unit scales: ACAS Xu at most ~550, MNIST fully connected nets ~18,
a trained Iris MLP ~17; biases within 1e5), so their compilation costs nothing more."""
