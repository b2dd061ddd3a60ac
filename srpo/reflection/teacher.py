"""Teacher reflections (paper §3.1, App. B.2): what the teacher is asked, how its answer is checked, and the
deterministic template teacher of the synthetic task.

The teacher (o4-mini in the paper) sees the question, the image, the first attempt's reasoning, its
answer and the ground truth, and returns JSON whose ``reflection`` field is the text that goes between
``<reflection>`` tags. A reflection is written as the solver's own review of its attempt: for a wrong
attempt it names the mistake and how to fix it; for a correct one it says what could be shorter or
clearer. With the two-pass layout the teacher also writes the corrected second-round reasoning.

A reply is rejected (and retried, then counted with its reason) when it is not JSON, misses a field,
is empty, contains reasoning tags that would break the response format, or only restates the gold
answer: a reflection that says "the answer is 8" teaches the model to copy, not to check.
"""

from __future__ import annotations

import base64
import io
import json
import re
from functools import lru_cache

from srpo import formats

PROMPT_VERSION = 1  # bump when the wording changes: stored results then belong to another experiment

SYSTEM_PROMPT = (
    "You help build training data for a model that learns to check its own visual reasoning. You will see "
    "a problem with its image(s), the model's first attempt (reasoning and answer) and the verified ground "
    "truth. Write the reflection the model should have written right after its attempt, in the first "
    "person, as the solver reviewing its own work. If the attempt is wrong, point to the exact step that "
    "went wrong (a misread detail of the image, a wrong formula, an arithmetic slip, a misunderstood "
    "question) and say how to fix it. If the attempt is right, say briefly why it is right and what could "
    "be removed or stated more directly. Do not just announce the ground truth: the reflection must give "
    "the reason the answer changes or stays. Use two to six sentences, plain text or LaTeX, and no tags "
    "such as <think> or <answer>. Reply with a JSON object only."
)
REVISED_INSTRUCTION = (
    ' Also write "revised_reasoning": a concise, corrected step-by-step solution that uses the reflection '
    "and reaches the ground truth."
)


def reply_schema(layout: str) -> dict:
    """JSON schema of a teacher reply; the two-pass layout also needs the second-round reasoning."""
    props = {"reflection": {"type": "string", "minLength": 1}}
    if layout == "two_pass":
        props["revised_reasoning"] = {"type": "string", "minLength": 1}
    return {"type": "object", "properties": props, "required": sorted(props)}


MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def image_data_url(image) -> str:
    """A base64 data URL for a PIL image or an encoded ``{"bytes", "path"}`` image of a dataset row.

    Encoded images are sent as they are stored (the teacher sees exactly what the policy saw); other
    formats and PIL images are written as lossless PNG."""
    from PIL import Image

    if isinstance(image, dict):
        data = image.get("bytes") or open(image["path"], "rb").read()  # noqa: SIM115 - read once
        with Image.open(io.BytesIO(data)) as img:
            mime = MIME.get(img.format or "")
            if mime is None:
                return image_data_url(img.convert("RGB"))
        return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def teacher_messages(record: dict, attempt: dict, layout: str) -> list:
    """Chat messages for one sample: our instructions, then the image(s) and the attempt as text."""
    verdict = "correct" if attempt["correct"] else "wrong"
    fields = '{"reflection": "..."}' if layout == "paper" else '{"reflection": "...", "revised_reasoning": "..."}'
    text = (
        f"Problem:\n{record['question']}\n\n"
        f"Model's reasoning:\n{attempt['think']}\n\n"
        f"Model's answer: {attempt['answer']}\n"
        f"Ground truth: {record['answer']}\n"
        f"The model's answer is {verdict} (checked by a grader).\n\n"
        f"Return {fields}." + (REVISED_INSTRUCTION if layout == "two_pass" else "")
    )
    images = [{"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in record.get("images") or []]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": [*images, {"type": "text", "text": text}]},
    ]


