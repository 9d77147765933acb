"""VNN-LIB (the VNN-COMP subset of SMT-LIB) -> input boxes and unsafe output conditions.

A VNN-LIB file declares inputs ``X_0 .. X_{n-1}`` and outputs ``Y_0 .. Y_{m-1}`` and asserts a
condition; the property is *violated* iff some input satisfies every assert.  All asserts are
conjoined and converted to disjunctive normal form.  Each disjunct becomes a :class:`Case`: an
input box (atoms over a single ``X`` variable, merged by intersection) and a conjunction of linear
output constraints ``coeffs_y . y + coeffs_x . x <= rhs`` (atoms mentioning some ``Y``).

Supported syntax:

* comments ``; ...``; commands ``(declare-const X_i Real)``, ``(declare-const Y_j Real)``,
  ``(declare-fun X_i () Real)`` and ``(assert F)``; ``check-sat``, ``get-model``, ``exit``,
  ``set-logic``, ``set-info`` and ``set-option`` are accepted and ignored;
* formulas ``(and F ...)``, ``(or F ...)``, nested freely, and comparisons ``(<= t1 t2 ...)``,
  ``(>= ...)``, ``(< ...)``, ``(> ...)`` (chains mean the conjunction of neighbouring pairs);
* terms: numeric literals (``3``, ``-0.5``, ``.5``, ``1.5e-3``), declared variables,
  ``(+ t ...)``, ``(- t)``, ``(- t1 t2 ...)``, ``(* c t)`` / ``(* t c)`` with constant factors,
  ``(/ t c)`` with a non-zero constant ``c``.

Strict comparisons ``<`` and ``>`` are read as ``<=`` and ``>=``: the unsafe set is replaced by its
closure (the usual VNN-COMP convention).  A point found on the boundary of a strict constraint is
therefore a counterexample only up to that closure.

Coefficients and bounds are kept exactly as :class:`fractions.Fraction` parsed from the literal text
(``Fraction("0.318181818")``) and also as float64 (nearest rounding).

Refused, with one line ``<file>:<line>: <what is wrong>`` (:class:`relucompile.errors.UserError`):
unbalanced parentheses, unsupported commands, names other than declared ``X_<int>``/``Y_<int>``,
undeclared variables, gaps in the declared indices, sorts other than ``Real``, ``=``, ``not`` and
other connectives, non-linear terms, comparisons that are always false, atoms over several input
variables ("only box input constraints are supported"), empty input boxes (lower > upper), inputs
without a lower or upper bound in some case, and more than :data:`MAX_CASES` DNF cases.

Example:
    >>> prop = parse_vnnlib_text('''
    ... (declare-const X_0 Real)
    ... (declare-const Y_0 Real)
    ... (declare-const Y_1 Real)
    ... (assert (>= X_0 -1))
    ... (assert (<= X_0 0.5))
    ... (assert (or (<= Y_0 Y_1) (> Y_0 3)))
    ... ''')
    >>> prop.num_inputs, prop.num_outputs, len(prop.cases)
    (1, 2, 2)
    >>> prop.cases[0].lower, prop.cases[0].upper
    (array([-1.]), array([0.5]))
    >>> c = prop.cases[1].constraints[0]     # Y_0 > 3  read as  -y0 <= -3
    >>> c.coeffs_y, c.rhs, c.line
    (array([-1.,  0.]), -3.0, 7)
    >>> prop.violated_by([0.0], [4.0, 5.0])
    True
"""
from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from relucompile.errors import UserError, regular_input_file
from relucompile.limits import check_time, doing

__all__ = ["LinearConstraint", "Case", "Property", "parse_vnnlib", "parse_vnnlib_text", "MAX_CASES"]

