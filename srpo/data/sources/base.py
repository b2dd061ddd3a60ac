"""What every source adapter shares: the ``SourceSpec`` registry entry, the errors, and small parsers.

An adapter turns ONE raw row of a dataset (a dict, exactly as ``datasets`` yields it) into zero or more
records of the common schema (srpo.data.schema). It raises

* ``MissingColumn`` when the row lacks a column the source must have (a schema change upstream, or the
  wrong config): the stage stops and the message names the source and the column;
* ``RowRejected`` when this row cannot become a record (no image where the source needs one, no gold
  answer, an answer format we cannot read): the row goes to the quarantine file with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from srpo.grading import find_answers


class SourceError(ValueError):
    """A source name, config or column is wrong; the message names the source."""


class MissingColumn(SourceError):
    def __init__(self, source: str, column: str, available=()):
        cols = ", ".join(sorted(map(str, available))) or "none"
        super().__init__(f"source {source!r}: column {column!r} is missing (the row has: {cols})")
        self.source, self.column = source, column


class RowRejected(Exception):
    """This row cannot become a record; ``reason`` is a short key counted in summary.json."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class SourceSpec:
    """Where a source lives on the Hub and how its rows map to records.

    ``configs`` is one or more config names (MATH ships one per subject); ``data_files`` selects files in
    repositories that hold raw JSON next to image archives. ``images`` says how a row refers to its images:
    ``embedded`` (an ``Image`` column or encoded bytes) or ``paths`` (file names relative to the unpacked
    image archive, found under ``image_root/<name>/``). ``verified`` is False where the dataset card could not
    be checked from here; ``note`` says what is assumed.
    """

    name: str
    hub_id: str
    split: str
    columns: tuple[str, ...]  # required: a missing one is a MissingColumn naming the source
    adapter: Callable[[dict, SourceSpec], list[dict]]
    family: str  # released | sft | rl | synthetic
    configs: tuple[str | None, ...] = (None,)
    data_files: str | None = None
    file_format: str = "parquet"  # for local copies (local_sources): parquet | json
    images: str = "embedded"  # embedded | paths | none
    verified: bool = True
    note: str = ""
    paper: str = ""  # where the paper names it

    def to_records(self, row: dict) -> list[dict]:
        for column in self.columns:
            if column not in row:
                raise MissingColumn(self.name, column, row.keys())
        records = self.adapter(row, self)
        for r in records:
            r.setdefault("source", self.name)
        return records


def require(row: dict, column: str, spec: SourceSpec):
    if column not in row:
        raise MissingColumn(spec.name, column, row.keys())
    return row[column]


def row_id(spec: SourceSpec, row: dict, *keys: str, index: int | None = None) -> str:
    """A stable id: ``<source>-<first present key>``; rows without one get a hash of their question."""
    for key in keys:
        value = row.get(key)
        if value not in (None, ""):
            return f"{spec.name}-{value}"
    if index is not None:
        return f"{spec.name}-{index}"
    from srpo.tiny.sevenseg import stable_hash

    return f"{spec.name}-{stable_hash(json.dumps(_plain_text(row), sort_keys=True))}"


