"""The filters every record passes, each with a named rejection reason (counted; nothing dropped silently).

1. images: each decodes and has at least ``min_pixels``; above ``max_pixels`` it is shrunk to fit (or
   rejected when ``resize_large_images`` is off). 262,144 px is the image budget of the paper's SFT and RL
   runs (the release's SFT yaml); larger images would be resized by the processor anyway, so storing them smaller
   only saves disk.
2. text: a non-empty question within ``max_question_chars`` and a gold answer within ``max_answer_chars``.
3. verifiable gold: the project grader (srpo.grading) must accept the gold answer as equal to itself; a
   gold it cannot parse could never earn a reward (the release scored such rows 1.0; docs/paper_vs_release.md).
4. duplicates: same images (pixel hash) and same normalised question as an earlier record of the split.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from dataclasses import dataclass

from srpo.data.sources.base import RowRejected, open_image


@dataclass
class FilterSettings:
    min_pixels: int = 784
    max_pixels: int = 262_144
    resize_large_images: bool = True
    max_images: int = 4
    max_question_chars: int = 3000
    max_answer_chars: int = 200
    require_verifiable: bool = True

    @classmethod
    def from_args(cls, args) -> FilterSettings:
        """The filters' settings from stage 01's config (``srpo.configs.data_curation.CurationArgs``)."""
        return cls(
            args.min_pixels,
            args.max_pixels,
            args.resize_large_images,
            args.max_images,
            args.max_question_chars,
            args.max_answer_chars,
            args.require_verifiable,
        )


def check_text(rec: dict, s: FilterSettings) -> None:
    question, answer = rec.get("question") or "", rec.get("answer") or ""
    if not question.strip():
        raise RowRejected("empty_question")
    if len(question) > s.max_question_chars:
        raise RowRejected("question_too_long", f"{len(question)} > {s.max_question_chars} characters")
    if len(answer) > s.max_answer_chars:
        raise RowRejected("answer_too_long", f"{len(answer)} > {s.max_answer_chars} characters")


def check_gold(rec: dict) -> None:
    """The grader must parse the gold answer and grade it equal to itself."""
    if not (rec.get("answer") or "").strip():
        raise RowRejected("missing_answer")
    options = rec.get("options") or []
    if rec["answer_type"] == "multiple_choice" and options and rec["answer"] not in _letters(len(options)):
        raise RowRejected(
            "unverifiable_gold", f"gold {rec['answer']!r} is not one of the letters of {len(options)} options"
        )
    ok, detail = _self_grades(rec["answer"], tuple(rec.get("options") or ()), rec["answer_type"], rec.get("precision"))
    if not ok:
        raise RowRejected("unverifiable_gold", detail)


def _letters(n: int) -> list[str]:
    return [chr(65 + i) for i in range(n)]


@functools.lru_cache(maxsize=65_536)  # golds repeat a lot (chart values, option letters, small sums)
def _self_grades(answer: str, options: tuple, answer_type: str, precision) -> tuple[bool, str]:
    from srpo.grading import grade_answer

    try:
        ok = grade_answer(answer, answer, options=list(options) or None, answer_type=answer_type, precision=precision)
    except Exception as exc:  # noqa: BLE001 - any grader failure means the gold is not usable
        return False, f"grader raised {type(exc).__name__}: {exc}"[:200]
    if ok and answer_type == "expression" and not _math_parses(answer):
        return False, f"math-verify cannot parse the expression {answer!r}"
    return bool(ok), "" if ok else f"{answer!r} ({answer_type}) does not grade equal to itself"


def _math_parses(answer: str) -> bool:
    """An expression gold must be something the grader can read as a formula, or no equivalent prediction
    could ever match it (string equality alone would reward only verbatim copies). The grader's own check,
    with its cost screen and deadline, so both agree on what "parses" means."""
    from srpo.grading import parses_as_math

    return parses_as_math(answer)


def resolve_path(path: str, root: str | None) -> str:
    """A relative path under ``root``. An absolute path from the authors' machines (the release's RL data
    names files like ``/mnt/bn/.../images/x.png``) falls back to its longest tail that exists under ``root``."""
    candidates = [path] if os.path.isabs(path) else []
    if root:
        parts = [p for p in path.split("/") if p]
        candidates += [os.path.join(root, *parts[i:]) for i in range(len(parts))]
    elif not os.path.isabs(path):
        candidates.append(path)
    for c in candidates:
        if os.path.exists(c):
            return c
    where = f" under {root}" if root else " (set image_root or local_sources)"
    raise RowRejected("image_unreadable", f"file not found: {path}{where}")


def prepare_images(rec: dict, s: FilterSettings, root: str | None, stats: dict) -> list[str]:
    """Decode, check and (if needed) shrink every image; store encoded bytes. Returns the pixel hashes."""
    images = rec.get("images") or []
    if len(images) > s.max_images:
        raise RowRejected("too_many_images", f"{len(images)} > {s.max_images}")
    stored, hashes = [], []
    for value in images:
        if isinstance(value, str):
            value = resolve_path(value, root)
        try:
            img = open_image(value)  # paths were resolved above
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for corrupt files
            raise RowRejected("image_unreadable", f"{type(exc).__name__}: {exc}"[:200]) from None
        w, h = img.size
        if w * h < s.min_pixels:
            raise RowRejected("image_too_small", f"{w}x{h} < {s.min_pixels} pixels")
        if w * h > s.max_pixels:
            if not s.resize_large_images:
                raise RowRejected("image_too_large", f"{w}x{h} > {s.max_pixels} pixels")
            img = _shrink(img, s.max_pixels)
            stats["resized_images"] = stats.get("resized_images", 0) + 1
            value = None  # re-encode below
        hashes.append(hashlib.sha1(f"{img.mode}{img.size}".encode() + img.tobytes()).hexdigest())
        stored.append(_encoded(value, img))
    rec["images"] = stored
    return hashes


def _shrink(img, max_pixels: int):
    """Scale down to at most ``max_pixels`` keeping the aspect ratio (what the processor would do anyway)."""
    scale = (max_pixels / (img.size[0] * img.size[1])) ** 0.5
    size = (max(1, int(img.size[0] * scale)), max(1, int(img.size[1] * scale)))
    fmt = img.format
    out = img.convert("RGB" if img.mode not in ("RGB", "L") else img.mode).resize(size)
    out.format = fmt
    return out


def _encoded(original, img) -> dict:
    """The original file bytes when unchanged (no re-compression), else PNG (JPEG for JPEG sources)."""
    if isinstance(original, dict) and original.get("bytes") is not None:
        return {"bytes": original["bytes"], "path": None}
    if isinstance(original, str):
        with open(original, "rb") as f:
            return {"bytes": f.read(), "path": None}
    buf = io.BytesIO()
    fmt = "JPEG" if getattr(img, "format", None) == "JPEG" else "PNG"
    img.save(buf, format=fmt)
    return {"bytes": buf.getvalue(), "path": None}


_SPACE = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    return _SPACE.sub(" ", (text or "").lower()).strip()


class Deduplicator:
    """Remembers (image hashes, normalised question) of accepted records; a repeat is a duplicate."""

    def __init__(self):
        self.seen: dict[tuple, str] = {}

    def check(self, rec: dict, image_hashes: list[str]) -> tuple:
        key = (tuple(image_hashes), normalise_question(rec["question"]))
        first = self.seen.get(key)
        if first is not None:
            raise RowRejected("duplicate", f"same images and question as {first}")
        return key

    def add(self, key: tuple, rid: str) -> None:
        self.seen[key] = rid


def apply_filters(rec: dict, s: FilterSettings, root: str | None, dedup: Deduplicator, stats: dict) -> tuple:
    """Run every filter on one record (mutating its images into stored bytes); returns its dedup key."""
    check_text(rec, s)
    if s.require_verifiable:
        check_gold(rec)
    hashes = prepare_images(rec, s, root, stats)
    return dedup.check(rec, hashes)