# ---------------------------------------------------------------------------------------------- validation
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_TAG_RE = re.compile(r"</?(?:think|answer|reflection)>")
_WORD_RE = re.compile(r"-?\d+(?:\.\d+)?|[a-z]+")
# Words that carry no reasoning in "the correct final answer should be X".
_FILLER_TEXT = (
    "a an the is was be should would it its my i so thus therefore hence correct right final answer "
    "answers result value true actually indeed option choice of"
)
FILLER = frozenset(_FILLER_TEXT.split())
MIN_CONTENT_WORDS = 4


def parse_json_reply(text: str):
    """The JSON object in a reply, tolerating a Markdown code fence or prose around it; None if there is none."""
    fenced = _FENCE_RE.match(text)
    text = fenced.group(1) if fenced else text
    for candidate in (text, text[text.find("{") : text.rfind("}") + 1]):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def restates_gold(reflection: str, gold: str, options: list | None = None) -> bool:
    """True when the reflection is little more than the gold answer ("The correct answer is 8.").

    It must mention the gold answer (or its option) and have fewer than ``MIN_CONTENT_WORDS`` other words.
    """
    gold = str(gold).strip()
    words = _WORD_RE.findall(reflection.lower().replace("\\boxed", " "))
    gold_words = set(_WORD_RE.findall(gold.lower()))
    mentioned = bool((gold_words - FILLER) & set(words))
    if len(gold) == 1 and gold.isalpha():  # a letter (case-sensitive, "a" is an article) or its option's text
        mentioned = re.search(rf"(?<![A-Za-z]){re.escape(gold.upper())}(?![A-Za-z])", reflection) is not None
        index = ord(gold.upper()) - 65
        if options and 0 <= index < len(options):
            option_words = set(_WORD_RE.findall(str(options[index]).lower())) - FILLER
            mentioned = mentioned or bool(option_words and option_words <= set(words))
            gold_words |= option_words
    if not mentioned:
        return False
    content = [w for w in words if w not in FILLER and w not in gold_words]
    return len(content) < MIN_CONTENT_WORDS


@lru_cache(maxsize=4)
def schema_validator(layout: str):
    import jsonschema  # imported on first use: it takes seconds to import, and the template path needs none

    return jsonschema.Draft202012Validator(reply_schema(layout))


def validate_reply(text: str, *, gold: str, options=None, layout: str = "paper"):
    """(output, None) for a usable teacher reply, else (None, reason)."""
    value = parse_json_reply(text)
    if value is None:
        return None, "invalid_json"
    if not schema_validator(layout).is_valid(value):
        return None, "schema"
    return check_reflection({k: value[k] for k in reply_schema(layout)["required"]}, gold=gold, options=options)


def check_reflection(output: dict, *, gold: str, options=None):
    """The content checks every reflection passes, whoever wrote it: (stripped output, None) or (None, reason)."""
    out = {k: str(v).strip() for k, v in output.items()}
    if not all(out.values()):
        return None, "empty_reflection"
    if any(_TAG_RE.search(v) for v in out.values()):
        return None, "contains_tags"
    if restates_gold(out["reflection"], gold, options):
        return None, "restates_gold"
    return out, None


# ---------------------------------------------------------------------------------------------- template
def template_reply(record: dict, attempt: dict, layout: str) -> dict:
    """The template teacher's reply for a synthetic record: it names the attempt's real mistake."""
    from srpo.tiny import sevenseg

    if record.get("source") != "synthetic":
        raise ValueError(
            f"the template teacher only knows synthetic problems; record {record['id']!r} comes "
            f"from {record.get('source')!r}: use teacher: openai"
        )
    problem = sevenseg.Problem.from_record(record)
    text = formats.think(attempt["think"]) + formats.answer(attempt["answer"])
    reply = {"reflection": sevenseg.template_reflection(problem, text)}
    if layout == "two_pass":
        reply["revised_reasoning"] = sevenseg.corrected_reasoning(problem)
    return reply