def _plain_text(value):
    """A JSON-able view of a row for hashing: encoded images become digests of their bytes, so two rows with the
    same text but different images get different ids, and nothing depends on memory addresses."""
    if isinstance(value, dict):
        return {str(k): _plain_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_text(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return hashlib.sha1(value).hexdigest()
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return type(value).__name__


# ------------------------------------------------------------------------------------------------ images
_BASE64 = re.compile(r"(data:image/[\w+-]+;base64,)?[A-Za-z0-9+/=\s]+")


def image_value(value):
    """An image as a ``datasets`` Image can store it: PIL stays PIL, a dict with bytes/path stays, raw bytes
    become ``{"bytes": ...}``, base64 text is decoded, and other strings are paths (resolved later)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("bytes") is None and not value.get("path"):
            return None
        return value
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value), "path": None}
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("file://"):
            return text[len("file://") :]
        if len(text) > 256 and _BASE64.fullmatch(text):  # no "." allowed: a file name always has one
            return {"bytes": base64.b64decode(text.split(",", 1)[-1]), "path": None}
        return text
    return value  # PIL.Image


def images_of(*values) -> list:
    """Every non-empty image among ``values`` (each may itself be a list)."""
    out = []
    for v in values:
        for item in v if isinstance(v, list | tuple) else [v]:
            img = image_value(item)
            if img is not None:
                out.append(img)
    return out


def open_image(value, root: str | None = None):
    """Decode one stored image to a PIL image (raises on anything unreadable)."""
    from PIL import Image

    if isinstance(value, Image.Image):
        value.load()
        return value
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return _load(io.BytesIO(value["bytes"]))
        value = value.get("path")
    if isinstance(value, str):
        path = value if os.path.isabs(value) or not root else os.path.join(root, value)
        return _load(path)
    raise TypeError(f"not an image: {type(value).__name__}")


def _load(fp):
    from PIL import Image

    img = Image.open(fp)
    img.load()  # decode now: a truncated file fails here, not in a training worker
    return img


# ------------------------------------------------------------------------------------------------ text
_IMAGE_TOKEN = re.compile(r"<image>\s*|<\|image\|>\s*|<ImageHere>\s*")
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[\.\):：]\s*(.+?)\s*$")
_CHOICES_HEAD = re.compile(r"\n\s*(Choices|Options)\s*:?\s*\n", re.IGNORECASE)
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+)")
_MATHY = re.compile(r"[\\^_{}=]|\d\s*[a-z]\b|sqrt|frac|pi|\d\s*,\s*[-+]?\d")  # a digit tuple "0,1" is math
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+")


def clean_question(text: str) -> str:
    """Drop image placeholder tokens (the prompt builder adds its own) and surrounding whitespace."""
    return _IMAGE_TOKEN.sub("", text or "").strip()


def split_options(text: str) -> tuple[str, list[str]]:
    """Options written into the question as ``A. x`` / ``(B) y`` lines -> (stem, [x, y, ...]).

    Only a run of consecutive letters from A counts, so a stray "A." in prose is left alone."""
    lines = (text or "").splitlines()
    options: list[str] = []
    start = None
    for i, line in enumerate(lines):
        m = _OPTION_LINE.match(line)
        if m and m.group(1) == chr(65 + len(options)):
            start = i if start is None else start
            options.append(m.group(2))
        elif options:
            break
    if len(options) < 2:
        return (text or "").strip(), []
    stem = "\n".join(lines[:start])
    stem = _CHOICES_HEAD.sub("\n", stem + "\n").strip()
    return stem, options


def letter_of(answer: str, options: list[str]) -> str | None:
    """The option letter an answer names: a letter (``B``, ``(B)``, ``B.``) or the text of one option."""
    text = (answer or "").strip()
    m = re.fullmatch(r"\(?([A-J])\)?[\.\)]?(\s.*)?", text)
    if m and ord(m.group(1)) - 65 < len(options):
        return m.group(1)
    for i, option in enumerate(options):
        if text.lower() == option.strip().lower():
            return chr(65 + i)
    return None


def gold_from_text(text: str) -> str:
    """The gold answer inside a worked solution, found as a reply's final answer is (``srpo.grading``: an
    ``<answer>`` block, the last box or "answer is"/"Answer:" statement), else the whole stripped text."""
    found = find_answers(text or "").final
    return found.text if found.text is not None and found.rule != "last_sentence" else (text or "").strip()


def typed_answer(answer: str, options: list[str]) -> tuple[str, str, int | None]:
    """(answer, answer_type, precision) for a gold answer: a letter for multiple choice, else the type its
    text looks like. Floats keep their decimals as the precision (MathVista's convention)."""
    answer = (answer or "").strip().strip("$").strip()
    if options:
        letter = letter_of(answer, options)
        if letter is None:
            raise RowRejected(
                "answer_not_an_option", f"{answer!r} is neither a letter nor one of {len(options)} options"
            )
        return letter, "multiple_choice", None
    if _INT.fullmatch(answer) or _THOUSANDS.fullmatch(answer):  # "1,200" is a number; "0,1" is two (lm-eval#4039)
        return answer.replace(",", ""), "integer", None
    if _FLOAT.fullmatch(answer):
        return answer, "float", len(answer.split(".", 1)[1])
    if _MATHY.search(answer):
        return answer, "expression", None
    return answer, "text", None


def record(spec: SourceSpec, rid: str, images: list, question: str, answer, options=None, **metadata) -> dict:
    """Build one record; an empty gold answer is a RowRejected('missing_answer')."""
    if answer is None or not str(answer).strip():
        raise RowRejected("missing_answer", "the row has no gold answer")
    options = [str(o) for o in (options or [])]
    gold, answer_type, precision = typed_answer(str(answer), options)
    question = clean_question(question)
    if options and "Options:" not in question and "Choices" not in question:
        question += "\nOptions:" + "".join(f"\n({chr(65 + i)}) {o}" for i, o in enumerate(options))
    return {
        "id": rid,
        "source": spec.name,
        "images": images,
        "question": question,
        "options": options,
        "answer": gold,
        "answer_type": answer_type,
        "precision": precision,
        "metadata": {k: v for k, v in metadata.items() if v not in (None, "", [])},
    }


def first_turn(messages: list, user_roles=("user", "human"), assistant_roles=("assistant", "gpt")) -> tuple:
    """(system, user text, assistant text) of the first exchange of a chat (sharegpt or LLaVA style)."""
    system, user, assistant = "", None, None
    for m in messages or []:
        role = m.get("role", m.get("from"))
        content = m.get("content", m.get("value"))
        if isinstance(content, list):  # OpenAI-style parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if role == "system":
            system = content or ""
        elif role in user_roles and user is None:
            user = content
        elif role in assistant_roles and user is not None and assistant is None:
            assistant = content
    return system, user, assistant
