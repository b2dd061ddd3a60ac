"""A small, safe evaluator for LaTeX arithmetic, to settle most expression comparisons without sympy.

math-verify is exact but slow for expressions (tens of milliseconds per new string: an ANTLR parse, then
``simplify``/``solve``). The reward must grade about a thousand completions a second, so
``srpo.grading`` first asks this module: both sides are parsed by a recursive-descent parser (no ``eval``)
into a tiny tree and evaluated at three fixed points for their variables. Equal at every point means
equivalent, different at a point means not (polynomial identity testing; the points are fixed, so the
verdict is deterministic). Anything outside the supported subset, and every ambiguous construct, returns
None and goes to math-verify: ``\\log``, functions without brackets (``\\sin x``), ``i``, ``a/bc``, factorials,
absolute values, sets in another order, half-open intervals, relations that are not multiples of each
other, and values that overflow or leave the real numbers.

Supported: numbers, single-letter variables, ``\\pi``, ``+ - * /``, ``\\cdot``, ``\\times``, ``\\div``,
implicit multiplication, ``^`` (braced or single-token exponents), ``\\frac``, ``\\sqrt``, ``\\sqrt[n]``,
parentheses and braces, ``e``, ``\\sin(x)`` and other functions with a bracketed argument; tuples and lists item by item; one relation (``= < > \\le \\ge \\ne``) through the
difference of its sides.

>>> equivalent("(x+1)^2", "x^2+2x+1"), equivalent("2\\\\sqrt{3}", "\\\\sqrt{12}"), equivalent("3x", "x3")
(True, True, True)
>>> equivalent("\\\\frac{\\\\pi}{2}", "\\\\pi/3"), equivalent("\\\\sin x", "x") is None
(False, True)
"""

from __future__ import annotations

import math
import re