MAX_CASES = 10_000
"""Most disjuncts the DNF may have before the file is refused."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_VARIABLE = re.compile(r"([XY])_(\d+)\Z")
_IGNORED_COMMANDS = {"check-sat", "get-model", "exit", "set-logic", "set-info", "set-option"}
_COMPARISONS = {"<=", ">=", "<", ">"}
_UNSUPPORTED_FORMULAS = {"=": "'=' (equality) is not supported; write (and (<= a b) (>= a b))",
                         "distinct": "'distinct' is not supported",
                         "not": "'not' is not supported (only and, or, <=, >=, <, >)",
                         "=>": "'=>' is not supported (only and, or, <=, >=, <, >)",
                         "xor": "'xor' is not supported (only and, or, <=, >=, <, >)",
                         "ite": "'ite' is not supported (only and, or, <=, >=, <, >)"}


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------

@dataclass
class LinearConstraint:
    """One output constraint ``coeffs_y . y + coeffs_x . x <= rhs``.

    Example:
        ``(assert (<= Y_1 Y_0))`` with 5 inputs and 5 outputs gives ``coeffs_y = [-1, 1, 0, 0, 0]``,
        ``coeffs_x = 0``, ``rhs = 0`` and ``exact = ((-1, 1, 0, 0, 0), (0, 0, 0, 0, 0), 0)`` in
        Fractions.
    """

    coeffs_y: np.ndarray  # float64, shape (num_outputs,)
    coeffs_x: np.ndarray  # float64, shape (num_inputs,)
    rhs: float
    exact: tuple          # (tuple[Fraction, ...] for y, tuple[Fraction, ...] for x, Fraction rhs)
    line: int             # source line of the atom

    def holds(self, x: Sequence[float], y: Sequence[float], tol: float = 0.0) -> bool:
        """Whether ``coeffs_y . y + coeffs_x . x <= rhs + tol`` in float64."""
        lhs = float(np.dot(self.coeffs_y, np.asarray(y, dtype=np.float64).ravel()))
        lhs += float(np.dot(self.coeffs_x, np.asarray(x, dtype=np.float64).ravel()))
        return lhs <= self.rhs + tol


@dataclass
class Case:
    """One disjunct: an input box and the conjunction of output constraints that is *unsafe*.

    The property is violated by ``x`` if ``lower <= x <= upper`` and every constraint holds at
    ``(x, f(x))``.

    Example:
        ACAS Xu property 1 has one case, the box of its ten bound asserts and the single
        constraint ``-y0 <= -3.991125645861615`` (i.e. ``Y_0 >= 3.99...``).
    """

    lower: np.ndarray                     # float64, shape (num_inputs,)
    upper: np.ndarray                     # float64, shape (num_inputs,)
    lower_exact: tuple                    # tuple[Fraction, ...]
    upper_exact: tuple                    # tuple[Fraction, ...]
    constraints: list[LinearConstraint] = field(default_factory=list)

    def box_key(self) -> tuple[int, ...]:
        """A hashable key of the exact input box (equal iff the boxes are), cheap to hash.

        Example:
            >>> case = Case(np.zeros(1), np.ones(1), (Fraction(0),), (Fraction(1),))
            >>> case.box_key()
            (0, 1, 1, 1)
        """
        return _int_key(self.lower_exact + self.upper_exact)

    def contains(self, x: Sequence[float], tol: float = 0.0) -> bool:
        """Whether ``x`` lies in the input box (widened by ``tol``), in float64."""
        xv = np.asarray(x, dtype=np.float64).ravel()
        return bool(np.all(xv >= self.lower - tol) and np.all(xv <= self.upper + tol))

    def unsafe(self, x: Sequence[float], y: Sequence[float], tol: float = 0.0) -> bool:
        """Whether ``x`` is in the box and ``(x, y)`` satisfies every constraint (float64, ``tol``)."""
        return self.contains(x, tol) and all(c.holds(x, y, tol) for c in self.constraints)


@dataclass
class Property:
    """A parsed VNN-LIB file: violated iff some case has an ``x`` in its box with all constraints true.

    Example:
        >>> p = parse_vnnlib_text("(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
        ...     "(assert (or (and (>= X_0 -1)(<= X_0 0)) (and (>= X_0 0)(<= X_0 1))))"
        ...     "(assert (or (<= Y_0 Y_1) (<= Y_0 -1)))")
        >>> len(p.input_boxes()), len(p.cases)           # 2 boxes, each with 2 output disjuncts
        (2, 4)
    """

    path: str
    num_inputs: int
    num_outputs: int
    cases: list[Case]

    def input_boxes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The distinct input boxes ``(lower, upper)`` of the cases, in order of first appearance."""
        seen: set[tuple] = set()
        boxes: list[tuple[np.ndarray, np.ndarray]] = []
        for case in self.cases:
            key = case.box_key()
            if key not in seen:
                seen.add(key)
                boxes.append((case.lower.copy(), case.upper.copy()))
        return boxes

    def violated_by(self, x: Sequence[float], y: Sequence[float], tol: float = 0.0) -> bool:
        """Whether the input ``x`` with network output ``y`` is a counterexample (float64, ``tol``)."""
        return any(case.unsafe(x, y, tol) for case in self.cases)


