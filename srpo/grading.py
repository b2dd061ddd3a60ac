"""Answer grading for rewards, data filtering and benchmarks (paper §3.1, §3.2 and §4).

``grade_answer(prediction, gold, ...)`` says whether a predicted answer matches the ground truth. It does
cheap, deterministic rules first (multiple-choice letters, numbers with units, thousands separators,
degrees, percent, ``x = 5``, MathVista rounding to ``precision``), then ``srpo.fastmath`` (a safe evaluator
that settles most expressions: polynomials, radicals, fractions, tuples, linear relations) and only then
math-verify (``srpo.math_equiv``: functions, sets, intervals ...). Model output is never evaluated as Python.

Grading conventions of the four benchmarks (paper §4, Table 1):

* multiple choice: gold is a letter A-J with ``options`` the option texts (our record schema, MathVerse,
  MathVision, MMMU-Pro) or the option TEXT itself (MathVista). Predictions may be ``B``, ``(B)``, ``B.``,
  ``B. 42``, ``Answer: B``, ``The answer is (B)``, ``\\boxed{B}`` or an option's text. A letter is never
  searched for inside free text (the released code's substring fallback is a defect).
  ``options`` may be a list or a stringified list (MMMU-Pro); it is parsed as JSON or a Python literal.
* ``integer``: the prediction must equal the integer (``12.0`` and ``1,200`` count; ``12.7`` does not, although
  MathVista's official ``int(float(x))`` would accept it).
* ``float``: both sides rounded to ``precision`` decimals (MathVista); without ``precision``, equal to a
  relative 1e-6.
* ``expression`` (and no type): normalised string equality, numeric equality, then math-verify.
* ``text``: normalised string equality or numeric equality, never math-verify (it reads "yes" as y*e*s).

An empty or unparseable gold answer never scores as correct (the released code gave it full reward).

Timeouts (details in ``srpo.math_equiv``): math-verify's own use ``signal.alarm``, which fails outside the
main thread. We disable them; a cost screen refuses inputs that could run for minutes (same verdict in every
thread and process) and, in the main thread, a CPU-time deadline interrupts anything slow. So grading is
safe in threads, worker processes and async code, and never hangs.

>>> grade_answer("\\\\frac{1}{2}", "0.5"), grade_answer("(B)", "B", options=["1", "2"])
(True, True)
>>> grade_answer("1.449", "1.45", answer_type="float", precision=2)
True
>>> extract_final_answer("So the answer is \\\\boxed{42}.")
'42'
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from srpo import fastmath, math_equiv
from srpo.choices import LETTERS, gold_letter, match_option, parse_options, predicted_letter
from srpo.formats import last_boxed, parse_completion
from srpo.math_equiv import MATH_VERIFY_DEADLINE_S, math_verify_equal, math_verify_number, parses_as_math
from srpo.normalize import clean, is_words, normalize_text, strip_lhs, to_number

__all__ = ["ANSWER_TYPES", "MATH_VERIFY_DEADLINE_S", "grade_answer", "extract_final_answer", "parses_as_math"]

ANSWER_TYPES = ("multiple_choice", "integer", "float", "expression", "text")
MAX_CACHED_CHARS = 2000  # bigger predictions are graded without entering the cache


def grade_answer(prediction, gold, *, options=None, answer_type=None, precision=None) -> bool:
    """True when ``prediction`` is a correct answer for ``gold`` (see the module docstring for the rules).

    ``prediction`` is an extracted answer (an answer block's ``\\boxed{}`` content) or short text; a
    ``\\boxed{}`` inside it is unwrapped. Bad ``answer_type``/``precision``/``options`` raise ``ValueError``;
    any prediction string, however adversarial, just grades False.
    """
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; choose one of {ANSWER_TYPES} or None")
    prec = _check_precision(precision)
    opts = parse_options(options)
    if prediction is None or gold is None:
        return False
    pred, gold = str(prediction), str(gold)
    if len(pred) > MAX_CACHED_CHARS:
        return _grade(pred, gold, opts, answer_type, prec)
    return _grade_cached(pred, gold, opts, answer_type, prec)


def clear_caches() -> None:
    """Forget every cached verdict (benchmarks time a cold grader with this)."""
    _grade_cached.cache_clear()
    math_equiv.clear_caches()
    for fn in (clean, normalize_text, to_number):
        fn.cache_clear()


def _check_precision(precision) -> int | None:
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
def _grade_cached(pred: str, gold: str, opts: tuple, answer_type, prec) -> bool:
    return _grade(pred, gold, opts, answer_type, prec)


def _grade(pred: str, gold: str, opts: tuple, answer_type, prec) -> bool:
    pred, gold = clean(pred), clean(gold)
    if not pred or not gold:
        return False
    if answer_type == "multiple_choice" or opts:
        return _grade_choice(pred, gold, opts, answer_type, prec)
    return _grade_value(pred, gold, answer_type, prec)


def _grade_choice(pred: str, gold: str, opts: tuple, answer_type, prec) -> bool:
    """Letters against letters; an option's text stands for its letter; a text gold (MathVista) is compared
    with the prediction or with the text of the option the predicted letter names."""
    want = gold_letter(gold, opts)
    got = predicted_letter(pred, opts)
    if got is None:
        index = match_option(pred, opts)
        got = None if index is None else LETTERS[index]
    if want is not None:
        return got == want
    if got is not None and LETTERS.index(got) < len(opts):
        pred = clean(opts[LETTERS.index(got)])
    return _grade_value(pred, gold, None if answer_type == "multiple_choice" else answer_type, prec)


def _grade_value(pred: str, gold: str, answer_type, prec) -> bool:
    if answer_type in ("integer", "float"):
        want = to_number(gold)
        if want is not None:
            exact = to_number(pred)
            if exact is not None and answer_type == "integer":
                return exact == want  # exact, even beyond float precision
            got = float(exact) if exact is not None else math_verify_number(pred)
            if got is None:
                return False
            if answer_type == "integer":
                return want.denominator == 1 and got == want.numerator
            if prec is not None:
                return round(got, prec) == round(float(want), prec)
            return math.isclose(got, float(want), rel_tol=1e-6, abs_tol=1e-12)
        # a non-numeric gold for a numeric type is a data problem: fall back to the generic comparison
    if normalize_text(pred) == normalize_text(gold):
        return True
    got, want = to_number(pred), to_number(gold)
    if got is not None and want is not None:
        return math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-12)
    if answer_type == "text" or is_words(pred) or is_words(gold):
        return False
    pred, gold = _drop_same_lhs(pred, gold)
    fast = fastmath.equivalent(pred, gold)
    return fast if fast is not None else math_verify_equal(pred, gold)


def _drop_same_lhs(pred: str, gold: str) -> tuple[str, str]:
    """``y = 2x + 1`` vs ``2x + 1`` or ``y=1+2x``: compare right-hand sides when the left sides agree."""
    p, g = strip_lhs(pred), strip_lhs(gold)
    both = p != pred and g != gold
    if both and pred[: len(pred) - len(p)].replace(" ", "") != gold[: len(gold) - len(g)].replace(" ", ""):
        return pred, gold
    return p, g


# ---------------------------------------------------------------------------------------------- extraction
_ANSWER_IS_RE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*(.{1,120}?)\s*(?:$|\n|\.(?:\s|$))", re.IGNORECASE
)
MAX_BARE_ANSWER_CHARS = 64  # a whole reply this short is taken as the answer itself
_TAG_RE = re.compile(r"</?(?:think|answer|reflection)>")


def extract_final_answer(text) -> str | None:
    """The final answer of a model reply, or None when there is none.

    In order: the last ``<answer>`` block (SRPO's final answer), the last ``\\boxed{}``, the last
    "answer is X" / "Answer: X", and a reply short enough to be the answer itself.

    >>> extract_final_answer("<think>..</think><answer>\\\\boxed{3}</answer><reflection>r</reflection>"
    ...                      "<think>..</think><answer>\\\\boxed{4}</answer>")
    '4'
    >>> extract_final_answer("I think the answer is (C).")
    '(C)'
    >>> extract_final_answer("no idea, sorry, I could not work this out at all, it is far too hard for me") is None
    True
    """
    if not isinstance(text, str):
        return None
    parsed = parse_completion(text)
    if parsed.answers and parsed.final_answer:
        return parsed.final_answer
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    tail = text[-4000:]
    matches = _ANSWER_IS_RE.findall(tail)
    if matches:
        return matches[-1].strip()
    stripped = _TAG_RE.sub("", text).strip()
    if 0 < len(stripped) <= MAX_BARE_ANSWER_CHARS and "\n" not in stripped:
        return stripped
    return None
