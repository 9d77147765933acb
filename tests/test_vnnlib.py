"""VNN-LIB frontend: the real ACAS Xu and VNN-COMP test properties parse to the right boxes and
unsafe conditions; malformed input is refused in one line naming file and line."""
from __future__ import annotations

import csv
import glob
import json
import os
import re
from fractions import Fraction

import numpy as np
import pytest

from relucompile.errors import UserError
from relucompile.frontends.vnnlib import MAX_CASES, Property, parse_vnnlib, parse_vnnlib_text

DATA = os.environ.get("RELUCOMPILE_DATA",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))


def data_path(*parts: str) -> str:
    """Path of a shared data file; skips the test with a reason when the data is absent."""
    path = os.path.join(DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path} (set RELUCOMPILE_DATA or check out ../shared)")
    return path


def acas(k: int) -> Property:
    return parse_vnnlib(data_path("acasxu", f"prop_{k}.vnnlib"))


def F(text: str) -> Fraction:
    return Fraction(text)


HEADER = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
BOX = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 2))\n"   # lines 5-8


def refused(text: str, line: int, *words: str) -> str:
    """Parse ``text``, expect a one-line UserError at ``line`` mentioning every word; return it."""
    with pytest.raises(UserError) as info:
        parse_vnnlib_text(text, "bad.vnnlib")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"bad.vnnlib:{line}: "), msg
    for w in words:
        assert w in msg, msg
    return msg


# ---------------------------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", range(1, 11))
def test_acas_property_parses(k):
    path = data_path("acasxu", f"prop_{k}.vnnlib")
    p = parse_vnnlib(path)
    assert (p.path, p.num_inputs, p.num_outputs) == (path, 5, 5)
    assert p.cases
    for case in p.cases:
        assert case.lower.dtype == np.float64 and case.lower.shape == (5,)
        assert all(lo <= hi for lo, hi in zip(case.lower_exact, case.upper_exact))
        assert np.array_equal(case.lower, [float(v) for v in case.lower_exact])
        assert np.array_equal(case.upper, [float(v) for v in case.upper_exact])
        assert case.constraints, "every ACAS property has an output condition"
        for c in case.constraints:
            assert c.coeffs_y.shape == (5,) and c.coeffs_x.shape == (5,)
            assert not c.coeffs_x.any()
            assert np.array_equal(c.coeffs_y, [float(v) for v in c.exact[0]])
            assert c.rhs == float(c.exact[2])
    # Every (case) is distinct.
    keys = [(c.lower_exact, c.upper_exact, tuple(k.exact for k in c.constraints)) for c in p.cases]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9, 10])
def test_acas_box_is_exactly_the_asserted_literals(k):
    """For the single-box properties the exact box is the literal text of the bound asserts."""
    path = data_path("acasxu", f"prop_{k}.vnnlib")
    text = open(path).read()
    lower, upper = {}, {}
    for op, i, num in re.findall(r"\(assert \((<=|>=) X_(\d) (\S+)\)\)", text):
        (upper if op == "<=" else lower)[int(i)] = F(num)
    p = parse_vnnlib(path)
    assert len(p.input_boxes()) == 1
    for case in p.cases:
        assert case.lower_exact == tuple(lower[i] for i in range(5))
        assert case.upper_exact == tuple(upper[i] for i in range(5))


def test_prop4_zero_width_interval():
    p = acas(4)
    (case,) = p.cases
    assert case.lower[2] == case.upper[2] == 0.0
    assert case.lower_exact[2] == case.upper_exact[2] == 0
    assert case.lower_exact == (F("-0.303531156"), F("-0.009549297"), F("0.0"), F("0.318181818"), F("0.083333333"))
    assert case.upper_exact == (F("-0.298552812"), F("0.009549297"), F("0.0"), F("0.5"), F("0.166666667"))
    assert case.lower_exact[3] == Fraction(318181818, 10**9)   # exact, not the float's binary value
    assert (case.lower[2:3] == case.upper[2:3]).all()