# --------------------------------------------------------------------------------------------
# Reading S-expressions
# --------------------------------------------------------------------------------------------

class _Atom:
    __slots__ = ("text", "line", "quoted")

    def __init__(self, text: str, line: int, quoted: bool = False) -> None:
        self.text, self.line, self.quoted = text, line, quoted


class _List:
    __slots__ = ("items", "line")

    def __init__(self, line: int) -> None:
        self.items: list[_Atom | _List] = []
        self.line = line


def _show(text: str, limit: int = 40) -> str:
    """A token for an error message: one line, not too long."""
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Parser:
    def __init__(self, text: str, path: str, max_cases: int) -> None:
        self.text, self.path, self.max_cases = text, path, max_cases
        # (kind, index) -> line of the declaration
        self.declared: dict[tuple[str, int], int] = {}

    def error(self, line: int, message: str) -> UserError:
        return UserError(f"{self.path}:{line}: {message}")

    # ---- tokens and lists ---------------------------------------------------------------

    def read(self) -> list[_Atom | _List]:
        text, n = self.text, len(self.text)
        top: list[_Atom | _List] = []
        stack: list[_List] = []
        line, i = 1, 0
        delimiters = set("();\"| \t\r\n\f\v")
        next_check = 0
        while i < n:
            if i >= next_check:   # the run's time budget (relucompile.limits), every 64 K characters
                check_time()
                next_check = i + 65536
            ch = text[i]
            if ch == "\n":
                line += 1
                i += 1
            elif ch in " \t\r\f\v":
                i += 1
            elif ch == ";":
                j = text.find("\n", i)
                i = n if j < 0 else j
            elif ch == "(":
                node = _List(line)
                (stack[-1].items if stack else top).append(node)
                stack.append(node)
                i += 1
            elif ch == ")":
                if not stack:
                    raise self.error(line, "unbalanced parentheses: ')' without a matching '('")
                stack.pop()
                i += 1
            else:
                start_line = line
                if ch in "\"|":
                    j = i + 1
                    while True:
                        j = text.find(ch, j)
                        if j < 0:
                            what = "string" if ch == '"' else "quoted symbol"
                            raise self.error(start_line, f"unterminated {what} (expected a closing {ch})")
                        if ch == '"' and text.startswith('""', j):  # SMT-LIB escape of '"'
                            j += 2
                            continue
                        break
                    token = text[i: j + 1]
                    line += token.count("\n")
                    i = j + 1
                    atom = _Atom(token, start_line, quoted=True)
                else:
                    j = i
                    while j < n and text[j] not in delimiters:
                        j += 1
                    atom = _Atom(text[i:j], start_line)
                    i = j
                (stack[-1].items if stack else top).append(atom)
        if stack:
            raise self.error(stack[0].line, "unbalanced parentheses: this '(' is never closed (missing ')')")
        return top

    # ---- commands -----------------------------------------------------------------------

    def parse(self) -> Property:
        # every assert's DNF, conjoined once at the end: conjoining assert by assert would copy
        # (and de-duplicate) the growing conjunction each time, quadratic in the number of asserts
        asserted: list[list[tuple]] = []
        size, size_line = 1, 1
        for node in self.read():
            check_time()
            if isinstance(node, _Atom):
                raise self.error(node.line, f"expected '(' to start a command, got {_show(node.text)!r}")
            if not node.items or not isinstance(node.items[0], _Atom) or node.items[0].quoted:
                raise self.error(node.line, "expected a command such as (declare-const X_0 Real) or (assert ...)")
            command = node.items[0].text
            if command in ("declare-const", "declare-fun"):
                self.declare(node, command)
            elif command == "assert":
                if len(node.items) != 2:
                    raise self.error(node.line, f"expected (assert <formula>) with one formula, got {len(node.items) - 1}")
                part = self.formula(node.items[1])
                size *= len(part)
                if size > self.max_cases:
                    raise self.error(node.line, f"the disjunctive normal form has more than {self.max_cases} "
                                                f"cases ({size} here); split the property into several files")
                asserted.append(part)
                size_line = node.line
            elif command in _IGNORED_COMMANDS:
                continue
            else:
                raise self.error(node.line, f"unsupported command {_show(command)!r} (expected declare-const or assert)")
        return self.build(self.conjoin(asserted, size_line) if asserted else [()])

    def declare(self, node: _List, command: str) -> None:
        items = node.items
        if command == "declare-const":
            if len(items) != 3:
                raise self.error(node.line, "expected (declare-const <name> Real)")
            name, sort = items[1], items[2]
        else:
            if len(items) != 4 or not isinstance(items[2], _List) or items[2].items:
                raise self.error(node.line, "expected (declare-fun <name> () Real)")
            name, sort = items[1], items[3]
        if not isinstance(name, _Atom) or name.quoted:
            raise self.error(node.line, "expected a variable name X_<int> or Y_<int>")
        match = _VARIABLE.match(name.text)
        if not match:
            raise self.error(name.line, f"unsupported variable name {_show(name.text)!r}: "
                                        "expected X_<int> for inputs or Y_<int> for outputs")
        if not isinstance(sort, _Atom) or sort.text != "Real":
            got = sort.text if isinstance(sort, _Atom) else "(...)"
            raise self.error(sort.line, f"unsupported sort {_show(got)!r} for {name.text}: expected Real")
        key = (match.group(1), int(match.group(2)))
        if key in self.declared:
            raise self.error(name.line, f"{key[0]}_{key[1]} is declared twice (first on line {self.declared[key]})")
        self.declared[key] = name.line

    # ---- formulas -> DNF: list of conjunctions, each a tuple of atoms (coeffs, rhs, line, key) ----
    # key: the atom in integers (numerator, denominator), hashed cheaply by the de-duplications

    def conjoin(self, parts: list[list[tuple]], line: int) -> list[tuple]:
        size = math.prod(len(p) for p in parts)
        if size > self.max_cases:
            raise self.error(line, f"the disjunctive normal form has more than {self.max_cases} cases "
                                   f"({size} here); split the property into several files")
        return _dedupe([tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)])

    def formula(self, node: _Atom | _List) -> list[tuple]:
        if isinstance(node, _Atom):
            raise self.error(node.line, f"expected a constraint such as (<= X_0 1), got {_show(node.text)!r}")
        if not node.items:
            raise self.error(node.line, "expected a constraint such as (<= X_0 1), got ()")
        head = node.items[0]
        if not isinstance(head, _Atom) or head.quoted:
            raise self.error(node.line, "expected and, or, <=, >=, < or > after '('")
        op, args = head.text, node.items[1:]
        if op in ("and", "or"):
            if not args:
                raise self.error(node.line, f"({op}) needs at least one argument")
            parts = [self.formula(a) for a in args]
            if op == "and":
                return self.conjoin(parts, node.line)
            total = sum(len(p) for p in parts)
            if total > self.max_cases:
                raise self.error(node.line, f"the disjunctive normal form has more than {self.max_cases} cases "
                                            f"({total} here); split the property into several files")
            return _dedupe([c for p in parts for c in p])
        if op in _COMPARISONS:
            if len(args) < 2:
                raise self.error(node.line, f"({op} ...) needs at least two terms")
            terms = [self.term(a) for a in args]
            atoms = []
            for left, right in zip(terms, terms[1:]):
                small, big = (left, right) if op in ("<=", "<") else (right, left)
                atom = self.atom(small, big, node.line)
                if atom is not None:
                    atoms.append(atom)
            return [tuple(atoms)]
        if op in _UNSUPPORTED_FORMULAS:
            raise self.error(node.line, _UNSUPPORTED_FORMULAS[op])
        if op in ("+", "-", "*", "/") or _NUMBER.match(op) or _VARIABLE.match(op):
            raise self.error(node.line, f"expected a constraint (and, or, <=, >=, <, >), got the term ({_show(op)} ...)")
        raise self.error(node.line, f"unsupported operator {_show(op)!r}: expected and, or, <=, >=, < or >")

    def atom(self, small: tuple[dict, Fraction], big: tuple[dict, Fraction], line: int):
        """``small <= big`` as ``(coeffs, rhs, line, key)`` with ``coeffs . v <= rhs``; None if always true."""
        coeffs = dict(small[0])
        for var, c in big[0].items():
            coeffs[var] = coeffs.get(var, Fraction(0)) - c
        coeffs = {v: c for v, c in sorted(coeffs.items()) if c != 0}
        rhs = big[1] - small[1]
        if not coeffs:
            if rhs >= 0:
                return None
            raise self.error(line, "this comparison is always false (it has no variables)")
        items = tuple(coeffs.items())
        key = (tuple((var, c.numerator, c.denominator) for var, c in items), rhs.numerator, rhs.denominator)
        return (items, rhs, line, key)

    # ---- terms -> (coeffs {(kind, index): Fraction}, constant Fraction) ---------------------

    def term(self, node: _Atom | _List) -> tuple[dict, Fraction]:
        if isinstance(node, _Atom):
            text = node.text
            if not node.quoted and _NUMBER.match(text):
                exponent = re.search(r"[eE]([+-]?\d+)", text)
                if exponent and abs(int(exponent.group(1))) > 1000:
                    raise self.error(node.line, f"number out of range: {_show(text)}")
                return {}, Fraction(text)
            match = _VARIABLE.match(text)
            if match and not node.quoted:
                key = (match.group(1), int(match.group(2)))
                if key not in self.declared:
                    raise self.error(node.line, f"undeclared variable {text} (add (declare-const {text} Real) before use)")
                return {key: Fraction(1)}, Fraction(0)
            raise self.error(node.line, f"unknown name {_show(text)!r}: expected a number, a declared "
                                        "X_<int>/Y_<int> variable or a term (+ - * /)")
        if not node.items:
            raise self.error(node.line, "expected a term, got ()")
        head = node.items[0]
        if not isinstance(head, _Atom) or head.quoted:
            raise self.error(node.line, "expected +, -, * or / after '(' in a term")
        op, args = head.text, node.items[1:]
        if op not in ("+", "-", "*", "/"):
            if op in _COMPARISONS or op in ("and", "or"):
                raise self.error(node.line, f"expected a term, got the constraint ({op} ...)")
            raise self.error(node.line, f"unsupported term operator {_show(op)!r}: expected +, -, * or /")
        if not args:
            raise self.error(node.line, f"({op}) needs at least one argument")
        values = [self.term(a) for a in args]
        if op == "+":
            return _add(values)
        if op == "-":
            if len(values) == 1:
                return _scale(values[0], Fraction(-1))
            return _add([values[0]] + [_scale(v, Fraction(-1)) for v in values[1:]])
        if op == "*":
            variable = [v for v in values if v[0]]
            if len(variable) > 1:
                raise self.error(node.line, "non-linear term: a product of two terms with variables "
                                            "(only multiplication by a constant is supported)")
            factor = math.prod((v[1] for v in values if not v[0]), start=Fraction(1))
            return _scale(variable[0], factor) if variable else ({}, factor)
        # "/": (/ t c1 c2 ...) with non-zero constants
        if len(values) < 2:
            raise self.error(node.line, "(/ t c) needs a dividend and a constant divisor")
        result = values[0]
        for v in values[1:]:
            if v[0]:
                raise self.error(node.line, "non-linear term: division by a term with variables "
                                            "(only division by a constant is supported)")
            if v[1] == 0:
                raise self.error(node.line, "division by zero")
            result = _scale(result, 1 / v[1])
        return result

    # ---- cases ----------------------------------------------------------------------------

    def count(self, kind: str) -> int:
        indices = sorted(i for k, i in self.declared if k == kind)
        what = "input" if kind == "X" else "output"
        if not indices:
            raise self.error(1, f"no {what} variables declared (expected (declare-const {kind}_0 Real))")
        for expected, index in enumerate(indices):
            if index != expected:
                raise self.error(self.declared[(kind, index)],
                                 f"{kind}_{index} is declared but {kind}_{expected} is not "
                                 f"({what}s must be {kind}_0 .. {kind}_<n-1>)")
        return len(indices)

    def build(self, dnf: list[tuple]) -> Property:
        nx, ny = self.count("X"), self.count("Y")
        cases: list[Case] = []
        seen: set[tuple] = set()
        boxes: dict[tuple, tuple] = {}          # the box of a tuple of input atoms, computed once
        for number, conjunction in enumerate(dnf, start=1):
            check_time()
            box_atoms = []
            constraints: list[LinearConstraint] = []
            keys: set[tuple] = set()
            for atom in conjunction:
                coeffs, rhs, line, _key = atom
                if all(kind == "X" for (kind, _), _c in coeffs):
                    box_atoms.append(atom)
                    continue
                cy = [Fraction(0)] * ny
                cx = [Fraction(0)] * nx
                for (kind, i), c in coeffs:
                    (cy if kind == "Y" else cx)[i] = c
                exact = (tuple(cy), tuple(cx), rhs)
                if exact in keys:
                    continue
                keys.add(exact)
                constraints.append(LinearConstraint(
                    coeffs_y=np.array([self.to_float(c, line) for c in cy], dtype=np.float64),
                    coeffs_x=np.array([self.to_float(c, line) for c in cx], dtype=np.float64),
                    rhs=self.to_float(rhs, line), exact=exact, line=line))
            signature = tuple(atom[3] for atom in box_atoms)
            if signature not in boxes:
                where = f" (in case {number} of {len(dnf)})" if len(dnf) > 1 else ""
                boxes[signature] = self.box(box_atoms, nx, where)
            lower, upper, lower_float, upper_float, box_key = boxes[signature]
            key = (box_key, tuple(_int_key(c.exact[0]) + _int_key(c.exact[1]) + _int_key((c.exact[2],))
                                  for c in constraints))
            if key in seen:
                continue
            seen.add(key)
            cases.append(Case(lower=lower_float.copy(), upper=upper_float.copy(),
                              lower_exact=lower, upper_exact=upper, constraints=constraints))
        return Property(path=self.path, num_inputs=nx, num_outputs=ny, cases=cases)

    def box(self, atoms: list[tuple], nx: int, where: str) -> tuple:
        """The input box of a case's single-input atoms: exact and float bounds and its key."""
        lower: list[Fraction | None] = [None] * nx
        upper: list[Fraction | None] = [None] * nx
        lower_line = [0] * nx
        upper_line = [0] * nx
        for coeffs, rhs, line, _key in atoms:
            if len(coeffs) > 1:
                names = ", ".join(f"X_{i}" for (_, i), _c in coeffs)
                raise self.error(line, f"only box input constraints are supported: this constraint "
                                       f"relates several inputs ({names})")
            ((_, i), a), = coeffs
            bound = rhs / a
            if a > 0 and (upper[i] is None or bound < upper[i]):
                upper[i], upper_line[i] = bound, line
            elif a < 0 and (lower[i] is None or bound > lower[i]):
                lower[i], lower_line[i] = bound, line
        for i in range(nx):
            for bound, side in ((lower[i], "lower"), (upper[i], "upper")):
                if bound is None:
                    op = ">=" if side == "lower" else "<="
                    raise self.error(self.declared[("X", i)],
                                     f"input X_{i} has no {side} bound{where}: every input needs "
                                     f"(assert ({op} X_{i} <number>))")
            if lower[i] > upper[i]:
                raise self.error(max(lower_line[i], upper_line[i]),
                                 f"empty input box{where}: X_{i} >= {_fmt(lower[i])} (line {lower_line[i]}) "
                                 f"and X_{i} <= {_fmt(upper[i])} (line {upper_line[i]})")
        lower_float = np.array([self.to_float(b, lower_line[i]) for i, b in enumerate(lower)], dtype=np.float64)
        upper_float = np.array([self.to_float(b, upper_line[i]) for i, b in enumerate(upper)], dtype=np.float64)
        return tuple(lower), tuple(upper), lower_float, upper_float, _int_key(lower) + _int_key(upper)

    def to_float(self, value: Fraction, line: int) -> float:
        try:
            result = float(value)
        except OverflowError:
            result = math.inf
        if not math.isfinite(result):
            raise self.error(line, f"number out of float64 range ({_fmt(value)})")
        return result


