"""A procedurally generated visual-reasoning task for the tiny CPU profile ("seven-segment arithmetic").

Each image shows two seven-segment digits, one in each half, drawn with PIL rectangles (no font files).
Questions need both digits read from the image, then a small computation:

* ``sum``      integer        "What is the sum of the two numbers in the image?"
* ``average``  float (1 dp)   "What is the average of the two numbers in the image?"
* ``larger``   multiple choice "Which number in the image is larger?" (A left / B right / C equal)
* ``difference`` integer, may be negative "What is the left number minus the right number?"

Why it is hard enough for a reflection to have something to fix: a ``difficulty`` in [0, 1] draws faint
"ghost" copies of unlit segments (as on a worn LCD) and pixel noise. A ghost turns a digit into its
one-segment neighbour (0 vs 8, 3 vs 9, 5 vs 6 ...) for a careless reader, so a policy's misreads are
genuine and depend on the image, not injected at random. The generator knows the true reading and the
steps, so it can write correct attempts, attempts with a realistic flaw (a misread digit or an arithmetic
slip), and a reflection that names the real mistake (the template teacher of stage 02).

The ``first_pass`` option makes the task variant where checking an answer is easier than producing it
(README "A task where reflection has room to help"). ``full`` (default): the first attempt reads both digits
in its think block, then computes. ``glance``: the first attempt is under a tight reasoning budget; its think
block is the fixed ``GLANCE_THINK`` (no reading, no computation) and the answer must come straight from the
image, while the reflection re-reads the image, writes the reading and the computation, and says whether
the first answer survives. The second round then has the chain of thought the first was denied.

Everything is deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from srpo import formats

QUESTION_TYPES = ("sum", "average", "larger", "difference")
QUESTIONS = {
    "sum": "What is the sum of the two numbers in the image?",
    "average": "What is the average of the two numbers in the image?",
    "larger": "Which number in the image is larger?",
    "difference": "What is the left number minus the right number in the image?",
}
LARGER_OPTIONS = ["the left number", "the right number", "they are equal"]
# Disjoint seeds per use, so no problem appears in two splits (the warm-up of tiny://instruct uses 10_007+).
SPLIT_SEEDS = {"sft_pool": 1, "rl_train": 2, "test": 3}
FIRST_PASSES = ("full", "glance")
GLANCE_THINK = "At a glance."  # the whole first think of the glance variant: the reasoning budget is spent
ANSWER_TYPES = {"sum": "integer", "average": "float", "larger": "multiple_choice", "difference": "integer"}

# Seven-segment layout: a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left, g middle.
SEGMENTS = {
    0: "abcdef",
    1: "bc",
    2: "abged",
    3: "abgcd",
    4: "fgbc",
    5: "afgcd",
    6: "afgedc",
    7: "abc",
    8: "abcdefg",
    9: "abcdfg",
}
# Digits one segment apart: the plausible misreads. 2 and 4 have none; any other digit stands in.
NEIGHBOURS = {d: [e for e in range(10) if len(set(SEGMENTS[d]) ^ set(SEGMENTS[e])) == 1] for d in range(10)}


# ---------------------------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """One task instance; ``record()`` turns it into the project's common record schema (srpo.data)."""

    id: str
    left: int
    right: int
    qtype: str
    difficulty: float
    image: Image.Image = field(repr=False)
    ghosts: dict = field(default_factory=dict)  # side -> segments drawn faintly
    first_pass: str = "full"  # "full" | "glance" (see the module docstring)

    @property
    def question(self) -> str:
        return QUESTIONS[self.qtype]

    @property
    def options(self) -> list[str]:
        return list(LARGER_OPTIONS) if self.qtype == "larger" else []

    @property
    def answer(self) -> str:
        return result_of(self.qtype, self.left, self.right)

    @property
    def answer_type(self) -> str:
        return ANSWER_TYPES[self.qtype]

    @property
    def precision(self) -> int | None:
        return 1 if self.qtype == "average" else None

    @classmethod
    def from_record(cls, record: dict) -> Problem:
        """Rebuild the problem from a record (``metadata`` as a dict or a JSON string)."""
        meta = record["metadata"]
        meta = json.loads(meta) if isinstance(meta, str) else meta
        images = record.get("images") or [None]
        return cls(
            record["id"],
            int(meta["left"]),
            int(meta["right"]),
            meta["qtype"],
            float(meta["difficulty"]),
            images[0],
            meta.get("ghosts") or {},
            meta.get("first_pass", "full"),
        )

    def record(self) -> dict:
        options_text = "".join(f"\n({chr(65 + i)}) {o}" for i, o in enumerate(self.options))
        meta = {
            "left": self.left,
            "right": self.right,
            "qtype": self.qtype,
            "difficulty": round(self.difficulty, 3),
            "ghosts": self.ghosts,
        }
        if self.first_pass != "full":  # the default task's records stay as they were
            meta["first_pass"] = self.first_pass
        return {
            "id": self.id,
            "source": "synthetic",
            "images": [self.image],
            "question": self.question + (f"\nOptions:{options_text}" if self.options else ""),
            "options": self.options,
            "answer": self.answer,
            "answer_type": self.answer_type,
            "precision": self.precision,
            "metadata": meta,
        }


