"""Normalising answer strings for grading (benchmark conventions, paper §4): LaTeX wrappers, plain-text math, units, numbers.

Everything is regular expressions and ``fractions.Fraction``; nothing is evaluated.

>>> clean("$\\\\boxed{\\\\text{12 cm}}$.")
'12 cm'
>>> [str(to_number(s)) for s in ["1,200", "12.0", "x = -\\\\frac{3}{4}", "45^\\\\circ", "50\\\\%", "3.5 kg"]]
['1200', '12', '-3/4', '45', '50', '7/2']
>>> to_number("5x") is None, to_number("3 pi") is None
(True, True)
>>> clean("2√{3}"), clean("pi/2"), clean("√3 + sqrt(2)"), clean("$B")
('2\\\\sqrt{3}', '\\\\pi/2', '\\\\sqrt{3} + \\\\sqrt{2}', 'B')
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from srpo.formats import last_boxed

_UNICODE = str.maketrans(
    {
        "−": "-",
        "–": "-",
        "×": "*",
        "·": "*",
        "，": ",",
        "：": ":",
        "（": "(",
        "）": ")",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
    }
)
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("`", "`"))
# A \text{} unit at the end of an expression ("4\pi \text{ cm}^2"): dropped before the expression is compared.
# Plain-text math that LaTeX parsers misread: "√{3}" (GeoQA), "√3", "sqrt(2)", "pi" (read as p*i).
_PLAIN_MATH = (
    (re.compile(r"√\s*\{"), r"\\sqrt{"),
    (re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z])"), r"\\sqrt{\1}"),
    (re.compile(r"(?:√|(?<![\\A-Za-z])sqrt)\s*\(([^()]*)\)"), r"\\sqrt{\1}"),
    (re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])|π"), r"\\pi"),
)
_TEXT_UNIT_RE = re.compile(r"(?<=\S)\s*\\(?:text|mathrm|mbox)\s*\{\s*[A-Za-z][A-Za-z /]*\}(?:\s*\^\s*\{?[23]\}?)?$")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[,;:! ]|\\q?quad\b|\\left\b|\\right\b|~")
_DEGREES_RE = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|°|\s+degrees?)\s*$")
_PERCENT_RE = re.compile(r"\s*(?:\\%|%|\s+percent)\s*$")
_CURRENCY_RE = re.compile(r"^([-+]?)\s*(?:\\\$|\$|€|£|¥|USD\s*)\s*(?=\d)")
_LHS_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=[^=])")
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d{1,3})?|[-+]?\.\d+"
_NUMBER_RE = re.compile(_NUMBER)
_FRAC_RE = re.compile(rf"([-+]?)\\frac\{{\s*({_NUMBER})\s*\}}\{{\s*({_NUMBER})\s*\}}")
_SLASH_RE = re.compile(rf"({_NUMBER})\s*/\s*({_NUMBER})")
_SCI_RE = re.compile(rf"({_NUMBER})\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*\{{?\s*([-+]?\d{{1,3}})\s*\}}?")
# Units: any word after a space ("5 apples", "12 cm^2", "3 m/s"), or a known unit glued to the number ("5cm").
_UNIT_WORD = r"[A-Za-zµμΩ]+(?:\s*\^\s*\{?[23]\}?|[²³])?"
_SPACED_UNIT_RE = re.compile(rf"\s+({_UNIT_WORD}(?:\s*(?:/|per)\s*{_UNIT_WORD})*(?:\s+{_UNIT_WORD})*)$")
_GLUED_UNITS = {
    "mm",
    "cm",
    "dm",
    "m",
    "km",
    "mg",
    "g",
    "kg",
    "s",
    "ms",
    "min",
    "h",
    "hr",
    "l",
    "ml",
    "ft",
    "in",
    "yd",
    "mi",
    "lb",
    "lbs",
    "oz",
    "v",
    "w",
    "kw",
    "j",
    "kj",
    "n",
    "pa",
    "kpa",
    "hz",
    "k",
}
_NOT_UNITS = {"pi", "sqrt", "e", "i", "ln", "log", "sin", "cos", "tan", "and", "or", "x", "y", "z", "n"}
MAX_NUMBER_CHARS = 60
MAX_MAGNITUDE = 10**300  # beyond float range; such an "answer" is not a benchmark number


MAX_CACHED_CHARS = 2000  # longer strings are processed without being kept as cache keys


def _short_cached(fn):
    """lru_cache for short strings only, so a stream of long answers cannot fill memory with cache keys."""
    cached = lru_cache(maxsize=1 << 16)(fn)

    def wrapper(text: str):
        return cached(text) if len(text) <= MAX_CACHED_CHARS else fn(text)

    wrapper.__doc__, wrapper.__name__, wrapper.cache_clear = fn.__doc__, fn.__name__, cached.cache_clear
    return wrapper


@_short_cached
def clean(text: str) -> str:
    """Strip what carries no meaning: ``\\boxed{}``, ``$``/``\\(``, ``\\text{}``, spacing, a final period."""
    if "\\boxed" in text:
        boxed = last_boxed(text)
        text = boxed if boxed is not None else text
    text = text.translate(_UNICODE).strip()
    if text.count("$") == 1:  # an echo of an "Answer: $LETTER" template (open-compass/VLMEvalKit#1591)
        text = text.replace("\\$", "").replace("$", "").strip()  # also escaped, "\$B"
    if "√" in text or "pi" in text or "π" in text or "sqrt" in text:
        for pattern, repl in _PLAIN_MATH:
            text = pattern.sub(repl, text)
    for _ in range(3):
        before = text
        for left, right in _WRAPPERS:
            if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left) : -len(right)].strip()
        text = text.rstrip(".。").strip()
        if "\\boxed" in text:
            boxed = last_boxed(text)
            text = boxed if boxed is not None else text
        if text == before:
            break
    if "\\" in text or "~" in text:
        text = _TEXT_UNIT_RE.sub("", text)
        text = _TEXT_CMD_RE.sub(r"\1", text)
        text = _SPACING_RE.sub(" ", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return " ".join(text.replace("{,}", ",").split())


@_short_cached
def normalize_text(text: str) -> str:
    """Case- and space-insensitive form for string equality (after ``clean``)."""
    return "".join(clean(text).lower().split()).rstrip(".")


def strip_lhs(text: str) -> str:
    """``x = 5`` -> ``5``: drop a left-hand side that is a single variable (optionally subscripted)."""
    m = _LHS_RE.match(text)
    return text[m.end() :] if m and "=" not in text[m.end() :] else text


@_short_cached
def to_number(text: str) -> Fraction | None:
    """The exact value of a plain numeric answer (with units, degrees, percent, ``x =``), else None.

    Percent and degree signs are dropped, not scaled: "50%" is 50, as benchmark golds write it.
    """
    text = clean(text)
    if not text or len(text) > MAX_NUMBER_CHARS or not any(c.isdigit() for c in text):
        return None
    text = _CURRENCY_RE.sub(r"\1", strip_lhs(text))
    text = _DEGREES_RE.sub("", _PERCENT_RE.sub("", text))
    value = _parse_number(_strip_unit(text))
    return value if value is not None and abs(value) < MAX_MAGNITUDE else None


def _parse_number(text: str) -> Fraction | None:
    m = _FRAC_RE.fullmatch(text)
    if m:
        value = _fraction(m.group(2), m.group(3))
        return -value if value is not None and m.group(1) == "-" else value
    m = _SLASH_RE.fullmatch(text)
    if m:
        return _fraction(m.group(1), m.group(2))
    m = _SCI_RE.fullmatch(text)
    if m:
        base = _literal(m.group(1))
        return None if base is None else base * Fraction(10) ** int(m.group(2))
    return _literal(text) if _NUMBER_RE.fullmatch(text) else None


def _strip_unit(text: str) -> str:
    m = _SPACED_UNIT_RE.search(text)
    if m and m.start() > 0 and text[m.start() - 1].isdigit():
        words = set(re.findall(r"[A-Za-zµμΩ]+", m.group(1).lower()))
        if not words & _NOT_UNITS:
            return text[: m.start()]
    m = re.fullmatch(rf"({_NUMBER})([A-Za-z]+)", text)
    if m and m.group(2).lower() in _GLUED_UNITS:
        return m.group(1)
    return text


def _literal(text: str) -> Fraction | None:
    try:
        return Fraction(text.replace(",", "").lstrip("+"))
    except (ValueError, ZeroDivisionError):
        return None


def _fraction(num: str, den: str) -> Fraction | None:
    top, bottom = _literal(num), _literal(den)
    if top is None or not bottom:
        return None
    return top / bottom


_WORDS_RE = re.compile(r"[A-Za-z\s]*[A-Za-z]{2}[A-Za-z\s]*")


def is_words(text: str) -> bool:
    """Plain words ("yes", "left"): math-verify would read them as products of symbols (y*e*s)."""
    return _WORDS_RE.fullmatch(text) is not None
