"""SRPO response format: prompts, chat messages and a parser for the reasoning blocks (paper §3.2.2, App. B.4).

The RL format (paper §3.2.2, App. B.4) is five blocks and nothing but whitespace between them::

    <think>R1</think><answer>A1</answer><reflection>F</reflection><think>R2</think><answer>A2</answer>

The parser is one scan over the tags (a binary search per block for its closing tag), so adversarial inputs
(1 MB, unbalanced or nested tags) cost O(n log n) and never raise.

>>> p = parse_completion("<think>2+2</think><answer>\\\\boxed{4}</answer><reflection>ok</reflection>"
...                      "<think>2+2=4</think><answer>\\\\boxed{4}</answer>")
>>> p.is_five_block, p.first_answer, p.final_answer
(True, '4', '4')
>>> q = parse_completion("<think>x</think><answer>7</answer>")
>>> q.is_five_block, q.is_single_pass, q.final_answer
(False, True, '7')
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property

from srpo.configs.base import PLACEMENTS

TAG_NAMES = ("think", "answer", "reflection")
TAGS = tuple(t for name in TAG_NAMES for t in (f"<{name}>", f"</{name}>"))
FIVE_BLOCKS = ("think", "answer", "reflection", "think", "answer")
SINGLE_PASS_BLOCKS = ("think", "answer")  # first attempts and the plain-GRPO baseline

# ---------------------------------------------------------------------------------------------- prompts
# Our own wording of the paper's prompts (App. B.4). The RL prompt asks for the five blocks; the released
# OpenRLHF code sends it as a system message, the verl variant appends it to the user turn
# (docs/paper_vs_release.md, row "RL prompt").
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


def check_prompt_fields(cfg) -> None:
    """The start check of stages 02-04 (``srpo.stages``, run on every parse): each ``prompt`` / ``*_prompt``
    field of the stage's arguments names one of ``PROMPTS`` and each ``*prompt_placement`` field is system, user
    or none. A typo fails here, not hours later (stage 03 reads ``eval_prompt`` only after training).

    Raises ValueError naming the field."""
    import dataclasses

    for f in dataclasses.fields(cfg.args):
        value = getattr(cfg.args, f.name)
        if f.name == "prompt" or f.name.endswith("_prompt"):
            if value not in PROMPTS:
                raise ValueError(f"{f.name}: unknown prompt {value!r}; choose one of {sorted(PROMPTS)}")
        elif f.name.endswith("prompt_placement") and value not in PLACEMENTS:
            raise ValueError(f"{f.name}: unknown prompt placement {value!r}; choose one of {list(PLACEMENTS)}")


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
    raise ValueError(f"unknown prompt placement {placement!r}; choose one of {list(PLACEMENTS)}")


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
# (lsdefine/simple_GRPO#19): not stray text. The kind, not a list of names: any special-token-shaped marker,
# `<|...|>` (Qwen, Llama 3, Phi), DeepSeek's fullwidth `<｜...｜>`, and the bare `</s>`, `<eos>`, `<end_of_turn>`.
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "</s>")  # the common ones, for docs
_END_OF_TURN_RE = re.compile(
    r"(?:<\|[^<>|\s]{1,40}\|>|[<‹]｜[^<>\s]{1,40}｜>|</s>|<(?:eos|eot|end_of_turn|end_of_text|endoftext)>)\s*$"
)


def without_end_of_turn(tail: str) -> str:
    """``tail`` stripped of whitespace and of chat end-of-turn markers at its end.

    >>> without_end_of_turn("<answer>4</answer><|end|>\\n<eos>"), without_end_of_turn("x‹｜end▁of▁sentence｜>")
    ('<answer>4</answer>', 'x')
    """
    tail = tail.strip()
    while (match := _END_OF_TURN_RE.search(tail)) is not None:
        tail = tail[: match.start()].rstrip()
    return tail


@dataclass
class Block:
    name: str
    content: str


@dataclass
class ParsedCompletion:
    """Blocks found in a completion and what the rewards and metrics need from them."""

    blocks: list[Block] = field(default_factory=list)
    # strict: exactly FIVE_BLOCKS, each non-empty, every answer block with a non-empty answer, no tag inside a
    # block, only whitespace around and between the blocks (paper §3.2.2: the five blocks in order)
    is_five_block: bool = False
    is_single_pass: bool = False  # strict: exactly SINGLE_PASS_BLOCKS, same rules
    leading_text: bool = False  # non-whitespace text before the first block
    # the release's format check: the strict five blocks, except that text before the first block is allowed
    # (its regex starts with ``.*<think>``; docs/paper_vs_release.md, row "Leading text")
    is_five_block_after_text: bool = False

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
    """Split a completion into blocks and check the strict five-block and think/answer structures.

    A block runs from an opening tag to the next closing tag of the same name, provided that no other opening
    tag of that name comes first; tags written inside it are text of the block (a reflection that quotes
    ``</think>`` keeps its block, an ``<answer>`` written inside a ``<think>`` is not an answer) and fail the
    strict structure. An opening tag that is never closed before the next opening tag of its name is dropped and
    the scan goes on at the next tag, so a reply that forgot ``</think>`` still has its answers. Stray text or
    tags, empty blocks and empty answers (``\\boxed{}``) fail the strict structure but never extraction.
    Rules and the release's differences: docs/paper_vs_release.md, rows "Empty answer", "Leading text" and
    "Tags inside a block".

    >>> p = parse_completion("<think>a <answer>3</answer> b</think><answer>4</answer>")
    >>> p.first_answer, p.is_single_pass
    ('4', False)
    """
    if not isinstance(text, str):
        return ParsedCompletion()
    tags = list(_TAG_RE.finditer(text))
    starts: dict[tuple[bool, str], list[int]] = {(c, n): [] for c in (False, True) for n in TAG_NAMES}
    for m in tags:
        starts[(m.group(1) == "/", m.group(2))].append(m.start())
    blocks: list[Block] = []
    strict, leading, pos = True, False, 0  # pos: end of the last block
    for m in tags:
        if m.start() < pos:  # inside the last block
            continue
        name = m.group(2)
        end = _block_end(starts[(False, name)], starts[(True, name)], m.end()) if not m.group(1) else None
        if end is None:  # a stray closing tag, or an opening tag never closed
            strict = False
            continue
        if text[pos : m.start()].strip():  # text outside any block
            if blocks:
                strict = False
            else:
                leading = True
        content = text[m.end() : end]
        strict = strict and bool(content.strip()) and _TAG_RE.search(content) is None
        if name == "answer":
            strict = strict and bool(answer_of_block(content))
        blocks.append(Block(name, content))
        pos = end + len(name) + 3  # past "</name>"
    if without_end_of_turn(text[pos:]):  # end-of-turn markers after the last block are not text
        strict = False
    names = tuple(b.name for b in blocks)
    return ParsedCompletion(
        blocks=blocks,
        is_five_block=strict and not leading and names == FIVE_BLOCKS,
        is_single_pass=strict and not leading and names == SINGLE_PASS_BLOCKS,
        leading_text=leading,
        is_five_block_after_text=strict and names == FIVE_BLOCKS,
    )


def _block_end(opens: list[int], closes: list[int], after: int) -> int | None:
    """Start of the closing tag that ends a block opened before ``after``, or None when the next opening tag of
    the same name comes first (or no closing tag follows). ``opens``/``closes``: sorted tag start positions."""
    i = bisect.bisect_left(closes, after)
    if i == len(closes):
        return None
    j = bisect.bisect_left(opens, after)
    return closes[i] if j == len(opens) or closes[i] < opens[j] else None


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