def result_of(qtype: str, left: int, right: int) -> str:
    """The answer string for a question type given a reading of the two digits."""
    if qtype == "sum":
        return str(left + right)
    if qtype == "difference":
        return str(left - right)
    if qtype == "average":
        return f"{(left + right) / 2:.1f}"
    if qtype == "larger":
        return "A" if left > right else "B" if right > left else "C"
    raise ValueError(f"unknown question type {qtype!r}; choose from {QUESTION_TYPES}")


def make_problems(n: int, seed: int, **settings) -> list[Problem]:
    """``n`` problems, deterministic for ``seed``; question types cycle so the mix is balanced. ``settings``: the
    keyword arguments of ``iter_problems``."""
    return list(itertools.islice(iter_problems(seed, **settings), n))


def iter_problems(
    seed: int,
    *,
    question_types=QUESTION_TYPES,
    max_difficulty: float = 1.0,
    width: int = 56,
    height: int = 28,
    id_prefix: str = "syn",
    first_pass: str = "full",
) -> Iterator[Problem]:
    """The endless stream that ``make_problems`` cuts: its first ``n`` items are ``make_problems(n, seed)``.
    ``first_pass`` changes only what the attempts and reflections look like, never the images or answers.

    Stage 01 reads it like a Hub source, until its quota of accepted records is filled."""
    unknown = set(question_types) - set(QUESTION_TYPES)
    if unknown:
        raise ValueError(f"unknown question types {sorted(unknown)}; choose from {QUESTION_TYPES}")
    check_first_pass(first_pass)
    rng = random.Random(seed)
    for i in itertools.count():
        left, right = rng.randint(0, 9), rng.randint(0, 9)
        qtype = question_types[i % len(question_types)]
        difficulty = rng.random() * max_difficulty
        image, ghosts = draw_digits(left, right, rng, difficulty=difficulty, width=width, height=height)
        yield Problem(f"{id_prefix}-{seed}-{i:06d}", left, right, qtype, difficulty, image, ghosts, first_pass)


def first_pass_of(record: dict) -> str:
    """The ``first_pass`` of a record (``metadata`` a dict or a JSON string); "full" for any other record."""
    meta = record.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta) if meta.startswith("{") else {}
    return meta.get("first_pass", "full")


def check_first_pass(first_pass: str) -> str:
    if first_pass not in FIRST_PASSES:
        raise ValueError(
            f"unknown first pass {first_pass!r}; choose from {FIRST_PASSES} (glance: the variant "
            "where the first attempt answers without reading, and the reflection re-reads)"
        )
    return first_pass