MAX_CHARS = 300
_TOKEN_RE = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|\\([A-Za-z]+)|([A-Za-z])|(\S))")
_BINARY = {"*": "*", "cdot": "*", "times": "*", "/": "/", "div": "/"}
_STARTS_PRIMARY = ("num", "var", "pi", "e", "frac", "sqrt", "fn", "(", "{")
# Functions with a bracketed argument. Not \\log: its base differs between conventions.
_FUNCTIONS = {"sin": math.sin, "cos": math.cos, "tan": math.tan, "cot": lambda x: 1 / math.tan(x),
              "sec": lambda x: 1 / math.cos(x), "csc": lambda x: 1 / math.sin(x), "ln": math.log, "exp": math.exp,
              "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan}  # fmt: skip
# Three fixed points: each letter gets a different, irrational-looking value in (0.5, 2.5) per point.
_POINTS = tuple({c: 0.5 + 2.0 * ((ord(c) * 0.6180339887498949 * (k + 1.3)) % 1.0) for c in map(chr, range(65, 123))}
                for k in range(3))  # fmt: skip


class Unsupported(Exception):
    """The text uses something outside the subset; the caller falls back to math-verify."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN_RE.finditer(text):
        number, command, letter, other = m.groups()
        if number is not None:
            out.append(("num", number))
        elif command is not None:
            if command == "pi":
                out.append(("pi", command))
            elif command in ("frac", "sqrt"):
                out.append((command, command))
            elif command in _BINARY:
                out.append(("op", _BINARY[command]))
            elif command in _FUNCTIONS:
                out.append(("fn", command))
            else:
                raise Unsupported(command)
        elif letter is not None:
            if letter == "i":  # the imaginary unit or a variable? math-verify decides
                raise Unsupported(letter)
            out.append(("e", letter) if letter == "e" else ("var", letter))  # e is Euler's number, as in math-verify
        elif other in "+-":
            out.append(("sign", other))
        elif other in "*/":
            out.append(("op", other))
        elif other in "(){}[]^":
            out.append((other, other))
        else:
            raise Unsupported(other)
    return out


class _Parser:
    """Recursive descent over the token list; builds nested tuples ("+", a, b), ("num", 2.0), ..."""

    def __init__(self, tokens):
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None):
        if self.i >= len(self.tokens) or (kind is not None and self.tokens[self.i][0] != kind):
            raise Unsupported(f"expected {kind}")
        self.i += 1
        return self.tokens[self.i - 1]

    def expression(self):
        node = self.term()
        while self.peek() == "sign":
            sign = self.take()[1]
            node = (sign, node, self.term())
        return node

    def term(self):
        node, divided = self.unary(), False
        while True:
            kind = self.peek()
            if kind == "op":
                op = self.take()[1]
                divided = divided or op == "/"
                node = (op, node, self.unary())
            elif kind in _STARTS_PRIMARY:
                if divided:  # "1/2x": (1/2)x or 1/(2x)? ambiguous, leave it to math-verify
                    raise Unsupported("implicit product after /")
                node = ("*", node, self.power())
            else:
                return node

    def unary(self):
        if self.peek() == "sign":
            sign = self.take()[1]
            operand = self.unary()
            return ("neg", operand) if sign == "-" else operand
        return self.power()

    def power(self):
        base = self.primary()
        if self.peek() == "^":
            self.take()
            exponent = self.group() if self.peek() == "{" else self.primary()
            return ("^", base, exponent)
        return base

    def function(self, name: str):
        """``\\sin(x)``, ``\\sin^2(x)``; ``\\sin x`` (what is the argument?) and ``\\sin^{-1}`` are unsupported."""
        exponent = None
        if self.peek() == "^":
            self.take()
            exponent = self.group() if self.peek() == "{" else self.primary()
            if exponent[0] != "num" or exponent[1] <= 0:
                raise Unsupported("function power")
        if self.peek() not in ("(", "{"):
            raise Unsupported("function argument without brackets")
        node = ("fn", name, self.primary())
        return node if exponent is None else ("^", node, exponent)

    def group(self):
        self.take("{")
        node = self.expression()
        self.take("}")
        return node

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("num", float(value))
        if kind == "var":
            return ("var", value)
        if kind == "pi":
            return ("num", math.pi)
        if kind == "e":
            return ("num", math.e)
        if kind == "fn":
            return self.function(value)
        if kind == "frac":
            return ("/", self.group(), self.group())
        if kind == "sqrt":
            if self.peek() == "[":
                self.take()
                index = self.expression()
                self.take("]")
                return ("root", self.group(), index)
            return ("root", self.group() if self.peek() == "{" else self.primary(), ("num", 2.0))
        if kind in "({":
            node = self.expression()
            self.take(")" if kind == "(" else "}")
            return node
        raise Unsupported(kind)


def parse_tree(text: str) -> tuple[tuple, bool]:
    """The expression tree of ``text`` and whether it has variables, or raise Unsupported."""
    if len(text) > MAX_CHARS:
        raise Unsupported("too long")
    tokens = _tokens(text)
    parser = _Parser(tokens)
    tree = parser.expression()
    if parser.i != len(tokens):
        raise Unsupported("trailing tokens")
    return tree, any(kind == "var" for kind, _ in tokens)


def _evaluate(node, point: dict) -> float:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "var":
        return point[node[1]]
    if kind == "neg":
        return -_evaluate(node[1], point)
    if kind == "fn":
        value = _FUNCTIONS[node[1]](_evaluate(node[2], point))
        if not math.isfinite(value):
            raise Unsupported("not a finite real")
        return value
    a, b = _evaluate(node[1], point), _evaluate(node[2], point)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        return a / b
    if kind == "^":
        value = a**b
    else:  # root
        value = a ** (1.0 / b) if a >= 0 else -((-a) ** (1.0 / b)) if b % 2 == 1 else float("nan")
    if isinstance(value, complex) or not math.isfinite(value):
        raise Unsupported("not a finite real")
    return value


def values(text: str) -> tuple[tuple[float, ...], bool] | None:
    """Values of ``text`` at the fixed points and whether it has variables, or None if unsupported."""
    try:
        tree, has_vars = parse_tree(text)
        results = tuple(_evaluate(tree, point) for point in _POINTS)
    except (Unsupported, ArithmeticError, ValueError, RecursionError):
        return None
    return results, has_vars


_CLOSING = {"(": ")", "[": "]", "{": "}", "\\{": "\\}"}


def split_list(text: str) -> tuple[str, list[str]] | None:
    """``(2, 3)`` -> ("(", ["2", "3"]); ``1, 2`` -> ("", ["1", "2"]); None unless there is a top-level comma."""
    text = text.strip()
    bracket = next((b for b in ("\\{", "(", "[", "{") if text.startswith(b) and text.endswith(_CLOSING[b])), "")
    inner = text[len(bracket) : len(text) - len(_CLOSING.get(bracket, ""))] if bracket else text
    items, depth, start = [], 0, 0
    for i, c in enumerate(inner):
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:  # "(1), (2)": the outer brackets do not enclose everything
            return None
        if c == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    if not items:
        return None
    return bracket, [*items, inner[start:]]


def equivalent_lists(a: str, b: str) -> bool | None:
    """Tuples, lists and sets item by item: True when equal in order (same brackets or one side bare),
    False when some item has no equal on the other side or the lengths differ, else None."""
    la, lb = split_list(a), split_list(b)
    if la is None or lb is None:
        return None
    (open_a, items_a), (open_b, items_b) = la, lb
    if len(items_a) != len(items_b):
        return False
    pairs = [equivalent(x, y) for x, y in zip(items_a, items_b)]
    if all(p is True for p in pairs):
        if open_a == open_b or not open_a or not open_b:
            return True
        # "(1, 2)" vs "[1, 2]": two items in ( and [ are intervals to math-verify, and these differ
        return False if len(items_a) == 2 and {open_a, open_b} == {"(", "["} else None
    if any(p is None for p in pairs):
        return None
    for x in items_a:
        if not any(equivalent(x, y) for y in items_b):
            return False
    if open_a in ("(", "[") and open_b in ("(", "["):
        return False  # tuples, lists and intervals are ordered
    return None  # same items in another order, and one side may be a set: math-verify decides


_RELATION_RE = re.compile(r"\\(?:leq?|geq?|lt|gt|neq|ne)(?![A-Za-z])|<=|>=|≤|≥|≠|!=|<|>|=")
_RELATIONS = {"\\le": "<=", "\\leq": "<=", "≤": "<=", "\\ge": ">=", "\\geq": ">=", "≥": ">=", "\\lt": "<",
              "\\gt": ">", "\\ne": "!=", "\\neq": "!=", "≠": "!="}  # fmt: skip
_FLIP = {"<": ">", "<=": ">=", ">": ">", ">=": ">=", "=": "=", "!=": "!="}


def _relation(text: str) -> tuple[str, str] | None:
    """``x < 2`` -> (">", "2-(x)"): one relation rewritten as ``difference op 0`` with op in > >= = !=."""
    found = _RELATION_RE.findall(text)
    if len(found) != 1:
        return None
    op = _RELATIONS.get(found[0], found[0])
    left, right = _RELATION_RE.split(text)
    if op in ("<", "<="):
        left, right = right, left
    return _FLIP[op], f"({left})-({right})"


def equivalent_relations(a: str, b: str) -> bool | None:
    """Relations ``L op R`` compared through L - R: the same relation when one difference is a constant
    positive multiple of the other (any non-zero multiple for = and !=); the opposite inequality when the
    multiple is negative. Anything else (``x^3 > 8`` vs ``x > 2``) is left to math-verify."""
    ra, rb = _relation(a), _relation(b)
    if ra is None or rb is None:
        return None
    (op_a, diff_a), (op_b, diff_b) = ra, rb
    if (op_a in ("=", "!=")) != (op_b in ("=", "!=")) or ((op_a == "=") != (op_b == "=")):
        return False
    va, vb = values(diff_a), values(diff_b)
    if va is None or vb is None or not va[1] or not vb[1] or 0.0 in vb[0]:
        return None
    ratios = [x / y for x, y in zip(va[0], vb[0])]
    if not all(math.isclose(r, ratios[0], rel_tol=1e-8) for r in ratios) or ratios[0] == 0:
        return None
    return op_a == op_b and (ratios[0] > 0 or op_a in ("=", "!="))


def equivalent(a: str, b: str) -> bool | None:
    """True/False when both sides are in the subset, else None. Constants compare to a relative 1e-9 (an
    exact form is not matched by a rounded decimal: 3.14159 is not pi); expressions with variables to 1e-8
    at every point (float error of equal expressions is about 1e-15)."""
    if "," in a or "," in b:
        return equivalent_lists(a, b)
    if _RELATION_RE.search(a) or _RELATION_RE.search(b):
        return equivalent_relations(a, b)
    va, vb = values(a), values(b)
    if va is None or vb is None:
        return None
    (xs, a_vars), (ys, b_vars) = va, vb  # one side may lose its variables: sin^2(x) + cos^2(x) = 1
    tolerance = 1e-8 if a_vars or b_vars else 1e-9
    return all(math.isclose(x, y, rel_tol=tolerance, abs_tol=1e-12) for x, y in zip(xs, ys))
