"""Multiple-choice answers: option lists, gold letters and predicted letters.

Letters are read only from the WHOLE prediction in a few fixed shapes (``B``, ``(B)``, ``B.``, ``B) 42``,
``Answer: B``, ``The answer is (B).``, ``Option C``); a letter is never picked out of free text, which is
how the released code let "A or B" count as A, and a capital followed by a word is not a letter: "Answer:
I don't know" does not name option I (UKGovernmentBEIS/inspect_ai#2216). A gold written as a letter is a
letter even when the option texts are themselves letters (``['D', 'C', 'A', 'B']``).

>>> [predicted_letter(s, ()) for s in ["B", "(b)", "C. 42", "The answer is (D).", "Option E", "A or B", "I think"]]
['B', 'B', 'C', 'D', 'E', None, None]
>>> gold_letter("8/11", ("3/11", "8/11")), gold_letter("C", ()), match_option("$8/11$", ("3/11", "8/11"))
('B', 'C', 1)
>>> parse_options("['$6', '$7']")
('$6', '$7')
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from functools import lru_cache

from srpo.grading import equiv
from srpo.grading.normalize import clean, is_words, normalize_text, to_number

LETTERS = "ABCDEFGHIJ"  # MMMU-Pro "standard (10 options)" goes up to J
MAX_OPTIONS_CHARS = 100_000

_BARE_RE = re.compile(r"\(?([A-J])\)?[.:)]?|\(?([a-j])\)?")
# (B) x, B. x, B (x); not an abbreviation ("I.e.", "E.g.", "A.k.a.") or initials ("J. K. Rowling")
_NOT_ABBREVIATION = r"(?![A-Za-z]\.|\s*[A-Z]\.(?:\s|$))"
_LABELLED_RE = re.compile(r"(?:\(([A-J])\)|([A-J])[.:)]" + _NOT_ABBREVIATION + r"|([A-J])(?=\s+\())\s*\S.*", re.DOTALL)
_PHRASE_RE = re.compile(
    r"(?i:(?:the\s+)?(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice)(?:\s+is)?)\s*:?\s*"
    r"(?i:(?:option|choice)\s+)?(?:\(([A-Ja-j])\)[.:]?(?:\s.*)?|([A-J])(?:[.:)](?!\s*[A-Z]\.(?:\s|$))(?:\s.*)?)?)",
    re.DOTALL,
)
_GOLD_RE = re.compile(r"\(?([A-J])\)?\.?")


def parse_options(options) -> tuple[str, ...]:
    """Option texts as a tuple of strings, from a list, a tuple, None or a stringified list (MMMU-Pro).

    Raises ValueError naming the problem for anything else; a string is read as JSON or a Python literal
    (``ast.literal_eval``: literals only, never code).
    """
    if options is None:
        return ()
    if isinstance(options, str):
        return _parse_options_string(options)
    if isinstance(options, (list, tuple)) or hasattr(options, "tolist"):
        items = options.tolist() if hasattr(options, "tolist") else options
        return tuple("" if o is None else str(o) for o in items)
    raise ValueError(f"options must be a list of strings or a stringified list, got {type(options).__name__}")


@lru_cache(maxsize=4096)
def _parse_options_string(text: str) -> tuple[str, ...]:
    stripped = text.strip()
    if not stripped:
        return ()
    if len(stripped) > MAX_OPTIONS_CHARS:
        raise ValueError(f"options string is {len(stripped)} characters; at most {MAX_OPTIONS_CHARS} are read")
    value = None
    try:
        value = json.loads(stripped)
    except ValueError:
        with contextlib.suppress(ValueError, SyntaxError, MemoryError, RecursionError):
            value = ast.literal_eval(stripped)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"options string is not a list of option texts: {stripped[:80]!r}")
    return tuple("" if o is None else str(o) for o in value)


def predicted_letter(pred: str, opts: tuple) -> str | None:
    """The letter a (cleaned) prediction names, or None. A lone lowercase letter counts; in phrases only
    capitals do, so that words such as "a" inside sentences are not read as options."""
    pred = pred.replace("\\$", "").replace("$", "").strip()  # "Answer: $C$", "\$C" (open-compass/VLMEvalKit#1591)
    if len(pred) > 2000:
        return None
    m = _BARE_RE.fullmatch(pred) or _LABELLED_RE.fullmatch(pred) or _PHRASE_RE.fullmatch(pred)
    if m is None:
        return None
    index = next(i for i, g in enumerate(m.groups(), 1) if g)
    letter = m.group(index).upper()
    return None if opts and contradicts(pred[m.end(index) :], letter, opts) else letter


def contradicts(rest: str, letter: str, opts: tuple) -> bool:
    """Whether the text after a letter label gives another option or another value than that option's:
    "(A),(B),(C)" or "(D) 120°" where D is 108° name no single option. Unrelated words do not contradict."""
    rest = rest.lstrip(").:]} ").rstrip("\\ .")
    if not rest:
        return False
    if any(other != letter for other in re.findall(r"\(([A-J])\)", rest)):
        return True
    index = LETTERS.index(letter)
    hit = match_option(rest, opts)
    if hit is not None or index >= len(opts):
        return hit is not None and hit != index
    option = clean(_strip_label(opts[index], index))
    got, want = to_number(rest), to_number(option)
    if got is not None and want is not None:
        return got != want
    rest = clean(rest)  # two formulas that differ ("(A) 16\pi" for A = 10\pi); words never contradict
    if re.search(r"(?<![\\A-Za-z])[A-Za-z]{3,}", rest) or is_words(option):  # prose, not a formula
        return False
    if not equiv.parses(rest) or not equiv.parses(option):
        return False
    return not equiv.equal(rest, option)


def _strip_label(option: str, index: int) -> str:
    """``(B) 12 cm`` / ``B. 12 cm`` -> ``12 cm`` when the label is the option's own letter."""
    letter = LETTERS[index] if index < len(LETTERS) else None
    option = option.strip()
    for label in (f"({letter})", f"{letter}.", f"{letter}:", f"{letter})"):
        if letter and option.startswith(label) and len(option) > len(label):
            return option[len(label) :].strip()
    return option


def match_option(text: str, opts: tuple) -> int | None:
    """Index of the one option whose text equals ``text`` (as text, as a number, or as an expression
    math-verify finds equal, e.g. ``\\sqrt{12}`` for ``$2\\sqrt{3}$``), or None."""
    if not opts or len(text) > 2000:
        return None
    key = normalize_text(text)
    texts = [_strip_label(o, i) for i, o in enumerate(opts[: len(LETTERS)])]
    hits = [i for i, o in enumerate(texts) if normalize_text(o) == key]
    if not hits:
        value = to_number(text)
        if value is not None:
            hits = [i for i, o in enumerate(texts) if to_number(o) == value]
    if not hits and not is_words(clean(text)):
        hits = [i for i, o in enumerate(texts) if not is_words(clean(o)) and equiv.equal(clean(text), clean(o))]
    return hits[0] if len(hits) == 1 else None


def gold_letter(gold: str, opts: tuple) -> str | None:
    """The gold letter: a gold written as a letter that names an existing option (our schema, MathVerse,
    MathVision, MMMU-Pro), else the option whose text is ``gold`` (MathVista's raw rows). None if neither."""
    m = _GOLD_RE.fullmatch(gold.strip())
    if m and (not opts or LETTERS.index(m.group(1)) < len(opts)):
        return m.group(1)
    index = match_option(gold, opts)
    return None if index is None else LETTERS[index]