def _fmt(value: Fraction) -> str:
    try:
        return repr(float(value))
    except OverflowError:
        return str(value)


def _add(values: Iterable[tuple[dict, Fraction]]) -> tuple[dict, Fraction]:
    coeffs: dict = {}
    const = Fraction(0)
    for c, k in values:
        for var, a in c.items():
            coeffs[var] = coeffs.get(var, Fraction(0)) + a
        const += k
    return coeffs, const


def _scale(value: tuple[dict, Fraction], factor: Fraction) -> tuple[dict, Fraction]:
    return {v: a * factor for v, a in value[0].items()}, value[1] * factor


def _int_key(values: Iterable[Fraction]) -> tuple[int, ...]:
    """Fractions as a flat tuple of integers: equal iff the Fractions are (and far cheaper to hash)."""
    return tuple(itertools.chain.from_iterable((v.numerator, v.denominator) for v in values))


def _dedupe(conjunctions: list[tuple]) -> list[tuple]:
    """Drop repeated conjunctions (same atoms in the same order, lines ignored), keeping the first."""
    seen: set[tuple] = set()
    out = []
    for conj in conjunctions:
        key = tuple(atom[3] for atom in conj)
        if key not in seen:
            seen.add(key)
            out.append(conj)
    return out


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------

def parse_vnnlib_text(text: str, path: str = "<string>", *, max_cases: int = MAX_CASES) -> Property:
    """Parse VNN-LIB source ``text``; ``path`` is only used in error messages and ``Property.path``.

    Example:
        >>> p = parse_vnnlib_text("(declare-const X_0 Real)(declare-const Y_0 Real)"
        ...                       "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (<= Y_0 -1))")
        >>> [(c.lower_exact, c.upper_exact, c.constraints[0].exact) for c in p.cases]
        [((Fraction(-1, 1),), (Fraction(1, 1),), ((Fraction(1, 1),), (Fraction(0, 1),), Fraction(-1, 1)))]
    """
    try:
        return _Parser(text, path, max_cases).parse()
    except RecursionError:
        raise UserError(f"{path}:1: expressions are nested too deeply") from None


def parse_vnnlib(path: str | os.PathLike) -> Property:
    """Read and parse a ``.vnnlib`` file (UTF-8 text).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "prop.vnnlib")
        >>> with open(path, "w") as f:
        ...     _ = f.write("(declare-const X_0 Real)(declare-const Y_0 Real)"
        ...                 "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= Y_0 3.991125645861615))")
        >>> p = parse_vnnlib(path)
        >>> p.cases[0].constraints[0].exact[0][0], p.cases[0].constraints[0].rhs
        (Fraction(-1, 1), -3.991125645861615)
    """
    path = regular_input_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    with doing(f"parsing {path}"):
        return parse_vnnlib_text(text, path)
