"""SRPO response format: prompts, chat messages and a parser for the reasoning blocks (SRPO_SPEC §1, §3).

The RL format (paper §3.2.2, App. B.4) is five blocks and nothing but whitespace between them::

    <think>R1</think><answer>A1</answer><reflection>F</reflection><think>R2</think><answer>A2</answer>

The parser is a single linear scan over the tags, so adversarial inputs (1 MB, unbalanced or nested tags)
cost O(n) and never raise.

>>> p = parse_completion("<think>2+2</think><answer>\\\\boxed{4}</answer><reflection>ok</reflection>"
...                      "<think>2+2=4</think><answer>\\\\boxed{4}</answer>")
>>> p.is_five_block, p.first_answer, p.final_answer
(True, '4', '4')
>>> q = parse_completion("<think>x</think><answer>7</answer>")
>>> q.is_five_block, q.is_single_pass, q.final_answer
(False, True, '7')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

TAG_NAMES = ("think", "answer", "reflection")
TAGS = tuple(t for name in TAG_NAMES for t in (f"<{name}>", f"</{name}>"))
FIVE_BLOCKS = ("think", "answer", "reflection", "think", "answer")
SINGLE_PASS_BLOCKS = ("think", "answer")  # first attempts and the plain-GRPO baseline

# ---------------------------------------------------------------------------------------------- prompts
# Our own wording of the paper's prompts (App. B.4). The RL prompt asks for the five blocks; the released
# OpenRLHF code sends it as a system message, the verl variant appends it to the user turn (SRPO_SPEC §1).
SRPO_RL_PROMPT = (
    "You are a careful visual reasoning assistant. Solve the problem in two rounds. "
    "Round one: reason step by step inside <think> </think>, then give a first answer inside "
    "<answer> </answer> with the final result in \\boxed{}. "
    "Then reflect critically on round one inside <reflection> </reflection>: check each step against the "
    "image and the question, name any mistake and how to fix it, and say what could be shorter or clearer. "
    "Round two: reason again inside <think> </think>, using the reflection to improve the solution even if "
    "the answer stays the same, and give the final answer inside <answer> </answer> with the result in "
    "\\boxed{}. Write the five blocks in this order and nothing else."
)

# The cold-start SFT system prompt (paper App. B.4: "a reasoning expert doing two rounds").
SRPO_SFT_PROMPT = (
    "You are an expert in visual reasoning who answers in two rounds: a first attempt, a critical "
    "reflection on that attempt, then a final answer. Put the first reasoning in <think> </think> and the "
    "first answer in <answer> </answer>, the reflection in <reflection> </reflection>, and the final answer "
    "in <answer> </answer>, each result in \\boxed{}."
)

# Single-pass think/answer prompt: first attempts in stage 1 and the plain-GRPO baseline.
SINGLE_PASS_PROMPT = (
    "Reason step by step inside <think> </think>, then give the final answer inside <answer> </answer> "
    "with the result in \\boxed{}."
)

PROMPTS = {"srpo_rl": SRPO_RL_PROMPT, "srpo_sft": SRPO_SFT_PROMPT, "single_pass": SINGLE_PASS_PROMPT}


def get_prompt(name: str) -> str:
    """Return a prompt by name (``srpo_rl``, ``srpo_sft``, ``single_pass``) with a clear error otherwise."""
    try:
        return PROMPTS[name]
    except KeyError:
        raise ValueError(f"unknown prompt {name!r}; choose one of {sorted(PROMPTS)}") from None


def build_messages(question: str, n_images: int = 1, prompt: str = "srpo_rl", placement: str = "system") -> list:
    """Conversational prompt in TRL/transformers form, with ``{"type": "image"}`` placeholders.

    ``placement="system"`` sends the instructions as a system message (released OpenRLHF code);
    ``"user"`` appends them to the user turn (released verl variant); ``"none"`` sends the bare question.

    >>> [m["role"] for m in build_messages("How many?", 1)]
    ['system', 'user']
    >>> build_messages("How many?", 2, placement="none")[0]["content"][:2]
    [{'type': 'image'}, {'type': 'image'}]
    """
    images = [{"type": "image"} for _ in range(n_images)]
    if placement == "none":
        return [{"role": "user", "content": [*images, {"type": "text", "text": question}]}]
    instructions = get_prompt(prompt)
    if placement == "system":
        return [
            {"role": "system", "content": [{"type": "text", "text": instructions}]},
            {"role": "user", "content": [*images, {"type": "text", "text": question}]},
        ]
    if placement == "user":
        return [{"role": "user", "content": [*images, {"type": "text", "text": f"{question}\n\n{instructions}"}]}]
    raise ValueError(f"unknown prompt placement {placement!r}; choose system, user or none")


# ---------------------------------------------------------------------------------------------- building
def think(text: str) -> str:
    return f"<think>{text}</think>"


def answer(result: str, boxed: bool = True) -> str:
    return f"<answer>\\boxed{{{result}}}</answer>" if boxed else f"<answer>{result}</answer>"


def reflection(text: str) -> str:
    return f"<reflection>{text}</reflection>"


# ---------------------------------------------------------------------------------------------- parsing
_TAG_RE = re.compile(r"<(/?)(think|answer|reflection)>")
# Chat end-of-turn markers that a decode keeping special tokens leaves after the last block
# (lsdefine/simple_GRPO#19): not stray text.
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "</s>")


def without_end_of_turn(tail: str) -> str:
    """``tail`` stripped of whitespace and of chat end-of-turn markers at its end."""
    tail = tail.strip()
    while tail.endswith(END_OF_TURN):
        tail = tail[: -len(next(m for m in END_OF_TURN if tail.endswith(m)))].rstrip()
    return tail


@dataclass
class Block:
    name: str
    content: str


@dataclass
class ParsedCompletion:
    """Blocks found in a completion and what the rewards and metrics need from them."""

    blocks: list[Block] = field(default_factory=list)
    is_five_block: bool = False  # strict: exactly FIVE_BLOCKS, non-empty, only whitespace around/between
    is_single_pass: bool = False  # strict: exactly SINGLE_PASS_BLOCKS, same rules

    def _contents(self, name: str) -> list[str]:
        return [b.content for b in self.blocks if b.name == name]

    @cached_property
    def answers(self) -> list[str]:
        return [answer_of_block(c) for c in self._contents("answer")]

    @property
    def first_answer(self) -> str | None:
        answers = self.answers
        return answers[0] if answers else None

    @property
    def final_answer(self) -> str | None:
        answers = self.answers
        return answers[-1] if answers else None

    @property
    def first_think(self) -> str | None:
        thinks = self._contents("think")
        return thinks[0] if thinks else None

    @property
    def first_answer_block(self) -> str | None:
        contents = self._contents("answer")
        return contents[0] if contents else None

    @property
    def reflection(self) -> str | None:
        refl = self._contents("reflection")
        return refl[0] if refl else None


def parse_completion(text: str) -> ParsedCompletion:
    """Split a completion into well-formed blocks and check the strict five-block structure.

    A block is an opening tag followed by its own closing tag with no other reasoning tag in between.
    Anything else (stray text, unmatched or nested tags) is skipped for extraction and makes the strict
    structure fail.
    """
    if not isinstance(text, str):
        return ParsedCompletion()
    blocks: list[Block] = []
    strict = True
    pos = 0  # end of the last consumed block
    open_tag: re.Match | None = None
    for m in _TAG_RE.finditer(text):
        closing, name = m.group(1) == "/", m.group(2)
        if open_tag is None:
            if closing:  # a close without an open
                strict = False
                continue
            if text[pos : m.start()].strip():  # text outside any block
                strict = False
            open_tag = m
            continue
        if closing and name == open_tag.group(2):
            content = text[open_tag.end() : m.start()]
            blocks.append(Block(name, content))
            strict = strict and bool(content.strip())
            pos = m.end()
        else:  # nested or mismatched tag: drop the open block, restart from this tag
            strict = False
            open_tag = None if closing else m
            if closing:
                pos = m.end()
            continue
        open_tag = None
    if open_tag is not None or without_end_of_turn(text[pos:]):
        strict = False
    names = tuple(b.name for b in blocks)
    return ParsedCompletion(
        blocks=blocks,
        is_five_block=strict and names == FIVE_BLOCKS,
        is_single_pass=strict and names == SINGLE_PASS_BLOCKS,
    )


_BRACE_RE = re.compile(r"\\boxed\{|[{}]")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` with balanced braces, or None (one linear pass).

    >>> last_boxed("a \\\\boxed{1} b \\\\boxed{\\\\frac{1}{2}}")
    '\\\\frac{1}{2}'
    >>> last_boxed("\\\\boxed{unclosed") is None
    True
    """
    stack: list[int] = []  # content start of an open \boxed{, or -1 for a plain brace
    best: tuple[int, int] | None = None
    for m in _BRACE_RE.finditer(text):
        token = m.group(0)
        if token == "}":
            if stack:
                start = stack.pop()
                if start >= 0 and (best is None or start > best[0]):
                    best = (start, m.start())
        else:
            stack.append(m.end() if token != "{" else -1)
    return None if best is None else text[best[0] : best[1]].strip()


def answer_of_block(content: str) -> str:
    """The answer an answer block gives: its last ``\\boxed{}`` content, else the block's stripped text."""
    boxed = last_boxed(content)
    return boxed if boxed is not None else content.strip()