# ---------------------------------------------------------------------------------------------- drawing
def _segment_boxes(x: int, y: int, w: int, h: int, t: int) -> dict:
    m = y + h // 2
    return {
        "a": (x, y, x + w, y + t),
        "d": (x, y + h - t, x + w, y + h),
        "g": (x, m - t // 2, x + w, m - t // 2 + t),
        "f": (x, y, x + t, m),
        "b": (x + w - t, y, x + w, m),
        "e": (x, m, x + t, y + h),
        "c": (x + w - t, m, x + w, y + h),
    }


def draw_digits(
    left: int, right: int, rng: random.Random, *, difficulty: float = 0.0, width: int = 56, height: int = 28
) -> tuple[Image.Image, dict]:
    """A ``width`` x ``height`` RGB image with ``left`` and ``right`` as seven-segment digits.

    The default 56x28 gives the tiny model exactly one merged vision token per digit (2x4 patches of
    14 px, merged 2x2), the easiest mapping to learn on two CPU cores.

    ``difficulty`` raises the chance and contrast of ghost segments and the pixel noise. Lit segments
    stay darker than any ghost, so the true reading is always well defined.
    """
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    half, ghosts = width // 2, {}
    for i, (side, digit) in enumerate((("left", left), ("right", right))):
        w = int(half * 0.55) + rng.randint(-1, 1)
        h = int(height * 0.78) + rng.randint(-2, 1)
        t = max(2, int(min(half, height) * 0.1)) + rng.randint(0, 1)
        x = i * half + (half - w) // 2 + rng.randint(-2, 2)
        y = (height - h) // 2 + rng.randint(-2, 2)
        boxes = _segment_boxes(x, y, w, h, t)
        unlit = [s for s in "abcdefg" if s not in SEGMENTS[digit]]
        ghosted = [s for s in unlit if rng.random() < 0.6 * difficulty]
        for s in ghosted:  # ghost grey 235 (barely visible) .. 120 (hard) as difficulty rises
            g = int(235 - 115 * difficulty * rng.uniform(0.6, 1.0))
            x0, y0, x1, y1 = boxes[s]
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(g, g, g))
        ink = rng.randint(0, 60)
        for s in SEGMENTS[digit]:
            x0, y0, x1, y1 = boxes[s]
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(ink, ink, ink))
        if ghosted:
            ghosts[side] = "".join(ghosted)
    if difficulty > 0:
        _add_noise(img, rng, amount=0.12 * difficulty)
    return img, ghosts


def _add_noise(img: Image.Image, rng: random.Random, amount: float) -> None:
    """Flip a share ``amount`` of pixels to a random grey (salt-and-pepper style)."""
    px = img.load()
    w, h = img.size
    for _ in range(int(amount * w * h)):
        v = rng.randint(0, 255)
        px[rng.randrange(w), rng.randrange(h)] = (v, v, v)


# ---------------------------------------------------------------------------------------------- solutions
_READ = "The left number is {l} and the right number is {r}."
_STEP = {
    "sum": "{l} + {r} = {res}.",
    "difference": "{l} - {r} = {res}.",
    "average": "({l} + {r}) / 2 = {res}.",
    "larger": "{cmp}, so the answer is {res}.",
}


def reasoning(qtype: str, left: int, right: int, result: str | None = None) -> str:
    """The think text for a reading; ``result`` overrides the computed result (an arithmetic slip)."""
    res = result_of(qtype, left, right) if result is None else result
    cmp = f"{left} > {right}" if left > right else f"{left} < {right}" if left < right else f"{left} = {right}"
    return _READ.format(l=left, r=right) + " " + _STEP[qtype].format(l=left, r=right, res=res, cmp=cmp)


@dataclass
class Attempt:
    """A first attempt in the single-pass format, with the ground truth of what went wrong."""

    think: str
    answer: str
    flaw: str  # "none" | "misread" | "arithmetic"
    side: str | None = None  # misread side
    read_as: int | None = None  # misread value

    @property
    def text(self) -> str:
        return formats.think(self.think) + formats.answer(self.answer)


def first_think(p: Problem, left: int, right: int, result: str | None = None) -> str:
    """The first think block of an attempt that read ``left`` and ``right``: the reasoning, or under the
    glance variant's budget only ``GLANCE_THINK`` (the reading stays implicit in the answer)."""
    return GLANCE_THINK if p.first_pass == "glance" else reasoning(p.qtype, left, right, result)


def correct_attempt(p: Problem) -> Attempt:
    return Attempt(first_think(p, p.left, p.right), p.answer, "none")


def flawed_attempt(p: Problem, rng: random.Random, kind: str | None = None) -> Attempt:
    """An attempt with one realistic flaw: a misread digit (preferring the digit a ghost segment suggests)
    or an arithmetic slip. Multiple-choice questions only get misreads that change the answer."""
    kind = kind or ("misread" if p.qtype == "larger" or rng.random() < 0.7 else "arithmetic")
    if kind == "arithmetic":
        wrong = _slip(p, rng)
        return Attempt(first_think(p, p.left, p.right, wrong), wrong, "arithmetic")
    for _ in range(20):
        side = rng.choice(["left", "right"])
        true = p.left if side == "left" else p.right
        fake = _plausible_misread(true, p.ghosts.get(side, ""), rng)
        left, right = (fake, p.right) if side == "left" else (p.left, fake)
        if result_of(p.qtype, left, right) != p.answer:
            return Attempt(first_think(p, left, right), result_of(p.qtype, left, right), "misread", side, fake)
    return flawed_attempt(p, rng, "arithmetic") if p.qtype != "larger" else correct_attempt(p)