def test_prop6_two_input_boxes():
    p = acas(6)
    boxes = p.input_boxes()
    assert len(boxes) == 2
    (lo1, hi1), (lo2, hi2) = boxes
    assert (lo1[1], hi1[1]) == (0.11140846, 0.499999896)
    assert (lo2[1], hi2[1]) == (-0.499999896, -0.11140846)
    for lo, hi in boxes:
        assert (lo[0], hi[0]) == (-0.129289109, 0.700434925)
        assert np.array_equal(lo[2:], [-0.499999896, -0.5, -0.5])
        assert np.array_equal(hi[2:], [-0.499204121, 0.5, 0.5])
    # 2 boxes x 4 output disjuncts, box-major order, one constraint each: Y_j <= Y_0.
    assert len(p.cases) == 8
    for n, case in enumerate(p.cases):
        assert np.array_equal(case.lower, boxes[n // 4][0])
        (c,) = case.constraints
        j = n % 4 + 1
        expected = np.zeros(5)
        expected[0], expected[j] = -1.0, 1.0
        assert np.array_equal(c.coeffs_y, expected) and c.rhs == 0.0


def test_prop1_unsafe_condition():
    (case,) = acas(1).cases
    (c,) = case.constraints
    assert np.array_equal(c.coeffs_y, [-1, 0, 0, 0, 0])
    assert c.rhs == -3.991125645861615
    assert c.exact == ((F(-1), F(0), F(0), F(0), F(0)), (F(0),) * 5, -F("3.991125645861615"))
    lines = open(data_path("acasxu", "prop_1.vnnlib")).read().splitlines()
    assert lines[c.line - 1].strip() == "(assert (>= Y_0 3.991125645861615))"


@pytest.mark.parametrize("k", [3, 4])
def test_prop3_prop4_four_output_constraints(k):
    (case,) = acas(k).cases
    assert len(case.constraints) == 4
    for j, c in enumerate(case.constraints, start=1):   # Y_0 <= Y_j  ->  y0 - yj <= 0
        expected = np.zeros(5)
        expected[0], expected[j] = 1.0, -1.0
        assert np.array_equal(c.coeffs_y, expected) and c.rhs == 0.0


@pytest.mark.parametrize("k,shape", [(2, [4]), (5, [1] * 4), (7, [3, 3]), (8, [2, 2, 2]), (9, [1] * 4),
                                      (10, [1] * 4)])
def test_acas_disjunctions(k, shape):
    assert [len(c.constraints) for c in acas(k).cases] == shape


def test_vnncomp_test_properties_parse():
    files = sorted(glob.glob(os.path.join(data_path("vnncomp-test"), "*.vnnlib")))
    assert len(files) == 4
    for f in files:
        p = parse_vnnlib(f)
        assert p.cases and all(case.constraints for case in p.cases)
    tiny = parse_vnnlib(data_path("vnncomp-test", "test_tiny.vnnlib"))
    assert (tiny.num_inputs, tiny.num_outputs, len(tiny.cases)) == (1, 1, 1)
    (case,) = tiny.cases
    assert (case.lower_exact, case.upper_exact) == ((F(-1),), (F(1),))
    (c,) = case.constraints      # Y_0 >= 100
    assert c.exact == ((F(-1),), (F(0),), F(-100))
    prop = parse_vnnlib(data_path("vnncomp-test", "test_prop.vnnlib"))
    assert prop.cases[0].upper_exact[2] == F("0.49999999998567607")
    assert [c.exact for c in prop.cases[0].constraints] == [c.exact for c in acas(3).cases[0].constraints]


def test_counterexamples_violate_their_property():
    """nnenum's reported counterexamples (x, y) satisfy the parsed unsafe condition."""
    path = data_path("acasxu", "counterexamples.csv")
    props: dict[str, Property] = {}
    rows = list(csv.DictReader(open(path)))
    assert rows
    for row in rows:
        name = row["vnnlib"]
        if name not in props:
            props[name] = parse_vnnlib(data_path("acasxu", name))
        x, y = json.loads(row["x_json"]), json.loads(row["y_reported_by_nnenum_json"])
        assert props[name].violated_by(x, y, tol=1e-6), row
    # ...and a point outside every box is never a counterexample.
    p = acas(1)
    assert not p.violated_by([0.0] * 5, [100.0] * 5)
    assert p.violated_by(p.cases[0].lower, [4.0, 0, 0, 0, 0])
    assert not p.violated_by(p.cases[0].lower, [3.9, 0, 0, 0, 0])


def test_missing_file():
    with pytest.raises(UserError, match="no such file"):
        parse_vnnlib(os.path.join(DATA, "does-not-exist.vnnlib"))


# ---------------------------------------------------------------------------------------------
# Syntax and semantics on small inputs
# ---------------------------------------------------------------------------------------------

def test_terms_literals_and_linear_arithmetic():
    p = parse_vnnlib_text(HEADER + BOX + """
(assert (<= (+ Y_0 (* 2 Y_1) (* Y_1 -0.5) (- 1)) 3))
(assert (>= (- Y_0 Y_1 1.5e-1) (- 0.5)))
(assert (<= (/ Y_1 4) -.25))
(assert (<= (* 2 (- (* 3 X_1) Y_0)) 1E+1))
""")
    (case,) = p.cases
    exact = [c.exact for c in case.constraints]
    assert exact[0] == ((F(1), F("1.5")), (F(0), F(0)), F(4))
    assert exact[1] == ((F(-1), F(1)), (F(0), F(0)), F("0.35"))        # y0 - y1 - 0.15 >= -0.5
    assert exact[2] == ((F(0), F("0.25")), (F(0), F(0)), F("-0.25"))
    assert exact[3] == ((F(-2), F(0)), (F(0), F(6)), F(10))          # mixed X/Y: an output constraint
    assert [c.line for c in case.constraints] == [10, 11, 12, 13]
    assert case.constraints[3].coeffs_x.tolist() == [0.0, 6.0]


def test_strict_inequalities_are_non_strict_and_chains():
    strict = parse_vnnlib_text(HEADER + "(assert (< -1 X_0 1))\n(assert (> 2 X_1 0))\n(assert (> Y_0 Y_1))\n")
    loose = parse_vnnlib_text(HEADER + BOX + "(assert (>= Y_0 Y_1))\n")
    (a,), (b,) = strict.cases, loose.cases
    assert (a.lower_exact, a.upper_exact) == (b.lower_exact, b.upper_exact)
    assert [c.exact for c in a.constraints] == [c.exact for c in b.constraints]


def test_duplicate_bounds_are_intersected():
    p = parse_vnnlib_text(HEADER + BOX + "(assert (<= X_0 0.5))\n(assert (<= X_0 0.75))\n(assert (>= X_1 0.1))\n"
                          "(assert (<= (* 2 X_1) 3))\n(assert (>= (- X_1) -5))\n(assert (<= Y_0 0))\n")
    (case,) = p.cases
    assert case.lower_exact == (F(-1), F("0.1")) and case.upper_exact == (F("0.5"), F("1.5"))
    assert case.lower.tolist() == [-1.0, 0.1] and case.upper.tolist() == [0.5, 1.5]


def test_dnf_order_and_duplicates():
    p = parse_vnnlib_text(HEADER + BOX + """
(assert (or (<= Y_0 1) (<= Y_0 2) (<= Y_0 1)))
(assert (or (and (<= Y_1 3) (<= Y_1 3)) (<= Y_1 4)))
""")
    rhs = [[c.exact[2] for c in case.constraints] for case in p.cases]
    assert rhs == [[1, 3], [1, 4], [2, 3], [2, 4]]
    assert len(p.input_boxes()) == 1
    # Boxes in the disjunction: distinct boxes listed in order of first appearance.
    q = parse_vnnlib_text(HEADER + """
(assert (>= X_1 0)) (assert (<= X_1 1))
(assert (or (and (>= X_0 1) (<= X_0 2)) (and (>= X_0 -2) (<= X_0 -1)) (and (<= X_0 2) (>= X_0 1))))
(assert (or (<= Y_0 0) (<= Y_1 0)))
""")
    assert [b[0][0] for b in q.input_boxes()] == [1.0, -2.0]
    assert len(q.cases) == 4


def test_ignored_commands_and_comments():
    p = parse_vnnlib_text("(set-logic QF_LRA) ; logic\n(set-info :source \"a (weird) ; string\")\n"
                          "(declare-fun X_0 () Real)\n(declare-const Y_0 Real)\n"
                          "(assert (and (>= X_0 0) (<= X_0 1)))  ; box\n(assert (<= Y_0 0))\n(check-sat)\n(exit)\n")
    assert (p.num_inputs, p.num_outputs, len(p.cases)) == (1, 1, 1)


def test_constraint_lines_in_multiline_asserts():
    p = parse_vnnlib_text(HEADER + BOX + "(assert (or\n  (<= Y_0 1)\n  (and (<= Y_1 2)\n       (>= Y_0 -3))))\n")
    assert [[c.line for c in case.constraints] for case in p.cases] == [[10], [11, 12]]


# ---------------------------------------------------------------------------------------------
# Refused input: one line, file and line number
# ---------------------------------------------------------------------------------------------

def test_refuses_unbalanced_parentheses():
    refused(HEADER + BOX + "(assert (<= Y_0 1)\n(assert (<= Y_1 1))\n", 9, "unbalanced", "never closed")
    refused(HEADER + BOX + "(assert (<= Y_0 1)))\n", 9, "unbalanced", "')'")
    refused(HEADER + "(assert (or\n  (and (<= Y_0 1))\n", 5, "unbalanced")


def test_refuses_unknown_variable():
    refused(HEADER + BOX + "(assert (<= Z_0 1))\n", 9, "unknown name 'Z_0'")
    refused(HEADER + BOX + "\n(assert (<= Y_0 (+ foo 1)))\n", 10, "unknown name 'foo'")
    refused(HEADER + "(declare-const Z Real)\n", 5, "unsupported variable name 'Z'")


def test_refuses_undeclared_variable():
    refused(HEADER + BOX + "(assert (<= Y_2 1))\n", 9, "undeclared variable Y_2")
    refused("(declare-const Y_0 Real)\n(assert (<= X_0 1))\n(declare-const X_0 Real)\n", 2, "undeclared variable X_0")
    refused(HEADER + "(declare-const X_3 Real)\n" + BOX, 5, "X_3 is declared but X_2 is not")


def test_refuses_non_linear_term():
    refused(HEADER + BOX + "(assert (<= (* Y_0 Y_1) 1))\n", 9, "non-linear")
    refused(HEADER + BOX + "\n\n(assert (<= (* (+ Y_0 1) X_0) 1))\n", 11, "non-linear")
    refused(HEADER + BOX + "(assert (<= (/ 1 Y_0) 1))\n", 9, "non-linear")


def test_refuses_empty_box():
    msg = refused(HEADER + BOX + "(assert (>= X_0 1.5))\n(assert (<= Y_0 1))\n", 9, "empty input box", "X_0")
    assert "line 6" in msg
    refused(HEADER + "(assert (and (<= X_0 0) (<= X_1 0) (>= X_1 0)\n  (>= X_0 0.001)))\n", 6, "empty input box")


def test_refuses_unbounded_input():
    refused(HEADER + "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= Y_0 1))\n",
            2, "X_1 has no upper bound")
    refused(HEADER + "(assert (<= X_1 1)) (assert (>= X_1 1))\n(assert (or (and (>= X_0 0) (<= X_0 1)) (<= X_0 5)))\n",
            1, "X_0 has no lower bound", "case 2 of 2")


def test_refuses_unsupported_command():
    refused(HEADER + BOX + "(define-fun f () Real 1.0)\n", 9, "unsupported command 'define-fun'")
    refused(HEADER + "\n(push 1)\n", 6, "unsupported command 'push'")
    refused(HEADER + "assert\n", 5, "expected '('")


def test_refuses_other_constructs():
    refused(HEADER + BOX + "(assert (= Y_0 1))\n", 9, "'=' (equality) is not supported")
    refused(HEADER + BOX + "(assert (not (<= Y_0 1)))\n", 9, "'not' is not supported")
    refused(HEADER + BOX + "(assert (<= (+ X_0 X_1) 1))\n", 9, "only box input constraints are supported")
    refused(HEADER + BOX + "(assert (<= 2 1))\n", 9, "always false")
    refused(HEADER + BOX + "(assert (<= Y_0 (/ 1 0)))\n", 9, "division by zero")
    refused("(declare-const X_0 Int)\n", 1, "unsupported sort 'Int'")
    refused(HEADER + "(declare-const X_0 Real)\n", 5, "declared twice", "line 1")
    refused(HEADER + BOX + "(assert (<= Y_0 1e999999999))\n", 9, "out of range")
    refused(HEADER + BOX + "(assert (<= Y_0 1e400))\n", 9, "out of float64 range")


def test_refuses_dnf_blow_up():
    text = HEADER + BOX + "".join("(assert (or (<= Y_0 %d) (<= Y_1 %d)))\n" % (i, i) for i in range(14))
    refused(text, 22, "more than 10000 cases")
    assert MAX_CASES == 10_000
    small = HEADER + BOX + "".join("(assert (or (<= Y_0 %d) (<= Y_1 %d)))\n" % (i, i) for i in range(13))
    assert len(parse_vnnlib_text(small).cases) == 2 ** 13
