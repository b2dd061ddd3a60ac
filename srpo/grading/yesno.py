"""A yes/no question answered by restating it: "Is Dark Orchid the maximum?" -> "Dark Orchid is not the
maximum." reads as No, "Based on the image, Cyan has the minimum area under the curve." as Yes.

The reading is taken only when it is unambiguous: a sentence of the reply gives the question's content words
in the question's order ("more A than B" is not "more B than A"), with no other word than a lead-in
("based on the image"), a negation, auxiliaries and articles, up to the end of the sentence or of a clause
ending in a comma ("The food is half eaten, as there is a partially eaten pizza"); a negation makes it No,
none makes it Yes; sentences that restate the question
with opposite polarity give no answer. A reply that says anything else ("there are more A than B" to "Is
the number of A greater than B?") gives no answer here: only a reader (the judge) can map it.

>>> restated_yes_no("Is Dark Orchid the maximum?", "Based on the image, Dark Orchid is not the maximum.")
'no'
>>> restated_yes_no("Are there fewer cyan jets than big buses?", "There are fewer cyan jets than big buses.")
'yes'
>>> restated_yes_no("Is Crimson the minimum?", "The minimum is Red.") is None
True
"""

from __future__ import annotations

import re

MAX_REPLY_CHARS = 4000  # sentences are read in the reply's tail
_WORD_RE = re.compile(r"[a-z0-9]+")
# The words a restatement may add or drop: auxiliaries, articles and demonstratives move or vanish when a
# question becomes a statement ("Does X have Y?" -> "X has Y").
_FRAME = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "can",
        "could",
        "will",
        "would",
        "should",
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
    ]
)
_NEGATION = frozenset(
    ["not", "no", "never", "isn", "aren", "wasn", "weren", "doesn", "don", "didn", "hasn", "haven", "cannot", "t"]
)
_LEAD_IN = frozenset(
    [
        "based",
        "on",
        "according",
        "to",
        "looking",
        "at",
        "from",
        "in",
        "the",
        "image",
        "picture",
        "graph",
        "chart",
        "figure",
        "plot",
        "diagram",
        "photo",
        "given",
        "yes",
        "no",
    ]
)
_STEMS = {"has": "have", "does": "do", "did": "do", "had": "have"}


def question_of(prompt: str) -> str:
    """The question sentence of a benchmark prompt: the text after the last "Question:" up to the choices or
    the line's end (MathVista's query), else the prompt's last line ending in "?", else the whole prompt."""
    if "Question:" in prompt:
        tail = prompt.rsplit("Question:", 1)[1]
        return re.split(r"\n\s*(?:Choices|Options)\s*:|\n", tail.strip(), maxsplit=1)[0].strip()
    asked = [line.strip() for line in prompt.splitlines() if line.strip().endswith("?")]
    return asked[-1] if asked else prompt.strip()


def _words(text: str) -> list[str]:
    return [_STEMS.get(w, w) for w in _WORD_RE.findall(text.lower())]


def restated_yes_no(question: str, reply: str) -> str | None:
    """``"yes"`` or ``"no"`` when the reply restates the yes/no ``question`` (module docstring); else None."""
    asked = _words(question)
    content = [w for w in asked if w not in _FRAME]
    if not content or not reply or set(asked) & _NEGATION:  # "Is X not Y?": a negated restatement means yes
        return None
    found = set()
    for sentence in re.split(r"(?<=[.!?。])\s+|\n+", reply[-MAX_REPLY_CHARS:]):
        if sentence.rstrip().endswith("?"):  # the question itself, echoed
            continue
        parts = sentence.split(",")
        for clause in (",".join(parts[: i + 1]) for i in range(len(parts))):  # "X is Y, as Z": the main clause
            words = _words(clause)
            said = [w for w in words if w not in _FRAME and w not in _NEGATION]
            lead = len(said) - len(content)  # the content words, in the question's order, after a lead-in
            if lead >= 0 and said[lead:] == content and all(w in _LEAD_IN for w in said[:lead]):
                found.add("no" if set(words) & _NEGATION else "yes")
                break
    return found.pop() if len(found) == 1 else None