def _plausible_misread(true: int, ghosted: str, rng: random.Random) -> int:
    lit = set(SEGMENTS[true]) | set(ghosted)
    by_ghost = [
        d for d in range(10) if d != true and set(SEGMENTS[d]) <= lit and set(SEGMENTS[true]) <= set(SEGMENTS[d])
    ]
    pool = by_ghost or NEIGHBOURS[true] or [d for d in range(10) if d != true]
    return rng.choice(pool)


def _slip(p: Problem, rng: random.Random) -> str:
    if p.qtype == "average":
        return f"{(p.left + p.right) / 2 + rng.choice([-0.5, 0.5, 1.0]):.1f}"
    return str(int(p.answer) + rng.choice([-2, -1, 1, 2]))


# ---------------------------------------------------------------------------------------------- diagnosis
_READ_RE = re.compile(r"The left number is (-?\d+) and the right number is (-?\d+)\.")


def diagnose(p: Problem, attempt_text: str) -> dict:
    """What went wrong in any single-pass attempt (the policy's own or a generated one).

    Returns ``flaw`` in {"none", "misread", "arithmetic", "unreadable"} plus the details. Used by the
    template teacher so that it names the real mistake of a real attempt.
    """
    parsed = formats.parse_completion(attempt_text)
    think_text = parsed.first_think or ""
    m = _READ_RE.search(think_text)
    if not m:
        return {"flaw": "unreadable"}
    left, right = int(m.group(1)), int(m.group(2))
    wrong_sides = [(s, r, t) for s, r, t in (("left", left, p.left), ("right", right, p.right)) if r != t]
    if wrong_sides:
        return {"flaw": "misread", "sides": [{"side": s, "read_as": r, "true": t} for s, r, t in wrong_sides]}
    if (parsed.first_answer or "").strip() != p.answer:
        return {"flaw": "arithmetic", "given": parsed.first_answer}
    return {"flaw": "none"}


def glance_attempt(attempt_text: str) -> str:
    """A single-pass attempt cut to the glance budget: its answer kept, its think replaced by ``GLANCE_THINK``
    (stage 02 applies it to the policy's own attempts on glance records, so their errors stay the policy's)."""
    answer = formats.parse_completion(attempt_text).first_answer
    return formats.think(GLANCE_THINK) + formats.answer(answer if answer is not None else "")


def glance_check(p: Problem, attempt_text: str) -> str:
    """The glance variant's reflection: re-read the image, redo the computation, and judge the first answer."""
    from srpo.grading import grade_answer

    given = (formats.parse_completion(attempt_text).first_answer or "").strip()
    right = bool(given) and grade_answer(
        given, p.answer, options=p.options or None, answer_type=p.answer_type, precision=p.precision
    )
    verdict = "So the first answer is right." if right else f"So the first answer {given or '(none)'} is wrong."
    return "Reading the image again: " + reasoning(p.qtype, p.left, p.right) + " " + verdict


def template_reflection(p: Problem, attempt_text: str) -> str:
    """A deterministic teacher reflection that names the actual mistake of ``attempt_text`` (glance variant:
    ``glance_check``)."""
    if p.first_pass == "glance":
        return glance_check(p, attempt_text)
    d = diagnose(p, attempt_text)
    if d["flaw"] == "none":
        return "Both numbers are read correctly and the calculation is right."
    if d["flaw"] == "misread":
        parts = [f"the {s['side']} number is {s['true']}, not {s['read_as']}" for s in d["sides"]]
        return "I misread the image: " + " and ".join(parts) + "."
    if d["flaw"] == "arithmetic":
        return f"Both numbers are read correctly, but the result is {p.answer}, not {d['given']}."
    return f"The attempt does not read the numbers. The left number is {p.left} and the right number is {p.right}."


def corrected_reasoning(p: Problem) -> str:
    """Second-round think text (the two-pass SFT layout and the RL format)."""
    return reasoning(p.qtype, p.left, p.right)


def stable_hash(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]
