"""``grade_answer``: is an extracted answer right? Cheap exact rules, then math-verify (``srpo.grading.equiv``).

Conventions of the four benchmarks:

* multiple choice: gold is a letter A-J with ``options`` the option texts (our record schema, MathVerse,
  MathVision, MMMU-Pro), or the option TEXT itself (MathVista's raw rows). A prediction names a letter in a
  fixed shape (``B``, ``(B)``, ``B. 42``, ``Answer: B``, ``The answer is (B)``) or gives an option's text or
  value; in a sentence, an option is read only when the sentence names exactly one (MathVision's
  letters-or-option-text; MathVista's option text). ``options`` may be a stringified list (MMMU-Pro).
* ``integer``: equal to the integer (``12.0`` and ``1,200`` count; ``12.7`` does not, although MathVista's
  official ``int(float(x))`` would accept it).
* ``float``: both sides rounded to ``precision`` decimals (MathVista), else equal to a RELATIVE 1e-6: an
  absolute tolerance would make 3.2e-19 equal 1.6e-19 (huggingface/Math-Verify#14).
* ``expression`` (and no type): normalised string equality, numeric equality, then math-verify.
* ``text``: normalised string equality or numeric equality, never math-verify (it reads "yes" as y*e*s).

A numeric answer inside a sentence ("There are 3 objects remaining.") is read when the sentence holds
exactly one number. An empty or unparseable gold never scores as correct.

>>> grade_answer("\\\\frac{1}{2}", "0.5"), grade_answer("(B)", "B", options=["1", "2"])
(True, True)
>>> grade_answer("1.449", "1.45", answer_type="float", precision=2)
True
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from srpo.grading import equiv
from srpo.grading.choices import LETTERS, contradicts, gold_letter, match_option, parse_options, predicted_letter
from srpo.grading.conventions import first_label_letter
from srpo.grading.normalize import clean, is_words, normalize_text, to_number

ANSWER_TYPES = ("multiple_choice", "integer", "float", "expression", "text")
CONVENTIONS = (None, "mathvista")
MAX_CACHED_CHARS = 2000  # bigger predictions are graded without entering the cache
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER_IN_TEXT_RE = re.compile(rf"(?<![\w.^_]){_NUMBER}(?![\w^])")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_STATED_NUMBER_RE = re.compile(
    rf"(?:\b(?:is|are|was|were|be|equals?|to)\b:?|[=≈])\s*(?:about\s+|approximately\s+)?\$?"
    rf"({_NUMBER}|(?i:{'|'.join(NUMBER_WORDS)})\b)(?![\w^])"
)


def grade_answer(prediction, gold, *, options=None, answer_type=None, precision=None, convention=None) -> bool:
    """True when ``prediction`` is a correct answer for ``gold`` (see the module docstring for the rules).

    ``prediction`` is an extracted answer (``srpo.grading.find_answers``) or short text. ``convention``:
    None, or ``"mathvista"`` for MathVista's documented letter-first rule (``srpo.grading.conventions``).
    Bad ``answer_type``/``precision``/``options``/``convention`` raise ``ValueError``; any prediction just
    grades False.
    """
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; choose one of {ANSWER_TYPES} or None")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}")
    prec = check_precision(precision)
    opts = parse_options(options)
    if prediction is None or gold is None:
        return False
    pred, gold = str(prediction), str(gold)
    if len(pred) > MAX_CACHED_CHARS:
        return _grade(pred, gold, opts, answer_type, prec, convention)
    return _grade_cached(pred, gold, opts, answer_type, prec, convention)


def check_precision(precision) -> int | None:
    if precision is None or (isinstance(precision, float) and math.isnan(precision)):
        return None
    try:
        prec = int(precision)
    except (TypeError, ValueError):
        raise ValueError(f"precision must be a number of decimals or None, got {precision!r}") from None
    if prec != precision or not 0 <= prec <= 15:
        raise ValueError(f"precision must be a whole number of decimals in 0..15, got {precision!r}")
    return prec


@lru_cache(maxsize=1 << 16)
def _grade_cached(pred: str, gold: str, opts: tuple, answer_type, prec, convention) -> bool:
    return _grade(pred, gold, opts, answer_type, prec, convention)


def _grade(pred: str, gold: str, opts: tuple, answer_type, prec, convention=None) -> bool:
    pred, gold = clean(pred), clean(gold)
    if not pred or not gold:
        return False
    if answer_type == "multiple_choice" or opts:
        return _grade_choice(pred, gold, opts, answer_type, prec, convention)
    return _grade_value(pred, gold, answer_type, prec)


def chosen_letter(pred: str, opts: tuple, convention=None) -> str | None:
    """The option a cleaned prediction names: a letter in a fixed shape, an option's text or value, or, in a
    sentence, the one option whose text (or "(X)" label) it contains. Under ``convention="mathvista"`` the
    first "(X)" label decides (MathVista's letter-first rule, ``srpo.grading.conventions``)."""
    if convention == "mathvista" and opts:
        first = first_label_letter(pred, len(opts))
        if first is not None:
            return first
    got = predicted_letter(pred, opts)
    if got is None:
        index = match_option(pred, opts)
        got = None if index is None else LETTERS[index]
    if got is None and opts and len(pred) <= MAX_CACHED_CHARS:
        key = _spaced(pred)
        named = {
            LETTERS[i]
            for i, o in enumerate(opts[: len(LETTERS)])
            if len(_spaced(o)) > 1 and re.search(rf"(?<![\w.]){re.escape(_spaced(o))}(?![\w]|\.\d)", key)
        }
        for m in re.finditer(r"\(([A-J])\)|选项\s*\(?([A-J])(?![A-Za-z])", pred):
            letter = m.group(1) or m.group(2)
            named |= set() if contradicts(pred[m.end() :], letter, opts) else {letter}
        if not named and number_of(pred) is not None:  # "the length of AB is 3.0" for options 1, 2, 3, 6
            index = match_option(str(number_of(pred)), opts)
            named = set() if index is None else {LETTERS[index]}
        got = named.pop() if len(named) == 1 else None
    return got


def _spaced(text: str) -> str:
    return " ".join(clean(text).lower().split())


def _grade_choice(pred: str, gold: str, opts: tuple, answer_type, prec, convention=None) -> bool:
    """Letters against letters; a text gold (MathVista's raw rows) is compared with the prediction or with the
    text of the option the predicted letter names."""
    want = gold_letter(gold, opts)
    got = chosen_letter(pred, opts, convention)
    if want is not None:
        return got == want
    if got is not None and LETTERS.index(got) < len(opts):
        pred = clean(opts[LETTERS.index(got)])
    return _grade_value(pred, gold, None if answer_type == "multiple_choice" else answer_type, prec)


def number_of(pred: str):
    """The number an answer gives: its exact value, the end of an equation chain, the number a sentence
    states, or a closed form's value (``\\sqrt{16}``); else None."""
    exact = to_number(pred)
    if exact is not None:
        return exact
    if "=" in pred and not pred.endswith("="):  # "24*24 = 576", "BF = 4.2": the value ends the chain
        return number_of(pred.rsplit("=", 1)[1].strip())
    if len(re.findall(r"[A-Za-z]{2,}", pred)) >= 2 and "\\" not in pred:
        return number_in_sentence(pred) if len(pred) <= MAX_CACHED_CHARS else None
    return None if is_words(pred) else equiv.number(pred)


def number_in_sentence(text: str):
    """The number a sentence gives: the last one a copula states ("There are 2 items sold below 5 units",
    "there are three objects"), else its only number, else the number it starts with; else None."""
    stated = _STATED_NUMBER_RE.findall(text)
    if stated:
        value = stated[-1].lower()
        return NUMBER_WORDS.index(value) if value in NUMBER_WORDS else to_number(value)
    found = {to_number(m) for m in _NUMBER_IN_TEXT_RE.findall(text)}
    if len(found) == 1:
        return found.pop()
    lead = re.match(rf"\s*({_NUMBER})(?![\w^])", text)
    return to_number(lead.group(1)) if lead else None


def _grade_value(pred: str, gold: str, answer_type, prec) -> bool:
    if answer_type in ("integer", "float"):
        want = to_number(gold)
        if want is not None:
            got = number_of(pred)
            if got is None:
                return False
            if answer_type == "integer":
                return want.denominator == 1 and got == want.numerator  # exact, even beyond float precision
            if prec is not None:
                return round(float(got), prec) == round(float(want), prec)
            return math.isclose(float(got), float(want), rel_tol=equiv.REL_TOL)
        # a non-numeric gold for a numeric type is a data problem: fall back to the generic comparison
    if normalize_text(pred) == normalize_text(gold):
        return True
    got, want = to_number(pred), to_number(gold)
    if got is not None and want is not None:
        return got == want or math.isclose(float(got), float(want), rel_tol=equiv.REL_TOL)
    if answer_type == "text" or is_words(pred) or is_words(gold):
        return False
    return equiv.equal(pred, gold)


def clear_caches() -> None:
    """Forget every cached verdict (benchmarks time a cold grader with this)."""
    _grade_cached.cache_clear()
    equiv.clear_caches()
    for fn in (clean, normalize_text, to_number):
        fn.cache_clear()
