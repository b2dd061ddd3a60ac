"""Where a reply states its answer: the ONE extraction used by the reward, the benchmarks, stage 02's
correctness check and the data filters, so that no two of them read the same reply differently.

``find_answers(reply)`` returns the first and the final answer, each with the rule that found it:

* ``tag``: inside an ``<answer>`` block (SRPO's format, paper §3.2.2): the first block gives the first
  answer, the last block the final one. Within a block the rules below apply, then the whole block
  (``tag:box``, ``tag:answer_is``, ``tag:label``, ``tag:whole``), so ``<answer>I think the answer is B</answer>``
  gives ``B`` to the reward and to the benchmark alike (jundot/omlx#3668);
* in a reply without blocks (a base model, the benchmarks' released replies), the LAST of these statements:
  ``box`` (``\\boxed{X}``), ``answer_is`` ("the answer is X", "the correct option is X"), ``label``
  ("Answer: X", "**Answer:** X", "Final answer: X"). Taking the last statement, not a fixed priority, lets
  an explicit final "Answer: D" beat a boxed intermediate result (NVIDIA-NeMo/Skills#1526);
* ``whole``: a reply short enough to be the answer itself (one line, at most ``MAX_BARE_ANSWER_CHARS``);
* ``bold``: the last bold span holding a number (``**18 feet**``), as some chat models mark a result;
* ``last_sentence``: otherwise the last sentence of the reply's last line that is not a pleasantry or a
  code fence, which prose replies end on (MathVista's released replies: "Therefore, the distance is 1.2
  m."). The grader then reads a number or an option from that sentence only when it names exactly one
  (``srpo.grading.grade``);
* ``none``: nothing (an empty reply).

A reply that, after stating an answer, goes on to a made-up next exercise (a line opening with "Question:"
or "Hint:") is read up to that line only (``own_part``): some released replies run on for several invented
questions, each with its own "The answer is". An untagged reply has no first answer (no first attempt to tell apart).

>>> a = find_answers("<think>..</think><answer>\\\\boxed{3}</answer><reflection>r</reflection>"
...                  "<think>..</think><answer>The answer is 4.</answer>")
>>> (a.first.text, a.first.rule), (a.final.text, a.final.rule)
(('3', 'tag:box'), ('4', 'tag:answer_is'))
>>> find_answers("So $\\\\boxed{x \\\\gg 1}$, and the ratio is 2.\\n**Answer: D**").final
Answer(text='D', rule='label')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srpo.formats import parse_completion, without_end_of_turn

MAX_BARE_ANSWER_CHARS = 64  # a whole reply this short, on one line, is taken as the answer itself
MAX_SCAN_CHARS = 4000  # statements are looked for in the reply's tail (replies can be megabytes)
_BOX_RE = re.compile(r"\\boxed\s*\{|\\fbox\s*\{")
_ANSWER_IS_RE = re.compile(
    r"(?:answer|option|choice)(?:\s+to\s+(?:the|your|this)\s+question)?\s+(?:is|would be|should be)\s*[:：]?\s*([^\n]{1,200}?)\s*(?:$|\n|\.(?:\s|$))",
    re.IGNORECASE | re.MULTILINE,
)
_LABEL_RE = re.compile(
    r"(?:(?:^|(?<=[\s*#({]))(?:final\s+)?answer\s*\**\s*[:：]|答案\s*[是为]?\s*[:：]?)"
    r"\s*\**[ \t]*\n?[ \t]*([^\n]{1,200})",
    re.IGNORECASE,
)
# Closing lines that carry no answer ("I hope this helps!", a code fence): skipped by ``last_sentence``.
_BOILERPLATE_RE = re.compile(
    r"^(?:`{3}.*|i hope\b.*|let me know\b.*|please (?:let|feel)\b.*|.*\?|</s>|\W*)$", re.IGNORECASE
)
# Bold spans with a number: the way some chat models mark a result ("so the twig is about **2 inches**").
_BOLD_RE = re.compile(r"\*\*([^*\n]{0,40}\d[^*\n:]{0,40})\*\*")
_END_RE = re.compile(r"[\s*.。]+$")
_NEW_QUESTION_RE = re.compile(r"^[ \t]*(?:Question|Hint)[ \t]*[:：]", re.MULTILINE)


@dataclass(frozen=True)
class Answer:
    text: str | None
    rule: str  # tag:box, tag:answer_is, tag:label, tag:whole, box, answer_is, label, whole, bold, last_sentence, none


@dataclass(frozen=True)
class Answers:
    first: Answer
    final: Answer
    n_blocks: int  # answer blocks found (0 for an untagged reply)


NONE = Answer(None, "none")


def _boxed_at(text: str, start: int) -> str | None:
    depth, i = 1, start
    while i < len(text):
        depth += (text[i] == "{") - (text[i] == "}")
        if depth == 0:
            return text[start:i].strip()
        i += 1
    return None


def statement(text: str) -> Answer:
    """The last explicit answer statement in ``text`` (box, "answer is", "Answer:"), or ``NONE``."""
    tail = text[-MAX_SCAN_CHARS:]
    found: list[tuple[int, str, str]] = []
    for m in _BOX_RE.finditer(tail):
        boxed = _boxed_at(tail, m.end())
        if boxed:
            found.append((m.start(), boxed, "box"))
    for regex, rule in ((_ANSWER_IS_RE, "answer_is"), (_LABEL_RE, "label")):
        for m in regex.finditer(tail):
            value = _END_RE.sub("", m.group(1)).strip().strip("*").strip()
            value = _without_unopened_close(value)
            while value.endswith("}") and value.count("}") > value.count("{"):  # "\[ \text{Answer: C} \]"
                value = value[:-1].rstrip()
            if value and value not in ("\\[", "\\(", "$$", "$"):  # a display opening, the answer follows
                found.append((m.start(), value, rule))
    if not found:
        return NONE
    _, value, rule = max(found, key=lambda f: f[0])
    if rule != "box" and "\\boxed" in value:  # "the final answer is $\boxed{5}$"
        inner = statement(value)
        value = inner.text if inner.text else value
    return Answer(value, rule)


def _without_unopened_close(value: str) -> str:
    """Drop a closing ``\\]`` / ``\\)`` / ``$`` whose opening came before the statement ("\\[ Answer: C \\]")."""
    for opening, closing in (("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        unopened = value.count("$") % 2 if opening == "$" else value.count(opening) < value.count(closing)
        if value.endswith(closing) and unopened:
            value = value[: -len(closing)].rstrip()
    return value


def block_answer(content: str) -> Answer:
    """The answer an ``<answer>`` block gives: its last statement, else the whole block."""
    found = statement(content)
    if found.text is not None:
        return Answer(found.text, f"tag:{found.rule}")
    text = content.strip()
    return Answer(text, "tag:whole") if text else NONE


def own_part(text: str) -> str:
    """The part of a reply that answers the question asked: a reply that, after stating an answer, goes on
    to a line opening a new "Question:" (or "Hint:") has made up the next exercise itself, and the answers
    to that one are not answers to this one. A question echoed before any answer is kept."""
    for i, m in enumerate(_NEW_QUESTION_RE.finditer(text)):
        if i >= 8:
            break
        head = text[: m.start()]
        if statement(head).text is not None:
            return head
    return text


def reply_answer(text: str) -> Answer:
    """The final answer of a reply without answer blocks (see the module docstring for the rules)."""
    text = own_part(text)
    found = statement(text)
    if found.text is not None:
        return found
    stripped = re.sub(r"</?(?:think|answer|reflection)>", "", text).strip()
    if len(stripped) <= MAX_BARE_ANSWER_CHARS and "\n" not in stripped:
        return Answer(stripped, "whole") if stripped else NONE
    bold = _BOLD_RE.findall(stripped[-MAX_SCAN_CHARS:])
    if bold:
        return Answer(bold[-1].strip(), "bold")
    lines = [line.strip() for line in stripped[-MAX_SCAN_CHARS:].splitlines()]
    lines = [line for line in lines if not _BOILERPLATE_RE.match(line)]
    if not lines:
        return NONE
    return Answer(re.split(r"(?<=[.!?。])\s+(?=\S)", lines[-1])[-1], "last_sentence")


def find_answers(reply) -> Answers:
    """First and final answer of ``reply`` (any object; non-strings have none). Never raises."""
    if not isinstance(reply, str):
        return Answers(NONE, NONE, 0)
    reply = without_end_of_turn(reply)
    blocks = [b.content for b in parse_completion(reply).blocks if b.name == "answer"]
    if blocks:
        return Answers(block_answer(blocks[0]), block_answer(blocks[-1]), len(blocks))
    final = reply_answer(reply)
    return Answers(NONE, final, 0)


def final_answer(reply) -> str | None:
    """The final answer's text, or None (``find_answers(reply).final.text``)."""
    return find_answers(reply).final.text
