"""Benchmark conventions that are documented in a benchmark's official scorer, applied only in a mode named
after that benchmark; and the one reading that tells a declared non-answer from an answer.

MathVista (lupantech/MathVista, ``evaluation/calculate_score.py``, ``normalize_extracted_answer``), for a
multiple-choice item:

* **letter first**: an answer holding an option label ``(X)`` names option X, whatever text follows it
  ("(B) Solution B" names B even when B is "Solution A"): ``first_label_letter``;
* **nearest option**: an answer that names no option is mapped to the option nearest by edit distance
  (``get_most_similar``): ``nearest_option``. The official pipeline applies it to whatever its LLM extracted,
  refusals and empty replies included, which credits about half of them; this project applies it only to
  an answer the reply states, never to a refusal (``is_refusal``) or an empty reply.

>>> first_label_letter("The clock shows the time (C) 5:30.", 5), nearest_option("3 πcm", ["2πcm", "3πcm"])
('C', 'B')
>>> is_refusal("Therefore, the answer cannot be determined."), is_refusal("The answer is 3.")
(True, False)
"""

from __future__ import annotations

import re

from srpo.grading.choices import LETTERS

MAX_EDIT_CHARS = 400  # longer texts are not compared by edit distance (quadratic cost)
_LABEL_RE = re.compile(r"(?<![\w\\])\(([a-zA-Z])\)")  # a label, not an argument: "f(a)" names no option
# A declared non-answer: the reply says it cannot answer, or asks for what it lacks.
_REFUSAL_RE = re.compile(
    r"\b(?:sorry\b|i apologi[sz]e"
    r"|(?:can ?not|can't|could not|couldn't|unable to|impossible to|not possible to|not able to)\s+"
    r"(?:be\s+)?(?:definitively\s+|accurately\s+|exactly\s+)?"
    r"(?:determine|determined|answer|answered|provide|provided|tell|say|identify|help|calculate|calculated|solve|"
    r"solved|assist|see|view|read|access)"
    r"|(?:not|no)\s+(?:enough|sufficient)\s+(?:information|context|data|details)"
    r"|(?:without|need|needs|require|requires)\s+(?:more|additional|further|any)\s+(?:context|information|details|data)"
    r"|does not (?:provide|give|specify|contain) (?:enough |any |the )?(?:information|context|data|details|values))",
    re.IGNORECASE,
)


def first_label_letter(text: str, n_options: int) -> str | None:
    """MathVista's letter-first rule: the first ``(X)`` label in ``text`` (any case), when X names one of the
    ``n_options`` options; else None. MathVista applies it to a short extracted answer; in a sentence, a
    letter in parentheses right after a word is a function's argument ("f(a)"), not a label."""
    m = _LABEL_RE.search(text or "")
    if m is None:
        return None
    letter = m.group(1).upper()
    return letter if letter in LETTERS[:n_options] else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of one character each)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def nearest_option(text: str, options) -> str | None:
    """MathVista's ``get_most_similar``: the letter of the option nearest to ``text`` by edit distance (the
    first on a tie); None for an empty text, no options, or a text over ``MAX_EDIT_CHARS``."""
    text = (text or "").strip()
    options = [str(o) for o in (options or [])][: len(LETTERS)]
    if not text or not options or len(text) > MAX_EDIT_CHARS:
        return None
    distances = [edit_distance(text, o) for o in options]
    return LETTERS[distances.index(min(distances))]


def is_refusal(text: str | None) -> bool:
    """Whether ``text`` declares that it gives no answer ("cannot be determined", "Sorry, I can't help",
    "without more context"): such a text is never mapped to an option."""
    return bool(text) and _REFUSAL_RE.search(text) is not None
